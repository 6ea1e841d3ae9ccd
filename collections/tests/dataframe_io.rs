//! Dataframe I/O: parquet and CSV round trips over several partitionings (1, 3, 8, empty
//! partitions) with nulls and every supported type, pushdown (same results as without it,
//! and evidence that fewer columns and row groups are read), statistics with nulls and
//! NaN, CSV options, and errors naming the path.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::compute::kernels::{boolean, cmp};
use arrow::compute::{concat_batches, filter_record_batch, is_null};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use rask_collections::dataframe::{
    CsvOptions, Join, ParquetOptions, col, from_arrays, from_batches, io::generate_w3, lit, read_csv, read_parquet,
};

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rask-io-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// int64, float64, utf8, bool, int32, date32 and timestamp columns, most with nulls.
fn data() -> RecordBatch {
    let n = 40;
    let id = Int64Array::from_iter((0..n).map(|i| if i % 9 == 4 { None } else { Some(i * 7 % 13) }));
    let x = Float64Array::from_iter((0..n).map(|i| if i % 5 == 0 { None } else { Some(i as f64 / 3.0 - 4.1) }));
    let s = StringArray::from_iter((0..n).map(|i| if i % 7 == 3 { None } else { Some(format!("wörd {:02}", i % 11)) }));
    let b = BooleanArray::from_iter((0..n).map(|i| if i % 6 == 1 { None } else { Some(i % 4 == 0) }));
    let k = Int32Array::from_iter_values((0..n as i32).map(|i| i - 20));
    let d = Date32Array::from_iter((0..n as i32).map(|i| if i % 8 == 2 { None } else { Some(18_000 + i * 3) }));
    let t = TimestampMicrosecondArray::from_iter(
        (0..n).map(|i| (i % 10 != 7).then_some(1_600_000_000_000_000 + i * 1_234_567)),
    );
    RecordBatch::try_from_iter([
        ("id", Arc::new(id) as ArrayRef),
        ("x", Arc::new(x) as ArrayRef),
        ("s", Arc::new(s) as ArrayRef),
        ("b", Arc::new(b) as ArrayRef),
        ("k", Arc::new(k) as ArrayRef),
        ("d", Arc::new(d) as ArrayRef),
        ("t", Arc::new(t) as ArrayRef),
    ])
    .unwrap()
}

/// The same column names and values (nullability may differ).
fn assert_same(actual: &RecordBatch, expected: &RecordBatch) {
    let names = |b: &RecordBatch| b.schema().fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>();
    assert_eq!(names(actual), names(expected));
    for (a, e) in actual.columns().iter().zip(expected.columns()) {
        assert_eq!(a.as_ref(), e.as_ref());
    }
}

#[test]
fn parquet_round_trips_every_type_over_partitionings() {
    let all = data();
    let dir = scratch("parquet-round-trip");
    for (f, df) in common::frames_of(&all).into_iter().enumerate() {
        for (o, options) in common::options().iter().enumerate() {
            let out = dir.join(format!("{f}-{o}"));
            df.to_parquet_with(&out, options).unwrap();
            let files = std::fs::read_dir(&out).unwrap().count();
            assert_eq!(files, df.npartitions(), "one file per partition");
            let back = read_parquet(&out, ParquetOptions::default()).unwrap();
            assert_eq!(back.schema().fields().len(), 7);
            assert_same(&back.compute_with(options).unwrap(), &all);
            assert_eq!(back.len().unwrap(), all.num_rows());
            assert_eq!(back.scan_summary().unwrap().rows(), Some(all.num_rows()), "the footers give the rows");
        }
    }
    // A frame of empty partitions reads back as one empty partition of its schema.
    from_batches(vec![all.slice(0, 0), all.slice(0, 0)]).unwrap().to_parquet(dir.join("empty")).unwrap();
    let empty = read_parquet(dir.join("empty"), ParquetOptions::default()).unwrap();
    assert_eq!((empty.npartitions(), empty.len().unwrap()), (1, 0));
    assert_same(&empty.compute().unwrap(), &all.slice(0, 0));
    assert_eq!(empty.filter(col("id").gt(lit(1))).unwrap().compute().unwrap().num_rows(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn csv_round_trips_over_partitionings() {
    let all = data().project(&[0, 1, 2, 3, 5]).unwrap(); // id, x, s, b, d
    let dir = scratch("csv-round-trip");
    for (f, df) in common::frames_of(&all).into_iter().enumerate() {
        for (o, options) in common::options().iter().enumerate() {
            let out = dir.join(format!("{f}-{o}"));
            df.to_csv_with(&out, options).unwrap();
            let back = read_csv(out.join("part-*.csv"), CsvOptions::default()).unwrap();
            assert_eq!(back.npartitions(), df.npartitions());
            let types: Vec<DataType> = back.schema().fields().iter().map(|f| f.data_type().clone()).collect();
            assert_eq!(
                types,
                vec![DataType::Int64, DataType::Float64, DataType::Utf8, DataType::Boolean, DataType::Date32]
            );
            assert_same(&back.compute_with(options).unwrap(), &all);
            // Split into byte ranges on line boundaries: the same rows.
            let split = read_csv(&out, CsvOptions::default().partition_bytes(37)).unwrap();
            assert!(split.npartitions() > df.npartitions());
            assert_same(&split.compute_with(options).unwrap(), &all);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// 40 rows with `id` sorted, written as 8 files of one row group each (ids 0..5, 5..10, ...).
fn sorted_files(name: &str) -> (PathBuf, RecordBatch) {
    let id = Int64Array::from_iter_values(0..40);
    let x = Float64Array::from_iter((0..40).map(|i| (i % 3 != 0).then_some(i as f64 * 0.5)));
    let s = StringArray::from_iter_values((0..40).map(|i| format!("s{i:02}")));
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(id) as ArrayRef),
        ("x", Arc::new(x) as _),
        ("s", Arc::new(s) as _),
    ])
    .unwrap();
    let dir = scratch(name);
    from_arrays(
        vec![("id", batch.column(0).clone()), ("x", batch.column(1).clone()), ("s", batch.column(2).clone())],
        8,
    )
    .unwrap()
    .to_parquet(&dir)
    .unwrap();
    (dir, batch)
}

#[test]
fn pushdown_gives_the_same_rows_while_reading_fewer_columns_and_row_groups() {
    let (dir, all) = sorted_files("pushdown");
    let id = all.column(0).clone();
    let scan = read_parquet(&dir, ParquetOptions::default()).unwrap();
    assert_eq!(
        scan.scan_summary().unwrap().to_string(),
        "read_parquet: 8 files, columns [id, x, s], row groups 8 of 8"
    );
    let pushed = scan.filter(col("id").gt(lit(30))).unwrap().select([col("id"), col("x")]).unwrap();
    let summary = pushed.scan_summary().unwrap();
    assert_eq!(summary.columns, vec!["id", "x"]);
    assert_eq!((summary.row_groups_read, summary.row_groups_total), (Some(2), Some(8)));
    assert_eq!(pushed.task_count(), pushed.npartitions(), "no map step on top of the scan");
    let mask = cmp::gt(&id, &Int64Array::new_scalar(30)).unwrap();
    let expected = filter_record_batch(&all, &mask).unwrap().project(&[0, 1]).unwrap();
    for options in common::options() {
        assert_same(&pushed.compute_with(&options).unwrap(), &expected);
        // Without pushdown: the same filter and selection as map steps on a computed frame.
        let plain = from_batches(vec![scan.compute_with(&options).unwrap()]).unwrap();
        let unpushed = plain.filter(col("id").gt(lit(30))).unwrap().select([col("id"), col("x")]).unwrap();
        assert!(unpushed.scan_summary().is_none());
        assert_same(&unpushed.compute_with(&options).unwrap(), &expected);
    }
    // The explicit options do the same.
    let explicit =
        read_parquet(&dir, ParquetOptions::default().columns(["id", "x"]).filter(col("id").gt(lit(30)))).unwrap();
    assert_eq!(explicit.scan_summary(), pushed.scan_summary());
    assert_same(&explicit.compute().unwrap(), &expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn filters_over_many_decoded_chunks_match_the_kernels() {
    // 100,000 rows in one row group: the read task decodes and filters it in chunks.
    let n = 100_000i64;
    let id = Int64Array::from_iter_values(0..n);
    let x = Float64Array::from_iter((0..n).map(|i| (i % 11 != 0).then_some((i * 7919 % 1000) as f64 / 1000.0)));
    let all = RecordBatch::try_from_iter([("id", Arc::new(id) as ArrayRef), ("x", Arc::new(x) as ArrayRef)]).unwrap();
    let dir = scratch("chunks");
    from_batches(vec![all.clone()]).unwrap().to_parquet(&dir).unwrap();
    let scan = read_parquet(&dir, ParquetOptions::default()).unwrap();
    let mask = cmp::gt(all.column(1), &Float64Array::new_scalar(0.5)).unwrap();
    let expected = filter_record_batch(&all, &mask).unwrap();
    let filtered = scan.filter(col("x").gt(lit(0.5))).unwrap();
    // Plain selections after the filter: rows copied straight into the output.
    let plain = filtered.select([col("x").alias("v"), col("id")]).unwrap();
    let out = plain.compute().unwrap();
    assert_eq!(out.column(0).as_ref(), expected.column(1).as_ref());
    assert_eq!(out.column(1).as_ref(), expected.column(0).as_ref());
    // A computed column after the filter: chunks filtered, then joined.
    let computed = filtered.select([(col("id") * lit(2)).alias("id2")]).unwrap().compute().unwrap();
    let doubled = arrow::compute::kernels::numeric::mul(expected.column(0), &Int64Array::new_scalar(2)).unwrap();
    assert_eq!(computed.column(0).as_ref(), doubled.as_ref());
    // Two filters and a selection between them.
    let twice = filtered.select([col("id"), col("x")]).unwrap().filter(col("id").lt(lit(50_000))).unwrap();
    let below = cmp::lt(expected.column(0), &Int64Array::new_scalar(50_000)).unwrap();
    assert_same(&twice.compute().unwrap(), &filter_record_batch(&expected, &below).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn row_group_skipping_follows_and_or_not_and_renamed_columns() {
    let (dir, all) = sorted_files("pruning");
    let id = all.column(0).clone();
    let scan = read_parquet(&dir, ParquetOptions::default()).unwrap();
    let scalar = |v: i64| Int64Array::new_scalar(v);
    let cases = [
        (
            col("id").lt(lit(5)) | col("id").gt_eq(lit(35)),
            2,
            boolean::or(&cmp::lt(&id, &scalar(5)).unwrap(), &cmp::gt_eq(&id, &scalar(35)).unwrap()).unwrap(),
        ),
        (
            col("id").gt(lit(3)) & col("id").lt_eq(lit(12)),
            3,
            boolean::and(&cmp::gt(&id, &scalar(3)).unwrap(), &cmp::lt_eq(&id, &scalar(12)).unwrap()).unwrap(),
        ),
        (!col("id").gt_eq(lit(5)), 1, cmp::lt(&id, &scalar(5)).unwrap()),
        (lit(17).eq(col("id")), 1, cmp::eq(&id, &scalar(17)).unwrap()),
        (col("id").not_eq(lit(17)), 8, cmp::neq(&id, &scalar(17)).unwrap()),
        (col("id").gt(lit(100)), 0, cmp::gt(&id, &scalar(100)).unwrap()),
        // Not a comparison with a literal: nothing is skipped, the filter still runs.
        ((col("id") * lit(2)).gt(lit(70)), 8, cmp::gt(&id, &scalar(35)).unwrap()),
        (col("s").str_starts_with("s3"), 8, cmp::gt_eq(&id, &scalar(30)).unwrap()),
        (col("s").lt(lit("s05")), 1, cmp::lt(&id, &scalar(5)).unwrap()),
    ];
    for (predicate, groups, mask) in cases {
        let filtered = scan.filter(predicate.clone()).unwrap();
        assert_eq!(filtered.scan_summary().unwrap().row_groups_read, Some(groups), "{predicate}");
        assert_eq!(filtered.npartitions(), groups.max(1), "{predicate}");
        assert_same(&filtered.compute().unwrap(), &filter_record_batch(&all, &mask).unwrap());
    }
    // A filter on a renamed copy of a column still prunes; one on a computed column cannot.
    let renamed = scan.select([col("id").alias("key"), col("x")]).unwrap().filter(col("key").lt(lit(5))).unwrap();
    assert_eq!(renamed.scan_summary().unwrap().row_groups_read, Some(1));
    assert_eq!(renamed.scan_summary().unwrap().columns, vec!["id", "x"]);
    assert_eq!(renamed.compute().unwrap().num_rows(), 5);
    let computed = scan.select([(col("id") + lit(0)).alias("key")]).unwrap().filter(col("key").lt(lit(5))).unwrap();
    assert_eq!(computed.scan_summary().unwrap().row_groups_read, Some(8));
    assert_eq!(computed.compute().unwrap().num_rows(), 5);
    // Through renames and copies made by with_columns, filters still prune row groups.
    let renamed = scan.rename([("id", "key")]).unwrap().filter(col("key").lt(lit(5))).unwrap();
    assert_eq!(renamed.scan_summary().unwrap().row_groups_read, Some(1));
    let copied = scan.with_columns([col("id").alias("k"), (col("id") * lit(2)).alias("id2")]).unwrap();
    assert_eq!(copied.filter(col("k").gt_eq(lit(35))).unwrap().scan_summary().unwrap().row_groups_read, Some(1));
    assert_eq!(copied.filter(col("id2").gt_eq(lit(70))).unwrap().scan_summary().unwrap().row_groups_read, Some(8));
    let mapped = copied.compute().unwrap();
    assert_eq!(mapped.num_columns(), 5);
    assert_eq!(
        mapped.column(4).as_ref(),
        &arrow::compute::kernels::numeric::mul(&id, &scalar(2)).unwrap() as &dyn Array
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn filters_after_a_join_reach_the_scan_under_it_when_they_commute() {
    use rask_collections::dataframe::How;
    let (dir, all) = sorted_files("join-filter");
    let scan = read_parquet(&dir, ParquetOptions::default()).unwrap();
    assert_eq!(scan.npartitions(), 8);
    let lookup = from_arrays(
        vec![
            ("id", Arc::new(Int64Array::from_iter_values((0..40).step_by(2))) as ArrayRef),
            ("w", Arc::new(Float64Array::from_iter((0..20).map(|i| (i % 4 != 1).then_some(i as f64)))) as ArrayRef),
        ],
        1,
    )
    .unwrap();
    let memory = from_batches(vec![all]).unwrap();
    // (predicate, how, partitions of the result: fewer when the scan skips row groups)
    let cases = [
        (col("id").lt(lit(5)), How::Inner, 1),
        (col("id").gt_eq(lit(35)), How::Left, 1),
        // x = id / 2, s = "s{id}": ids 21 to 29, row groups 4 and 5.
        (col("x").gt(lit(10.0)) & col("s").lt(lit("s30")), How::Inner, 2),
        (col("w").gt(lit(3.0)), How::Inner, 8),
        // Not commuting: a right column after a left join (its nulls), a key of an outer
        // join, columns of both sides.
        (col("w").is_null(), How::Left, 8),
        (col("id").lt(lit(5)), How::Outer, 8),
        (col("id").lt(lit(5)) & col("w").gt(lit(1.0)), How::Inner, 8),
    ];
    for (predicate, how, partitions) in cases {
        let join = Join::on(["id"]).how(how);
        let pushed = scan.join(&lookup, join.clone()).unwrap().filter(predicate.clone()).unwrap();
        assert_eq!(pushed.npartitions(), partitions, "{predicate} after a {how:?} join");
        let expected = memory.join(&lookup, join).unwrap().filter(predicate.clone()).unwrap().compute().unwrap();
        let sort = |b: RecordBatch| {
            let order = arrow::compute::sort_to_indices(b.column(0), None, None).unwrap();
            arrow::compute::take_record_batch(&b, &order).unwrap()
        };
        assert_same(&sort(pushed.compute().unwrap()), &sort(expected));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_per_row_step_is_pushed_into_the_scan_and_decodes_only_what_it_needs() {
    let dir = scratch("steps");
    let all = data();
    from_batches(vec![all.slice(0, 13), all.slice(13, 27)]).unwrap().to_parquet(&dir).unwrap();
    let scan = read_parquet(&dir, ParquetOptions::default()).unwrap();
    let memory = from_batches(vec![all.clone()]).unwrap();
    type Chain =
        fn(&rask_collections::dataframe::DataFrame) -> rask_collections::Result<rask_collections::dataframe::DataFrame>;
    let chains: Vec<(&str, Chain, Vec<&str>)> = vec![
        (
            "with_column then select",
            |df| df.with_column((col("x") * lit(2.0)).alias("z"))?.select([col("id"), col("z")]),
            vec!["id", "x"],
        ),
        (
            "rename then select",
            |df| df.rename([("x", "a"), ("id", "x")])?.select([col("a"), col("x")]),
            vec!["id", "x"],
        ),
        ("drop", |df| df.drop(["s", "t", "d"]), vec!["id", "x", "b", "k"]),
        // A replaced column keeps its place, so it is decoded even though it is overwritten.
        (
            "replace then select",
            |df| df.with_column((col("k") + lit(1)).alias("x"))?.select([col("id"), col("x")]),
            vec!["id", "x", "k"],
        ),
        (
            "filter, rename, drop",
            |df| df.filter(col("x").gt(lit(0.0)))?.rename([("s", "name")])?.drop(["b", "d", "t"]),
            vec!["id", "x", "s", "k"],
        ),
        (
            "drop then with_column",
            |df| df.drop(["s"])?.with_column((col("k") * lit(3)).alias("k3"))?.select([col("k3")]),
            vec!["k"],
        ),
    ];
    for (what, chain, decoded) in chains {
        let pushed = chain(&scan).unwrap();
        assert_eq!(
            pushed.scan_summary().map(|s| s.columns.clone()),
            Some(decoded.iter().map(|c| c.to_string()).collect()),
            "{what}"
        );
        assert_same(&pushed.compute().unwrap(), &chain(&memory).unwrap().compute().unwrap());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn aggregations_of_a_scan_decode_only_the_columns_they_read() {
    // Column `s` is declared Int64 but holds words: any task that decodes it fails.
    let dir = scratch("agg-pruning");
    let path = dir.join("data.csv");
    let rows: String = (0..60).map(|i| format!("{},{},word{}\n", i % 4, i as f64 / 2.0, i)).collect();
    std::fs::write(&path, format!("id,x,s\n{rows}")).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("x", DataType::Float64, true),
        Field::new("s", DataType::Int64, true),
    ]));
    let scan = read_csv(&path, CsvOptions::default().schema(schema)).unwrap();
    assert!(scan.compute().is_err(), "decoding s fails");
    let sums = scan.groupby(["id"]).agg([col("x").sum()]).unwrap().compute().unwrap();
    let expected: Vec<f64> = (0..4).map(|k| (0..60).filter(|i| i % 4 == k).map(|i| i as f64 / 2.0).sum()).collect();
    assert_eq!(sums.column(1).as_ref(), &Float64Array::from(expected) as &dyn Array);
    let total = scan.agg([col("x").max()]).unwrap().compute().unwrap();
    assert_eq!(total.column(0).as_ref(), &Float64Array::from(vec![29.5]) as &dyn Array);
    let counts = scan.value_counts("id").unwrap().compute().unwrap();
    assert_eq!(counts.column(1).as_ref(), &Int64Array::from(vec![15, 15, 15, 15]) as &dyn Array);
    // Through a join: the scan side decodes only the key and the grouped column, and the
    // other side's extra column is pruned too; results match the join of in-memory frames.
    let lookup = from_arrays(
        vec![
            ("id", Arc::new(Int64Array::from(vec![0, 1, 2])) as ArrayRef),
            ("label", Arc::new(StringArray::from(vec!["zero", "one", "two"])) as ArrayRef),
            ("x", Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5])) as ArrayRef),
        ],
        1,
    )
    .unwrap();
    let joined = scan.join(&lookup, Join::on(["id"])).unwrap();
    assert!(joined.compute().is_err(), "the whole join decodes s");
    let by_label = joined.groupby(["label"]).agg([col("x").sum(), col("x_right").max()]).unwrap().compute().unwrap();
    let memory_left = scan.select([col("id"), col("x")]).unwrap().compute().unwrap();
    let memory = from_batches(vec![memory_left])
        .unwrap()
        .join(&lookup, Join::on(["id"]))
        .unwrap()
        .groupby(["label"])
        .agg([col("x").sum(), col("x_right").max()])
        .unwrap()
        .compute()
        .unwrap();
    assert_same(&by_label, &memory);
    assert_eq!(by_label.num_rows(), 3);
    // Reading s on purpose still fails, naming the file.
    let e = scan.groupby(["id"]).agg([col("s").sum()]).unwrap().compute().unwrap_err().to_string();
    assert!(e.contains("data.csv"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn statistics_skip_correctly_with_nulls_and_nan() {
    let dir = scratch("nulls");
    // Row groups: ids 0..10; ids all null; ids 20..30 with nulls; x with a NaN in the last.
    let ids = [
        Int64Array::from_iter_values(0..10),
        Int64Array::from(vec![None; 10]),
        Int64Array::from_iter((20..30).map(|i| (i % 3 != 0).then_some(i))),
    ];
    let xs = [
        Float64Array::from_iter_values((0..10).map(|i| i as f64)),
        Float64Array::from_iter_values((0..10).map(|i| i as f64)),
        Float64Array::from_iter_values((0..10).map(|i| if i == 5 { f64::NAN } else { i as f64 })),
    ];
    let schema =
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true), Field::new("x", DataType::Float64, false)]));
    let batches: Vec<RecordBatch> = ids
        .into_iter()
        .zip(xs)
        .map(|(id, x)| RecordBatch::try_new(schema.clone(), vec![Arc::new(id), Arc::new(x)]).unwrap())
        .collect();
    let path = dir.join("groups.parquet");
    let mut writer = ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema.clone(), None).unwrap();
    for batch in &batches {
        writer.write(batch).unwrap();
        writer.flush().unwrap();
    }
    writer.close().unwrap();
    let all = concat_batches(&schema, &batches).unwrap();
    let (id, x) = (all.column(0).clone(), all.column(1).clone());
    let scan = read_parquet(&path, ParquetOptions::default()).unwrap();
    assert_eq!(scan.npartitions(), 1, "small row groups of one file are packed");
    let cases = [
        (col("id").gt(lit(5)), Some(2), cmp::gt(&id, &Int64Array::new_scalar(5)).unwrap()),
        (col("id").lt(lit(25)), Some(2), cmp::lt(&id, &Int64Array::new_scalar(25)).unwrap()),
        (col("id").is_null(), None, is_null(&id).unwrap()),
        (col("id").is_not_null(), Some(2), arrow::compute::is_not_null(&id).unwrap()),
        // Arrow orders NaN above every number: the row group with a NaN may pass `x > 100`.
        (col("x").gt(lit(100.0)), Some(1), cmp::gt(&x, &Float64Array::new_scalar(100.0)).unwrap()),
        (col("x").lt(lit(-1.0)), Some(0), cmp::lt(&x, &Float64Array::new_scalar(-1.0)).unwrap()),
    ];
    for (predicate, groups, mask) in cases {
        let filtered = scan.filter(predicate.clone()).unwrap();
        if let Some(groups) = groups {
            assert_eq!(filtered.scan_summary().unwrap().row_groups_read, Some(groups), "{predicate}");
        }
        for options in common::options() {
            assert_same(&filtered.compute_with(&options).unwrap(), &filter_record_batch(&all, &mask).unwrap());
        }
    }
    assert_eq!(scan.filter(col("x").gt(lit(100.0))).unwrap().compute().unwrap().num_rows(), 1, "the NaN row");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn large_row_groups_split_and_small_ones_pack() {
    let (dir, all) = sorted_files("split");
    let split = read_parquet(&dir, ParquetOptions::default().partition_bytes(64)).unwrap();
    assert!(split.npartitions() > 8, "{} partitions", split.npartitions());
    assert_eq!(split.len().unwrap(), 40);
    for options in common::options() {
        assert_same(&split.compute_with(&options).unwrap(), &all);
        let filtered = split.filter(col("id").gt_eq(lit(35))).unwrap();
        assert_eq!(filtered.compute_with(&options).unwrap().num_rows(), 5);
    }
    // One file of many small row groups is one partition.
    let many = dir.join("many.parquet");
    let properties = WriterProperties::builder().set_max_row_group_row_count(Some(4)).build();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(&many).unwrap(), all.schema(), Some(properties)).unwrap();
    writer.write(&all).unwrap();
    writer.close().unwrap();
    let packed = read_parquet(&many, ParquetOptions::default()).unwrap();
    assert_eq!((packed.npartitions(), packed.scan_summary().unwrap().row_groups_total), (1, Some(10)));
    assert_same(&packed.compute().unwrap(), &all);
    assert_same(&read_parquet(&many, ParquetOptions::default().partition_bytes(400)).unwrap().compute().unwrap(), &all);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_read_in_natural_order_and_stale_parts_are_removed() {
    let dir = scratch("order");
    let values = Int64Array::from_iter_values(0..24);
    let df = from_arrays(vec![("v", Arc::new(values.clone()) as ArrayRef)], 12).unwrap();
    df.to_parquet(&dir).unwrap();
    let back = read_parquet(dir.join("part-*.parquet"), ParquetOptions::default()).unwrap();
    assert_eq!(back.npartitions(), 12);
    assert_eq!(back.compute().unwrap().column(0).as_ref(), &values as &dyn Array);
    // Writing fewer partitions removes part-2.. of the earlier write.
    df.repartition(2).unwrap().to_parquet(&dir).unwrap();
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    assert_eq!(read_parquet(&dir, ParquetOptions::default()).unwrap().len().unwrap(), 24);
    // A list of paths keeps its order.
    let listed = read_parquet(vec![dir.join("part-1.parquet"), dir.join("part-0.parquet")], ParquetOptions::default());
    assert_eq!(listed.unwrap().head(1).unwrap().column(0).as_ref(), &Int64Array::from(vec![12]) as &dyn Array);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn csv_header_delimiter_and_projection() {
    let dir = scratch("csv-options");
    let path = dir.join("plain.txt");
    std::fs::write(&path, "1;2.5;a\n2;;b\n3;4.5;\n").unwrap();
    let df = read_csv(&path, CsvOptions::default().has_header(false).delimiter(b';')).unwrap();
    assert_eq!(df.columns(), vec!["column_1", "column_2", "column_3"]);
    let out = df.compute().unwrap();
    assert_eq!(out.column(0).as_ref(), &Int64Array::from(vec![1, 2, 3]) as &dyn Array);
    assert_eq!(out.column(1).as_ref(), &Float64Array::from(vec![Some(2.5), None, Some(4.5)]) as &dyn Array);
    assert_eq!(out.column(2).as_ref(), &StringArray::from(vec![Some("a"), Some("b"), None]) as &dyn Array);
    let projected = df.filter(col("column_1").gt(lit(1))).unwrap().select([col("column_3")]).unwrap();
    assert_eq!(projected.scan_summary().unwrap().columns, vec!["column_1", "column_3"]);
    assert_eq!(projected.task_count(), 1);
    assert_eq!(
        projected.compute().unwrap().column(0).as_ref(),
        &StringArray::from(vec![Some("b"), None]) as &dyn Array
    );
    // With a header, a given schema, and the explicit options.
    let headed = dir.join("headed.csv");
    std::fs::write(&headed, "a|b\n1|x\n2|y\n").unwrap();
    let schema =
        Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, true), Field::new("b", DataType::Utf8, true)]));
    let options = CsvOptions::default().delimiter(b'|').schema(schema).columns(["b"]).filter(col("a").eq(lit(2)));
    let read = read_csv(&headed, options).unwrap();
    assert_eq!(read.compute().unwrap().column(0).as_ref(), &StringArray::from(vec!["y"]) as &dyn Array);
    // A parse error at compute names the file.
    std::fs::write(&headed, "a|b\n1|x\nnot a number|y\n").unwrap();
    let e = read_csv(&headed, CsvOptions::default().delimiter(b'|').infer_rows(1)).unwrap().compute().unwrap_err();
    assert!(e.to_string().contains("headed.csv"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn message(e: rask_collections::Error) -> String {
    e.to_string()
}

#[test]
fn bad_paths_and_schemas_are_errors_naming_the_path() {
    let dir = scratch("errors");
    let missing = read_parquet(dir.join("missing.parquet"), ParquetOptions::default()).unwrap_err();
    assert!(message(missing).contains("missing.parquet"));
    let e = message(read_parquet(dir.join("part-[0-9.parquet"), ParquetOptions::default()).unwrap_err());
    assert!(e.contains("bad glob") && e.contains("part-[0-9.parquet"), "{e}");
    let e = message(read_parquet(dir.join("*.parquet"), ParquetOptions::default()).unwrap_err());
    assert!(e.contains("no file matches") && e.contains("*.parquet"), "{e}");
    let e = message(read_parquet(&dir, ParquetOptions::default()).unwrap_err());
    assert!(e.contains("no parquet") && e.contains(&*dir.to_string_lossy()), "{e}");
    let e = message(read_csv(dir.join("nope.csv"), CsvOptions::default()).unwrap_err());
    assert!(e.contains("nope.csv"), "{e}");
    let text = dir.join("text.parquet");
    std::fs::write(&text, "not parquet").unwrap();
    let e = message(read_parquet(&text, ParquetOptions::default()).unwrap_err());
    assert!(e.contains("text.parquet") && e.contains("not a readable parquet file"), "{e}");
    std::fs::remove_file(&text).unwrap();
    // Files that disagree.
    let a = from_arrays(vec![("x", Arc::new(Int64Array::from(vec![1])) as ArrayRef)], 1).unwrap();
    let b = from_arrays(vec![("x", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef)], 1).unwrap();
    a.to_parquet(dir.join("a")).unwrap();
    b.to_parquet(dir.join("b")).unwrap();
    let paths = vec![dir.join("a/part-0.parquet"), dir.join("b/part-0.parquet")];
    let e = message(read_parquet(paths, ParquetOptions::default()).unwrap_err());
    assert!(e.contains("b/part-0.parquet") && e.contains("x: Float64") && e.contains("x: Int64"), "{e}");
    // A column the files lack is an error at build time naming the schema.
    let e = message(read_parquet(dir.join("a"), ParquetOptions::default().columns(["y"])).unwrap_err());
    assert!(e.contains("\"y\"") && e.contains("x: Int64"), "{e}");
    // Unwritable: the directory would be under a regular file.
    let blocker = dir.join("file");
    std::fs::write(&blocker, "").unwrap();
    let e = message(a.to_parquet(blocker.join("out")).unwrap_err());
    assert!(e.contains("cannot write") && e.contains("file/out"), "{e}");
    assert!(message(a.to_csv(blocker.join("out")).unwrap_err()).contains("file/out"));
    // A file deleted after the build fails the compute, naming it.
    let gone = read_parquet(dir.join("a"), ParquetOptions::default()).unwrap();
    std::fs::remove_file(dir.join("a/part-0.parquet")).unwrap();
    assert_eq!(gone.len().unwrap(), 1, "the footer gave the rows");
    let e = message(gone.compute().unwrap_err());
    assert!(e.contains("a/part-0.parquet"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn w3_generator_writes_the_benchmark_layout_deterministically() {
    let dir = scratch("w3");
    let paths = generate_w3(dir.join("one"), 10_001, 4, 3).unwrap();
    assert_eq!(
        paths.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect::<Vec<_>>(),
        vec!["part-0.parquet", "part-1.parquet", "part-2.parquet", "part-3.parquet"]
    );
    let df = read_parquet(dir.join("one"), ParquetOptions::default()).unwrap();
    let summary = df.scan_summary().unwrap();
    assert_eq!((summary.row_groups_total, summary.rows()), (Some(8), Some(10_001)));
    let types: Vec<DataType> = df.schema().fields().iter().map(|f| f.data_type().clone()).collect();
    assert_eq!(types, vec![DataType::Int64, DataType::Float64, DataType::Float64, DataType::Utf8]);
    let all = df.compute().unwrap();
    let id = all.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
    assert!(id.values().iter().all(|v| (0..1000).contains(v)));
    assert_eq!(id.values().iter().collect::<std::collections::HashSet<_>>().len(), 1000);
    let y = all.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
    assert!(y.values().iter().all(|v| (0.0..1.0).contains(v)));
    let x = all.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
    let mean = x.values().iter().sum::<f64>() / x.len() as f64;
    assert!(mean.abs() < 0.05, "standard normal mean {mean}");
    let s = all.column(3).as_any().downcast_ref::<StringArray>().unwrap();
    assert!(s.iter().all(|w| w.is_some_and(|w| w.len() == 7 && w.starts_with("word"))));
    assert_eq!(s.iter().collect::<std::collections::HashSet<_>>().len(), 100);
    generate_w3(dir.join("two"), 10_001, 4, 3).unwrap();
    assert_eq!(read_parquet(dir.join("two"), ParquetOptions::default()).unwrap().compute().unwrap(), all);
    generate_w3(dir.join("three"), 10_001, 4, 4).unwrap();
    assert_ne!(read_parquet(dir.join("three"), ParquetOptions::default()).unwrap().compute().unwrap(), all);
    std::fs::remove_dir_all(&dir).unwrap();
}

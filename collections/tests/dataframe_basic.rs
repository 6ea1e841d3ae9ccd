//! Dataframe basics against Arrow's kernels on the concatenated data, over several
//! partitionings (1, 3, 8 partitions, empty partitions) and data with nulls.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::kernels::{boolean, cmp, numeric};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::DataType;
use rask_collections::dataframe::{DataFrame, col, from_arrays, from_batches, lit};

/// id, x (with nulls), s (with nulls), n (int32).
fn data() -> RecordBatch {
    let n = 40;
    let id = Int64Array::from_iter_values((0..n).map(|i| i * 7 % 13));
    let x = Float64Array::from_iter((0..n).map(|i| if i % 5 == 0 { None } else { Some(i as f64 / 3.0 - 4.0) }));
    let s = StringArray::from_iter((0..n).map(|i| if i % 7 == 3 { None } else { Some(format!("wörd{:02}", i % 11)) }));
    let k = Int32Array::from_iter_values((0..n as i32).map(|i| i - 20));
    RecordBatch::try_from_iter([
        ("id", Arc::new(id) as ArrayRef),
        ("x", Arc::new(x) as ArrayRef),
        ("s", Arc::new(s) as ArrayRef),
        ("k", Arc::new(k) as ArrayRef),
    ])
    .unwrap()
}

/// The data cut into `parts` partitions, some of them empty when `with_empty`.
fn frames() -> Vec<DataFrame> {
    let batch = data();
    let mut out = vec![];
    for parts in [1usize, 3, 8] {
        let columns: Vec<(String, ArrayRef)> =
            batch.schema().fields().iter().zip(batch.columns()).map(|(f, c)| (f.name().clone(), c.clone())).collect();
        out.push(from_arrays(columns, parts).unwrap());
    }
    let rows = batch.num_rows();
    let with_empty = vec![
        batch.slice(0, 0),
        batch.slice(0, 11),
        batch.slice(11, 0),
        batch.slice(11, rows - 11),
        batch.slice(rows, 0),
    ];
    out.push(from_batches(with_empty).unwrap());
    out
}

fn column(batch: &RecordBatch, name: &str) -> ArrayRef {
    batch.column_by_name(name).unwrap().clone()
}

#[test]
fn select_filter_and_with_column_match_arrow_kernels() {
    let all = data();
    let x = column(&all, "x");
    let k = column(&all, "k");
    let expected_y = numeric::add(
        &numeric::mul(&x, &Float64Array::new_scalar(2.0)).unwrap(),
        &cast(&k, &DataType::Float64).unwrap(),
    )
    .unwrap();
    let mask = boolean::and_kleene(
        &cmp::gt(&x, &Float64Array::new_scalar(0.0)).unwrap(),
        &arrow::compute::kernels::comparison::contains(
            all.column_by_name("s").unwrap().as_any().downcast_ref::<StringArray>().unwrap(),
            &StringArray::new_scalar("d0"),
        )
        .unwrap(),
    )
    .unwrap();
    let expected_filtered = filter_record_batch(&all, &mask).unwrap();
    for df in frames() {
        let y = df.with_column((col("x") * lit(2) + col("k")).alias("y")).unwrap().compute().unwrap();
        assert_eq!(y.column_by_name("y").unwrap().as_ref(), expected_y.as_ref());
        let filtered = df.filter(col("x").gt(lit(0.0)) & col("s").str_contains("d0")).unwrap().compute().unwrap();
        assert_eq!(filtered.columns(), expected_filtered.columns());
        let selected =
            df.select([col("id"), col("s").str_len().alias("len"), col("x").is_null().alias("missing")]).unwrap();
        let out = selected.compute().unwrap();
        assert_eq!(out.column(0).as_ref(), all.column(0).as_ref());
        let lens: Vec<Option<i64>> = all
            .column_by_name("s")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .iter()
            .map(|s| s.map(|s| s.chars().count() as i64))
            .collect();
        assert_eq!(out.column(1).as_ref(), &Int64Array::from(lens) as &dyn Array);
        assert_eq!(out.column(2).as_ref(), &arrow::compute::is_null(&x).unwrap() as &dyn Array);
        let renamed = df.rename([("id", "key")]).unwrap().drop(["s"]).unwrap();
        assert_eq!(renamed.columns(), vec!["key", "x", "k"]);
        assert_eq!(renamed.compute().unwrap().num_rows(), all.num_rows());
    }
}

#[test]
fn three_valued_logic_drops_null_predicates() {
    let x = Float64Array::from(vec![Some(1.0), None, Some(-1.0), None]);
    let b = BooleanArray::from(vec![Some(true), Some(true), None, Some(false)]);
    let df = from_arrays(vec![("x", Arc::new(x) as ArrayRef), ("b", Arc::new(b) as ArrayRef)], 2).unwrap();
    // (x > 0) | b: true, true, null, null -> rows 0 and 1 survive.
    let out = df.filter(col("x").gt(lit(0.0)) | col("b")).unwrap().compute().unwrap();
    assert_eq!(out.num_rows(), 2);
    // ~b keeps nulls null: only row 3 is true.
    assert_eq!(df.filter(!col("b")).unwrap().compute().unwrap().num_rows(), 1);
}

#[test]
fn mistakes_are_errors_naming_the_column_and_schema() {
    let df = frames().remove(0);
    let e = df.select([col("y")]).unwrap_err().to_string();
    assert!(e.contains("\"y\"") && e.contains("x: Float64"), "{e}");
    let e = df.filter(col("x") + lit(1)).unwrap_err().to_string();
    assert!(e.contains("not Boolean"), "{e}");
    let e = df.select([col("s") * lit(2)]).unwrap_err().to_string();
    assert!(e.contains("Utf8"), "{e}");
    assert!(df.rename([("nope", "x")]).is_err());
    assert!(df.with_column(col("x").alias("id")).unwrap().columns() == vec!["id", "x", "s", "k"]);
    assert!(df.select([col("x"), col("x")]).unwrap_err().to_string().contains("twice"));
}

#[test]
fn integer_division_is_true_division_and_literals_adopt_the_column_type() {
    let df = from_arrays(vec![("k", Arc::new(Int32Array::from(vec![7, -7, 3])) as ArrayRef)], 2).unwrap();
    let out = df.select([(col("k") / lit(2)).alias("q"), (col("k") + lit(1)).alias("p")]).unwrap();
    assert_eq!(out.schema().field(0).data_type(), &DataType::Float64);
    assert_eq!(out.schema().field(1).data_type(), &DataType::Int32);
    let batch = out.compute().unwrap();
    assert_eq!(batch.column(0).as_ref(), &Float64Array::from(vec![3.5, -3.5, 1.5]) as &dyn Array);
}

#[test]
fn partition_counts_beyond_the_limit_are_errors_not_allocations() {
    use rask_collections::dataframe::MAX_PARTITIONS;
    let x = || vec![("x", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef)];
    let df = from_arrays(x(), 2).unwrap();
    let too_many = MAX_PARTITIONS + 1;
    for e in [
        from_arrays(x(), too_many).unwrap_err(),
        from_arrays(x(), usize::MAX).unwrap_err(),
        df.repartition(usize::MAX).unwrap_err(),
        df.shuffle(&["x"], too_many).unwrap_err(),
        // Fewer outputs than the limit, but outputs × inputs edges beyond it.
        df.shuffle(&["x"], MAX_PARTITIONS / 2 + 1).unwrap_err(),
        df.sort_by(rask_collections::dataframe::Sort::by(["x"]).npartitions(usize::MAX)).unwrap_err(),
    ] {
        assert!(e.to_string().contains(&MAX_PARTITIONS.to_string()), "{e}");
    }
    for e in [from_arrays(x(), 0).unwrap_err(), df.repartition(0).unwrap_err(), df.shuffle(&["x"], 0).unwrap_err()] {
        assert!(e.to_string().contains("at least one partition"), "{e}");
    }
    assert_eq!(df.repartition(1000).unwrap().compute().unwrap().num_rows(), 3);
}

//! `sort_by` against Arrow's `lexsort` (made stable by a row-number tie-break) on the
//! concatenated data, over partitionings 1, 3 and 8 and frames with empty partitions,
//! with nulls, duplicates, floats, non-ASCII strings, descending columns and nulls first,
//! on every scheduler; plus the error messages.

mod common;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{SortColumn, SortOptions, lexsort_to_indices, take_record_batch};
use rask_collections::dataframe::{DataFrame, Sort, from_arrays, from_batches};

/// k (few values, nulls), s (non-ASCII, nulls), x (floats, nulls, -0.0), row (0..n: the
/// input order, to see stability).
fn data() -> RecordBatch {
    let n = 300;
    let k = Int64Array::from_iter((0..n).map(|i| if i % 13 == 5 { None } else { Some((i * 7 % 10) - 3) }));
    let words = ["é", "e", "z", "Z", "ä", "éa", "", "ß"];
    let s = StringArray::from_iter((0..n).map(|i| if i % 11 == 2 { None } else { Some(words[i as usize * 5 % 8]) }));
    let x = Float64Array::from_iter((0..n).map(|i| match i % 17 {
        3 => None,
        7 => Some(-0.0),
        8 => Some(0.0),
        _ => Some(((i * 37) % 23) as f64 / 4.0 - 2.0),
    }));
    let row = Int64Array::from_iter_values(0..n);
    RecordBatch::try_from_iter([
        ("k", Arc::new(k) as ArrayRef),
        ("s", Arc::new(s) as ArrayRef),
        ("x", Arc::new(x) as ArrayRef),
        ("row", Arc::new(row) as ArrayRef),
    ])
    .unwrap()
}

/// The batch in 1, 3 and 8 partitions, and with empty partitions.
fn frames(all: &RecordBatch) -> Vec<DataFrame> {
    let columns =
        || all.schema().fields().iter().map(|f| f.name().clone()).zip(all.columns().iter().cloned()).collect();
    let mut out: Vec<DataFrame> = [1, 3, 8].iter().map(|&n| from_arrays(columns(), n).unwrap()).collect();
    let rows = all.num_rows();
    out.push(
        from_batches(vec![
            all.slice(0, 0),
            all.slice(0, 70),
            all.slice(70, 0),
            all.slice(70, rows - 70),
            all.slice(rows, 0),
        ])
        .unwrap(),
    );
    out
}

/// `batch` sorted stably by `columns` with Arrow's lexsort: the row number breaks ties.
fn expected(batch: &RecordBatch, columns: &[&str], descending: &[bool], nulls_first: bool) -> RecordBatch {
    let mut sort: Vec<SortColumn> = columns
        .iter()
        .zip(descending)
        .map(|(c, &descending)| SortColumn {
            values: batch.column_by_name(c).unwrap().clone(),
            options: Some(SortOptions { descending, nulls_first }),
        })
        .collect();
    sort.push(SortColumn {
        values: Arc::new(UInt32Array::from_iter_values(0..batch.num_rows() as u32)),
        options: None,
    });
    take_record_batch(batch, &lexsort_to_indices(&sort, None).unwrap()).unwrap()
}

#[test]
fn sorts_match_a_stable_lexsort_over_partitionings() {
    let all = data();
    let options = common::options();
    let mut run = 0;
    let cases: [(&[&str], &[bool]); 6] = [
        (&["k"], &[false]),
        (&["s"], &[true]),
        (&["x"], &[false]),
        (&["k", "s"], &[false, true]),
        (&["s", "x"], &[true, true]),
        (&["k", "x", "s"], &[true, false, false]),
    ];
    for (columns, descending) in cases {
        for nulls_first in [false, true] {
            let want = expected(&all, columns, descending, nulls_first);
            for df in frames(&all) {
                for parts in [None, Some(1), Some(5)] {
                    let mut sort = Sort::by(columns.iter().copied())
                        .descending_each(descending.iter().copied())
                        .nulls_first(nulls_first);
                    if let Some(parts) = parts {
                        sort = sort.npartitions(parts);
                    }
                    let sorted = df.sort_by(sort).unwrap();
                    assert_eq!(sorted.npartitions(), parts.unwrap_or(df.npartitions()));
                    let got = sorted.compute_with(&options[run % options.len()]).unwrap();
                    run += 1;
                    let what = format!("{columns:?} desc {descending:?} nulls_first {nulls_first} {df} -> {parts:?}");
                    assert_eq!(got.columns(), want.columns(), "{what}");
                }
            }
        }
    }
}

#[test]
fn output_partitions_are_ranges_in_order_and_roughly_balanced() {
    let all = data();
    let df = from_arrays(
        all.schema().fields().iter().map(|f| f.name().clone()).zip(all.columns().iter().cloned()).collect(),
        6,
    )
    .unwrap();
    let sorted = df.sort_by("x").unwrap();
    let mut previous_max: Option<f64> = None;
    let mut sizes = vec![];
    for p in 0..sorted.npartitions() {
        let part = sorted.partition(p).unwrap().compute().unwrap();
        sizes.push(part.num_rows());
        let x = part.column_by_name("x").unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
        let values: Vec<f64> = x.iter().flatten().collect();
        if let (Some(max), Some(first)) = (previous_max, values.first()) {
            assert!(max.total_cmp(first).is_le(), "partition {p} starts below the previous one");
        }
        previous_max = values.last().copied().or(previous_max);
    }
    assert_eq!(sizes.iter().sum::<usize>(), all.num_rows());
    // x has 23 distinct values over 300 rows: six ranges of about 50 rows, none empty.
    assert!(sizes.iter().all(|&n| n > 10), "{sizes:?}");
}

#[test]
fn strings_sort_by_code_point_and_equal_keys_keep_their_order() {
    let s = StringArray::from(vec!["é", "z", "e", "Z", "ä", "e", "É"]);
    let row = Int64Array::from_iter_values(0..7);
    let df = from_arrays(vec![("s", Arc::new(s) as ArrayRef), ("row", Arc::new(row) as ArrayRef)], 3).unwrap();
    let out = df.sort_by("s").unwrap().compute().unwrap();
    assert_eq!(out.column(0).as_ref(), &StringArray::from(vec!["Z", "e", "e", "z", "É", "ä", "é"]) as &dyn Array);
    assert_eq!(out.column(1).as_ref(), &Int64Array::from(vec![3, 2, 5, 1, 6, 4, 0]) as &dyn Array);
    // All keys equal, across 8 partitions: the input order stays.
    let same = from_arrays(
        vec![
            ("k", Arc::new(Int64Array::from(vec![1; 40])) as ArrayRef),
            ("row", Arc::new(Int64Array::from_iter_values(0..40)) as ArrayRef),
        ],
        8,
    )
    .unwrap();
    let out = same.sort_by(Sort::by(["k"]).descending(true)).unwrap().compute().unwrap();
    assert_eq!(out.column(1).as_ref(), &Int64Array::from_iter_values(0..40) as &dyn Array);
}

#[test]
fn mistakes_are_errors_naming_the_column_and_schema() {
    let df = frames(&data()).remove(1);
    let e = df.sort_by("nope").unwrap_err().to_string();
    assert!(e.contains("\"nope\"") && e.contains("k: Int64, s: Utf8"), "{e}");
    let e = df.sort_by(Sort::by(["k", "s"]).descending_each([true, false, true])).unwrap_err().to_string();
    assert!(e.contains("3 descending flags for 2 columns"), "{e}");
    let e = df.sort_by(Vec::<String>::new()).unwrap_err().to_string();
    assert!(e.contains("at least one column"), "{e}");
    assert!(df.sort_by(Sort::by(["k"]).npartitions(0)).is_err());
}

#[test]
fn the_stage_ops_report_bad_arguments() {
    use rask_collections::dataframe::{RangeSplit, SortKeys, SortParts};
    use rask_graph::{Batch, Op, Value, args};
    let keys = SortKeys { columns: vec!["k".into()], descending: vec![false], nulls_first: false };
    let batch = Value::Batch(Batch::new(data()));
    let e = RangeSplit { keys: keys.clone(), parts: 2 }.call(args![batch.clone()]).unwrap_err();
    assert!(e.to_string().contains("a batch and its boundaries"), "{e}");
    let e = SortParts { keys: keys.clone(), part: Some(0) }.call(args![batch.clone()]).unwrap_err();
    assert!(e.to_string().contains("cannot take a batch"), "{e}");
    let missing = SortKeys { columns: vec!["nope".into()], ..keys };
    let e = SortParts { keys: missing, part: None }.call(args![batch]).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
}

/// 10M rows (an int64 key of 1000 values, a float payload) in 8 partitions sorted by the
/// key on threads(2). Run with `cargo test --release -p rask-collections --test
/// dataframe_sort -- --ignored --nocapture`.
#[test]
#[ignore]
fn sort_timing() {
    let n = 10_000_000i64;
    let k = Int64Array::from_iter_values((0..n).map(|i| (i * 7919) % 1000));
    let x = Float64Array::from_iter_values((0..n).map(|i| i as f64));
    let df = from_arrays(vec![("k", Arc::new(k) as ArrayRef), ("x", Arc::new(x) as ArrayRef)], 8).unwrap();
    let options = rask_collections::ComputeOptions::default().scheduler(rask_scheduler::ThreadsScheduler::new(2));
    for round in 0..3 {
        let start = std::time::Instant::now();
        let sorted = df.sort_by("k").unwrap();
        let parts: Vec<DataFrame> = (0..sorted.npartitions()).map(|i| sorted.partition(i).unwrap()).collect();
        let rows: usize = rask_collections::compute_with(&parts, &options).unwrap().iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, n as usize);
        println!("round {round}: sort {:.3?}", start.elapsed());
    }
}

//! head, len, concat, repartition and map_partitions against slices and concatenations
//! of the data computed directly, over several partitionings (1, 3, 8, empty partitions)
//! with nulls, on every scheduler; head computes only the partitions it needs,
//! repartition nothing when it is built.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rask_collections::dataframe::{
    DataFrame, ParquetOptions, col, concat, from_arrays, from_batches, lit, read_parquet,
};

/// id, x (with nulls), s (with nulls).
fn data() -> RecordBatch {
    let n = 40;
    let id = Int64Array::from_iter_values(0..n);
    let x = Float64Array::from_iter((0..n).map(|i| if i % 5 == 0 { None } else { Some(i as f64 / 4.0) }));
    let s = StringArray::from_iter((0..n).map(|i| if i % 7 == 3 { None } else { Some(format!("w{}", i % 6)) }));
    RecordBatch::try_from_iter_with_nullable([
        ("id", Arc::new(id) as ArrayRef, true),
        ("x", Arc::new(x) as _, true),
        ("s", Arc::new(s) as _, true),
    ])
    .unwrap()
}

/// The data in 1, 3 and 8 partitions, and with empty partitions (first, middle, last).
fn frames() -> Vec<DataFrame> {
    common::frames_of(&data())
}

/// `df` with each partition counted in `counter` when it is computed.
fn counted(df: &DataFrame, counter: &Arc<AtomicUsize>) -> DataFrame {
    let counter = counter.clone();
    df.map_partitions(
        "counted",
        move |b: RecordBatch| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(b)
        },
        df.schema().clone(),
    )
    .unwrap()
}

#[test]
fn head_is_the_first_rows_in_partition_order() {
    let all = data();
    for df in frames() {
        for options in common::options() {
            for n in [0, 1, 2, 5, 39, 40, 100] {
                let head = df.head_with(n, &options).unwrap();
                assert_eq!(head, all.slice(0, n.min(40)), "head({n}) of {df}");
            }
        }
    }
    let filtered = frames()[2].filter(col("x").gt(lit(5.0))).unwrap();
    let expected = filtered.compute().unwrap();
    assert_eq!(filtered.head(3).unwrap(), expected.slice(0, 3));
    assert!(!frames()[3].is_empty().unwrap());
    assert!(frames()[3].filter(col("id").lt(lit(0))).unwrap().is_empty().unwrap());
}

#[test]
fn head_computes_only_the_partitions_it_needs() {
    let df = frames().remove(2); // 8 partitions of 5 rows
    for options in common::options() {
        let counter = Arc::new(AtomicUsize::new(0));
        let watched = counted(&df, &counter);
        assert_eq!(watched.head_with(4, &options).unwrap().num_rows(), 4);
        assert_eq!(counter.swap(0, Ordering::SeqCst), 1, "partition 0 has enough rows");
        assert_eq!(watched.head_with(7, &options).unwrap().num_rows(), 7);
        assert_eq!(counter.swap(0, Ordering::SeqCst), 3, "partition 0, then 1 and 2");
        assert_eq!(watched.head_with(100, &options).unwrap().num_rows(), 40);
        assert_eq!(counter.swap(0, Ordering::SeqCst), 8);
        // Empty leading partitions: keep going.
        let sparse = counted(&frames().remove(3), &counter);
        assert_eq!(sparse.head_with(1, &options).unwrap().num_rows(), 1);
        assert_eq!(counter.swap(0, Ordering::SeqCst), 3, "partition 0 (empty), then 1 and 2");
    }
}

#[test]
fn tail_is_the_last_rows_in_partition_order() {
    let all = data();
    for df in frames() {
        for options in common::options() {
            for n in [0, 1, 2, 5, 39, 40, 100] {
                let tail = df.tail_with(n, &options).unwrap();
                let n = n.min(40);
                assert_eq!(tail, all.slice(40 - n, n), "tail({n}) of {df}");
            }
        }
    }
    let filtered = frames()[2].filter(col("x").gt(lit(5.0))).unwrap();
    let expected = filtered.compute().unwrap();
    assert_eq!(filtered.tail(3).unwrap(), expected.slice(expected.num_rows() - 3, 3));
}

#[test]
fn tail_computes_only_the_partitions_it_needs() {
    let df = frames().remove(2); // 8 partitions of 5 rows
    for options in common::options() {
        let counter = Arc::new(AtomicUsize::new(0));
        let watched = counted(&df, &counter);
        assert_eq!(watched.tail_with(4, &options).unwrap().num_rows(), 4);
        assert_eq!(counter.swap(0, Ordering::SeqCst), 1, "the last partition has enough rows");
        assert_eq!(watched.tail_with(7, &options).unwrap().num_rows(), 7);
        assert_eq!(counter.swap(0, Ordering::SeqCst), 3, "partition 7, then 5 and 6");
        assert_eq!(watched.tail_with(100, &options).unwrap().num_rows(), 40);
        assert_eq!(counter.swap(0, Ordering::SeqCst), 8);
    }
}

#[test]
fn len_sums_partition_counts() {
    for df in frames() {
        for options in common::options() {
            assert_eq!(df.len_with(&options).unwrap(), 40);
            let filtered = df.filter(col("x").is_null() | col("s").eq(lit("w1"))).unwrap();
            assert_eq!(filtered.len_with(&options).unwrap(), filtered.compute().unwrap().num_rows());
        }
    }
    // More partitions than one level of the tree adds up.
    let many = from_arrays(vec![("v", Arc::new(Int64Array::from_iter_values(0..100)) as ArrayRef)], 70).unwrap();
    assert_eq!(many.len().unwrap(), 100);
}

#[test]
fn concat_appends_partitions_in_order() {
    let all = data();
    let frames = frames();
    let refs: Vec<&DataFrame> = frames.iter().collect();
    let joined = concat(&refs).unwrap();
    assert_eq!(joined.npartitions(), frames.iter().map(|f| f.npartitions()).sum::<usize>());
    let expected = concat_batches(&all.schema(), &vec![all.clone(); frames.len()]).unwrap();
    for options in common::options() {
        assert_eq!(joined.compute_with(&options).unwrap(), expected);
    }
    assert_eq!(joined.len().unwrap(), 160);
    // Nullability is the union; names and types must agree.
    let strict = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let a = from_batches(vec![
        RecordBatch::try_new(strict, vec![Arc::new(Int64Array::from(vec![1])) as ArrayRef]).unwrap(),
    ])
    .unwrap();
    let b = from_arrays(vec![("id", Arc::new(Int64Array::from(vec![None, Some(2)])) as ArrayRef)], 1).unwrap();
    let ab = concat(&[&a, &b]).unwrap();
    assert!(ab.schema().field(0).is_nullable());
    assert_eq!(ab.compute().unwrap().column(0).as_ref(), &Int64Array::from(vec![Some(1), None, Some(2)]) as &dyn Array);
    let c = from_arrays(vec![("id", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef)], 1).unwrap();
    let e = concat(&[&a, &c]).unwrap_err().to_string();
    assert!(e.contains("dataframe 1") && e.contains("id: Float64") && e.contains("id: Int64"), "{e}");
    assert!(concat(&[]).is_err());
}

#[test]
fn repartition_is_lazy_and_keeps_rows_in_order() {
    let all = data();
    for df in frames() {
        let m = df.npartitions();
        let input_rows: Vec<usize> = (0..m).map(|i| df.partition(i).unwrap().compute().unwrap().num_rows()).collect();
        for options in common::options() {
            for n in [1, 2, m.saturating_sub(1).max(1), m, m + 1, 3 * m] {
                let counter = Arc::new(AtomicUsize::new(0));
                let re = counted(&df, &counter).repartition_with(n, &options).unwrap();
                assert_eq!(counter.load(Ordering::SeqCst), 0, "repartition({n}) of {df} computed at build time");
                assert_eq!(re.npartitions(), n);
                assert_eq!(re.compute_with(&options).unwrap(), all, "repartition({n}) of {df}");
                let rows: Vec<usize> =
                    (0..n).map(|j| re.partition(j).unwrap().compute_with(&options).unwrap().num_rows()).collect();
                assert_eq!(rows, lazy_rows(&input_rows, n), "repartition({n}) of {df}");
            }
        }
    }
    assert!(frames()[0].repartition(0).is_err());
    assert!(frames()[0].repartition_with(0, &common::options()[0]).is_err());
}

/// The row counts of the lazy plan, as the docs state them: with `n <= m`, output `j`
/// concatenates inputs `m * j / n .. m * (j + 1) / n`; with more, input `i` is cut into
/// `n * (i + 1) / m - n * i / m` pieces, piece `p` of `k` holding rows
/// `[p * len / k, (p + 1) * len / k)`.
fn lazy_rows(input: &[usize], n: usize) -> Vec<usize> {
    let m = input.len();
    if n <= m {
        return (0..n).map(|j| input[m * j / n..m * (j + 1) / n].iter().sum()).collect();
    }
    (0..m)
        .flat_map(|i| {
            let (k, len) = (n * (i + 1) / m - n * i / m, input[i]);
            (0..k).map(move |p| (p + 1) * len / k - p * len / k)
        })
        .collect()
}

#[test]
fn repartition_of_a_parquet_scan_balances_rows_from_the_footers() {
    let all = data();
    let dir = std::env::temp_dir().join(format!("rask-frame-ops-{}", std::process::id()));
    frames()[3].to_parquet(&dir).unwrap(); // partitions of 0, 2, 0, 36 and 0 rows
    let scan = read_parquet(&dir, ParquetOptions::default()).unwrap();
    assert!(scan.scan_summary().and_then(|s| s.partition_rows.as_ref()).is_some(), "the footers give the counts");
    for options in common::options() {
        for n in [1, 2, 3, 5, 13, 50] {
            let re = scan.repartition_with(n, &options).unwrap();
            assert_eq!(re.npartitions(), n);
            assert_eq!(re.compute_with(&options).unwrap(), all, "repartition({n}) of the scan");
            let rows: Vec<usize> =
                (0..n).map(|j| re.partition(j).unwrap().compute_with(&options).unwrap().num_rows()).collect();
            let (min, max) = (rows.iter().min().unwrap(), rows.iter().max().unwrap());
            assert!(max - min <= 1, "{rows:?}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn doubled_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("id2", DataType::Int64, true)]))
}

#[test]
fn map_partitions_runs_the_closure_and_checks_its_schema() {
    let all = data();
    let id = all.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
    let expected = Int64Array::from_iter(id.iter().map(|v| v.map(|v| v * 2)));
    for df in frames() {
        for options in common::options() {
            let schema = doubled_schema();
            let doubled = df
                .map_partitions(
                    "double",
                    move |b: RecordBatch| {
                        let id = arrow::compute::kernels::numeric::mul(b.column(0), &Int64Array::new_scalar(2))?;
                        RecordBatch::try_new(schema.clone(), vec![id])
                    },
                    doubled_schema(),
                )
                .unwrap();
            assert_eq!(doubled.compute_with(&options).unwrap().column(0).as_ref(), &expected as &dyn Array);
        }
    }
    let df = frames().remove(1);
    let wrong = df.map_partitions("wrong", Ok::<RecordBatch, String>, doubled_schema()).unwrap();
    let e = wrong.compute().unwrap_err().to_string();
    // Whichever partition fails first on the threads is reported.
    assert!(e.contains("map_partitions \"wrong\" partition ") && e.contains("id2: Int64"), "{e}");
    let failing = df
        .map_partitions(
            "failing",
            |b: RecordBatch| if b.num_rows() > 13 { Err("too many rows".to_string()) } else { Ok(b) },
            df.schema().clone(),
        )
        .unwrap();
    let e = failing.compute().unwrap_err().to_string();
    assert!(e.contains("partition 2") && e.contains("too many rows"), "{e}");
    assert!(df.map_partitions("", Ok::<RecordBatch, String>, df.schema().clone()).is_err());
}

//! Aggregations, groupby, value_counts, drop_duplicates and describe against a direct
//! computation on the concatenated data (Arrow's kernels and hand loops), over 1, 3 and 8
//! partitions and a partitioning with empty partitions, on the sync and threads
//! schedulers; plus the pandas-on-Arrow rules of SEMANTICS.md.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, UInt32Array,
};
use arrow::compute::{cast, concat_batches, take};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use rask_collections::ComputeOptions;
use rask_collections::dataframe::{Agg, DataFrame, SplitOut, ValueCounts, col, from_arrays, from_batches, lit};

/// id (int64, nulls, a one-row group 100, a group 3 whose z is all null), s (strings,
/// nulls), x (float64, nulls), n (int32), b (booleans, nulls), z (float64, null in group 3).
fn data() -> RecordBatch {
    let rows = 120;
    let id = Int64Array::from_iter((0..rows).map(|i| match i {
        52 => Some(100),
        _ if i % 17 == 0 => None,
        _ => Some(i * 7 % 6),
    }));
    let s = StringArray::from_iter((0..rows).map(|i| (i % 11 != 3).then(|| format!("wörd{}", i % 4))));
    let x = Float64Array::from_iter((0..rows).map(|i| (i % 5 != 0).then_some(i as f64 / 4.0 - 9.0)));
    let n = Int32Array::from_iter_values((0..rows as i32).map(|i| i * 3 - 100));
    let b = BooleanArray::from_iter((0..rows).map(|i| (i % 7 != 0).then_some(i % 3 == 0)));
    let z = Float64Array::from_iter((0..rows).map(|i| (i * 7 % 6 != 3).then_some((i % 9) as f64)));
    RecordBatch::try_from_iter([
        ("id", Arc::new(id) as ArrayRef),
        ("s", Arc::new(s) as ArrayRef),
        ("x", Arc::new(x) as ArrayRef),
        ("n", Arc::new(n) as ArrayRef),
        ("b", Arc::new(b) as ArrayRef),
        ("z", Arc::new(z) as ArrayRef),
    ])
    .unwrap()
}

/// `batch` in 1, 3 and 8 partitions, and in partitions some of which are empty.
fn frames_of(batch: &RecordBatch) -> Vec<DataFrame> {
    let mut out: Vec<DataFrame> = [1usize, 3, 8]
        .into_iter()
        .map(|parts| {
            let columns: Vec<(String, ArrayRef)> = batch
                .schema()
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(f, c)| (f.name().clone(), c.clone()))
                .collect();
            from_arrays(columns, parts).unwrap()
        })
        .collect();
    let rows = batch.num_rows();
    let cut = rows / 3;
    let pieces = vec![
        batch.slice(0, 0),
        batch.slice(0, cut),
        batch.slice(cut, 0),
        batch.slice(cut, rows - cut),
        batch.slice(rows, 0),
    ];
    out.push(from_batches(pieces).unwrap());
    out
}

/// Every frame on every scheduler.
fn cases(batch: &RecordBatch) -> Vec<(DataFrame, ComputeOptions)> {
    let options = common::options();
    frames_of(batch).into_iter().flat_map(|df| options.iter().map(move |o| (df.clone(), o.clone()))).collect()
}

/// A cell, compared with a relative tolerance for floats.
#[derive(Clone, Debug, PartialOrd)]
enum V {
    I(i64),
    F(f64),
    S(String),
    B(bool),
    Null,
}

impl PartialEq for V {
    fn eq(&self, other: &V) -> bool {
        match (self, other) {
            (V::F(a), V::F(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
            (V::I(a), V::I(b)) => a == b,
            (V::S(a), V::S(b)) => a == b,
            (V::B(a), V::B(b)) => a == b,
            (V::Null, V::Null) => true,
            _ => false,
        }
    }
}

/// The cells of an array.
fn cells(array: &dyn Array) -> Vec<V> {
    let t = array.data_type();
    let array = arrow::array::make_array(array.to_data());
    (0..array.len())
        .map(|i| match t {
            _ if array.is_null(i) => V::Null,
            DataType::Float32 | DataType::Float64 => {
                V::F(cast(&array, &DataType::Float64).unwrap().as_primitive::<Float64Type>().value(i))
            }
            DataType::Utf8 => V::S(array.as_string::<i32>().value(i).to_string()),
            DataType::Boolean => V::B(array.as_boolean().value(i)),
            _ => V::I(cast(&array, &DataType::Int64).unwrap().as_primitive::<Int64Type>().value(i)),
        })
        .collect()
}

/// A key cell for sorting: nulls after every value.
fn key_cell(v: V) -> (bool, String, i64) {
    match v {
        V::Null => (true, String::new(), 0),
        V::S(s) => (false, s, 0),
        V::I(i) => (false, String::new(), i),
        other => panic!("not a key: {other:?}"),
    }
}

/// The rows of each group of the `keys` columns, sorted by key (nulls last).
fn reference_groups(batch: &RecordBatch, keys: &[&str], dropna: bool) -> BTreeMap<Vec<(bool, String, i64)>, Vec<u32>> {
    let columns: Vec<Vec<V>> = keys.iter().map(|k| cells(batch.column_by_name(k).unwrap().as_ref())).collect();
    let mut groups: BTreeMap<_, Vec<u32>> = BTreeMap::new();
    for row in 0..batch.num_rows() {
        let key: Vec<V> = columns.iter().map(|c| c[row].clone()).collect();
        if dropna && key.contains(&V::Null) {
            continue;
        }
        groups.entry(key.into_iter().map(key_cell).collect()).or_default().push(row as u32);
    }
    groups
}

/// The aggregations checked on numeric and boolean columns.
const NUMERIC: [&str; 13] =
    ["sum", "sum1", "mean", "min", "max", "count", "size", "var", "std", "var0", "nunique", "first", "last"];
/// The aggregations checked on string columns.
const ORDERED: [&str; 7] = ["min", "max", "count", "size", "nunique", "first", "last"];

fn funcs(c: &str) -> &'static [&'static str] {
    if c == "s" { &ORDERED } else { &NUMERIC }
}

/// The aggregations every test checks on column `c`, named `c_<function>`.
fn aggs(c: &str) -> Vec<Agg> {
    funcs(c)
        .iter()
        .map(|f| {
            let e = col(c);
            let agg = match *f {
                "sum" => e.sum(),
                "sum1" => e.sum_min_count(1),
                "mean" => e.mean(),
                "min" => e.min(),
                "max" => e.max(),
                "count" => e.count(),
                "size" => e.size(),
                "var" => e.var(),
                "std" => e.std(),
                "var0" => e.var_ddof(0),
                "nunique" => e.n_unique(),
                "first" => e.first(),
                "last" => e.last(),
                other => unreachable!("{other}"),
            };
            agg.alias(format!("{c}_{f}"))
        })
        .collect()
}

/// The expected cell of aggregation `f` over `values` (the rows of one group).
fn expected(values: &ArrayRef, f: &str) -> V {
    let valid: Vec<V> = cells(values.as_ref()).into_iter().filter(|v| *v != V::Null).collect();
    let floats = || -> Vec<f64> {
        cells(cast(values, &DataType::Float64).unwrap().as_ref())
            .into_iter()
            .filter_map(|v| if let V::F(f) = v { Some(f) } else { None })
            .collect()
    };
    let sum = || match values.data_type() {
        DataType::Float64 => V::F(arrow::compute::sum(values.as_primitive::<Float64Type>()).unwrap_or(0.0)),
        DataType::Boolean => V::I(values.as_boolean().true_count() as i64),
        _ => {
            V::I(arrow::compute::sum(cast(values, &DataType::Int64).unwrap().as_primitive::<Int64Type>()).unwrap_or(0))
        }
    };
    let var = |ddof: f64| {
        let v = floats();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let m2: f64 = v.iter().map(|f| (f - mean) * (f - mean)).sum();
        (n > ddof).then(|| m2 / (n - ddof))
    };
    let extreme = |pick_max: bool| {
        valid.iter().cloned().reduce(|a, b| if (b > a) == pick_max && b != a { b } else { a }).unwrap_or(V::Null)
    };
    let or_null = |v: Option<f64>| v.map_or(V::Null, V::F);
    match f {
        "sum" => sum(),
        "sum1" if valid.is_empty() => V::Null,
        "sum1" => sum(),
        "mean" => or_null((!valid.is_empty()).then(|| floats().iter().sum::<f64>() / valid.len() as f64)),
        "min" => extreme(false),
        "max" => extreme(true),
        "count" => V::I(valid.len() as i64),
        "size" => V::I(values.len() as i64),
        "var" => or_null(var(1.0)),
        "std" => or_null(var(1.0).map(f64::sqrt)),
        "var0" => or_null(var(0.0)),
        "nunique" => V::I(valid.iter().map(|v| format!("{v:?}")).collect::<HashSet<_>>().len() as i64),
        "first" => valid.first().cloned().unwrap_or(V::Null),
        "last" => valid.last().cloned().unwrap_or(V::Null),
        other => unreachable!("{other}"),
    }
}

/// Checks row `row` of `out` from column `at` on: the aggregations of each of `columns`
/// over `rows` of `all`.
fn check_row(
    out: &RecordBatch,
    row: usize,
    mut at: usize,
    all: &RecordBatch,
    rows: &UInt32Array,
    columns: &[&str],
    what: &str,
) {
    for c in columns {
        let values = take(all.column_by_name(c).unwrap(), rows, None).unwrap();
        for f in funcs(c) {
            let name = out.schema().field(at).name().clone();
            assert_eq!(cells(out.column(at).as_ref())[row], expected(&values, f), "{what}: {name} of row {row}");
            at += 1;
        }
    }
}

/// Checks a groupby result against the reference: keys sorted, then the aggregations of
/// each column in `columns`, in order.
fn check_groupby(out: &RecordBatch, all: &RecordBatch, keys: &[&str], columns: &[&str], dropna: bool, what: &str) {
    let groups = reference_groups(all, keys, dropna);
    assert_eq!(out.num_rows(), groups.len(), "{what}: groups");
    let got_keys: Vec<Vec<V>> = (0..keys.len()).map(|k| cells(out.column(k).as_ref())).collect();
    for (row, (key, rows)) in groups.iter().enumerate() {
        let got: Vec<_> = got_keys.iter().map(|c| key_cell(c[row].clone())).collect();
        assert_eq!(&got, key, "{what}: key of group {row}");
        check_row(out, row, keys.len(), all, &UInt32Array::from(rows.clone()), columns, what);
    }
}

fn all_aggs(columns: &[&str]) -> Vec<Agg> {
    columns.iter().flat_map(|c| aggs(c)).collect()
}

#[test]
fn whole_frame_aggregations_match_a_direct_computation() {
    let all = data();
    let columns = ["x", "n", "b", "s", "z"];
    for (df, options) in cases(&all) {
        let out = df.agg(all_aggs(&columns)).unwrap();
        assert_eq!(out.npartitions(), 1);
        let out = out.compute_with(&options).unwrap();
        assert_eq!(out.num_rows(), 1);
        let every_row = UInt32Array::from_iter_values(0..all.num_rows() as u32);
        check_row(&out, 0, 0, &all, &every_row, &columns, "whole frame");
    }
}

#[test]
fn result_types_follow_pandas() {
    let df = frames_of(&data()).remove(1);
    let out = df.agg(all_aggs(&["n", "b", "x"])).unwrap();
    let type_of = |name: &str| out.schema().field_with_name(name).unwrap().data_type().clone();
    assert_eq!(type_of("n_sum"), DataType::Int64);
    assert_eq!(type_of("b_sum"), DataType::Int64);
    assert_eq!(type_of("n_min"), DataType::Int32);
    assert_eq!(type_of("n_mean"), DataType::Float64);
    assert_eq!(type_of("b_first"), DataType::Boolean);
    assert_eq!(type_of("x_count"), DataType::Int64);
    assert_eq!(out.compute().unwrap().schema(), out.schema().clone());
    let small = from_arrays(
        vec![
            ("f", Arc::new(arrow::array::Float32Array::from(vec![0.5, 1.5, 3.0])) as ArrayRef),
            ("u", Arc::new(arrow::array::UInt8Array::from(vec![200, 100, 250])) as ArrayRef),
        ],
        2,
    )
    .unwrap();
    let sums = small.agg([col("f").sum(), col("u").sum(), col("f").mean().alias("m")]).unwrap().compute().unwrap();
    assert_eq!(sums.column(0).as_ref(), &arrow::array::Float32Array::from(vec![5.0]) as &dyn Array);
    assert_eq!(sums.column(1).as_ref(), &arrow::array::UInt64Array::from(vec![550]) as &dyn Array);
    assert_eq!(sums.column(2).data_type(), &DataType::Float64);
}

#[test]
fn groupby_integer_keys_match_a_direct_computation() {
    let all = data();
    let columns = ["x", "s", "b", "z"];
    for (df, options) in cases(&all) {
        for dropna in [true, false] {
            let out = df.groupby(["id"]).dropna(dropna).agg(all_aggs(&columns)).unwrap();
            let out = out.compute_with(&options).unwrap();
            check_groupby(&out, &all, &["id"], &columns, dropna, &format!("id, dropna={dropna}, {}", df.npartitions()));
        }
    }
}

#[test]
fn groupby_string_and_multi_column_keys_match_a_direct_computation() {
    let all = data();
    for (df, options) in cases(&all) {
        for (keys, dropna) in [(vec!["s"], true), (vec!["s"], false), (vec!["s", "id"], true), (vec!["id", "s"], false)]
        {
            let out = df.groupby(keys.clone()).dropna(dropna).agg(all_aggs(&["x", "n"])).unwrap();
            let out = out.compute_with(&options).unwrap();
            check_groupby(&out, &all, &keys, &["x", "n"], dropna, &format!("{keys:?}, dropna={dropna}"));
        }
    }
}

#[test]
fn all_null_groups_and_one_row_groups() {
    let df = frames_of(&data()).remove(2);
    let out = df
        .groupby(["id"])
        .agg([
            col("z").sum(),
            col("z").sum_min_count(1).alias("z1"),
            col("z").mean().alias("mean"),
            col("z").min().alias("min"),
            col("z").count().alias("count"),
            col("z").size().alias("size"),
            col("x").std().alias("std"),
            col("x").var_ddof(0).alias("var0"),
        ])
        .unwrap()
        .compute()
        .unwrap();
    let row =
        |key: i64| (0..out.num_rows()).find(|&r| out.column(0).as_primitive::<Int64Type>().value(r) == key).unwrap();
    let cell = |name: &str, r: usize| cells(out.column_by_name(name).unwrap().as_ref())[r].clone();
    let (all_null, one) = (row(3), row(100));
    assert_eq!(cell("z", all_null), V::F(0.0), "the sum of only nulls is 0");
    assert_eq!(cell("z1", all_null), V::Null, "with min_count = 1 it is null");
    assert_eq!(cell("mean", all_null), V::Null);
    assert_eq!(cell("min", all_null), V::Null);
    assert_eq!(cell("count", all_null), V::I(0));
    assert!(matches!(cell("size", all_null), V::I(n) if n > 0));
    assert_eq!(cell("std", one), V::Null, "std of one row is null");
    assert_eq!(cell("var0", one), V::F(0.0));
}

#[test]
fn empty_frames_reduce_to_zero_sums_and_null_means() {
    let all = data().slice(0, 0);
    let df = from_batches(vec![all.clone(), all.clone(), all]).unwrap();
    let out = df
        .agg([col("x").sum(), col("n").count(), col("x").mean().alias("m"), col("s").max()])
        .unwrap()
        .compute()
        .unwrap();
    assert_eq!(cells(out.column(0).as_ref()), vec![V::F(0.0)]);
    assert_eq!(cells(out.column(1).as_ref()), vec![V::I(0)]);
    assert_eq!(cells(out.column(2).as_ref()), vec![V::Null]);
    assert_eq!(cells(out.column(3).as_ref()), vec![V::Null]);
    let grouped = df.groupby(["s"]).agg([col("x").sum()]).unwrap().compute().unwrap();
    assert_eq!(grouped.num_rows(), 0);
}

#[test]
fn variance_of_large_values_with_a_small_spread_is_stable() {
    let rows = 6000;
    let x = Float64Array::from_iter_values((0..rows).map(|i| 1e9 + ((i * 7919) % 5) as f64 - 2.0));
    let k = Int64Array::from_iter_values((0..rows).map(|i| i % 3));
    let mean = x.values().iter().sum::<f64>() / rows as f64;
    let want = x.values().iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (rows - 1) as f64;
    assert!((want - 2.0).abs() < 0.01);
    let df = from_arrays(vec![("k", Arc::new(k) as ArrayRef), ("x", Arc::new(x) as ArrayRef)], 8).unwrap();
    let whole = df.agg([col("x").var()]).unwrap().compute().unwrap();
    let got = whole.column(0).as_primitive::<Float64Type>().value(0);
    assert!((got - want).abs() < 1e-9 * want, "var {got}, expected {want}");
    let grouped = df.groupby(["k"]).split_every(2).agg([col("x").std()]).unwrap().compute().unwrap();
    for std in grouped.column(1).as_primitive::<Float64Type>().values() {
        assert!((std * std - 2.0).abs() < 0.01, "std {std}");
    }
}

#[test]
fn shuffle_and_tree_give_equal_results() {
    let all = data();
    for df in frames_of(&all) {
        for keys in [vec!["id"], vec!["s"], vec!["s", "id"]] {
            let aggs = all_aggs(&["x", "n", "s"]);
            let grouped = |split_out| df.groupby(keys.clone()).dropna(false).split_out(split_out);
            let tree = grouped(SplitOut::Tree).split_every(2).agg(aggs.clone()).unwrap().compute().unwrap();
            let auto = grouped(SplitOut::Auto).agg(aggs.clone()).unwrap().compute().unwrap();
            let shuffled = grouped(SplitOut::Shuffle(3)).agg(aggs.clone()).unwrap();
            assert_eq!(shuffled.npartitions(), 1);
            assert_same(&tree, &shuffled.compute().unwrap(), &format!("shuffled {keys:?}"));
            assert_same(&tree, &auto, &format!("auto {keys:?}"));
            // Unsorted, a shuffle keeps its partitions: the same groups, in another order.
            let unsorted = df.groupby(keys.clone()).dropna(false).sort(false).split_out(SplitOut::Shuffle(3));
            let unsorted = unsorted.agg(aggs).unwrap();
            assert_eq!(unsorted.npartitions(), 3);
            assert_eq!(unsorted.compute().unwrap().num_rows(), tree.num_rows());
        }
    }
}

/// Equal batches, floats up to rounding.
fn assert_same(a: &RecordBatch, b: &RecordBatch, what: &str) {
    assert_eq!(a.schema(), b.schema(), "{what}");
    for (i, (x, y)) in a.columns().iter().zip(b.columns()).enumerate() {
        assert_eq!(cells(x.as_ref()), cells(y.as_ref()), "{what}: {}", a.schema().field(i).name());
    }
}

#[test]
fn unsorted_tree_keeps_the_order_of_first_appearance() {
    let all = data();
    for df in frames_of(&all) {
        let out = df.groupby(["s"]).sort(false).agg([col("n").first()]).unwrap().compute().unwrap();
        let mut seen = vec![];
        for s in all.column(1).as_string::<i32>().iter().flatten() {
            if !seen.contains(&s) {
                seen.push(s);
            }
        }
        assert_eq!(out.column(0).as_string::<i32>().iter().flatten().collect::<Vec<_>>(), seen);
    }
}

#[test]
fn expressions_can_be_aggregated() {
    let all = data();
    let df = frames_of(&all).remove(1);
    let out = df.agg([(col("x") * lit(2)).sum().alias("x2"), col("x").sum()]).unwrap().compute().unwrap();
    let x = cells(out.column(1).as_ref())[0].clone();
    let V::F(x) = x else { panic!("{x:?}") };
    assert_eq!(cells(out.column(0).as_ref())[0], V::F(2.0 * x));
}

#[test]
fn value_counts_drop_nulls_sort_by_count_and_normalize() {
    let all = data();
    let ids = cells(all.column(0).as_ref());
    let mut counts: BTreeMap<(bool, String, i64), i64> = BTreeMap::new();
    ids.iter().for_each(|v| *counts.entry(key_cell(v.clone())).or_default() += 1);
    for (df, options) in cases(&all) {
        for dropna in [true, false] {
            let mut want: Vec<_> =
                counts.iter().filter(|(k, _)| !(dropna && k.0)).map(|(k, &n)| (k.clone(), n)).collect();
            want.sort_by_key(|(_, n)| -n);
            let out =
                df.value_counts_with("id", &ValueCounts::new().dropna(dropna)).unwrap().compute_with(&options).unwrap();
            let got: Vec<_> =
                cells(out.column(0).as_ref()).into_iter().map(key_cell).zip(cells(out.column(1).as_ref())).collect();
            assert_eq!(got, want.iter().map(|(k, n)| (k.clone(), V::I(*n))).collect::<Vec<_>>(), "dropna={dropna}");
            let total: i64 = want.iter().map(|(_, n)| n).sum();
            let shares = df.value_counts_with("id", &ValueCounts::new().dropna(dropna).normalize(true)).unwrap();
            let shares = cells(shares.compute_with(&options).unwrap().column(1).as_ref());
            assert_eq!(shares, want.iter().map(|(_, n)| V::F(*n as f64 / total as f64)).collect::<Vec<_>>());
        }
    }
}

#[test]
fn drop_duplicates_keeps_first_occurrences_in_partition_order() {
    let all = data();
    let reference = |subset: &[&str]| {
        let columns: Vec<Vec<V>> = subset.iter().map(|c| cells(all.column_by_name(c).unwrap().as_ref())).collect();
        let mut seen = HashSet::new();
        let rows: Vec<u32> = (0..all.num_rows())
            .filter(|&r| seen.insert(columns.iter().map(|c| format!("{:?}", c[r])).collect::<Vec<_>>()))
            .map(|r| r as u32)
            .collect();
        arrow::compute::take_record_batch(&all, &UInt32Array::from(rows)).unwrap()
    };
    for (df, options) in cases(&all) {
        for subset in [vec!["id"], vec!["s", "b"]] {
            let want = reference(&subset);
            let out = df.drop_duplicates(Some(&subset)).unwrap().compute_with(&options).unwrap();
            assert_eq!(out.columns(), want.columns(), "{subset:?}");
            let shuffled = df.drop_duplicates_with(Some(&subset), SplitOut::Shuffle(3)).unwrap();
            let shuffled = shuffled.compute_with(&options).unwrap();
            let sorted = |b: &RecordBatch| {
                let n = cells(b.column_by_name("n").unwrap().as_ref());
                let mut n: Vec<_> = n.into_iter().map(|v| format!("{v:?}")).collect();
                n.sort();
                n
            };
            assert_eq!(sorted(&shuffled), sorted(&want), "shuffled {subset:?}");
        }
        assert_eq!(df.drop_duplicates(None).unwrap().compute_with(&options).unwrap().columns(), all.columns());
    }
}

#[test]
fn describe_gives_pandas_statistics_with_interpolated_percentiles() {
    let all = data();
    for df in frames_of(&all) {
        let out = df.describe().unwrap().compute().unwrap();
        let names: Vec<String> = out.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, vec!["statistic", "id", "x", "n", "z"], "booleans and strings are not described");
        assert_eq!(
            out.column(0).as_string::<i32>().iter().flatten().collect::<Vec<_>>(),
            vec!["count", "mean", "std", "min", "25%", "50%", "75%", "max"]
        );
        for (i, c) in ["id", "x", "n", "z"].iter().enumerate() {
            let values = cast(all.column_by_name(c).unwrap(), &DataType::Float64).unwrap();
            let mut v: Vec<f64> = values.as_primitive::<Float64Type>().iter().flatten().collect();
            v.sort_by(f64::total_cmp);
            let n = v.len() as f64;
            let mean = v.iter().sum::<f64>() / n;
            let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
            let q = |q: f64| {
                let p = q * (n - 1.0);
                let lo = p.floor() as usize;
                v[lo] + (v[(lo + 1).min(v.len() - 1)] - v[lo]) * (p - p.floor())
            };
            let want = [n, mean, std, v[0], q(0.25), q(0.5), q(0.75), v[v.len() - 1]].map(V::F).to_vec();
            assert_eq!(cells(out.column(i + 1).as_ref()), want, "{c}");
        }
    }
}

#[test]
fn describe_without_numeric_columns_counts_like_pandas_object_columns() {
    let all = data();
    let objects = RecordBatch::try_from_iter([("s", all.column(1).clone()), ("b", all.column(4).clone())]).unwrap();
    // The expected statistics by a plain count over the concatenated column: the most
    // frequent value, the first seen on a tie.
    let expected = |column: &ArrayRef| -> Vec<Option<String>> {
        let text = cast(column, &DataType::Utf8).unwrap();
        let values: Vec<Option<&str>> = text.as_string::<i32>().iter().collect();
        let mut seen: Vec<(&str, usize)> = Vec::new();
        for v in values.iter().flatten() {
            match seen.iter_mut().find(|(s, _)| s == v) {
                Some((_, n)) => *n += 1,
                None => seen.push((v, 1)),
            }
        }
        let top = seen.iter().fold(None::<(&str, usize)>, |best, &(v, n)| match best {
            Some((_, m)) if m >= n => best,
            _ => Some((v, n)),
        });
        vec![
            Some(values.iter().flatten().count().to_string()),
            Some(seen.len().to_string()),
            top.map(|(v, _)| v.to_string()),
            top.map(|(_, n)| n.to_string()),
        ]
    };
    for df in frames_of(&objects) {
        let out = df.describe().unwrap().compute().unwrap();
        let names: Vec<String> = out.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, vec!["statistic", "s", "b"]);
        assert_eq!(
            out.column(0).as_string::<i32>().iter().flatten().collect::<Vec<_>>(),
            vec!["count", "unique", "top", "freq"]
        );
        for (i, c) in ["s", "b"].iter().enumerate() {
            let got: Vec<Option<String>> =
                out.column(i + 1).as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect();
            assert_eq!(got, expected(objects.column_by_name(c).unwrap()), "{c}");
        }
    }
    // A column of nulls only: no top, no freq.
    let nulls = from_arrays(vec![("s", Arc::new(StringArray::from(vec![None::<&str>; 3])) as ArrayRef)], 2).unwrap();
    let out = nulls.describe().unwrap().compute().unwrap();
    let got: Vec<Option<&str>> = out.column(1).as_string::<i32>().iter().collect();
    assert_eq!(got, vec![Some("0"), Some("0"), None, None]);
    // Other types are described through their text form, as Arrow casts them.
    let lists = arrow::array::ListArray::from_iter_primitive::<arrow::datatypes::Int64Type, _, _>(vec![
        Some(vec![Some(1)]),
        Some(vec![Some(1)]),
        None,
    ]);
    let nested = from_arrays(vec![("l", Arc::new(lists) as ArrayRef)], 1).unwrap();
    let out = nested.describe().unwrap().compute().unwrap();
    let got: Vec<Option<&str>> = out.column(1).as_string::<i32>().iter().collect();
    assert_eq!(got, vec![Some("2"), Some("1"), Some("[1]"), Some("2")]);
}

#[test]
fn mistakes_are_errors_naming_the_column_and_the_schema() {
    let df = frames_of(&data()).remove(0);
    let e = df.agg([col("s").sum()]).unwrap_err().to_string();
    assert!(e.contains("s.sum()") && e.contains("Utf8") && e.contains("x: Float64"), "{e}");
    let e = df.groupby(["nope"]).agg([col("x").sum()]).unwrap_err().to_string();
    assert!(e.contains("\"nope\"") && e.contains("id: Int64"), "{e}");
    let e = df.groupby(["id"]).agg([col("nope").mean()]).unwrap_err().to_string();
    assert!(e.contains("\"nope\""), "{e}");
    let e = df.groupby(["x"]).agg([col("x").sum()]).unwrap_err().to_string();
    assert!(e.contains("\"x\" twice") && e.contains("alias"), "{e}");
    assert!(df.agg([]).is_err());
    assert!(df.groupby(["id"]).split_every(1).agg([col("x").sum()]).is_err());
    assert!(df.groupby(["id"]).split_out(SplitOut::Shuffle(0)).agg([col("x").sum()]).is_err());
    assert!(df.value_counts("nope").is_err());
    assert!(df.drop_duplicates(Some(&["nope"])).unwrap_err().to_string().contains("nope"));
}

#[test]
fn the_graph_has_dask_shaped_stages() {
    let df = frames_of(&data()).remove(2);
    let tree = df.groupby(["id"]).split_out(SplitOut::Tree).split_every(2).agg([col("x").sum()]).unwrap();
    // 8 chunks, 4 + 2 combines, 1 aggregate, on top of 8 partitions.
    assert_eq!(tree.task_count(), 8 + 8 + 4 + 2 + 1);
    assert!(tree.to_string().starts_with("rask.DataFrame<groupby-aggregate, npartitions=1"));
    let all = concat_batches(&data().schema(), [&data()]).unwrap();
    assert_eq!(tree.compute().unwrap().num_rows(), reference_groups(&all, &["id"], true).len());
}

/// W3's groupby on 10M rows in memory (8 partitions, 1000 groups), build and compute, on
/// 2 threads (and on one, for the kernels' cost); run with
/// `cargo test --release -p rask-collections --test dataframe_agg -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, for release builds"]
fn w3_groupby_ten_million_rows() {
    let rows = 10_000_000usize;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let id = Int64Array::from_iter_values((0..rows).map(|_| (next() % 1000) as i64));
    let x = Float64Array::from_iter_values((0..rows).map(|_| (next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0));
    let y = Float64Array::from_iter_values((0..rows).map(|_| (next() >> 11) as f64 / (1u64 << 53) as f64));
    let columns =
        vec![("id", Arc::new(id) as ArrayRef), ("x", Arc::new(x) as ArrayRef), ("y", Arc::new(y) as ArrayRef)];
    let df = from_arrays(columns, 8).unwrap();
    let threads = ComputeOptions::default().scheduler(rask_scheduler::ThreadsScheduler::new(2));
    let sync = ComputeOptions::default().scheduler(rask_scheduler::SyncScheduler);
    let runs = [
        ("auto", SplitOut::Auto, &threads),
        ("tree", SplitOut::Tree, &threads),
        ("tree on sync", SplitOut::Tree, &sync),
        ("shuffle", SplitOut::Shuffle(8), &threads),
    ];
    for (name, split_out, options) in runs {
        let mut times = vec![];
        for _ in 0..7 {
            let start = std::time::Instant::now();
            let out = df.groupby(["id"]).split_out(split_out).agg([col("x").mean(), col("y").sum()]).unwrap();
            let out = out.compute_with(options).unwrap();
            times.push(start.elapsed().as_secs_f64() * 1e3);
            assert_eq!(out.num_rows(), 1000);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "w3 groupby, 10M rows in 8 partitions, 1000 groups, {name}: median {:.1} ms (min {:.1})",
            times[3], times[0]
        );
    }
}

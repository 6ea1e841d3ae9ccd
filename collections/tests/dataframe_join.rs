//! Joins against a nested-loop join written plainly here, on the concatenated data, over
//! partitionings 1, 3 and 8 and frames with empty partitions, with null and duplicate
//! keys, on every scheduler; plus the SEMANTICS rules (integer fill, outer coalescing,
//! suffixes, key unification, null keys) and the error messages.

mod common;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{cast, interleave, take};
use arrow::datatypes::DataType;
use arrow::util::display::array_value_to_string;
use rask_collections::ComputeOptions;
use rask_collections::dataframe::{DataFrame, How, Join, Strategy, from_arrays, from_batches};

const HOWS: [How; 4] = [How::Inner, How::Left, How::Right, How::Outer];

/// Left: id (nulls, duplicates), k (int32 copy of id), s (non-ASCII, nulls), x, v.
fn left_data() -> RecordBatch {
    let n = 30;
    let id = Int64Array::from_iter((0..n).map(|i| if i % 9 == 4 { None } else { Some(i * 5 % 11) }));
    let k = Int32Array::from_iter(id.iter().map(|v| v.map(|v| v as i32)));
    let s =
        StringArray::from_iter((0..n).map(|i| if i % 7 == 6 { None } else { Some(["ä", "b", "é"][i as usize % 3]) }));
    let x = Float64Array::from_iter((0..n).map(|i| if i % 4 == 1 { None } else { Some(i as f64 / 2.0) }));
    let v = Int64Array::from_iter_values(0..n);
    batch(vec![("id", Arc::new(id)), ("k", Arc::new(k)), ("s", Arc::new(s)), ("x", Arc::new(x)), ("v", Arc::new(v))])
}

/// Right: id (nulls, duplicates, keys the left lacks), s, w (int64), v (a name the left has).
fn right_data() -> RecordBatch {
    let n = 14;
    let id = Int64Array::from_iter((0..n).map(|i| if i % 6 == 5 { None } else { Some(i * 3 % 13) }));
    let s =
        StringArray::from_iter((0..n).map(|i| if i % 5 == 4 { None } else { Some(["é", "ä", "b"][i as usize % 3]) }));
    let w = Int64Array::from_iter_values((0..n).map(|i| 100 + i));
    let v = StringArray::from_iter_values((0..n).map(|i| format!("r{i}")));
    batch(vec![("id", Arc::new(id)), ("s", Arc::new(s)), ("w", Arc::new(w)), ("v", Arc::new(v))])
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).unwrap()
}

/// The batch in 1, 3 and 8 partitions, and with empty partitions around a cut.
fn frames(all: &RecordBatch) -> Vec<DataFrame> {
    let columns =
        || all.schema().fields().iter().map(|f| f.name().clone()).zip(all.columns().iter().cloned()).collect();
    let mut out: Vec<DataFrame> = [1, 3, 8].iter().map(|&n| from_arrays(columns(), n).unwrap()).collect();
    let cut = all.num_rows() / 3;
    let rows = all.num_rows();
    out.push(
        from_batches(vec![all.slice(0, 0), all.slice(0, cut), all.slice(cut, 0), all.slice(cut, rows - cut)]).unwrap(),
    );
    out
}

/// Each row's key values as text (`None` for null), the key columns cast to Int64 where
/// they are integers.
fn key_of(batch: &RecordBatch, keys: &[&str], row: usize) -> Vec<Option<String>> {
    keys.iter()
        .map(|k| {
            let mut c = batch.column_by_name(k).unwrap().clone();
            if c.data_type().is_integer() {
                c = cast(&c, &DataType::Int64).unwrap();
            }
            c.is_valid(row).then(|| array_value_to_string(&c, row).unwrap())
        })
        .collect()
}

/// The (left row, right row) of every output row, by a nested loop, in the documented
/// order: by left row (by right row for a right join), then unmatched right rows.
fn nested_loop(
    left: &RecordBatch,
    right: &RecordBatch,
    on: (&[&str], &[&str]),
    how: How,
    nulls_equal: bool,
) -> Vec<(Option<usize>, Option<usize>)> {
    let matches = |l: usize, r: usize| {
        let (a, b) = (key_of(left, on.0, l), key_of(right, on.1, r));
        a == b && (nulls_equal || a.iter().all(Option::is_some))
    };
    let (nl, nr) = (left.num_rows(), right.num_rows());
    let mut out = vec![];
    if how == How::Right {
        for r in 0..nr {
            let found: Vec<usize> = (0..nl).filter(|&l| matches(l, r)).collect();
            if found.is_empty() {
                out.push((None, Some(r)));
            }
            out.extend(found.into_iter().map(|l| (Some(l), Some(r))));
        }
        return out;
    }
    for l in 0..nl {
        let found: Vec<usize> = (0..nr).filter(|&r| matches(l, r)).collect();
        if found.is_empty() && how != How::Inner {
            out.push((Some(l), None));
        }
        out.extend(found.into_iter().map(|r| (Some(l), Some(r))));
    }
    if how == How::Outer {
        out.extend((0..nr).filter(|&r| !(0..nl).any(|l| matches(l, r))).map(|r| (None, Some(r))));
    }
    out
}

/// `column` gathered by `rows` (null where `None`).
fn gather(column: &ArrayRef, rows: impl Iterator<Item = Option<usize>>) -> ArrayRef {
    take(column, &UInt32Array::from_iter(rows.map(|r| r.map(|r| r as u32))), None).unwrap()
}

/// The expected output of a join on keys named alike (`on`): left columns (the keys
/// coalesced), then right non-key columns, clashing names suffixed `_right`.
fn expected_on(left: &RecordBatch, right: &RecordBatch, on: &[&str], how: How, nulls_equal: bool) -> RecordBatch {
    let pairs = nested_loop(left, right, (on, on), how, nulls_equal);
    let mut columns: Vec<(String, ArrayRef)> = vec![];
    for (field, column) in left.schema().fields().iter().zip(left.columns()) {
        let values = if on.contains(&field.name().as_str()) {
            let from_right = right.column_by_name(field.name()).unwrap();
            let sides = [column.as_ref(), from_right.as_ref()];
            let picks: Vec<(usize, usize)> =
                pairs.iter().map(|p| if let (Some(l), _) = p { (0, *l) } else { (1, p.1.unwrap()) }).collect();
            interleave(&sides, &picks).unwrap()
        } else {
            gather(column, pairs.iter().map(|p| p.0))
        };
        columns.push((field.name().clone(), values));
    }
    for (field, column) in right.schema().fields().iter().zip(right.columns()) {
        if on.contains(&field.name().as_str()) {
            continue;
        }
        let name = if left.schema().field_with_name(field.name()).is_ok() {
            format!("{}_right", field.name())
        } else {
            field.name().clone()
        };
        columns.push((name, gather(column, pairs.iter().map(|p| p.1))));
    }
    RecordBatch::try_from_iter(columns).unwrap()
}

/// The rows of `batch` as text, sorted: for comparing joins whose row order is not fixed.
fn sorted_rows(batch: &RecordBatch) -> Vec<String> {
    let mut rows: Vec<String> = (0..batch.num_rows())
        .map(|r| batch.columns().iter().map(|c| array_value_to_string(c, r).unwrap()).collect::<Vec<_>>().join("|"))
        .collect();
    rows.sort();
    rows
}

fn assert_same_rows(got: &RecordBatch, expected: &RecordBatch, what: &str) {
    assert_eq!(got.schema().fields().len(), expected.schema().fields().len(), "{what}");
    for (g, e) in got.schema().fields().iter().zip(expected.schema().fields()) {
        assert_eq!((g.name(), g.data_type()), (e.name(), e.data_type()), "{what}");
    }
    assert_eq!(sorted_rows(got), sorted_rows(expected), "{what}");
}

#[test]
fn joins_match_a_nested_loop_join_over_partitionings() {
    let (left, right) = (left_data(), right_data());
    let options = common::options();
    let mut run = 0;
    for on in [&["id"][..], &["s"], &["id", "s"]] {
        for how in HOWS {
            for nulls_equal in [true, false] {
                let expected = expected_on(&left, &right, on, how, nulls_equal);
                for l in frames(&left) {
                    for r in frames(&right) {
                        let join = Join::on(on.iter().copied()).how(how).nulls_equal(nulls_equal);
                        let joined = l.join(&r, join).unwrap();
                        let got = joined.compute_with(&options[run % options.len()]).unwrap();
                        run += 1;
                        let what = format!("{on:?} {how:?} nulls_equal={nulls_equal} {l} with {r}");
                        assert_same_rows(&got, &expected, &what);
                        // A one-partition right side is broadcast: pandas' row order exactly.
                        if r.npartitions() == 1 && matches!(how, How::Inner | How::Left)
                            || l.npartitions() == 1 && r.npartitions() == 1
                        {
                            assert_eq!(got.columns(), expected.columns(), "{what}: row order");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn broadcast_and_shuffle_give_the_same_rows() {
    let (left, right) = (left_data(), right_data());
    let l = from_arrays(named_columns(&left), 3).unwrap();
    let r = from_arrays(named_columns(&right), 2).unwrap();
    for how in [How::Inner, How::Left, How::Right] {
        let join = Join::on(["id"]).how(how);
        let broadcast = l.join(&r, join.clone().strategy(Strategy::Broadcast)).unwrap();
        let shuffle = l.join(&r, join.clone().strategy(Strategy::Shuffle).npartitions(5)).unwrap();
        assert_eq!(shuffle.npartitions(), 5);
        // A left join broadcasts the right side (3 tasks), a right join the left one (2).
        assert_eq!(broadcast.npartitions(), if how == How::Right { 2 } else { 3 }, "{how:?}");
        let expected = expected_on(&left, &right, &["id"], how, true);
        for options in common::options() {
            assert_same_rows(&broadcast.compute_with(&options).unwrap(), &expected, &format!("broadcast {how:?}"));
            assert_same_rows(&shuffle.compute_with(&options).unwrap(), &expected, &format!("shuffle {how:?}"));
        }
    }
    // A broadcast left join keeps the left order even when the right side has partitions.
    let ordered = l.join(&r, Join::on(["id"]).how(How::Left).strategy(Strategy::Broadcast)).unwrap();
    assert_eq!(ordered.compute().unwrap().columns(), expected_on(&left, &right, &["id"], How::Left, true).columns());
    let e = l.join(&r, Join::on(["id"]).how(How::Outer).strategy(Strategy::Broadcast)).unwrap_err().to_string();
    assert!(e.contains("Outer") && e.contains("Shuffle"), "{e}");
}

fn named_columns(batch: &RecordBatch) -> Vec<(String, ArrayRef)> {
    batch.schema().fields().iter().map(|f| f.name().clone()).zip(batch.columns().iter().cloned()).collect()
}

#[test]
fn left_on_right_on_keeps_both_keys_unifies_int32_with_int64_and_suffixes_clashes() {
    let (left, right) = (left_data(), right_data());
    let pairs_expected = |how| nested_loop(&left, &right, (&["k"], &["id"]), how, true);
    for how in HOWS {
        let pairs = pairs_expected(how);
        let mut columns: Vec<(String, ArrayRef)> = vec![];
        for (f, c) in left.schema().fields().iter().zip(left.columns()) {
            columns.push((f.name().clone(), gather(c, pairs.iter().map(|p| p.0))));
        }
        for (f, c) in right.schema().fields().iter().zip(right.columns()) {
            let name = if f.name() == "s" || f.name() == "v" || f.name() == "id" {
                format!("{}_r", f.name())
            } else {
                f.name().clone()
            };
            columns.push((name, gather(c, pairs.iter().map(|p| p.1))));
        }
        let expected = RecordBatch::try_from_iter(columns).unwrap();
        for (l, r) in frames(&left).into_iter().zip(frames(&right).into_iter().rev()) {
            let join = Join::left_on(["k"]).right_on(["id"]).how(how).suffix("_r");
            let joined = l.join(&r, join).unwrap();
            assert_eq!(joined.columns(), vec!["id", "k", "s", "x", "v", "id_r", "s_r", "w", "v_r"]);
            // Both key columns keep their own types.
            assert_eq!(joined.schema().field(1).data_type(), &DataType::Int32);
            assert_eq!(joined.schema().field(5).data_type(), &DataType::Int64);
            assert_same_rows(&joined.compute().unwrap(), &expected, &format!("k/id {how:?} {l} with {r}"));
        }
    }
}

#[test]
fn a_shared_int32_key_meets_int64_and_comes_out_int64() {
    let left = left_data();
    let left = left.project(&[1, 2, 3]).unwrap(); // k (int32), s, x
    let left = RecordBatch::try_new(
        Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("id", DataType::Int32, true),
            left.schema().field(1).clone(),
            left.schema().field(2).clone(),
        ])),
        left.columns().to_vec(),
    )
    .unwrap();
    let right = right_data();
    let mut columns = left.columns().to_vec();
    columns[0] = cast(&columns[0], &DataType::Int64).unwrap();
    let left64 = batch(vec![("id", columns[0].clone()), ("s", columns[1].clone()), ("x", columns[2].clone())]);
    for how in HOWS {
        let expected = expected_on(&left64, &right, &["id"], how, true);
        for (l, r) in frames(&left).into_iter().zip(frames(&right)) {
            for strategy in [Strategy::Auto, Strategy::Shuffle] {
                let joined = l.join(&r, Join::on(["id"]).how(how).strategy(strategy)).unwrap();
                assert_eq!(joined.schema().field(0).data_type(), &DataType::Int64);
                assert_same_rows(&joined.compute().unwrap(), &expected, &format!("{how:?} {strategy:?} {l}"));
            }
        }
    }
}

#[test]
fn outer_joins_coalesce_the_key_and_fill_integers_with_nulls() {
    let left = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![Some(1), Some(2), None, Some(2)]))),
        ("a", Arc::new(Int64Array::from(vec![10, 20, 30, 40]))),
    ]);
    let right = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![Some(2), Some(3), None]))),
        ("b", Arc::new(Int64Array::from(vec![200, 300, 400]))),
    ]);
    let (l, r) = (from_batches(vec![left.clone()]).unwrap(), from_batches(vec![right.clone()]).unwrap());
    let pandas = l.join(&r, Join::on(["id"]).how(How::Outer)).unwrap().compute().unwrap();
    let int64 = |v: Vec<Option<i64>>| Arc::new(Int64Array::from(v)) as ArrayRef;
    // Null keys match each other; unmatched right rows come last.
    assert_eq!(pandas.column(0), &int64(vec![Some(1), Some(2), None, Some(2), Some(3)]));
    assert_eq!(pandas.column(1), &int64(vec![Some(10), Some(20), Some(30), Some(40), None]));
    assert_eq!(pandas.column(2), &int64(vec![None, Some(200), Some(400), Some(200), Some(300)]));
    let sql = l.join(&r, Join::on(["id"]).how(How::Outer).nulls_equal(false)).unwrap().compute().unwrap();
    assert_eq!(sql.column(0), &int64(vec![Some(1), Some(2), None, Some(2), Some(3), None]));
    assert_eq!(sql.column(2), &int64(vec![None, Some(200), None, Some(200), Some(300), Some(400)]));
    // Duplicate keys multiply: 2 x 2 rows for key 7.
    let dup =
        from_arrays(vec![("id", int64(vec![Some(7), Some(7)])), ("a", int64(vec![Some(1), Some(2)]))], 2).unwrap();
    let dup_r =
        from_arrays(vec![("id", int64(vec![Some(7), Some(7)])), ("b", int64(vec![Some(3), Some(4)]))], 2).unwrap();
    let joined = dup.join(&dup_r, Join::on(["id"])).unwrap().compute().unwrap();
    assert_eq!(joined.num_rows(), 4);
    // A right join with a one-partition left side broadcasts the left and keeps right order.
    let right_join = l.join(&from_arrays(named_columns(&right), 3).unwrap(), Join::on(["id"]).how(How::Right)).unwrap();
    assert_eq!(right_join.npartitions(), 3);
    let batch = right_join.compute().unwrap();
    assert_eq!(batch.column(0), &int64(vec![Some(2), Some(2), Some(3), None]));
    assert_eq!(batch.column(1), &int64(vec![Some(20), Some(40), None, Some(30)]));
}

#[test]
fn mistakes_are_errors_naming_the_column_and_both_schemas() {
    let (left, right) = (left_data(), right_data());
    let (l, r) = (from_arrays(named_columns(&left), 2).unwrap(), from_arrays(named_columns(&right), 2).unwrap());
    let e = l.join(&r, Join::on(["nope"])).unwrap_err().to_string();
    assert!(e.contains("\"nope\"") && e.contains("left [id: Int64") && e.contains("right [id: Int64"), "{e}");
    let e = l.join(&r, Join::left_on(["id"]).right_on(["w2"])).unwrap_err().to_string();
    assert!(e.contains("\"w2\"") && e.contains("right side"), "{e}");
    let e = l.join(&r, Join::left_on(["s"]).right_on(["w"])).unwrap_err().to_string();
    assert!(e.contains("\"s\" (Utf8)") && e.contains("\"w\" (Int64)") && e.contains("cannot match"), "{e}");
    let e = l.join(&r, Join::left_on(["id", "s"]).right_on(["id"])).unwrap_err().to_string();
    assert!(e.contains("as many right keys"), "{e}");
    let e = l.join(&r, Join::on(Vec::<String>::new())).unwrap_err().to_string();
    assert!(e.contains("at least one"), "{e}");
    let x = || rask_collections::dataframe::col("x");
    let clash = l.with_columns([x().alias("w"), x().alias("w_right")]).unwrap();
    let e = clash.join(&r, Join::on(["id"])).unwrap_err().to_string();
    assert!(e.contains("\"w_right\" would appear twice"), "{e}");
    assert!(l.join(&r, Join::on(["id"]).strategy(Strategy::Shuffle).npartitions(0)).is_err());
}

#[test]
fn a_join_task_reports_a_bad_partition_as_an_op_error() {
    use rask_collections::dataframe::{JoinPartitions, JoinPlan};
    use rask_graph::{Batch, Op, Value, args};
    let (left, right) = (left_data(), right_data());
    let (l, r) = (from_arrays(named_columns(&left), 1).unwrap(), from_arrays(named_columns(&right), 1).unwrap());
    let plan = JoinPlan::new(l.schema(), r.schema(), &Join::on(["id"])).unwrap();
    let op = JoinPartitions { left_args: 1, plan };
    let value = |b: &RecordBatch| Value::Batch(Batch::new(b.clone()));
    let Value::Batch(good) = op.call(args![value(&left), value(&right)]).unwrap() else { panic!("not a batch") };
    assert_eq!(good.0.columns(), expected_on(&left, &right, &["id"], How::Inner, true).columns());
    let e = op.call(args![value(&right), Value::I64(1)]).unwrap_err();
    assert!(e.to_string().contains("record batches"), "{e}");
    let e = op.call(args![value(&right), value(&right)]).unwrap_err();
    assert!(e.to_string().contains("no column \"k\""), "{e}");
    let e = JoinPartitions { left_args: 2, ..op }.call(args![value(&left), value(&right)]).unwrap_err();
    assert!(e.to_string().contains("at least one right batch"), "{e}");
}

/// W3 "merge": 10M rows in 8 partitions joined (inner on `id`) with a 1000-row lookup,
/// then rows per `s` value. Run with `cargo test --release -p rask-collections --test
/// dataframe_join -- --ignored --nocapture`.
#[test]
#[ignore]
fn w3_merge_timing() {
    use std::time::Instant;
    let n = 10_000_000usize;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let start = Instant::now();
    let ids: Vec<i64> = (0..n).map(|_| (next() % 1000) as i64).collect();
    let words: Vec<String> = (0..100).map(|i| format!("word{i:03}")).collect();
    let s = StringArray::from_iter_values((0..n).map(|_| words[(next() % 100) as usize].as_str()));
    let x = Float64Array::from_iter_values((0..n).map(|_| (next() % 1_000_000) as f64 / 1e6 - 0.5));
    let y = Float64Array::from_iter_values((0..n).map(|_| (next() % 1_000_000) as f64 / 1e6));
    let df = from_arrays(
        vec![
            ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
            ("x", Arc::new(x) as ArrayRef),
            ("y", Arc::new(y) as ArrayRef),
            ("s", Arc::new(s) as ArrayRef),
        ],
        8,
    )
    .unwrap();
    let lookup = from_arrays(
        vec![
            ("id", Arc::new(Int64Array::from_iter_values(0..1000)) as ArrayRef),
            ("w", Arc::new(Float64Array::from_iter_values((0..1000).map(|i| i as f64 / 1000.0))) as ArrayRef),
        ],
        1,
    )
    .unwrap();
    println!("generated {n} rows in {:.2?}", start.elapsed());
    let options = ComputeOptions::default().scheduler(rask_scheduler::ThreadsScheduler::new(2));
    for round in 0..5 {
        let start = Instant::now();
        let joined = df.join(&lookup, Join::on(["id"])).unwrap();
        let parts: Vec<DataFrame> = (0..joined.npartitions()).map(|i| joined.partition(i).unwrap()).collect();
        let batches = rask_collections::compute_with(&parts, &options).unwrap();
        let joined_s = start.elapsed();
        let mut counts = std::collections::HashMap::<&str, u64>::new();
        for b in &batches {
            let s = b.column_by_name("s").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
            for v in s.iter().flatten() {
                *counts.entry(v).or_default() += 1;
            }
        }
        let total_s = start.elapsed();
        assert_eq!(counts.values().sum::<u64>(), n as u64);
        assert_eq!(counts.len(), 100);
        println!("round {round}: join {joined_s:.3?}, join + count rows per s {total_s:.3?}");
    }
    // The same join through the shuffle path, for comparison.
    let start = Instant::now();
    let shuffled = df.join(&lookup, Join::on(["id"]).strategy(Strategy::Shuffle)).unwrap();
    let parts: Vec<DataFrame> = (0..shuffled.npartitions()).map(|i| shuffled.partition(i).unwrap()).collect();
    let rows: usize = rask_collections::compute_with(&parts, &options).unwrap().iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, n);
    println!("shuffle join {:.3?}", start.elapsed());
}

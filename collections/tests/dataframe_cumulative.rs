//! Cumulative sums, products, minima and maxima across partitions, against a plain loop
//! over the concatenated columns (pandas' rules with `skipna=True`).

mod common;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use rask_collections::dataframe::{CumKind, from_arrays};

fn data() -> RecordBatch {
    let rows = 37;
    let small = Int32Array::from_iter((0..rows).map(|i| (i % 5 != 2).then_some(i % 7 - 3)));
    let big = Int64Array::from_iter((0..rows).map(|i| (i % 9 != 4).then_some(i64::from(i) * 1_000_003 % 97 - 40)));
    let x = Float64Array::from_iter((0..rows).map(|i| match i {
        20 => Some(f64::NAN),
        _ if i % 6 == 1 => None,
        _ => Some(f64::from(i % 8) / 4.0 - 0.75),
    }));
    let s = StringArray::from_iter((0..rows).map(|i| Some(format!("s{i}"))));
    RecordBatch::try_from_iter([
        ("small", Arc::new(small) as ArrayRef),
        ("big", Arc::new(big) as ArrayRef),
        ("x", Arc::new(x) as ArrayRef),
        ("s", Arc::new(s) as ArrayRef),
    ])
    .unwrap()
}

/// The running value by a plain loop: nulls stay null and are skipped.
fn expected_i64(column: &ArrayRef, kind: CumKind) -> Int64Array {
    let values = cast(column, &DataType::Int64).unwrap();
    let mut running: Option<i64> = None;
    values
        .as_primitive::<Int64Type>()
        .iter()
        .map(|v| {
            let v = v?;
            let next = match (running, kind) {
                (None, _) => v,
                (Some(r), CumKind::Sum) => r.wrapping_add(v),
                (Some(r), CumKind::Prod) => r.wrapping_mul(v),
                (Some(r), CumKind::Min) => r.min(v),
                (Some(r), CumKind::Max) => r.max(v),
            };
            running = Some(next);
            Some(next)
        })
        .collect()
}

fn expected_f64(column: &ArrayRef, kind: CumKind) -> Vec<Option<u64>> {
    let mut running: Option<f64> = None;
    column
        .as_primitive::<Float64Type>()
        .iter()
        .map(|v| {
            let v = v?;
            let next = match (running, kind) {
                (None, _) => v,
                (Some(r), CumKind::Sum) => r + v,
                (Some(r), CumKind::Prod) => r * v,
                (Some(r), CumKind::Min | CumKind::Max) if r.is_nan() || v.is_nan() => f64::NAN,
                (Some(r), CumKind::Min) => r.min(v),
                (Some(r), CumKind::Max) => r.max(v),
            };
            running = Some(next);
            Some(next.to_bits())
        })
        .collect()
}

#[test]
fn running_values_match_a_loop_over_the_whole_column_on_any_partitioning() {
    let all = data();
    for df in common::frames_of(&all) {
        for kind in [CumKind::Sum, CumKind::Prod, CumKind::Min, CumKind::Max] {
            let frame = df.cumulative(kind, ["small", "big", "x"]).unwrap();
            for options in common::options() {
                let out = frame.compute_with(&options).unwrap();
                assert_eq!(out.num_rows(), all.num_rows());
                for c in ["small", "big"] {
                    let got = out.column_by_name(c).unwrap();
                    assert_eq!(got.data_type(), &DataType::Int64, "{c} accumulates as Int64");
                    assert_eq!(
                        got.as_primitive::<Int64Type>(),
                        &expected_i64(all.column_by_name(c).unwrap(), kind),
                        "{kind:?} {c} of {df}"
                    );
                }
                let x: Vec<Option<u64>> = out
                    .column_by_name("x")
                    .unwrap()
                    .as_primitive::<Float64Type>()
                    .iter()
                    .map(|v| v.map(f64::to_bits))
                    .collect();
                assert_eq!(x, expected_f64(all.column_by_name("x").unwrap(), kind), "{kind:?} x of {df}");
                assert_eq!(out.column_by_name("s").unwrap(), all.column_by_name("s").unwrap(), "others pass through");
            }
        }
    }
}

#[test]
fn no_columns_named_means_every_numeric_column_and_bad_names_are_errors() {
    let all = data();
    let df = from_arrays(
        all.schema().fields().iter().zip(all.columns()).map(|(f, c)| (f.name().clone(), c.clone())).collect(),
        4,
    )
    .unwrap();
    let out = df.cum_sum::<&str>([]).unwrap().compute().unwrap();
    let by_name = df.cum_sum(["small", "big", "x"]).unwrap().compute().unwrap();
    assert_eq!(out, by_name);
    let e = df.cum_max(["s"]).unwrap_err().to_string();
    assert!(e.contains("cummax") && e.contains("\"s\"") && e.contains("not numeric"), "{e}");
    let e = df.cum_min(["nope"]).unwrap_err().to_string();
    assert!(e.contains("no column \"nope\"") && e.contains("small: Int32"), "{e}");
    // A column of nulls in the first partitions: the running value starts where values do.
    let late = Int64Array::from(vec![None, None, None, Some(2), Some(3)]);
    let df = from_arrays(vec![("v", Arc::new(late) as ArrayRef)], 3).unwrap();
    let out = df.cum_prod::<&str>([]).unwrap().compute().unwrap();
    assert_eq!(out.column(0).as_ref(), &Int64Array::from(vec![None, None, None, Some(2), Some(6)]) as &dyn Array);
}

#[test]
fn the_ops_refuse_malformed_inputs_with_errors_naming_the_op() {
    use arrow::datatypes::{Field, Schema};
    use rask_collections::dataframe::{CumApply, CumCarry, DescribeObjects};
    use rask_graph::{Batch, Op, Value, args};

    let ints = |v: &[i64]| {
        let column = Arc::new(Int64Array::from(v.to_vec())) as ArrayRef;
        Value::Batch(Batch::new(RecordBatch::try_from_iter([("a", column)]).unwrap()))
    };
    let floats = |v: &[f64]| {
        let column = Arc::new(Float64Array::from(v.to_vec())) as ArrayRef;
        Value::Batch(Batch::new(RecordBatch::try_from_iter([("a", column)]).unwrap()))
    };
    let carry = CumCarry { kind: CumKind::Sum, columns: vec![0] };
    let apply = CumApply { kind: CumKind::Sum, columns: vec![0] };
    let describe = DescribeObjects {
        schema: Arc::new(Schema::new(vec![
            Field::new("statistic", DataType::Utf8, false),
            Field::new("s", DataType::Utf8, true),
        ])),
    };
    let error = |op: &dyn Op, args: rask_graph::Args| op.call(args).unwrap_err().to_string();

    // Not batches at all.
    for op in [&carry as &dyn Op, &apply, &describe] {
        let e = error(op, args![Value::I64(3)]);
        assert!(e.contains(op.name()), "{}: {e}", op.name());
    }
    // Columns that are not there, in the chunk or in the carry.
    let wide = CumCarry { kind: CumKind::Sum, columns: vec![0, 1] };
    assert!(error(&wide, args![ints(&[1, 2])]).contains("no column 1"));
    assert!(error(&wide, args![ints(&[5]), ints(&[1, 2])]).contains("no column"));
    let wide_apply = CumApply { kind: CumKind::Sum, columns: vec![0, 1] };
    assert!(error(&wide_apply, args![ints(&[1, 2]), ints(&[5])]).contains("no column 1"));
    // A carry of another type than its chunk.
    let e = error(&apply, args![ints(&[1, 2]), floats(&[0.5])]);
    assert!(e.contains("Int64") && e.contains("Float64"), "{e}");
    let e = error(&carry, args![floats(&[0.5]), ints(&[1, 2])]);
    assert!(e.contains("carry"), "{e}");
    // describe of a column that is not text.
    assert!(error(&describe, args![ints(&[1, 2])]).contains("describe"));
    // The well-formed calls still agree with a loop: 3 + (1, 2) = (4, 5), and the carry after it is 5.
    let out = apply.call(args![ints(&[1, 2]), ints(&[3])]).unwrap();
    let Value::Batch(b) = out else { panic!() };
    assert_eq!(b.0.column(0).as_primitive::<Int64Type>().values().to_vec(), vec![4, 5]);
    let Value::Batch(next) = carry.call(args![ints(&[3]), ints(&[1, 2])]).unwrap() else { panic!() };
    assert_eq!(next.0.column(0).as_primitive::<Int64Type>().value(0), 5);
}

//! The fusion pass on collections: chains of elementwise array operations and of
//! per-partition dataframe steps run one task per block, with the same results.

use std::any::Any;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array};
use rask_collections::array::{Elementwise, Expr, from_ndarray};
use rask_collections::compute::{Computable, Target, build_graph};
use rask_collections::dataframe::{col, from_arrays, lit};
use rask_graph::OptimizeOptions;

mod common;
use common::{f64_data, options};

fn targets(c: &impl Computable) -> Vec<Target> {
    let mut t = Vec::new();
    c.targets(&mut t);
    t
}

fn depth(e: &Expr) -> usize {
    match e {
        Expr::Input(_) | Expr::Scalar(_) => 0,
        Expr::Cast(_, a) | Expr::Unary(_, a) => 1 + depth(a),
        Expr::Binary(_, a, b) => 1 + depth(a).max(depth(b)),
        Expr::Where(c, a, b) => 1 + depth(c).max(depth(a)).max(depth(b)),
    }
}

#[test]
fn an_elementwise_chain_on_100_blocks_runs_100_tasks_of_one_expression() {
    let data = f64_data(&[100, 10], 7).mapv(f64::abs);
    let x = from_ndarray(&data, [1, 10]).unwrap();
    let y = ((&x + 1.0) * 2.0).sqrt().unwrap();
    let (raw, _) = build_graph(&targets(&y), OptimizeOptions::none()).unwrap();
    let (fused, _) = build_graph(&targets(&y), OptimizeOptions::default()).unwrap();
    assert_eq!(raw.len(), 400, "100 source blocks and three elementwise layers");
    assert_eq!(fused.len(), 100);
    // With x computed too, its blocks stay and y's are one flat elementwise op each.
    let (both, _) = build_graph(&targets(&(&x, &y)), OptimizeOptions::default()).unwrap();
    assert_eq!(both.len(), 200);
    let flat: Vec<&Elementwise> = both
        .ids()
        .filter_map(|t| {
            let op: &dyn Any = both.op(t).as_ref();
            op.downcast_ref::<Elementwise>()
        })
        .collect();
    assert_eq!(flat.len(), 100);
    assert!(flat.iter().all(|e| depth(&e.expr) >= 3), "{:?}", flat[0].expr);
    let expected = ((&data + 1.0) * 2.0).mapv(f64::sqrt);
    for options in options() {
        assert_eq!(y.compute_with(&options).unwrap(), expected);
    }
}

#[test]
fn per_partition_steps_fuse_into_one_task_per_partition() {
    let a: ArrayRef = Arc::new(Int64Array::from((0..40).collect::<Vec<i64>>()));
    let df = from_arrays(vec![("a", a)], 4).unwrap();
    let out = df
        .with_column((col("a") * lit(2)).alias("b"))
        .unwrap()
        .filter(col("b").gt(lit(10)))
        .unwrap()
        .select([col("b")])
        .unwrap();
    let (raw, _) = build_graph(&targets(&out), OptimizeOptions::none()).unwrap();
    let (fused, _) = build_graph(&targets(&out), OptimizeOptions::default()).unwrap();
    assert!(raw.len() >= 4 * 3, "{}", raw.len());
    assert!(fused.len() < raw.len() && fused.len() <= raw.len() - 4 * 2, "{} -> {}", raw.len(), fused.len());
    let expected = out.compute_with(&rask_collections::ComputeOptions::default().optimize(false)).unwrap();
    for options in options() {
        assert_eq!(out.compute_with(&options).unwrap(), expected);
    }
}

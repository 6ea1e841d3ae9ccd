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
        Expr::Cast(_, a) | Expr::Unary(_, a) | Expr::Permute(_, a) => 1 + depth(a),
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

fn count_group(graph: &rask_graph::TaskGraph, group: &str) -> usize {
    graph.keys().iter().filter(|k| k.group().as_str() == group).count()
}

/// `(x + x.T).sum()`: the transposed blocks nest into the sum's elementwise step as a
/// permutation by strides, so no transpose task is left and no block is copied to
/// transpose it (W2's `sum_xxT`).
#[test]
fn a_transpose_read_once_nests_into_the_elementwise_op_that_reads_it() {
    // Blocks of 20 x 20 f64 (3200 bytes) stay tasks; smaller ones would be inlined.
    let data = f64_data(&[60, 60], 11);
    let x = from_ndarray(&data, [20, 20]).unwrap();
    let total = (&x + &x.t()).sum(..).unwrap();
    let (raw, _) = build_graph(&targets(&total), OptimizeOptions::none()).unwrap();
    let (fused, _) = build_graph(&targets(&total), OptimizeOptions::default()).unwrap();
    assert_eq!(count_group(&raw, "transpose"), 9);
    assert_eq!(count_group(&fused, "transpose"), 0, "{:?}", fused.keys());
    assert_eq!(fused.len(), raw.len() - 9 - 9, "transposes nest into the adds, the adds into the sums");
    let expected = (&data + &data.t()).sum();
    for options in options() {
        let got = total.compute_with(&options).unwrap().sum();
        assert!((got - expected).abs() < 1e-9 * expected.abs().max(1.0), "{got} vs {expected}");
    }
}

/// Permuted operands give C-order blocks with the right values, whether the source block
/// is shared (x computed too) or not, alone, under a unary function, on three axes and
/// on both sides of a binary function.
#[test]
fn permuted_operands_compute_the_same_as_transposed_copies() {
    let data = f64_data(&[6, 8], 3).mapv(f64::abs);
    let x = from_ndarray(&data, [3, 4]).unwrap();
    let sqrt_t = x.t().sqrt().unwrap();
    let both_t = &x.t() * &x.t();
    let mixed = &(&x.t() * 2.0) - &x.t();
    let cube_data = f64_data(&[4, 6, 5], 5);
    let cube = from_ndarray(&cube_data, [2, 3, 5]).unwrap();
    let cube_t = &cube.permute_axes(&[2, 0, 1]).unwrap() + 1.0;
    // Computed blocks are uniquely owned: permuted by strides, then written or copied.
    let owned_t = &(&x * 2.0).t() + 1.0;
    let owned_sqrt = (&x * 2.0).t().sqrt().unwrap();
    let owned_sum = &(&x * 2.0).t() + &(&x * 3.0).t();
    let expected_sqrt = data.t().mapv(f64::sqrt);
    let expected_both = &data.t() * &data.t();
    let expected_mixed = &(&data.t() * 2.0) - &data.t();
    let expected_cube = cube_data.view().permuted_axes(vec![2, 0, 1]).mapv(|v| v + 1.0);
    let twice_t = (&data * 2.0).reversed_axes();
    for options in options() {
        assert_eq!(sqrt_t.compute_with(&options).unwrap(), expected_sqrt.clone().into_dyn());
        assert_eq!(both_t.compute_with(&options).unwrap(), expected_both.clone().into_dyn());
        assert_eq!(mixed.compute_with(&options).unwrap(), expected_mixed.clone().into_dyn());
        assert_eq!(cube_t.compute_with(&options).unwrap(), expected_cube);
        assert_eq!(owned_t.compute_with(&options).unwrap(), (&twice_t + 1.0).into_dyn());
        assert_eq!(owned_sqrt.compute_with(&options).unwrap(), twice_t.mapv(f64::sqrt).into_dyn());
        assert_eq!(owned_sum.compute_with(&options).unwrap(), (&twice_t + &(&data * 3.0).t()).into_dyn());
        let (x_out, sqrt_out) = rask_collections::compute::compute_with(&(&x, &sqrt_t), &options).unwrap();
        assert_eq!(x_out, data);
        assert_eq!(sqrt_out, expected_sqrt.clone().into_dyn());
    }
}

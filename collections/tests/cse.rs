//! Common subexpressions: collections built separately from equal inputs and equal
//! operations get equal tokens, so computed together they share their tasks.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array};
use rask_collections::ComputeOptions;
use rask_collections::array::from_ndarray;
use rask_collections::compute::{Computable, Target, build_graph, compute_with};
use rask_collections::dataframe::{col, from_arrays, lit};
use rask_graph::{ArgView, OptimizeOptions, TaskGraph, TaskId, Token, op_token};

mod common;
use common::{f64_data, options};

fn targets(c: &impl Computable) -> Vec<Target> {
    let mut t = Vec::new();
    c.targets(&mut t);
    t
}

/// The number of tasks of each group.
fn count(graph: &TaskGraph, group: &str) -> usize {
    graph.keys().iter().filter(|k| k.group().as_str() == group).count()
}

/// Panics if two tasks do the same thing (equal op tokens, the same task arguments, equal
/// literals) under different keys: work a merge of equal tasks would save.
fn assert_no_equal_tasks(graph: &TaskGraph) {
    let mut seen: HashMap<(Token, Vec<Option<u32>>), Vec<TaskId>> = HashMap::new();
    for t in graph.ids() {
        let shape = graph
            .args(t)
            .map(|a| match a {
                ArgView::Task(d) => Some(d.0),
                ArgView::Literal(_) => None,
            })
            .collect();
        let same = seen.entry((op_token(graph.op(t).as_ref()), shape)).or_default();
        for &other in same.iter() {
            let literals =
                |t| graph.args(t).filter_map(|a| if let ArgView::Literal(v) = a { Some(v.clone()) } else { None });
            assert!(
                !literals(t).eq(literals(other)),
                "{} and {} are the same task under two keys",
                graph.key(t),
                graph.key(other)
            );
        }
        same.push(t);
    }
}

/// `(x + 1).sum()` and `(x + 1).mean()`, built from separate `x + 1`s: computed together,
/// the `x + 1` blocks run once, and nothing else is repeated.
#[test]
fn equal_array_expressions_share_their_tasks() {
    let data = f64_data(&[40, 40], 1);
    let x = from_ndarray(&data, [20, 20]).unwrap();
    let total = (&x.clone() + 1.0).sum(..).unwrap();
    let mean = (&x + 1.0).mean(..).unwrap();
    let both = targets(&(&total, &mean));
    let (raw, _) = build_graph(&both, OptimizeOptions::none()).unwrap();
    assert_eq!(count(&raw, "add"), 4, "one x + 1 per block");
    assert_eq!(count(&raw, "array"), 4);
    let alone = build_graph(&targets(&total), OptimizeOptions::none()).unwrap().0.len()
        + build_graph(&targets(&mean), OptimizeOptions::none()).unwrap().0.len();
    assert_eq!(raw.len(), alone - 4 - 4, "x and x + 1 are shared");
    let (optimized, _) = build_graph(&both, OptimizeOptions::default()).unwrap();
    assert_eq!(count(&optimized, "add"), 4, "read by both reductions, x + 1 stays one task per block");
    assert_no_equal_tasks(&raw);
    assert_no_equal_tasks(&optimized);
    let expected = (&data + 1.0).sum();
    for options in options() {
        let (t, m) = compute_with(&(&total, &mean), &options).unwrap();
        let (t, m) = (t.sum(), m.sum());
        assert!((t - expected).abs() < 1e-9 * expected.abs(), "{t} vs {expected}");
        assert!((m - expected / 1600.0).abs() < 1e-9 * expected.abs(), "{m}");
    }
}

/// A filter built twice and read by two aggregations runs once per partition.
#[test]
fn an_equal_dataframe_filter_read_by_two_aggregations_runs_once() {
    let a: ArrayRef = Arc::new(Int64Array::from((0..40).collect::<Vec<i64>>()));
    let b: ArrayRef = Arc::new(Float64Array::from((0..40).map(|i| i as f64 / 2.0).collect::<Vec<f64>>()));
    let df = from_arrays(vec![("a", a), ("b", b)], 4).unwrap();
    let total = df.filter(col("a").gt(lit(3))).unwrap().agg([col("a").sum()]).unwrap();
    let mean = df.filter(col("a").gt(lit(3))).unwrap().agg([col("b").mean()]).unwrap();
    let both = targets(&(&total, &mean));
    let (raw, _) = build_graph(&both, OptimizeOptions::none()).unwrap();
    assert_eq!(count(&raw, "filter"), 4);
    let (optimized, _) = build_graph(&both, OptimizeOptions::default()).unwrap();
    assert_eq!(count(&optimized, "filter"), 4, "read by both aggregations, the filter stays one task per partition");
    assert_no_equal_tasks(&raw);
    assert_no_equal_tasks(&optimized);
    let expected = (
        total.compute_with(&ComputeOptions::default().optimize(false)).unwrap(),
        mean.compute_with(&ComputeOptions::default().optimize(false)).unwrap(),
    );
    for options in options() {
        assert_eq!(compute_with(&(&total, &mean), &options).unwrap(), expected);
    }
    let sum = expected.0.column(0).as_any().downcast_ref::<Int64Array>().map(|c| c.value(0));
    assert_eq!(sum, Some((4..40).sum::<i64>()));
}

//! Sample graphs and a reference evaluator, shared by tests, benches and examples.
//!
//! - [`inc_sum_tree`] builds W1's graph (BENCHMARKS.md): `n` leaves `inc(i)` summed by a
//!   tree of a given fan-in, whose root's value is n(n+1)/2.
//! - [`evaluate`] runs a graph the plainest way there is (every task in id order on the
//!   calling thread, nothing freed): the independent answer a pass or a scheduler is
//!   checked against.

use std::sync::Arc;

use crate::op::{Args, Op};
use crate::ops::{Inc, Sum};
use crate::task_graph::{Arg, ArgView, TaskGraph, TaskId};
use crate::{Group, Key, Token, Value};

/// W1's graph: `n` leaves `inc(i)` (keys `inc`, token 1), summed by a tree of `fan_in`
/// (keys `sum`, token 2); returns the graph and its root.
///
/// ```
/// use rask_graph::sample::{evaluate, inc_sum_tree};
/// let (graph, root) = inc_sum_tree(100, 8);
/// assert_eq!(graph.len(), 100 + 13 + 2 + 1);
/// assert_eq!(evaluate(&graph, &[root]).unwrap(), vec![rask_graph::Value::I64(5050)]);
/// ```
pub fn inc_sum_tree(n: usize, fan_in: usize) -> (TaskGraph, TaskId) {
    let inc: Arc<dyn Op> = Arc::new(Inc);
    let sum: Arc<dyn Op> = Arc::new(Sum);
    let mut b = TaskGraph::builder();
    let group = Group::new("inc");
    let leaves: Vec<TaskId> = (0..n)
        .map(|i| {
            let key = Key::new(group, Token(1), &[i as u32]);
            b.add(key, &inc, [Arg::Value(Value::I64(i as i64))]).expect("leaf keys are distinct")
        })
        .collect();
    let root = b.add_tree(&leaves, fan_in, &sum, Group::new("sum"), Token(2)).expect("a tree over fresh keys");
    (b.build().expect("a tree has no cycle"), root)
}

/// The outputs' values, computed by running every task in id order on this thread; the
/// first failing task's error names its key.
///
/// ```
/// use rask_graph::{ops, sample::evaluate, Arg, Group, Key, Op, TaskGraph, Token, Value};
/// let add: std::sync::Arc<dyn Op> = std::sync::Arc::new(ops::Add);
/// let mut b = TaskGraph::builder();
/// let x = b.add(Key::single(Group::new("add"), Token(1)), &add, [Arg::Value(Value::I64(1)), Arg::Value(Value::I64(2))]).unwrap();
/// assert_eq!(evaluate(&b.build().unwrap(), &[x]).unwrap(), vec![Value::I64(3)]);
/// ```
pub fn evaluate(graph: &TaskGraph, outputs: &[TaskId]) -> Result<Vec<Value>, String> {
    let mut values: Vec<Value> = Vec::with_capacity(graph.len());
    for t in graph.ids() {
        let args: Args = graph
            .args(t)
            .map(|a| match a {
                ArgView::Task(d) => values[d.index()].clone(),
                ArgView::Literal(v) => v.clone(),
            })
            .collect();
        values.push(graph.op(t).call(args).map_err(|e| format!("{}: {e}", graph.key(t)))?);
    }
    outputs
        .iter()
        .map(|o| values.get(o.index()).cloned().ok_or_else(|| format!("no task {} in a graph of {}", o.0, graph.len())))
        .collect()
}

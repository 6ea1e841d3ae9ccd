//! Cull: keep only the tasks the requested outputs need.

use crate::task_graph::{TaskGraph, TaskId};

/// Removes every task that no output depends on, keeping the rest in their order.
/// Returns the smaller graph and the outputs' new ids.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::{cull, ops, Arg, Group, Key, Op, TaskGraph, Token, Value};
/// let inc: Arc<dyn Op> = Arc::new(ops::Inc);
/// let mut b = TaskGraph::builder();
/// let k = |i| Key::new(Group::new("inc"), Token(0), &[i]);
/// let a = b.add(k(0), &inc, [Arg::Value(Value::I64(0))]).unwrap();
/// let _unused = b.add(k(1), &inc, [Arg::Task(a)]).unwrap();
/// let wanted = b.add(k(2), &inc, [Arg::Task(a)]).unwrap();
/// let (g, out) = cull(b.build().unwrap(), &[wanted]);
/// assert_eq!(g.keys(), &[k(0), k(2)]);
/// assert_eq!(g.key(out[0]), k(2));
/// ```
pub fn cull(graph: TaskGraph, outputs: &[TaskId]) -> (TaskGraph, Vec<TaskId>) {
    let mut needed = vec![false; graph.len()];
    let mut stack: Vec<TaskId> = Vec::new();
    for &o in outputs {
        if !needed[o.index()] {
            needed[o.index()] = true;
            stack.push(o);
        }
    }
    while let Some(t) = stack.pop() {
        for d in graph.dependencies(t) {
            if !needed[d.index()] {
                needed[d.index()] = true;
                stack.push(d);
            }
        }
    }
    let keep: Vec<TaskId> = graph.ids().filter(|t| needed[t.index()]).collect();
    if keep.len() == graph.len() {
        return (graph, outputs.to_vec());
    }
    let (culled, map) = graph.select(&keep);
    let outputs = outputs.iter().map(|o| map[o.index()].expect("outputs are kept")).collect();
    (culled, outputs)
}

//! Order: a priority for every task, so that runs go depth-first and memory stays low.
//!
//! Like `dask.order`, the aim is to finish what has been started before starting new
//! branches: a task runs as soon as everything it needs is there, and the inputs of a
//! reduction are produced one group after another instead of all at once. The pass is a
//! post-order walk from the outputs (dependencies before dependents, siblings in argument
//! order, shallow branches first), and it renumbers the graph so that task ids *are*
//! priorities: the synchronous scheduler runs ids in increasing order and the threaded
//! one prefers low ids. Tasks no output needs keep their relative order at the end.

use crate::task_graph::{TaskGraph, TaskId};

/// Renumbers `graph` in priority order; returns it and the outputs' new ids.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::{order, ops, Arg, Group, Key, Op, TaskGraph, Token, Value};
/// let (inc, sum): (Arc<dyn Op>, Arc<dyn Op>) = (Arc::new(ops::Inc), Arc::new(ops::Sum));
/// let mut b = TaskGraph::builder();
/// let k = |g, i| Key::new(Group::new(g), Token(0), &[i]);
/// // Four leaves, then two pair sums: leaves come first in build order.
/// let leaves: Vec<_> = (0..4).map(|i| b.add(k("leaf", i), &inc, [Arg::Value(Value::I64(i as i64))]).unwrap()).collect();
/// let s0 = b.add(k("sum", 0), &sum, [Arg::Task(leaves[0]), Arg::Task(leaves[1])]).unwrap();
/// let s1 = b.add(k("sum", 1), &sum, [Arg::Task(leaves[2]), Arg::Task(leaves[3])]).unwrap();
/// let root = b.add(k("sum", 2), &sum, [Arg::Task(s0), Arg::Task(s1)]).unwrap();
/// let (g, _) = order(b.build().unwrap(), &[root]);
/// // Depth-first: each pair is summed as soon as its two leaves exist.
/// let names: Vec<String> = g.keys().iter().map(|k| format!("{}{}", k.group(), k.index()[0])).collect();
/// assert_eq!(names, ["leaf0", "leaf1", "sum0", "leaf2", "leaf3", "sum1", "sum2"]);
/// ```
pub fn order(graph: TaskGraph, outputs: &[TaskId]) -> (TaskGraph, Vec<TaskId>) {
    let sequence = priority_sequence(&graph, outputs);
    if sequence.iter().enumerate().all(|(i, t)| t.index() == i) {
        return (graph, outputs.to_vec());
    }
    let (ordered, map) = graph.select(&sequence);
    let outputs = outputs.iter().map(|o| map[o.index()].expect("every task is kept")).collect();
    (ordered, outputs)
}

/// All tasks in priority order (a topological order).
pub fn priority_sequence(graph: &TaskGraph, outputs: &[TaskId]) -> Vec<TaskId> {
    let n = graph.len();
    let height = heights(graph);
    let mut placed = vec![false; n];
    let mut sequence = Vec::with_capacity(n);
    // Each frame: a task, and its not-yet-placed dependencies still to visit, popped from
    // the end (so they are pushed tallest first).
    let mut stack: Vec<(TaskId, u32)> = Vec::new();
    let mut pending: Vec<TaskId> = Vec::new();
    let mut visit = |root: TaskId, sequence: &mut Vec<TaskId>, placed: &mut Vec<bool>| {
        if placed[root.index()] {
            return;
        }
        placed[root.index()] = true;
        let push = |t: TaskId, pending: &mut Vec<TaskId>, stack: &mut Vec<(TaskId, u32)>| {
            let start = pending.len();
            pending.extend(graph.dependencies(t));
            // Shallow branches are finished first, so that the long branch's inputs are
            // not held while a short one is computed; ties keep argument order.
            pending[start..].reverse();
            pending[start..].sort_by_key(|d| std::cmp::Reverse(height[d.index()]));
            stack.push((t, (pending.len() - start) as u32));
        };
        push(root, &mut pending, &mut stack);
        while let Some(&mut (t, ref mut left)) = stack.last_mut() {
            if *left == 0 {
                stack.pop();
                sequence.push(t);
                continue;
            }
            *left -= 1;
            let d = pending.pop().expect("a pending dependency per count");
            if !placed[d.index()] {
                placed[d.index()] = true;
                push(d, &mut pending, &mut stack);
            }
        }
    };
    for &o in outputs {
        visit(o, &mut sequence, &mut placed);
    }
    for t in graph.ids() {
        visit(t, &mut sequence, &mut placed);
    }
    sequence
}

/// The length of the longest chain of dependencies below each task (leaves are 0).
fn heights(graph: &TaskGraph) -> Vec<u32> {
    let mut height = vec![0u32; graph.len()];
    for t in graph.ids() {
        height[t.index()] = graph.dependencies(t).map(|d| height[d.index()] + 1).max().unwrap_or(0);
    }
    height
}

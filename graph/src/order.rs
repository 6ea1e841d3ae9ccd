//! Order: a priority for every task, so that runs go depth-first and memory stays low.
//!
//! Like `dask.order`, the aim is to finish what has been started before starting new
//! branches: a task runs as soon as everything it needs is there, and the inputs of a
//! reduction are produced one group after another instead of all at once. The pass is a
//! post-order walk from the outputs (dependencies before dependents, siblings in argument
//! order, shallow branches first), and it renumbers the graph so that task ids *are*
//! priorities: the synchronous scheduler runs ids in increasing order and the threaded
//! one prefers low ids. Tasks no output needs keep their relative order at the end.

use crate::task_graph::{Csr, TaskGraph, TaskId};

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
    let mut emitter = Emitter::new(graph, outputs);
    let mut visited = vec![false; n];
    // Each frame: a task, and its not-yet-visited dependencies still to visit, popped from
    // the end (so they are pushed tallest first).
    let mut stack: Vec<(TaskId, u32)> = Vec::new();
    let mut pending: Vec<TaskId> = Vec::new();
    let mut visit = |root: TaskId, emitter: &mut Emitter, visited: &mut Vec<bool>| {
        if visited[root.index()] {
            return;
        }
        visited[root.index()] = true;
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
                emitter.emit(t);
                continue;
            }
            *left -= 1;
            let d = pending.pop().expect("a pending dependency per count");
            if !visited[d.index()] && !emitter.emitted[d.index()] {
                visited[d.index()] = true;
                push(d, &mut pending, &mut stack);
            }
        }
    };
    for &o in outputs {
        visit(o, &mut emitter, &mut visited);
    }
    for t in graph.ids() {
        visit(t, &mut emitter, &mut visited);
    }
    emitter.sequence
}

/// Appends tasks to the sequence and, after each, runs at once any needed task that has
/// become ready and is the last reader of one of its inputs: running it frees that input
/// (Dask's order does the same). In `x + x.T` this pairs block (i, j) with block (j, i),
/// which read each other's inputs, instead of holding the mirror inputs of a whole row.
struct Emitter<'g> {
    graph: &'g TaskGraph,
    dependents: Csr,
    needed: Vec<bool>,
    emitted: Vec<bool>,
    /// Per task: dependency arguments not yet emitted.
    missing: Vec<u32>,
    /// Per task: reading arguments of tasks not yet emitted.
    readers: Vec<u32>,
    sequence: Vec<TaskId>,
    work: Vec<TaskId>,
}

impl<'g> Emitter<'g> {
    fn new(graph: &'g TaskGraph, outputs: &[TaskId]) -> Self {
        let n = graph.len();
        let dependents = graph.dependents();
        let mut needed = vec![false; n];
        outputs.iter().for_each(|o| needed[o.index()] = true);
        let mut missing = vec![0u32; n];
        for t in graph.ids().rev() {
            missing[t.index()] = graph.dependencies(t).count() as u32;
            if needed[t.index()] {
                graph.dependencies(t).for_each(|d| needed[d.index()] = true);
            }
        }
        let readers = (0..n).map(|t| dependents.row(t).len() as u32).collect();
        Emitter {
            graph,
            dependents,
            needed,
            emitted: vec![false; n],
            missing,
            readers,
            sequence: Vec::with_capacity(n),
            work: Vec::new(),
        }
    }

    fn emit(&mut self, t: TaskId) {
        if self.emitted[t.index()] {
            return;
        }
        self.mark(t);
        while let Some(x) = self.work.pop() {
            let mut candidates: smallvec::SmallVec<[TaskId; 4]> = smallvec::SmallVec::new();
            candidates.extend(self.sole_ready_reader(x));
            for d in self.graph.dependencies(x) {
                candidates.extend(self.sole_ready_reader(d));
            }
            for u in candidates {
                if !self.emitted[u.index()] {
                    self.mark(u);
                }
            }
        }
    }

    fn mark(&mut self, t: TaskId) {
        self.emitted[t.index()] = true;
        self.sequence.push(t);
        for &u in self.dependents.row(t.index()) {
            self.missing[u as usize] -= 1;
        }
        for d in self.graph.dependencies(t) {
            self.readers[d.index()] -= 1;
        }
        self.work.push(t);
    }

    /// The one task still to read `v`'s output, if there is one and it can run now.
    fn sole_ready_reader(&self, v: TaskId) -> Option<TaskId> {
        const SCAN: u32 = 4;
        let left = self.readers[v.index()];
        if left == 0 || left > SCAN {
            return None;
        }
        let mut unemitted = self.dependents.row(v.index()).iter().filter(|&&u| !self.emitted[u as usize]);
        let u = *unemitted.next()?;
        let ready = unemitted.all(|&w| w == u) && self.missing[u as usize] == 0 && self.needed[u as usize];
        ready.then_some(TaskId(u))
    }
}

/// The length of the longest chain of dependencies below each task (leaves are 0).
fn heights(graph: &TaskGraph) -> Vec<u32> {
    let mut height = vec![0u32; graph.len()];
    for t in graph.ids() {
        height[t.index()] = graph.dependencies(t).map(|d| height[d.index()] + 1).max().unwrap_or(0);
    }
    height
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::task_graph::Arg;
    use crate::{Group, Key, Op, Token, Value, ops};

    /// The most values of the groups `big` alive at once when tasks run in `sequence`, one
    /// at a time.
    fn peak_live(graph: &TaskGraph, sequence: &[TaskId], outputs: &[TaskId], big: &[&str]) -> usize {
        let is_big = |t: TaskId| big.contains(&graph.key(t).group().as_str());
        let mut readers: Vec<usize> = vec![0; graph.len()];
        for t in graph.ids() {
            graph.dependencies(t).for_each(|d| readers[d.index()] += 1);
        }
        outputs.iter().for_each(|o| readers[o.index()] += 1);
        let (mut live, mut peak) = (0usize, 0usize);
        for &t in sequence {
            live += usize::from(is_big(t));
            peak = peak.max(live);
            for d in graph.dependencies(t) {
                readers[d.index()] -= 1;
                if readers[d.index()] == 0 && is_big(d) {
                    live -= 1;
                }
            }
        }
        peak
    }

    #[test]
    fn x_plus_x_transposed_pairs_mirror_blocks() {
        // r[i][j]: blocks; t[i][j] = transpose(r[j][i]); a = r + t; s = sum(a); root = sum(s).
        let n = 8u32;
        let (identity, sum): (Arc<dyn Op>, Arc<dyn Op>) = (Arc::new(ops::Identity), Arc::new(ops::Sum));
        let key = |g: &str, i: u32, j: u32| Key::new(Group::new(g), Token(7), &[i, j]);
        let mut b = TaskGraph::builder();
        let mut sums = Vec::new();
        for i in 0..n {
            for j in 0..n {
                let ij = |g| Arg::Key(key(g, i, j));
                b.add(key("r", i, j), &identity, [Arg::Value(Value::I64((i * n + j) as i64))]).unwrap();
                b.add(key("t", i, j), &identity, [Arg::Key(key("r", j, i))]).unwrap();
                b.add(key("a", i, j), &sum, [ij("r"), ij("t")]).unwrap();
                sums.push(Arg::Key(key("s", i, j)));
                b.add(key("s", i, j), &identity, [ij("a")]).unwrap();
            }
        }
        let root = b.add(Key::single(Group::new("root"), Token(7)), &sum, sums).unwrap();
        let graph = b.build().unwrap();
        let sequence = priority_sequence(&graph, &[root]);
        let peak = peak_live(&graph, &sequence, &[root], &["r", "t", "a"]);
        // Holding the mirror inputs of whole rows would keep about n * n / 4 blocks.
        assert!(peak <= 4, "peak {peak} live values for {n}x{n} blocks");
        let mut seen = vec![false; graph.len()];
        for t in &sequence {
            assert!(graph.dependencies(*t).all(|d| seen[d.index()]), "not topological");
            seen[t.index()] = true;
        }
    }
}

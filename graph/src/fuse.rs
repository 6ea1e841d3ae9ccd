//! Fuse: fewer, larger tasks, with the same results.
//!
//! Three rewrites, in one pass over the graph in topological order:
//!
//! - **Inline identities**: an `rask.identity` task with one task argument is bypassed, its
//!   dependents read the argument directly (unless it is an output).
//! - **Op-aware fusion**: a task whose output is read once, by one argument of one
//!   dependent, and is not an output, merges into that dependent when the dependent's op
//!   knows how to absorb it ([`Op::fuse_with`]): elementwise array expressions nest into
//!   one flat expression, per-partition dataframe steps concatenate.
//! - **Linear fusion**: otherwise, if that dependent reads no other task, the two become
//!   one [`Fused`] program that calls both ops in turn. Chains collapse whole.
//!
//! A fused task keeps the key of the last task of its chain, so outputs keep their keys.
//! Ops are combined once per distinct pair, so a fused elementwise layer of a thousand
//! blocks shares one op; a generic program names each step's original key in its errors.
//! Programs of portable ops stay portable.

use std::any::Any;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::op::Op;
use crate::ops::{Fused, FusedStep, Identity, Source};
use crate::task_graph::{ArgView, Rebuild, TaskGraph, TaskId};
use crate::value::Value;

/// A task's form after absorbing producers: its own op, an op-aware combination, or a
/// linear program over its one producer.
const PLAIN: u8 = 0;
const COMBINED: u8 = 1;
const PROGRAM: u8 = 2;

/// How a task was absorbed into its dependent, if it was.
const KEPT: u8 = 0;
const INTO_OP: u8 = 1;
const INTO_PROGRAM: u8 = 2;

/// Fuses chains and bypasses identities; returns the new graph and the outputs' new ids.
/// Outputs are never merged away.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::{fuse, ops, Arg, Group, Key, Op, TaskGraph, Token, Value};
/// let inc: Arc<dyn Op> = Arc::new(ops::Inc);
/// let k = |i| Key::new(Group::new("inc"), Token(0), &[i]);
/// let mut b = TaskGraph::builder();
/// let a = b.add(k(0), &inc, [Arg::Value(Value::I64(0))]).unwrap();
/// let c = b.add(k(1), &inc, [Arg::Task(a)]).unwrap();
/// let d = b.add(k(2), &inc, [Arg::Task(c)]).unwrap();
/// let (g, out) = fuse(b.build().unwrap(), &[d]);
/// assert_eq!(g.len(), 1);
/// assert_eq!(g.key(out[0]), k(2));
/// assert_eq!(g.op(out[0]).call(rask_graph::args![Value::I64(0)]).unwrap(), Value::I64(3));
/// ```
pub fn fuse(graph: TaskGraph, outputs: &[TaskId]) -> (TaskGraph, Vec<TaskId>) {
    let mut plan = Plan::new(&graph, outputs);
    if !plan.decide() {
        return (graph, outputs.to_vec());
    }
    let (fused, new_id) = plan.emit();
    let outputs = outputs.iter().map(|o| TaskId(new_id[o.index()])).collect();
    (fused, outputs)
}

/// An argument of a task of the fused graph.
enum NewArg {
    Task(TaskId),
    Value(Value),
}

/// What the pass knows about each task.
struct Plan<'g> {
    graph: &'g TaskGraph,
    is_output: Vec<bool>,
    /// Identity tasks bypassed point at what they stand for; `None` if there are none.
    alias: Option<Vec<u32>>,
    /// How many task arguments read each task's output.
    readers: Vec<u32>,
    state: Vec<u8>,
    absorbed: Vec<u8>,
    /// Tasks in state `COMBINED`: their op and its number of arguments.
    combined: FxHashMap<u32, (Arc<dyn Op>, usize)>,
    pairs: FxHashMap<PairKey, Option<Arc<dyn Op>>>,
}

/// A pair of ops asked to combine: consumer address, position, producer address, its
/// number of arguments.
type PairKey = (usize, usize, usize, usize);

fn address(op: &Arc<dyn Op>) -> usize {
    Arc::as_ptr(op) as *const () as usize
}

impl<'g> Plan<'g> {
    fn new(graph: &'g TaskGraph, outputs: &[TaskId]) -> Self {
        let n = graph.len();
        let mut is_output = vec![false; n];
        for o in outputs {
            is_output[o.index()] = true;
        }
        let mut plan = Plan {
            graph,
            is_output,
            alias: None,
            readers: Vec::new(),
            state: Vec::new(),
            absorbed: Vec::new(),
            combined: FxHashMap::default(),
            pairs: FxHashMap::default(),
        };
        plan.alias = plan.bypass_identities();
        let mut readers = vec![0u32; n];
        for t in graph.ids().filter(|&t| !plan.bypassed(t)) {
            for d in graph.dependencies(t) {
                let r = &mut readers[plan.target(d).index()];
                *r = r.saturating_add(1);
            }
        }
        plan.readers = readers;
        plan
    }

    fn bypass_identities(&self) -> Option<Vec<u32>> {
        let g = self.graph;
        let identity: Vec<bool> = g
            .op_table()
            .iter()
            .map(|op| {
                let any: &dyn Any = op.as_ref();
                any.is::<Identity>()
            })
            .collect();
        if !identity.contains(&true) {
            return None;
        }
        let mut alias: Vec<u32> = (0..g.len() as u32).collect();
        let mut any = false;
        for t in g.ids() {
            if identity[g.op_index(t)]
                && !self.is_output[t.index()]
                && g.arg_count(t) == 1
                && let ArgView::Task(d) = g.arg_at(t, 0)
            {
                alias[t.index()] = alias[d.index()];
                any = true;
            }
        }
        any.then_some(alias)
    }

    #[inline]
    fn target(&self, d: TaskId) -> TaskId {
        match &self.alias {
            Some(a) => TaskId(a[d.index()]),
            None => d,
        }
    }

    #[inline]
    fn bypassed(&self, t: TaskId) -> bool {
        self.alias.as_ref().is_some_and(|a| a[t.index()] != t.0)
    }

    /// Whether `d`'s output goes to one argument of one task and nowhere else.
    #[inline]
    fn single_use(&self, d: TaskId) -> bool {
        self.readers[d.index()] == 1 && !self.is_output[d.index()] && self.graph.op(d).is_fusable()
    }

    /// `consumer.fuse_with(...)`, asked once per distinct pair.
    fn combine(
        &mut self,
        consumer: &Arc<dyn Op>,
        position: usize,
        producer: &Arc<dyn Op>,
        args: usize,
    ) -> Option<Arc<dyn Op>> {
        // Both ops live as long as the plan (in the graph or in `pairs`), so their
        // addresses are not reused while they are keys.
        let key = (address(consumer), position, address(producer), args);
        self.pairs.entry(key).or_insert_with(|| consumer.fuse_with(position, producer.as_ref(), args)).clone()
    }

    /// Decides which tasks merge into their dependents; whether anything changes.
    fn decide(&mut self) -> bool {
        let g = self.graph;
        let n = g.len();
        self.state = vec![PLAIN; n];
        self.absorbed = vec![KEPT; n];
        let mut changed = self.alias.is_some();
        for t in g.ids() {
            if self.bypassed(t) {
                continue;
            }
            let count = g.arg_count(t);
            let (mut task_args, mut candidates) = (0, false);
            for i in 0..count {
                if let ArgView::Task(d) = g.arg_at(t, i) {
                    task_args += 1;
                    candidates |= self.single_use(self.target(d));
                }
            }
            if !candidates {
                continue;
            }
            let mut op = g.op(t).clone();
            let mut args = count;
            // Right to left: absorbing at `p` shifts only the positions after it.
            for p in (0..count).rev() {
                let ArgView::Task(d) = g.arg_at(t, p) else { continue };
                let d = self.target(d);
                if !self.single_use(d) {
                    continue;
                }
                let producer = match self.state[d.index()] {
                    PLAIN => Some((g.op(d).clone(), g.arg_count(d))),
                    COMBINED => self.combined.get(&d.0).cloned(),
                    _ => None,
                };
                if let Some(fused) =
                    producer.and_then(|(p_op, p_args)| self.combine(&op, p, &p_op, p_args).map(|f| (f, p_args)))
                {
                    op = fused.0;
                    args = args - 1 + fused.1;
                    self.state[t.index()] = COMBINED;
                    self.absorbed[d.index()] = INTO_OP;
                } else if task_args == 1 {
                    self.state[t.index()] = PROGRAM;
                    self.absorbed[d.index()] = INTO_PROGRAM;
                } else {
                    continue;
                }
                changed = true;
            }
            if self.state[t.index()] == COMBINED {
                self.combined.insert(t.0, (op, args));
            }
        }
        changed
    }

    /// Builds the fused graph; returns it and the map from old ids to new ones.
    fn emit(&mut self) -> (TaskGraph, Vec<u32>) {
        let g = self.graph;
        let mut b = Rebuild::with_capacity(g.len(), g.total_args());
        let mut new_id = vec![u32::MAX; g.len()];
        let mut args: Vec<NewArg> = Vec::new();
        let mut stack: Vec<(TaskId, usize)> = Vec::new();
        for t in g.ids() {
            if self.bypassed(t) || self.absorbed[t.index()] != KEPT {
                continue;
            }
            args.clear();
            let program;
            let op = match self.state[t.index()] {
                PLAIN => {
                    self.expand(t, &new_id, &mut args, &mut stack);
                    g.op(t)
                }
                COMBINED => {
                    self.expand(t, &new_id, &mut args, &mut stack);
                    &self.combined[&t.0].0
                }
                _ => {
                    program = self.program(t, &new_id, &mut args, &mut stack);
                    &program
                }
            };
            for arg in args.drain(..) {
                match arg {
                    NewArg::Task(d) => b.arg_task(d),
                    NewArg::Value(v) => b.arg_value(v),
                }
            }
            new_id[t.index()] = b.task(g.key(t), op).0;
        }
        (b.finish(), new_id)
    }

    /// `t`'s arguments with every producer absorbed into its op replaced by the
    /// producer's own arguments, recursively.
    fn expand(&self, t: TaskId, new_id: &[u32], out: &mut Vec<NewArg>, stack: &mut Vec<(TaskId, usize)>) {
        let g = self.graph;
        stack.push((t, 0));
        while let Some(top) = stack.last_mut() {
            let (task, pos) = *top;
            if pos == g.arg_count(task) {
                stack.pop();
                continue;
            }
            top.1 += 1;
            match g.arg_at(task, pos) {
                ArgView::Literal(v) => out.push(NewArg::Value(v.clone())),
                ArgView::Task(d) => {
                    let d = self.target(d);
                    if self.absorbed[d.index()] == INTO_OP {
                        stack.push((d, 0));
                    } else {
                        out.push(NewArg::Task(TaskId(new_id[d.index()])));
                    }
                }
            }
        }
    }

    /// The program of the linear chain ending at `t` (whose arguments go to `out`).
    fn program(
        &self,
        t: TaskId,
        new_id: &[u32],
        out: &mut Vec<NewArg>,
        stack: &mut Vec<(TaskId, usize)>,
    ) -> Arc<dyn Op> {
        let g = self.graph;
        let mut chain = vec![t];
        let mut at = t;
        while self.state[at.index()] == PROGRAM {
            let producer = g.dependencies(at).map(|d| self.target(d)).next();
            match producer {
                Some(d) => {
                    chain.push(d);
                    at = d;
                }
                None => break,
            }
        }
        chain.reverse();
        let first = chain[0];
        let first_op = match self.state[first.index()] {
            COMBINED => self.combined[&first.0].0.clone(),
            _ => g.op(first).clone(),
        };
        self.expand(first, new_id, out, stack);
        let args = (0..out.len() as u32).map(Source::Arg).collect();
        let mut steps = vec![FusedStep { op: first_op, args, key: Some(g.key(first)) }];
        for (i, &task) in chain.iter().enumerate().skip(1) {
            let sources = g
                .args(task)
                .map(|a| match a {
                    ArgView::Task(_) => Source::Step(i as u32 - 1),
                    ArgView::Literal(v) => {
                        out.push(NewArg::Value(v.clone()));
                        Source::Arg(out.len() as u32 - 1)
                    }
                })
                .collect();
            steps.push(FusedStep { op: g.op(task).clone(), args: sources, key: Some(g.key(task)) });
        }
        Arc::new(Fused { steps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Args, FnOp, decode_op, encode_op};
    use crate::ops::{Inc, Sum};
    use crate::task_graph::Arg;
    use crate::{Group, Key, OpError, Token};
    use serde::{Deserialize, Serialize};

    fn key(group: &str, i: u32) -> Key {
        Key::new(Group::new(group), Token(1), &[i])
    }

    fn run(graph: &TaskGraph, outputs: &[TaskId]) -> Vec<Value> {
        crate::sample::evaluate(graph, outputs).unwrap()
    }

    /// `x * factor + shift`: composes with another `Affine` at any position.
    #[derive(Debug, Serialize, Deserialize)]
    struct Affine {
        factor: i64,
        shift: i64,
    }

    #[typetag::serde(name = "rask.test.affine")]
    impl Op for Affine {
        fn name(&self) -> &str {
            "affine"
        }
        fn call(&self, args: Args) -> Result<Value, OpError> {
            match args.as_slice() {
                [Value::I64(x)] => Ok(Value::I64(x * self.factor + self.shift)),
                other => Err(OpError::new(format!("affine: {other:?}"))),
            }
        }
        fn fuse_with(&self, _: usize, producer: &dyn Op, _: usize) -> Option<Arc<dyn Op>> {
            let producer: &dyn Any = producer;
            let p = producer.downcast_ref::<Affine>()?;
            Some(Arc::new(Affine { factor: p.factor * self.factor, shift: p.shift * self.factor + self.shift }))
        }
    }

    /// `blocks` independent chains of `len` ops after a literal source each; step `s` of
    /// block `i` is `step{s}` for the first ten steps (a few names, as real graphs have),
    /// then `step` with index `[i, s]`, so that a long chain does not intern a name a step.
    fn chains(op: &Arc<dyn Op>, blocks: u32, len: u32) -> (TaskGraph, Vec<TaskId>) {
        let mut b = TaskGraph::builder();
        let mut outs = Vec::new();
        for i in 0..blocks {
            let mut prev = b.add(key("src", i), op, [Arg::Value(Value::I64(i as i64))]).unwrap();
            for step in 0..len {
                let k = if step < 10 {
                    key(&format!("step{step}"), i)
                } else {
                    Key::new(Group::new("step"), Token(1), &[i, step])
                };
                prev = b.add(k, op, [Arg::Task(prev)]).unwrap();
            }
            outs.push(prev);
        }
        (b.build().unwrap(), outs)
    }

    #[test]
    fn op_aware_chains_become_one_task_per_block_sharing_one_op() {
        let op: Arc<dyn Op> = Arc::new(Affine { factor: 2, shift: 1 });
        let (graph, outs) = chains(&op, 100, 3);
        let expected = run(&graph, &outs);
        let (fused, new_outs) = fuse(graph, &outs);
        assert_eq!(fused.len(), 100);
        assert_eq!(fused.op_table().len(), 1, "one combined op for all blocks");
        assert!(fused.op(new_outs[0]).name() == "affine");
        assert_eq!(run(&fused, &new_outs), expected);
        for (i, o) in new_outs.iter().enumerate() {
            assert_eq!(fused.key(*o), key("step2", i as u32));
        }
    }

    #[test]
    fn linear_chains_become_portable_programs() {
        let inc: Arc<dyn Op> = Arc::new(Inc);
        let (graph, outs) = chains(&inc, 10, 4);
        let expected = run(&graph, &outs);
        let (fused, new_outs) = fuse(graph, &outs);
        assert_eq!(fused.len(), 10);
        assert_eq!(run(&fused, &new_outs), expected);
        fused.check_portable().unwrap();
        let op = fused.op(new_outs[3]);
        let back = decode_op(&encode_op(op.as_ref()).unwrap()).unwrap();
        let arg = || crate::args![Value::I64(3)];
        assert_eq!(back.call(arg()).unwrap(), op.call(arg()).unwrap());
        assert_eq!(op.call(arg()).unwrap(), Value::I64(8));
    }

    #[test]
    fn closure_chains_stay_unportable() {
        let f: Arc<dyn Op> = Arc::new(FnOp::new("f", |args| Inc.call(args)));
        let (graph, outs) = chains(&f, 2, 2);
        assert!(graph.check_portable().is_err());
        let (fused, _) = fuse(graph, &outs);
        assert_eq!(fused.len(), 2);
        assert!(fused.check_portable().is_err());
    }

    #[test]
    fn outputs_and_shared_tasks_are_not_merged_away() {
        let inc: Arc<dyn Op> = Arc::new(Inc);
        let sum: Arc<dyn Op> = Arc::new(Sum);
        let mut b = TaskGraph::builder();
        let a = b.add(key("a", 0), &inc, [Arg::Value(Value::I64(1))]).unwrap();
        let c = b.add(key("c", 0), &inc, [Arg::Task(a)]).unwrap();
        let d = b.add(key("d", 0), &inc, [Arg::Task(c)]).unwrap();
        // `s` reads `a` twice: a is shared.
        let s = b.add(key("s", 0), &sum, [Arg::Task(a), Arg::Task(d)]).unwrap();
        let graph = b.build().unwrap();
        let outs = [c, s];
        let expected = run(&graph, &outs);
        let (fused, new_outs) = fuse(graph, &outs);
        // c is an output, so d (one reader, s, which reads two tasks) stays too.
        assert_eq!(fused.keys(), &[key("a", 0), key("c", 0), key("d", 0), key("s", 0)]);
        assert_eq!(run(&fused, &new_outs), expected);
    }

    #[test]
    fn identities_are_bypassed_except_outputs() {
        let inc: Arc<dyn Op> = Arc::new(Inc);
        let sum: Arc<dyn Op> = Arc::new(Sum);
        let id: Arc<dyn Op> = Arc::new(Identity);
        let mut b = TaskGraph::builder();
        let a = b.add(key("a", 0), &inc, [Arg::Value(Value::I64(1))]).unwrap();
        let x = b.add(key("x", 0), &inc, [Arg::Value(Value::I64(5))]).unwrap();
        let i1 = b.add(key("id", 1), &id, [Arg::Task(a)]).unwrap();
        let i2 = b.add(key("id", 2), &id, [Arg::Task(i1)]).unwrap();
        let s = b.add(key("s", 0), &sum, [Arg::Task(i2), Arg::Task(a), Arg::Task(x)]).unwrap();
        let out = b.add(key("id", 3), &id, [Arg::Task(s)]).unwrap();
        let graph = b.build().unwrap();
        let expected = run(&graph, &[out]);
        let (fused, new_outs) = fuse(graph, &[out]);
        assert_eq!(fused.keys(), &[key("a", 0), key("x", 0), key("id", 3)]);
        assert_eq!(fused.dependencies(TaskId(2)).count(), 3, "s reads a twice and x, fused into the output");
        assert_eq!(run(&fused, &new_outs), expected);
        assert_eq!(fused.key(new_outs[0]), key("id", 3));
    }

    #[test]
    fn trees_without_chains_are_unchanged() {
        let inc: Arc<dyn Op> = Arc::new(Inc);
        let sum: Arc<dyn Op> = Arc::new(Sum);
        let mut b = TaskGraph::builder();
        let leaves: Vec<TaskId> =
            (0..4096).map(|i| b.add(key("inc", i), &inc, [Arg::Value(Value::I64(i as i64))]).unwrap()).collect();
        let root = b.add_tree(&leaves, 8, &sum, Group::new("sum"), Token(2)).unwrap();
        let graph = b.build().unwrap();
        let n = graph.len();
        assert_eq!(n, 4096 + 512 + 64 + 8 + 1);
        let (fused, outs) = fuse(graph, &[root]);
        assert_eq!(fused.len(), n);
        assert_eq!(fused.key(outs[0]).index(), &[4, 0]);
    }

    #[test]
    fn a_long_chain_fuses_without_deep_recursion() {
        let inc: Arc<dyn Op> = Arc::new(Inc);
        let (graph, outs) = chains(&inc, 1, 200_000);
        let (fused, new_outs) = fuse(graph, &outs);
        assert_eq!(fused.len(), 1);
        assert_eq!(run(&fused, &new_outs), vec![Value::I64(200_001)]);
    }

    /// An op that must keep its task's key (as a cluster's held value does).
    #[derive(Debug, Serialize, Deserialize)]
    struct Pinned;

    #[typetag::serde(name = "rask.test.pinned")]
    impl Op for Pinned {
        fn name(&self) -> &str {
            "pinned"
        }
        fn call(&self, _: Args) -> Result<Value, OpError> {
            Ok(Value::I64(10))
        }
        fn is_fusable(&self) -> bool {
            false
        }
    }

    #[test]
    fn tasks_of_unfusable_ops_keep_their_keys() {
        let pinned: Arc<dyn Op> = Arc::new(Pinned);
        let inc: Arc<dyn Op> = Arc::new(Inc);
        let mut b = TaskGraph::builder();
        let held = b.add(key("held", 0), &pinned, []).unwrap();
        let a = b.add(key("inc", 0), &inc, [Arg::Task(held)]).unwrap();
        let c = b.add(key("inc", 1), &inc, [Arg::Task(a)]).unwrap();
        let (fused, outs) = fuse(b.build().unwrap(), &[c]);
        assert_eq!(fused.len(), 2, "the two incs fuse, the pinned task stays");
        assert!(fused.ids().any(|t| fused.key(t) == key("held", 0)));
        assert_eq!(run(&fused, &outs), vec![Value::I64(12)]);
    }
}

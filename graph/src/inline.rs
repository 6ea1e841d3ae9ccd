//! Inline: cheap tasks over literals become literals.
//!
//! A task whose arguments are all literals and whose op is cheap ([`Op::is_cheap`]:
//! selections and packings such as `rask.getitem`, `rask.list`, `rask.identity`) is called
//! here, once, and its readers get the result as a literal argument instead of waiting for
//! a task. A task folded this way can make its readers all-literal in turn, so chains of
//! cheap selections over literals fold whole, in one pass in id (topological) order.
//!
//! Left alone: outputs (their keys must stay), results larger than [`INLINE_LIMIT`] bytes
//! (a literal is copied into each reader and shipped with it), and calls that fail or
//! panic (the error surfaces at compute time, naming the task's key).
//!
//! Not done: duplicating a cheap task that reads another *task* into each of its readers
//! (Dask inlines `getitem` of a task's output that way). In rask a cheap op's output
//! shares its input's payload (`getitem` of a list clones an `Arc`, not the element's
//! data), so there is no intermediate copy to avoid. Duplicating it would keep the whole
//! input (the list) alive until the last reader of any of its parts ran, instead of
//! releasing it once the selections ran, and would turn each reader into a generic fused
//! program that [`crate::fuse`] cannot combine further through [`Op::fuse_with`]. What it
//! would save, one task per selection, fusion already saves where a selection has one
//! reader (it becomes the first step of its reader's program).

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::op::{Args, Op};
use crate::task_graph::{ArgView, Rebuild, TaskGraph, TaskId};
use crate::value::Value;

/// The largest result, in bytes ([`Value::nbytes`]), that [`inline`] turns into a literal.
pub const INLINE_LIMIT: usize = 1024;

/// Evaluates cheap tasks of literals and hands their results to their readers as
/// literals; returns the new graph and the outputs' new ids. Outputs are never inlined.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::{inline, ops, Arg, ArgView, Group, Key, Op, TaskGraph, Token, Value};
/// let list: Arc<dyn Op> = Arc::new(ops::MakeList);
/// let second: Arc<dyn Op> = Arc::new(ops::GetItem { index: 1 });
/// let inc: Arc<dyn Op> = Arc::new(ops::Inc);
/// let k = |g: &str| Key::single(Group::new(g), Token(0));
/// let mut b = TaskGraph::builder();
/// let l = b.add(k("list"), &list, [Arg::Value(Value::I64(10)), Arg::Value(Value::I64(20))]).unwrap();
/// let x = b.add(k("getitem"), &second, [Arg::Task(l)]).unwrap();
/// let y = b.add(k("inc"), &inc, [Arg::Task(x)]).unwrap();
/// let (g, out) = inline(b.build().unwrap(), &[y]);
/// assert_eq!(g.keys(), &[k("inc")]);
/// assert_eq!(g.args(out[0]).collect::<Vec<_>>(), vec![ArgView::Literal(&Value::I64(20))]);
/// ```
pub fn inline(graph: TaskGraph, outputs: &[TaskId]) -> (TaskGraph, Vec<TaskId>) {
    let cheap: Vec<bool> = graph.op_table().iter().map(|op| op.is_cheap()).collect();
    if !cheap.contains(&true) {
        return (graph, outputs.to_vec());
    }
    let mut is_output = vec![false; graph.len()];
    for o in outputs {
        is_output[o.index()] = true;
    }
    let mut folded: Vec<Option<Value>> = vec![None; graph.len()];
    let mut any = false;
    for t in graph.ids() {
        if !cheap[graph.op_index(t)] || is_output[t.index()] {
            continue;
        }
        let args: Option<Args> = graph
            .args(t)
            .map(|a| match a {
                ArgView::Literal(v) => Some(v.clone()),
                ArgView::Task(d) => folded[d.index()].clone(),
            })
            .collect();
        if let Some(value) = args.and_then(|args| evaluate(graph.op(t).as_ref(), args)) {
            folded[t.index()] = Some(value);
            any = true;
        }
    }
    if !any {
        return (graph, outputs.to_vec());
    }
    let mut b = Rebuild::with_capacity(graph.len(), graph.total_args());
    let mut new_id = vec![TaskId(u32::MAX); graph.len()];
    for t in graph.ids().filter(|t| folded[t.index()].is_none()) {
        for a in graph.args(t) {
            match a {
                ArgView::Literal(v) => b.arg_value(v.clone()),
                ArgView::Task(d) => match &folded[d.index()] {
                    Some(v) => b.arg_value(v.clone()),
                    None => b.arg_task(new_id[d.index()]),
                },
            }
        }
        new_id[t.index()] = b.task(graph.key(t), graph.op(t));
    }
    (b.finish(), outputs.iter().map(|o| new_id[o.index()]).collect())
}

/// The op's result if the call succeeds and is small enough to copy into readers.
fn evaluate(op: &dyn Op, args: Args) -> Option<Value> {
    match catch_unwind(AssertUnwindSafe(|| op.call(args))) {
        Ok(Ok(value)) if value.nbytes() <= INLINE_LIMIT => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ops::{GetItem, Identity, Inc, MakeList, Sum};
    use crate::task_graph::Arg;
    use crate::{Group, Key, Token};

    fn key(group: &str, i: u32) -> Key {
        Key::new(Group::new(group), Token(1), &[i])
    }

    use crate::sample::evaluate as run;

    fn op(op: impl Op) -> Arc<dyn Op> {
        Arc::new(op)
    }

    /// A list of literals, selections from it (one of them through an identity), and
    /// non-cheap readers: the cheap tasks fold, the readers get literals.
    #[test]
    fn selections_of_literal_lists_fold_into_their_readers() {
        let (list, inc, sum, id) = (op(MakeList), op(Inc), op(Sum), op(Identity));
        let mut b = TaskGraph::builder();
        let l = b.add(key("list", 0), &list, (0..4).map(|i| Arg::Value(Value::I64(i * 10)))).unwrap();
        let items: Vec<TaskId> = (0..4)
            .map(|i| b.add(key("getitem", i as u32), &op(GetItem { index: i }), [Arg::Task(l)]).unwrap())
            .collect();
        let alias = b.add(key("identity", 0), &id, [Arg::Task(items[3])]).unwrap();
        let incs: Vec<TaskId> =
            (0..3).map(|i| b.add(key("inc", i as u32), &inc, [Arg::Task(items[i])]).unwrap()).collect();
        let total = b
            .add(key("sum", 0), &sum, incs.iter().map(|&t| Arg::Task(t)).chain([Arg::Task(alias), Arg::Task(l)]))
            .unwrap();
        let graph = b.build().unwrap();
        let expected = run(&graph, &[total]).unwrap();
        assert_eq!(graph.len(), 1 + 4 + 1 + 3 + 1);
        let (inlined, outs) = inline(graph, &[total]);
        assert_eq!(inlined.len(), 3 + 1, "the list, its selections and the identity fold");
        assert_eq!(run(&inlined, &outs).unwrap(), expected);
        assert_eq!(inlined.key(outs[0]), key("sum", 0));
        assert_eq!(inlined.dependencies(outs[0]).count(), 3);
    }

    #[test]
    fn outputs_large_results_failures_and_costly_ops_stay() {
        let (list, inc) = (op(MakeList), op(Inc));
        let mut b = TaskGraph::builder();
        let small = b.add(key("list", 0), &list, [Arg::Value(Value::I64(1))]).unwrap();
        let big = b.add(key("list", 1), &list, (0..200).map(|i| Arg::Value(Value::I64(i)))).unwrap();
        let bad = b.add(key("getitem", 0), &op(GetItem { index: 5 }), [Arg::Task(small)]).unwrap();
        let costly = b.add(key("inc", 0), &inc, [Arg::Value(Value::I64(1))]).unwrap();
        let graph = b.build().unwrap();
        let outs = [small, big, bad, costly];
        let (inlined, new_outs) = inline(graph.clone(), &outs);
        assert_eq!(inlined.keys(), graph.keys(), "outputs stay");
        assert_eq!(new_outs, outs);
        let outs = [big, bad, costly];
        let (inlined, new_outs) = inline(graph, &outs);
        assert_eq!(inlined.keys(), &[key("list", 1), key("getitem", 0), key("inc", 0)]);
        let err = run(&inlined, &new_outs).unwrap_err();
        assert!(err.starts_with(&key("getitem", 0).to_string()) && err.contains("out of range"), "{err}");
    }

    /// A cheap op that panics on its input is left to fail at compute time.
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct Fragile;

    #[typetag::serde(name = "rask.test.fragile")]
    impl Op for Fragile {
        fn name(&self) -> &str {
            "fragile"
        }
        fn call(&self, _: Args) -> Result<Value, crate::OpError> {
            panic!("fragile")
        }
        fn is_cheap(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_panicking_cheap_call_is_left_alone() {
        let (fragile, inc) = (op(Fragile), op(Inc));
        let mut b = TaskGraph::builder();
        let f = b.add(key("fragile", 0), &fragile, [Arg::Value(Value::I64(1))]).unwrap();
        let out = b.add(key("inc", 0), &inc, [Arg::Task(f)]).unwrap();
        let (inlined, _) = inline(b.build().unwrap(), &[out]);
        assert_eq!(inlined.len(), 2);
    }

    #[test]
    fn graphs_without_cheap_ops_are_returned_as_they_are() {
        let inc = op(Inc);
        let mut b = TaskGraph::builder();
        let a = b.add(key("inc", 0), &inc, [Arg::Value(Value::I64(1))]).unwrap();
        let graph = b.build().unwrap();
        let (inlined, outs) = inline(graph, &[a]);
        assert_eq!((inlined.len(), outs), (1, vec![a]));
    }
}

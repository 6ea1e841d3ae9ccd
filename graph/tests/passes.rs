//! The passes against independent computations on random DAGs.

use std::collections::HashSet;
use std::sync::Arc;

use proptest::prelude::*;
use rask_graph::{
    Arg, Group, Key, Op, OptimizeOptions, TaskGraph, TaskId, Token, Value, cull, fuse, inline, ops, optimize, order,
};

fn key(i: usize) -> Key {
    Key::new(Group::new("node"), Token(3), &[i as u32])
}

/// Task i reads `deps[i]` (all lower); built in a shuffled insertion order through keys.
fn build(deps: &[Vec<usize>], insertion: &[usize]) -> TaskGraph {
    let op: Arc<dyn Op> = Arc::new(ops::Sum);
    let mut b = TaskGraph::builder();
    for &i in insertion {
        let args = std::iter::once(Arg::Value(Value::I64(i as i64))).chain(deps[i].iter().map(|&d| Arg::Key(key(d))));
        b.add(key(i), &op, args).unwrap();
    }
    b.build().unwrap()
}

/// Everything the outputs reach, by a plain traversal of the data.
fn reachable(deps: &[Vec<usize>], outputs: &[usize]) -> HashSet<Key> {
    let mut seen = HashSet::new();
    let mut stack: Vec<usize> = outputs.to_vec();
    while let Some(t) = stack.pop() {
        if seen.insert(key(t)) {
            stack.extend(&deps[t]);
        }
    }
    seen
}

fn assert_topological(graph: &TaskGraph) {
    for t in graph.ids() {
        for d in graph.dependencies(t) {
            assert!(d < t, "{} reads {} which comes later", graph.key(t), graph.key(d));
        }
    }
}

/// The dependencies of each task, by key (what a pass must preserve).
fn edges(graph: &TaskGraph) -> HashSet<(Key, Vec<Key>)> {
    graph.ids().map(|t| (graph.key(t), graph.dependencies(t).map(|d| graph.key(d)).collect())).collect()
}

fn dag() -> impl Strategy<Value = (Vec<Vec<usize>>, Vec<usize>, Vec<usize>)> {
    (1usize..200).prop_flat_map(|n| {
        (
            proptest::collection::vec(proptest::collection::vec(any::<prop::sample::Index>(), 0..4), n),
            proptest::collection::vec(any::<prop::sample::Index>(), 1..4),
            Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
        )
            .prop_map(|(raw, outs, insertion)| {
                let n = raw.len();
                let deps = raw
                    .iter()
                    .enumerate()
                    .map(|(i, ds)| if i == 0 { vec![] } else { ds.iter().map(|d| d.index(i)).collect() })
                    .collect();
                (deps, outs.iter().map(|o| o.index(n)).collect(), insertion)
            })
    })
}

proptest! {
    #[test]
    fn cull_keeps_exactly_what_the_outputs_reach((deps, outputs, insertion) in dag()) {
        let graph = build(&deps, &insertion);
        assert_topological(&graph);
        let ids = graph.find(&outputs.iter().map(|&o| key(o)).collect::<Vec<_>>()).unwrap();
        let before = edges(&graph);
        let (culled, new_ids) = cull(graph, &ids);
        let kept: HashSet<Key> = culled.keys().iter().copied().collect();
        prop_assert_eq!(kept, reachable(&deps, &outputs));
        prop_assert_eq!(culled.len(), culled.keys().iter().collect::<HashSet<_>>().len());
        assert_topological(&culled);
        for (o, id) in outputs.iter().zip(&new_ids) {
            prop_assert_eq!(culled.key(*id), key(*o));
        }
        prop_assert!(edges(&culled).is_subset(&before));
    }

    #[test]
    fn order_is_a_topological_permutation((deps, outputs, insertion) in dag()) {
        let graph = build(&deps, &insertion);
        let ids = graph.find(&outputs.iter().map(|&o| key(o)).collect::<Vec<_>>()).unwrap();
        let before = edges(&graph);
        let literals: HashSet<(Key, i64)> = graph.ids().map(|t| (graph.key(t), literal(&graph, t))).collect();
        let (ordered, new_ids) = order(graph, &ids);
        assert_topological(&ordered);
        prop_assert_eq!(edges(&ordered), before);
        let after: HashSet<(Key, i64)> = ordered.ids().map(|t| (ordered.key(t), literal(&ordered, t))).collect();
        prop_assert_eq!(after, literals);
        for (o, id) in outputs.iter().zip(&new_ids) {
            prop_assert_eq!(ordered.key(*id), key(*o));
        }
        // Everything an output needs comes before anything no output needs.
        let needed = reachable(&deps, &outputs);
        let first_unneeded = ordered.keys().iter().position(|k| !needed.contains(k)).unwrap_or(ordered.len());
        prop_assert!(ordered.keys()[first_unneeded..].iter().all(|k| !needed.contains(k)));
        let passes = OptimizeOptions { fuse: false, ..OptimizeOptions::default() };
        let (optimized, _) = optimize(ordered, new_ids, passes);
        prop_assert_eq!(optimized.len(), needed.len());
    }
}

fn literal(graph: &TaskGraph, t: TaskId) -> i64 {
    match graph.args(t).next() {
        Some(rask_graph::ArgView::Literal(Value::I64(i))) => *i,
        other => panic!("expected the literal first, got {other:?}"),
    }
}

/// Task i applies `kinds[i]` (sum, inc of its first dependency, or identity of it) to a
/// literal and its dependencies: a graph with chains, shared tasks and identities.
fn build_mixed(deps: &[Vec<usize>], kinds: &[u8]) -> TaskGraph {
    let (sum, inc, id): (Arc<dyn Op>, Arc<dyn Op>, Arc<dyn Op>) =
        (Arc::new(ops::Sum), Arc::new(ops::Inc), Arc::new(ops::Identity));
    let mut b = TaskGraph::builder();
    for (i, ds) in deps.iter().enumerate() {
        let result = match (kinds[i] % 3, ds.first()) {
            (1, Some(&d)) => b.add(key(i), &inc, [Arg::Task(TaskId(d as u32))]),
            (2, Some(&d)) => b.add(key(i), &id, [Arg::Task(TaskId(d as u32))]),
            _ => {
                let args = std::iter::once(Arg::Value(Value::I64(i as i64)))
                    .chain(ds.iter().map(|&d| Arg::Task(TaskId(d as u32))));
                b.add(key(i), &sum, args)
            }
        };
        result.unwrap();
    }
    b.build().unwrap()
}

/// The outputs' values, on the synchronous scheduler.
fn run(graph: &TaskGraph, outputs: &[TaskId]) -> Vec<Value> {
    rask_scheduler::Scheduler::execute(&rask_scheduler::SyncScheduler, graph, outputs).unwrap()
}

fn mixed_dag() -> impl Strategy<Value = (Vec<Vec<usize>>, Vec<usize>, Vec<u8>)> {
    dag().prop_flat_map(|(deps, outputs, _)| {
        let n = deps.len();
        (Just(deps), Just(outputs), proptest::collection::vec(any::<u8>(), n))
    })
}

proptest! {
    #[test]
    fn fuse_keeps_results_and_output_keys((deps, outputs, kinds) in mixed_dag()) {
        let graph = build_mixed(&deps, &kinds);
        let ids: Vec<TaskId> = outputs.iter().map(|&o| TaskId(o as u32)).collect();
        let expected = run(&graph, &ids);
        let n = graph.len();
        let (fused, new_ids) = fuse(graph, &ids);
        assert_topological(&fused);
        prop_assert!(fused.len() <= n);
        prop_assert_eq!(run(&fused, &new_ids), expected.clone());
        for (o, id) in outputs.iter().zip(&new_ids) {
            prop_assert_eq!(fused.key(*id), key(*o));
        }
        fused.check_portable().unwrap();
        // Through the whole pipeline, and fusing again changes nothing.
        let (optimized, opt_ids) = optimize(build_mixed(&deps, &kinds), ids, OptimizeOptions::default());
        prop_assert_eq!(run(&optimized, &opt_ids), expected);
        let len = optimized.len();
        let (again, _) = fuse(optimized, &opt_ids);
        prop_assert_eq!(again.len(), len);
    }
}

/// Task i is, by `kinds[i]`: a sum of a literal and its dependencies, inc or identity of
/// its first dependency, a list of a literal and its dependencies, a list of literals
/// only, the first element of a list dependency, or the last of a literal list. Numbers
/// and lists mix as the ops allow (a sum adds up nested lists).
fn build_cheap(deps: &[Vec<usize>], kinds: &[u8]) -> TaskGraph {
    let (sum, inc, id, list) = (
        Arc::new(ops::Sum) as Arc<dyn Op>,
        Arc::new(ops::Inc) as Arc<dyn Op>,
        Arc::new(ops::Identity) as Arc<dyn Op>,
        Arc::new(ops::MakeList) as Arc<dyn Op>,
    );
    let (first, last): (Arc<dyn Op>, Arc<dyn Op>) =
        (Arc::new(ops::GetItem { index: 0 }), Arc::new(ops::GetItem { index: -1 }));
    let mut is_list = vec![false; deps.len()];
    let mut b = TaskGraph::builder();
    for (i, ds) in deps.iter().enumerate() {
        let literal = Value::I64(i as i64);
        let task_args = || ds.iter().map(|&d| Arg::Task(TaskId(d as u32)));
        let (op, args, list_out): (&Arc<dyn Op>, Vec<Arg>, bool) = match (kinds[i] % 7, ds.first()) {
            (1, Some(&d)) if !is_list[d] => (&inc, vec![Arg::Task(TaskId(d as u32))], false),
            (2, Some(&d)) => (&id, vec![Arg::Task(TaskId(d as u32))], is_list[d]),
            (3, _) => (&list, std::iter::once(Arg::Value(literal)).chain(task_args()).collect(), true),
            (4, Some(&d)) if is_list[d] => (&first, vec![Arg::Task(TaskId(d as u32))], false),
            (5, _) => (&list, vec![Arg::Value(literal), Arg::Value(Value::I64(1))], true),
            (6, _) => {
                let items = Value::List(vec![Value::I64(2), literal].into());
                (&last, vec![Arg::Value(items)], false)
            }
            _ => (&sum, std::iter::once(Arg::Value(literal)).chain(task_args()).collect(), false),
        };
        is_list[i] = list_out;
        b.add(key(i), op, args).unwrap();
    }
    b.build().unwrap()
}

proptest! {
    #[test]
    fn inline_keeps_results_and_output_keys((deps, outputs, kinds) in mixed_dag()) {
        let kinds: Vec<u8> = kinds.iter().map(|k| k % 7).collect();
        let graph = build_cheap(&deps, &kinds);
        let ids: Vec<TaskId> = outputs.iter().map(|&o| TaskId(o as u32)).collect();
        let expected = run(&graph, &ids);
        let n = graph.len();
        let (inlined, new_ids) = inline(graph, &ids);
        assert_topological(&inlined);
        prop_assert!(inlined.len() <= n);
        prop_assert_eq!(run(&inlined, &new_ids), expected.clone());
        for (o, id) in outputs.iter().zip(&new_ids) {
            prop_assert_eq!(inlined.key(*id), key(*o));
        }
        // A cheap task of literals is left only as an output, a large result or a failure.
        for t in inlined.ids().filter(|t| !new_ids.contains(t) && inlined.op(*t).is_cheap()) {
            let args: Option<rask_graph::Args> = inlined
                .args(t)
                .map(|a| match a {
                    rask_graph::ArgView::Literal(v) => Some(v.clone()),
                    rask_graph::ArgView::Task(_) => None,
                })
                .collect();
            if let Some(args) = args {
                let small = inlined.op(t).call(args).is_ok_and(|v| v.nbytes() <= rask_graph::INLINE_LIMIT);
                prop_assert!(!small, "{} was left", inlined.key(t));
            }
        }
        // The whole pipeline, with and without the pass.
        let no_inline = OptimizeOptions { inline: false, ..OptimizeOptions::default() };
        let (with, with_ids) = optimize(build_cheap(&deps, &kinds), ids.clone(), OptimizeOptions::default());
        let (without, without_ids) = optimize(build_cheap(&deps, &kinds), ids, no_inline);
        prop_assert_eq!(run(&with, &with_ids), expected.clone());
        prop_assert_eq!(run(&without, &without_ids), expected);
        prop_assert!(with.len() <= without.len());
    }
}

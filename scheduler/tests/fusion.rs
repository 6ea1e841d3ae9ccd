//! Fused graphs give the same results as unfused ones on every executor.

use std::sync::Arc;

use proptest::prelude::*;
use rask_graph::{Arg, Group, Key, Op, TaskGraph, TaskId, Token, Value, fuse, ops};
use rask_scheduler::{Scheduler, SyncScheduler, ThreadsScheduler};

/// Task i is a sum of a literal and its dependencies, an inc or an identity of its first
/// dependency, by `kinds[i]`: chains, shared tasks and aliases.
fn build(deps: &[Vec<usize>], kinds: &[u8]) -> TaskGraph {
    let (sum, inc, id): (Arc<dyn Op>, Arc<dyn Op>, Arc<dyn Op>) =
        (Arc::new(ops::Sum), Arc::new(ops::Inc), Arc::new(ops::Identity));
    let mut b = TaskGraph::builder();
    for (i, ds) in deps.iter().enumerate() {
        let key = Key::new(Group::new("t"), Token(5), &[i as u32]);
        match (kinds[i] % 3, ds.first()) {
            (1, Some(&d)) => b.add(key, &inc, [Arg::Task(TaskId(d as u32))]),
            (2, Some(&d)) => b.add(key, &id, [Arg::Task(TaskId(d as u32))]),
            _ => {
                let args = std::iter::once(Arg::Value(Value::I64(i as i64)))
                    .chain(ds.iter().map(|&d| Arg::Task(TaskId(d as u32))));
                b.add(key, &sum, args)
            }
        }
        .unwrap();
    }
    b.build().unwrap()
}

fn dag() -> impl Strategy<Value = (Vec<Vec<usize>>, Vec<u8>, Vec<usize>)> {
    (1usize..120).prop_flat_map(|n| {
        (
            proptest::collection::vec(proptest::collection::vec(any::<prop::sample::Index>(), 0..3), n),
            proptest::collection::vec(any::<u8>(), n),
            proptest::collection::vec(any::<prop::sample::Index>(), 1..4),
        )
            .prop_map(move |(raw, kinds, outs)| {
                let deps = raw
                    .iter()
                    .enumerate()
                    .map(|(i, ds)| if i == 0 { vec![] } else { ds.iter().map(|d| d.index(i)).collect() })
                    .collect();
                (deps, kinds, outs.iter().map(|o| o.index(n)).collect())
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn fused_graphs_compute_the_same_on_sync_and_threads((deps, kinds, outputs) in dag()) {
        let graph = build(&deps, &kinds);
        let ids: Vec<TaskId> = outputs.iter().map(|&o| TaskId(o as u32)).collect();
        let schedulers: Vec<Box<dyn Scheduler>> =
            vec![Box::new(SyncScheduler), Box::new(ThreadsScheduler::new(2)), Box::new(ThreadsScheduler::new(4))];
        let expected = SyncScheduler.execute(&graph, &ids).unwrap();
        let (fused, fused_ids) = fuse(graph, &ids);
        for s in &schedulers {
            prop_assert_eq!(s.execute(&fused, &fused_ids).unwrap(), expected.clone());
        }
    }
}

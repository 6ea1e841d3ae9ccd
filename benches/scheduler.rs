//! Criterion benches of the scheduler's hot path: building, ordering and running a
//! W1-shaped tree (inc leaves, fan-in-8 sums) on the sync and threaded executors, and the
//! fixed cost of one compute of a tiny graph (1 and 10 tasks), which a loop of small
//! computes pays every time.

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rask::graph::{Arg, Group, Key, Op, TaskGraph, TaskId, Token, Value, ops, order};
use rask::scheduler::{Scheduler, SyncScheduler, ThreadsScheduler};

fn tree(n: usize) -> (TaskGraph, TaskId) {
    rask::graph::sample::inc_sum_tree(n, 8)
}

fn bench(c: &mut Criterion) {
    let n = 10_000;
    let (graph, root) = tree(n);
    let tasks = graph.len() as u64;
    let (graph, outputs) = order(graph, &[root]);

    let mut group = c.benchmark_group("w1_tree_10k");
    group.throughput(Throughput::Elements(tasks));
    group.bench_function("build", |b| b.iter(|| tree(n)));
    group.bench_function("order", |b| b.iter(|| order(graph.clone(), &outputs)));
    let schedulers: Vec<(String, Box<dyn Scheduler>)> = vec![
        ("sync".into(), Box::new(SyncScheduler)),
        ("threads1".into(), Box::new(ThreadsScheduler::new(1))),
        ("threads2".into(), Box::new(ThreadsScheduler::new(2))),
    ];
    for (name, scheduler) in &schedulers {
        group.bench_with_input(BenchmarkId::new("execute", name), &graph, |b, g| {
            b.iter(|| scheduler.execute(g, &outputs).unwrap())
        });
    }
    group.finish();
}

/// One `inc` task.
fn one_task() -> (TaskGraph, TaskId) {
    let inc: Arc<dyn Op> = Arc::new(ops::Inc);
    let mut b = TaskGraph::builder();
    let t = b.add(Key::single(Group::new("inc"), Token(1)), &inc, [Arg::Value(Value::I64(1))]).expect("one fresh key");
    (b.build().expect("one task has no cycle"), t)
}

fn per_compute(c: &mut Criterion) {
    let mut group = c.benchmark_group("per_compute");
    let graphs = [("1_task", one_task()), ("10_tasks", rask::graph::sample::inc_sum_tree(9, 9))];
    let schedulers: Vec<(String, Box<dyn Scheduler>)> =
        vec![("sync".into(), Box::new(SyncScheduler)), ("threads2".into(), Box::new(ThreadsScheduler::new(2)))];
    for (graph_name, (graph, root)) in &graphs {
        for (name, scheduler) in &schedulers {
            group.bench_with_input(BenchmarkId::new(*graph_name, name), graph, |b, g| {
                b.iter(|| scheduler.execute(g, &[*root]).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench, per_compute);
criterion_main!(benches);

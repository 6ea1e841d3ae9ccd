//! Criterion benches of the scheduler's hot path: building, ordering and running a
//! W1-shaped tree (inc leaves, fan-in-8 sums) on the sync and threaded executors.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rask::graph::{TaskGraph, TaskId, order};
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

criterion_group!(benches, bench);
criterion_main!(benches);

//! The threaded scheduler's pooled helper threads: repeated, concurrent and nested
//! computes, and a panicking task, all on helpers kept between computes.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use rask_graph::sample::inc_sum_tree;
use rask_graph::{Arg, FnOp, Group, Key, Op, OpError, TaskGraph, TaskId, Token, Value, ops};
use rask_scheduler::{Scheduler, SchedulerError, ThreadsScheduler};

/// The value of `inc_sum_tree(n, _)`: the sum of `i + 1` for `i < n`.
fn tree_sum(n: usize) -> i64 {
    (n * (n + 1) / 2) as i64
}

/// Runs `f` on another thread so that a hang fails the test instead of blocking it.
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(Duration::from_secs(60)).expect("the computes ended instead of hanging")
}

#[test]
fn two_threads_computing_at_once_both_get_correct_results() {
    let computes = |seed: usize| {
        move || {
            let scheduler = ThreadsScheduler::new(2);
            for i in 0..300 {
                let n = 1 + (i * 7 + seed) % 50;
                let (graph, root) = inc_sum_tree(n, 4);
                assert_eq!(scheduler.execute(&graph, &[root]).unwrap(), vec![Value::I64(tree_sum(n))]);
            }
        }
    };
    bounded(move || {
        let a = std::thread::spawn(computes(0));
        let b = std::thread::spawn(computes(3));
        a.join().expect("first thread's computes");
        b.join().expect("second thread's computes");
    });
}

/// Tasks that each compute a small tree of `n` leaves on `threads(2)` from inside the run.
fn nesting_graph(tasks: u32) -> (TaskGraph, TaskId) {
    let nested: Arc<dyn Op> = Arc::new(FnOp::new("nested", |args| {
        let n = match args[0] {
            Value::I64(n) => n as usize,
            ref other => return Err(OpError::new(format!("nested: bad size {other:?}"))),
        };
        let (graph, root) = inc_sum_tree(n, 4);
        let mut out = ThreadsScheduler::new(2).execute(&graph, &[root]).map_err(|e| OpError::new(e.to_string()))?;
        out.pop().ok_or_else(|| OpError::new("nested: no output"))
    }));
    let sum: Arc<dyn Op> = Arc::new(ops::Sum);
    let mut b = TaskGraph::builder();
    let parts: Vec<Arg> = (0..tasks)
        .map(|i| {
            let key = Key::new(Group::new("nested"), Token(5), &[i]);
            Arg::Task(b.add(key, &nested, [Arg::Value(Value::I64(10 + i as i64))]).unwrap())
        })
        .collect();
    let total = b.add(Key::single(Group::new("total"), Token(6)), &sum, parts).unwrap();
    (b.build().unwrap(), total)
}

#[test]
fn a_compute_from_inside_a_task_completes() {
    let (graph, total) = nesting_graph(16);
    let want: i64 = (0..16).map(|i| tree_sum(10 + i)).sum();
    for threads in [2, 3] {
        let graph = graph.clone();
        let got = bounded(move || ThreadsScheduler::new(threads).execute(&graph, &[total]));
        assert_eq!(got.unwrap(), vec![Value::I64(want)], "threads({threads})");
    }
}

#[test]
fn a_panicking_task_stops_the_run_and_the_pool_serves_the_next_compute() {
    let boom: Arc<dyn Op> = Arc::new(FnOp::new("boom", |args| match args[0] {
        Value::I64(13) => panic!("boom at 13"),
        Value::I64(i) => Ok(Value::I64(i)),
        ref other => Err(OpError::new(format!("boom: bad input {other:?}"))),
    }));
    let sum: Arc<dyn Op> = Arc::new(ops::Sum);
    let mut b = TaskGraph::builder();
    let leaves: Vec<Arg> = (0..64u32)
        .map(|i| {
            let key = Key::new(Group::new("boom"), Token(7), &[i]);
            Arg::Task(b.add(key, &boom, [Arg::Value(Value::I64(i as i64))]).unwrap())
        })
        .collect();
    let total = b.add(Key::single(Group::new("total"), Token(8)), &sum, leaves).unwrap();
    let graph = b.build().unwrap();
    let bad_key = graph.key(TaskId(13));
    bounded(move || {
        let scheduler = ThreadsScheduler::new(4);
        for _ in 0..20 {
            let err = scheduler.execute(&graph, &[total]).unwrap_err();
            assert_eq!(
                err,
                SchedulerError::TaskPanicked { key: bad_key, op: "boom".into(), message: "boom at 13".into() }
            );
            let (tree, root) = inc_sum_tree(100, 8);
            assert_eq!(scheduler.execute(&tree, &[root]).unwrap(), vec![Value::I64(tree_sum(100))]);
        }
    });
}

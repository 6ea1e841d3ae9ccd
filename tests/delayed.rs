//! The delayed API end to end, on every local scheduler, against direct computation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rask::delayed::{DelayedOp, Input, collect};
use rask::graph::ops;
use rask::prelude::*;
use rask::scheduler::SchedulerError;

fn all_options() -> Vec<ComputeOptions> {
    let mut out = Vec::new();
    for optimize in [true, false] {
        out.push(ComputeOptions::default().scheduler(SyncScheduler).optimize(optimize));
        out.push(ComputeOptions::default().scheduler(ThreadsScheduler::new(1)).optimize(optimize));
        out.push(ComputeOptions::default().scheduler(ThreadsScheduler::new(3)).optimize(optimize));
    }
    out
}

#[test]
fn tree_sum_matches_the_formula() {
    let inc = delayed_fn("inc", |x: i64| x + 1);
    let total = delayed_fn("total", |xs: Vec<i64>| xs.into_iter().sum::<i64>());
    let n = 20_000i64;
    let mut level: Vec<Delayed<i64>> = (0..n).map(|i| inc.call(i)).collect();
    while level.len() > 1 {
        level = level.chunks(8).map(|c| total.call_list(c)).collect();
    }
    for options in all_options() {
        assert_eq!(level[0].compute_with(&options).unwrap(), n * (n + 1) / 2);
    }
}

#[test]
fn shared_subexpressions_run_once_per_compute() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let expensive = delayed_fn("expensive", move |x: i64| {
        counter.fetch_add(1, Ordering::SeqCst);
        x * 10
    });
    let add = delayed_fn("add", |a: i64, b: i64| a + b);
    let base = expensive.call(4);
    // A diamond: both branches read `base`.
    let left = base.map(|x| x + 1);
    let right = base.map(|x| x * 2);
    let top = add.call(&left, &right);
    for options in all_options() {
        calls.store(0, Ordering::SeqCst);
        let (t, l, b) = rask::compute_with(&(&top, &left, &base), &options).unwrap();
        assert_eq!((t, l, b), (41 + 80, 41, 40));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "base ran once");
    }
}

#[test]
fn pure_op_calls_share_keys_across_separately_built_expressions() {
    let inc = DelayedOp::<i64>::new(ops::Inc);
    let a = inc.call([Input::value(1i64)]);
    let b = inc.call([Input::value(1i64)]);
    let c = inc.call([Input::from(&a)]);
    assert_eq!(a.key(), b.key());
    assert_eq!(rask::compute(&vec![a, b, c]).unwrap(), vec![2, 2, 3]);
}

#[test]
fn literals_mixed_types_and_collections() {
    let label = delayed_fn("label", |name: String, n: i64, scale: f64| format!("{name}:{}", n as f64 * scale));
    let n = delayed(3i64).map(|x| x * 2);
    let s = label.call("x".to_string(), &n, 0.5);
    assert_eq!(s.compute().unwrap(), "x:3");
    let pairs = collect((0..5i64).map(|i| delayed(i).zip(&delayed(i).map(|x| x * x))));
    assert_eq!(pairs.compute().unwrap(), vec![(0, 0), (1, 1), (2, 4), (3, 9), (4, 16)]);
    assert_eq!(delayed(7i64).compute().unwrap(), 7);
    let (x, y) = rask::compute(&(&delayed(1i64), &n)).unwrap();
    assert_eq!((x, y), (1, 6));
}

#[test]
fn errors_and_panics_name_the_task() {
    let fails = delayed_fn("parse", |s: String| s.parse::<i64>());
    let bad = fails.call("twelve".to_string());
    let key = bad.key().unwrap();
    let later = bad.map(|x| x + 1);
    for options in all_options() {
        match later.compute_with(&options) {
            Err(rask::Error::Scheduler(SchedulerError::TaskFailed { key: k, op, message })) => {
                assert_eq!(k, key);
                assert_eq!(op, "parse");
                assert!(message.contains("invalid digit"), "{message}");
            }
            other => panic!("expected the parse failure, got {other:?}"),
        }
    }
    let boom = delayed(1i64).map(|x: i64| -> i64 {
        if x == 1 { panic!("exploded on {x}") } else { x }
    });
    for options in all_options() {
        let err = boom.compute_with(&options).unwrap_err().to_string();
        assert!(err.contains("panicked") && err.contains("exploded on 1"), "{err}");
        assert!(err.contains(&boom.key().unwrap().to_string()), "{err}");
    }
}

#[test]
fn long_chains_neither_overflow_nor_leak_the_stack() {
    let inc = delayed_fn("inc", |x: i64| x + 1);
    let mut x = delayed(0i64).map(|x| x);
    for _ in 0..300_000 {
        x = inc.call(&x);
    }
    assert_eq!(x.compute_with(&ComputeOptions::default().scheduler(ThreadsScheduler::new(2))).unwrap(), 300_000);
    drop(x);
}

#[test]
fn to_dot_and_visualize_render_the_graph() {
    let inc = delayed_fn("inc", |x: i64| x + 1);
    let add = delayed_fn("add", |a: i64, b: i64| a + b);
    let y = add.call(inc.call(1), inc.call(2));
    let dot = y.to_dot().unwrap();
    assert_eq!(dot.matches("->").count(), 2, "{dot}");
    assert_eq!(dot.matches("[label=").count(), 3, "{dot}");
    // Pictures show the tasks as built: a chain is not drawn fused.
    let chain = inc.call(inc.call(1)).to_dot().unwrap();
    assert_eq!(chain.matches("[label=").count(), 2, "{chain}");
    let path = std::env::temp_dir().join(format!("rask-visualize-{}.dot", std::process::id()));
    y.visualize(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), dot);
    std::fs::remove_file(&path).unwrap();
    let err = y.visualize("/nonexistent-dir/x.dot").unwrap_err().to_string();
    assert!(err.contains("/nonexistent-dir/x.dot"), "{err}");
}

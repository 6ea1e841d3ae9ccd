//! The executors against direct computations: chains, fan-outs, diamonds, random DAGs;
//! errors and panics; memory held during a large run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use rask_graph::{Arg, FnOp, Group, Key, Op, OpError, TaskGraph, TaskId, Token, Value, cull, ops, order};
use rask_scheduler::{Scheduler, SchedulerError, SyncScheduler, ThreadsScheduler};

const MODULUS: i64 = 1_000_003;

/// `(seed + 31 * sum(inputs)) mod p`: order-sensitive enough to catch a wrong argument.
fn mix_op() -> Arc<dyn Op> {
    Arc::new(FnOp::new("mix", |args| {
        let mut acc = 0i64;
        let mut iter = args.iter();
        let seed = match iter.next() {
            Some(Value::I64(s)) => *s,
            other => return Err(OpError::new(format!("mix: bad seed {other:?}"))),
        };
        for (pos, v) in iter.enumerate() {
            match v {
                Value::I64(x) => acc = (acc + x * (pos as i64 + 1)) % MODULUS,
                other => return Err(OpError::new(format!("mix: bad input {other:?}"))),
            }
        }
        Ok(Value::I64((seed + 31 * acc) % MODULUS))
    }))
}

/// A DAG as plain data: task i reads the tasks in `deps[i]` (all lower than i).
fn build(deps: &[Vec<usize>]) -> TaskGraph {
    let op = mix_op();
    let mut b = TaskGraph::builder();
    for (i, ds) in deps.iter().enumerate() {
        let args =
            std::iter::once(Arg::Value(Value::I64(i as i64))).chain(ds.iter().map(|&d| Arg::Task(TaskId(d as u32))));
        b.add(Key::new(Group::new("mix"), Token(9), &[i as u32]), &op, args).unwrap();
    }
    b.build().unwrap()
}

/// The same computation, directly.
fn direct(deps: &[Vec<usize>]) -> Vec<i64> {
    let mut out: Vec<i64> = Vec::with_capacity(deps.len());
    for (i, ds) in deps.iter().enumerate() {
        let acc = ds.iter().enumerate().fold(0i64, |acc, (pos, &d)| (acc + out[d] * (pos as i64 + 1)) % MODULUS);
        out.push((i as i64 + 31 * acc) % MODULUS);
    }
    out
}

fn schedulers() -> Vec<Box<dyn Scheduler>> {
    vec![
        Box::new(SyncScheduler),
        Box::new(ThreadsScheduler::new(1)),
        Box::new(ThreadsScheduler::new(2)),
        Box::new(ThreadsScheduler::new(4)),
    ]
}

/// Runs with and without the optimizer passes on every scheduler; checks every output.
fn check(deps: &[Vec<usize>], outputs: &[usize]) {
    let expected = direct(deps);
    let graph = build(deps);
    let ids: Vec<TaskId> = outputs.iter().map(|&o| TaskId(o as u32)).collect();
    let (culled, culled_ids) = cull(graph.clone(), &ids);
    let (ordered, ordered_ids) = order(culled, &culled_ids);
    for scheduler in schedulers() {
        for (g, ids) in [(&graph, &ids), (&ordered, &ordered_ids)] {
            let got = scheduler.execute(g, ids).unwrap();
            let want: Vec<Value> = outputs.iter().map(|&o| Value::I64(expected[o])).collect();
            assert_eq!(got, want, "{}", scheduler.name());
        }
    }
}

#[test]
fn chain() {
    let deps: Vec<Vec<usize>> = (0..5_000).map(|i| if i == 0 { vec![] } else { vec![i - 1] }).collect();
    check(&deps, &[4_999, 2_500]);
}

#[test]
fn wide_fan_out_and_fan_in() {
    let mut deps: Vec<Vec<usize>> = vec![vec![]];
    deps.extend((1..=10_000).map(|_| vec![0]));
    deps.push((1..=10_000).collect());
    check(&deps, &[10_001]);
}

#[test]
fn diamonds_and_repeated_arguments() {
    // 0 -> (1, 2) -> 3, repeated as a chain of diamonds; 3 also reads 1 twice.
    let mut deps: Vec<Vec<usize>> = vec![vec![]];
    for _ in 0..500 {
        let top = deps.len() - 1;
        deps.push(vec![top]);
        deps.push(vec![top]);
        deps.push(vec![top + 1, top + 2, top + 1]);
    }
    check(&deps, &[deps.len() - 1, 1]);
}

#[test]
fn an_output_id_outside_the_graph_is_an_error() {
    let deps = vec![vec![], vec![0]];
    for s in schedulers() {
        let err = s.execute(&build(&deps), &[TaskId(7)]).unwrap_err();
        assert!(err.to_string().contains("task id 7 is not in the graph (it has 2 tasks)"), "{}: {err}", s.name());
    }
}

#[test]
fn a_graph_with_no_requested_outputs_returns_nothing() {
    let deps = vec![vec![], vec![0]];
    for s in schedulers() {
        assert!(s.execute(&build(&deps), &[]).unwrap().is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_dags(
        shape in (1usize..300).prop_flat_map(|n| (
            proptest::collection::vec(proptest::collection::vec(any::<prop::sample::Index>(), 0..5), n),
            proptest::collection::vec(any::<prop::sample::Index>(), 1..4),
        ))
    ) {
        let (raw, outs) = shape;
        let deps: Vec<Vec<usize>> = raw.iter().enumerate()
            .map(|(i, ds)| if i == 0 { vec![] } else { ds.iter().map(|d| d.index(i)).collect() })
            .collect();
        let outputs: Vec<usize> = outs.iter().map(|o| o.index(deps.len())).collect();
        check(&deps, &outputs);
    }
}

/// Leaves that count their calls, one of which fails or panics.
fn failing_graph(calls: Arc<AtomicUsize>, bad: u32, panic: bool) -> (TaskGraph, TaskId) {
    let leaf: Arc<dyn Op> = Arc::new(FnOp::new("leaf", move |args| {
        calls.fetch_add(1, Ordering::SeqCst);
        let i = match args[0] {
            Value::I64(i) => i,
            _ => unreachable!(),
        };
        if i == bad as i64 {
            if panic {
                panic!("boom at {i}");
            }
            return Err(OpError::new(format!("bad leaf {i}")));
        }
        std::thread::sleep(Duration::from_micros(200));
        Ok(Value::I64(i))
    }));
    let sum: Arc<dyn Op> = Arc::new(ops::Sum);
    let mut b = TaskGraph::builder();
    let leaves: Vec<Arg> = (0..2_000u32)
        .map(|i| {
            Arg::Task(
                b.add(Key::new(Group::new("leaf"), Token(3), &[i]), &leaf, [Arg::Value(Value::I64(i as i64))]).unwrap(),
            )
        })
        .collect();
    let total = b.add(Key::single(Group::new("total"), Token(4)), &sum, leaves).unwrap();
    (b.build().unwrap(), total)
}

/// Runs on another thread so that a hang fails the test instead of blocking it.
fn run_bounded(scheduler: Box<dyn Scheduler>, graph: TaskGraph, out: TaskId) -> Result<Vec<Value>, SchedulerError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(scheduler.execute(&graph, &[out])));
    rx.recv_timeout(Duration::from_secs(30)).expect("the run ended instead of hanging")
}

#[test]
fn a_failing_task_stops_the_run_and_is_named() {
    for scheduler in schedulers() {
        let name = scheduler.name();
        let calls = Arc::new(AtomicUsize::new(0));
        let (graph, out) = failing_graph(calls.clone(), 5, false);
        let bad_key = graph.key(TaskId(5));
        match run_bounded(scheduler, graph, out) {
            Err(SchedulerError::TaskFailed { key, op, message }) => {
                assert_eq!(key, bad_key, "{name}");
                assert_eq!(op, "leaf");
                assert_eq!(message, "bad leaf 5");
            }
            other => panic!("{name}: expected a task failure, got {other:?}"),
        }
        // Leaves take 200 µs each: had the run gone on, all 2,000 would have been called.
        let called = calls.load(Ordering::SeqCst);
        assert!(called < 100, "{name}: {called} leaves ran after the failure");
    }
}

#[test]
fn a_panicking_task_is_caught_and_named() {
    for scheduler in schedulers() {
        let name = scheduler.name();
        let calls = Arc::new(AtomicUsize::new(0));
        let (graph, out) = failing_graph(calls, 7, true);
        let bad_key = graph.key(TaskId(7));
        let err = run_bounded(scheduler, graph, out).unwrap_err();
        assert_eq!(
            err,
            SchedulerError::TaskPanicked { key: bad_key, op: "leaf".into(), message: "boom at 7".into() },
            "{name}"
        );
        assert!(err.to_string().contains(&bad_key.to_string()));
    }
}

/// A value that counts how many of its kind are alive.
struct Counted {
    value: i64,
    live: Arc<LiveCounter>,
}

#[derive(Default)]
struct LiveCounter {
    live: AtomicUsize,
    peak: Mutex<usize>,
}

impl LiveCounter {
    fn make(self: &Arc<Self>, value: i64) -> Value {
        let now = self.live.fetch_add(1, Ordering::SeqCst) + 1;
        let mut peak = self.peak.lock().unwrap();
        *peak = (*peak).max(now);
        Value::opaque(Counted { value, live: self.clone() })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.live.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A fan-in-8 tree over `leaves` leaves, every value counted while alive.
fn counted_tree(leaves: u32, live: &Arc<LiveCounter>) -> (TaskGraph, TaskId) {
    let l = live.clone();
    let leaf: Arc<dyn Op> = Arc::new(FnOp::new("leaf", move |args| match args[0] {
        Value::I64(i) => Ok(l.make(i + 1)),
        _ => Err(OpError::new("leaf expects an i64")),
    }));
    let l = live.clone();
    let sum: Arc<dyn Op> = Arc::new(FnOp::new("sum", move |args| {
        Ok(l.make(args.iter().map(|v| v.downcast::<Counted>().expect("counted").value).sum()))
    }));
    let mut b = TaskGraph::builder();
    let level: Vec<TaskId> = (0..leaves)
        .map(|i| {
            b.add(Key::new(Group::new("leaf"), Token(5), &[i]), &leaf, [Arg::Value(Value::I64(i as i64))]).unwrap()
        })
        .collect();
    let root = b.add_tree(&level, 8, &sum, Group::new("sum"), Token(6)).unwrap();
    (b.build().unwrap(), root)
}

#[test]
fn peak_live_values_on_a_million_task_tree_stay_small() {
    let leaves = 875_000u32; // + 109,375 + 13,672 + ... = 1,000,000 tasks
    for scheduler in [Box::new(SyncScheduler) as Box<dyn Scheduler>, Box::new(ThreadsScheduler::new(2))] {
        let live = Arc::new(LiveCounter::default());
        let (graph, root) = counted_tree(leaves, &live);
        assert!(graph.len() >= 1_000_000, "{} tasks", graph.len());
        let (graph, out) = order(graph, &[root]);
        let result = scheduler.execute(&graph, &out).unwrap();
        let n = leaves as i64;
        assert_eq!(result[0].downcast::<Counted>().unwrap().value, n * (n + 1) / 2);
        let peak = *live.peak.lock().unwrap();
        // Depth-first: a few values per level per thread, plus what a steal brings in.
        assert!(peak <= 1_000, "{}: {peak} values alive at once", scheduler.name());
        drop(result);
        assert_eq!(live.live.load(Ordering::SeqCst), 0, "every value was freed");
    }
}

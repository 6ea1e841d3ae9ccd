//! The `processes(n)` scheduler end to end, with real `rask-worker` processes: the same
//! results as `threads` for raw graphs of registered ops, arrays and dataframes; a worker
//! killed with SIGKILL mid-run; a worker frozen with SIGSTOP (lost once silent beyond its
//! ttl); closure ops refused before anything starts; a missing
//! worker binary; no child process left behind.
//!
//! The tests run one at a time (a lock): they start processes on a small machine, and the
//! kill test reads the event bus, which every test in this binary shares.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use rask::array::{self, Array};
use rask::dataframe::{DataFrame, Join, col, from_arrays, lit};
use rask::graph::{Arg, Group, Key, Op, OptimizeOptions, TaskGraph, TaskId, Token, Value, ops, optimize};
use rask::prelude::*;
use rask::scheduler::events::{Event, bus};
use rask::scheduler::{ProcessesScheduler, Scheduler, SchedulerError, ThreadsScheduler};

/// The worker binary cargo built for these tests (`src/bin/rask-worker.rs`).
const WORKER: &str = env!("CARGO_BIN_EXE_rask-worker");

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A pool of `n` workers running the tests' worker binary.
fn pool(n: usize) -> Arc<ProcessesScheduler> {
    Arc::new(ProcessesScheduler::new(n).with_worker_binary(WORKER))
}

fn options(s: &Arc<ProcessesScheduler>) -> ComputeOptions {
    ComputeOptions::default().scheduler_arc(s.clone())
}

fn threads() -> ComputeOptions {
    ComputeOptions::default().scheduler(ThreadsScheduler::new(2))
}

/// W1's shape: `n` inc leaves summed by a fan-in-8 tree, optimized as `compute` does.
fn tree(n: usize) -> (TaskGraph, Vec<TaskId>) {
    let (graph, root) = rask::graph::sample::inc_sum_tree(n, 8);
    optimize(graph, vec![root], OptimizeOptions::default())
}

fn process_is_gone(pid: u32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn a_tree_of_registered_ops_matches_threads_and_the_pool_stays_warm() {
    let _serial = serial();
    let pool = pool(2);
    let (graph, outputs) = tree(5000);
    let expected = ThreadsScheduler::new(2).execute(&graph, &outputs).unwrap();
    assert_eq!(expected, vec![Value::I64(5000 * 5001 / 2)]);
    assert_eq!(pool.execute(&graph, &outputs).unwrap(), expected);
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 2);
    // Several outputs, some of them inner tasks, and a second compute on the same workers.
    let many: Vec<TaskId> = graph.ids().step_by(97).chain(outputs.iter().copied()).collect();
    assert_eq!(pool.execute(&graph, &many).unwrap(), ThreadsScheduler::new(2).execute(&graph, &many).unwrap());
    assert_eq!(pool.worker_pids(), pids, "the pool is kept warm across computes");
    assert_eq!(pool.name(), "processes(2)");
}

#[test]
fn tcp_loopback_works_too() {
    let _serial = serial();
    let pool = ProcessesScheduler::new(2).with_worker_binary(WORKER).with_tcp();
    let (graph, outputs) = tree(300);
    assert_eq!(pool.execute(&graph, &outputs).unwrap(), vec![Value::I64(300 * 301 / 2)]);
}

#[test]
fn arrays_match_threads() {
    let _serial = serial();
    let pool = pool(2);
    let x = array::random::random(1, &[240, 240], [60, 60]).unwrap();
    let sum_xxt: Array<f64> = (&x + &x.t()).sum(..).unwrap();
    let y = array::random::random(2, &[120, 90], [40, 30]).unwrap();
    let product = array::matmul(&y, &y.t()).unwrap();
    let std = (&x - &x.mean(0).unwrap()).std(0).unwrap();
    let close = |a: &ndarray::ArrayD<f64>, b: &ndarray::ArrayD<f64>| {
        a.shape() == b.shape() && a.iter().zip(b).all(|(p, q)| (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1.0))
    };
    for a in [&sum_xxt, &product, &std] {
        let got = a.compute_with(&options(&pool)).unwrap();
        let want = a.compute_with(&threads()).unwrap();
        assert!(close(&got, &want), "{got:?} != {want:?}");
    }
}

fn frame(parts: usize) -> DataFrame {
    let rows = 1000;
    let id = Int64Array::from_iter_values((0..rows).map(|i| i * 7 % 13));
    let x = Float64Array::from_iter_values((0..rows).map(|i| i as f64 / 8.0));
    let y = Float64Array::from_iter_values((0..rows).map(|i| ((i * 31) % 100) as f64 / 100.0));
    let s = StringArray::from_iter_values((0..rows).map(|i| format!("s{}", i % 5)));
    from_arrays(
        vec![
            ("id", Arc::new(id) as ArrayRef),
            ("x", Arc::new(x) as ArrayRef),
            ("y", Arc::new(y) as ArrayRef),
            ("s", Arc::new(s) as ArrayRef),
        ],
        parts,
    )
    .unwrap()
}

#[test]
fn dataframes_match_threads() {
    let _serial = serial();
    let pool = pool(2);
    let df = frame(6);
    let lookup = from_arrays(
        vec![
            ("id", Arc::new(Int64Array::from_iter_values(0..13)) as ArrayRef),
            ("w", Arc::new(Float64Array::from_iter_values((0..13).map(|i| i as f64 / 13.0))) as ArrayRef),
        ],
        1,
    )
    .unwrap();
    let cases: Vec<DataFrame> = vec![
        df.groupby(["id"]).agg([col("x").mean(), col("y").sum()]).unwrap(),
        df.filter(col("y").gt(lit(0.5))).unwrap().select([col("id"), col("x")]).unwrap().agg([col("x").sum()]).unwrap(),
        df.join(&lookup, Join::on(["id"])).unwrap().groupby(["s"]).agg([col("w").sum()]).unwrap(),
    ];
    for case in cases {
        let got: RecordBatch = case.compute_with(&options(&pool)).unwrap();
        let want: RecordBatch = case.compute_with(&threads()).unwrap();
        assert_eq!(got, want);
    }
}

#[test]
fn a_worker_killed_mid_run_costs_only_time() {
    let _serial = serial();
    let pool = pool(2);
    // Warm up, so both pids are known before the run we interrupt.
    let (small, small_out) = tree(64);
    pool.execute(&small, &small_out).unwrap();
    let pids_before = pool.worker_pids();
    let victim = pids_before[1];

    let x = array::random::random(3, &[1600, 1600], [100, 100]).unwrap();
    let total: Array<f64> = (&(&x + &x.t()) + &x).sum(..).unwrap();
    let want = total.compute_with(&threads()).unwrap();

    let events = bus().subscribe();
    let run = {
        let (pool, total) = (pool.clone(), total.clone());
        std::thread::spawn(move || total.compute_with(&options(&pool)))
    };
    // Kill one worker once some tasks finished.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut finished = 0;
    while finished < 20 && Instant::now() < deadline {
        if let Ok(batch) = events.receiver().recv_timeout(Duration::from_millis(100)) {
            finished += batch.iter().filter(|e| matches!(e, Event::TaskFinished { .. })).count();
        }
    }
    assert!(finished >= 20, "the run made no progress");
    let status = std::process::Command::new("kill").args(["-9", &victim.to_string()]).status().unwrap();
    assert!(status.success());
    let got = run.join().unwrap().unwrap();
    assert!((got.sum() - want.sum()).abs() <= 1e-9 * want.sum().abs().max(1.0), "{got:?} != {want:?}");
    assert_eq!(pool.workers_lost(), 1, "the kill happened mid-run");
    assert!(process_is_gone(victim), "the killed worker was reaped");
    // A replacement joined (during the run, or by the next compute at the latest).
    pool.execute(&small, &small_out).unwrap();
    assert_eq!(pool.worker_pids().len(), 2);
    // The event bus saw the victim leave and its replacement join.
    let (mut left, mut joined) = (Vec::new(), Vec::new());
    while let Ok(batch) = events.receiver().recv_timeout(Duration::from_millis(200)) {
        for e in batch.iter() {
            match e {
                Event::WorkerLeft { reason, .. } => left.push(reason.clone()),
                Event::WorkerJoined { pid, .. } => joined.push(*pid),
                _ => {}
            }
        }
    }
    drop(events);
    assert!(left.len() == 1 && left[0].contains(&format!("pid {victim}")), "{left:?}");
    let replacement = pool.worker_pids().into_iter().find(|&p| p != pids_before[0]).expect("a new worker");
    assert_eq!(joined, vec![replacement]);
    assert!(!pool.worker_pids().contains(&victim));
}

#[test]
fn a_hung_worker_is_taken_for_lost_once_silent_beyond_its_ttl() {
    let _serial = serial();
    let ttl = Duration::from_secs(3);
    let pool = Arc::new(ProcessesScheduler::new(2).with_worker_binary(WORKER).with_worker_ttl(ttl));
    let (small, small_out) = tree(64);
    pool.execute(&small, &small_out).unwrap();
    let victim = pool.worker_pids()[0];

    let x = array::random::random(5, &[1600, 1600], [100, 100]).unwrap();
    let total: Array<f64> = (&(&x + &x.t()) * 2.0).sum(..).unwrap();
    let want = total.compute_with(&threads()).unwrap();
    let events = bus().subscribe();
    let started = Instant::now();
    let run = {
        let (pool, total) = (pool.clone(), total.clone());
        std::thread::spawn(move || total.compute_with(&options(&pool)))
    };
    // Freeze one worker once some tasks finished: its connection stays open, it just
    // goes silent, as a hung or swapped-out process would.
    let mut finished = 0;
    while finished < 10 && started.elapsed() < Duration::from_secs(60) {
        if let Ok(batch) = events.receiver().recv_timeout(Duration::from_millis(100)) {
            finished += batch.iter().filter(|e| matches!(e, Event::TaskFinished { .. })).count();
        }
    }
    assert!(finished >= 10, "the run made no progress");
    let frozen = Instant::now();
    assert!(std::process::Command::new("kill").args(["-STOP", &victim.to_string()]).status().unwrap().success());
    let got = run.join().unwrap().unwrap();
    // The healthy worker's heartbeats reached the bus meanwhile, with the bytes it held.
    let memory: Vec<u64> = std::iter::from_fn(|| events.receiver().recv_timeout(Duration::from_millis(100)).ok())
        .flat_map(|batch| batch.to_vec())
        .filter_map(|e| match e {
            Event::WorkerMemory { memory, spilled: 0, .. } => Some(memory),
            _ => None,
        })
        .collect();
    drop(events);
    assert!(memory.iter().any(|&m| m > 0), "heartbeats on the bus: {memory:?}");
    assert!((got.sum() - want.sum()).abs() <= 1e-9 * want.sum().abs().max(1.0), "{got:?} != {want:?}");
    // At least the frozen one (a healthy worker starved of CPU for 3 s on a loaded machine
    // would be given up on too, and the result would still be right).
    assert!(pool.workers_lost() >= 1);
    // It was last heard at most a heartbeat (1 s) before it froze.
    assert!(frozen.elapsed() >= ttl - Duration::from_secs(1), "lost before its ttl ran out");
    assert!(process_is_gone(victim), "the frozen worker was killed and reaped");
    assert!(!pool.worker_pids().contains(&victim));
}

#[test]
fn workers_under_a_tiny_memory_limit_spill_everything_and_still_agree() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("rask-processes-spill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // One byte: every value a worker holds goes to disk and comes back when read.
    let pool =
        Arc::new(ProcessesScheduler::new(2).with_worker_binary(WORKER).with_memory_limit(1).with_local_dir(&dir));
    let x = array::random::random(9, &[1200, 1200], [100, 100]).unwrap();
    let total: Array<f64> = (&(&x + &x.t()) * 3.0).sum(..).unwrap();
    let want = total.compute_with(&threads()).unwrap();
    let run = {
        let (pool, total) = (pool.clone(), total.clone());
        std::thread::spawn(move || total.compute_with(&options(&pool)))
    };
    // Spill files appear in the workers' directories while the run goes on.
    let mut seen_spill_file = false;
    while !run.is_finished() && !seen_spill_file {
        seen_spill_file = walk(&dir).iter().any(|p| p.extension().is_some_and(|e| e == "spill"));
        std::thread::sleep(Duration::from_millis(1));
    }
    let got = run.join().unwrap().unwrap();
    assert!((got.sum() - want.sum()).abs() <= 1e-9 * want.sum().abs().max(1.0), "{got:?} != {want:?}");
    assert!(seen_spill_file, "no spill file showed up under {}", dir.display());
    drop(pool);
    assert!(walk(&dir).is_empty(), "the workers removed their directories: {:?}", walk(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every file under `dir`, recursively (none if it does not exist).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect()
}

#[test]
fn closure_ops_are_refused_before_anything_runs() {
    let _serial = serial();
    let pool = pool(2);
    let x = delayed(1i64).map(|x| x + 1);
    let e = x.compute_with(&options(&pool)).unwrap_err().to_string();
    assert!(e.contains("register"), "{e}");
    assert!(e.contains(&x.key().unwrap().to_string()), "the error names the task: {e}");
    assert!(pool.worker_pids().is_empty(), "no worker was started");
}

#[test]
fn a_missing_worker_binary_is_a_clear_error() {
    let _serial = serial();
    let pool = ProcessesScheduler::new(2).with_worker_binary("/nonexistent/rask-worker");
    let (graph, outputs) = tree(10);
    let e = pool.execute(&graph, &outputs).unwrap_err();
    assert!(matches!(e, SchedulerError::WorkerNotFound { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("/nonexistent/rask-worker") && text.contains("RASK_WORKER_BIN"), "{text}");
}

#[test]
fn a_failing_task_names_itself_and_the_pool_recovers() {
    let _serial = serial();
    let pool = pool(2);
    let add: Arc<dyn Op> = Arc::new(ops::Add);
    let mut b = TaskGraph::builder();
    let bad_key = Key::single(Group::new("bad"), Token(9));
    let bad = b.add(bad_key, &add, [Arg::Value(Value::Str("x".into())), Arg::Value(Value::I64(1))]).unwrap();
    let graph = b.build().unwrap();
    match pool.execute(&graph, &[bad]).unwrap_err() {
        SchedulerError::TaskFailed { key, op, message } => {
            assert_eq!(key, bad_key);
            assert_eq!(op, "add");
            assert!(message.contains("cannot add"), "{message}");
        }
        other => panic!("unexpected {other}"),
    }
    let (graph, outputs) = tree(100);
    assert_eq!(pool.execute(&graph, &outputs).unwrap(), vec![Value::I64(5050)]);
}

#[test]
fn no_worker_outlives_its_scheduler() {
    let _serial = serial();
    let pool = pool(3);
    let (graph, outputs) = tree(200);
    pool.execute(&graph, &outputs).unwrap();
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|&p| !process_is_gone(p)));
    drop(Arc::into_inner(pool).expect("the only handle"));
    for pid in pids {
        assert!(process_is_gone(pid), "worker {pid} outlived its scheduler");
    }
}

#[test]
fn intruders_on_the_pool_socket_are_refused_and_the_pool_keeps_working() {
    use std::io::{Read, Write};

    use rask::scheduler::wire::{Connection, Hello, PROTOCOL_VERSION, Role, connect_handshake, frame};

    let _serial = serial();
    let pool = pool(2);
    let (graph, outputs) = tree(500);
    pool.execute(&graph, &outputs).unwrap();
    let (address, pids) = (pool.address().expect("a started pool listens"), pool.worker_pids());

    // A wrong token is refused, and the caller is told why.
    let mut conn = Connection::connect(&address).unwrap();
    let e = connect_handshake(&mut conn, &Hello::new("guess", Role::Client)).unwrap_err();
    assert!(e.to_string().contains("wrong token"), "{e}");

    // Another protocol version is refused with both versions named.
    let mut conn = Connection::connect(&address).unwrap();
    let mut hello = b"RASK".to_vec();
    hello.extend_from_slice(&(PROTOCOL_VERSION + 98).to_le_bytes());
    frame::write_frame(&mut conn, &hello).unwrap();
    let reply = frame::read_frame(&mut conn, 1 << 16).unwrap();
    let text = String::from_utf8_lossy(&reply);
    assert!(text.contains(&format!("protocol version {}", PROTOCOL_VERSION + 98)), "{text}");

    // Garbage, a truncated frame and an oversized one: each connection is closed.
    for bytes in [
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        [&100u64.to_le_bytes()[..], b"RASK"].concat(),
        u64::MAX.to_le_bytes().to_vec(),
    ] {
        let mut conn = Connection::connect(&address).unwrap();
        conn.write_all(&bytes).unwrap();
        conn.shutdown_write();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut rest = Vec::new();
        // The pool closes the connection (end of stream or a reset), never leaves it hanging.
        if let Err(e) = conn.read_to_end(&mut rest) {
            assert!(!matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{e}");
        }
    }

    // The pool, its workers and its listener are unharmed.
    let (graph, outputs) = tree(700);
    assert_eq!(pool.execute(&graph, &outputs).unwrap(), vec![Value::I64(700 * 701 / 2)]);
    assert_eq!(pool.worker_pids(), pids);
    assert_eq!(pool.workers_lost(), 0);
}

/// Set in the child process of [`workers_exit_when_their_scheduler_process_is_killed`].
const PARENT_MODE_VAR: &str = "RASK_TEST_POOL_PARENT";

#[test]
fn workers_exit_when_their_scheduler_process_is_killed() {
    use std::io::BufRead;

    const NAME: &str = "workers_exit_when_their_scheduler_process_is_killed";
    if std::env::var_os(PARENT_MODE_VAR).is_some() {
        // The child: start a pool, say its workers' pids, and wait to be killed.
        let pool = pool(2);
        let (graph, outputs) = tree(100);
        pool.execute(&graph, &outputs).unwrap();
        let pids: Vec<String> = pool.worker_pids().iter().map(u32::to_string).collect();
        println!("pids {}", pids.join(" "));
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let _serial = serial();
    // SIGKILL runs no destructor of the child; SIGINT is Ctrl-C sent to it alone.
    for signal in ["-KILL", "-INT"] {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
            .env(PARENT_MODE_VAR, "1")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        // libtest prints the test's name on the same line, before the child's own output.
        let line = stdout.lines().map_while(Result::ok).find_map(|l| Some(l.split_once("pids ")?.1.to_string()));
        let pids: Vec<u32> = line.expect("the child's worker pids").split(' ').map(|p| p.parse().unwrap()).collect();
        assert_eq!(pids.len(), 2);
        assert!(pids.iter().all(|&p| !process_is_gone(p) && !is_zombie(p)), "workers {pids:?} run before {signal}");
        let sent = std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
        assert!(sent.success());
        child.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !pids.iter().all(|&p| process_is_gone(p) || is_zombie(p)) {
            assert!(Instant::now() < deadline, "workers {pids:?} outlived their scheduler, sent {signal}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Whether `pid` has exited but not been reaped (its parent was killed; init reaps it).
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
}

#[test]
fn delayed_calls_of_registered_ops_match_threads() {
    use rask::delayed::{DelayedOp, Input};

    let _serial = serial();
    let pool = pool(2);
    let inc = DelayedOp::<i64>::new(ops::Inc);
    let total = DelayedOp::<i64>::new(ops::Sum);
    let leaves: Vec<Delayed<i64>> = (0..300i64).map(|i| inc.call([Input::value(i)])).collect();
    let partials: Vec<Delayed<i64>> = leaves.chunks(7).map(|c| total.call(c.iter().map(Input::from))).collect();
    let sum = total.call(partials.iter().map(Input::from));
    let on_threads = sum.compute_with(&threads()).unwrap();
    assert_eq!(on_threads, 300 * 301 / 2);
    assert_eq!(sum.compute_with(&options(&pool)).unwrap(), on_threads);
    // Several delayed results computed together share one graph on the pool.
    let (a, b) = rask::compute_with(&(partials[0].clone(), sum.clone()), &options(&pool)).unwrap();
    assert_eq!((a, b), ((1..=7).sum::<i64>(), on_threads));
}

//! The process pool never hangs and leaves nothing behind (issue "the process pool must
//! never hang"), each case with real `rask-worker` processes and a bounded wait:
//!
//! - a worker frozen (SIGSTOP) while the graph has data to send it is given up at its ttl;
//! - a value over 2 GiB moves from a worker to the driver; a value over the pool's
//!   transfer limit ends the compute with an error naming its task, at once;
//! - a caller trickling its hello, or hundreds of silent callers, on the pool's socket
//!   hold up neither a replacement worker nor the pool's shutdown;
//! - workers killed while spilling leave no directory behind;
//! - the pool's own directory goes with its process: on exit (a default pool in a static),
//!   on SIGINT, and after SIGKILL at the next pool's start;
//! - a ttl shorter than two heartbeats is refused.
//!
//! The tests run one at a time (a lock): they start processes on a small machine.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rask::array::{self, Array};
use rask::prelude::*;
use rask::scheduler::wire::Connection;
use rask::scheduler::{ProcessesScheduler, SchedulerError};

/// The worker binary cargo built for these tests (`src/bin/rask-worker.rs`).
const WORKER: &str = env!("CARGO_BIN_EXE_rask-worker");

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn pool(n: usize) -> ProcessesScheduler {
    ProcessesScheduler::new(n).with_worker_binary(WORKER)
}

/// The scheduler error inside a compute error.
fn scheduler_error(e: &rask::Error) -> Option<&SchedulerError> {
    match e {
        rask::Error::Scheduler(e) => Some(e),
        _ => None,
    }
}

fn options(s: &Arc<ProcessesScheduler>) -> ComputeOptions {
    ComputeOptions::default().scheduler_arc(s.clone())
}

/// Starts the pool's workers with a small compute.
fn warm(pool: &Arc<ProcessesScheduler>) {
    let x = array::ones::<f64>(&[100], [50]).unwrap();
    let total = x.sum(..).unwrap().compute_with(&options(pool)).unwrap();
    assert_eq!(total.sum(), 100.0);
}

fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

fn process_is_gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// The thread's result if it ends within `limit`.
fn finish_within<T>(handle: JoinHandle<T>, limit: Duration) -> Option<T> {
    let deadline = Instant::now() + limit;
    while !handle.is_finished() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(handle.join().expect("the compute thread panicked"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn a_frozen_worker_the_graph_sends_data_to_is_given_up_at_its_ttl() {
    let _serial = serial();
    let ttl = Duration::from_secs(3);
    let pool = Arc::new(pool(2).with_worker_ttl(ttl));
    warm(&pool);
    let victim = pool.worker_pids()[0];
    // 128 MB of literal blocks (8 MB each): the first batches alone overfill a socket.
    let data = ndarray::Array2::from_shape_fn((4000, 4000), |(i, j)| ((i * 7 + j * 3) % 1000) as f64);
    let x = array::from_ndarray(&data, [1000, 1000]).unwrap();
    let total: Array<f64> = (&x * 2.0).sum(..).unwrap();
    let want = data.sum() * 2.0;
    signal(victim, "-STOP");
    let run = {
        let (pool, total) = (pool.clone(), total.clone());
        std::thread::spawn(move || total.compute_with(&options(&pool)))
    };
    let Some(got) = finish_within(run, Duration::from_secs(90)) else {
        signal(victim, "-KILL");
        panic!("the compute hung on a frozen worker");
    };
    let got = got.unwrap().sum();
    assert!(close(got, want), "{got} != {want}");
    assert!(pool.workers_lost() >= 1);
    assert!(process_is_gone(victim), "the frozen worker was killed and reaped");
}

#[test]
fn a_value_over_two_gib_moves_from_the_worker_to_the_driver() {
    let _serial = serial();
    let pool = Arc::new(pool(1));
    // One block of 2.24 GB: more than the 2 GiB one frame used to allow.
    let n = 280_000_000;
    let doubled: Array<f64> = &array::ones::<f64>(&[n], [n]).unwrap() * 2.0;
    let run = {
        let (pool, doubled) = (pool.clone(), doubled.clone());
        std::thread::spawn(move || doubled.compute_with(&options(&pool)))
    };
    let got = finish_within(run, Duration::from_secs(300)).expect("the compute ends").unwrap();
    assert_eq!(got.len(), n);
    assert!(got.iter().all(|&v| v == 2.0));
    assert_eq!(pool.workers_lost(), 0, "no worker was lost moving it");
}

#[test]
fn a_value_over_the_transfer_limit_is_an_error_naming_its_task_not_a_loop() {
    let _serial = serial();
    let pool = Arc::new(pool(1).with_transfer_limit(1 << 20));
    // An output of 8 MB, computed on the worker: refused when gathered.
    let big = array::ones::<f64>(&[1_000_000], [1_000_000]).unwrap();
    let key = big.block_key(&[0]);
    let started = Instant::now();
    let e = big.compute_with(&options(&pool)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(30), "refused at once, not after retries");
    match scheduler_error(&e) {
        Some(SchedulerError::Transfer { key: k, reason }) => {
            assert_eq!(*k, key);
            assert!(reason.contains("1048576"), "the limit is named: {reason}");
        }
        _ => panic!("expected a transfer error, got {e}"),
    }
    assert!(e.to_string().contains("with_transfer_limit"), "the remedy is named: {e}");
    // A literal of 16 MB cannot be sent to a worker either.
    let data = ndarray::Array2::<f64>::ones((2000, 1000));
    let literal = array::from_ndarray(&data, [2000, 1000]).unwrap().sum(..).unwrap();
    let e = literal.compute_with(&options(&pool)).unwrap_err();
    assert!(matches!(scheduler_error(&e), Some(SchedulerError::Transfer { .. })), "{e}");
    assert!(e.to_string().contains("literal arguments"), "{e}");
    // Nothing was lost and the pool still works.
    assert_eq!(pool.workers_lost(), 0);
    let small = array::ones::<f64>(&[1000], [100]).unwrap().sum(..).unwrap();
    assert_eq!(small.compute_with(&options(&pool)).unwrap().sum(), 1000.0);
}

/// Kills a worker of a warm pool, then checks that the next compute gets a replacement
/// and that shutting the pool down is prompt, while `intruders` hold the pool's socket.
fn replacement_and_shutdown_despite(pool: Arc<ProcessesScheduler>) {
    let victim = pool.worker_pids()[1];
    signal(victim, "-KILL");
    let run = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            let x = array::random::random(4, &[400, 400], [100, 100]).unwrap();
            x.sum(..).unwrap().compute_with(&options(&pool)).map(|a| a.sum())
        })
    };
    let got = finish_within(run, Duration::from_secs(60)).expect("the compute after a loss ends");
    let want = array::random::random(4, &[400, 400], [100, 100]).unwrap().compute().unwrap().sum();
    assert!(close(got.unwrap(), want));
    // The replacement joined during that compute, or joins by the next at the latest.
    let next = {
        let pool = pool.clone();
        std::thread::spawn(move || warm(&pool))
    };
    finish_within(next, Duration::from_secs(60)).expect("the next compute ends");
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 2, "a replacement joined");
    assert!(!pids.contains(&victim));
    let started = Instant::now();
    pool.shutdown();
    assert!(started.elapsed() < Duration::from_secs(5), "shutdown took {:?}", started.elapsed());
    assert!(pids.iter().all(|&p| process_is_gone(p)));
}

#[test]
fn a_caller_trickling_its_hello_holds_up_neither_replacement_nor_shutdown() {
    let _serial = serial();
    let pool = Arc::new(pool(2));
    warm(&pool);
    let address = pool.address().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let trickler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut conn = Connection::connect(&address).unwrap();
            // A frame header announcing 60,000 bytes, then a byte a second.
            let _ = conn.write_all(&60_000u64.to_le_bytes());
            for _ in 0..120 {
                if stop.load(Ordering::SeqCst) || conn.write_all(b"R").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    replacement_and_shutdown_despite(pool);
    stop.store(true, Ordering::SeqCst);
    trickler.join().unwrap();
}

#[test]
fn five_hundred_silent_callers_hold_up_neither_replacement_nor_shutdown() {
    let _serial = serial();
    let pool = Arc::new(pool(2));
    warm(&pool);
    let address = pool.address().unwrap();
    let silent: Vec<Connection> = (0..500).map(|_| Connection::connect(&address).unwrap()).collect();
    replacement_and_shutdown_despite(pool);
    drop(silent);
}

/// The worker directories (and lock files) in `dir`.
fn worker_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().map(|e| e.path()).collect()
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect()
}

#[test]
fn workers_killed_while_spilling_leave_no_files_behind() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("rask-liveness-spill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pool = Arc::new(pool(2).with_memory_limit(100_000).with_local_dir(&dir));
    let x = array::random::random(9, &[1200, 1200], [100, 100]).unwrap();
    let total: Array<f64> = (&(&x + &x.t()) * 3.0).sum(..).unwrap();
    let want =
        total.compute_with(&ComputeOptions::default().scheduler(rask::scheduler::ThreadsScheduler::new(2))).unwrap();
    warm(&pool);
    for round in 0..3 {
        let victim = pool.worker_pids()[round % 2];
        let run = {
            let (pool, total) = (pool.clone(), total.clone());
            std::thread::spawn(move || total.compute_with(&options(&pool)))
        };
        // Kill the victim once it has spilled something.
        let mine = format!("rask-worker-{victim}-");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !walk(&dir)
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "spill") && p.to_string_lossy().contains(&mine))
        {
            assert!(Instant::now() < deadline && !run.is_finished(), "worker {victim} never spilled");
            std::thread::sleep(Duration::from_millis(1));
        }
        signal(victim, "-KILL");
        let got = finish_within(run, Duration::from_secs(120)).expect("the compute ends").unwrap();
        assert!(close(got.sum(), want.sum()), "round {round}: {} != {}", got.sum(), want.sum());
        assert!(
            !worker_dirs(&dir).iter().any(|p| p.to_string_lossy().contains(&mine)),
            "round {round}: the killed worker's directory and lock were removed: {:?}",
            worker_dirs(&dir)
        );
    }
    assert!(pool.workers_lost() >= 3);
    drop(Arc::into_inner(pool).expect("the only handle"));
    assert!(worker_dirs(&dir).is_empty(), "nothing left in the local dir: {:?}", walk(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_ttl_shorter_than_two_heartbeats_is_refused() {
    let _serial = serial();
    let pool = Arc::new(pool(1).with_worker_ttl(Duration::ZERO));
    let x = array::ones::<f64>(&[10], [5]).unwrap().sum(..).unwrap();
    let e = x.compute_with(&options(&pool)).unwrap_err();
    assert!(matches!(scheduler_error(&e), Some(SchedulerError::Config(_))), "{e}");
    assert!(e.to_string().contains("heartbeat"), "{e}");
    assert!(pool.worker_pids().is_empty(), "no worker was started");
}

/// Set in the child processes of [`the_pools_directory_goes_with_its_process`]: what the
/// child does.
const CHILD_VAR: &str = "RASK_TEST_LIVENESS_CHILD";

/// The pool directories (`rask-<pid>-*`) of process `pid` in `tmp`.
fn pool_dirs(tmp: &Path, pid: u32) -> Vec<PathBuf> {
    let prefix = format!("rask-{pid}-");
    worker_dirs(tmp).into_iter().filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&prefix)).collect()
}

/// Runs this test binary as a child doing `mode` with its own temp dir; returns it once
/// it said `ready` (the rest of its output is drained by a thread).
fn child(mode: &str, tmp: &Path) -> std::process::Child {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "the_pools_directory_goes_with_its_process", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, mode)
        .env("TMPDIR", tmp)
        .env("RASK_WORKER_BIN", WORKER)
        .env("RASK_SCHEDULER", "processes:1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.by_ref().map_while(Result::ok).any(|l| l.contains("ready")), "the child {mode} started");
    std::thread::spawn(move || lines.for_each(drop));
    child
}

#[test]
fn the_pools_directory_goes_with_its_process() {
    if let Ok(mode) = std::env::var(CHILD_VAR) {
        // The child: a compute on the default scheduler (a process pool in a static).
        let total = array::ones::<f64>(&[100], [10]).unwrap().sum(..).unwrap().compute().unwrap();
        assert_eq!(total.sum(), 100.0);
        println!("ready");
        if mode == "wait" {
            std::thread::sleep(Duration::from_secs(60));
        }
        return; // "exit": the process ends with its default pool never dropped.
    }
    let _serial = serial();
    let tmp = std::env::temp_dir().join(format!("rask-liveness-tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();

    // A normal exit, the pool in a static: removed at exit.
    let mut exiting = child("exit", &tmp);
    let pid = exiting.id();
    assert!(exiting.wait().unwrap().success());
    assert!(pool_dirs(&tmp, pid).is_empty(), "left after exit: {:?}", pool_dirs(&tmp, pid));

    // Ctrl-C: removed by the signal watcher before the process ends.
    let mut interrupted = child("wait", &tmp);
    let pid = interrupted.id();
    assert_eq!(pool_dirs(&tmp, pid).len(), 1, "the child's pool has its directory");
    signal(pid, "-INT");
    interrupted.wait().unwrap();
    assert!(pool_dirs(&tmp, pid).is_empty(), "left after SIGINT: {:?}", pool_dirs(&tmp, pid));

    // SIGKILL runs nothing; the next pool to start in the same temp dir removes it.
    let mut killed = child("wait", &tmp);
    let pid = killed.id();
    signal(pid, "-KILL");
    killed.wait().unwrap();
    assert_eq!(pool_dirs(&tmp, pid).len(), 1, "SIGKILL leaves the directory");
    let mut next = child("exit", &tmp);
    assert!(next.wait().unwrap().success());
    assert!(pool_dirs(&tmp, pid).is_empty(), "the next pool swept it: {:?}", worker_dirs(&tmp));
    assert!(worker_dirs(&tmp).is_empty(), "nothing at all is left: {:?}", walk(&tmp));
    std::fs::remove_dir_all(&tmp).unwrap();
}

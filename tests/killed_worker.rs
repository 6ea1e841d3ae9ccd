//! Workers killed by their own tasks, end to end: this test binary is also the worker
//! binary of its pools (started with `--scheduler ...`, it runs `rask::worker::main()`),
//! so its op that SIGKILLs the process running it reaches real worker processes.
//!
//! - a task that kills its worker once: a replacement joins mid-run, even when the pool
//!   had only that worker, and the result is right;
//! - a task that kills every worker it runs on: after four deaths the run ends with
//!   `KilledWorker` naming it, rather than retrying forever, and the pool serves the
//!   next compute;
//! - a replacement that cannot start (its binary gone) or exits before connecting: the run
//!   ends on the other workers, or with an error saying so when nobody is left.
//!
//! `harness = false`: `main` tells the two roles apart by the command line.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rask::graph::{Arg, Args, Group, Key, Op, OpError, TaskGraph, TaskId, Token, Value, ops};
use rask::scheduler::{ProcessesScheduler, Scheduler, SchedulerError};

/// Adds 100 to its argument, after killing the process running it (with SIGKILL) unless
/// `spare_if` exists; with a path, it creates it first, so it kills only once.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct KillsItsWorker {
    spare_if: Option<PathBuf>,
}

#[typetag::serde(name = "test.kills_its_worker")]
impl Op for KillsItsWorker {
    fn name(&self) -> &str {
        "kills_its_worker"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let Some(Value::I64(x)) = args.first().cloned() else {
            return Err(OpError::new("kills_its_worker expects one i64"));
        };
        match &self.spare_if {
            Some(marker) if marker.exists() => return Ok(Value::I64(x + 100)),
            Some(marker) => std::fs::write(marker, b"killed once").map_err(|e| OpError::new(e.to_string()))?,
            None => {}
        }
        let _ = std::process::Command::new("kill").args(["-9", &std::process::id().to_string()]).status();
        std::thread::sleep(Duration::from_secs(60));
        Err(OpError::new("survived SIGKILL"))
    }
}

/// `sum(killer(7), inc(0), ..., inc(n - 1))`: the killer is the first root to run.
fn graph_with(killer: KillsItsWorker, n: i64) -> (TaskGraph, TaskId, Key) {
    let inc: Arc<dyn Op> = Arc::new(ops::Inc);
    let killer: Arc<dyn Op> = Arc::new(killer);
    let sum: Arc<dyn Op> = Arc::new(ops::Sum);
    let killer_key = Key::single(Group::new("killer"), Token(1));
    let mut b = TaskGraph::builder();
    let mut parts = vec![b.add(killer_key, &killer, [Arg::Value(Value::I64(7))]).unwrap()];
    for i in 0..n {
        parts.push(
            b.add(Key::new(Group::new("inc"), Token(2), &[i as u32]), &inc, [Arg::Value(Value::I64(i))]).unwrap(),
        );
    }
    let total = b.add_tree(&parts, 8, &sum, Group::new("sum"), Token(3)).unwrap();
    (b.build().unwrap(), total, killer_key)
}

/// A pool of `n` workers running this binary.
fn pool(n: usize) -> ProcessesScheduler {
    ProcessesScheduler::new(n).with_worker_binary(std::env::current_exe().unwrap())
}

fn process_is_gone(pid: u32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// `n` inc tasks and the killer summed: 107 + n (n - 1) / 2 + n.
fn expected_sum(n: i64) -> Value {
    Value::I64(107 + n * (n - 1) / 2 + n)
}

fn a_task_that_kills_its_worker_once_gets_a_replacement_mid_run() {
    let dir = std::env::temp_dir().join(format!("rask-killed-worker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("killed");
    let _ = std::fs::remove_file(&marker);
    // One worker: without a replacement joining mid-run, nobody would be left.
    let pool = pool(1);
    let (warm, warm_out, _) = graph_with(KillsItsWorker { spare_if: Some(dir.join("never-killed")) }, 3);
    std::fs::write(dir.join("never-killed"), b"").unwrap();
    assert_eq!(pool.execute(&warm, &[warm_out]).unwrap(), vec![expected_sum(3)]);
    let first = pool.worker_pids();
    assert_eq!(first.len(), 1);

    let (graph, total, _) = graph_with(KillsItsWorker { spare_if: Some(marker.clone()) }, 200);
    assert_eq!(pool.execute(&graph, &[total]).unwrap(), vec![expected_sum(200)]);
    assert!(marker.exists(), "the killer ran and killed its worker");
    assert_eq!(pool.workers_lost(), 1);
    let now = pool.worker_pids();
    assert!(now.len() == 1 && now[0] != first[0], "a replacement ({now:?}) took over from {first:?}");
    assert!(process_is_gone(first[0]), "the killed worker was reaped");
    let _ = std::fs::remove_dir_all(&dir);
}

fn a_task_that_kills_every_worker_is_not_tried_a_fifth_time() {
    let pool = pool(2);
    let (graph, total, killer) = graph_with(KillsItsWorker { spare_if: None }, 50);
    let e = pool.execute(&graph, &[total]).unwrap_err();
    match &e {
        SchedulerError::KilledWorker { key, deaths: 4, op, reason } => {
            assert_eq!(*key, killer);
            assert_eq!(op, "kills_its_worker");
            assert!(reason.contains("pid"), "{reason}");
        }
        other => panic!("expected KilledWorker, got {other:?}"),
    }
    assert!(e.to_string().contains("4 workers that died"), "{e}");
    assert_eq!(pool.workers_lost(), 4, "each attempt cost one worker, nothing more");
    // The next compute runs on a fresh, full pool.
    let (fine, fine_out, _) = graph_with(KillsItsWorker { spare_if: Some(std::env::current_exe().unwrap()) }, 20);
    assert_eq!(pool.execute(&fine, &[fine_out]).unwrap(), vec![expected_sum(20)]);
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 2);
    drop(pool);
    assert!(pids.iter().all(|&p| process_is_gone(p)), "no worker outlives its pool");
}

/// A pool of `n` workers started through a symlink to this binary in a fresh directory,
/// so that a test can take the binary away from under the pool.
fn pool_through_link(n: usize, name: &str) -> (ProcessesScheduler, PathBuf) {
    let dir = std::env::temp_dir().join(format!("rask-killed-worker-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("worker");
    std::os::unix::fs::symlink(std::env::current_exe().unwrap(), &link).unwrap();
    (ProcessesScheduler::new(n).with_worker_binary(&link), dir)
}

fn a_replacement_that_cannot_start_leaves_the_run_to_the_others() {
    // The binary is gone when the replacement should start: the run ends on the other worker.
    let (pool, dir) = pool_through_link(2, "gone");
    let (warm, warm_out, _) = graph_with(KillsItsWorker { spare_if: Some(std::env::current_exe().unwrap()) }, 3);
    pool.execute(&warm, &[warm_out]).unwrap();
    std::fs::remove_file(dir.join("worker")).unwrap();
    let (graph, total, _) = graph_with(KillsItsWorker { spare_if: Some(dir.join("killed")) }, 200);
    assert_eq!(pool.execute(&graph, &[total]).unwrap(), vec![expected_sum(200)]);
    assert_eq!(pool.workers_lost(), 1);
    assert_eq!(pool.worker_pids().len(), 1, "nobody replaced the lost worker");
    // The next compute cannot fill the pool again, and says why.
    let e = pool.execute(&warm, &[warm_out]).unwrap_err().to_string();
    assert!(e.contains("cannot start"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);

    // A replacement that exits before connecting, with nobody else left: the run ends
    // saying so.
    let (pool, dir) = pool_through_link(1, "exits");
    pool.execute(&warm, &[warm_out]).unwrap();
    let link = dir.join("worker");
    std::fs::remove_file(&link).unwrap();
    std::fs::write(&link, "#!/bin/sh\nexit 3\n").unwrap();
    std::fs::set_permissions(&link, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (graph, total, _) = graph_with(KillsItsWorker { spare_if: Some(dir.join("killed")) }, 50);
    let e = pool.execute(&graph, &[total]).unwrap_err();
    assert!(matches!(e, SchedulerError::NoWorkersLeft { .. }), "{e:?}");
    assert!(e.to_string().contains("before connecting"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--scheduler") {
        rask::worker::main(); // a worker of one of the pools below
        return;
    }
    let tests: [(&str, fn()); 3] = [
        (
            "a_task_that_kills_its_worker_once_gets_a_replacement_mid_run",
            a_task_that_kills_its_worker_once_gets_a_replacement_mid_run,
        ),
        (
            "a_task_that_kills_every_worker_is_not_tried_a_fifth_time",
            a_task_that_kills_every_worker_is_not_tried_a_fifth_time,
        ),
        (
            "a_replacement_that_cannot_start_leaves_the_run_to_the_others",
            a_replacement_that_cannot_start_leaves_the_run_to_the_others,
        ),
    ];
    println!("\nrunning {} tests", tests.len());
    for (name, test) in tests {
        test();
        println!("test {name} ... ok");
    }
    println!("\ntest result: ok. {} passed; 0 failed", tests.len());
}

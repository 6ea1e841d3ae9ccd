//! Many small computes on `threads(4)` reuse the same three helper threads, and idle
//! helpers use no CPU. Alone in its binary: it counts the process's threads.

use std::time::Duration;

use rask_graph::Value;
use rask_graph::sample::inc_sum_tree;
use rask_scheduler::{Scheduler, ThreadsScheduler};

/// `Threads:` of /proc/self/status.
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("Threads:")).expect("a Threads: line");
    line["Threads:".len()..].trim().parse().expect("a thread count")
}

/// The CPU ticks (user + system) of each pooled helper thread, by thread id.
fn helper_ticks() -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let dir = entry.expect("a task entry").path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() != "rask-pool" {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).expect("a task's stat");
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let after = &stat[stat.rfind(')').expect("a stat line") + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        out.push((dir.display().to_string(), ticks));
    }
    out.sort();
    out
}

#[test]
fn a_thousand_small_computes_reuse_three_helpers_that_idle_without_cpu() {
    if !std::path::Path::new("/proc/self/status").exists() {
        return;
    }
    let scheduler = ThreadsScheduler::new(4);
    let (graph, root) = inc_sum_tree(20, 4);
    let want = vec![Value::I64(210)];
    assert_eq!(scheduler.execute(&graph, &[root]).unwrap(), want);
    let before = threads();
    for i in 0..1_000 {
        assert_eq!(scheduler.execute(&graph, &[root]).unwrap(), want, "compute {i}");
        assert!(threads() <= before, "compute {i}: {} threads, {before} after the first compute", threads());
    }
    let helpers = helper_ticks();
    assert_eq!(helpers.len(), 3, "{helpers:?}");
    // Idle helpers block: over half a second they get no CPU tick (10 ms each).
    std::thread::sleep(Duration::from_millis(50));
    let idle_start = helper_ticks();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(helper_ticks(), idle_start);
}

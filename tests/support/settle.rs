//! Waiting, bounded, for a cluster to settle: shared by the cluster tests.

// Each test binary that includes this module uses some of it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Reads `read` until `done` holds of it, at most 20 s; returns the last reading.
pub fn settles<T>(mut read: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reading = read();
        if done(&reading) || Instant::now() > deadline {
            return reading;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the scheduler's table holds `n` tasks; returns what it holds.
pub fn table_settles_at(client: &rask::scheduler::Client, n: usize) -> usize {
    settles(|| client.info().unwrap().tasks, |&tasks| tasks == n)
}

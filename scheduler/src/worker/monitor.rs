//! What the worker knows of its own process: resident memory and CPU time (from `/proc`),
//! and whether it must pause, Dask's memory thresholds applied to its `--memory-limit`:
//! the store spills values beyond [`SPILL_FRACTION`] of it, and while the process's memory
//! stays beyond [`PAUSE_FRACTION`] of it (what spilling could not bring down: values in
//! use, or memory the allocator keeps) the worker is *paused*: it tells its scheduler,
//! which sends it no new work while another worker can take it, and it starts a task only
//! when none is running, so that it still makes progress, one task at a time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Managed memory beyond this fraction of the limit is spilled (Dask's `spill`, 0.7).
pub(crate) const SPILL_FRACTION: f64 = 0.7;
/// Process memory beyond this fraction of the limit pauses the worker (Dask's `pause`).
pub(crate) const PAUSE_FRACTION: f64 = 0.8;
/// How often the process's memory is read while tasks start, at most.
const CHECK_EVERY: Duration = Duration::from_millis(5);

/// The process's resident memory and CPU time, and the pause decision; see the module docs.
#[derive(Debug)]
pub(crate) struct Monitor {
    /// Bytes of process memory that pause the worker (`None`: no limit).
    pause_at: Option<u64>,
    paused: AtomicBool,
    last: Mutex<Instant>,
    cpu: Mutex<(Instant, f64)>,
}

impl Monitor {
    pub fn new(memory_limit: Option<u64>) -> Monitor {
        Monitor {
            pause_at: memory_limit.map(|l| (l as f64 * PAUSE_FRACTION) as u64),
            paused: AtomicBool::new(false),
            last: Mutex::new(Instant::now() - CHECK_EVERY),
            cpu: Mutex::new((Instant::now(), cpu_seconds().unwrap_or(0.0))),
        }
    }

    /// Whether new tasks must wait: the process's memory is over the pause threshold.
    /// Reads it at most every few milliseconds.
    pub fn paused(&self) -> bool {
        let Some(pause_at) = self.pause_at else { return false };
        if let Ok(mut last) = self.last.try_lock()
            && last.elapsed() >= CHECK_EVERY
        {
            *last = Instant::now();
            let paused = rss().is_some_and(|r| {
                // Freed blocks kept for reuse go first.
                if r > pause_at && rask_graph::alloc::cached_bytes() > 0 {
                    rask_graph::alloc::release_all();
                    return rss().is_some_and(|r| r > pause_at);
                }
                r > pause_at
            });
            if paused != self.paused.swap(paused, Ordering::SeqCst) {
                tracing::info!(paused, pause_at, "worker memory: {}", if paused { "paused" } else { "resumed" });
            }
        }
        self.paused.load(Ordering::SeqCst)
    }

    /// CPU used since the last call, in percent of one core.
    pub fn cpu_percent(&self) -> f32 {
        let Some(now_cpu) = cpu_seconds() else { return 0.0 };
        let mut cpu = self.cpu.lock().unwrap_or_else(|e| e.into_inner());
        let (then, then_cpu) = *cpu;
        *cpu = (Instant::now(), now_cpu);
        let wall = then.elapsed().as_secs_f64();
        if wall <= 0.0 { 0.0 } else { (100.0 * (now_cpu - then_cpu) / wall) as f32 }
    }
}

/// This process's resident memory in bytes (`/proc/self/statm`).
pub(crate) fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// CPU seconds this process used, user and system (`/proc/self/stat`).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a constant of the system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as u64 } else { 4096 }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_is_measured_and_a_tiny_limit_pauses_it() {
        assert!(rss().is_some_and(|r| r > 1 << 20), "a process holds more than a megabyte");
        let busy: u64 = (0..20_000_000u64).fold(0, |a, b| a.wrapping_add(b * b));
        assert!(busy > 0);
        let monitor = Monitor::new(Some(1 << 20));
        assert!(monitor.paused(), "a process over 800 kB pauses under a 1 MB limit");
        assert!(!Monitor::new(None).paused());
        assert!(!Monitor::new(Some(1 << 50)).paused());
        assert!(monitor.cpu_percent() >= 0.0);
    }
}

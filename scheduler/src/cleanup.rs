//! Directories a process must not leave behind when it ends.
//!
//! Their owners remove them on drop; this module also removes them when the process ends
//! without dropping them: at exit (a default pool lives in a static, never dropped), and
//! on SIGINT, SIGTERM and SIGHUP when the program leaves those signals to their default
//! action (the directories go, then the signal takes its default course). A program that
//! handles those signals itself keeps its handlers; its own exit path drops the owners.
//! SIGKILL runs nothing: the next process to make such a directory removes the ones whose
//! process is gone ([`sweep`]).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes `dir` (with everything in it) when the process ends, unless
/// [`unregister`]ed first.
pub(crate) fn register(dir: &Path) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(install);
    DIRS.lock().unwrap_or_else(|e| e.into_inner()).push(dir.to_path_buf());
}

/// Forgets `dir` (its owner removed it).
pub(crate) fn unregister(dir: &Path) {
    DIRS.lock().unwrap_or_else(|e| e.into_inner()).retain(|d| d != dir);
}

/// Removes every registered directory. Skipped if another thread holds the list (a
/// process ending in the middle of a registration).
fn remove_all() {
    if let Ok(mut dirs) = DIRS.try_lock() {
        for dir in dirs.drain(..) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

extern "C" fn at_exit() {
    remove_all();
}

fn install() {
    // SAFETY: registers a plain function that neither unwinds nor calls exit.
    unsafe {
        libc::atexit(at_exit);
    }
    let signals: Vec<i32> =
        [libc::SIGINT, libc::SIGTERM, libc::SIGHUP].into_iter().filter(|&s| has_default_action(s)).collect();
    if signals.is_empty() {
        return;
    }
    let mut signals = match signal_hook::iterator::Signals::new(&signals) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "cannot watch signals; directories are removed at exit only");
            return;
        }
    };
    let watcher = std::thread::Builder::new().name("rask-cleanup".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            remove_all();
            // Resets the signal to its default action and raises it again: the process
            // ends as it would have without this watcher.
            let _ = signal_hook::low_level::emulate_default_handler(signal);
        }
    });
    if let Err(e) = watcher {
        tracing::debug!(error = %e, "cannot start the signal watcher");
    }
}

/// Whether `signal` is left to its default action.
fn has_default_action(signal: i32) -> bool {
    // SAFETY: queries the current disposition only (a null new action changes nothing).
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut current) == 0 && current.sa_sigaction == libc::SIG_DFL
    }
}

/// Removes the directories in `parent` named `<prefix><pid>-<anything>` whose process
/// no longer runs on this host (left behind by a process killed with SIGKILL). Returns
/// how many were removed.
pub(crate) fn sweep(parent: &Path, prefix: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(prefix)).and_then(|rest| rest.split_once('-')) else {
            continue;
        };
        let Ok(pid) = pid.0.parse::<u32>() else { continue };
        let alive = Path::new(&format!("/proc/{pid}")).exists();
        if !alive && entry.file_type().is_ok_and(|t| t.is_dir()) && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_removes_only_directories_of_processes_that_are_gone() {
        let parent = std::env::temp_dir().join(format!("rask-sweep-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&parent);
        // Pid 0 never names a user process; this test's own pid is alive.
        let gone = parent.join("rask-0-abc");
        let alive = parent.join(format!("rask-{}-abc", std::process::id()));
        let other = parent.join("unrelated-0-abc");
        for d in [&gone, &alive, &other] {
            std::fs::create_dir_all(d.join("inside")).unwrap();
        }
        assert_eq!(sweep(&parent, "rask-"), 1);
        assert!(!gone.exists() && alive.exists() && other.exists());
        std::fs::remove_dir_all(&parent).unwrap();
    }
}

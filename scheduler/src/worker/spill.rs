//! The worker's own directory under `--local-dir` (its data socket and spilled values),
//! and the files that hold spilled values.
//!
//! A worker's directory `rask-worker-<pid>-<n>` comes with a lock file beside it,
//! `rask-worker-<pid>-<n>.lock`, locked for as long as the worker runs (as Dask's
//! `WorkSpace`). A worker killed outright cannot remove its directory; whoever finds the
//! lock free afterwards can ([`purge_stale`]): every worker does on start, and the process
//! pool does when it gives a worker up.
//!
//! A spilled value is one wire frame ([`write_message`] of the [`Value`]) in a file of its
//! own, so a value reads back exactly as it would arrive over a socket, with whatever fast
//! path the wire encoding has for array chunks and record batches.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rask_graph::Value;

use crate::wire::{WireError, read_message, write_message};

/// What worker directories' names start with.
const PREFIX: &str = "rask-worker-";
/// What their lock files' names end with.
const LOCK: &str = ".lock";

/// This worker's directory inside the local dir, and its lock; removed with everything in
/// it on drop.
#[derive(Debug)]
pub(crate) struct LocalDir {
    path: PathBuf,
    lock_path: PathBuf,
    /// Holds the lock while open.
    _lock: File,
}

impl LocalDir {
    /// Creates `parent` if missing, removes the directories of workers that are gone,
    /// then makes a fresh `rask-worker-<pid>-<n>` directory, locked.
    pub fn create(parent: &Path) -> std::io::Result<LocalDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(parent)?;
        purge_stale(parent);
        let pid = std::process::id();
        loop {
            let name = format!("{PREFIX}{pid}-{}", NEXT.fetch_add(1, Ordering::Relaxed));
            let lock_path = parent.join(format!("{name}{LOCK}"));
            // The lock file first, locked: a purge never takes a directory being made.
            let lock = match OpenOptions::new().write(true).create_new(true).open(&lock_path) {
                Ok(file) => file,
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            };
            if lock.try_lock().is_err() {
                continue; // A purge took it between creation and lock; try another name.
            }
            let path = parent.join(&name);
            match fs::create_dir(&path) {
                Ok(()) => return Ok(LocalDir { path, lock_path, _lock: lock }),
                Err(e) => {
                    let _ = fs::remove_file(&lock_path);
                    if e.kind() != ErrorKind::AlreadyExists {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LocalDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path)
            && e.kind() != ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.path.display(), error = %e, "cannot remove the worker's local directory");
        }
        let _ = fs::remove_file(&self.lock_path);
    }
}

/// Removes the worker directories in `parent` whose worker is gone: those whose lock file
/// nobody holds. Returns how many were removed.
///
/// ```
/// let parent = std::env::temp_dir().join(format!("rask-purge-doc-{}", std::process::id()));
/// std::fs::create_dir_all(parent.join("rask-worker-1-0")).unwrap();
/// std::fs::write(parent.join("rask-worker-1-0.lock"), b"").unwrap();
/// assert_eq!(rask_scheduler::worker::purge_stale(&parent), 1);
/// assert!(!parent.join("rask-worker-1-0").exists());
/// std::fs::remove_dir_all(&parent).unwrap();
/// ```
pub fn purge_stale(parent: &Path) -> usize {
    let Ok(entries) = fs::read_dir(parent) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str().filter(|n| n.starts_with(PREFIX)).and_then(|n| n.strip_suffix(LOCK)) else {
            continue;
        };
        let Ok(lock) = OpenOptions::new().write(true).open(entry.path()) else { continue };
        if lock.try_lock().is_ok() {
            let dir = parent.join(name);
            if fs::remove_dir_all(&dir).is_ok() || !dir.exists() {
                let _ = fs::remove_file(entry.path());
                removed += 1;
            }
        }
    }
    removed
}

/// Writes `value` to a new file at `path`; on error the partial file is removed.
pub(crate) fn write_value(path: &Path, value: &Value) -> Result<(), WireError> {
    let context = || format!("cannot write spill file {}", path.display());
    let result = File::create(path).map_err(|e| WireError::io(context(), e)).and_then(|file| {
        let mut writer = BufWriter::with_capacity(1 << 16, file);
        write_message(&mut writer, value)?;
        writer.flush().map_err(|e| WireError::io(context(), e))?;
        writer.into_inner().map_err(|e| WireError::io(context(), e.into_error()))?.sync_data().ok();
        Ok(())
    });
    if result.is_err() {
        let _ = fs::remove_file(path);
    }
    result
}

/// Reads back a value written by [`write_value`].
pub(crate) fn read_value(path: &Path) -> Result<Value, WireError> {
    let file = File::open(path).map_err(|e| WireError::io(format!("cannot open spill file {}", path.display()), e))?;
    read_message(&mut BufReader::with_capacity(1 << 16, file), u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_round_trips_through_a_file_and_the_dir_goes_away() {
        let parent = std::env::temp_dir().join(format!("rask-spill-test-{}", std::process::id()));
        let dir = LocalDir::create(&parent).unwrap();
        let path = dir.path().join("v");
        let value = Value::List(vec![Value::I64(1), Value::Str("x".into())].into());
        write_value(&path, &value).unwrap();
        assert_eq!(read_value(&path).unwrap(), value);
        assert!(read_value(&dir.path().join("absent")).is_err());
        let kept = dir.path().to_path_buf();
        drop(dir);
        assert!(!kept.exists());
        let _ = fs::remove_dir(&parent);
    }

    #[test]
    fn a_live_workers_directory_is_kept_and_a_dead_ones_is_purged() {
        let parent = std::env::temp_dir().join(format!("rask-purge-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&parent);
        let live = LocalDir::create(&parent).unwrap();
        fs::write(live.path().join("x.spill"), b"data").unwrap();
        // A worker killed outright: its directory and an unlocked lock file stay behind.
        let dead = parent.join("rask-worker-999999-0");
        fs::create_dir(&dead).unwrap();
        fs::write(dead.join("y.spill"), b"data").unwrap();
        fs::write(parent.join("rask-worker-999999-0.lock"), b"").unwrap();
        assert_eq!(purge_stale(&parent), 1);
        assert!(!dead.exists() && !parent.join("rask-worker-999999-0.lock").exists());
        assert!(live.path().join("x.spill").exists(), "a running worker's directory is kept");
        // A new worker purges on start.
        fs::create_dir(&dead).unwrap();
        fs::write(parent.join("rask-worker-999999-0.lock"), b"").unwrap();
        let second = LocalDir::create(&parent).unwrap();
        assert!(!dead.exists());
        drop((live, second));
        assert_eq!(fs::read_dir(&parent).unwrap().count(), 0, "both directories and locks removed");
        fs::remove_dir(&parent).unwrap();
    }

    #[test]
    fn an_unwritable_value_leaves_no_file() {
        let dir = LocalDir::create(&std::env::temp_dir()).unwrap();
        let path = dir.path().join("opaque");
        assert!(write_value(&path, &Value::opaque(3u8)).is_err());
        assert!(!path.exists());
    }
}

//! The worker's own directory under `--local-dir` (its data socket and spilled values),
//! and the files that hold spilled values.
//!
//! A spilled value is one wire frame ([`write_message`] of the [`Value`]) in a file of its
//! own, so a value reads back exactly as it would arrive over a socket, with whatever fast
//! path the wire encoding has for array chunks and record batches.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rask_graph::Value;

use crate::wire::{WireError, read_message, write_message};

/// This worker's directory inside the local dir; removed with everything in it on drop.
#[derive(Debug)]
pub(crate) struct LocalDir {
    path: PathBuf,
}

impl LocalDir {
    /// Creates `parent` if missing, then a fresh `rask-worker-<pid>-<n>` directory in it.
    pub fn create(parent: &Path) -> std::io::Result<LocalDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(parent)?;
        let pid = std::process::id();
        loop {
            let path = parent.join(format!("rask-worker-{pid}-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(LocalDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
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
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.path.display(), error = %e, "cannot remove the worker's local directory");
        }
    }
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
    fn an_unwritable_value_leaves_no_file() {
        let dir = LocalDir::create(&std::env::temp_dir()).unwrap();
        let path = dir.path().join("opaque");
        assert!(write_value(&path, &Value::opaque(3u8)).is_err());
        assert!(!path.exists());
    }
}

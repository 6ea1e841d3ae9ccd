//! The scheduler file: where a running scheduler says how to reach it, for workers and
//! clients that are told the file rather than the address (`--scheduler-file`, Dask's
//! `scheduler_file`). JSON: `{"address": "tcp://host:port", "token": "...", "pid": 1234}`;
//! the token only when one is set, so the file is written readable by its owner only.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::SchedulerError;
use crate::wire::Address;

/// The contents of a scheduler file.
///
/// ```
/// use rask_scheduler::SchedulerFile;
/// let path = std::env::temp_dir().join(format!("rask-doc-scheduler-{}.json", std::process::id()));
/// let file = SchedulerFile { address: "tcp://127.0.0.1:8786".parse()?, token: Some("s3cret".into()), pid: 7, dashboard: None };
/// file.write(&path)?;
/// assert_eq!(SchedulerFile::read(&path)?, file);
/// std::fs::remove_file(&path).unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulerFile {
    /// Where the scheduler listens.
    pub address: Address,
    /// The shared secret, if the scheduler has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The scheduler's process id.
    pub pid: u32,
    /// Where its web dashboard is (`http://HOST:PORT/status`), if it serves one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<String>,
}

impl SchedulerFile {
    /// Reads and parses the file; a missing or malformed file is an error naming it.
    pub fn read(path: &Path) -> Result<SchedulerFile, SchedulerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SchedulerError::Config(format!("cannot read the scheduler file {}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| {
            SchedulerError::Config(format!("the scheduler file {} is not one rask wrote: {e}", path.display()))
        })
    }

    /// Writes the file atomically (a temporary file renamed over it), readable and
    /// writable by its owner only.
    pub fn write(&self, path: &Path) -> Result<(), SchedulerError> {
        use std::os::unix::fs::OpenOptionsExt;
        let fail = |e: std::io::Error| {
            SchedulerError::Config(format!("cannot write the scheduler file {}: {e}", path.display()))
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| SchedulerError::Config(e.to_string()))?;
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(format!(".{}.tmp", std::process::id()));
        let temporary = PathBuf::from(temporary);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(fail)?;
        file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(fail)?;
        std::fs::rename(&temporary, path).map_err(fail)
    }
}

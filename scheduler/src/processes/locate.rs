//! Finding the `rask-worker` binary, and the pool's private secrets: its token and its
//! temporary directory.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::SchedulerError;

/// The variable naming the worker binary explicitly.
pub const WORKER_BIN_VAR: &str = "RASK_WORKER_BIN";

/// The `rask-worker` to start: `RASK_WORKER_BIN`, else beside the current executable (or
/// in its parent directory, where `cargo test` binaries in `target/*/deps/` find it), else
/// on `PATH`. Not found is an error naming every place looked at.
pub(crate) fn find_worker_binary() -> Result<PathBuf, SchedulerError> {
    find_binary("rask-worker", WORKER_BIN_VAR)
}

/// The `rask-scheduler` to start: `RASK_SCHEDULER_BIN`, else where [`find_worker_binary`]
/// looks.
pub(crate) fn find_scheduler_binary() -> Result<PathBuf, SchedulerError> {
    find_binary("rask-scheduler", SCHEDULER_BIN_VAR)
}

/// The variable naming the scheduler binary explicitly.
pub const SCHEDULER_BIN_VAR: &str = "RASK_SCHEDULER_BIN";

fn find_binary(name: &str, var: &str) -> Result<PathBuf, SchedulerError> {
    find_in(name, var, std::env::var_os(var), std::env::current_exe().ok(), std::env::var_os("PATH"))
}

fn find_in(
    name: &str,
    var: &str,
    explicit: Option<std::ffi::OsString>,
    exe: Option<PathBuf>,
    path: Option<std::ffi::OsString>,
) -> Result<PathBuf, SchedulerError> {
    if let Some(path) = explicit.filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(not_found(name, var, format!("{var}={} (no such file)", path.display())))
        };
    }
    let name = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let mut searched = vec![format!("{var} (not set)")];
    if let Some(exe) = exe {
        let beside = exe.parent().map(Path::to_path_buf);
        let above = beside.as_deref().and_then(Path::parent).map(Path::to_path_buf);
        for dir in [beside, above].into_iter().flatten() {
            let candidate = dir.join(&name);
            if candidate.is_file() {
                return Ok(candidate);
            }
            searched.push(candidate.display().to_string());
        }
    }
    if let Some(path) = path {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(&name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    searched.push("the directories on PATH".to_string());
    Err(not_found(name.trim_end_matches(std::env::consts::EXE_SUFFIX), var, searched.join(", ")))
}

/// The error for binary `name` (named by `var`) not found where `searched` says.
pub(crate) fn not_found(name: &str, var: &str, searched: String) -> SchedulerError {
    SchedulerError::WorkerNotFound { binary: name.to_string(), var: var.to_string(), searched }
}

/// A random hex secret of 32 bytes: `/dev/urandom`, else std's per-process random hash
/// keys mixed with the time.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).is_ok();
    if !from_os {
        use std::hash::{BuildHasher, Hasher};
        for chunk in bytes.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
            );
            h.write_u32(std::process::id());
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh directory only this user can enter, `rask-<pid>-<random>` in the temp dir, for
/// the pool's socket and the workers' spill files. Removed when dropped, and when the
/// process ends without dropping it ([`cleanup`](crate::cleanup)); creating one first
/// removes those left by processes that were killed outright.
#[derive(Debug)]
pub(crate) struct PrivateDir(PathBuf);

/// What private directories' names start with.
const PREFIX: &str = "rask-";

impl PrivateDir {
    pub(crate) fn create() -> Result<PrivateDir, SchedulerError> {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::temp_dir();
        crate::cleanup::sweep(&base, PREFIX);
        let mut last = None;
        for _ in 0..8 {
            let path = base.join(format!("{PREFIX}{}-{}", std::process::id(), &random_token()[..12]));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    crate::cleanup::register(&path);
                    return Ok(PrivateDir(path));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(SchedulerError::Pool(format!(
            "cannot create a private directory in {}: {}",
            base.display(),
            last.map_or_else(|| "unknown error".to_string(), |e| e.to_string())
        )))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        crate::cleanup::unregister(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_names_the_three_places() {
        let exe = PathBuf::from("/nonexistent/target/debug/deps/tests-1234");
        let e = find_in("rask-worker", WORKER_BIN_VAR, None, Some(exe), Some("/nonexistent/bin".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("RASK_WORKER_BIN (not set)"), "{e}");
        assert!(e.contains("/nonexistent/target/debug/deps/rask-worker"), "{e}");
        assert!(e.contains("/nonexistent/target/debug/rask-worker"), "{e}");
        assert!(e.contains("PATH"), "{e}");
        let e = find_in("rask-worker", WORKER_BIN_VAR, Some("/nonexistent/rask-worker".into()), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("RASK_WORKER_BIN=/nonexistent/rask-worker (no such file)"), "{e}");
    }

    #[test]
    fn the_binary_is_found_beside_the_executable_or_above_it_or_on_path() {
        let dir = PrivateDir::create().unwrap();
        let deps = dir.path().join("deps");
        std::fs::create_dir(&deps).unwrap();
        let worker = dir.path().join("rask-worker");
        std::fs::write(&worker, b"").unwrap();
        let find = |explicit, exe, path| find_in("rask-worker", WORKER_BIN_VAR, explicit, exe, path);
        assert_eq!(find(None, Some(deps.join("test-bin")), None).unwrap(), worker);
        assert_eq!(find(None, None, Some(dir.path().into())).unwrap(), worker);
        assert_eq!(find(Some(worker.clone().into()), None, None).unwrap(), worker);
    }

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn private_dir_is_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = PrivateDir::create().unwrap();
        let path = dir.path().to_path_buf();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o700);
        drop(dir);
        assert!(!path.exists());
    }
}

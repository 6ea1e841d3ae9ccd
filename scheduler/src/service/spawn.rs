//! The process pool's own workers: starting `rask-worker` children, knowing them when they
//! connect, noticing when they exit, and leaving nothing behind.
//!
//! Each child gets the scheduler's address on its command line and the token in
//! `RASK_TOKEN` (never in argv), and a directory of its own in the pool's private
//! directory (or the user's `--local-dir`). A child given up on (exited, killed, hung) is
//! killed and reaped, and the directory it left is removed.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::error::SchedulerError;
use crate::processes::PrivateDir;
use crate::wire::Address;
use crate::worker::purge_stale;

/// How long a starting worker has to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What each worker of a pool is started with.
#[derive(Debug, Clone)]
pub(crate) struct WorkerArgs {
    /// Threads running tasks.
    pub nthreads: usize,
    /// `--memory-limit`, in bytes (`None`: no limit).
    pub memory_limit: Option<u64>,
    /// `--local-dir` (`None`: a directory per worker in the pool's private directory).
    pub local_dir: Option<PathBuf>,
    /// The largest message any process of the pool takes (`--transfer-limit`).
    pub transfer_limit: u64,
}

/// Where a worker was told to make its directory, and whether that place is its alone.
#[derive(Debug)]
struct LocalDir {
    path: PathBuf,
    /// The pool made `path` for this worker only: removed whole once the worker is gone.
    own: bool,
}

impl LocalDir {
    /// Removes what a worker that is gone left here: the whole place if it was the
    /// worker's alone, else the worker directories whose owners no longer run.
    fn remove_leftovers(&self) {
        if self.own {
            let _ = std::fs::remove_dir_all(&self.path);
        } else {
            purge_stale(&self.path);
        }
    }
}

/// A started child.
#[derive(Debug)]
struct Started {
    child: Child,
    local_dir: LocalDir,
    /// When it must have connected by (while joining).
    deadline: Instant,
}

impl Started {
    fn end(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.local_dir.remove_leftovers();
    }
}

/// The pool's children; see the module docs.
#[derive(Debug)]
pub(crate) struct Spawner {
    binary: PathBuf,
    args: WorkerArgs,
    token: String,
    address: Address,
    dir: PathBuf,
    started: usize,
    /// Started, not connected yet, by pid.
    joining: FxHashMap<u32, Started>,
    /// Connected, by worker id.
    running: FxHashMap<u64, Started>,
}

impl Spawner {
    /// A spawner of `binary`, whose children connect to `address` with `token` and make
    /// their directories in `dir` (the pool's private directory) unless told otherwise.
    pub fn new(binary: PathBuf, args: WorkerArgs, token: String, address: Address, dir: &PrivateDir) -> Spawner {
        Spawner {
            binary,
            args,
            token,
            address,
            dir: dir.path().to_path_buf(),
            started: 0,
            joining: FxHashMap::default(),
            running: FxHashMap::default(),
        }
    }

    /// Workers connected and starting.
    pub fn count(&self) -> usize {
        self.joining.len() + self.running.len()
    }

    /// Whether started workers have yet to connect.
    pub fn is_joining(&self) -> bool {
        !self.joining.is_empty()
    }

    /// Starts one worker; it joins when its handshake arrives.
    pub fn spawn(&mut self) -> Result<(), SchedulerError> {
        let i = self.started;
        self.started += 1;
        let local_dir = match &self.args.local_dir {
            Some(dir) => LocalDir { path: dir.clone(), own: false },
            None => LocalDir { path: self.dir.join(format!("worker-{i}")), own: true },
        };
        let mut command = Command::new(&self.binary);
        command
            .arg("--scheduler")
            .arg(self.address.to_string())
            .arg("--nthreads")
            .arg(self.args.nthreads.max(1).to_string())
            .arg("--name")
            .arg(format!("procs-{i}"))
            .arg("--local-dir")
            .arg(&local_dir.path)
            .arg("--transfer-limit")
            .arg(self.args.transfer_limit.to_string());
        if let Some(bytes) = self.args.memory_limit {
            command.arg("--memory-limit").arg(bytes.to_string());
        }
        let child = command
            .env("RASK_TOKEN", &self.token)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| SchedulerError::Pool(format!("cannot start {}: {e}", self.binary.display())))?;
        let pid = child.id();
        self.joining.insert(pid, Started { child, local_dir, deadline: Instant::now() + CONNECT_TIMEOUT });
        Ok(())
    }

    /// A worker with process id `pid` connected as worker `id`: whether it is one of
    /// ours, started and not yet connected.
    pub fn adopt(&mut self, pid: u32, id: u64) -> bool {
        match self.joining.remove(&pid) {
            Some(started) => {
                self.running.insert(id, started);
                true
            }
            None => false,
        }
    }

    /// Children that exited, or did not connect in time: the ids of connected ones that
    /// exited (with how), and why each starting one was given up on.
    pub fn poll(&mut self) -> (Vec<(u64, String)>, Vec<String>) {
        let mut exited = Vec::new();
        for (&id, started) in self.running.iter_mut() {
            match started.child.try_wait() {
                Ok(Some(status)) => exited.push((id, format!("process exited ({status})"))),
                Ok(None) => {}
                Err(e) => exited.push((id, format!("cannot wait for the process: {e}"))),
            }
        }
        let now = Instant::now();
        let (binary, address) = (self.binary.display().to_string(), self.address.to_string());
        let mut failed = Vec::new();
        self.joining.retain(|_, j| {
            let failure = match j.child.try_wait() {
                Ok(Some(status)) => format!("worker {binary} exited ({status}) before connecting to {address}"),
                Ok(None) if now > j.deadline => {
                    format!("worker {binary} did not connect to {address} within {CONNECT_TIMEOUT:?}")
                }
                Ok(None) => return true,
                Err(e) => format!("cannot wait for worker {binary}: {e}"),
            };
            j.end();
            failed.push(failure);
            false
        });
        (exited, failed)
    }

    /// Ends worker `id` (given up on): kills and reaps it, removes its directory.
    pub fn end(&mut self, id: u64) {
        if let Some(mut started) = self.running.remove(&id) {
            started.end();
        }
    }

    /// The process ids of the connected workers.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.running.values().map(|s| s.child.id()).collect();
        pids.sort_unstable();
        pids
    }

    /// Waits up to `grace` for every child to exit (they were told to shut down), then
    /// kills and reaps the rest.
    pub fn shutdown(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && self.running.values_mut().any(|s| matches!(s.child.try_wait(), Ok(None))) {
            std::thread::sleep(Duration::from_millis(2));
        }
        for (_, mut started) in self.running.drain() {
            started.end();
        }
        for (_, mut started) in self.joining.drain() {
            started.end();
        }
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        self.shutdown(Duration::ZERO);
    }
}

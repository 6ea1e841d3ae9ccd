//! A whole cluster on this machine: a real `rask-scheduler` and `n` real `rask-worker`
//! processes on loopback, for tests, benchmarks and a first try of the distributed
//! scheduler (Dask's `LocalCluster`). See [`LocalCluster`].

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::{Client, ClusterAddress, SchedulerFile};
use crate::error::SchedulerError;
use crate::processes::{PrivateDir, find_scheduler_binary, find_worker_binary, random_token};
use crate::wire::Address;

/// How long starting the scheduler and its workers may take.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the processes have to exit after the scheduler is told to stop.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// How a [`LocalCluster`] is made.
///
/// ```
/// let options = rask_scheduler::LocalClusterOptions { workers: 4, memory_limit: Some(1 << 30), ..Default::default() };
/// assert_eq!(options.threads_per_worker, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalClusterOptions {
    /// Workers to start.
    pub workers: usize,
    /// Threads of each worker.
    pub threads_per_worker: usize,
    /// Each worker's `--memory-limit` in bytes (`None`: none).
    pub memory_limit: Option<u64>,
    /// The scheduler's `--client-grace`: how long a disconnected client's keys stay (30 s).
    pub client_grace: std::time::Duration,
    /// Whether the scheduler serves its web dashboard (on 127.0.0.1:8787, or a free port
    /// when that is taken: see [`LocalCluster::dashboard_url`]).
    pub dashboard: bool,
}

impl Default for LocalClusterOptions {
    /// One single-threaded worker per core, no memory limit.
    fn default() -> Self {
        LocalClusterOptions {
            workers: crate::cores(),
            threads_per_worker: 1,
            memory_limit: None,
            client_grace: std::time::Duration::from_secs(30),
            dashboard: true,
        }
    }
}

/// A `rask-scheduler` and its `rask-worker`s on loopback, started by
/// [`LocalCluster::new`] and stopped (every process, and their directory) on drop.
///
/// The binaries are found as the process pool finds its worker: `RASK_SCHEDULER_BIN` and
/// `RASK_WORKER_BIN`, beside the current executable (or in its parent directory), or on
/// `PATH`. The scheduler listens on a free port with a random token.
///
/// ```no_run
/// use rask_scheduler::{LocalCluster, Scheduler};
/// let cluster = LocalCluster::new(2)?;
/// let client = cluster.client()?;
/// assert_eq!(client.info()?.workers.len(), 2);
/// # Ok::<(), rask_scheduler::SchedulerError>(())
/// ```
#[derive(Debug)]
pub struct LocalCluster {
    scheduler: Child,
    workers: Vec<Child>,
    worker_binary: PathBuf,
    options: LocalClusterOptions,
    file: SchedulerFile,
    scheduler_file: PathBuf,
    token: String,
    started: usize,
    // Last: removed once the processes are gone.
    dir: PrivateDir,
}

impl LocalCluster {
    /// A scheduler and `workers` workers of one thread each, all joined.
    pub fn new(workers: usize) -> Result<LocalCluster, SchedulerError> {
        LocalCluster::start(LocalClusterOptions { workers, ..LocalClusterOptions::default() })
    }

    /// A scheduler and workers as `options` say, all joined.
    pub fn start(options: LocalClusterOptions) -> Result<LocalCluster, SchedulerError> {
        let scheduler_binary = find_scheduler_binary()?;
        let worker_binary = find_worker_binary()?;
        let dir = PrivateDir::create()?;
        let scheduler_file = dir.path().join("scheduler.json");
        let token = random_token();
        let scheduler = Command::new(&scheduler_binary)
            .args(["--host", "127.0.0.1", "--port", "0", "--scheduler-file"])
            .arg(&scheduler_file)
            .arg("--client-grace")
            .arg(format!("{}ms", options.client_grace.as_millis()))
            .args((!options.dashboard).then_some(["--dashboard-address", "none"]).into_iter().flatten())
            .env("RASK_TOKEN", &token)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| SchedulerError::Pool(format!("cannot start {}: {e}", scheduler_binary.display())))?;
        let mut cluster = LocalCluster {
            scheduler,
            workers: Vec::new(),
            worker_binary,
            options: options.clone(),
            file: SchedulerFile { address: Address::Unix(PathBuf::new()), token: None, pid: 0, dashboard: None },
            scheduler_file,
            token,
            started: 0,
            dir,
        };
        cluster.file = cluster.wait_for_file()?;
        for _ in 0..options.workers {
            cluster.spawn_worker()?;
        }
        cluster.wait_for_workers(options.workers)?;
        Ok(cluster)
    }

    fn wait_for_file(&mut self) -> Result<SchedulerFile, SchedulerError> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(file) = SchedulerFile::read(&self.scheduler_file) {
                return Ok(file);
            }
            if let Ok(Some(status)) = self.scheduler.try_wait() {
                return Err(SchedulerError::Pool(format!("rask-scheduler exited ({status}) before listening")));
            }
            if Instant::now() > deadline {
                return Err(SchedulerError::Pool(format!("rask-scheduler did not start within {START_TIMEOUT:?}")));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts one more worker (it joins on its own); returns its process id.
    pub fn spawn_worker(&mut self) -> Result<u32, SchedulerError> {
        let i = self.started;
        self.started += 1;
        let mut command = Command::new(&self.worker_binary);
        command
            .arg("--scheduler-file")
            .arg(&self.scheduler_file)
            .args(["--nthreads", &self.options.threads_per_worker.max(1).to_string(), "--name", &format!("local-{i}")])
            .arg("--local-dir")
            .arg(self.dir.path());
        if let Some(limit) = self.options.memory_limit {
            command.arg("--memory-limit").arg(limit.to_string());
        }
        let child = command
            .env("RASK_TOKEN", &self.token)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| SchedulerError::Pool(format!("cannot start {}: {e}", self.worker_binary.display())))?;
        let pid = child.id();
        self.workers.push(child);
        Ok(pid)
    }

    /// Waits until `n` workers are connected.
    pub fn wait_for_workers(&mut self, n: usize) -> Result<(), SchedulerError> {
        let client = self.client()?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let joined = client.info()?.workers.len();
            if joined >= n {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(SchedulerError::Pool(format!("{joined} of {n} workers joined within {START_TIMEOUT:?}")));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A client of the cluster, connected.
    pub fn client(&self) -> Result<Client, SchedulerError> {
        Client::connect_with_token(ClusterAddress::Address(self.file.address.clone()), self.token.clone())
    }

    /// Where the scheduler listens.
    pub fn address(&self) -> &Address {
        &self.file.address
    }

    /// The scheduler file (address and token, readable by this user only).
    pub fn scheduler_file(&self) -> &Path {
        &self.scheduler_file
    }

    /// The status page of the scheduler's dashboard, unless it serves none.
    pub fn dashboard_url(&self) -> Option<&str> {
        self.file.dashboard.as_deref()
    }

    /// The cluster's shared secret.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The scheduler's process id.
    pub fn scheduler_pid(&self) -> u32 {
        self.scheduler.id()
    }

    /// The process ids of the workers started (running or not).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.workers.iter().map(Child::id).collect()
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        // SIGTERM: the scheduler tells its workers to exit, then exits itself.
        // SAFETY: kill only sends a signal to our own child's pid.
        unsafe {
            libc::kill(self.scheduler.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        let mut all = std::iter::once(&mut self.scheduler).chain(self.workers.iter_mut()).collect::<Vec<_>>();
        while Instant::now() < deadline && all.iter_mut().any(|c| matches!(c.try_wait(), Ok(None))) {
            std::thread::sleep(Duration::from_millis(5));
        }
        for child in all {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

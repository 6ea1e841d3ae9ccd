//! What a worker is told when it starts: where its scheduler is, the shared secret, and
//! its resources.

use std::fmt;
use std::path::PathBuf;

use crate::wire::{Address, TlsFiles};

/// How a worker runs; [`WorkerConfig::new`] fills in the defaults.
///
/// ```
/// use rask_scheduler::worker::WorkerConfig;
/// let config = WorkerConfig::new("unix:///tmp/rask-scheduler.sock".parse()?, "secret");
/// assert!(config.nthreads >= 1);
/// assert_eq!(config.memory_limit, None);
/// // The token never shows in logs.
/// assert!(!format!("{config:?}").contains("secret"));
/// # Ok::<(), rask_scheduler::wire::WireError>(())
/// ```
#[derive(Clone)]
pub struct WorkerConfig {
    /// The scheduler to connect to (unless `scheduler_file` is set).
    pub scheduler: Address,
    /// Read the scheduler's address (and, if `token` is empty, its token) from this file,
    /// as `rask-scheduler --scheduler-file` writes it (`None`: use `scheduler`).
    pub scheduler_file: Option<PathBuf>,
    /// The shared secret of the handshake (the binary reads it from `RASK_TOKEN`); empty
    /// for a scheduler without one, or to take the scheduler file's.
    pub token: String,
    /// How long to keep trying to reach the scheduler (and read its file) before giving
    /// up (Dask's `--death-timeout`, 60 s by default).
    pub death_timeout: std::time::Duration,
    /// Threads running tasks (at least one).
    pub nthreads: usize,
    /// The worker's memory limit in bytes (`None`: none): beyond 70% of it in values, the
    /// least recently used spill to disk; beyond 80% of it in process memory, the worker
    /// pauses (Dask's thresholds).
    pub memory_limit: Option<u64>,
    /// Where the worker makes its own directory (data socket, spilled values); created if
    /// missing. The worker's directory is removed when it exits.
    pub local_dir: PathBuf,
    /// A name for logs and the dashboard.
    pub name: String,
    /// The largest message this worker takes, announced to its scheduler and peers
    /// (default: the host's memory, [`transfer_limit`](crate::wire::transfer_limit)).
    pub transfer_limit: u64,
    /// Where the data server listens for peers (`None`: a Unix socket in the worker's
    /// directory when the scheduler's address is a Unix socket, otherwise TCP on the
    /// interface that reaches the scheduler, on a free port). `tcp://0.0.0.0:PORT`
    /// listens on every interface.
    pub listen: Option<Address>,
    /// The data address announced to the scheduler and peers (`None`: the address
    /// listened on; for an unspecified host such as 0.0.0.0, the interface that reaches
    /// the scheduler). Set it when peers reach this worker through another address (NAT,
    /// containers).
    pub contact: Option<Address>,
    /// Certificates for `tls://` addresses, loaded when the worker starts (`None`: those
    /// [`configure_tls`](crate::wire::configure_tls) set, else `RASK_TLS_*`).
    pub tls: Option<TlsFiles>,
}

impl WorkerConfig {
    /// A worker with one thread per core, no memory limit, the system temp dir as local
    /// dir and `host-pid` as name.
    pub fn new(scheduler: Address, token: impl Into<String>) -> WorkerConfig {
        WorkerConfig {
            scheduler,
            scheduler_file: None,
            token: token.into(),
            death_timeout: std::time::Duration::from_secs(60),
            nthreads: crate::cores(),
            memory_limit: None,
            local_dir: std::env::temp_dir(),
            name: default_name(),
            transfer_limit: crate::wire::transfer_limit(),
            listen: None,
            contact: None,
            tls: None,
        }
    }
}

impl fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("scheduler", &self.scheduler)
            .field("scheduler_file", &self.scheduler_file)
            .field("token", &"<redacted>")
            .field("death_timeout", &self.death_timeout)
            .field("nthreads", &self.nthreads)
            .field("memory_limit", &self.memory_limit)
            .field("local_dir", &self.local_dir)
            .field("name", &self.name)
            .field("transfer_limit", &self.transfer_limit)
            .field("listen", &self.listen)
            .field("contact", &self.contact)
            .field("tls", &self.tls)
            .finish()
    }
}

/// `host-pid`, the host name read from the kernel (no libc call needed).
pub fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}-{}", std::process::id())
}

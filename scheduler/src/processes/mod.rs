//! The `processes(n)` scheduler: tasks run in `n` `rask-worker` child processes.
//!
//! The pool is a local cluster: the cluster scheduler's service ([`crate::service`]) runs
//! on a thread of the driver's process, starts its own workers, and the driver's
//! computes are clients of it, so placement, recovery, stealing and memory management are
//! the `rask-scheduler`'s own. Several threads may compute on one pool at once.
//!
//! - [`locate`]: finding the worker binary, the token, the private directory;
//! - this file: [`ProcessesScheduler`], which starts the service on the first compute and
//!   submits each graph through an in-process client.
//!
//! Values stay in the worker that computed them and move only when a task on another
//! worker needs them (worker to worker); only the requested outputs come back.

mod locate;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rask_graph::{TaskGraph, TaskId, Value};

use crate::error::SchedulerError;
use crate::events::RunReport;
use crate::scheduler::Scheduler;
use crate::service::spawn::{Spawner, WorkerArgs};
use crate::service::{PoolConfig, Service, ServiceConfig};
use crate::wire::{Address, Listener};
use crate::worker::HEARTBEAT_EVERY;

pub(crate) use self::locate::PrivateDir;
pub use self::locate::{SCHEDULER_BIN_VAR, WORKER_BIN_VAR};
pub(crate) use self::locate::{find_scheduler_binary, find_worker_binary, random_token};

/// How long a worker may stay silent before it is taken for hung (Dask's `worker-ttl`).
const DEFAULT_WORKER_TTL: Duration = Duration::from_secs(300);
/// The shortest worker ttl: two missed heartbeats.
const MIN_WORKER_TTL: Duration = Duration::from_secs(2 * HEARTBEAT_EVERY.as_secs());
/// How long a compute waits for the pool's workers to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How the pool listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// A Unix socket in the pool's private directory.
    Unix,
    /// TCP on 127.0.0.1.
    Tcp,
}

/// A started pool: its service, then its directory (removed after the service stopped).
#[derive(Debug)]
struct Pool {
    service: Service,
    _dir: PrivateDir,
}

/// Runs tasks in `n` `rask-worker` processes on this machine, like Dask's
/// `processes` scheduler, but keeping values in the workers: a task goes to the worker
/// where it would start soonest (its queue plus the inputs it must fetch), values move
/// between workers only when needed, and only the outputs come back.
///
/// The pool starts on the first compute and stays warm across computes; dropping the
/// scheduler shuts the workers down (none outlives it, even on a panic). The worker binary
/// is found through `RASK_WORKER_BIN`, beside the current executable (or in its parent
/// directory), or on `PATH`; a project with ops of its own builds its own worker, a
/// one-line `main` calling `rask::worker::main()`. Only registered ops can run in a
/// worker: a graph holding a closure op is refused before anything starts, naming the task.
/// A worker lost mid-run (killed, crashed, hung) costs only time: its tasks run elsewhere,
/// the values it held are recomputed if still needed, and a replacement joins. A task that
/// was running on four workers that died is not tried again
/// ([`SchedulerError::KilledWorker`]). Several threads may compute at once; a key two
/// computes share runs once.
///
/// ```no_run
/// use std::sync::Arc;
/// use rask_graph::{ops, Arg, Group, Key, Op, TaskGraph, Token, Value};
/// use rask_scheduler::{ProcessesScheduler, Scheduler};
/// let inc: Arc<dyn Op> = Arc::new(ops::Inc);
/// let mut b = TaskGraph::builder();
/// let x = b.add(Key::single(Group::new("inc"), Token(1)), &inc, [Arg::Value(Value::I64(1))]).unwrap();
/// let scheduler = ProcessesScheduler::new(2);
/// assert_eq!(scheduler.execute(&b.build().unwrap(), &[x]).unwrap(), vec![Value::I64(2)]);
/// ```
pub struct ProcessesScheduler {
    workers: usize,
    args: WorkerArgs,
    transport: Transport,
    binary: Option<PathBuf>,
    pool: Mutex<Option<Pool>>,
    worker_ttl: Duration,
}

impl std::fmt::Debug for ProcessesScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessesScheduler")
            .field("workers", &self.workers)
            .field("threads_per_worker", &self.args.nthreads)
            .field("memory_limit", &self.args.memory_limit)
            .field("pids", &self.worker_pids())
            .finish()
    }
}

impl ProcessesScheduler {
    /// A pool of `workers` processes (at least one), one thread each.
    pub fn new(workers: usize) -> Self {
        ProcessesScheduler {
            workers: workers.max(1),
            args: WorkerArgs {
                nthreads: 1,
                memory_limit: None,
                local_dir: None,
                transfer_limit: crate::wire::transfer_limit(),
            },
            transport: Transport::Unix,
            binary: None,
            pool: Mutex::new(None),
            worker_ttl: DEFAULT_WORKER_TTL,
        }
    }

    /// Each worker runs tasks on `threads` threads (at least one).
    pub fn with_threads_per_worker(mut self, threads: usize) -> Self {
        self.args.nthreads = threads.max(1);
        self
    }

    /// Each worker keeps at most this many bytes of values in memory and spills the least
    /// recently used to disk beyond it (`rask-worker --memory-limit`; default: no limit).
    ///
    /// ```
    /// let pool = rask_scheduler::ProcessesScheduler::new(2).with_memory_limit(4 << 30);
    /// # let _ = pool;
    /// ```
    pub fn with_memory_limit(mut self, bytes: u64) -> Self {
        self.args.memory_limit = Some(bytes);
        self
    }

    /// Workers spill to directories they make in `dir` (`rask-worker --local-dir`;
    /// default: a private directory of the pool, under the system temp dir).
    pub fn with_local_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.args.local_dir = Some(dir.into());
        self
    }

    /// A worker silent this long during a compute (no heartbeat, which it sends every
    /// second even while busy) is taken for hung: it is killed, replaced, and its work
    /// redone elsewhere. Default: five minutes, as Dask's `worker-ttl`. A ttl shorter than
    /// two heartbeats (2 s) would give up on healthy workers: a compute with one is an
    /// error saying so.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = rask_scheduler::ProcessesScheduler::new(2).with_worker_ttl(Duration::from_secs(30));
    /// assert_eq!(pool.worker_ttl(), Duration::from_secs(30));
    /// ```
    pub fn with_worker_ttl(mut self, ttl: Duration) -> Self {
        self.worker_ttl = ttl;
        self
    }

    /// How long a worker may stay silent; see [`with_worker_ttl`](Self::with_worker_ttl).
    pub fn worker_ttl(&self) -> Duration {
        self.worker_ttl
    }

    /// The largest message, in bytes, any process of the pool takes: a value larger than
    /// this is not moved between workers nor gathered, and the compute fails with
    /// [`SchedulerError::Transfer`] naming its task. Default: the host's memory
    /// ([`transfer_limit`](crate::wire::transfer_limit)), so any value that fits in memory
    /// moves; set a lower one to keep a stray huge result from exhausting the driver (as
    /// Spark's `maxResultSize`).
    ///
    /// ```
    /// let pool = rask_scheduler::ProcessesScheduler::new(2).with_transfer_limit(1 << 30);
    /// # let _ = pool;
    /// ```
    pub fn with_transfer_limit(mut self, bytes: u64) -> Self {
        self.args.transfer_limit = bytes;
        self
    }

    /// Workers connect over TCP loopback instead of a Unix socket.
    pub fn with_tcp(mut self) -> Self {
        self.transport = Transport::Tcp;
        self
    }

    /// Starts this worker binary instead of looking for `rask-worker`.
    pub fn with_worker_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// The number of worker processes.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The process ids of the running workers (empty before the first compute), for
    /// measuring their memory.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|p| p.service.pids()).unwrap_or_default()
    }

    /// How many workers were lost so far (killed, crashed, disconnected, hung); each is
    /// replaced at once, and the computes go on while its replacement starts.
    pub fn workers_lost(&self) -> usize {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map_or(0, |p| p.service.lost())
    }

    /// The address the pool listens on for its workers (`None` before the first compute
    /// and after [`shutdown`](Self::shutdown)). Only holders of the pool's token may join.
    pub fn address(&self) -> Option<Address> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|p| p.service.address().clone())
    }

    /// Stops the workers now (the next compute starts new ones).
    pub fn shutdown(&self) {
        drop(self.pool.lock().unwrap_or_else(|e| e.into_inner()).take());
    }

    fn start_pool(&self) -> Result<Pool, SchedulerError> {
        let binary = match &self.binary {
            Some(b) if b.is_file() => b.clone(),
            Some(b) => {
                return Err(locate::not_found(
                    "rask-worker",
                    WORKER_BIN_VAR,
                    format!("{} (no such file)", b.display()),
                ));
            }
            None => locate::find_worker_binary()?,
        };
        let dir = PrivateDir::create()?;
        let socket = dir.path().join("scheduler.sock");
        // A Unix socket path is limited to about 100 bytes; a long TMPDIR falls back to TCP.
        let address = if self.transport == Transport::Unix && socket.as_os_str().len() < 100 {
            Address::Unix(socket)
        } else {
            Address::Tcp("127.0.0.1:0".to_string())
        };
        let listener = Listener::bind(&address).map_err(|e| SchedulerError::Pool(e.to_string()))?;
        let token = locate::random_token();
        let spawner = Spawner::new(binary, self.args.clone(), token.clone(), listener.address().clone(), &dir);
        let service = Service::start(ServiceConfig {
            name: "process pool",
            token,
            transfer_limit: self.args.transfer_limit,
            worker_ttl: self.worker_ttl,
            listener,
            pool: Some(PoolConfig { spawner, workers: self.workers }),
            clients: false,
            client_grace: Duration::ZERO,
        })?;
        Ok(Pool { service, _dir: dir })
    }

    /// The pool's service, started (with every worker joined) if it was not.
    fn service(&self) -> Result<std::sync::MutexGuard<'_, Option<Pool>>, SchedulerError> {
        let mut slot = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(self.start_pool()?);
        }
        let pool = slot.as_ref().expect("started");
        if let Err(e) = pool.service.wait_for_workers(self.workers, START_TIMEOUT) {
            // A pool whose workers cannot start is dropped; the next compute tries afresh.
            slot.take();
            return Err(e);
        }
        Ok(slot)
    }
}

impl Default for ProcessesScheduler {
    /// One worker per core.
    fn default() -> Self {
        ProcessesScheduler::new(crate::cores())
    }
}

impl Scheduler for ProcessesScheduler {
    fn name(&self) -> String {
        format!("processes({})", self.workers)
    }

    fn execute(&self, graph: &TaskGraph, outputs: &[TaskId]) -> Result<Vec<Value>, SchedulerError> {
        if self.worker_ttl < MIN_WORKER_TTL {
            return Err(SchedulerError::Config(format!(
                "a worker ttl of {:?} is shorter than two heartbeats ({MIN_WORKER_TTL:?}): healthy workers would be \
                 taken for hung; give with_worker_ttl at least {MIN_WORKER_TTL:?}",
                self.worker_ttl
            )));
        }
        graph.check_portable()?;
        let report = RunReport::begin(graph, &self.name());
        let submission = crate::cluster::submission(graph, outputs, report.run())?;
        if graph.is_empty() {
            report.finish(true);
            return Ok(Vec::new());
        }
        // Only starting the pool holds the lock: computes run side by side.
        let client = self.service()?.as_ref().expect("started").service.client();
        let started = Instant::now();
        let result = client.compute(submission).map(|values| {
            outputs.iter().map(|&o| values.get(&graph.key(o)).cloned().unwrap_or(Value::Unit)).collect::<Vec<_>>()
        });
        drop(client);
        tracing::debug!(tasks = graph.len(), elapsed = ?started.elapsed(), ok = result.is_ok(), "compute on the process pool");
        report.finish(result.is_ok());
        result
    }
}

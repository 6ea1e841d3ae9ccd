//! The worker process: runs the tasks a scheduler sends, keeps their values, serves them
//! to peers, and spills to disk beyond a memory limit. The `rask-worker` binary is
//! [`run_worker`] behind a command line (`rask::worker::main()`).
//!
//! One pure state machine and a thin shell of threads around it:
//!
//! - `tasks`: which tasks wait for which inputs, which are ready (lower priority first),
//!   which run; no I/O (tested on its own).
//! - `store`: values by key with byte accounting and least-recently-used spilling to
//!   files (`spill`) in the worker's own directory under `local_dir`.
//! - `control` (the calling thread): reads [`ToWorker`](crate::wire::ToWorker) from the scheduler, decodes op
//!   tables (an unknown op fails only its tasks), submits tasks, answers `Gather`, applies
//!   `Release`, and returns on `Shutdown` or when the connection closes.
//! - `executor`: `nthreads` task threads popping ready tasks and calling their ops with
//!   [`call_op`](crate::call_op) (panics caught, errors name the key and op).
//! - `fetch`: fetcher threads getting `Remote` inputs from peers' data servers, one
//!   request per peer for all the keys wanted from it, over cached connections. Fetching
//!   has threads of its own rather than happening in a task thread before the task runs:
//!   a task thread never waits on the network while other tasks are ready, and a task is
//!   queued as ready only once all its inputs are here, so priorities stay meaningful.
//! - `server`: the data server, handshakes off its accept thread and one thread per peer
//!   connection (at most 256, the idlest closed beyond); a peer with a bad token or garbage
//!   bytes is logged and dropped, nothing else is affected.
//! - `outbox`: the only writer of the scheduler connection; batches `Finished` notices
//!   (flushed when the worker has no ready or running task, or 2 ms after the oldest),
//!   and sends a `Heartbeat` about once a second.
//! - `answer`: values asked for (a `Gather`, a peer's `Get`) go out within the asker's
//!   transfer limit, announced in its handshake; one too large for it is answered
//!   `Refused` with its size, so the asker fails the work that needs it rather than
//!   asking again.
//!
//! What a scheduler can rely on, beyond the message docs:
//!
//! - A value fetched for a `Remote` input goes into that task's arguments only: the
//!   worker does not hold it afterwards (nothing to `Release`; a later `Held` of that key
//!   on this worker is `Missing`). A `Remote` input naming this worker's own data address
//!   is read as `Held`.
//! - A task dropped as `Missing` takes the tasks here waiting for it along, each reported
//!   `Missing { task, key: <the dropped task>, from: <this worker> }`; tasks waiting for a
//!   task that *failed* are dropped without a message.
//! - A key submitted again while queued here is ignored; submitted again once held, it is
//!   recomputed and replaces the value. `Release` forgets held values only; it does not
//!   cancel queued tasks.
//! - Spilling happens on the thread whose store call went over the limit (a task thread
//!   storing its result, usually), outside the store's lock.
//!
//! On exit (scheduler gone or `Shutdown`) no new task starts, every thread is told to
//! stop and joined for up to half a second (a task still running after that is left to
//! finish on its own, its result discarded), and the worker's directory is removed. A
//! worker killed outright leaves its directory; the next worker started in the same local
//! dir removes it ([`purge_stale`]).
//!
//! ```no_run
//! use rask_scheduler::worker::{run_worker, WorkerConfig};
//! let mut config = WorkerConfig::new("tcp://127.0.0.1:8786".parse()?, std::env::var("RASK_TOKEN")?);
//! config.nthreads = 4;
//! config.memory_limit = Some(4 << 30);
//! run_worker(config)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod answer;
mod config;
mod control;
mod error;
mod executor;
mod fetch;
mod monitor;
mod outbox;
mod server;
mod spill;
mod store;
mod tasks;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

pub use config::WorkerConfig;
pub use error::WorkerError;
pub use spill::purge_stale;

pub(crate) use outbox::HEARTBEAT_EVERY;

use self::fetch::{FetchJob, Peers};
use self::outbox::Out;
use self::server::OpenConnections;
use self::spill::LocalDir;
use self::store::Store;
use self::tasks::{Effect, Tasks};
use crate::net::{AcceptConfig, Acceptor};
use crate::wire::{
    Address, Connection, FromWorker, HANDSHAKE_TIMEOUT, Hello, Listener, Role, TaskFailure, WireError, WorkerInfo,
    connect_handshake,
};

/// Peer handshakes in progress on the data server at most.
const MAX_PENDING_HANDSHAKES: usize = 64;

/// How long exiting waits for threads before leaving them behind.
const JOIN_TIMEOUT: Duration = Duration::from_millis(500);

/// What every thread of a worker shares.
#[derive(Debug)]
struct Shared {
    tasks: Mutex<Tasks>,
    /// Task threads wait here for ready tasks.
    work: Condvar,
    store: Store,
    /// The process's memory and CPU; whether to pause.
    monitor: monitor::Monitor,
    stop: AtomicBool,
    /// Ready plus running tasks, updated under the `tasks` lock; the outbox flushes
    /// `Finished` notices when it is zero.
    active: AtomicUsize,
    /// This worker's data address.
    me: Address,
    token: String,
    /// The largest message this worker takes.
    transfer_limit: u64,
    /// The largest message the scheduler takes.
    scheduler_limit: u64,
    outbox: Sender<Out>,
    fetches: Sender<FetchJob>,
    peers: Peers,
    open: OpenConnections,
}

impl Shared {
    fn lock_tasks(&self) -> MutexGuard<'_, Tasks> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes the active count and wakes a task thread per newly ready task; call with
    /// the lock held.
    fn after_transition(&self, tasks: &Tasks, newly_ready: usize) {
        self.active.store(tasks.active(), Ordering::SeqCst);
        match newly_ready {
            0 => {}
            1 => self.work.notify_one(),
            _ => self.work.notify_all(),
        }
    }

    /// Carries out what the state machine asked for.
    fn apply(&self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Fetch { key, from } => {
                    let _ = self.fetches.send(FetchJob::Get { key, from });
                }
                Effect::Missing { task, key, from } => {
                    let from = from.unwrap_or_else(|| self.me.clone());
                    tracing::debug!(%task, %key, %from, "task dropped: an input is missing");
                    self.send(FromWorker::Missing { task, key, from });
                }
                Effect::Failed { task, op, message } => {
                    tracing::debug!(%task, %op, %message, "task failed before it ran");
                    self.send(FromWorker::Failed(TaskFailure { key: task, op, message, panicked: false }));
                }
            }
        }
    }

    fn send(&self, message: FromWorker) {
        let _ = self.outbox.send(Out::Message(message));
    }
}

/// The address peers should use for a listener bound at `bound`: itself, unless its host
/// is unspecified (`0.0.0.0`, `::`), which becomes `reachable` (same port).
fn contact_address(bound: &Address, reachable: std::net::IpAddr) -> Address {
    let reachable_at = |hostport: &str| match hostport.parse::<std::net::SocketAddr>() {
        Ok(a) if a.ip().is_unspecified() => Some(std::net::SocketAddr::new(reachable, a.port()).to_string()),
        _ => None,
    };
    match bound {
        Address::Tcp(hostport) => reachable_at(hostport).map_or_else(|| bound.clone(), Address::Tcp),
        Address::Tls(hostport) => reachable_at(hostport).map_or_else(|| bound.clone(), Address::Tls),
        Address::Unix(_) => bound.clone(),
    }
}

/// Why [`run_worker`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The scheduler went away or said `Shutdown`: the process should exit.
    Stopped,
    /// The scheduler asked for a restart: the process should start again as new, with
    /// the same command line (the `rask-worker` binary execs itself).
    Restart,
}

/// Runs a worker until its scheduler closes the connection or says `Shutdown` (or
/// `Restart`: see [`Ended`]).
///
/// Connects to the scheduler, binds the data server (where [`WorkerConfig::listen`]
/// says), then handshakes as [`Role::Worker`], announcing its contact address
/// ([`WorkerConfig::contact`]). Returns `Ok(())` when the scheduler went away or
/// asked the worker to stop; an error if it could not start or the connection broke with
/// a protocol error.
pub fn run_worker(config: WorkerConfig) -> Result<Ended, WorkerError> {
    if let Some(files) = &config.tls {
        crate::wire::configure_tls(files).map_err(WorkerError::Tls)?;
    }
    if let Some(limit) = config.memory_limit {
        // Freed blocks kept for reuse (when the binary uses `rask_graph::alloc::LargeBlocks`).
        rask_graph::alloc::set_budget((limit / 10) as usize);
    }
    let dir = LocalDir::create(&config.local_dir)
        .map_err(|source| WorkerError::LocalDir { path: config.local_dir.clone(), source })?;
    let (mut conn, address, token) = reach_scheduler(&config)?;
    // The interface that reaches the scheduler is the one peers are most likely to reach.
    let reachable = conn.local_ip().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
    let data_address = config.listen.clone().unwrap_or_else(|| match &address {
        Address::Unix(_) => Address::Unix(dir.path().join("data.sock")),
        Address::Tcp(_) => Address::Tcp(std::net::SocketAddr::new(reachable, 0).to_string()),
        // A cluster that encrypts its control traffic encrypts its data too.
        Address::Tls(_) => Address::Tls(std::net::SocketAddr::new(reachable, 0).to_string()),
    });
    let listener = Listener::bind(&data_address).map_err(WorkerError::DataServer)?;
    let me = config.contact.clone().unwrap_or_else(|| contact_address(listener.address(), reachable));
    let nthreads = config.nthreads.max(1);
    let hello = Hello {
        token: token.clone(),
        role: Role::Worker(WorkerInfo {
            name: config.name.clone(),
            nthreads: nthreads as u32,
            memory_limit: config.memory_limit,
            pid: std::process::id(),
            data_address: me.clone(),
        }),
        limit: config.transfer_limit,
    };
    let welcome = connect_handshake(&mut conn, &hello)
        .map_err(|source| WorkerError::Handshake { address: address.clone(), source })?;
    let id = welcome.id;
    tracing::info!(name = %config.name, id, scheduler = %address, data = %me, nthreads, "worker connected");

    let (outbox_tx, outbox_rx) = crossbeam_channel::unbounded();
    let (fetch_tx, fetch_rx) = crossbeam_channel::unbounded();
    let shared = Arc::new(Shared {
        tasks: Mutex::new(Tasks::default()),
        work: Condvar::new(),
        store: Store::new(config.memory_limit.map(|l| (l as f64 * monitor::SPILL_FRACTION) as u64), dir.path()),
        monitor: monitor::Monitor::new(config.memory_limit),
        stop: AtomicBool::new(false),
        active: AtomicUsize::new(0),
        me: me.clone(),
        token: token.clone(),
        transfer_limit: config.transfer_limit,
        scheduler_limit: welcome.limit,
        outbox: outbox_tx,
        fetches: fetch_tx,
        peers: Peers::default(),
        open: OpenConnections::default(),
    });

    let mut threads = Vec::new();
    let (accepted_tx, accepted) = crossbeam_channel::bounded(MAX_PENDING_HANDSHAKES);
    let accept = AcceptConfig {
        token: token.clone(),
        limit: config.transfer_limit,
        max_pending: MAX_PENDING_HANDSHAKES,
        timeout: HANDSHAKE_TIMEOUT,
        name: "data server",
    };
    let acceptor = Acceptor::start(listener, accept, accepted_tx).map_err(WorkerError::DataServer)?;
    let started = (|| -> Result<(), WorkerError> {
        let writer = conn.try_clone().map_err(WorkerError::Connection)?;
        threads.push(spawn("rask-outbox", {
            let shared = shared.clone();
            move || outbox::run(writer, outbox_rx, &shared)
        })?);
        threads.push(spawn("rask-data-server", {
            let shared = shared.clone();
            move || server::run(accepted, &shared)
        })?);
        for i in 0..fetch::FETCHERS {
            let (shared, jobs) = (shared.clone(), fetch_rx.clone());
            threads.push(spawn(&format!("rask-fetch-{i}"), move || fetch::run(jobs, &shared))?);
        }
        for i in 0..nthreads {
            let shared = shared.clone();
            threads.push(spawn(&format!("rask-task-{i}"), move || executor::run(&shared))?);
        }
        Ok(())
    })();

    let result = match started {
        Ok(()) => control::run(&mut conn, &shared).map_err(WorkerError::Connection),
        Err(e) => Err(e),
    };
    stop(&shared);
    drop(acceptor);
    join_within(threads, JOIN_TIMEOUT);
    // Unblocks an outbox left behind in a write the scheduler never reads.
    conn.shutdown();
    drop(dir);
    tracing::info!(name = %config.name, "worker stopped");
    result
}

/// Connects to the scheduler (its address from the scheduler file if one is given),
/// retrying until the death timeout; returns the connection, the address and the token
/// to present (the configured one, else the scheduler file's).
fn reach_scheduler(config: &WorkerConfig) -> Result<(Connection, Address, String), WorkerError> {
    let deadline = Instant::now() + config.death_timeout;
    let mut pause = Duration::from_millis(50);
    loop {
        let target = match &config.scheduler_file {
            Some(path) => crate::client::SchedulerFile::read(path).map(|f| (f.address, f.token)),
            None => Ok((config.scheduler.clone(), None)),
        };
        let attempt = match target {
            Ok((address, file_token)) => match Connection::connect(&address) {
                Ok(conn) => {
                    let token =
                        if config.token.is_empty() { file_token.unwrap_or_default() } else { config.token.clone() };
                    return Ok((conn, address, token));
                }
                // Missing or broken certificates will not mend by waiting.
                Err(source @ WireError::Tls(_)) => return Err(WorkerError::Connect { address, source }),
                Err(source) => WorkerError::Connect { address, source },
            },
            Err(e) => WorkerError::SchedulerFile(e.to_string()),
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(attempt);
        }
        tracing::debug!(error = %attempt, "scheduler not reachable yet; retrying");
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Tells every thread to stop and unblocks those waiting on sockets or channels.
fn stop(shared: &Shared) {
    {
        let _tasks = shared.lock_tasks();
        shared.stop.store(true, Ordering::SeqCst);
        shared.work.notify_all();
    }
    let _ = shared.fetches.send(FetchJob::Stop);
    let _ = shared.outbox.send(Out::Stop);
    shared.open.shutdown_all();
    shared.peers.clear();
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, WorkerError> {
    std::thread::Builder::new().name(name.to_string()).spawn(body).map_err(WorkerError::Thread)
}

/// Joins the threads that end within `timeout`; the others are left to end on their own.
fn join_within(threads: Vec<JoinHandle<()>>, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    for handle in threads {
        while !handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if handle.is_finished() {
            if handle.join().is_err() {
                tracing::error!("a worker thread panicked");
            }
        } else {
            tracing::warn!(thread = handle.thread().name().unwrap_or("?"), "thread still busy at exit; left behind");
        }
    }
}

//! The warm pool of `rask-worker` child processes: starting them, their connections,
//! and making sure none outlives the pool, nor any directory of theirs.
//!
//! The pool listens on a Unix socket in a private temporary directory (or on TCP
//! loopback), starts each child with the scheduler address on its command line and a
//! random token in `RASK_TOKEN` (never in argv), and takes their handshakes through an
//! [`Acceptor`], which runs each handshake off the accept thread within one deadline, so
//! no caller on the socket can hold up a replacement worker or the pool's shutdown. Each
//! worker's connection is a [`Link`]: messages to it are queued, never written on the
//! caller's thread, and messages from it arrive on one channel, which the execute loop
//! drains; a closed connection is [`Incoming::Closed`]. Dropping the pool sends
//! `Shutdown`, waits briefly, then kills and reaps whatever is left; the workers also exit
//! by themselves when their connection closes, which covers a killed parent.
//!
//! A worker given up on (killed, crashed, hung) leaves its directory behind (spilled
//! values, its data socket): the pool removes it once the process is reaped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::locate::{PrivateDir, random_token};
use super::state::WorkerSpec;
use crate::error::SchedulerError;
use crate::events::{Event, bus};
use crate::net::{AcceptConfig, Accepted, Acceptor, Link};
use crate::wire::{
    Address, Connection, FromWorker, HANDSHAKE_TIMEOUT, Listener, Role, ToWorker, WireError, WorkerInfo,
};
use crate::worker::purge_stale;

/// How long a starting worker has to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`Pool::ensure`] waits for handshakes between checks on the starting workers.
const JOIN_POLL: Duration = Duration::from_millis(20);
/// How long dropped workers have to exit after `Shutdown` before they are killed.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);
/// Handshakes in progress on the pool's socket at most (beyond, the oldest is dropped).
const MAX_PENDING_HANDSHAKES: usize = 64;
/// Completed handshakes waiting to be taken up by the pool at most.
const MAX_ACCEPTED: usize = 64;

/// What a worker's link reports.
pub(crate) type Incoming = crate::net::Incoming<FromWorker>;

/// How the pool listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// A Unix socket in the pool's private directory.
    Unix,
    /// TCP on 127.0.0.1.
    Tcp,
}

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

/// One connected worker process.
#[derive(Debug)]
pub(crate) struct WorkerProcess {
    /// The id its handshake was given; tags its messages on the channel.
    pub id: u64,
    pub info: WorkerInfo,
    child: Child,
    link: Link,
    local_dir: LocalDir,
    pub alive: bool,
}

impl WorkerProcess {
    /// The worker as a run's state machine sees it.
    pub fn spec(&self) -> WorkerSpec {
        WorkerSpec {
            nthreads: self.info.nthreads.max(1),
            data_address: self.info.data_address.clone(),
            limit: self.link.limit(),
        }
    }

    /// Marks the worker gone and tells the event bus why.
    pub fn left(&mut self, reason: &str) {
        self.alive = false;
        publish(Event::WorkerLeft { worker: self.id as u32, reason: reason.to_string(), at: Instant::now() });
    }

    /// Queues one message, never waiting for the worker. An `Err` is an error of the
    /// message (it cannot be encoded, or exceeds the worker's limit); a worker that is
    /// gone is reported later as [`Incoming::Closed`].
    pub fn send(&self, message: &ToWorker) -> Result<(), WireError> {
        self.link.send(message)
    }

    /// How long since the worker last sent anything (heartbeats come every second).
    pub fn silent_for(&self) -> Duration {
        self.link.silent_for()
    }

    /// Whether the process exited (and how).
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("process exited ({status})")),
            Ok(None) => None,
            Err(e) => Some(format!("cannot wait for the process: {e}")),
        }
    }

    /// Ends a worker given up on: closes its connection, kills and reaps the process, and
    /// removes the directory it left.
    pub fn kill(&mut self) {
        self.alive = false;
        self.link.close();
        reap(&mut self.child);
        self.local_dir.remove_leftovers();
    }
}

/// A started worker process that has not connected yet.
#[derive(Debug)]
struct Joining {
    child: Child,
    deadline: Instant,
    local_dir: LocalDir,
}

impl Joining {
    fn abandon(&mut self) {
        reap(&mut self.child);
        self.local_dir.remove_leftovers();
    }
}

/// What [`Pool::poll_joined`] found.
#[derive(Debug, Default)]
pub(crate) struct Joined {
    /// Indices into [`Pool::workers`] of the workers that joined.
    pub joined: Vec<usize>,
    /// Why each worker given up on did not join.
    pub failed: Vec<String>,
}

/// The pool; see the module docs.
#[derive(Debug)]
pub(crate) struct Pool {
    binary: PathBuf,
    args: WorkerArgs,
    token: String,
    /// Worker processes, connected (dead ones are pruned by [`Pool::ensure`]).
    pub workers: Vec<WorkerProcess>,
    /// Messages from every worker, tagged with its id.
    pub incoming: Receiver<(u64, Incoming)>,
    incoming_tx: Sender<(u64, Incoming)>,
    accepted: Receiver<Accepted>,
    started: usize,
    /// Started, not yet connected.
    joining: Vec<Joining>,
    pids: Arc<Mutex<Vec<u32>>>,
    // Dropped after `Drop::drop`, in this order: the listener, then its directory.
    acceptor: Acceptor,
    dir: PrivateDir,
}

impl Pool {
    /// Listens and starts no worker yet; [`Pool::ensure`] starts them.
    pub fn new(
        binary: PathBuf,
        args: WorkerArgs,
        transport: Transport,
        pids: Arc<Mutex<Vec<u32>>>,
    ) -> Result<Pool, SchedulerError> {
        let dir = PrivateDir::create()?;
        let socket = dir.path().join("scheduler.sock");
        // A Unix socket path is limited to about 100 bytes; a long TMPDIR falls back to TCP.
        let address = if transport == Transport::Unix && socket.as_os_str().len() < 100 {
            Address::Unix(socket)
        } else {
            Address::Tcp("127.0.0.1:0".to_string())
        };
        let listener = Listener::bind(&address).map_err(|e| SchedulerError::Pool(e.to_string()))?;
        let token = random_token();
        let (accepted_tx, accepted) = crossbeam_channel::bounded(MAX_ACCEPTED);
        let config = AcceptConfig {
            token: token.clone(),
            limit: args.transfer_limit,
            max_pending: MAX_PENDING_HANDSHAKES,
            timeout: HANDSHAKE_TIMEOUT,
            name: "process pool",
        };
        let acceptor =
            Acceptor::start(listener, config, accepted_tx).map_err(|e| SchedulerError::Pool(e.to_string()))?;
        let (incoming_tx, incoming) = crossbeam_channel::unbounded();
        Ok(Pool {
            binary,
            args,
            token,
            workers: Vec::new(),
            incoming,
            incoming_tx,
            accepted,
            started: 0,
            joining: Vec::new(),
            pids,
            acceptor,
            dir,
        })
    }

    /// Prunes dead workers and starts new ones until `n` are connected (counting those
    /// already starting), waiting for all of them.
    pub fn ensure(&mut self, n: usize) -> Result<(), SchedulerError> {
        // What workers said between computes: heartbeats (dropped), or a connection lost.
        while let Ok((id, message)) = self.incoming.try_recv() {
            if let (Incoming::Closed(reason), Some(w)) = (message, self.workers.iter_mut().find(|w| w.id == id))
                && w.alive
            {
                w.left(&format!("connection closed between computes: {reason}"));
            }
        }
        for w in &mut self.workers {
            if w.alive
                && let Some(status) = w.exited()
            {
                w.left(&format!("{status} between computes"));
            }
            if !w.alive {
                w.kill();
            }
        }
        self.workers.retain(|w| w.alive);
        let result = self.spawn(n.saturating_sub(self.workers.len() + self.joining.len())).and_then(|()| {
            while self.is_joining() {
                if let Some(failure) = self.poll_joined(JOIN_POLL)?.failed.into_iter().next() {
                    return Err(SchedulerError::Pool(failure));
                }
            }
            Ok(())
        });
        if result.is_err() {
            abandon_all(&mut self.joining);
        }
        self.publish_pids();
        result
    }

    /// Starts `count` workers without waiting for them: they join through
    /// [`Pool::poll_joined`].
    pub fn spawn(&mut self, count: usize) -> Result<(), SchedulerError> {
        for _ in 0..count {
            let i = self.started;
            self.started += 1;
            let local_dir = match &self.args.local_dir {
                Some(dir) => LocalDir { path: dir.clone(), own: false },
                None => LocalDir { path: self.dir.path().join(format!("worker-{i}")), own: true },
            };
            let mut command = Command::new(&self.binary);
            command
                .arg("--scheduler")
                .arg(self.acceptor.address().to_string())
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
            self.joining.push(Joining { child, deadline: Instant::now() + CONNECT_TIMEOUT, local_dir });
        }
        Ok(())
    }

    /// Whether started workers have yet to connect.
    pub fn is_joining(&self) -> bool {
        !self.joining.is_empty()
    }

    /// Adopts the started workers whose handshakes arrived (waiting up to `wait` for the
    /// first) and gives up on those that exited or did not connect in time. An `Err` only
    /// when the pool itself is broken.
    pub fn poll_joined(&mut self, wait: Duration) -> Result<Joined, SchedulerError> {
        let mut outcome = Joined::default();
        let mut next = self.accepted.recv_timeout(wait);
        loop {
            match next {
                Ok(accepted) => outcome.joined.extend(self.join(accepted)?),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(SchedulerError::Pool("the accept thread stopped".into()));
                }
            }
            next = self.accepted.recv_timeout(Duration::ZERO);
        }
        let now = Instant::now();
        let (binary, address) = (self.binary.display(), self.acceptor.address());
        self.joining.retain_mut(|j| {
            let failure = match j.child.try_wait() {
                Ok(Some(status)) => format!("worker {binary} exited ({status}) before connecting to {address}"),
                Ok(None) if now > j.deadline => {
                    format!("worker {binary} did not connect to {address} within {CONNECT_TIMEOUT:?}")
                }
                Ok(None) => return true,
                Err(e) => format!("cannot wait for worker {binary}: {e}"),
            };
            j.abandon();
            outcome.failed.push(failure);
            false
        });
        Ok(outcome)
    }

    /// Adopts a connection that completed its handshake if it is a worker this pool
    /// started and is waiting for; returns its index in [`Pool::workers`].
    fn join(&mut self, Accepted { conn, hello, id }: Accepted) -> Result<Option<usize>, SchedulerError> {
        if let Role::Worker(info) = hello.role
            && let Some(i) = self.joining.iter().position(|j| j.child.id() == info.pid)
        {
            let joining = self.joining.swap_remove(i);
            self.adopt(joining, conn, info, hello.limit, id)?;
            return Ok(Some(self.workers.len() - 1));
        }
        tracing::warn!("a worker that this pool did not start connected; refused");
        conn.shutdown();
        Ok(None)
    }

    fn adopt(
        &mut self,
        mut joining: Joining,
        conn: Connection,
        info: WorkerInfo,
        limit: u64,
        id: u64,
    ) -> Result<(), SchedulerError> {
        let link = match Link::start(conn, id, limit, self.args.transfer_limit, self.incoming_tx.clone()) {
            Ok(link) => link,
            Err(e) => {
                joining.abandon();
                return Err(SchedulerError::Pool(format!("cannot start the connection to a worker: {e}")));
            }
        };
        tracing::debug!(name = %info.name, pid = info.pid, data = %info.data_address, "worker joined the pool");
        publish(Event::WorkerJoined {
            worker: id as u32,
            name: info.name.clone(),
            pid: info.pid,
            nthreads: info.nthreads,
            at: Instant::now(),
        });
        let Joining { child, local_dir, .. } = joining;
        self.workers.push(WorkerProcess { id, info, child, link, local_dir, alive: true });
        Ok(())
    }

    /// Where the pool listens for its workers.
    pub fn address(&self) -> &Address {
        self.acceptor.address()
    }

    /// Updates the shared list of live worker pids.
    pub fn publish_pids(&self) {
        let pids = self.workers.iter().filter(|w| w.alive).map(|w| w.info.pid).collect();
        *self.pids.lock().unwrap_or_else(|e| e.into_inner()) = pids;
    }
}

/// Publishes one event, if anyone listens.
fn publish(event: Event) {
    if bus().is_listened() {
        bus().publish(vec![event]);
    }
}

/// Kills a child process (a no-op if it exited) and waits for it, so no zombie is left.
fn reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn abandon_all(joining: &mut Vec<Joining>) {
    for j in joining.iter_mut() {
        j.abandon();
    }
    joining.clear();
}

impl Drop for Pool {
    fn drop(&mut self) {
        for w in self.workers.iter().filter(|w| w.alive) {
            let _ = w.send(&ToWorker::Shutdown);
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while Instant::now() < deadline && self.workers.iter_mut().any(|w| w.alive && w.exited().is_none()) {
            std::thread::sleep(Duration::from_millis(2));
        }
        for w in &mut self.workers {
            if w.alive {
                w.left("shut down with its pool");
            }
            // Kills what is left (a no-op on the exited) and reaps every child.
            w.kill();
        }
        self.workers.clear();
        abandon_all(&mut self.joining);
        self.publish_pids();
    }
}

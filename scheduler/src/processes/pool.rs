//! The warm pool of `rask-worker` child processes: starting them, their connections,
//! and making sure none outlives the pool.
//!
//! The pool listens on a Unix socket in a private temporary directory (or on TCP
//! loopback), starts each child with the scheduler address on its command line and a
//! random token in `RASK_TOKEN` (never in argv), and accepts their handshakes on a
//! thread of its own. One reader thread per worker connection turns frames into
//! [`Incoming`] messages on one channel, which the execute loop drains; a closed
//! connection is [`Incoming::Closed`]. Dropping the pool sends `Shutdown`, waits briefly,
//! then kills and reaps whatever is left; the workers also exit by themselves when their
//! connection closes, which covers a killed parent.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::locate::{PrivateDir, random_token};
use super::state::WorkerSpec;
use crate::error::SchedulerError;
use crate::events::{Event, bus};
use crate::wire::{
    Address, Connection, FromWorker, Hello, Listener, MAX_FRAME_BYTES, Role, ToWorker, WorkerInfo, accept_handshake,
    read_message, write_message,
};

/// How long a starting worker has to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`Pool::ensure`] waits for handshakes between checks on the starting workers.
const JOIN_POLL: Duration = Duration::from_millis(20);
/// How long dropped workers have to exit after `Shutdown` before they are killed.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// What a worker's reader thread reports.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A message.
    Message(FromWorker),
    /// The connection closed or failed; the reason.
    Closed(String),
}

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
    /// `--local-dir` (`None`: the pool's private directory).
    pub local_dir: Option<PathBuf>,
}

/// One connected worker process.
#[derive(Debug)]
pub(crate) struct WorkerProcess {
    /// The id its handshake was given; tags its messages on the channel.
    pub id: u64,
    pub info: WorkerInfo,
    child: Child,
    writer: Connection,
    pub alive: bool,
}

impl WorkerProcess {
    /// The worker as a run's state machine sees it.
    pub fn spec(&self) -> WorkerSpec {
        WorkerSpec { nthreads: self.info.nthreads.max(1), data_address: self.info.data_address.clone() }
    }

    /// Marks the worker gone and tells the event bus why.
    pub fn left(&mut self, reason: &str) {
        self.alive = false;
        publish(Event::WorkerLeft { worker: self.id as u32, reason: reason.to_string(), at: Instant::now() });
    }

    /// Sends one message; an error means the worker is gone.
    pub fn send(&mut self, message: &ToWorker) -> Result<(), String> {
        write_message(&mut self.writer, message).map_err(|e| e.to_string())
    }

    /// Whether the process exited (and how).
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("process exited ({status})")),
            Ok(None) => None,
            Err(e) => Some(format!("cannot wait for the process: {e}")),
        }
    }

    /// Ends a worker given up on: closes its connection, kills and reaps the process.
    pub fn kill(&mut self) {
        self.alive = false;
        self.writer.shutdown();
        reap(&mut self.child);
    }
}

/// A started worker process that has not connected yet.
#[derive(Debug)]
struct Joining {
    child: Child,
    deadline: Instant,
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
    address: Address,
    /// Worker processes, connected (dead ones are pruned by [`Pool::ensure`]).
    pub workers: Vec<WorkerProcess>,
    /// Messages from every worker, tagged with its id.
    pub incoming: Receiver<(u64, Incoming)>,
    incoming_tx: Sender<(u64, Incoming)>,
    accepted: Receiver<Result<(Connection, Hello, u64), String>>,
    stop_accepting: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    started: usize,
    /// Started, not yet connected.
    joining: Vec<Joining>,
    pids: Arc<Mutex<Vec<u32>>>,
    // Last: removed after the listener (in the acceptor) is gone.
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
        let address = listener.address().clone();
        let token = random_token();
        let (accepted_tx, accepted) = crossbeam_channel::unbounded();
        let stop_accepting = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (token, stop) = (token.clone(), stop_accepting.clone());
            std::thread::Builder::new()
                .name("rask-pool-accept".into())
                .spawn(move || accept_loop(listener, &token, &stop, &accepted_tx))
                .map_err(|e| SchedulerError::Pool(format!("cannot start the accept thread: {e}")))?
        };
        let (incoming_tx, incoming) = crossbeam_channel::unbounded();
        Ok(Pool {
            binary,
            args,
            token,
            address,
            workers: Vec::new(),
            incoming,
            incoming_tx,
            accepted,
            stop_accepting,
            acceptor: Some(acceptor),
            started: 0,
            joining: Vec::new(),
            pids,
            dir,
        })
    }

    /// Prunes dead workers and starts new ones until `n` are connected (counting those
    /// already starting), waiting for all of them.
    pub fn ensure(&mut self, n: usize) -> Result<(), SchedulerError> {
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
            kill_all(&mut self.joining);
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
            let mut command = Command::new(&self.binary);
            command
                .arg("--scheduler")
                .arg(self.address.to_string())
                .arg("--nthreads")
                .arg(self.args.nthreads.max(1).to_string())
                .arg("--name")
                .arg(format!("procs-{i}"))
                .arg("--local-dir")
                .arg(self.args.local_dir.clone().unwrap_or_else(|| self.dir.path().join(format!("worker-{i}"))));
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
            self.joining.push(Joining { child, deadline: Instant::now() + CONNECT_TIMEOUT });
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
                Ok(Ok((conn, hello, id))) => outcome.joined.extend(self.join(conn, hello, id)?),
                Ok(Err(e)) => tracing::warn!("refused a connection to the process pool: {e}"),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(SchedulerError::Pool("the accept thread stopped".into()));
                }
            }
            next = self.accepted.recv_timeout(Duration::ZERO);
        }
        let now = Instant::now();
        let (binary, address) = (self.binary.display(), &self.address);
        self.joining.retain_mut(|j| {
            let failure = match j.child.try_wait() {
                Ok(Some(status)) => format!("worker {binary} exited ({status}) before connecting to {address}"),
                Ok(None) if now > j.deadline => {
                    format!("worker {binary} did not connect to {address} within {CONNECT_TIMEOUT:?}")
                }
                Ok(None) => return true,
                Err(e) => format!("cannot wait for worker {binary}: {e}"),
            };
            reap(&mut j.child);
            outcome.failed.push(failure);
            false
        });
        Ok(outcome)
    }

    /// Adopts a connection that completed its handshake if it is a worker this pool
    /// started and is waiting for; returns its index in [`Pool::workers`].
    fn join(&mut self, conn: Connection, hello: Hello, id: u64) -> Result<Option<usize>, SchedulerError> {
        if let Role::Worker(info) = hello.role
            && let Some(i) = self.joining.iter().position(|j| j.child.id() == info.pid)
        {
            let joining = self.joining.swap_remove(i);
            self.adopt(joining.child, conn, info, id)?;
            return Ok(Some(self.workers.len() - 1));
        }
        tracing::warn!("a worker that this pool did not start connected; refused");
        conn.shutdown();
        Ok(None)
    }

    fn adopt(&mut self, mut child: Child, conn: Connection, info: WorkerInfo, id: u64) -> Result<(), SchedulerError> {
        let reader = match conn.try_clone() {
            Ok(r) => r,
            Err(e) => {
                reap(&mut child);
                return Err(SchedulerError::Pool(e.to_string()));
            }
        };
        let tx = self.incoming_tx.clone();
        let spawned =
            std::thread::Builder::new().name(format!("rask-pool-read-{id}")).spawn(move || read_loop(reader, id, &tx));
        if let Err(e) = spawned {
            reap(&mut child);
            return Err(SchedulerError::Pool(format!("cannot start a reader thread: {e}")));
        }
        tracing::debug!(name = %info.name, pid = info.pid, data = %info.data_address, "worker joined the pool");
        publish(Event::WorkerJoined {
            worker: id as u32,
            name: info.name.clone(),
            pid: info.pid,
            nthreads: info.nthreads,
            at: Instant::now(),
        });
        self.workers.push(WorkerProcess { id, info, child, writer: conn, alive: true });
        Ok(())
    }

    /// Where the pool listens for its workers.
    pub fn address(&self) -> &Address {
        &self.address
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

fn kill_all(joining: &mut Vec<Joining>) {
    for j in joining.iter_mut() {
        reap(&mut j.child);
    }
    joining.clear();
}

fn accept_loop(
    listener: Listener,
    token: &str,
    stop: &AtomicBool,
    accepted: &Sender<Result<(Connection, Hello, u64), String>>,
) {
    let mut next_id = 1u64;
    loop {
        let conn = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let mut conn = match conn {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("process pool accept failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let id = next_id;
        next_id += 1;
        let result = accept_handshake(&mut conn, token, id).map(|hello| (conn, hello, id)).map_err(|e| e.to_string());
        if accepted.send(result).is_err() {
            return;
        }
    }
}

fn read_loop(mut conn: Connection, id: u64, tx: &Sender<(u64, Incoming)>) {
    loop {
        match read_message::<_, FromWorker>(&mut conn, MAX_FRAME_BYTES) {
            Ok(message) => {
                if tx.send((id, Incoming::Message(message))).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send((id, Incoming::Closed(e.to_string())));
                return;
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for w in self.workers.iter_mut().filter(|w| w.alive) {
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
        kill_all(&mut self.joining);
        self.publish_pids();
        self.stop_accepting.store(true, Ordering::SeqCst);
        // Wake the acceptor blocked in accept().
        let _ = Connection::connect(&self.address);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

//! The scheduler service: the cluster's state machine ([`Core`]) on a thread of its own,
//! behind the I/O shell of [`crate::net`]. The process pool runs one in the driver's
//! process, with workers it starts itself ([`spawn`]); the `rask-scheduler` binary runs one
//! that any worker and client holding the token may join.
//!
//! One thread owns the state machine and reads one channel ([`Input`]): messages of every
//! worker's and client's [`Link`], completed handshakes from the [`Acceptor`], in-process
//! clients ([`LocalClient`]). After each burst of messages it flushes what they made
//! ready. Every [`TICK`] it checks liveness (a worker silent beyond its ttl, a child
//! process that exited) and every [`STEAL_EVERY`] it balances work. Sending never blocks
//! it: links queue.

mod comm;
mod datasets;
mod local;
mod restart;
mod server;
pub(crate) mod spawn;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rask_graph::Key;
use rustc_hash::FxHashMap;

use self::comm::{ClientConn, Owners, ShellComm, WorkerConn};
pub(crate) use self::local::LocalClient;
pub use self::server::{Server, ServerConfig};
use self::spawn::Spawner;
use crate::cluster::{ClientId, Core, CoreConfig, WorkerSpec};
use crate::error::SchedulerError;
use crate::events::{Event, bus};
use crate::net::{AcceptConfig, Accepted, Acceptor, Incoming, Link};
use crate::wire::{
    Address, ClusterInfo, FromScheduler, FromWorker, HANDSHAKE_TIMEOUT, Listener, Role, Submission, ToClient,
    ToScheduler, ToWorker, WorkerInfo, WorkerSummary,
};

/// How often liveness is checked.
pub(crate) const TICK: Duration = Duration::from_millis(50);
/// How often work is balanced between workers (Dask's work-stealing interval).
const STEAL_EVERY: Duration = Duration::from_millis(100);
/// Messages handled before the loop flushes what they made ready.
const MAX_DRAIN: usize = 4096;
/// The connection id fired-and-forgotten tasks' clients stand under.
const FIRED_CONNECTION: u64 = u64::MAX - 1;
/// Fired-and-forgotten tasks running at most (beyond, more are not kept).
const MAX_FIRED: usize = 1 << 20;
/// Handshakes in progress at most (beyond, the oldest is dropped).
const MAX_PENDING_HANDSHAKES: usize = 64;
/// How long workers have to exit after `Shutdown` before they are killed.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// What the service's thread reads.
#[derive(Debug)]
pub(crate) enum Input {
    /// A message from worker `id`, or its connection's end.
    Worker(u64, Incoming<FromWorker>),
    /// A message from client `id`, or its connection's end.
    Client(u64, Incoming<ToScheduler>),
    /// A completed handshake.
    Accepted(Accepted),
    /// An in-process client joins; its news go to the channel.
    Local(u64, Sender<FromScheduler>),
    /// Start the pool's missing workers, even if the last one failed to start.
    Ensure,
    /// Stop: workers are told to shut down.
    Stop,
}

/// Workers the service starts itself (the process pool).
#[derive(Debug)]
pub(crate) struct PoolConfig {
    pub spawner: Spawner,
    /// How many to keep running.
    pub workers: usize,
}

/// How a service runs.
#[derive(Debug)]
pub(crate) struct ServiceConfig {
    /// What it is, for logs ("process pool", "scheduler").
    pub name: &'static str,
    pub token: String,
    /// The largest message it takes.
    pub transfer_limit: u64,
    /// A worker silent this long is taken for hung.
    pub worker_ttl: Duration,
    /// Where workers (and clients, if `clients`) connect.
    pub listener: Listener,
    /// Its own workers, if it starts them.
    pub pool: Option<PoolConfig>,
    /// Whether remote clients may connect.
    pub clients: bool,
    /// How long what a disconnected client wanted stays wanted (zero: released at once).
    pub client_grace: Duration,
}

/// What the service tells the outside world about itself.
#[derive(Debug, Default)]
pub(crate) struct ServiceState {
    pids: Mutex<Vec<u32>>,
    lost: AtomicUsize,
    workers: AtomicUsize,
    /// Why the pool's last worker did not start, while none is running.
    failure: Mutex<Option<String>>,
}

/// A running service; dropping it stops it (its own workers are shut down and reaped).
#[derive(Debug)]
pub(crate) struct Service {
    inputs: Sender<Input>,
    address: Address,
    state: Arc<ServiceState>,
    next_client: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Service {
    /// Starts the service's thread (and its pool's first workers).
    pub fn start(config: ServiceConfig) -> Result<Service, SchedulerError> {
        let (inputs, receiver) = crossbeam_channel::unbounded();
        let address = config.listener.address().clone();
        let accept = AcceptConfig {
            token: config.token.clone(),
            limit: config.transfer_limit,
            max_pending: MAX_PENDING_HANDSHAKES,
            timeout: HANDSHAKE_TIMEOUT,
            name: config.name,
        };
        let acceptor = Acceptor::start_with(config.listener, accept, inputs.clone(), Input::Accepted)
            .map_err(|e| SchedulerError::Pool(e.to_string()))?;
        let state = Arc::new(ServiceState::default());
        let mut reactor = Reactor {
            core: Core::new(CoreConfig::default()),
            workers: FxHashMap::default(),
            clients: FxHashMap::default(),
            scopes: FxHashMap::default(),
            owners: FxHashMap::default(),
            next_scope: 0,
            inputs: inputs.clone(),
            transfer_limit: config.transfer_limit,
            ttl: config.worker_ttl,
            pool: config.pool,
            remote_clients: config.clients,
            client_grace: config.client_grace,
            orphans: Vec::new(),
            datasets: datasets::Datasets::default(),
            fired: Vec::new(),
            state: state.clone(),
            spawn_failure: None,
            restarting: None,
            _acceptor: acceptor,
        };
        reactor.top_up();
        let thread = std::thread::Builder::new()
            .name(format!("rask-{}", config.name.replace(' ', "-")))
            .spawn(move || reactor.run(&receiver))
            .map_err(|e| SchedulerError::Pool(format!("cannot start the scheduler thread: {e}")))?;
        Ok(Service { inputs, address, state, next_client: Arc::new(AtomicU64::new(1 << 62)), thread: Some(thread) })
    }

    /// A new in-process client.
    pub fn client(&self) -> LocalClient {
        let id = self.next_client.fetch_add(1, Ordering::Relaxed);
        LocalClient::new(id, self.inputs.clone())
    }

    /// Where workers connect.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The process ids of the pool's connected workers.
    pub fn pids(&self) -> Vec<u32> {
        self.state.pids.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Workers lost so far.
    pub fn lost(&self) -> usize {
        self.state.lost.load(Ordering::Relaxed)
    }

    /// Workers connected now.
    pub fn workers(&self) -> usize {
        self.state.workers.load(Ordering::Relaxed)
    }

    /// Waits until `n` workers are connected; an error if the pool's workers cannot start
    /// (saying why), or after `timeout`.
    pub fn wait_for_workers(&self, n: usize, timeout: Duration) -> Result<(), SchedulerError> {
        if self.workers() >= n {
            return Ok(());
        }
        *self.state.failure.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let _ = self.inputs.send(Input::Ensure);
        let deadline = Instant::now() + timeout;
        while self.workers() < n {
            if let Some(failure) = self.state.failure.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                return Err(SchedulerError::Pool(failure));
            }
            if Instant::now() > deadline {
                return Err(SchedulerError::Pool(format!(
                    "{} of {n} workers joined within {timeout:?}",
                    self.workers()
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.inputs.send(Input::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The service's thread: the state machine and its connections.
struct Reactor {
    core: Core,
    workers: FxHashMap<u64, WorkerConn>,
    /// Client connections, by connection id.
    clients: FxHashMap<u64, ClientConn>,
    /// The state machine's client for each run of each connection, and back.
    scopes: FxHashMap<(u64, u64), ClientId>,
    owners: Owners,
    next_scope: ClientId,
    inputs: Sender<Input>,
    transfer_limit: u64,
    ttl: Duration,
    pool: Option<PoolConfig>,
    remote_clients: bool,
    /// Published datasets.
    datasets: datasets::Datasets,
    /// Tasks fired and forgotten, each held by a client of its own until done.
    fired: Vec<(ClientId, Key)>,
    /// How long the runs of a client that disconnected outlive it.
    client_grace: Duration,
    /// Runs of disconnected clients, and when they end.
    orphans: Vec<(Instant, ClientId)>,
    state: Arc<ServiceState>,
    /// Why the last worker the pool started never joined (reported if none is left).
    spawn_failure: Option<String>,
    /// A restart waiting for its workers to come back.
    restarting: Option<restart::Pending>,
    // Last: stops accepting when the reactor ends.
    _acceptor: Acceptor,
}

impl Reactor {
    fn run(&mut self, inputs: &Receiver<Input>) {
        let mut last_tick = Instant::now();
        let mut last_steal = Instant::now();
        'serve: loop {
            match inputs.recv_timeout(TICK) {
                Ok(Input::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(input) => {
                    self.handle(input);
                    for _ in 0..MAX_DRAIN {
                        match inputs.try_recv() {
                            Ok(Input::Stop) => break 'serve,
                            Ok(input) => self.handle(input),
                            Err(_) => break,
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if last_tick.elapsed() >= TICK {
                last_tick = Instant::now();
                self.tick();
            }
            if last_steal.elapsed() >= STEAL_EVERY {
                last_steal = Instant::now();
                self.core.balance();
            }
            self.flush();
        }
        self.stop();
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Worker(id, Incoming::Message(FromWorker::Heartbeat(beat))) => {
                if let Some(worker) = self.workers.get_mut(&id) {
                    worker.heartbeat = Some(beat.clone());
                }
                if bus().is_listened() {
                    publish(Event::WorkerMemory {
                        worker: id as u32,
                        memory: beat.memory,
                        spilled: beat.spilled,
                        at: Instant::now(),
                    });
                }
                let mut comm = ShellComm::new(&self.workers, &self.clients, &self.owners);
                self.core.handle_worker(id, FromWorker::Heartbeat(beat), &mut comm);
            }
            Input::Worker(id, Incoming::Message(message)) => {
                let mut comm = ShellComm::new(&self.workers, &self.clients, &self.owners);
                self.core.handle_worker(id, message, &mut comm);
            }
            Input::Worker(id, Incoming::Closed(reason)) => self.lose(id, &format!("connection closed: {reason}")),
            Input::Client(conn, Incoming::Message(ToScheduler::Info { run })) => self.answer_info(conn, run),
            Input::Client(
                conn,
                Incoming::Message(
                    message @ (ToScheduler::Publish { .. }
                    | ToScheduler::Unpublish { .. }
                    | ToScheduler::GetDataset { .. }
                    | ToScheduler::ListDatasets { .. }),
                ),
            ) => self.answer_datasets(conn, message),
            Input::Client(_, Incoming::Message(ToScheduler::FireAndForget { keys, .. })) => self.fire(keys),
            Input::Client(conn, Incoming::Message(ToScheduler::Batch(messages))) => {
                for message in messages {
                    if matches!(message, ToScheduler::Batch(_)) {
                        tracing::warn!(conn, "a nested batch from a client; ignored");
                        continue;
                    }
                    self.handle(Input::Client(conn, Incoming::Message(message)));
                }
            }
            Input::Client(conn, Incoming::Message(ToScheduler::Restart { run, timeout_ms })) => {
                self.restart(conn, run, Duration::from_millis(timeout_ms))
            }
            Input::Client(conn, Incoming::Message(message)) => {
                if let ToScheduler::Submit(_) = &message {
                    self.spawn_failure = None;
                    self.top_up();
                }
                let run = message.run();
                let scope = self.scope(conn, run);
                let mut comm = ShellComm::new(&self.workers, &self.clients, &self.owners);
                if let ToScheduler::Submit(submission) = &message {
                    comm.announce(submission);
                }
                self.core.handle_client(scope, message, &mut comm);
                drop(comm);
                if self.core.client_is_idle(scope) {
                    self.end_scope(scope);
                }
            }
            Input::Client(conn, Incoming::Closed(_)) => {
                self.clients.remove(&conn);
                let scopes: Vec<ClientId> =
                    self.owners.iter().filter(|(_, (c, _))| *c == conn).map(|(&scope, _)| scope).collect();
                // What it wanted stays wanted for the grace period, so that a client back
                // after a network blip finds its work (equal keys) done or under way.
                let until = Instant::now() + self.client_grace;
                for scope in scopes {
                    if self.client_grace.is_zero() {
                        self.end_scope(scope);
                    } else {
                        self.orphans.push((until, scope));
                    }
                }
            }
            Input::Local(conn, news) => {
                self.clients.insert(conn, ClientConn::Local(news));
            }
            Input::Accepted(accepted) => self.join(accepted),
            Input::Ensure => {
                self.spawn_failure = None;
                self.top_up();
            }
            Input::Stop => {}
        }
    }

    /// A handshake completed: a worker (of this pool, if it is one) or a client joins.
    fn join(&mut self, Accepted { conn, hello, id }: Accepted) {
        match hello.role {
            Role::Worker(info) => {
                if let Some(pool) = self.pool.as_mut()
                    && !pool.spawner.adopt(info.pid, id)
                {
                    tracing::warn!(pid = info.pid, "a worker that this pool did not start connected; refused");
                    conn.shutdown();
                    return;
                }
                let link =
                    match Link::start(conn, id, hello.limit, self.transfer_limit, self.inputs.clone(), Input::Worker) {
                        Ok(link) => link,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot start a worker's connection");
                            if let Some(pool) = self.pool.as_mut() {
                                pool.spawner.end(id);
                            }
                            return;
                        }
                    };
                self.add_worker(id, info, link, hello.limit);
            }
            Role::Client if self.remote_clients => {
                match Link::start(conn, id, hello.limit, self.transfer_limit, self.inputs.clone(), Input::Client) {
                    Ok(link) => {
                        self.clients.insert(id, ClientConn::Remote(link));
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot start a client's connection"),
                }
            }
            role => {
                tracing::warn!(?role, "this scheduler takes no such caller; refused");
                conn.shutdown();
            }
        }
    }

    /// Tells client `conn` how the cluster is doing.
    fn answer_info(&self, conn: u64, run: u64) {
        let mut workers: Vec<WorkerSummary> = self
            .workers
            .iter()
            .map(|(&id, w)| WorkerSummary {
                id,
                name: w.info.name.clone(),
                pid: w.info.pid,
                nthreads: w.info.nthreads,
                data_address: w.info.data_address.clone(),
                heartbeat: w.heartbeat.clone(),
            })
            .collect();
        workers.sort_by_key(|w| w.id);
        let info = ClusterInfo {
            workers,
            tasks: self.core.task_count(),
            workers_lost: self.state.lost.load(Ordering::Relaxed),
            tasks_finished: self.core.finished_count(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        self.reply(conn, run, FromScheduler::Info(info));
    }

    /// Answers run `run` of connection `conn`.
    fn reply(&self, conn: u64, run: u64, news: FromScheduler) {
        match self.clients.get(&conn) {
            Some(ClientConn::Local(sender)) => {
                let _ = sender.send(news);
            }
            Some(ClientConn::Remote(link)) => {
                let _ = link.send(&ToClient { run, news });
            }
            None => {}
        }
    }

    /// Holds `keys` until their tasks are done, under clients of their own, whoever else
    /// releases them (Dask's `fire_and_forget`).
    fn fire(&mut self, keys: Vec<Key>) {
        for key in keys {
            if !self.core.knows(&key) || self.fired.len() >= MAX_FIRED {
                continue;
            }
            let id = self.datasets.next_id();
            let scope = self.scope(FIRED_CONNECTION, id);
            let hold = Submission {
                run: id,
                ops: vec![],
                tasks: vec![],
                wanted: vec![],
                held: vec![key],
                placement: Default::default(),
            };
            let mut comm = ShellComm::new(&self.workers, &self.clients, &self.owners);
            self.core.handle_client(scope, ToScheduler::Submit(hold), &mut comm);
            self.fired.push((scope, key));
        }
    }

    /// Publishes, drops, lists or looks up a dataset (see `datasets.rs`).
    fn answer_datasets(&mut self, conn: u64, message: ToScheduler) {
        let run = message.run();
        let news = match message {
            ToScheduler::Publish { name, keys, metadata, .. } => {
                match self.datasets.check_new(&name, &keys, &metadata, |k| self.core.knows(k)) {
                    Err(reason) => FromScheduler::Refused { run, reason },
                    Ok(()) => {
                        let id = self.datasets.next_id();
                        let scope = self.scope(datasets::CONNECTION, id);
                        let hold = Submission {
                            run: id,
                            ops: vec![],
                            tasks: vec![],
                            wanted: vec![],
                            held: keys.clone(),
                            placement: Default::default(),
                        };
                        let mut comm = ShellComm::new(&self.workers, &self.clients, &self.owners);
                        self.core.handle_client(scope, ToScheduler::Submit(hold), &mut comm);
                        self.datasets.insert(name, scope, keys, metadata);
                        FromScheduler::Done
                    }
                }
            }
            ToScheduler::Unpublish { name, .. } => match self.datasets.remove(&name) {
                Some(scope) => {
                    self.end_scope(scope);
                    FromScheduler::Done
                }
                None => FromScheduler::Refused { run, reason: datasets::unknown(&name) },
            },
            ToScheduler::GetDataset { name, .. } => match self.datasets.get(&name) {
                Some((keys, metadata)) => FromScheduler::Dataset { keys: keys.to_vec(), metadata: metadata.to_vec() },
                None => FromScheduler::Refused { run, reason: datasets::unknown(&name) },
            },
            ToScheduler::ListDatasets { .. } => FromScheduler::Datasets(self.datasets.names()),
            _ => return,
        };
        self.reply(conn, run, news);
    }

    /// The state machine's client standing for run `run` of connection `conn`.
    fn scope(&mut self, conn: u64, run: u64) -> ClientId {
        if let Some(&scope) = self.scopes.get(&(conn, run)) {
            return scope;
        }
        self.next_scope += 1;
        let scope = self.next_scope;
        self.scopes.insert((conn, run), scope);
        self.owners.insert(scope, (conn, run));
        self.core.add_client(scope);
        scope
    }

    /// A run is over (it released all it wanted, or its client left).
    fn end_scope(&mut self, scope: ClientId) {
        let owner = self.owners.remove(&scope);
        if let Some(owner) = owner {
            self.scopes.remove(&owner);
        }
        let mut comm = ShellComm::new(&self.workers, &self.clients, &self.owners);
        if let Some((_, run)) = owner {
            comm.event(Event::RunFinished { run, ok: true, elapsed: Duration::ZERO });
        }
        self.core.remove_client(scope, &mut comm);
    }

    fn add_worker(&mut self, id: u64, info: WorkerInfo, link: Link, limit: u64) {
        tracing::debug!(name = %info.name, pid = info.pid, data = %info.data_address, "worker joined");
        publish(Event::WorkerJoined {
            worker: id as u32,
            name: info.name.clone(),
            pid: info.pid,
            nthreads: info.nthreads,
            at: Instant::now(),
        });
        let spec = WorkerSpec {
            name: info.name.clone(),
            nthreads: info.nthreads.max(1),
            data_address: info.data_address.clone(),
            limit,
        };
        self.workers.insert(id, WorkerConn { link, info, heartbeat: None });
        self.core.add_worker(id, spec);
        self.publish_state();
        self.check_restart();
    }

    /// Gives worker `id` up: closes its connection (a child of the pool is killed and
    /// replaced), and lets the state machine recover.
    fn lose(&mut self, id: u64, reason: &str) {
        let Some(worker) = self.workers.remove(&id) else { return };
        worker.link.close();
        let reason = format!("worker {} (pid {}): {reason}", worker.info.name, worker.info.pid);
        if let Some(pool) = self.pool.as_mut() {
            pool.spawner.end(id);
        }
        publish(Event::WorkerLeft { worker: id as u32, reason: reason.clone(), at: Instant::now() });
        self.state.lost.fetch_add(1, Ordering::Relaxed);
        let mut comm = ShellComm::new(&self.workers, &self.clients, &self.owners);
        self.core.remove_worker(id, &reason, &mut comm);
        drop(comm);
        self.top_up();
        self.publish_state();
        self.check_runnable(&reason);
    }

    /// Starts pool workers until the pool has its number (unless the last one failed).
    fn top_up(&mut self) {
        loop {
            let Some(pool) = self.pool.as_mut() else { return };
            if self.spawn_failure.is_some() || pool.spawner.count() >= pool.workers {
                return;
            }
            if let Err(e) = pool.spawner.spawn() {
                self.fail_spawn(e.to_string());
            }
        }
    }

    /// With no worker left and none coming, what waits for one fails.
    fn check_runnable(&mut self, reason: &str) {
        let coming = self.pool.as_ref().is_some_and(|p| p.spawner.is_joining());
        if self.workers.is_empty() && !coming && self.pool.is_some() {
            let why = self.spawn_failure.clone().unwrap_or_else(|| reason.to_string());
            self.core.fail_unrunnable(&why);
        }
    }

    /// Liveness: workers silent beyond their ttl, and the pool's children.
    fn tick(&mut self) {
        self.check_restart();
        let (settled, running): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.fired).into_iter().partition(|(_, key)| self.core.settled(key));
        self.fired = running;
        for (scope, _) in settled {
            self.end_scope(scope);
        }
        let now = Instant::now();
        let expired: Vec<ClientId> = self.orphans.iter().filter(|(until, _)| *until <= now).map(|&(_, s)| s).collect();
        if !expired.is_empty() {
            self.orphans.retain(|(until, _)| *until > now);
            for scope in expired {
                self.end_scope(scope);
            }
        }
        let silent: Vec<u64> =
            self.workers.iter().filter(|(_, w)| w.link.silent_for() > self.ttl).map(|(&id, _)| id).collect();
        for id in silent {
            self.lose(id, &format!("silent for {:?}, no heartbeat: taken for hung", self.ttl));
        }
        let Some(pool) = self.pool.as_mut() else { return };
        let (exited, failed) = pool.spawner.poll();
        for (id, reason) in exited {
            self.lose(id, &reason);
        }
        if let Some(failure) = failed.into_iter().next() {
            tracing::warn!("a pool worker did not join: {failure}");
            self.fail_spawn(failure.clone());
            self.check_runnable(&failure);
        }
    }

    /// A pool worker could not start: no other is started until asked again.
    fn fail_spawn(&mut self, failure: String) {
        *self.state.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(failure.clone());
        self.spawn_failure = Some(failure);
    }

    fn flush(&mut self) {
        let mut comm = ShellComm::new(&self.workers, &self.clients, &self.owners);
        self.core.flush(&mut comm);
        let unsent = comm.finish();
        if unsent.is_empty() {
            return;
        }
        // Batches that could not be encoded: their tasks err, and the clients hear it.
        for (worker, keys, reason) in unsent {
            self.core.unsendable(worker, &keys, &reason);
        }
        let mut comm = ShellComm::new(&self.workers, &self.clients, &self.owners);
        self.core.flush(&mut comm);
        comm.finish();
    }

    fn publish_state(&self) {
        if let Some(pool) = &self.pool {
            *self.state.pids.lock().unwrap_or_else(|e| e.into_inner()) = pool.spawner.pids();
        }
        self.state.workers.store(self.workers.len(), Ordering::Relaxed);
    }

    /// Tells every worker to shut down; the pool's own are reaped.
    fn stop(&mut self) {
        for worker in self.workers.values() {
            let _ = worker.link.send(&ToWorker::Shutdown);
        }
        if let Some(pool) = self.pool.as_mut() {
            pool.spawner.shutdown(SHUTDOWN_GRACE);
        }
        for (id, worker) in self.workers.drain() {
            worker.link.close();
            publish(Event::WorkerLeft {
                worker: id as u32,
                reason: "shut down with its scheduler".into(),
                at: Instant::now(),
            });
        }
        self.publish_state();
    }
}

/// Publishes one event, if anyone listens.
fn publish(event: Event) {
    if bus().is_listened() {
        bus().publish(vec![event]);
    }
}

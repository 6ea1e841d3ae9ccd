//! A client of a remote `rask-scheduler`: see [`Client`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use rask_graph::{Key, TaskGraph, TaskId, Value};
use rustc_hash::FxHashMap;

use super::completion::WakeList;
use super::held::Kept;
use super::{SchedulerFile, await_results, in_order};
use crate::error::SchedulerError;
use crate::events::RunReport;
use crate::net::{Incoming, Link};
use crate::scheduler::Scheduler;
use crate::wire::{
    Address, ClusterInfo, Connection, FromScheduler, Hello, PROTOCOL_VERSION, Role, Submission, ToClient, ToScheduler,
    WireError, connect_handshake, transfer_limit,
};

/// Where a client finds its scheduler: an address, or a scheduler file to read it from
/// (read again at each connection, so a restarted scheduler is found).
///
/// ```
/// use rask_scheduler::ClusterAddress;
/// assert!(matches!("tcp://10.0.0.1:8786".parse::<ClusterAddress>()?, ClusterAddress::Address(_)));
/// assert!(matches!("scheduler-file:/shared/scheduler.json".parse::<ClusterAddress>()?, ClusterAddress::File(_)));
/// assert!("http://x".parse::<ClusterAddress>().is_err());
/// # Ok::<(), rask_scheduler::SchedulerError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterAddress {
    /// The scheduler's address.
    Address(Address),
    /// A scheduler file to read the address (and token) from.
    File(PathBuf),
}

impl std::str::FromStr for ClusterAddress {
    type Err = SchedulerError;

    fn from_str(s: &str) -> Result<ClusterAddress, SchedulerError> {
        match s.trim().strip_prefix("scheduler-file:") {
            Some(path) if !path.is_empty() => Ok(ClusterAddress::File(PathBuf::from(path))),
            Some(_) => Err(SchedulerError::Config("scheduler-file: needs a path".into())),
            None => s.trim().parse().map(ClusterAddress::Address).map_err(|e| SchedulerError::Config(e.to_string())),
        }
    }
}

impl std::fmt::Display for ClusterAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterAddress::Address(a) => write!(f, "{a}"),
            ClusterAddress::File(p) => write!(f, "scheduler-file:{}", p.display()),
        }
    }
}

/// How long [`Client::info`] (and other requests) wait for the answer.
const INFO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`Client::restart`] waits for the workers to come back.
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);
/// How long closing waits for the messages queued before it to go out.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);

/// What [`Client::get_versions`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    /// This client's rask version.
    pub client: String,
    /// The scheduler's rask version.
    pub scheduler: String,
    /// The wire protocol both speak.
    pub protocol: u32,
}

/// Where the news of one run go: a channel, and the task to wake, if one awaits them.
#[derive(Debug)]
pub(super) struct Route {
    news: Sender<FromScheduler>,
    wakers: Option<Arc<WakeList>>,
}

impl Route {
    pub(super) fn new(news: Sender<FromScheduler>) -> Route {
        Route { news, wakers: None }
    }

    /// A route that also wakes the tasks waiting on `wakers` when news come.
    pub(super) fn waking(news: Sender<FromScheduler>, wakers: Arc<WakeList>) -> Route {
        Route { news, wakers: Some(wakers) }
    }

    fn deliver(&self, news: FromScheduler) {
        let _ = self.news.send(news);
        self.wake();
    }

    fn wake(&self) {
        if let Some(wakers) = &self.wakers {
            wakers.wake_all();
        }
    }
}

/// One connection to a scheduler, and the runs waiting for news on it.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) link: Arc<Link>,
    pub(super) address: Address,
    pub(super) routes: Arc<Mutex<FxHashMap<u64, Route>>>,
    open: Arc<AtomicBool>,
    /// Releases of dropped futures, sent together every [`RELEASE_EVERY`].
    releases: Arc<Mutex<Vec<ToScheduler>>>,
}

/// How long releases of dropped futures wait, to go together in one frame.
const RELEASE_EVERY: Duration = Duration::from_millis(5);
/// Messages one batch frame carries at most.
const MAX_BATCH: usize = 4096;

impl Session {
    /// Sends `messages` in order, as few frames as fit (a batch too large for the
    /// scheduler's limit is split; a single message too large is the error).
    pub(super) fn send_all(&self, messages: Vec<ToScheduler>) -> Result<(), WireError> {
        send_batched(&self.link, messages)
    }

    /// Releases `key` of run `run` with the next batch of releases.
    pub(super) fn release_soon(&self, run: u64, key: rask_graph::Key) {
        self.releases.lock().unwrap_or_else(|e| e.into_inner()).push(ToScheduler::Release { run, keys: vec![key] });
    }
}

/// Sends the releases waiting in `releases`, if any.
fn send_releases(link: &Link, releases: &Mutex<Vec<ToScheduler>>) {
    let released = std::mem::take(&mut *releases.lock().unwrap_or_else(|e| e.into_inner()));
    if !released.is_empty() {
        let _ = send_batched(link, released);
    }
}

fn send_batched(link: &Link, mut messages: Vec<ToScheduler>) -> Result<(), WireError> {
    while !messages.is_empty() {
        let rest = messages.split_off(messages.len().min(MAX_BATCH));
        send_batch(link, std::mem::replace(&mut messages, rest))?;
    }
    Ok(())
}

/// Sends `messages` as one frame, or as halves (each the same way) if too large together.
fn send_batch(link: &Link, messages: Vec<ToScheduler>) -> Result<(), WireError> {
    if messages.len() <= 1 {
        return messages.iter().try_for_each(|m| link.send(m));
    }
    let batch = ToScheduler::Batch(messages);
    match link.send(&batch) {
        Err(WireError::Oversized { .. }) => {
            let ToScheduler::Batch(mut first) = batch else { unreachable!("built above") };
            let second = first.split_off(first.len() / 2);
            send_batch(link, first)?;
            send_batch(link, second)
        }
        sent => sent,
    }
}

/// A client of a `rask-scheduler`: computes run on its cluster. It connects on its first
/// compute (or at [`Client::connect`]), and again after a lost connection; several threads
/// may compute through one client at once. The token is the one given, else
/// `RASK_TOKEN`, else the scheduler file's.
///
/// ```no_run
/// use rask_scheduler::{Client, Scheduler};
/// let client = Client::connect("tcp://10.0.0.1:8786".parse()?)?;
/// # let (graph, outputs) = (rask_graph::TaskGraph::builder().build()?, vec![]);
/// let values = client.execute(&graph, &outputs)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Client {
    target: ClusterAddress,
    token: Option<String>,
    /// The largest message it takes from the scheduler (`None`: [`transfer_limit`]).
    limit: Option<u64>,
    session: Mutex<Option<Arc<Session>>>,
    next_run: AtomicU64,
    /// The cluster this client started ([`Client::local`]), stopped after it.
    cluster: Option<crate::LocalCluster>,
    /// Whether [`Client::close`] was called: nothing more is sent.
    closed: AtomicBool,
}

impl Client {
    /// A client of the scheduler at `target`, connected now.
    pub fn connect(target: ClusterAddress) -> Result<Client, SchedulerError> {
        let client = Client::lazy(target);
        client.session()?;
        Ok(client)
    }

    /// A client of the scheduler at `target` presenting `token`, connected now.
    pub fn connect_with_token(target: ClusterAddress, token: impl Into<String>) -> Result<Client, SchedulerError> {
        let client = Client::lazy(target).with_token(token);
        client.session()?;
        Ok(client)
    }

    /// A client of the scheduler at `target` that connects on its first compute.
    pub fn lazy(target: ClusterAddress) -> Client {
        Client {
            target,
            token: None,
            limit: None,
            session: Mutex::new(None),
            next_run: AtomicU64::new(1),
            cluster: None,
            closed: AtomicBool::new(false),
        }
    }

    /// Uses `token` as the shared secret (instead of `RASK_TOKEN` or the scheduler file's).
    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    /// Takes messages of at most `bytes` from the scheduler (the machine's memory by
    /// default, as `--transfer-limit`): a value larger is an error
    /// ([`SchedulerError::Transfer`]) naming its key, not a message this client cannot hold.
    /// Set before the first call.
    ///
    /// ```no_run
    /// let client = rask_scheduler::Client::lazy("tcp://127.0.0.1:8786".parse()?).with_transfer_limit(1 << 30);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_transfer_limit(mut self, bytes: u64) -> Client {
        self.limit = Some(bytes);
        self
    }

    /// A client of a new [`LocalCluster`](crate::LocalCluster) of `workers` workers (a
    /// real `rask-scheduler` and `rask-worker`s on loopback), stopped when the client is
    /// dropped.
    ///
    /// ```no_run
    /// let client = rask_scheduler::Client::local(2)?;
    /// assert_eq!(client.scheduler_info()?.workers.len(), 2);
    /// # Ok::<(), rask_scheduler::SchedulerError>(())
    /// ```
    pub fn local(workers: usize) -> Result<Client, SchedulerError> {
        let cluster = crate::LocalCluster::new(workers)?;
        let mut client = cluster.client()?;
        client.cluster = Some(cluster);
        Ok(client)
    }

    /// Makes plain `compute()` (every call naming no scheduler) run through this client,
    /// as Dask's `Client` does when created; [`set_default_scheduler`](crate::set_default_scheduler)`(None)`
    /// undoes it.
    pub fn set_as_default(self: &Arc<Self>) {
        crate::set_default_scheduler(Some(self.clone()));
    }

    /// The cluster's state (Dask's name for [`Client::info`]).
    pub fn scheduler_info(&self) -> Result<ClusterInfo, SchedulerError> {
        self.info()
    }

    /// The rask versions of this client and its scheduler, and the protocol both speak
    /// (a scheduler or worker of another protocol version is refused at the handshake,
    /// with an error naming both versions).
    pub fn get_versions(&self) -> Result<Versions, SchedulerError> {
        let scheduler = self.info()?.version;
        Ok(Versions { client: env!("CARGO_PKG_VERSION").to_string(), scheduler, protocol: PROTOCOL_VERSION })
    }

    /// Restarts the cluster (Dask's `client.restart()`): every task and held value is
    /// forgotten, on behalf of every client (their futures answer
    /// [`SchedulerError::Restarted`]), datasets are dropped, and every worker process
    /// starts again as new (freeing what its tasks leaked, stopping tasks that hang).
    /// Returns once as many workers are back as there were, or an error after 60 s.
    ///
    /// ```no_run
    /// let client = rask_scheduler::Client::connect("tcp://127.0.0.1:8786".parse()?)?;
    /// client.restart()?;
    /// assert_eq!(client.scheduler_info()?.tasks, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restart(&self) -> Result<(), SchedulerError> {
        self.restart_within(RESTART_TIMEOUT)
    }

    /// [`Client::restart`], waiting at most `timeout` for the workers to come back (Dask's
    /// `restart(timeout=...)`); fewer back by then is an error saying how many came.
    pub fn restart_within(&self, timeout: Duration) -> Result<(), SchedulerError> {
        let timeout_ms = timeout.as_millis().min(u64::MAX as u128) as u64;
        // The scheduler answers within the timeout; the margin covers the round trip.
        match self.ask_within(timeout + INFO_TIMEOUT, |run| ToScheduler::Restart { run, timeout_ms })? {
            FromScheduler::Done => Ok(()),
            other => Err(SchedulerError::Pool(format!("unexpected answer to a restart: {other:?}"))),
        }
    }

    /// Closes the connection (Dask's `client.close()`): what this client held is released
    /// (after the scheduler's client grace period), its pending futures err, and every
    /// later call is [`SchedulerError::ClientClosed`]. Dropping the client does the same.
    ///
    /// ```no_run
    /// let client = rask_scheduler::Client::connect("tcp://127.0.0.1:8786".parse()?)?;
    /// client.close();
    /// assert!(client.scheduler_info().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Some(session) = self.session.lock().unwrap_or_else(|e| e.into_inner()).take() {
            send_releases(&session.link, &session.releases);
            // The releases go before the goodbye: keys released are not kept for the
            // grace period a lost client gets.
            session.link.close_after_flush(CLOSE_FLUSH);
        }
    }

    /// Where the client finds its scheduler.
    pub fn target(&self) -> &ClusterAddress {
        &self.target
    }

    /// The cluster's state: its workers (with their last heartbeats), the tasks in the
    /// scheduler's table, the workers lost so far.
    pub fn info(&self) -> Result<ClusterInfo, SchedulerError> {
        match self.ask(|run| ToScheduler::Info { run })? {
            FromScheduler::Info(info) => Ok(info),
            other => Err(SchedulerError::Pool(format!("unexpected answer to an info request: {other:?}"))),
        }
    }

    /// Sends the request `make` builds for a new run and waits for the scheduler's answer
    /// (a refusal is an error saying why).
    pub(super) fn ask(&self, make: impl FnOnce(u64) -> ToScheduler) -> Result<FromScheduler, SchedulerError> {
        self.ask_within(INFO_TIMEOUT, make)
    }

    /// Sends `message`, which the scheduler does not answer.
    pub(super) fn tell(&self, message: &ToScheduler) -> Result<(), SchedulerError> {
        let session = self.session()?;
        session
            .link
            .send(message)
            .map_err(|e| SchedulerError::Pool(format!("cannot reach the scheduler at {}: {e}", session.address)))
    }

    /// [`ask`](Client::ask), waiting at most `timeout` for the answer.
    pub(super) fn ask_within(
        &self,
        timeout: Duration,
        make: impl FnOnce(u64) -> ToScheduler,
    ) -> Result<FromScheduler, SchedulerError> {
        let session = self.session()?;
        let run = self.next_run();
        let (route, news) = crossbeam_channel::unbounded();
        session.routes.lock().unwrap_or_else(|e| e.into_inner()).insert(run, Route::new(route));
        let answer = session.link.send(&make(run)).map_err(|e| SchedulerError::Pool(e.to_string())).and_then(|()| {
            match news.recv_timeout(timeout) {
                Ok(FromScheduler::Refused { reason, .. }) => Err(SchedulerError::Pool(reason)),
                Ok(answer) => Ok(answer),
                Err(_) => Err(SchedulerError::Pool(format!("the scheduler at {} did not answer", session.address))),
            }
        });
        session.routes.lock().unwrap_or_else(|e| e.into_inner()).remove(&run);
        answer
    }

    /// The scheduler's address and the token to present.
    fn resolve(&self) -> Result<(Address, String), SchedulerError> {
        let env = std::env::var("RASK_TOKEN").ok().filter(|t| !t.is_empty());
        match &self.target {
            ClusterAddress::Address(address) => Ok((address.clone(), self.token.clone().or(env).unwrap_or_default())),
            ClusterAddress::File(path) => {
                let file = SchedulerFile::read(path)?;
                Ok((file.address, self.token.clone().or(env).or(file.token).unwrap_or_default()))
            }
        }
    }

    /// A new run number.
    pub(super) fn next_run(&self) -> u64 {
        self.next_run.fetch_add(1, Ordering::Relaxed)
    }

    /// The open session, connecting if there is none (or it was lost).
    pub(super) fn session(&self) -> Result<Arc<Session>, SchedulerError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(SchedulerError::ClientClosed { address: self.target.to_string() });
        }
        let mut slot = self.session.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(session) = slot.as_ref()
            && session.open.load(Ordering::SeqCst)
        {
            return Ok(session.clone());
        }
        let (address, token) = self.resolve()?;
        let session = Arc::new(open(&address, token, self.limit.unwrap_or_else(transfer_limit))?);
        *slot = Some(session.clone());
        Ok(session)
    }
}

/// Hands news to the runs they are for (each of a batch to its own).
fn route(routes: &Mutex<FxHashMap<u64, Route>>, ToClient { run, news }: ToClient) {
    let routes = routes.lock().unwrap_or_else(|e| e.into_inner());
    match news {
        FromScheduler::Batch(items) => {
            for ToClient { run, news } in items {
                if let Some(route) = routes.get(&run) {
                    route.deliver(news);
                }
            }
        }
        news => {
            if let Some(route) = routes.get(&run) {
                route.deliver(news);
            }
        }
    }
}

/// Connects and handshakes as a client; starts the thread that routes news to runs and
/// sends the releases of dropped futures.
fn open(address: &Address, token: String, limit: u64) -> Result<Session, SchedulerError> {
    let unreachable = |e: WireError| SchedulerError::Pool(format!("cannot reach the scheduler at {address}: {e}"));
    let mut conn = Connection::connect(address).map_err(unreachable)?;
    let welcome = connect_handshake(&mut conn, &Hello { token, role: Role::Client, limit }).map_err(unreachable)?;
    let (incoming, news) = crossbeam_channel::unbounded::<Incoming<ToClient>>();
    let link = Link::start(conn, welcome.id, welcome.limit, limit, incoming, |_, m| m).map_err(unreachable)?;
    let link = Arc::new(link);
    let routes: Arc<Mutex<FxHashMap<u64, Route>>> = Arc::default();
    let open = Arc::new(AtomicBool::new(true));
    let releases: Arc<Mutex<Vec<ToScheduler>>> = Arc::default();
    {
        let (routes, open, releases, link) = (routes.clone(), open.clone(), releases.clone(), link.clone());
        std::thread::Builder::new()
            .name("rask-client".into())
            .spawn(move || {
                loop {
                    match news.recv_timeout(RELEASE_EVERY) {
                        Ok(Incoming::Message(message)) => route(&routes, message),
                        Ok(Incoming::Closed(reason)) => {
                            tracing::warn!(%reason, "the connection to the scheduler closed");
                            break;
                        }
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                    }
                    send_releases(&link, &releases);
                }
                // Waiting runs see their news end.
                open.store(false, Ordering::SeqCst);
                for (_, route) in routes.lock().unwrap_or_else(|e| e.into_inner()).drain() {
                    route.wake();
                }
            })
            .map_err(|e| SchedulerError::Pool(format!("cannot start the client's thread: {e}")))?;
    }
    Ok(Session { link, address: address.clone(), routes, open, releases })
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close();
    }
}

impl Scheduler for Client {
    fn name(&self) -> String {
        format!("cluster({})", self.target)
    }

    fn execute(&self, graph: &TaskGraph, outputs: &[TaskId]) -> Result<Vec<Value>, SchedulerError> {
        let report = RunReport::begin(graph, &self.name());
        let run = self.next_run();
        let submission = crate::cluster::submission(graph, outputs, run)?;
        if graph.is_empty() {
            report.finish(true);
            return Ok(Vec::new());
        }
        let wanted = submission.wanted.clone();
        let result = self.run_submission(submission, |news, session| {
            await_results(news, &wanted, || {
                format!("the connection to the scheduler at {} was lost during the compute", session.address)
            })
        });
        report.finish(result.is_ok());
        result.map(|values| in_order(graph, outputs, &values))
    }

    /// Keeps the outputs on the cluster ([`Client::persist_graph`]).
    fn persist(&self, graph: &TaskGraph, outputs: &[TaskId]) -> Result<Vec<Kept>, SchedulerError> {
        let report = RunReport::begin(graph, &self.name());
        let futures = self.persist_graph(graph, outputs);
        report.finish(futures.is_ok());
        Ok(futures?.into_iter().map(Kept::Future).collect())
    }
}

impl Client {
    /// Sends `submission` (whose run has a number of its own) and hands its news to
    /// `wait`; then releases the keys the run wanted or held, and stops routing its news.
    pub(super) fn run_submission<T>(
        &self,
        submission: Submission,
        wait: impl FnOnce(&Receiver<FromScheduler>, &Session) -> Result<T, SchedulerError>,
    ) -> Result<T, SchedulerError> {
        let session = self.session()?;
        let run = submission.run;
        let keys: Vec<Key> = submission.wanted.iter().chain(&submission.held).copied().collect();
        let (route, news) = crossbeam_channel::unbounded();
        session.routes.lock().unwrap_or_else(|e| e.into_inner()).insert(run, Route::new(route));
        let result = session
            .link
            .send(&ToScheduler::Submit(submission))
            .map_err(|e| {
                SchedulerError::Pool(format!("cannot send the graph to the scheduler at {}: {e}", session.address))
            })
            .and_then(|()| wait(&news, &session));
        let _ = session.link.send(&ToScheduler::Release { run, keys });
        session.routes.lock().unwrap_or_else(|e| e.into_inner()).remove(&run);
        result
    }
}

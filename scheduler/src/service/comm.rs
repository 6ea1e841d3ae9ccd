//! The service's [`Comm`]: queues the state machine's messages on the workers' and
//! clients' links (or an in-process client's channel) and buffers task events.
//!
//! News for a remote client are gathered while the comm lives (one burst of the state
//! machine's work) and go as one [`FromScheduler::Batch`] frame: a client holding ten
//! thousand futures hears that they are ready in one frame, not ten thousand. Results
//! carrying large values go in frames of their own (after the news gathered before them).

use rask_graph::Key;
use rustc_hash::FxHashMap;

use crate::cluster::comm::Comm;
use crate::cluster::{ClientId, WorkerId};
use crate::events::{Event, bus};
use crate::net::Link;
use crate::wire::{FromScheduler, Lookup, ToClient, ToWorker, WireError, WorkerInfo};

/// A connected worker.
#[derive(Debug)]
pub(crate) struct WorkerConn {
    pub link: Link,
    pub info: WorkerInfo,
    /// Its last heartbeat.
    pub heartbeat: Option<crate::wire::Heartbeat>,
}

/// The connection and run each of the state machine's clients stands for.
pub(crate) type Owners = FxHashMap<ClientId, (u64, u64)>;

/// A connected client.
#[derive(Debug)]
pub(crate) enum ClientConn {
    /// Over the network.
    Remote(Link),
    /// In this process (the pool's driver).
    Local(crossbeam_channel::Sender<FromScheduler>),
}

/// A batch of tasks that could not be sent: the worker, the tasks, why.
pub(crate) type Unsent = (WorkerId, Vec<Key>, String);

/// See the module docs.
pub(crate) struct ShellComm<'a> {
    workers: &'a FxHashMap<u64, WorkerConn>,
    clients: &'a FxHashMap<u64, ClientConn>,
    owners: &'a Owners,
    /// The burst's events, published together at its end; `None` when nobody listens.
    events: Option<Vec<Event>>,
    unsent: Vec<Unsent>,
    /// News for remote clients not sent yet, by connection.
    gathered: FxHashMap<u64, Vec<ToClient>>,
}

impl<'a> ShellComm<'a> {
    pub fn new(
        workers: &'a FxHashMap<u64, WorkerConn>,
        clients: &'a FxHashMap<u64, ClientConn>,
        owners: &'a Owners,
    ) -> ShellComm<'a> {
        let events = bus().is_listened().then(Vec::new);
        ShellComm { workers, clients, owners, events, unsent: Vec::new(), gathered: FxHashMap::default() }
    }

    /// Sends the news gathered for connection `conn`: one frame.
    fn send_gathered(&mut self, conn: u64) {
        let Some(mut news) = self.gathered.remove(&conn) else { return };
        let Some(ClientConn::Remote(link)) = self.clients.get(&conn) else { return };
        let message = match news.len() {
            1 => news.pop().expect("one"),
            _ => ToClient { run: 0, news: FromScheduler::Batch(news) },
        };
        if let Err(e) = link.send(&message) {
            tracing::error!(error = %e, "news for a client cannot be sent");
        }
    }

    /// Adds `event` to what this burst publishes, if anyone listens.
    pub fn event(&mut self, event: Event) {
        if let Some(events) = self.events.as_mut() {
            events.push(event);
        }
    }

    /// Announces a client's submission, as a local scheduler announces its graph: its
    /// tasks per group, and which groups read which (a call of one task, a future, costs
    /// no table).
    pub fn announce(&mut self, submission: &crate::wire::Submission) {
        if self.events.is_none() || submission.tasks.is_empty() {
            return;
        }
        let (run, at) = (submission.run, std::time::Instant::now());
        let (groups, edges) = match submission.tasks.as_slice() {
            [task] => {
                let group = task.key.group();
                let reads = task.args.iter().filter_map(|a| match a {
                    crate::wire::SubmitArg::Key(read) if read.group() != group => Some((group, read.group())),
                    _ => None,
                });
                (vec![(group, 1)], reads.collect::<rustc_hash::FxHashSet<_>>().into_iter().collect())
            }
            tasks => group_summary(tasks),
        };
        let tasks = submission.tasks.len();
        self.event(Event::GraphSubmitted { run, scheduler: "cluster".to_string(), tasks, groups, at });
        if !edges.is_empty() {
            self.event(Event::GroupEdges { run, edges });
        }
    }

    /// Publishes the buffered events; returns the batches that could not be sent.
    pub fn finish(mut self) -> Vec<Unsent> {
        self.publish_events();
        std::mem::take(&mut self.unsent)
    }

    /// Publishes the burst's events, if there are any.
    fn publish_events(&mut self) {
        if let Some(events) = self.events.as_mut().filter(|e| !e.is_empty()) {
            bus().publish(std::mem::take(events));
        }
    }
}

impl Comm for ShellComm<'_> {
    fn send_worker(&mut self, worker: WorkerId, message: ToWorker) {
        let Some(conn) = self.workers.get(&worker) else { return };
        if let Err(e) = conn.link.send(&message) {
            tracing::error!(worker, error = %e, "a message to a worker cannot be sent");
            if let ToWorker::Compute { tasks, .. } = message {
                let keys = tasks.iter().map(|t| t.key).collect();
                self.unsent.push((worker, keys, format!("the batch sent to worker {}: {e}", conn.info.name)));
            }
        }
    }

    fn send_client(&mut self, client: ClientId, message: FromScheduler) {
        let Some(&(conn, run)) = self.owners.get(&client) else { return };
        match self.clients.get(&conn) {
            Some(ClientConn::Local(news)) => {
                let _ = news.send(message);
            }
            Some(ClientConn::Remote(link)) => match message {
                FromScheduler::Results(results) if !is_small(&results) => {
                    self.send_gathered(conn);
                    send_remote(link, run, FromScheduler::Results(results));
                }
                news => self.gathered.entry(conn).or_default().push(ToClient { run, news }),
            },
            None => {}
        }
    }

    fn task_finished(&mut self, run: u64, worker: WorkerId, key: Key, duration_us: u64, nbytes: u64) {
        if let Some(events) = self.events.as_mut() {
            let duration = std::time::Duration::from_micros(duration_us);
            let now = std::time::Instant::now();
            let start = now.checked_sub(duration).unwrap_or(now);
            let worker = worker as u32;
            events.push(Event::TaskStarted { run, key, worker, at: start });
            events.push(Event::TaskFinished { run, key, worker, start, duration, nbytes: nbytes as usize });
            events.push(Event::TasksDone { run, worker, groups: vec![(key.group(), 1, nbytes)] });
        }
    }

    fn task_failed(&mut self, run: u64, worker: WorkerId, key: Key, message: &str) {
        if let Some(events) = self.events.as_mut() {
            events.push(Event::TaskFailed { run, key, worker: worker as u32, message: message.to_string() });
        }
    }
}

impl Drop for ShellComm<'_> {
    fn drop(&mut self) {
        self.publish_events();
        let conns: Vec<u64> = self.gathered.keys().copied().collect();
        for conn in conns {
            self.send_gathered(conn);
        }
    }
}

/// Bytes of values a result may carry and still go with other news.
const SMALL_RESULT: usize = 64 << 10;

/// Whether `results` are small enough to go with other news.
fn is_small(results: &[(Key, Lookup)]) -> bool {
    let bytes: usize = results.iter().map(|(_, l)| if let Lookup::Found(v) = l { v.nbytes() } else { 0 }).sum();
    bytes <= SMALL_RESULT
}

/// Sends news of run `run` to a remote client; results too large for it together go one
/// by one, and one too large alone is answered `Refused`.
fn send_remote(link: &Link, run: u64, news: FromScheduler) {
    let FromScheduler::Results(results) = news else {
        if let Err(e) = link.send(&ToClient { run, news }) {
            tracing::error!(error = %e, "a message to a client cannot be sent");
        }
        return;
    };
    if results.len() > 1 {
        let together = ToClient { run, news: FromScheduler::Results(results.clone()) };
        if link.send(&together).is_ok() {
            return;
        }
    }
    for (key, lookup) in results {
        let one = ToClient { run, news: FromScheduler::Results(vec![(key, lookup)]) };
        if let Err(e) = link.send(&one) {
            let reason = match e {
                WireError::Oversized { len, max } => {
                    format!("its message of {len} bytes exceeds the client's transfer limit of {max} bytes")
                }
                other => other.to_string(),
            };
            let _ = link.send(&ToClient { run, news: FromScheduler::Results(vec![(key, Lookup::Refused(reason))]) });
        }
    }
}

/// Tasks per group of a submission (in first-seen order), and which groups read which.
fn group_summary(tasks: &[crate::wire::SubmitTask]) -> (crate::events::GroupCounts, crate::events::GroupPairs) {
    let mut groups: Vec<(rask_graph::Group, usize)> = Vec::new();
    let mut index: FxHashMap<rask_graph::Group, usize> = FxHashMap::default();
    let mut edges = rustc_hash::FxHashSet::default();
    for task in tasks {
        let group = task.key.group();
        let i = *index.entry(group).or_insert_with(|| {
            groups.push((group, 0));
            groups.len() - 1
        });
        groups[i].1 += 1;
        for arg in &task.args {
            if let crate::wire::SubmitArg::Key(read) = arg
                && read.group() != group
            {
                edges.insert((group, read.group()));
            }
        }
    }
    (groups, edges.into_iter().collect())
}

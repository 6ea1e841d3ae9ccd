//! The service's [`Comm`]: queues the state machine's messages on the workers' and
//! clients' links (or an in-process client's channel) and buffers task events.

use rask_graph::Key;
use rustc_hash::FxHashMap;

use crate::cluster::comm::Comm;
use crate::cluster::{ClientId, WorkerId};
use crate::events::{Event, EventBuffer, bus};
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
    events: Option<EventBuffer>,
    unsent: Vec<Unsent>,
}

impl<'a> ShellComm<'a> {
    pub fn new(
        workers: &'a FxHashMap<u64, WorkerConn>,
        clients: &'a FxHashMap<u64, ClientConn>,
        owners: &'a Owners,
    ) -> ShellComm<'a> {
        let events = bus().is_listened().then(EventBuffer::default);
        ShellComm { workers, clients, owners, events, unsent: Vec::new() }
    }

    /// Publishes the buffered events; returns the batches that could not be sent.
    pub fn finish(mut self) -> Vec<Unsent> {
        if let Some(events) = self.events.as_mut() {
            events.flush();
        }
        std::mem::take(&mut self.unsent)
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
            Some(ClientConn::Remote(link)) => send_remote(link, run, message),
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
        }
    }

    fn task_failed(&mut self, run: u64, worker: WorkerId, key: Key, message: &str) {
        if let Some(events) = self.events.as_mut() {
            events.push(Event::TaskFailed { run, key, worker: worker as u32, message: message.to_string() });
        }
    }
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

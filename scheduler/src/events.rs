//! The event bus: what every scheduler reports while it runs.
//!
//! Executors publish [`Event`]s (graph submitted, task started, finished or failed, run
//! finished); the terminal progress bar and the dashboard subscribe. Nothing is built,
//! timed or sent when nobody listens: an executor checks [`EventBus::is_listened`] once
//! per run. When someone listens, each worker thread buffers events and publishes them in
//! batches ([`EventBuffer`]), so the per-task cost is a push onto a local vector.
//!
//! ```
//! use rask_scheduler::events::{bus, Event};
//! let subscription = bus().subscribe();
//! assert!(bus().is_listened());
//! bus().publish(vec![Event::RunFinished { run: 1, ok: true, elapsed: std::time::Duration::ZERO }]);
//! let batch = subscription.receiver().recv().unwrap();
//! assert!(matches!(batch[0], Event::RunFinished { run: 1, .. }));
//! drop(subscription);
//! ```

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rask_graph::{Group, Key, TaskGraph};

/// Identifies one computation (one call to a scheduler's `execute`).
pub type RunId = u64;

/// Something that happened in a computation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A graph was handed to a scheduler.
    GraphSubmitted {
        /// The run.
        run: RunId,
        /// The scheduler's name.
        scheduler: String,
        /// Total tasks.
        tasks: usize,
        /// Tasks per group, in first-seen order.
        groups: Vec<(Group, usize)>,
        /// When the run started.
        at: Instant,
    },
    /// Which task groups of a submitted graph read which (`(reader, read)`, each pair
    /// once), sent after [`Event::GraphSubmitted`] for the dashboard's graph.
    GroupEdges {
        /// The run.
        run: RunId,
        /// The pairs.
        edges: Vec<(Group, Group)>,
    },
    /// A task started.
    TaskStarted {
        /// The run.
        run: RunId,
        /// The task.
        key: Key,
        /// Which worker thread (or process) runs it.
        worker: u32,
        /// When.
        at: Instant,
    },
    /// A task finished successfully.
    TaskFinished {
        /// The run.
        run: RunId,
        /// The task.
        key: Key,
        /// Which worker ran it.
        worker: u32,
        /// When it started.
        start: Instant,
        /// How long it ran.
        duration: Duration,
        /// Approximate size of its output.
        nbytes: usize,
    },
    /// A task failed (its error ends the run).
    TaskFailed {
        /// The run.
        run: RunId,
        /// The task.
        key: Key,
        /// Which worker ran it.
        worker: u32,
        /// The error.
        message: String,
    },
    /// A worker process joined a pool (or, later, a cluster).
    WorkerJoined {
        /// Its id, as task events name it.
        worker: u32,
        /// Its name.
        name: String,
        /// Its process id.
        pid: u32,
        /// Its task threads.
        nthreads: u32,
        /// When.
        at: Instant,
    },
    /// A worker left: shut down with its pool, or lost (killed, crashed, disconnected).
    WorkerLeft {
        /// Its id.
        worker: u32,
        /// Why.
        reason: String,
        /// When.
        at: Instant,
    },
    /// A worker process's memory, from its heartbeat (every second) during a run.
    WorkerMemory {
        /// Its id.
        worker: u32,
        /// Bytes of values it holds in memory.
        memory: u64,
        /// Bytes of values it spilled to disk.
        spilled: u64,
        /// When the heartbeat arrived.
        at: Instant,
    },
    /// The run ended.
    RunFinished {
        /// The run.
        run: RunId,
        /// Whether it returned results (false: an error).
        ok: bool,
        /// Wall time.
        elapsed: Duration,
    },
}

/// A batch of events, shared by all subscribers.
pub type EventBatch = Arc<[Event]>;

/// The process-wide event bus; see the module docs.
#[derive(Debug, Default)]
pub struct EventBus {
    listeners: AtomicUsize,
    subscribers: Mutex<Vec<(u64, Sender<EventBatch>)>>,
    next_id: AtomicU64,
}

/// The bus every scheduler in this process publishes to.
pub fn bus() -> &'static EventBus {
    static BUS: OnceLock<EventBus> = OnceLock::new();
    BUS.get_or_init(EventBus::default)
}

impl EventBus {
    /// Whether anyone subscribes (a relaxed load: check once per run, not per task).
    #[inline]
    pub fn is_listened(&self) -> bool {
        self.listeners.load(Ordering::Relaxed) > 0
    }

    /// Starts receiving batches of events; dropping the subscription stops it.
    pub fn subscribe(&'static self) -> Subscription {
        let (tx, rx) = crossbeam_channel::unbounded();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).push((id, tx));
        self.listeners.fetch_add(1, Ordering::Relaxed);
        Subscription { bus: self, id, receiver: rx }
    }

    /// Sends a batch to every subscriber.
    pub fn publish(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let batch: EventBatch = events.into();
        for (_, tx) in self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = tx.send(batch.clone());
        }
    }

    /// A fresh run id.
    pub fn next_run(&self) -> RunId {
        static RUNS: AtomicU64 = AtomicU64::new(1);
        RUNS.fetch_add(1, Ordering::Relaxed)
    }
}

/// A live subscription to the [`EventBus`].
#[derive(Debug)]
pub struct Subscription {
    bus: &'static EventBus,
    id: u64,
    receiver: Receiver<EventBatch>,
}

impl Subscription {
    /// The channel batches arrive on.
    pub fn receiver(&self) -> &Receiver<EventBatch> {
        &self.receiver
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut subs = self.bus.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subs.retain(|(id, _)| *id != self.id);
        self.bus.listeners.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A worker thread's buffer of events, published in batches.
#[derive(Debug)]
pub struct EventBuffer {
    events: Vec<Event>,
    last_flush: Instant,
}

/// Publish when this many events are buffered...
const BATCH_EVENTS: usize = 1024;
/// ...or when the oldest is this old, so progress moves smoothly on slow tasks.
const BATCH_AGE: Duration = Duration::from_millis(50);

impl Default for EventBuffer {
    fn default() -> Self {
        EventBuffer { events: Vec::with_capacity(64), last_flush: Instant::now() }
    }
}

impl EventBuffer {
    /// Buffers one event, publishing the batch when it is large or old.
    pub fn push(&mut self, event: Event) {
        self.events.push(event);
        if self.events.len() >= BATCH_EVENTS || self.last_flush.elapsed() >= BATCH_AGE {
            self.flush();
        }
    }

    /// Publishes what is buffered.
    pub fn flush(&mut self) {
        self.last_flush = Instant::now();
        if !self.events.is_empty() {
            bus().publish(std::mem::take(&mut self.events));
        }
    }
}

impl Drop for EventBuffer {
    fn drop(&mut self) {
        self.flush();
    }
}

/// One worker's reporter of task events for one run.
#[derive(Debug)]
pub struct TaskRecorder {
    run: RunId,
    worker: u32,
    buffer: EventBuffer,
}

impl TaskRecorder {
    /// A recorder for worker `worker` in `run`.
    pub fn new(run: RunId, worker: u32) -> Self {
        TaskRecorder { run, worker, buffer: EventBuffer::default() }
    }

    /// Reports that `key` starts now; returns the start time.
    pub fn started(&mut self, key: Key) -> Instant {
        let at = Instant::now();
        self.buffer.push(Event::TaskStarted { run: self.run, key, worker: self.worker, at });
        at
    }

    /// Reports how the task that started at `start` ended.
    pub fn ended<E: std::fmt::Display>(&mut self, key: Key, start: Instant, result: &Result<rask_graph::Value, E>) {
        let (run, worker) = (self.run, self.worker);
        self.buffer.push(match result {
            Ok(v) => Event::TaskFinished { run, key, worker, start, duration: start.elapsed(), nbytes: v.nbytes() },
            Err(e) => Event::TaskFailed { run, key, worker, message: e.to_string() },
        });
    }
}

/// Which groups of `graph` read which, each pair once.
fn group_edges(graph: &TaskGraph) -> Vec<(Group, Group)> {
    let mut seen = rustc_hash::FxHashSet::default();
    for task in graph.ids() {
        let reader = graph.key(task).group();
        for read in graph.dependencies(task) {
            let read = graph.key(read).group();
            if read != reader {
                seen.insert((reader, read));
            }
        }
    }
    seen.into_iter().collect()
}

/// Reports the start and end of one run, if anyone listens.
#[derive(Debug)]
pub struct RunReport {
    run: RunId,
    started: Instant,
    listened: bool,
}

impl RunReport {
    /// Announces `graph` on the bus (when listened) and starts the clock.
    pub fn begin(graph: &TaskGraph, scheduler: &str) -> RunReport {
        let listened = bus().is_listened();
        let run = if listened { bus().next_run() } else { 0 };
        let started = Instant::now();
        if listened {
            let mut groups: Vec<(Group, usize)> = Vec::new();
            let mut index = std::collections::HashMap::new();
            for key in graph.keys() {
                let i = *index.entry(key.group()).or_insert_with(|| {
                    groups.push((key.group(), 0));
                    groups.len() - 1
                });
                groups[i].1 += 1;
            }
            bus().publish(vec![
                Event::GraphSubmitted {
                    run,
                    scheduler: scheduler.to_string(),
                    tasks: graph.len(),
                    groups,
                    at: started,
                },
                Event::GroupEdges { run, edges: group_edges(graph) },
            ]);
        }
        RunReport { run, started, listened }
    }

    /// Whether events should be produced for this run.
    pub fn listened(&self) -> bool {
        self.listened
    }

    /// The run's id (0 when nobody listens).
    pub fn run(&self) -> RunId {
        self.run
    }

    /// Announces the end of the run.
    pub fn finish(self, ok: bool) {
        if self.listened {
            bus().publish(vec![Event::RunFinished { run: self.run, ok, elapsed: self.started.elapsed() }]);
        }
    }
}

//! The event bus: what every scheduler reports while it runs.
//!
//! Executors publish [`Event`]s (graph submitted, task started, finished or failed, run
//! finished); the terminal progress bar and the dashboard subscribe. Nothing is built,
//! timed or sent when nobody listens: an executor checks [`EventBus::is_listened`] once
//! per run. When someone listens, each worker thread counts and samples its tasks and
//! publishes them in batches ([`TaskRecorder`]), and the cluster's service publishes the
//! events of one burst of its state machine together.
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
    /// A task started (a sampled task of a local run; every task on a cluster).
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
    /// A task finished successfully, with its timing: every task on a cluster, a sample of
    /// the tasks of a local run (see [`TaskRecorder`]). Counts come from
    /// [`Event::TasksDone`].
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
    /// Tasks a worker finished since its last report, per group: how many, and the bytes
    /// of their results (of tiny tasks, estimated from the timed sample). Every finished task is counted here exactly once; the
    /// [`Event::TaskFinished`] events are a sample of them (see [`TaskRecorder`]).
    TasksDone {
        /// The run.
        run: RunId,
        /// The worker (thread or process).
        worker: u32,
        /// `(group, tasks, bytes)`.
        groups: Vec<(Group, u64, u64)>,
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

/// How often a worker thread publishes what it gathered, at most, so progress moves
/// smoothly on slow tasks.
const BATCH_AGE: Duration = Duration::from_millis(50);

/// Tasks from this duration on are all timed and reported one by one.
const SLOW_TASK: Duration = Duration::from_micros(20);
/// Of faster tasks, one in this many is timed and reported (the task stream's sample).
const SAMPLE_EVERY: u32 = 64;
/// Untimed tasks between looks at the clock (for the batch's age).
const CLOCK_EVERY: u32 = 256;

/// One worker thread's reporter of task events for one run, cheap enough to leave on for
/// a million tiny tasks: it counts finished tasks per group and reports the counts in
/// batches ([`Event::TasksDone`]), and times only a sample of the tasks for the task stream
/// ([`Event::TaskStarted`], [`Event::TaskFinished`]): every task once they take
/// 20 µs or more, else one in 64. Failures are reported at once.
///
/// ```
/// use rask_graph::{Group, Key, Token, Value};
/// use rask_scheduler::events::{bus, Event, TaskRecorder};
/// let subscription = bus().subscribe();
/// let mut recorder = TaskRecorder::new(7, 0);
/// for i in 0..1000 {
///     let key = Key::new(Group::new("inc"), Token(1), &[i]);
///     let start = recorder.started(key);
///     recorder.ended::<String>(key, start, &Ok(Value::I64(1)));
/// }
/// drop(recorder);
/// let events: Vec<Event> = subscription.receiver().try_iter().flat_map(|b| b.to_vec()).collect();
/// let counted: u64 = events.iter().map(|e| match e { Event::TasksDone { groups, .. } => groups[0].1, _ => 0 }).sum();
/// assert_eq!(counted, 1000);
/// let timed = events.iter().filter(|e| matches!(e, Event::TaskFinished { .. })).count();
/// assert!(timed >= 1 && timed < 100, "a sample: {timed}");
/// ```
#[derive(Debug)]
pub struct TaskRecorder {
    run: RunId,
    worker: u32,
    /// Finished tasks and their bytes per group since the last flush.
    tally: Vec<(Group, u64, u64)>,
    /// Timed events since the last flush.
    samples: Vec<Event>,
    /// Tasks until the next one timed, and one in how many is timed now.
    countdown: u32,
    every: u32,
    since_clock: u32,
    last_flush: Instant,
}

impl TaskRecorder {
    /// A recorder for worker `worker` in `run`.
    pub fn new(run: RunId, worker: u32) -> Self {
        TaskRecorder {
            run,
            worker,
            tally: Vec::with_capacity(4),
            samples: Vec::with_capacity(16),
            countdown: 1,
            every: 1,
            since_clock: 0,
            last_flush: Instant::now(),
        }
    }

    /// Notes that `key` starts; its start time when it is timed.
    #[inline]
    pub fn started(&mut self, key: Key) -> Option<Instant> {
        self.countdown -= 1;
        if self.countdown > 0 {
            return None;
        }
        self.countdown = self.every;
        let at = Instant::now();
        self.samples.push(Event::TaskStarted { run: self.run, key, worker: self.worker, at });
        Some(at)
    }

    /// Notes how the task that [`started`](TaskRecorder::started) ended.
    #[inline]
    pub fn ended<E: std::fmt::Display>(
        &mut self,
        key: Key,
        start: Option<Instant>,
        result: &Result<rask_graph::Value, E>,
    ) {
        let (run, worker) = (self.run, self.worker);
        match result {
            Ok(v) => match start {
                // A timed task's bytes stand for those of the tasks it samples.
                Some(start) => {
                    let duration = start.elapsed();
                    let nbytes = v.nbytes();
                    self.count(key.group(), nbytes as u64 * u64::from(self.every));
                    self.every = if duration >= SLOW_TASK { 1 } else { SAMPLE_EVERY };
                    self.samples.push(Event::TaskFinished { run, key, worker, start, duration, nbytes });
                }
                None => self.count(key.group(), 0),
            },
            Err(e) => {
                self.samples.push(Event::TaskFailed { run, key, worker, message: e.to_string() });
                self.flush();
                return;
            }
        }
        self.since_clock += 1;
        if start.is_some() || self.since_clock >= CLOCK_EVERY {
            self.since_clock = 0;
            if self.last_flush.elapsed() >= BATCH_AGE {
                self.flush();
            }
        }
    }

    #[inline]
    fn count(&mut self, group: Group, nbytes: u64) {
        match self.tally.iter_mut().rev().find(|(g, _, _)| *g == group) {
            Some((_, n, bytes)) => {
                *n += 1;
                *bytes += nbytes;
            }
            None => self.tally.push((group, 1, nbytes)),
        }
    }

    /// Publishes the counts and samples gathered.
    pub fn flush(&mut self) {
        self.last_flush = Instant::now();
        self.since_clock = 0;
        let mut events = std::mem::take(&mut self.samples);
        if !self.tally.is_empty() {
            let groups = std::mem::take(&mut self.tally);
            events.push(Event::TasksDone { run: self.run, worker: self.worker, groups });
        }
        if !events.is_empty() {
            bus().publish(events);
        }
    }
}

impl Drop for TaskRecorder {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Tasks per group, in first-seen order.
pub type GroupCounts = Vec<(Group, usize)>;
/// Pairs of groups, `(reader, read)`.
pub type GroupPairs = Vec<(Group, Group)>;

/// Tasks of a group whose dependencies [`group_summary`] looks at, at most (and then
/// one task in [`EDGE_STRIDE`]).
const EDGE_SAMPLE: u32 = 64;
const EDGE_STRIDE: usize = 1024;

/// The tasks of `graph` per group (in first-seen order), and which groups read which
/// (each pair once). Counting is one pass over the keys; the edges come from the first
/// [`EDGE_SAMPLE`] tasks of each group and one task in [`EDGE_STRIDE`] after that (tasks
/// of a group read alike), so announcing a million-task graph costs little more than
/// reading its keys.
fn group_summary(graph: &TaskGraph) -> (GroupCounts, GroupPairs) {
    let mut groups: Vec<(Group, usize)> = Vec::new();
    let mut index = rustc_hash::FxHashMap::default();
    let mut seen = rustc_hash::FxHashSet::default();
    // Keys of one group mostly come together: the last group is looked up once.
    let mut last: Option<(Group, usize)> = None;
    for (t, key) in graph.keys().iter().enumerate() {
        let group = key.group();
        let i = match last {
            Some((g, i)) if g == group => i,
            _ => *index.entry(group).or_insert_with(|| {
                groups.push((group, 0));
                groups.len() - 1
            }),
        };
        last = Some((group, i));
        groups[i].1 += 1;
        if groups[i].1 <= EDGE_SAMPLE as usize || t % EDGE_STRIDE == 0 {
            for read in graph.dependencies(rask_graph::TaskId(t as u32)) {
                let read = graph.key(read).group();
                if read != group {
                    seen.insert((group, read));
                }
            }
        }
    }
    (groups, seen.into_iter().collect())
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
            let (groups, edges) = group_summary(graph);
            bus().publish(vec![
                Event::GraphSubmitted {
                    run,
                    scheduler: scheduler.to_string(),
                    tasks: graph.len(),
                    groups,
                    at: started,
                },
                Event::GroupEdges { run, edges },
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

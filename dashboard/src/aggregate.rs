//! What the dashboard shows, folded from the event bus: [`Aggregate`] takes batches of
//! [`Event`]s and keeps counts per task group, the last [`STREAM`] tasks, the workers and
//! the last [`FAILURES`] failures; [`Aggregate::snapshot`] copies that into a
//! [`Snapshot`] that pages and the JSON API read. Nothing here walks or locks a
//! scheduler's task table: each event costs a hash lookup, and a snapshot costs the
//! number of groups, workers and kept tasks, whatever the size of the graph.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rask_graph::{Group, Key};
use rask_scheduler::events::Event;
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Tasks kept in the task stream.
pub const STREAM: usize = 1000;
/// Failures kept.
pub const FAILURES: usize = 1000;
/// Groups shown, at most (the graph of a computation rarely has more than a few dozen).
pub const MAX_GROUPS: usize = 1000;

/// Tasks of one group, by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupProgress {
    /// The group's name (the keys' prefix, as `inc` or `random_sample`).
    pub name: String,
    /// Tasks submitted.
    pub total: u64,
    /// Submitted, not started yet.
    pub waiting: u64,
    /// Running now.
    pub processing: u64,
    /// Finished, their results in memory.
    pub memory: u64,
    /// Failed.
    pub erred: u64,
}

/// One task of the task stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamTask {
    /// The task's key.
    pub key: String,
    /// Its group.
    pub group: String,
    /// The worker (thread or process) that ran it.
    pub worker: u32,
    /// When it started, milliseconds since the Unix epoch.
    pub start_ms: f64,
    /// How long it ran, milliseconds.
    pub duration_ms: f64,
    /// The size of its result.
    pub nbytes: u64,
}

/// A worker as the dashboard shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WorkerView {
    /// Its id, as task events name it.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// Its process id (0 for a thread of this process).
    pub pid: u32,
    /// Its task threads.
    pub nthreads: u32,
    /// Bytes of values it holds in memory, from its last heartbeat.
    pub memory: u64,
    /// Bytes it spilled to disk.
    pub spilled: u64,
    /// Tasks running on it now.
    pub running: u64,
    /// Tasks it finished.
    pub finished: u64,
    /// CPU busy, as the share of its threads' time spent in tasks over the last update.
    pub cpu: f64,
    /// Why it left, if it did.
    pub left: Option<String>,
}

/// A failed task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Its key.
    pub key: String,
    /// Its group (the op's name, for most tasks).
    pub group: String,
    /// The worker that ran it.
    pub worker: u32,
    /// The error.
    pub error: String,
    /// When it was reported, milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// Totals over every group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Tasks submitted.
    pub tasks: u64,
    /// Not started.
    pub waiting: u64,
    /// Running.
    pub processing: u64,
    /// Finished.
    pub memory: u64,
    /// Failed.
    pub erred: u64,
    /// Bytes of results produced (the tasks' outputs, as they reported them).
    pub bytes: u64,
}

/// Everything a page shows at one moment; see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// When it was taken, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The scheduler the last computation ran on.
    pub scheduler: String,
    /// Computations running now.
    pub running: usize,
    /// Computations finished, and how many of them failed.
    pub runs_finished: u64,
    /// Computations that ended with an error.
    pub runs_failed: u64,
    /// Seconds since the current computations began (or the last one took).
    pub elapsed_s: f64,
    /// Totals.
    pub totals: Totals,
    /// Per group, in the order first seen.
    pub groups: Vec<GroupProgress>,
    /// Which groups read which (`[reader, read]` pairs), for the graph page.
    pub edges: Vec<(String, String)>,
    /// The last tasks that ran, oldest first.
    pub stream: Vec<StreamTask>,
    /// The workers, in the order they joined.
    pub workers: Vec<WorkerView>,
    /// The last failures, oldest first.
    pub failures: Vec<Failure>,
}

/// A timed task as the stream keeps it: formatted only when a snapshot is taken.
#[derive(Debug, Clone, Copy)]
struct Sampled {
    key: Key,
    worker: u32,
    start: Instant,
    duration: Duration,
    nbytes: usize,
}

impl Sampled {
    fn view(&self, clock: &Clock) -> StreamTask {
        StreamTask {
            key: self.key.to_string(),
            group: self.key.group().as_str().to_string(),
            worker: self.worker,
            start_ms: clock.wall_ms(self.start),
            duration_ms: self.duration.as_secs_f64() * 1e3,
            nbytes: self.nbytes as u64,
        }
    }
}

/// The running fold of events; see the module docs.
#[derive(Debug)]
pub struct Aggregate {
    clock: Clock,
    scheduler: String,
    groups: Vec<GroupProgress>,
    group_index: FxHashMap<Group, usize>,
    edges: Vec<(String, String)>,
    totals: Totals,
    stream: VecDeque<Sampled>,
    workers: Vec<WorkerView>,
    worker_index: FxHashMap<u32, usize>,
    /// Timed task time per worker, and the tasks timed, since the last snapshot: with the
    /// tasks done meanwhile, an estimate of its CPU share.
    busy: FxHashMap<u32, (Duration, u64)>,
    done_in_window: FxHashMap<u32, u64>,
    /// The task each worker reported starting, not yet over.
    current: FxHashMap<u32, Key>,
    /// Whether the computations ended (nothing waits any more).
    settled: bool,
    last_snapshot: Instant,
    failures: VecDeque<Failure>,
    /// Runs going on, and when the first of them began.
    active: FxHashMap<u64, Instant>,
    began: Option<Instant>,
    last_elapsed: Duration,
    runs_finished: u64,
    runs_failed: u64,
}

/// Turns the monotonic instants of events into wall-clock time.
#[derive(Debug, Clone, Copy)]
struct Clock {
    instant: Instant,
    wall: SystemTime,
}

impl Clock {
    fn now() -> Clock {
        Clock { instant: Instant::now(), wall: SystemTime::now() }
    }

    /// Milliseconds since the Unix epoch at `at`.
    fn wall_ms(&self, at: Instant) -> f64 {
        let wall = match at.checked_duration_since(self.instant) {
            Some(after) => self.wall + after,
            None => self.wall - self.instant.duration_since(at),
        };
        wall.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64() * 1e3
    }
}

impl Default for Aggregate {
    fn default() -> Self {
        Aggregate {
            clock: Clock::now(),
            scheduler: String::new(),
            groups: Vec::new(),
            group_index: FxHashMap::default(),
            edges: Vec::new(),
            totals: Totals::default(),
            stream: VecDeque::with_capacity(STREAM),
            workers: Vec::new(),
            worker_index: FxHashMap::default(),
            busy: FxHashMap::default(),
            done_in_window: FxHashMap::default(),
            current: FxHashMap::default(),
            settled: false,
            last_snapshot: Instant::now(),
            failures: VecDeque::new(),
            active: FxHashMap::default(),
            began: None,
            last_elapsed: Duration::ZERO,
            runs_finished: 0,
            runs_failed: 0,
        }
    }
}

impl Aggregate {
    /// Folds in one batch of events.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use rask_dashboard::Aggregate;
    /// use rask_graph::{Group, Key, Token};
    /// use rask_scheduler::events::Event;
    /// let (inc, now) = (Group::new("inc"), Instant::now());
    /// let key = Key::new(inc, Token(1), &[0]);
    /// let mut view = Aggregate::default();
    /// view.apply(&[
    ///     Event::GraphSubmitted { run: 1, scheduler: "threads(2)".into(), tasks: 2, groups: vec![(inc, 2)], at: now },
    ///     Event::TaskStarted { run: 1, key, worker: 0, at: now },
    ///     Event::TaskFinished { run: 1, key, worker: 0, start: now, duration: Duration::from_millis(3), nbytes: 8 },
    ///     Event::TasksDone { run: 1, worker: 0, groups: vec![(inc, 1, 8)] },
    /// ]);
    /// let snapshot = view.snapshot();
    /// assert_eq!((snapshot.groups[0].memory, snapshot.groups[0].waiting), (1, 1));
    /// assert_eq!(snapshot.stream[0].duration_ms, 3.0);
    /// ```
    pub fn apply(&mut self, events: &[Event]) {
        for event in events {
            self.apply_one(event);
        }
    }

    fn apply_one(&mut self, event: &Event) {
        match event {
            Event::GraphSubmitted { run, scheduler, groups, at, .. } => {
                if self.active.is_empty() {
                    self.start_over();
                    self.began = Some(*at);
                }
                self.active.insert(*run, *at);
                self.scheduler.clone_from(scheduler);
                for &(group, count) in groups {
                    if let Some(progress) = self.group(group) {
                        progress.total += count as u64;
                    }
                    self.totals.tasks += count as u64;
                }
            }
            Event::GroupEdges { edges, .. } => {
                for (reader, read) in edges {
                    let pair = (reader.as_str().to_string(), read.as_str().to_string());
                    if self.edges.len() < MAX_GROUPS * 4 && !self.edges.contains(&pair) {
                        self.edges.push(pair);
                    }
                }
            }
            Event::TaskStarted { key, worker, .. } => {
                if let Some(progress) = self.group(key.group()) {
                    progress.processing += 1;
                }
                self.totals.processing += 1;
                let view = self.worker(*worker);
                view.running += 1;
                self.current.insert(*worker, *key);
            }
            Event::TasksDone { worker, groups, .. } => {
                let mut done = 0;
                for &(group, n, bytes) in groups {
                    if let Some(progress) = self.group(group) {
                        progress.memory += n;
                    }
                    self.totals.memory += n;
                    self.totals.bytes += bytes;
                    done += n;
                }
                self.worker(*worker).finished += done;
                *self.done_in_window.entry(*worker).or_default() += done;
            }
            Event::TaskFinished { key, worker, start, duration, nbytes, .. } => {
                self.task_over(*worker, *key);
                let sampled = self.busy.entry(*worker).or_default();
                sampled.0 += *duration;
                sampled.1 += 1;
                if self.stream.len() == STREAM {
                    self.stream.pop_front();
                }
                self.stream.push_back(Sampled {
                    key: *key,
                    worker: *worker,
                    start: *start,
                    duration: *duration,
                    nbytes: *nbytes,
                });
            }
            Event::TaskFailed { key, worker, message, .. } => {
                self.task_over(*worker, *key);
                if let Some(progress) = self.group(key.group()) {
                    progress.erred += 1;
                }
                self.totals.erred += 1;
                if self.failures.len() == FAILURES {
                    self.failures.pop_front();
                }
                self.failures.push_back(Failure {
                    key: key.to_string(),
                    group: key.group().as_str().to_string(),
                    worker: *worker,
                    error: message.clone(),
                    at_ms: self.clock.wall_ms(Instant::now()) as u64,
                });
            }
            Event::WorkerJoined { worker, name, pid, nthreads, .. } => {
                let view = self.worker(*worker);
                *view = WorkerView {
                    id: *worker,
                    name: name.clone(),
                    pid: *pid,
                    nthreads: *nthreads,
                    ..Default::default()
                };
            }
            Event::WorkerLeft { worker, reason, .. } => {
                let view = self.worker(*worker);
                view.left = Some(reason.clone());
                view.running = 0;
            }
            Event::WorkerMemory { worker, memory, spilled, .. } => {
                let view = self.worker(*worker);
                (view.memory, view.spilled) = (*memory, *spilled);
            }
            Event::RunFinished { run, ok, elapsed } => {
                if self.active.remove(run).is_some() {
                    self.runs_finished += 1;
                    self.runs_failed += u64::from(!ok);
                }
                if self.active.is_empty() {
                    self.last_elapsed = self.began.map_or(*elapsed, |b| b.elapsed());
                    // What never ran in a finished computation waits no more.
                    self.settled = true;
                    self.totals.processing = 0;
                    for group in &mut self.groups {
                        group.processing = 0;
                    }
                    for worker in &mut self.workers {
                        worker.running = 0;
                    }
                    self.current.clear();
                }
            }
            _ => {}
        }
    }

    /// The task `key` that `worker` started (if its start was reported) is over.
    fn task_over(&mut self, worker: u32, key: Key) {
        if self.current.get(&worker) != Some(&key) {
            return;
        }
        self.current.remove(&worker);
        if let Some(progress) = self.group(key.group()) {
            progress.processing = progress.processing.saturating_sub(1);
        }
        self.totals.processing = self.totals.processing.saturating_sub(1);
        let view = self.worker(worker);
        view.running = view.running.saturating_sub(1);
    }

    /// Forgets the progress of earlier computations (a new one begins with none running).
    fn start_over(&mut self) {
        self.settled = false;
        self.groups.clear();
        self.group_index.clear();
        self.edges.clear();
        self.totals = Totals::default();
    }

    fn group(&mut self, group: Group) -> Option<&mut GroupProgress> {
        let next = self.groups.len();
        let index = match self.group_index.get(&group) {
            Some(&i) => i,
            None if next < MAX_GROUPS => {
                self.group_index.insert(group, next);
                self.groups.push(GroupProgress { name: group.as_str().to_string(), ..Default::default() });
                next
            }
            None => return None,
        };
        self.groups.get_mut(index)
    }

    fn worker(&mut self, id: u32) -> &mut WorkerView {
        let next = self.workers.len();
        let index = *self.worker_index.entry(id).or_insert(next);
        if index == next {
            self.workers.push(WorkerView { id, name: format!("worker-{id}"), nthreads: 1, ..Default::default() });
        }
        &mut self.workers[index]
    }

    /// A copy of what the pages show now.
    pub fn snapshot(&mut self) -> Snapshot {
        let now = Instant::now();
        let window = now.duration_since(self.last_snapshot).max(Duration::from_millis(1));
        self.last_snapshot = now;
        for worker in &mut self.workers {
            let (timed, samples) = self.busy.remove(&worker.id).unwrap_or_default();
            let done = self.done_in_window.remove(&worker.id).unwrap_or_default().max(samples);
            // The timed tasks stand for all those done meanwhile.
            let busy = if samples == 0 { 0.0 } else { timed.as_secs_f64() * done as f64 / samples as f64 };
            worker.cpu = (busy / window.as_secs_f64() / f64::from(worker.nthreads.max(1))).min(1.0);
        }
        let settled = self.settled;
        let waiting = |total: u64, memory: u64, processing: u64, erred: u64| match settled {
            true => 0,
            false => total.saturating_sub(memory + processing + erred),
        };
        for g in &mut self.groups {
            g.waiting = waiting(g.total, g.memory, g.processing, g.erred);
        }
        let t = &mut self.totals;
        t.waiting = waiting(t.tasks, t.memory, t.processing, t.erred);
        let clock = self.clock;
        let elapsed = match (self.active.is_empty(), self.began) {
            (false, Some(began)) => now.duration_since(began),
            _ => self.last_elapsed,
        };
        Snapshot {
            at_ms: self.clock.wall_ms(now) as u64,
            scheduler: self.scheduler.clone(),
            running: self.active.len(),
            runs_finished: self.runs_finished,
            runs_failed: self.runs_failed,
            elapsed_s: elapsed.as_secs_f64(),
            totals: self.totals.clone(),
            groups: self.groups.clone(),
            edges: self.edges.clone(),
            stream: self.stream.iter().map(|t| t.view(&clock)).collect(),
            workers: self.workers.clone(),
            failures: self.failures.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use rask_graph::{Key, Token};

    use super::*;

    fn key(group: &str, i: u32) -> Key {
        Key::new(Group::new(group), Token(7), &[i])
    }

    fn finished(run: u64, key: Key, worker: u32, at: Instant) -> [Event; 3] {
        [
            Event::TaskStarted { run, key, worker, at },
            Event::TaskFinished { run, key, worker, start: at, duration: Duration::from_micros(250), nbytes: 16 },
            Event::TasksDone { run, worker, groups: vec![(key.group(), 1, 16)] },
        ]
    }

    #[test]
    fn groups_workers_stream_and_failures_follow_the_events() {
        let now = Instant::now();
        let (load, sum) = (Group::new("load"), Group::new("sum"));
        let mut view = Aggregate::default();
        view.apply(&[
            Event::WorkerJoined { worker: 3, name: "w3".into(), pid: 42, nthreads: 2, at: now },
            Event::GraphSubmitted {
                run: 1,
                scheduler: "threads(2)".into(),
                tasks: 5,
                groups: vec![(load, 4), (sum, 1)],
                at: now,
            },
            Event::GroupEdges { run: 1, edges: vec![(sum, load)] },
        ]);
        for i in 0..3 {
            view.apply(&finished(1, key("load", i), 3, now));
        }
        view.apply(&[
            Event::TaskStarted { run: 1, key: key("load", 3), worker: 3, at: now },
            Event::TaskFailed { run: 1, key: key("load", 3), worker: 3, message: "boom".into() },
            Event::WorkerMemory { worker: 3, memory: 1000, spilled: 10, at: now },
        ]);
        let s = view.snapshot();
        let expect_load =
            GroupProgress { name: "load".into(), total: 4, waiting: 0, processing: 0, memory: 3, erred: 1 };
        assert_eq!(
            s.groups,
            vec![expect_load, GroupProgress { name: "sum".into(), total: 1, waiting: 1, ..Default::default() }]
        );
        assert_eq!(s.totals, Totals { tasks: 5, waiting: 1, processing: 0, memory: 3, erred: 1, bytes: 48 });
        assert_eq!(s.edges, vec![("sum".to_string(), "load".to_string())]);
        assert_eq!(s.running, 1);
        assert_eq!(s.stream.len(), 3);
        assert_eq!(s.stream[0].duration_ms, 0.25);
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1e3;
        assert!((s.stream[0].start_ms - wall).abs() < 60_000.0, "wall-clock milliseconds");
        assert_eq!(s.failures.len(), 1);
        assert_eq!((s.failures[0].group.as_str(), s.failures[0].error.as_str()), ("load", "boom"));
        let w = &s.workers[0];
        assert_eq!((w.name.as_str(), w.pid, w.nthreads, w.finished, w.memory, w.spilled), ("w3", 42, 2, 3, 1000, 10));

        // The run ends: nothing waits any more; a new run starts from nothing.
        view.apply(&[Event::RunFinished { run: 1, ok: false, elapsed: Duration::from_millis(5) }]);
        let s = view.snapshot();
        assert_eq!((s.running, s.runs_finished, s.runs_failed, s.totals.waiting), (0, 1, 1, 0));
        view.apply(&[Event::GraphSubmitted {
            run: 2,
            scheduler: "sync".into(),
            tasks: 1,
            groups: vec![(sum, 1)],
            at: now,
        }]);
        let s = view.snapshot();
        assert_eq!(s.groups.len(), 1);
        assert_eq!((s.totals.tasks, s.scheduler.as_str()), (1, "sync"));
        assert_eq!(s.stream.len(), 3, "the task stream spans runs");
    }

    #[test]
    fn the_stream_and_failures_keep_only_the_last_ones() {
        let now = Instant::now();
        let mut view = Aggregate::default();
        let group = Group::new("inc");
        view.apply(&[Event::GraphSubmitted {
            run: 1,
            scheduler: "threads".into(),
            tasks: 3000,
            groups: vec![(group, 3000)],
            at: now,
        }]);
        for i in 0..(STREAM as u32 + 10) {
            view.apply(&finished(1, key("inc", i), i % 4, now));
        }
        for i in 0..(FAILURES as u32 + 5) {
            view.apply(&[Event::TaskFailed { run: 1, key: key("inc", 5000 + i), worker: 0, message: format!("e{i}") }]);
        }
        let s = view.snapshot();
        assert_eq!(s.stream.len(), STREAM);
        assert_eq!(s.stream[0].key, key("inc", 10).to_string(), "the oldest went first");
        assert_eq!(s.failures.len(), FAILURES);
        assert_eq!(s.failures[0].error, "e5");
        assert_eq!(s.groups[0].memory, STREAM as u64 + 10);
        assert_eq!(s.workers.len(), 4, "workers seen only in task events are listed too");
    }

    #[test]
    fn groups_beyond_the_cap_are_counted_in_the_totals_only() {
        let now = Instant::now();
        let groups: Vec<(Group, usize)> = (0..MAX_GROUPS + 3).map(|i| (Group::new(&format!("g{i}")), 1)).collect();
        let mut view = Aggregate::default();
        view.apply(&[Event::GraphSubmitted { run: 1, scheduler: "x".into(), tasks: groups.len(), groups, at: now }]);
        let s = view.snapshot();
        assert_eq!(s.groups.len(), MAX_GROUPS);
        assert_eq!(s.totals.tasks, MAX_GROUPS as u64 + 3);
    }

    #[test]
    fn counts_come_from_tallies_and_timings_from_samples() {
        let now = Instant::now();
        let inc = Group::new("inc");
        let mut view = Aggregate::default();
        view.apply(&[
            Event::GraphSubmitted {
                run: 1,
                scheduler: "threads".into(),
                tasks: 100,
                groups: vec![(inc, 100)],
                at: now,
            },
            // One task timed of the 64 done; another one started and running.
            Event::TaskStarted { run: 1, key: key("inc", 0), worker: 0, at: now },
            Event::TaskFinished {
                run: 1,
                key: key("inc", 0),
                worker: 0,
                start: now,
                duration: Duration::from_micros(5),
                nbytes: 8,
            },
            Event::TasksDone { run: 1, worker: 0, groups: vec![(inc, 64, 512)] },
            Event::TaskStarted { run: 1, key: key("inc", 64), worker: 0, at: now },
            // A failure of a task whose start was not reported leaves the running one be.
            Event::TaskFailed { run: 1, key: key("inc", 70), worker: 1, message: "x".into() },
        ]);
        let s = view.snapshot();
        assert_eq!(
            s.groups[0],
            GroupProgress { name: "inc".into(), total: 100, waiting: 34, processing: 1, memory: 64, erred: 1 }
        );
        assert_eq!((s.workers[0].finished, s.workers[0].running), (64, 1));
        assert_eq!(s.stream.len(), 1);
        assert!(s.workers[0].cpu > 0.0, "the sample stands for the 64 tasks");
    }
}

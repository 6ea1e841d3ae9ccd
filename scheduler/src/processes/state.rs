//! The process pool's scheduling core: a pure state machine over one run of one graph.
//!
//! [`Run`] tracks every task as waiting (inputs unfinished), ready (queued here for a
//! worker), sent (queued or running on a worker), done (its value held by a worker) or
//! released (its value forgotten), and decides:
//!
//! - **placement**: a ready task goes to the worker holding most of its input bytes
//!   (`Finished.nbytes`); ties go to the least-loaded of them. Roots wait in one
//!   priority queue that the least-loaded worker drains a batch at a time, so siblings
//!   land together;
//! - **flow**: each worker gets up to `2 × nthreads` tasks plus a batch sized to about
//!   2 ms of its work (measured from `Finished.duration_us`), sent as one
//!   [`ToWorker::Compute`] with its ops deduplicated (`Arc::ptr_eq`) and encoded once per
//!   run; an idle worker steals backlog from a busy one;
//! - **chains**: a task whose inputs are all done on, or sent to, the same worker is sent
//!   there at once with `Held` inputs, so a chain link costs no round trip;
//! - **memory**: a value is released (batched [`ToWorker::Release`]) as soon as every
//!   dependent finished and it is not an output still to gather; outputs are gathered
//!   ([`ToWorker::Gather`]) as they finish;
//! - **failure**: a [`FromWorker::Failed`] ends the run with the task's error;
//! - **loss**: a lost worker's tasks are requeued and every value it held that is still
//!   needed is recomputed, recursively ([`Run::worker_lost`], [`FromWorker::Missing`]);
//!   a replacement joins mid-run ([`Run::expect_worker`], [`Run::add_worker`]). The tasks
//!   a lost worker was most likely running (its first `nthreads` runnable ones by
//!   priority, the order it runs them in) are suspects; a task suspected in more than
//!   [`ALLOWED_FAILURES`] deaths ends the run ([`SchedulerError::KilledWorker`]), so a
//!   task that crashes its worker is not retried forever.
//!
//! No I/O: messages go out through a [`Comm`], come in through [`Run::handle`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rask_graph::{Csr, GraphError, Key, TaskGraph, TaskId, Value};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use super::comm::Comm;
use crate::error::SchedulerError;
use crate::wire::{Address, EncodedOp, Finished, FromWorker, Lookup, TaskFailure, TaskMsg};

/// One worker as the state machine sees it.
#[derive(Debug, Clone)]
pub(crate) struct WorkerSpec {
    /// Threads running tasks.
    pub nthreads: u32,
    /// Where its peers fetch its values.
    pub data_address: Address,
    /// The largest message it takes (from its handshake).
    pub limit: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Some input is not done.
    Waiting,
    /// In a queue here, not yet sent.
    Ready,
    /// Queued or running on this worker.
    Sent(u32),
    /// Finished; this worker holds the value.
    Done(u32),
    /// Finished; the value was forgotten (or lost with its worker).
    Released,
}

impl State {
    fn unfinished(self) -> bool {
        matches!(self, State::Waiting | State::Ready | State::Sent(_))
    }
}

/// Work sent to a worker per round is sized to about this much of its time.
const BATCH_TARGET_US: f64 = 2000.0;
/// A worker's per-task overhead (decode, bookkeeping, notice), added to op durations.
const OVERHEAD_US: f64 = 2.0;
/// The most tasks one batch adds beyond `2 × nthreads`.
const MAX_BATCH: usize = 4096;
/// Literal bytes one `Compute` message carries at most: beyond, the batch continues in
/// another message, so a worker starts on the first tasks while the rest travel.
const MAX_BATCH_BYTES: u64 = 64 << 20;
/// Worker deaths a task may be suspected in and still be retried (Dask's
/// `distributed.scheduler.allowed-failures`).
pub(crate) const ALLOWED_FAILURES: u32 = 3;

#[derive(Debug)]
struct Worker {
    spec: WorkerSpec,
    alive: bool,
    /// Tasks sent and not finished.
    in_flight: usize,
    /// Ready tasks placed here, by priority.
    queue: BinaryHeap<Reverse<u32>>,
    /// Batches assembled for the next flush, each a `Compute` message (the last one
    /// still open) with the literal bytes it carries.
    batches: Vec<Batch>,
    release: Vec<Key>,
    gather: Vec<Key>,
}

impl Worker {
    fn new(spec: WorkerSpec) -> Worker {
        Worker {
            spec,
            alive: true,
            in_flight: 0,
            queue: BinaryHeap::new(),
            batches: Vec::new(),
            release: Vec::new(),
            gather: Vec::new(),
        }
    }

    fn load(&self) -> f64 {
        self.in_flight as f64 / self.spec.nthreads.max(1) as f64
    }
}

/// One `Compute` message being assembled: its tasks, its op table (each op once, found by
/// the address of its `Arc`) and the literal bytes its tasks carry.
#[derive(Debug, Default)]
struct Batch {
    tasks: Vec<TaskMsg>,
    ops: Vec<EncodedOp>,
    op_slots: SmallVec<[(usize, u32); 8]>,
    bytes: u64,
}

/// One graph's run on a pool of workers; see the module docs.
#[derive(Debug)]
pub(crate) struct Run<'g> {
    graph: &'g TaskGraph,
    dependents: Csr,
    index: FxHashMap<Key, u32>,
    state: Vec<State>,
    /// Inputs not done (for waiting tasks).
    pending: Vec<u32>,
    /// Inputs neither sent nor done (for chains).
    unsent: Vec<u32>,
    /// Unfinished readers (one per reading argument).
    readers: Vec<u32>,
    nbytes: Vec<u64>,
    /// Workers that fetched a value from its holder (they may keep a copy to release).
    fetched_by: FxHashMap<u32, SmallVec<[u32; 2]>>,
    outputs: Vec<TaskId>,
    is_output: Vec<bool>,
    /// Distinct outputs.
    n_outputs: usize,
    results: FxHashMap<u32, Value>,
    /// Outputs asked of a worker and not yet answered.
    gathering: FxHashMap<u32, u32>,
    /// Unfinished tasks.
    remaining: usize,
    roots: BinaryHeap<Reverse<u32>>,
    workers: Vec<Worker>,
    encoded: FxHashMap<usize, EncodedOp>,
    /// Mean op duration in µs (exponentially weighted), once measured.
    mean_us: Option<f64>,
    scratch: Vec<u64>,
    lost: usize,
    /// Replacements started and not yet joined: while any is coming, having no live
    /// worker is a wait, not an error.
    joining: usize,
    /// Worker deaths each task was suspected in.
    suspected: FxHashMap<u32, u32>,
    /// A loss was recorded: [`Run::recover`] runs before the next flush sends anything,
    /// once for any number of losses reported together.
    dirty: bool,
}

impl<'g> Run<'g> {
    /// A run of `graph` on `workers`, returning `outputs`. Nothing is sent before
    /// [`Run::start`].
    pub fn new(graph: &'g TaskGraph, outputs: &[TaskId], workers: Vec<WorkerSpec>) -> Result<Self, SchedulerError> {
        let n = graph.len();
        let mut is_output = vec![false; n];
        for o in outputs {
            *is_output.get_mut(o.index()).ok_or(GraphError::UnknownTaskId { id: o.0, len: n, referrer: None })? = true;
        }
        let mut index = FxHashMap::with_capacity_and_hasher(n, Default::default());
        index.extend(graph.keys().iter().enumerate().map(|(i, k)| (*k, i as u32)));
        let mut pending = vec![0u32; n];
        let mut readers = vec![0u32; n];
        for t in graph.ids() {
            for d in graph.dependencies(t) {
                pending[t.index()] += 1;
                readers[d.index()] += 1;
            }
        }
        let workers = workers.into_iter().map(Worker::new).collect::<Vec<_>>();
        Ok(Run {
            graph,
            dependents: graph.dependents(),
            index,
            state: vec![State::Waiting; n],
            unsent: pending.clone(),
            pending,
            readers,
            nbytes: vec![0; n],
            fetched_by: FxHashMap::default(),
            outputs: outputs.to_vec(),
            n_outputs: is_output.iter().filter(|o| **o).count(),
            is_output,
            results: FxHashMap::default(),
            gathering: FxHashMap::default(),
            remaining: n,
            roots: BinaryHeap::new(),
            scratch: vec![0; workers.len()],
            workers,
            encoded: FxHashMap::default(),
            mean_us: None,
            lost: 0,
            joining: 0,
            suspected: FxHashMap::default(),
            dirty: false,
        })
    }

    /// Queues the roots and sends the first batches.
    pub fn start(&mut self, comm: &mut impl Comm) -> Result<(), SchedulerError> {
        if !self.any_worker() {
            return Err(self.no_workers("the pool has no workers"));
        }
        for t in 0..self.state.len() as u32 {
            if self.pending[t as usize] == 0 {
                self.place(t);
            }
        }
        self.flush(comm)
    }

    /// Whether every task finished and every output was gathered.
    pub fn is_done(&self) -> bool {
        !self.dirty && self.remaining == 0 && self.results.len() == self.n_outputs
    }

    /// The outputs' values, in the order asked; call once [`Run::is_done`].
    pub fn results(&self) -> Vec<Value> {
        self.outputs.iter().map(|o| self.results.get(&o.0).cloned().unwrap_or(Value::Unit)).collect()
    }

    /// How many workers this run lost.
    pub fn workers_lost(&self) -> usize {
        self.lost
    }

    /// Handles one message from worker `worker`. Call [`Run::flush`] after a batch of
    /// messages to send what they made ready. A failed task is an `Err`: the run is over.
    pub fn handle(&mut self, worker: usize, message: FromWorker, comm: &mut impl Comm) -> Result<(), SchedulerError> {
        if !self.workers.get(worker).is_some_and(|w| w.alive) {
            // A worker declared lost: what it says now was already given up on.
            return Ok(());
        }
        match message {
            FromWorker::Finished(batch) => {
                for f in batch {
                    self.finished(worker, f, comm);
                }
                Ok(())
            }
            FromWorker::Failed(failure) => Err(self.failed(worker, failure, comm)),
            FromWorker::Values(values) => {
                let mut lost = false;
                for (key, value) in values {
                    lost |= self.gathered(worker, key, value)?;
                }
                self.dirty |= lost;
                Ok(())
            }
            FromWorker::Missing { task, key, from } => self.missing(worker, task, key, &from),
            FromWorker::Heartbeat { .. } => Ok(()),
        }
    }

    /// Worker `worker` is gone (its connection closed, its process exited): its queued
    /// and running tasks go back to the queue and the values it held that are still
    /// needed are recomputed (at the next [`Run::flush`]). An `Err` when no worker is left
    /// nor coming, or when a task it was running has now seen more than
    /// [`ALLOWED_FAILURES`] workers die.
    pub fn worker_lost(&mut self, worker: usize, reason: &str) -> Result<(), SchedulerError> {
        let Some(w) = self.workers.get(worker) else { return Ok(()) };
        if !w.alive {
            return Ok(());
        }
        let suspects = self.running_on(worker);
        self.workers[worker].alive = false;
        self.lost += 1;
        tracing::warn!(worker, reason, "worker lost; requeueing its tasks and recomputing its values");
        for t in suspects {
            let deaths = self.suspected.entry(t).or_default();
            *deaths += 1;
            if *deaths > ALLOWED_FAILURES {
                let id = TaskId(t);
                return Err(SchedulerError::KilledWorker {
                    key: self.graph.key(id),
                    op: self.graph.op(id).name().to_string(),
                    deaths: *deaths,
                    reason: reason.to_string(),
                });
            }
        }
        if !self.any_worker() {
            return Err(self.no_workers(reason));
        }
        self.dirty = true;
        Ok(())
    }

    /// The tasks worker `worker` was most likely running: its first `nthreads` runnable
    /// tasks (every input done) by priority, the order a worker runs them in.
    fn running_on(&self, worker: usize) -> SmallVec<[u32; 8]> {
        let graph = self.graph;
        let runnable = |t: usize| {
            self.state[t] == State::Sent(worker as u32)
                && graph.dependencies(TaskId(t as u32)).all(|d| matches!(self.state[d.index()], State::Done(_)))
        };
        let threads = self.workers[worker].spec.nthreads.max(1) as usize;
        (0..self.state.len()).filter(|&t| runnable(t)).take(threads).map(|t| t as u32).collect()
    }

    /// A replacement worker was started; until it joins ([`Run::add_worker`]) or fails
    /// to ([`Run::worker_not_coming`]), losing every live worker means waiting for it.
    pub fn expect_worker(&mut self) {
        self.joining += 1;
    }

    /// A worker joins the run (a replacement, announced by [`Run::expect_worker`]); it
    /// gets work at the next [`Run::flush`]. Returns its index.
    pub fn add_worker(&mut self, spec: WorkerSpec) -> usize {
        self.joining = self.joining.saturating_sub(1);
        self.workers.push(Worker::new(spec));
        self.scratch.push(0);
        self.workers.len() - 1
    }

    /// An expected replacement did not join; an `Err` if no worker is left nor coming.
    pub fn worker_not_coming(&mut self, reason: &str) -> Result<(), SchedulerError> {
        self.joining = self.joining.saturating_sub(1);
        if self.any_worker() { Ok(()) } else { Err(self.no_workers(reason)) }
    }

    /// Whether a worker is alive or coming.
    fn any_worker(&self) -> bool {
        self.joining > 0 || self.workers.iter().any(|w| w.alive)
    }

    fn no_workers(&self, reason: &str) -> SchedulerError {
        SchedulerError::NoWorkersLeft {
            workers: self.workers.len(),
            reason: reason.to_string(),
            remaining: self.remaining,
        }
    }

    fn finished(&mut self, worker: usize, f: Finished, comm: &mut impl Comm) {
        let Some(&t) = self.index.get(&f.key) else {
            tracing::debug!(key = %f.key, "finished notice for a key outside this run, ignored");
            return;
        };
        let ti = t as usize;
        match self.state[ti] {
            // Sent here, or given up on (a missing input) and sent elsewhere yet it ran
            // here: take it either way.
            State::Sent(w) => {
                let w = &mut self.workers[w as usize];
                w.in_flight = w.in_flight.saturating_sub(1);
            }
            State::Waiting | State::Ready => {}
            State::Done(_) | State::Released => {
                // A duplicate: keep the first copy, forget this one.
                self.workers[worker].release.push(f.key);
                return;
            }
        }
        self.state[ti] = State::Done(worker as u32);
        self.nbytes[ti] = f.nbytes;
        self.remaining = self.remaining.saturating_sub(1);
        let d = f.duration_us as f64;
        self.mean_us = Some(self.mean_us.map_or(d, |m| 0.9 * m + 0.1 * d));
        comm.task_finished(worker, f.key, f.duration_us, f.nbytes);
        let graph = self.graph;
        for d in graph.dependencies(TaskId(t)) {
            let r = &mut self.readers[d.index()];
            *r = r.saturating_sub(1);
            if *r == 0 {
                self.maybe_release(d.0);
            }
        }
        for i in 0..self.dependents.row(ti).len() {
            let c = self.dependents.row(ti)[i];
            let p = &mut self.pending[c as usize];
            *p = p.saturating_sub(1);
            if *p == 0 && self.state[c as usize] == State::Waiting {
                self.place(c);
            }
        }
        if self.is_output[ti] && !self.results.contains_key(&t) {
            self.gathering.insert(t, worker as u32);
            self.workers[worker].gather.push(f.key);
        }
        self.maybe_release(t);
    }

    /// Releases `t`'s value if nothing needs it any more.
    fn maybe_release(&mut self, t: u32) {
        let ti = t as usize;
        let State::Done(w) = self.state[ti] else { return };
        if self.readers[ti] > 0 || (self.is_output[ti] && !self.results.contains_key(&t)) {
            return;
        }
        self.state[ti] = State::Released;
        let key = self.graph.key(TaskId(t));
        self.workers[w as usize].release.push(key);
        if let Some(fetchers) = self.fetched_by.remove(&t) {
            for f in fetchers {
                if f != w && self.workers[f as usize].alive {
                    self.workers[f as usize].release.push(key);
                }
            }
        }
    }

    fn failed(&mut self, worker: usize, f: TaskFailure, comm: &mut impl Comm) -> SchedulerError {
        comm.task_failed(worker, f.key, &f.message);
        if f.panicked {
            SchedulerError::TaskPanicked { key: f.key, op: f.op, message: f.message }
        } else {
            SchedulerError::TaskFailed { key: f.key, op: f.op, message: f.message }
        }
    }

    /// An answer to a gather; returns whether the value turned out lost. A value the
    /// worker could not send (over this side's transfer limit) ends the run.
    fn gathered(&mut self, worker: usize, key: Key, value: Lookup) -> Result<bool, SchedulerError> {
        let Some(&t) = self.index.get(&key) else { return Ok(false) };
        if self.gathering.get(&t) != Some(&(worker as u32)) {
            return Ok(false);
        }
        self.gathering.remove(&t);
        match value {
            Lookup::Found(v) => {
                self.results.insert(t, v);
                self.maybe_release(t);
                Ok(false)
            }
            Lookup::Missing => {
                tracing::warn!(%key, worker, "worker no longer holds an output; recomputing it");
                self.forget(t, worker);
                Ok(true)
            }
            Lookup::Refused(reason) => Err(SchedulerError::Transfer { key, reason }),
        }
    }

    /// Marks `t`'s value as lost if `worker` was its holder.
    fn forget(&mut self, t: u32, worker: usize) {
        if self.state[t as usize] == State::Done(worker as u32) {
            self.state[t as usize] = State::Released;
        }
    }

    fn missing(&mut self, worker: usize, task: Key, key: Key, from: &Address) -> Result<(), SchedulerError> {
        tracing::debug!(%task, %key, %from, worker, "worker reports a missing input");
        if let Some(&t) = self.index.get(&task)
            && self.state[t as usize] == State::Sent(worker as u32)
        {
            self.state[t as usize] = State::Waiting;
        }
        if let Some(&k) = self.index.get(&key)
            && let State::Done(h) = self.state[k as usize]
            && self.workers[h as usize].spec.data_address == *from
        {
            self.state[k as usize] = State::Released;
            if self.workers[h as usize].alive {
                // It may still hold a stale copy; make sure it forgets it.
                self.workers[h as usize].release.push(key);
            }
        }
        self.dirty = true;
        Ok(())
    }
}

mod dispatch;
mod recover;
#[cfg(test)]
mod tests;

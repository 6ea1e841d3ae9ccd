//! The cluster's state machine: the task table, the workers, the clients, and the reactor
//! functions the shell calls with what arrives.
//!
//! Per task it keeps three counts that decide everything else:
//!
//! - `waiting_on`: inputs not in memory; at zero the task is ready to run;
//! - `waiters`: unfinished dependents; while any, its value is kept;
//! - `wanted`: clients that want it; while any, it is computed and kept.
//!
//! A task is *needed* while `wanted + waiters > 0`. A needed task that is released (never
//! computed, or its value lost) becomes waiting; an unneeded one is cancelled if
//! unfinished, or its value released if in memory. A task leaves the table (forgotten)
//! once unwanted, not in memory or running, and read by no task left in the table, so a
//! lost value can always be recomputed from what remains.
//!
//! No I/O: messages go out through a [`Comm`], come in through the `handle_*` functions;
//! [`Core::flush`] sends what a burst of messages made ready.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rask_graph::{Group, Key};
use rustc_hash::{FxHashMap, FxHashSet};

use super::comm::Comm;
use super::task::{Arena, Slot, State, WorkerSlot};

use super::worker::{Status, Worker, WorkerSpec};
use crate::wire::{FromScheduler, FromWorker, Lookup, Priority, TaskError, ToScheduler};

/// A worker's stable id (its handshake id; never reused by a scheduler process).
pub(crate) type WorkerId = u64;
/// A client's id.
pub(crate) type ClientId = u64;

/// Worker deaths a task may be suspected in and still be retried (Dask's
/// `distributed.scheduler.allowed-failures`).
pub(crate) const ALLOWED_FAILURES: u32 = 3;
/// Expected duration of a task of a group never measured, while nothing is measured at
/// all (Dask's `unknown-task-duration`).
pub(crate) const UNKNOWN_DURATION_US: f64 = 500_000.0;
/// Bytes per µs assumed for moving a value between workers (Dask's 100 MB/s).
pub(crate) const BANDWIDTH_BYTES_PER_US: f64 = 100.0;

/// Settings of the state machine.
#[derive(Debug, Clone)]
pub(crate) struct CoreConfig {
    /// Root-like tasks sent to a worker at most, per thread (Dask's worker-saturation).
    pub saturation: f64,
    /// A worker also takes root-like tasks up to this many µs of work per thread, once
    /// their group's duration is measured, so that tiny tasks are not sent two at a time.
    pub batch_target_us: f64,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig { saturation: 1.1, batch_target_us: 2000.0 }
    }
}

/// Durations observed for one task group, and how many of its tasks are in the table.
#[derive(Debug, Default, Clone)]
pub(crate) struct GroupStats {
    /// Exponentially weighted mean duration in µs, once measured.
    pub mean_us: Option<f64>,
    /// Tasks of the group in the table.
    pub size: usize,
}

/// What a client is told at the next flush: errors, results, held keys ready.
#[derive(Debug, Default)]
pub(crate) struct ClientNews {
    pub results: Vec<(Key, Lookup)>,
    pub errors: Vec<(Key, TaskError)>,
    /// Held keys now in memory.
    pub ready: Vec<Key>,
}

/// A client: what it wants, and what it still waits to hear about.
#[derive(Debug, Default)]
pub(crate) struct Client {
    pub wants: FxHashSet<Slot>,
    /// Wanted tasks whose result or error was not sent yet.
    pub awaiting: FxHashSet<Slot>,
    /// Held tasks (wanted, values kept on the cluster) not known to be ready yet.
    pub watching: FxHashSet<Slot>,
}

/// The state machine; see the module docs.
#[derive(Debug)]
pub(crate) struct Core {
    pub(super) config: CoreConfig,
    pub(super) tasks: Arena,
    pub(super) index: FxHashMap<Key, Slot>,
    pub(super) workers: Vec<Option<Worker>>,
    pub(super) worker_slots: FxHashMap<WorkerId, WorkerSlot>,
    pub(super) clients: FxHashMap<ClientId, Client>,
    /// Ready root-like tasks, by priority (entries of tasks that moved on are skipped).
    pub(super) queued: BinaryHeap<Reverse<(Priority, Slot)>>,
    /// Ready tasks no worker could take.
    pub(super) no_worker: Vec<Slot>,
    pub(super) groups: Vec<GroupStats>,
    pub(super) group_index: FxHashMap<Group, u32>,
    /// Mean duration over every measured group, for groups not measured yet.
    pub(super) mean_us: Option<f64>,
    /// Tasks in memory whose value a client waits for, asked of their holder.
    pub(super) gathering: FxHashSet<Slot>,
    /// Results and errors for each client, sent at the next flush.
    pub(super) client_results: FxHashMap<ClientId, ClientNews>,
    /// Submissions so far: the first part of every priority.
    pub(super) submissions: u64,
    /// Threads of the running workers.
    pub(super) total_threads: usize,
    /// Replacements expected (a pool starting workers): until they come, having no
    /// worker is a wait.
    pub(super) lost: usize,
    /// Tasks finished so far.
    pub(super) finished_count: u64,
    /// Small ops seen lately, shared by the tasks of every submission that sends them
    /// (ten thousand futures of one op are sent to workers with one op, not ten thousand).
    pub(super) ops: FxHashSet<std::sync::Arc<crate::wire::SubmitOp>>,
    /// Copies asked of workers and not finished yet, by task (see `replicas.rs`).
    pub(super) replicating: FxHashMap<Slot, smallvec::SmallVec<[WorkerSlot; 2]>>,
    /// The op copies run.
    pub(super) identity: std::sync::Arc<crate::wire::SubmitOp>,
}

impl Core {
    /// An empty scheduler.
    pub fn new(config: CoreConfig) -> Core {
        Core {
            config,
            tasks: Arena::default(),
            index: FxHashMap::default(),
            workers: Vec::new(),
            worker_slots: FxHashMap::default(),
            clients: FxHashMap::default(),
            queued: BinaryHeap::new(),
            no_worker: Vec::new(),
            groups: Vec::new(),
            group_index: FxHashMap::default(),
            mean_us: None,
            gathering: FxHashSet::default(),
            client_results: FxHashMap::default(),
            submissions: 0,
            total_threads: 0,
            lost: 0,
            finished_count: 0,
            ops: FxHashSet::default(),
            replicating: FxHashMap::default(),
            identity: super::replicas::identity_op(),
        }
    }

    /// Tasks in the table.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// Tasks finished so far.
    pub fn finished_count(&self) -> u64 {
        self.finished_count
    }

    /// Whether task `key` is done (in memory or erred) or gone from the table.
    pub fn settled(&self, key: &Key) -> bool {
        self.index.get(key).is_none_or(|&t| matches!(self.tasks[t].state, State::Memory(_) | State::Erred(_)))
    }

    /// Workers lost so far.
    #[cfg(test)]
    pub fn workers_lost(&self) -> usize {
        self.lost
    }

    pub(super) fn worker(&self, w: WorkerSlot) -> &Worker {
        self.workers[w as usize].as_ref().expect("a live worker slot")
    }

    pub(super) fn worker_mut(&mut self, w: WorkerSlot) -> &mut Worker {
        self.workers[w as usize].as_mut().expect("a live worker slot")
    }

    /// The live worker slots.
    pub(super) fn live_workers(&self) -> impl Iterator<Item = WorkerSlot> + '_ {
        self.workers.iter().enumerate().filter(|(_, w)| w.is_some()).map(|(i, _)| i as WorkerSlot)
    }

    /// A worker joins; it gets work at the next flush.
    pub fn add_worker(&mut self, id: WorkerId, spec: WorkerSpec) {
        if self.worker_slots.contains_key(&id) {
            return;
        }
        let slot = self.workers.len() as WorkerSlot;
        self.total_threads += spec.nthreads.max(1) as usize;
        self.workers.push(Some(Worker::new(id, spec)));
        self.worker_slots.insert(id, slot);
        // What no worker could take may go to this one.
        for t in std::mem::take(&mut self.no_worker) {
            if self.tasks.get_opt(t).is_some_and(|task| task.state == State::NoWorker) {
                self.ready(t);
            }
        }
    }

    /// Forgets every task and every worker, as the shell restarts the workers: each client
    /// wanting a task (awaiting it, holding it, ready or not) hears it was restarted away. Measured durations stay.
    pub fn restart(&mut self) {
        for t in self.tasks.slots() {
            let key = self.tasks[t].key;
            for &id in &self.tasks[t].wanted_by {
                self.client_results.entry(id).or_default().errors.push((key, TaskError::Restarted { key }));
            }
        }
        for client in self.clients.values_mut() {
            *client = Client::default();
        }
        for group in &mut self.groups {
            group.size = 0;
        }
        self.tasks = Arena::default();
        self.index.clear();
        self.queued.clear();
        self.no_worker.clear();
        self.gathering.clear();
        self.replicating.clear();
        self.workers.clear();
        self.worker_slots.clear();
        self.total_threads = 0;
    }

    /// A client connects.
    pub fn add_client(&mut self, id: ClientId) {
        self.clients.entry(id).or_default();
    }

    /// Whether task `key` is in the table.
    pub fn knows(&self, key: &Key) -> bool {
        self.index.contains_key(key)
    }

    /// Whether client `id` wants nothing (any more).
    pub fn client_is_idle(&self, id: ClientId) -> bool {
        self.clients.get(&id).is_none_or(|c| c.wants.is_empty())
    }

    /// A client went away: it wants nothing any more.
    pub fn remove_client(&mut self, id: ClientId, comm: &mut impl Comm) {
        if let Some(client) = self.clients.remove(&id) {
            for t in client.wants {
                self.unwant(t, id);
            }
        }
        self.client_results.remove(&id);
        let _ = comm;
    }

    /// Handles one message of client `client`. Call [`Core::flush`] after a burst.
    pub fn handle_client(&mut self, client: ClientId, message: ToScheduler, comm: &mut impl Comm) {
        if !self.clients.contains_key(&client) {
            self.add_client(client);
        }
        match message {
            ToScheduler::Submit(submission) => {
                let run = submission.run;
                if let Err(reason) = self.submit(client, submission) {
                    comm.send_client(client, FromScheduler::Refused { run, reason });
                }
            }
            ToScheduler::Fetch { keys, .. } => {
                for key in keys {
                    let Some(&t) = self.index.get(&key) else { continue };
                    let Some(c) = self.clients.get_mut(&client) else { break };
                    if c.wants.contains(&t) && c.awaiting.insert(t) {
                        c.watching.remove(&t);
                        match self.tasks[t].state.clone() {
                            State::Memory(_) => self.request_result(t),
                            State::Erred(e) => self.notify_clients(t, Err(&e)),
                            _ => {}
                        }
                    }
                }
            }
            ToScheduler::Release { keys, .. } => {
                for key in keys {
                    let Some(&t) = self.index.get(&key) else { continue };
                    let Some(c) = self.clients.get_mut(&client) else { break };
                    if c.wants.remove(&t) {
                        c.awaiting.remove(&t);
                        c.watching.remove(&t);
                        self.unwant(t, client);
                    }
                }
            }
            // The shell answers these: it knows the workers and the datasets.
            ToScheduler::Info { .. }
            | ToScheduler::FireAndForget { .. }
            | ToScheduler::Publish { .. }
            | ToScheduler::Unpublish { .. }
            | ToScheduler::GetDataset { .. }
            | ToScheduler::ListDatasets { .. }
            | ToScheduler::Restart { .. }
            | ToScheduler::Batch(_) => {}
            ToScheduler::Replicate { keys, copies, .. } => self.replicate(&keys, copies.map(|c| c as usize)),
        }
    }

    /// Handles one message of worker `worker`. Call [`Core::flush`] after a burst.
    pub fn handle_worker(&mut self, worker: WorkerId, message: FromWorker, comm: &mut impl Comm) {
        let Some(&w) = self.worker_slots.get(&worker) else {
            return; // A worker given up on: what it says now no longer counts.
        };
        match message {
            FromWorker::Finished(batch) => {
                for f in batch {
                    self.finished(w, f.key, f.nbytes, f.duration_us, comm);
                }
            }
            FromWorker::Failed(f) => {
                let error = if f.panicked {
                    TaskError::Panicked { key: f.key, op: f.op, message: f.message }
                } else {
                    TaskError::Failed { key: f.key, op: f.op, message: f.message }
                };
                self.failed(w, error, comm);
            }
            FromWorker::Values(values) => {
                for (key, lookup) in values {
                    self.gathered(w, key, lookup);
                }
            }
            FromWorker::Missing { task, key, from } => self.missing(w, task, key, &from),
            FromWorker::Stolen(answers) => {
                for (key, stolen) in answers {
                    self.steal_answered(w, key, stolen);
                }
            }
            FromWorker::Heartbeat(beat) => {
                let status = if beat.paused { Status::Paused } else { Status::Running };
                let worker = self.worker_mut(w);
                let resumed = worker.status == Status::Paused && status == Status::Running;
                worker.status = status;
                if resumed {
                    for t in std::mem::take(&mut self.no_worker) {
                        if self.tasks.get_opt(t).is_some_and(|task| task.state == State::NoWorker) {
                            self.ready(t);
                        }
                    }
                }
            }
        }
    }

    /// The group index of `key`'s task group, counting one more task of it.
    pub(super) fn group_of(&mut self, key: &Key) -> u32 {
        let group = key.group();
        let next = self.groups.len() as u32;
        let g = *self.group_index.entry(group).or_insert(next);
        if g == next {
            self.groups.push(GroupStats::default());
        }
        self.groups[g as usize].size += 1;
        g
    }

    /// Expected µs of a task of group `g`.
    pub(super) fn duration_us(&self, g: u32) -> f64 {
        self.groups[g as usize].mean_us.or(self.mean_us).unwrap_or(UNKNOWN_DURATION_US)
    }

    /// Records a measured duration.
    pub(super) fn observe(&mut self, g: u32, us: f64) {
        let stats = &mut self.groups[g as usize];
        stats.mean_us = Some(stats.mean_us.map_or(us, |m| 0.9 * m + 0.1 * us));
        self.mean_us = Some(self.mean_us.map_or(us, |m| 0.9 * m + 0.1 * us));
    }

    /// Queues a result or error for every client awaiting task `t` (an error also for
    /// those holding it).
    pub(super) fn notify_clients(&mut self, t: Slot, result: Result<&rask_graph::Value, &TaskError>) {
        let key = self.tasks[t].key;
        for &id in &self.tasks[t].wanted_by {
            let Some(client) = self.clients.get_mut(&id) else { continue };
            let awaiting = client.awaiting.remove(&t);
            let watching = result.is_err() && client.watching.remove(&t);
            if awaiting || watching {
                let entry = self.client_results.entry(id).or_default();
                match result {
                    Ok(value) => entry.results.push((key, Lookup::Found(value.clone()))),
                    Err(error) => entry.errors.push((key, error.clone())),
                }
            }
        }
    }

    /// Tells every client holding task `t` that its value is ready.
    pub(super) fn notify_ready(&mut self, t: Slot) {
        let key = self.tasks[t].key;
        for &id in &self.tasks[t].wanted_by {
            if self.clients.get_mut(&id).is_some_and(|client| client.watching.remove(&t)) {
                self.client_results.entry(id).or_default().ready.push(key);
            }
        }
    }

    /// Whether some client awaits task `t`'s result.
    pub(super) fn awaited(&self, t: Slot) -> bool {
        self.tasks[t].wanted_by.iter().any(|id| self.clients.get(id).is_some_and(|c| c.awaiting.contains(&t)))
    }

    /// Sends the messages assembled since the last flush: queued root tasks go to workers
    /// with room, then every worker's batches and every client's results.
    pub fn flush(&mut self, comm: &mut impl Comm) {
        self.schedule_queued();
        self.send_batches(comm);
        for (client, ClientNews { results, errors, ready }) in self.client_results.drain() {
            if !errors.is_empty() {
                comm.send_client(client, FromScheduler::Erred(errors));
            }
            if !results.is_empty() {
                comm.send_client(client, FromScheduler::Results(results));
            }
            if !ready.is_empty() {
                comm.send_client(client, FromScheduler::Ready(ready));
            }
        }
    }
}

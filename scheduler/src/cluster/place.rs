//! Placement: which worker a ready task goes to, when root-like tasks leave the queue, and
//! the batches each worker is sent.

use std::cmp::Reverse;
use std::sync::Arc;

use super::comm::Comm;
use super::core::{BANDWIDTH_BYTES_PER_US, Core};
use super::task::{Slot, State, TaskArg, WorkerSlot};
use super::worker::{Batch, Status};
use crate::wire::{TaskError, TaskMsg, ToWorker, WireArg};

/// Root-like tasks one worker is sent per flush at most, whatever their duration.
const MAX_ROOT_BATCH: usize = 4096;

impl Core {
    /// Every input of `t` is in memory: queue it (root-like) or send it where it would
    /// start soonest.
    pub(super) fn ready(&mut self, t: Slot) {
        if self.is_root_like(t) {
            let priority = self.tasks[t].priority;
            self.tasks[t].state = State::Queued;
            self.queued.push(Reverse((priority, t)));
            return;
        }
        match self.decide_worker(t) {
            Some(w) => self.assign(t, w),
            None => {
                self.tasks[t].state = State::NoWorker;
                self.no_worker.push(t);
            }
        }
    }

    /// Dask's root-ish tasks: of a group larger than twice the cluster's threads, reading
    /// nothing but tasks of small groups (fewer than five tasks). Placing them as they
    /// become ready would spread them with no regard for where their dependents will run;
    /// they wait at the scheduler and go out as workers have room, in priority order.
    fn is_root_like(&self, t: Slot) -> bool {
        let task = &self.tasks[t];
        task.restriction.is_none()
            && self.groups[task.group as usize].size > 2 * self.total_threads.max(1)
            && task.deps.len() < 5
            && task.deps.iter().all(|&d| self.groups[self.tasks[d].group as usize].size < 5)
    }

    /// Whether the workers `t` may run on include `w`: any worker if its submission named
    /// none; else the named ones, or, with `allow_other_workers`, any while no named
    /// worker is connected.
    pub(super) fn may_run_on(&self, t: Slot, w: WorkerSlot) -> bool {
        let Some(placement) = &self.tasks[t].restriction else { return true };
        let named = |w: WorkerSlot| placement.workers.iter().any(|entry| self.worker(w).spec.is_named(entry));
        named(w) || (placement.allow_other_workers && !self.live_workers().any(named))
    }

    /// The running worker where `t` would start soonest: its queue's expected work plus
    /// the time to fetch the inputs it lacks. Workers holding inputs are the candidates;
    /// if none runs, every running worker is (of those `t` may run on).
    fn decide_worker(&self, t: Slot) -> Option<WorkerSlot> {
        let task = &self.tasks[t];
        // Paused workers take work only when every worker is paused: a paused worker runs
        // one task at a time, which is slow but not stuck.
        let all_paused = self.live_workers().all(|w| self.worker(w).status == Status::Paused);
        let running = |w: WorkerSlot| {
            self.workers[w as usize].as_ref().is_some_and(|x| x.status == Status::Running || all_paused)
                && self.may_run_on(t, w)
        };
        let mut holders: smallvec::SmallVec<[WorkerSlot; 4]> = smallvec::SmallVec::new();
        for &d in &task.deps {
            if let State::Memory(h) = self.tasks[d].state {
                for &h in std::iter::once(&h).chain(&self.tasks[d].replicas) {
                    if running(h) && !holders.contains(&h) {
                        holders.push(h);
                    }
                }
            }
        }
        let cost = |w: WorkerSlot| {
            let missing: u64 = task.deps.iter().filter(|&&d| !self.holds(d, w)).map(|&d| self.tasks[d].nbytes).sum();
            let worker = self.worker(w);
            (worker.start_time_us() + missing as f64 / BANDWIDTH_BYTES_PER_US, worker.processing.len(), w)
        };
        let best = |candidates: &mut dyn Iterator<Item = WorkerSlot>| {
            candidates.map(cost).min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))).map(|c| c.2)
        };
        if holders.is_empty() {
            best(&mut self.live_workers().filter(|&w| running(w)))
        } else {
            best(&mut holders.into_iter())
        }
    }

    /// Sends `t` to worker `w` (into its next batch), then any waiting dependent that can
    /// follow it there at once: every input in memory on, or sent to, `w`. A task whose
    /// literal arguments exceed the worker's transfer limit errs instead.
    pub(super) fn assign(&mut self, t: Slot, w: WorkerSlot) {
        let mut stack = vec![t];
        while let Some(t) = stack.pop() {
            let limit = self.worker(w).spec.limit;
            if self.tasks[t].literal_bytes > limit {
                let task = &self.tasks[t];
                let reason = format!(
                    "its literal arguments hold {} bytes, more than worker {}'s transfer limit of {limit} bytes",
                    task.literal_bytes,
                    self.worker(w).id
                );
                self.err(t, Arc::new(TaskError::Transfer { key: task.key, reason }));
                continue;
            }
            let message = self.task_message(t, w);
            let est = self.duration_us(self.tasks[t].group);
            let task = &mut self.tasks[t];
            task.state = State::Processing(w);
            task.est_us = est;
            let (op, literal_bytes) = (task.op.clone(), task.literal_bytes);
            let worker = self.worker_mut(w);
            worker.processing.insert(t);
            worker.occupancy_us += est;
            let batch: &mut Batch = worker.batch_for(literal_bytes);
            let op = batch.op_index(&op);
            batch.tasks.push(TaskMsg { op, ..message });
            for i in 0..self.tasks[t].dependents.len() {
                let c = self.tasks[t].dependents[i];
                if self.tasks[c].state == State::Waiting
                    && self.all_inputs_on(c, w)
                    && !self.is_root_like(c)
                    && self.may_run_on(c, w)
                {
                    self.tasks[c].early = true;
                    stack.push(c);
                }
            }
        }
    }

    fn all_inputs_on(&self, t: Slot, w: WorkerSlot) -> bool {
        self.tasks[t]
            .deps
            .iter()
            .all(|&d| matches!(self.tasks[d].state, State::Processing(x) if x == w) || self.holds(d, w))
    }

    /// `t` as worker `w` receives it (its op index is filled in by the batch).
    fn task_message(&self, t: Slot, w: WorkerSlot) -> TaskMsg {
        let task = &self.tasks[t];
        let args = task
            .args
            .iter()
            .map(|arg| match arg {
                TaskArg::Value(v) => WireArg::Value(v.clone()),
                &TaskArg::Task(d) => {
                    let input = &self.tasks[d];
                    match input.state {
                        State::Memory(h) if h != w && !input.replicas.contains(&w) => {
                            WireArg::Remote { key: input.key, from: self.worker(h).spec.data_address.clone() }
                        }
                        // On `w` (held, or sent there before it: a chain), as assign checks.
                        _ => WireArg::Held(input.key),
                    }
                }
            })
            .collect();
        TaskMsg { key: task.key, op: 0, args, priority: task.priority }
    }

    /// `t` no longer runs on `w` (it finished, moved or was cancelled).
    pub(super) fn unassign(&mut self, t: Slot, w: WorkerSlot) {
        let est = self.tasks[t].est_us;
        if let Some(worker) = self.workers[w as usize].as_mut()
            && worker.processing.remove(&t)
        {
            worker.occupancy_us = (worker.occupancy_us - est).max(0.0);
        }
    }

    /// How many tasks of group `g` a worker should have in flight at most: Dask's
    /// worker-saturation times its threads, or as many as fill `batch_target_us` of its
    /// time once the group's duration is measured, whichever is more.
    fn root_room(&self, w: WorkerSlot, g: u32) -> usize {
        let worker = self.worker(w);
        let threads = worker.nthreads();
        let saturated = (self.config.saturation * threads as f64).ceil() as usize;
        let batch = match self.groups[g as usize].mean_us {
            Some(mean) => ((self.config.batch_target_us * threads as f64) / mean.max(0.1)) as usize,
            None => 0,
        };
        saturated.max(batch.min(MAX_ROOT_BATCH)).max(1)
    }

    /// Sends queued root-like tasks to workers with room, highest priority first, each to
    /// the worker with the least expected work.
    pub(super) fn schedule_queued(&mut self) {
        while let Some(&Reverse((_, t))) = self.queued.peek() {
            if self.tasks.get_opt(t).is_none_or(|task| task.state != State::Queued) {
                self.queued.pop();
                continue;
            }
            let g = self.tasks[t].group;
            let all_paused = self.live_workers().all(|w| self.worker(w).status == Status::Paused);
            let target = self
                .live_workers()
                .filter(|&w| {
                    let worker = self.worker(w);
                    (worker.status == Status::Running || all_paused) && worker.processing.len() < self.root_room(w, g)
                })
                .min_by(|&a, &b| self.worker(a).start_time_us().total_cmp(&self.worker(b).start_time_us()));
            let Some(w) = target else { break };
            self.queued.pop();
            self.assign(t, w);
        }
    }

    /// Sends every worker what was assembled for it: releases, task batches, gathers and
    /// steal requests.
    pub(super) fn send_batches(&mut self, comm: &mut impl Comm) {
        for worker in self.workers.iter_mut().flatten() {
            if !worker.release.is_empty() {
                comm.send_worker(worker.id, ToWorker::Release(std::mem::take(&mut worker.release)));
            }
            for Batch { ops, tasks, .. } in worker.batches.drain(..).filter(|b| !b.tasks.is_empty()) {
                comm.send_worker(worker.id, ToWorker::Compute { ops, tasks });
            }
            if !worker.gather.is_empty() {
                comm.send_worker(worker.id, ToWorker::Gather(std::mem::take(&mut worker.gather)));
            }
            if !worker.steal.is_empty() {
                comm.send_worker(worker.id, ToWorker::Steal(std::mem::take(&mut worker.steal)));
            }
        }
    }
}

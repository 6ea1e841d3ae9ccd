//! Losses: a worker gone, a value a worker no longer has. Recovery touches only the lost
//! keys and the tasks that read them: what was running there runs elsewhere, what was held
//! there is recomputed if still needed, recursively through inputs that were released.

use std::sync::Arc;

use rask_graph::Key;

use super::comm::Comm;
use super::core::{ALLOWED_FAILURES, Core, WorkerId};
use super::task::{Slot, State, WorkerSlot};
use crate::wire::{Address, TaskError};

impl Core {
    /// Worker `id` is gone (its connection closed, its process exited, its heartbeat
    /// stopped). A task it was most likely running that has now seen more than
    /// [`ALLOWED_FAILURES`] workers die errs with `KilledWorker`.
    pub fn remove_worker(&mut self, id: WorkerId, reason: &str, comm: &mut impl Comm) {
        let Some(w) = self.worker_slots.remove(&id) else { return };
        let suspects = self.running_on(w);
        let Some(worker) = self.workers[w as usize].take() else { return };
        self.total_threads -= worker.nthreads();
        self.lost += 1;
        tracing::warn!(worker = id, reason, "worker lost; its tasks go elsewhere, its values are recomputed if needed");
        // Steals to it are off; steals from it are moot.
        for &t in &worker.processing {
            let task = &mut self.tasks[t];
            task.state = State::Waiting;
            task.early = false;
            task.thief = None;
        }
        for t in self.stealing_to(w) {
            self.tasks[t].thief = None;
        }
        // Every lost value is marked lost before any is recomputed: recomputing one must
        // not take another lost one for still held.
        let lost: Vec<Slot> = worker.has_what.iter().copied().filter(|&t| !self.survives_without(t, w)).collect();
        self.replicating.retain(|_, pending| {
            pending.retain(|p| *p != w);
            !pending.is_empty()
        });
        for &t in &lost {
            self.gathering.remove(&t);
            self.mark_lost(t);
        }
        for &t in &lost {
            self.recover_lost(t);
        }
        let mut again: Vec<Slot> = worker.processing.iter().copied().collect();
        again.sort_unstable_by_key(|&t| self.tasks[t].priority);
        for t in suspects {
            let task = &mut self.tasks[t];
            task.suspected += 1;
            if task.suspected > ALLOWED_FAILURES {
                let error = TaskError::KilledWorker {
                    key: task.key,
                    op: task.op.name.clone(),
                    deaths: task.suspected,
                    reason: reason.to_string(),
                };
                self.err(t, Arc::new(error));
            }
        }
        for t in again {
            self.recount_and_ready(t);
        }
        let _ = comm;
    }

    /// The tasks worker `w` was most likely running: its first `nthreads` tasks whose
    /// inputs were all in memory, by priority (the order a worker runs them in).
    fn running_on(&self, w: WorkerSlot) -> Vec<Slot> {
        let Some(worker) = self.workers.get(w as usize).and_then(Option::as_ref) else { return Vec::new() };
        let mut runnable: Vec<Slot> = worker
            .processing
            .iter()
            .copied()
            .filter(|&t| {
                self.tasks[t].deps.iter().all(|&d| matches!(self.tasks[d].state, State::Memory(_)))
                    && self.tasks[t].thief.is_none()
            })
            .collect();
        runnable.sort_unstable_by_key(|&t| self.tasks[t].priority);
        runnable.truncate(worker.nthreads());
        runnable
    }

    /// Worker `w` could not run `task`: its input `key` was not found at `from`.
    pub(super) fn missing(&mut self, w: WorkerSlot, task: Key, key: Key, from: &Address) {
        tracing::debug!(%task, %key, %from, "a worker reports a missing input");
        let waiting = self.index.get(&task).copied().filter(|&c| self.tasks[c].state == State::Processing(w));
        if let Some(c) = waiting {
            self.unassign(c, w);
            self.tasks[c].state = State::Waiting;
            self.tasks[c].early = false;
        }
        if let Some(&k) = self.index.get(&key) {
            // A copy that could not fetch its value (see `replicas.rs`): no task waits.
            self.stop_replicating(k, w);
        }
        if let Some(&k) = self.index.get(&key)
            && let State::Memory(h) = self.tasks[k].state
            && self.workers[h as usize].as_ref().is_some_and(|x| x.spec.data_address == *from)
            && !self.survives_without(k, h)
        {
            // Its holder lost it, or never had it: whatever it keeps, it goes.
            let key = self.tasks[k].key;
            self.worker_mut(h).release.push(key);
            self.gathering.remove(&k);
            self.lose_value(k);
        }
        if let Some(c) = waiting {
            self.recount_and_ready(c);
        }
    }

    /// `t`'s value is gone from its holder: waiting readers wait for it again, and it is
    /// recomputed if still needed.
    pub(super) fn lose_value(&mut self, t: Slot) {
        self.mark_lost(t);
        self.recover_lost(t);
    }

    /// `t`'s value is gone: released, and readers waiting for it count it again.
    fn mark_lost(&mut self, t: Slot) {
        if let State::Memory(h) = self.tasks[t].state
            && let Some(holder) = self.workers[h as usize].as_mut()
        {
            holder.has_what.remove(&t);
            holder.nbytes = holder.nbytes.saturating_sub(self.tasks[t].nbytes);
        }
        self.drop_replicas(t);
        self.tasks[t].state = State::Released;
        for i in 0..self.tasks[t].dependents.len() {
            let c = self.tasks[t].dependents[i];
            let reader = &mut self.tasks[c];
            if matches!(reader.state, State::Waiting | State::Queued | State::NoWorker) {
                reader.state = State::Waiting;
                reader.waiting_on += 1;
            }
        }
    }

    /// A lost value is recomputed if still needed, else released for good.
    fn recover_lost(&mut self, t: Slot) {
        let Some(task) = self.tasks.get_opt(t) else { return };
        if task.state != State::Released {
            return;
        }
        if task.needed() {
            self.enter_unfinished(t);
        } else {
            self.release_unneeded(t);
        }
    }

    /// Counts a waiting task's inputs afresh and makes it ready if all are in memory.
    pub(super) fn recount_and_ready(&mut self, t: Slot) {
        if self.tasks.get_opt(t).is_none_or(|task| task.state != State::Waiting) {
            return;
        }
        let (waiting_on, error) = self.count_inputs(t);
        self.tasks[t].waiting_on = waiting_on;
        match error {
            Some(e) => self.err(t, e),
            None if waiting_on == 0 => self.ready(t),
            None => {}
        }
    }

    /// No worker is left and none is coming: every unfinished task a client awaits errs.
    pub fn fail_unrunnable(&mut self, reason: &str) {
        let awaited: Vec<Slot> = self.clients.values().flat_map(|c| c.awaiting.iter().copied()).collect();
        let remaining = self.tasks_unfinished();
        for t in awaited {
            if self.tasks.get_opt(t).is_some_and(|task| task.state.unfinished()) {
                let error = TaskError::NoWorkers { lost: self.lost, reason: reason.to_string(), remaining };
                self.err(t, Arc::new(error));
            }
        }
    }

    /// A batch for worker `worker` could not be sent: its tasks err with `reason`.
    pub fn unsendable(&mut self, worker: WorkerId, keys: &[Key], reason: &str) {
        let Some(&w) = self.worker_slots.get(&worker) else { return };
        for key in keys {
            if let Some(&t) = self.index.get(key)
                && self.tasks[t].state == State::Processing(w)
            {
                let error = TaskError::Transfer { key: *key, reason: reason.to_string() };
                self.err(t, Arc::new(error));
            }
        }
    }

    /// Unfinished tasks in the table.
    fn tasks_unfinished(&self) -> usize {
        self.index.values().filter(|&&t| self.tasks[t].state.unfinished()).count()
    }
}

//! Copies of a value on several workers (Dask's `replicate` and `scatter(broadcast=True)`).
//!
//! A task in memory has one holder (`State::Memory(w)`) and may have replicas
//! (`Task::replicas`): other workers holding the same value. A task reading it is placed
//! on any holder at no transfer cost and reads its own copy there. A copy is made by
//! sending the target a task of the same key, the identity op on the value fetched from
//! the holder; its `Finished` makes the target a replica. A lost holder hands the value
//! to a replica instead of losing it; a released value goes from every holder.

use std::sync::Arc;

use rask_graph::Key;
use smallvec::SmallVec;

use super::core::Core;
use super::task::{Slot, State, WorkerSlot};
use super::worker::Status;
use crate::wire::{EncodedOp, SubmitOp, TaskMsg, WireArg};

/// The op a copy runs: the identity, on the value fetched from its holder.
pub(super) fn identity_op() -> Arc<SubmitOp> {
    let op = EncodedOp::encode(&rask_graph::ops::Identity).expect("the identity op is registered");
    Arc::new(SubmitOp { name: "replicate".into(), op })
}

impl Core {
    /// Whether worker `w` holds `t`'s value (its holder or a replica).
    pub(super) fn holds(&self, t: Slot, w: WorkerSlot) -> bool {
        let task = &self.tasks[t];
        task.state == State::Memory(w) || task.replicas.contains(&w)
    }

    /// Copies the values of `keys` in memory to running workers that lack them, until
    /// each is on `copies` workers (every running worker with `None`). Keys not in memory
    /// are left as they are.
    pub fn replicate(&mut self, keys: &[Key], copies: Option<usize>) {
        for key in keys {
            let Some(&t) = self.index.get(key) else { continue };
            let State::Memory(holder) = self.tasks[t].state else { continue };
            let pending = self.replicating.get(&t).map_or(0, SmallVec::len);
            let have = 1 + self.tasks[t].replicas.len() + pending;
            let wanted = copies.unwrap_or(usize::MAX).saturating_sub(have);
            let targets: Vec<WorkerSlot> = self
                .live_workers()
                .filter(|&w| self.worker(w).status == Status::Running && !self.holds(t, w))
                .filter(|&w| !self.replicating.get(&t).is_some_and(|p| p.contains(&w)))
                .take(wanted)
                .collect();
            let from = self.worker(holder).spec.data_address.clone();
            for w in targets {
                let message = TaskMsg {
                    key: *key,
                    op: 0,
                    args: vec![WireArg::Remote { key: *key, from: from.clone() }],
                    priority: self.tasks[t].priority,
                };
                let identity = self.identity.clone();
                let batch = self.worker_mut(w).batch_for(0);
                let op = batch.op_index(&identity);
                batch.tasks.push(TaskMsg { op, ..message });
                self.replicating.entry(t).or_default().push(w);
            }
        }
    }

    /// Worker `w` finished a copy of `t`'s value: it is a replica now. False if no copy
    /// was asked of it (the caller keeps nothing of it).
    pub(super) fn replica_finished(&mut self, t: Slot, w: WorkerSlot, nbytes: u64) -> bool {
        if !self.stop_replicating(t, w) || !matches!(self.tasks[t].state, State::Memory(h) if h != w) {
            return false;
        }
        self.tasks[t].replicas.push(w);
        let worker = self.worker_mut(w);
        worker.has_what.insert(t);
        worker.nbytes += nbytes;
        true
    }

    /// Forgets that a copy of `t` was asked of `w`; whether one was.
    pub(super) fn stop_replicating(&mut self, t: Slot, w: WorkerSlot) -> bool {
        let Some(pending) = self.replicating.get_mut(&t) else { return false };
        let Some(i) = pending.iter().position(|&p| p == w) else { return false };
        pending.swap_remove(i);
        if pending.is_empty() {
            self.replicating.remove(&t);
        }
        true
    }

    /// `t`'s value is released: every replica lets it go too.
    pub(super) fn drop_replicas(&mut self, t: Slot) {
        let (key, nbytes) = (self.tasks[t].key, self.tasks[t].nbytes);
        self.replicating.remove(&t);
        for w in std::mem::take(&mut self.tasks[t].replicas) {
            if let Some(worker) = self.workers[w as usize].as_mut() {
                worker.has_what.remove(&t);
                worker.nbytes = worker.nbytes.saturating_sub(nbytes);
                worker.release.push(key);
            }
        }
    }

    /// Worker `w` no longer holds `t`'s value (it left, or lost it): true if the value
    /// survives on a replica (which becomes its holder if `w` was), false if it is gone.
    pub(super) fn survives_without(&mut self, t: Slot, w: WorkerSlot) -> bool {
        self.stop_replicating(t, w);
        let task = &mut self.tasks[t];
        if let Some(i) = task.replicas.iter().position(|&r| r == w) {
            task.replicas.swap_remove(i);
        } else if task.state == State::Memory(w) && !task.replicas.is_empty() {
            task.state = State::Memory(task.replicas.pop().expect("not empty"));
            // A gather asked of the old holder is asked of the new one.
            if self.gathering.remove(&t) {
                self.request_result(t);
            }
        } else {
            return false;
        }
        let nbytes = self.tasks[t].nbytes;
        if let Some(worker) = self.workers[w as usize].as_mut() {
            worker.has_what.remove(&t);
            worker.nbytes = worker.nbytes.saturating_sub(nbytes);
        }
        true
    }
}

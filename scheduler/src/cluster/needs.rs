//! What is needed, computed, kept and forgotten: submissions, wants, finished and failed
//! tasks, results for clients (the counts are in [`super::core`]'s docs).

use std::sync::Arc;

use rask_graph::Key;
use smallvec::SmallVec;

use super::comm::Comm;
use super::core::{ClientId, Core};
use super::task::{Slot, State, Task, TaskArg, WorkerSlot};
use crate::wire::{Lookup, Priority, Submission, SubmitArg, SubmitOp, TaskError};

/// Bits of a priority given to the order within a submission (the rest: the submission).
const ORDER_BITS: u32 = 40;
/// Ops kept for sharing at most (beyond, the table starts again).
const MAX_INTERNED_OPS: usize = 4096;
/// Encoded bytes of an op kept for sharing at most.
const MAX_INTERNED_OP_BYTES: usize = 4096;

impl Core {
    /// Merges a submission into the table (keys already there are shared, not redefined)
    /// and makes the wanted keys computed. An `Err` refuses it whole, with nothing changed.
    pub(super) fn submit(&mut self, client: ClientId, submission: Submission) -> Result<(), String> {
        let Submission { run, ops, tasks, wanted, held, placement } = submission;
        let restriction = (!placement.is_unrestricted()).then(|| Arc::new(placement.clone()));
        self.submissions += 1;
        let base = (self.submissions % (1 << (64 - ORDER_BITS))) << ORDER_BITS;
        let ops: Vec<Arc<SubmitOp>> = ops.into_iter().map(|op| self.intern(op)).collect();
        // Tasks are added as they come; a mistake removes those added, as if never sent.
        let mut added: Vec<Slot> = Vec::new();
        let refuse = |core: &mut Core, added: &mut Vec<Slot>, reason: String| {
            core.remove_added(added);
            Err(reason)
        };
        for task in tasks {
            if self.index.contains_key(&task.key) {
                continue;
            }
            let Some(op) = ops.get(task.op as usize) else {
                let reason = format!("task {} uses op {} of a table of {}", task.key, task.op, ops.len());
                return refuse(self, &mut added, reason);
            };
            let mut deps: SmallVec<[Slot; 4]> = SmallVec::new();
            let mut literal_bytes = 0u64;
            let mut args = Vec::with_capacity(task.args.len());
            for arg in task.args {
                args.push(match arg {
                    SubmitArg::Value(v) => {
                        literal_bytes += v.nbytes() as u64;
                        TaskArg::Value(v)
                    }
                    SubmitArg::Key(k) => {
                        let Some(&d) = self.index.get(&k) else {
                            let reason = format!(
                                "task {} reads {k}, which is neither earlier in the submission nor on the cluster",
                                task.key
                            );
                            return refuse(self, &mut added, reason);
                        };
                        if !deps.contains(&d) {
                            deps.push(d);
                        }
                        TaskArg::Task(d)
                    }
                });
            }
            let group = self.group_of(&task.key);
            let slot = self.tasks.insert(Task {
                key: task.key,
                op: op.clone(),
                args: args.into_boxed_slice(),
                deps,
                dependents: SmallVec::new(),
                state: State::Released,
                waiting_on: 0,
                waiters: 0,
                wanted_by: SmallVec::new(),
                priority: Priority::new(placement.priority, base | task.order.min((1 << ORDER_BITS) - 1)),
                restriction: restriction.clone(),
                replicas: Vec::new(),
                nbytes: 0,
                group,
                literal_bytes,
                suspected: 0,
                early: false,
                thief: None,
                run,
                retries: task.retries,
                est_us: 0.0,
            });
            for i in 0..self.tasks[slot].deps.len() {
                let d = self.tasks[slot].deps[i];
                self.tasks[d].dependents.push(slot);
            }
            self.index.insert(task.key, slot);
            added.push(slot);
        }
        if let Some(k) = wanted.iter().chain(&held).find(|k| !self.index.contains_key(k)) {
            let reason = format!("wanted key {k} is neither in the submission nor on the cluster");
            return refuse(self, &mut added, reason);
        }
        // Every wanted key enters before any task is placed, so that chains are sent
        // whole and ready tasks go out in priority order.
        let mut entered = Vec::new();
        let wants = wanted.into_iter().map(|k| (k, true)).chain(held.into_iter().map(|k| (k, false)));
        let client_id = client;
        for (key, deliver) in wants {
            let t = self.index[&key];
            let client = self.clients.entry(client_id).or_default();
            if !client.wants.insert(t) {
                continue;
            }
            if deliver {
                client.awaiting.insert(t);
            } else {
                client.watching.insert(t);
            }
            self.tasks[t].wanted_by.push(client_id);
            match self.tasks[t].state.clone() {
                State::Released => self.enter(t, &mut entered),
                State::Memory(_) if deliver => self.request_result(t),
                State::Memory(_) => self.notify_ready(t),
                State::Erred(e) => self.notify_clients(t, Err(&e)),
                _ => {}
            }
        }
        self.settle_entered(entered);
        Ok(())
    }

    /// The op shared with earlier submissions that sent the same (if small).
    fn intern(&mut self, op: SubmitOp) -> Arc<SubmitOp> {
        if let Some(known) = self.ops.get(&op) {
            return known.clone();
        }
        let op = Arc::new(op);
        if op.op.0.len() <= MAX_INTERNED_OP_BYTES {
            if self.ops.len() >= MAX_INTERNED_OPS {
                self.ops.clear();
            }
            self.ops.insert(op.clone());
        }
        op
    }

    /// Removes the tasks of a refused submission, last added first.
    fn remove_added(&mut self, added: &mut Vec<Slot>) {
        while let Some(t) = added.pop() {
            let mut work = Vec::new();
            self.forget(t, &mut work);
        }
    }

    /// Client `client` no longer wants `t`.
    pub(super) fn unwant(&mut self, t: Slot, client: ClientId) {
        let task = &mut self.tasks[t];
        task.wanted_by.retain(|&mut c| c != client);
        self.release_unneeded(t);
    }

    /// Makes a released task (and, recursively, its released inputs) waiting; those whose
    /// inputs are all in memory become ready, those with an erred input err.
    pub(super) fn enter_unfinished(&mut self, start: Slot) {
        let mut entered = Vec::new();
        self.enter(start, &mut entered);
        self.settle_entered(entered);
    }

    /// Makes `start` and its released inputs waiting, adding them to `entered`; their
    /// counts and readiness wait for [`Core::settle_entered`].
    fn enter(&mut self, start: Slot, entered: &mut Vec<Slot>) {
        let mut stack = vec![start];
        while let Some(t) = stack.pop() {
            if self.tasks[t].state != State::Released {
                continue;
            }
            self.tasks[t].state = State::Waiting;
            entered.push(t);
            for i in 0..self.tasks[t].deps.len() {
                let d = self.tasks[t].deps[i];
                let dep = &mut self.tasks[d];
                dep.waiters += 1;
                if dep.state == State::Released {
                    stack.push(d);
                }
            }
        }
    }

    /// Counts the inputs of tasks just entered: those with an erred input err, those with
    /// every input in memory become ready, in priority order.
    fn settle_entered(&mut self, mut entered: Vec<Slot>) {
        let mut erred = Vec::new();
        for &t in &entered {
            let (waiting_on, error) = self.count_inputs(t);
            self.tasks[t].waiting_on = waiting_on;
            if let Some(e) = error {
                erred.push((t, e));
            }
        }
        for (t, e) in erred {
            self.err(t, e);
        }
        entered.retain(|&t| self.tasks[t].state == State::Waiting && self.tasks[t].waiting_on == 0);
        entered.sort_unstable_by_key(|&t| self.tasks[t].priority);
        for t in entered {
            // An earlier one's chain may have sent it already.
            if self.tasks[t].state == State::Waiting {
                self.ready(t);
            }
        }
    }

    /// Inputs of `t` not in memory, and the error of an erred one if any.
    pub(super) fn count_inputs(&self, t: Slot) -> (u32, Option<Arc<TaskError>>) {
        let mut waiting_on = 0;
        let mut error = None;
        for &d in &self.tasks[t].deps {
            match &self.tasks[d].state {
                State::Memory(_) => {}
                State::Erred(e) => {
                    error.get_or_insert_with(|| e.clone());
                    waiting_on += 1;
                }
                _ => waiting_on += 1,
            }
        }
        (waiting_on, error)
    }

    /// `t` is no longer unfinished (it finished, erred or was cancelled): its inputs lose
    /// a waiter, and those nobody needs any more are released.
    pub(super) fn leave_unfinished(&mut self, t: Slot) {
        for i in 0..self.tasks[t].deps.len() {
            let d = self.tasks[t].deps[i];
            let dep = &mut self.tasks[d];
            dep.waiters = dep.waiters.saturating_sub(1);
            self.release_unneeded(d);
        }
    }

    /// Releases what nobody needs from `start` on: a value in memory is released on its
    /// worker, an unfinished task is cancelled (its inputs then need checking too), and a
    /// task unwanted, idle and read by nothing left in the table is forgotten.
    pub(super) fn release_unneeded(&mut self, start: Slot) {
        if self.tasks.get_opt(start).is_none_or(|task| task.needed()) {
            return; // Still needed (the common case): nothing to do.
        }
        let mut work = vec![start];
        while let Some(t) = work.pop() {
            let Some(task) = self.tasks.get_opt(t) else { continue };
            if task.needed() {
                continue;
            }
            match task.state.clone() {
                State::Memory(w) => {
                    self.drop_value(t, w);
                    self.tasks[t].state = State::Released;
                }
                State::Processing(w) => {
                    self.unassign(t, w);
                    let key = self.tasks[t].key;
                    self.worker_mut(w).release.push(key);
                    self.cancel(t, &mut work);
                }
                State::Waiting | State::Queued | State::NoWorker => self.cancel(t, &mut work),
                State::Released | State::Erred(_) => {}
            }
            if self.tasks[t].dependents.is_empty() {
                self.forget(t, &mut work);
            }
        }
    }

    /// An unfinished task nobody needs becomes released; its inputs are checked next.
    fn cancel(&mut self, t: Slot, work: &mut Vec<Slot>) {
        let task = &mut self.tasks[t];
        task.state = State::Released;
        task.early = false;
        for i in 0..self.tasks[t].deps.len() {
            let d = self.tasks[t].deps[i];
            let dep = &mut self.tasks[d];
            dep.waiters = dep.waiters.saturating_sub(1);
            work.push(d);
        }
    }

    /// Removes an unneeded task read by nothing from the table; its inputs lose a reader.
    fn forget(&mut self, t: Slot, work: &mut Vec<Slot>) {
        let Some(task) = self.tasks.remove(t) else { return };
        self.index.remove(&task.key);
        self.gathering.remove(&t);
        self.groups[task.group as usize].size -= 1;
        for d in task.deps {
            let dependents = &mut self.tasks[d].dependents;
            if let Some(at) = dependents.iter().position(|&x| x == t) {
                dependents.swap_remove(at);
            }
            work.push(d);
        }
    }

    /// Forgets worker `w`'s copy of `t`'s value (and tells the worker).
    pub(super) fn drop_value(&mut self, t: Slot, w: WorkerSlot) {
        let (key, nbytes) = (self.tasks[t].key, self.tasks[t].nbytes);
        self.gathering.remove(&t);
        if let Some(worker) = self.workers[w as usize].as_mut() {
            worker.has_what.remove(&t);
            worker.nbytes = worker.nbytes.saturating_sub(nbytes);
            worker.release.push(key);
        }
        self.drop_replicas(t);
    }

    /// Task `key` finished on worker `w`.
    pub(super) fn finished(&mut self, w: WorkerSlot, key: Key, nbytes: u64, duration_us: u64, comm: &mut impl Comm) {
        let Some(&t) = self.index.get(&key) else {
            self.worker_mut(w).release.push(key); // Forgotten meanwhile.
            return;
        };
        match self.tasks[t].state {
            State::Processing(p) if p == w => self.unassign(t, w),
            State::Processing(other) => {
                // It ran here although placed elsewhere (a steal the victim could not
                // stop): keep this copy, cancel the other.
                self.unassign(t, other);
                self.worker_mut(other).release.push(key);
            }
            // A copy asked of it (see `replicas.rs`), or else a duplicate or a cancelled
            // task: keep nothing of it.
            _ => {
                if !self.replica_finished(t, w, nbytes) {
                    self.worker_mut(w).release.push(key);
                }
                return;
            }
        }
        let group = self.tasks[t].group;
        self.observe(group, duration_us as f64);
        let task = &mut self.tasks[t];
        task.state = State::Memory(w);
        self.finished_count += 1;
        task.nbytes = nbytes;
        task.early = false;
        let run = task.run;
        let worker = self.worker_mut(w);
        worker.has_what.insert(t);
        worker.nbytes += nbytes;
        let id = worker.id;
        comm.task_finished(run, id, key, duration_us, nbytes);
        for i in 0..self.tasks[t].dependents.len() {
            let c = self.tasks[t].dependents[i];
            let dependent = &mut self.tasks[c];
            if dependent.state.unfinished() {
                dependent.waiting_on = dependent.waiting_on.saturating_sub(1);
                if dependent.waiting_on == 0 {
                    // Sent early, it is now a task like any other (it may be stolen).
                    dependent.early = false;
                    if dependent.state == State::Waiting {
                        self.ready(c);
                    }
                }
            }
        }
        self.leave_unfinished(t);
        self.notify_ready(t);
        if self.awaited(t) {
            self.request_result(t);
        }
        self.release_unneeded(t);
    }

    /// Task `error.key` failed on worker `w`.
    pub(super) fn failed(&mut self, w: WorkerSlot, error: TaskError, comm: &mut impl Comm) {
        let key = match &error {
            TaskError::Failed { key, .. } | TaskError::Panicked { key, .. } => *key,
            _ => return,
        };
        let Some(&t) = self.index.get(&key) else { return };
        if self.tasks[t].state != State::Processing(w) {
            self.stop_replicating(t, w); // A copy that failed: the value stays where it is.
            return; // Cancelled or moved meanwhile.
        }
        let message = match &error {
            TaskError::Failed { message, .. } | TaskError::Panicked { message, .. } => message.clone(),
            _ => String::new(),
        };
        comm.task_failed(self.tasks[t].run, self.worker(w).id, key, &message);
        if self.tasks[t].retries > 0 {
            // Run again, anywhere (Dask's retries): its inputs are still in memory.
            self.tasks[t].retries -= 1;
            self.unassign(t, w);
            self.tasks[t].state = State::Waiting;
            self.ready(t);
            return;
        }
        self.err(t, Arc::new(error));
    }

    /// `start` errs with `error`, and so does every unfinished task that depends on it;
    /// the clients awaiting any of them hear why.
    pub(super) fn err(&mut self, start: Slot, error: Arc<TaskError>) {
        let mut stack = vec![start];
        while let Some(t) = stack.pop() {
            let state = self.tasks[t].state.clone();
            let unfinished = state.unfinished();
            if !unfinished && t != start {
                continue;
            }
            if let State::Processing(w) = state {
                self.unassign(t, w);
                if t != start {
                    let key = self.tasks[t].key;
                    self.worker_mut(w).release.push(key);
                }
            }
            if let State::Memory(w) = state {
                self.drop_value(t, w);
            }
            self.tasks[t].state = State::Erred(error.clone());
            self.tasks[t].early = false;
            if unfinished {
                self.leave_unfinished(t);
            }
            self.notify_clients(t, Err(&error));
            for i in 0..self.tasks[t].dependents.len() {
                let c = self.tasks[t].dependents[i];
                if self.tasks[c].state.unfinished() {
                    stack.push(c);
                }
            }
            self.release_unneeded(t);
        }
    }

    /// Asks the holder of `t` for its value, for the clients awaiting it.
    pub(super) fn request_result(&mut self, t: Slot) {
        if let State::Memory(w) = self.tasks[t].state
            && self.gathering.insert(t)
        {
            let key = self.tasks[t].key;
            self.worker_mut(w).gather.push(key);
        }
    }

    /// A holder answered a gather.
    pub(super) fn gathered(&mut self, w: WorkerSlot, key: Key, lookup: Lookup) {
        let Some(&t) = self.index.get(&key) else { return };
        if self.tasks[t].state != State::Memory(w) || !self.gathering.remove(&t) {
            return;
        }
        match lookup {
            Lookup::Found(value) => {
                self.notify_clients(t, Ok(&value));
                self.release_unneeded(t);
            }
            Lookup::Missing => {
                tracing::warn!(%key, "a worker no longer holds a result; recomputing it");
                self.lose_value(t);
            }
            Lookup::Refused(reason) => self.notify_clients(t, Err(&TaskError::Transfer { key, reason })),
        }
    }
}

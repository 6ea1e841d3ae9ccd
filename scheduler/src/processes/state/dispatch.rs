//! Placement and sending: which worker a ready task goes to, how much each worker gets,
//! and the batches (one `Compute` per worker per flush, each op once).

use std::cmp::Reverse;
use std::sync::Arc;

use rask_graph::{ArgView, TaskId};
use smallvec::SmallVec;

use super::{BATCH_TARGET_US, Batch, MAX_BATCH, MAX_BATCH_BYTES, OVERHEAD_US, Run, State};
use crate::error::SchedulerError;
use crate::processes::comm::Comm;
use crate::wire::{EncodedOp, TaskMsg, ToWorker, WireArg};

impl Run<'_> {
    /// Queues a task whose inputs are all done: on the worker holding most of its input
    /// bytes, or (a root, or no holder preferred) with the roots.
    pub(super) fn place(&mut self, t: u32) {
        self.state[t as usize] = State::Ready;
        let graph = self.graph;
        let mut any_input = false;
        self.scratch.iter_mut().for_each(|b| *b = 0);
        for d in graph.dependencies(TaskId(t)) {
            if let State::Done(w) = self.state[d.index()] {
                any_input = true;
                self.scratch[w as usize] += self.nbytes[d.index()].max(1);
            }
        }
        if !any_input {
            self.roots.push(Reverse(t));
            return;
        }
        let mut best: Option<usize> = None;
        for (w, worker) in self.workers.iter().enumerate() {
            if !worker.alive {
                continue;
            }
            best = match best {
                None => Some(w),
                Some(b) => {
                    let (bw, bb) = (self.scratch[w], self.scratch[b]);
                    if bw > bb || (bw == bb && worker.load() < self.workers[b].load()) { Some(w) } else { Some(b) }
                }
            };
        }
        match best {
            Some(w) => self.workers[w].queue.push(Reverse(t)),
            None => self.roots.push(Reverse(t)),
        }
    }

    /// How many tasks a worker should have in flight.
    fn target(&self, w: usize) -> usize {
        let threads = self.workers[w].spec.nthreads.max(1) as usize;
        let batch = match self.mean_us {
            // Nothing beyond `2 × nthreads` before any task is measured, so that slow
            // tasks spread over every worker (64 tasks of 100 ms on 16 one-thread workers
            // take 0.4 s, not the 1 s that 8 more per worker gave); the first finished
            // task sizes the batches after it.
            None => 0,
            Some(m) => ((BATCH_TARGET_US * threads as f64 / (m + OVERHEAD_US)) as usize).clamp(1, MAX_BATCH),
        };
        2 * threads + batch
    }

    /// Tops up every live worker (least loaded first) and sends the batches assembled.
    pub fn flush(&mut self, comm: &mut impl Comm) -> Result<(), SchedulerError> {
        if self.dirty {
            self.recover()?;
        }
        let mut order: SmallVec<[usize; 16]> = (0..self.workers.len()).filter(|&w| self.workers[w].alive).collect();
        order.sort_by(|&a, &b| self.workers[a].load().total_cmp(&self.workers[b].load()));
        for &w in &order {
            self.fill(w)?;
        }
        for (w, worker) in self.workers.iter_mut().enumerate() {
            if !worker.alive {
                continue;
            }
            if !worker.release.is_empty() {
                comm.send(w, ToWorker::Release(std::mem::take(&mut worker.release)));
            }
            for Batch { ops, tasks, .. } in worker.batches.drain(..).filter(|b| !b.tasks.is_empty()) {
                comm.send(w, ToWorker::Compute { ops, tasks });
            }
            if !worker.gather.is_empty() {
                comm.send(w, ToWorker::Gather(std::mem::take(&mut worker.gather)));
            }
        }
        Ok(())
    }

    fn fill(&mut self, w: usize) -> Result<(), SchedulerError> {
        let target = self.target(w);
        while self.workers[w].in_flight < target {
            let Some(t) = self.next_for(w) else { break };
            self.send(t, w)?;
        }
        Ok(())
    }

    /// The next ready task for worker `w`: its own queue, then the roots, then another
    /// worker's backlog (stolen from the worker with the most queued beyond its room).
    fn next_for(&mut self, w: usize) -> Option<u32> {
        let ready = |state: &[State], t: u32| state[t as usize] == State::Ready;
        while let Some(Reverse(t)) = self.workers[w].queue.pop() {
            if ready(&self.state, t) {
                return Some(t);
            }
        }
        while let Some(Reverse(t)) = self.roots.pop() {
            if ready(&self.state, t) {
                return Some(t);
            }
        }
        loop {
            // Only a backlog: what the victim has no room to take itself this round.
            let backlog = |v: usize| {
                let room = self.target(v).saturating_sub(self.workers[v].in_flight);
                self.workers[v].queue.len().saturating_sub(room)
            };
            let victim = (0..self.workers.len())
                .filter(|&v| v != w && self.workers[v].alive && backlog(v) > 0)
                .max_by_key(|&v| backlog(v))?;
            while let Some(Reverse(t)) = self.workers[victim].queue.pop() {
                if ready(&self.state, t) {
                    return Some(t);
                }
            }
        }
    }

    /// Sends `t` to worker `w` (into its next batch), then any dependent that can follow
    /// it there at once: all its inputs done on, or sent to, `w`.
    fn send(&mut self, t: u32, w: usize) -> Result<(), SchedulerError> {
        let mut stack: SmallVec<[u32; 8]> = SmallVec::new();
        stack.push(t);
        while let Some(t) = stack.pop() {
            self.send_one(t, w)?;
            let ti = t as usize;
            for i in 0..self.dependents.row(ti).len() {
                let c = self.dependents.row(ti)[i];
                let u = &mut self.unsent[c as usize];
                *u = u.saturating_sub(1);
                if *u == 0 && self.state[c as usize] == State::Waiting && self.all_inputs_on(c, w) {
                    stack.push(c);
                }
            }
        }
        Ok(())
    }

    fn all_inputs_on(&self, t: u32, w: usize) -> bool {
        let w = w as u32;
        self.graph
            .dependencies(TaskId(t))
            .all(|d| matches!(self.state[d.index()], State::Sent(x) | State::Done(x) if x == w))
    }

    fn send_one(&mut self, t: u32, w: usize) -> Result<(), SchedulerError> {
        let graph = self.graph;
        let id = TaskId(t);
        let literal_bytes: u64 = graph
            .args(id)
            .map(|a| match a {
                ArgView::Literal(v) => v.nbytes() as u64,
                ArgView::Task(_) => 0,
            })
            .sum();
        let limit = self.workers[w].spec.limit;
        if literal_bytes > limit {
            return Err(SchedulerError::Transfer {
                key: graph.key(id),
                reason: format!(
                    "its literal arguments hold {literal_bytes} bytes, more than worker {w}'s transfer limit of \
                     {limit} bytes"
                ),
            });
        }
        let op = graph.op(id);
        let ptr = Arc::as_ptr(op) as *const u8 as usize;
        let batches = &mut self.workers[w].batches;
        if batches.last().is_none_or(|b| !b.tasks.is_empty() && b.bytes + literal_bytes > MAX_BATCH_BYTES) {
            batches.push(Batch::default());
        }
        let batch = batches.last_mut().expect("a batch is open");
        batch.bytes += literal_bytes;
        let op_index = match batch.op_slots.iter().find(|(p, _)| *p == ptr) {
            Some(&(_, i)) => i,
            None => {
                let encoded = match self.encoded.get(&ptr) {
                    Some(e) => e.clone(),
                    None => {
                        let e = EncodedOp::encode(op.as_ref()).map_err(|e| SchedulerError::TaskFailed {
                            key: graph.key(id),
                            op: op.name().to_string(),
                            message: format!("cannot send the task to a worker: {e}"),
                        })?;
                        self.encoded.insert(ptr, e.clone());
                        e
                    }
                };
                let i = batch.ops.len() as u32;
                batch.ops.push(encoded);
                batch.op_slots.push((ptr, i));
                i
            }
        };
        let mut args = Vec::with_capacity(graph.arg_count(id));
        for arg in graph.args(id) {
            args.push(match arg {
                ArgView::Literal(v) => WireArg::Value(v.clone()),
                ArgView::Task(d) => {
                    let key = graph.key(d);
                    match self.state[d.index()] {
                        State::Done(x) | State::Sent(x) if x as usize == w => WireArg::Held(key),
                        State::Done(x) => {
                            let fetchers = self.fetched_by.entry(d.0).or_default();
                            if !fetchers.contains(&(w as u32)) {
                                fetchers.push(w as u32);
                            }
                            WireArg::Remote { key, from: self.workers[x as usize].spec.data_address.clone() }
                        }
                        // Only chains send a task before its inputs finish, and only to
                        // the inputs' worker: this is a bug, reported rather than a panic.
                        _ => {
                            return Err(SchedulerError::Pool(format!(
                                "internal: task {} was about to be sent before its input {} finished",
                                graph.key(id),
                                key
                            )));
                        }
                    }
                }
            });
        }
        self.state[t as usize] = State::Sent(w as u32);
        let worker = &mut self.workers[w];
        worker.in_flight += 1;
        let batch = worker.batches.last_mut().expect("a batch is open");
        batch.tasks.push(TaskMsg { key: graph.key(id), op: op_index, args, priority: t as u64 });
        Ok(())
    }
}

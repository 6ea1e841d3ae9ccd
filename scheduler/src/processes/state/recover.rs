//! Recovery after a loss: one pass over the task states that requeues what a lost worker
//! had and recomputes, recursively, what it held that is still needed.

use rask_graph::TaskId;

use super::{Run, State};
use crate::error::SchedulerError;

impl Run<'_> {
    /// Rebuilds every count and queue from the task states after a loss: requeues what was
    /// sent to dead workers, recomputes (recursively) every lost or released value an
    /// unfinished task or an ungathered output still needs. O(tasks); losses are rare.
    pub(super) fn recover(&mut self) -> Result<(), SchedulerError> {
        self.dirty = false;
        if !self.any_worker() {
            return Err(self.no_workers("every worker was lost"));
        }
        let alive: Vec<bool> = self.workers.iter().map(|w| w.alive).collect();
        let n = self.state.len();
        for t in (0..n).rev() {
            let s = match self.state[t] {
                State::Sent(w) if !alive[w as usize] => State::Waiting,
                State::Ready => State::Waiting,
                State::Done(w) if !alive[w as usize] => State::Released,
                s => s,
            };
            self.state[t] = if s == State::Released && self.needed(t) { State::Waiting } else { s };
        }
        for w in &mut self.workers {
            w.in_flight = 0;
            w.queue.clear();
            if !w.alive {
                w.batches.clear();
                w.release.clear();
                w.gather.clear();
            }
        }
        self.roots.clear();
        self.readers.iter_mut().for_each(|r| *r = 0);
        self.remaining = 0;
        let graph = self.graph;
        for t in graph.ids() {
            let s = self.state[t.index()];
            if let State::Sent(w) = s {
                self.workers[w as usize].in_flight += 1;
            }
            if !s.unfinished() {
                continue;
            }
            self.remaining += 1;
            let (mut pending, mut unsent) = (0, 0);
            for d in graph.dependencies(t) {
                self.readers[d.index()] += 1;
                match self.state[d.index()] {
                    State::Done(_) => {}
                    State::Sent(_) => pending += 1,
                    _ => {
                        pending += 1;
                        unsent += 1;
                    }
                }
            }
            self.pending[t.index()] = pending;
            self.unsent[t.index()] = unsent;
        }
        self.gathering.retain(|_, w| alive[*w as usize]);
        for t in 0..n as u32 {
            let ti = t as usize;
            match self.state[ti] {
                State::Waiting if self.pending[ti] == 0 => self.place(t),
                State::Done(w)
                    if self.is_output[ti] && !self.results.contains_key(&t) && !self.gathering.contains_key(&t) =>
                {
                    self.gathering.insert(t, w);
                    self.workers[w as usize].gather.push(self.graph.key(TaskId(t)));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether a finished task's value is still needed: an ungathered output, or an input
    /// of an unfinished task (dependents have higher ids, so a pass from the last task
    /// down decides them first).
    fn needed(&self, t: usize) -> bool {
        (self.is_output[t] && !self.results.contains_key(&(t as u32)))
            || self.dependents.row(t).iter().any(|&c| self.state[c as usize].unfinished())
    }
}

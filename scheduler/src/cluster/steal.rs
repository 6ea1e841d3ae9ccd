//! Work stealing: an idle worker takes tasks not yet started from a busy one. The victim
//! confirms each steal (it gives up only tasks still in its queue), so a task never runs
//! twice by design and never is lost: until the answer, it stays the victim's.

use rask_graph::Key;

use super::core::{BANDWIDTH_BYTES_PER_US, Core};
use super::task::{Slot, State, WorkerSlot};
use super::worker::Status;

impl Core {
    /// Asks busy workers to give up queued tasks to idle ones (the shell calls it every
    /// 100 ms, as Dask's work stealing). A task is worth moving when running it takes
    /// longer than fetching the inputs the thief lacks.
    pub fn balance(&mut self) {
        let idle: Vec<WorkerSlot> = self
            .live_workers()
            .filter(|&w| {
                let worker = self.worker(w);
                worker.status == Status::Running && worker.processing.len() < worker.nthreads()
            })
            .collect();
        for thief in idle {
            let room =
                2 * self.worker(thief).nthreads() - self.worker(thief).processing.len() - self.stealing_to(thief).len();
            let victim = self
                .live_workers()
                .filter(|&v| v != thief && self.backlog(v) > 0)
                .max_by(|&a, &b| self.worker(a).start_time_us().total_cmp(&self.worker(b).start_time_us()));
            let Some(victim) = victim else { continue };
            let mut candidates: Vec<Slot> =
                self.worker(victim).processing.iter().copied().filter(|&t| self.stealable(t, victim, thief)).collect();
            // The ones the victim would run last.
            candidates.sort_unstable_by_key(|&t| std::cmp::Reverse(self.tasks[t].priority));
            for t in candidates.into_iter().take(room.min(self.backlog(victim))) {
                self.tasks[t].thief = Some(thief);
                let key = self.tasks[t].key;
                self.worker_mut(victim).steal.push(key);
            }
        }
    }

    /// Tasks of worker `w` beyond what its threads run now.
    fn backlog(&self, w: WorkerSlot) -> usize {
        let worker = self.worker(w);
        worker.processing.len().saturating_sub(worker.nthreads())
    }

    /// Whether `t`, queued on `victim`, may move to `thief`: not chained (every input in
    /// memory, no dependent sent after it), not being stolen already, and cheaper to move
    /// than to run.
    fn stealable(&self, t: Slot, victim: WorkerSlot, thief: WorkerSlot) -> bool {
        let task = &self.tasks[t];
        if task.thief.is_some() || task.early || !self.may_run_on(t, thief) {
            return false;
        }
        if task.dependents.iter().any(|&c| self.tasks[c].early && self.tasks[c].state == State::Processing(victim)) {
            return false;
        }
        let mut missing = 0u64;
        for &d in &task.deps {
            match self.tasks[d].state {
                State::Memory(_) if self.holds(d, thief) => {}
                State::Memory(_) => missing += self.tasks[d].nbytes,
                _ => return false,
            }
        }
        missing as f64 / BANDWIDTH_BYTES_PER_US <= self.duration_us(task.group)
    }

    /// Tasks being stolen for worker `w`.
    pub(super) fn stealing_to(&self, w: WorkerSlot) -> Vec<Slot> {
        self.workers
            .iter()
            .flatten()
            .flat_map(|v| v.processing.iter().copied())
            .filter(|&t| self.tasks[t].thief == Some(w))
            .collect()
    }

    /// Worker `w` answered a steal request for `key`: `stolen` if it gave the task up.
    pub(super) fn steal_answered(&mut self, w: WorkerSlot, key: Key, stolen: bool) {
        let Some(&t) = self.index.get(&key) else { return };
        if self.tasks[t].state != State::Processing(w) {
            return; // Finished, cancelled or lost meanwhile.
        }
        let thief = self.tasks[t].thief.take();
        if !stolen {
            return;
        }
        self.unassign(t, w);
        self.tasks[t].state = State::Waiting;
        let inputs_held = self.tasks[t].deps.iter().all(|&d| matches!(self.tasks[d].state, State::Memory(_)));
        match thief {
            Some(x)
                if inputs_held
                    && self.workers[x as usize].as_ref().is_some_and(|worker| worker.status == Status::Running) =>
            {
                self.assign(t, x)
            }
            _ => self.recount_and_ready(t),
        }
    }
}

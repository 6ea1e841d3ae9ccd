//! One task as the cluster scheduler keeps it, and the arena that holds them all.

use std::sync::Arc;

use rask_graph::{Key, Value};
use smallvec::SmallVec;

use super::core::ClientId;
use crate::wire::{Placement, Priority, SubmitOp, TaskError};

/// A task's place in the arena.
pub(crate) type Slot = u32;

/// A worker's place in the scheduler's worker table.
pub(crate) type WorkerSlot = u32;

/// Where a task is (Dask's task states; forgotten tasks leave the arena).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum State {
    /// Known, not computed (nobody needs it now), or its value was released or lost.
    Released,
    /// Needed; some input is not in memory yet.
    Waiting,
    /// Ready and root-like: waits at the scheduler until a worker has room.
    Queued,
    /// Ready, but no worker can take it.
    NoWorker,
    /// Sent to this worker (queued or running there).
    Processing(WorkerSlot),
    /// Finished; this worker holds the value.
    Memory(WorkerSlot),
    /// It, or a task it depends on, failed.
    Erred(Arc<TaskError>),
}

impl Task {
    /// Whether a client or an unfinished dependent needs it.
    pub fn needed(&self) -> bool {
        !self.wanted_by.is_empty() || self.waiters > 0
    }
}

impl State {
    /// Needed and not finished: waiting, queued, no-worker or processing.
    pub fn unfinished(&self) -> bool {
        matches!(self, State::Waiting | State::Queued | State::NoWorker | State::Processing(_))
    }
}

/// One argument of a task.
#[derive(Debug, Clone)]
pub(crate) enum TaskArg {
    /// A literal value.
    Value(Value),
    /// The output of the task in this slot.
    Task(Slot),
}

/// One task; see the module docs of [`super::core`] for the counts.
#[derive(Debug)]
pub(crate) struct Task {
    pub key: Key,
    pub op: Arc<SubmitOp>,
    pub args: Box<[TaskArg]>,
    /// Distinct inputs.
    pub deps: SmallVec<[Slot; 4]>,
    /// Tasks in the table that read it.
    pub dependents: SmallVec<[Slot; 4]>,
    pub state: State,
    /// Inputs not in memory (meaningful while unfinished).
    pub waiting_on: u32,
    /// Unfinished dependents: while any, its value is kept.
    pub waiters: u32,
    /// Clients that want it (each once): while any, it is computed and kept.
    pub wanted_by: SmallVec<[ClientId; 1]>,
    /// Lower runs first: the user's priority, the submission's sequence number, then the
    /// graph's order.
    pub priority: Priority,
    /// Other workers holding its value, besides the one in `State::Memory`.
    pub replicas: Vec<WorkerSlot>,
    /// The workers it may run on, if its submission named some.
    pub restriction: Option<Arc<Placement>>,
    /// Bytes of its value, once in memory.
    pub nbytes: u64,
    /// Its task group (for durations).
    pub group: u32,
    /// Bytes of its literal arguments.
    pub literal_bytes: u64,
    /// Worker deaths it was suspected in.
    pub suspected: u32,
    /// Sent before its inputs finished, to the worker that holds or computes them all.
    pub early: bool,
    /// Being stolen by this worker (the victim has not confirmed yet).
    pub thief: Option<WorkerSlot>,
    /// The run (client computation) that submitted it, for events.
    pub run: u64,
    /// Times it may still be run again after its op fails.
    pub retries: u32,
    /// The µs of work it was expected to take when sent to its worker (its share of the
    /// worker's occupancy).
    pub est_us: f64,
}

/// The tasks, in slots reused once forgotten.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    tasks: Vec<Option<Task>>,
    free: Vec<Slot>,
}

impl Arena {
    pub fn insert(&mut self, task: Task) -> Slot {
        match self.free.pop() {
            Some(slot) => {
                self.tasks[slot as usize] = Some(task);
                slot
            }
            None => {
                self.tasks.push(Some(task));
                (self.tasks.len() - 1) as Slot
            }
        }
    }

    pub fn remove(&mut self, slot: Slot) -> Option<Task> {
        let task = self.tasks.get_mut(slot as usize)?.take();
        if task.is_some() {
            self.free.push(slot);
        }
        task
    }

    /// The task in `slot`, if the slot holds one.
    pub fn get_opt(&self, slot: Slot) -> Option<&Task> {
        self.tasks.get(slot as usize)?.as_ref()
    }

    /// The task in `slot`; the scheduler only holds slots of live tasks.
    pub fn get(&self, slot: Slot) -> &Task {
        self.tasks[slot as usize].as_ref().expect("a live task slot")
    }

    pub fn get_mut(&mut self, slot: Slot) -> &mut Task {
        self.tasks[slot as usize].as_mut().expect("a live task slot")
    }

    /// The slots of the tasks in the table.
    pub fn slots(&self) -> impl Iterator<Item = Slot> + '_ {
        self.tasks.iter().enumerate().filter(|(_, t)| t.is_some()).map(|(i, _)| i as Slot)
    }

    /// How many tasks are in the table.
    pub fn len(&self) -> usize {
        self.tasks.len() - self.free.len()
    }
}

impl std::ops::Index<Slot> for Arena {
    type Output = Task;
    fn index(&self, slot: Slot) -> &Task {
        self.get(slot)
    }
}

impl std::ops::IndexMut<Slot> for Arena {
    fn index_mut(&mut self, slot: Slot) -> &mut Task {
        self.get_mut(slot)
    }
}

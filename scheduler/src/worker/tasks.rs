//! The worker's task bookkeeping, as a pure state machine: which submitted tasks wait for
//! which inputs, which are ready (by priority), which run; no threads, sockets or files.
//!
//! The I/O shell ([`super::executor`], [`super::control`], [`super::fetch`]) calls it
//! under one lock and carries out the [`Effect`]s it returns. Per task it keeps a count of
//! inputs not yet available, like the threaded scheduler's pending counts: a `Held` input
//! whose task is still queued or running here, or a `Remote` input still being fetched.
//! When the count reaches zero the task joins the ready heap (lower priority first, then
//! submission order).
//!
//! Dropping: a task whose input is missing (a fetch failed, or a `Held` key that is neither
//! held nor going to be computed) is dropped with a [`Effect::Missing`], and so are the
//! tasks here waiting for it (their input is now "not going to be computed", `from` = this
//! worker). Tasks waiting for a task that *failed* are dropped silently: the scheduler,
//! told of the failure, stops that computation.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use rask_graph::{Key, Op, Value};
use rustc_hash::FxHashMap as HashMap;
use smallvec::SmallVec;

use crate::wire::{Address, Priority};

/// One input of a task as submitted.
#[derive(Debug)]
pub(crate) enum Input {
    /// A literal, or a fetched remote value.
    Value(Value),
    /// A value this worker holds or computes; read from the store when the task runs.
    Held(Key),
    /// A value on another worker, fetched before the task is ready.
    Remote {
        /// Its key.
        key: Key,
        /// The holder's data address.
        from: Address,
    },
}

/// A task as the shell submits it (its op already decoded).
#[derive(Debug)]
pub(crate) struct NewTask {
    pub key: Key,
    pub op: Arc<dyn Op>,
    pub inputs: Vec<Input>,
    pub priority: Priority,
}

/// A task handed to a task thread: its inputs are all available (literals and fetched
/// values inline, held ones to read from the store).
#[derive(Debug)]
pub(crate) struct Runnable {
    pub key: Key,
    pub op: Arc<dyn Op>,
    pub inputs: Vec<Input>,
}

/// What the shell must do after a transition.
#[derive(Debug, PartialEq)]
pub(crate) enum Effect {
    /// Fetch `key` from the peer at `from`, then call [`Tasks::fetched`] or
    /// [`Tasks::fetch_failed`].
    Fetch { key: Key, from: Address },
    /// Tell the scheduler that `task` was dropped because `key` is missing at `from`
    /// (`None`: this worker's own data address).
    Missing { task: Key, key: Key, from: Option<Address> },
    /// Tell the scheduler that `task` (op `op`) failed: `message` says why.
    Failed { task: Key, op: String, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Ready,
    Running,
}

#[derive(Debug)]
struct Pending {
    key: Key,
    op: Arc<dyn Op>,
    inputs: Vec<Input>,
    priority: Priority,
    waiting: u32,
    phase: Phase,
}

/// A slot index and the generation it was filled in, so that a stale reference to a
/// reused slot is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Handle {
    index: u32,
    generation: u32,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    task: Option<Pending>,
}

/// The tasks waiting for one fetched value: which task, which argument position.
type FetchWaiters = SmallVec<[(Handle, u32); 2]>;

/// The state machine; see the module doc.
#[derive(Debug, Default)]
pub(crate) struct Tasks {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Tasks queued or running here, by key.
    by_key: HashMap<Key, Handle>,
    /// Key of a task queued or running here -> tasks waiting for it.
    waiters: HashMap<Key, SmallVec<[Handle; 2]>>,
    /// Remote key being fetched -> tasks (and argument positions) waiting for it.
    fetches: HashMap<Key, (Address, FetchWaiters)>,
    ready: BinaryHeap<Reverse<(Priority, u64, Handle)>>,
    seq: u64,
    running: usize,
}

impl Tasks {
    /// Tasks ready or running: zero means the worker is idle.
    pub fn active(&self) -> usize {
        self.ready.len() + self.running
    }

    /// Tasks running now.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Tasks here that are not running: ready, or waiting for inputs.
    pub fn queued(&self) -> usize {
        self.by_key.len() - self.running
    }

    /// Drops task `key` if it is here and has not started (with, silently, the tasks here
    /// waiting for it); returns whether it was. A running task is left to finish.
    pub fn cancel(&mut self, key: &Key) -> bool {
        let Some(&handle) = self.by_key.get(key) else { return false };
        match self.get_mut(handle).map(|t| t.phase) {
            Some(Phase::Waiting | Phase::Ready) => {
                self.drop_task(handle, None, &mut Vec::new());
                true
            }
            _ => false,
        }
    }

    /// Adds a batch of tasks. `held(key)` says whether the store holds a value; `me` is this
    /// worker's data address (a `Remote` input from it is a held one). Tasks of the batch
    /// may wait for each other in any order.
    pub fn submit(&mut self, tasks: Vec<NewTask>, held: impl Fn(&Key) -> bool, me: &Address) -> Vec<Effect> {
        let mut effects = Vec::new();
        // Register every key first, so a task may name one later in the same batch.
        let mut handles = Vec::with_capacity(tasks.len());
        for task in tasks {
            if self.by_key.contains_key(&task.key) {
                tracing::warn!(key = %task.key, "task submitted while the same key is queued here; ignored");
                continue;
            }
            let key = task.key;
            let handle = self.insert(Pending {
                key,
                op: task.op,
                inputs: task.inputs,
                priority: task.priority,
                waiting: 0,
                phase: Phase::Waiting,
            });
            self.by_key.insert(key, handle);
            handles.push(handle);
        }
        for handle in handles {
            self.resolve_inputs(handle, &held, me, &mut effects);
        }
        effects
    }

    fn resolve_inputs(
        &mut self,
        handle: Handle,
        held: &impl Fn(&Key) -> bool,
        me: &Address,
        effects: &mut Vec<Effect>,
    ) {
        let Some(task) = self.get_mut(handle) else { return };
        let mut inputs = std::mem::take(&mut task.inputs);
        let mut waiting = 0u32;
        let mut missing = None;
        for (position, input) in inputs.iter_mut().enumerate() {
            if let Input::Remote { key, from } = input
                && from == me
            {
                *input = Input::Held(*key);
            }
            match input {
                Input::Value(_) => {}
                Input::Held(k) => {
                    if self.by_key.contains_key(k) {
                        self.waiters.entry(*k).or_default().push(handle);
                        waiting += 1;
                    } else if !held(k) {
                        missing = Some(*k);
                        break;
                    }
                }
                Input::Remote { key: k, from } => {
                    waiting += 1;
                    match self.fetches.entry(*k) {
                        Entry::Occupied(mut e) => e.get_mut().1.push((handle, position as u32)),
                        Entry::Vacant(e) => {
                            e.insert((from.clone(), smallvec::smallvec![(handle, position as u32)]));
                            effects.push(Effect::Fetch { key: *k, from: from.clone() });
                        }
                    }
                }
            }
        }
        let task = self.get_mut(handle).expect("the task is still queued");
        task.inputs = inputs;
        task.waiting = waiting;
        if let Some(k) = missing {
            // Waiter entries registered above are stale once the slot is freed.
            self.drop_task(handle, Some((k, None)), effects);
        } else if waiting == 0 {
            self.make_ready(handle);
        }
    }

    /// The next task to run, lowest priority first; it counts as running until
    /// [`Tasks::finished`], [`Tasks::failed`] or [`Tasks::lost_input`].
    pub fn pop_ready(&mut self) -> Option<Runnable> {
        while let Some(Reverse((_, _, handle))) = self.ready.pop() {
            let Some(task) = self.get_mut(handle) else { continue };
            if task.phase != Phase::Ready {
                continue;
            }
            task.phase = Phase::Running;
            let runnable = Runnable { key: task.key, op: task.op.clone(), inputs: std::mem::take(&mut task.inputs) };
            self.running += 1;
            return Some(runnable);
        }
        None
    }

    /// A running task stored its value: the tasks waiting for it move on. Returns how
    /// many became ready.
    pub fn finished(&mut self, key: &Key) -> usize {
        let Some(handle) = self.by_key.remove(key) else { return 0 };
        self.remove(handle);
        self.running -= 1;
        let before = self.ready.len();
        for waiter in self.waiters.remove(key).unwrap_or_default() {
            if let Some(task) = self.get_mut(waiter) {
                task.waiting -= 1;
                if task.waiting == 0 {
                    self.make_ready(waiter);
                }
            }
        }
        self.ready.len() - before
    }

    /// A running task failed: it and the tasks waiting for it are dropped silently.
    pub fn failed(&mut self, key: &Key) {
        let Some(handle) = self.by_key.get(key).copied() else { return };
        self.running -= 1;
        self.drop_task(handle, None, &mut Vec::new());
    }

    /// A running task found its input `input` gone (from the store when `from` is `None`):
    /// it is dropped and reported missing, with the tasks waiting for it.
    pub fn lost_input(&mut self, key: &Key, input: Key, from: Option<Address>) -> Vec<Effect> {
        let mut effects = Vec::new();
        if let Some(handle) = self.by_key.get(key).copied() {
            self.running -= 1;
            self.drop_task(handle, Some((input, from)), &mut effects);
        }
        effects
    }

    /// A fetch succeeded: the value goes into each waiting task's argument. Returns how
    /// many tasks became ready.
    pub fn fetched(&mut self, key: &Key, value: &Value) -> usize {
        let Some((_, waiters)) = self.fetches.remove(key) else { return 0 };
        let before = self.ready.len();
        for (handle, position) in waiters {
            let Some(task) = self.get_mut(handle) else { continue };
            if let Some(slot) = task.inputs.get_mut(position as usize) {
                *slot = Input::Value(value.clone());
            }
            task.waiting -= 1;
            if task.waiting == 0 {
                self.make_ready(handle);
            }
        }
        self.ready.len() - before
    }

    /// A fetch failed: every task waiting for it is dropped and reported missing.
    pub fn fetch_failed(&mut self, key: &Key) -> Vec<Effect> {
        let mut effects = Vec::new();
        let Some((from, waiters)) = self.fetches.remove(key) else { return effects };
        for (handle, _) in waiters {
            if self.get_mut(handle).is_some() {
                self.drop_task(handle, Some((*key, Some(from.clone()))), &mut effects);
            }
        }
        effects
    }

    /// A fetch was refused for good (the value exceeds this worker's transfer limit):
    /// every task waiting for it fails with `why`, and the tasks waiting for those are
    /// dropped silently, as after any failure.
    pub fn fetch_refused(&mut self, key: &Key, why: &str) -> Vec<Effect> {
        let mut effects = Vec::new();
        let Some((from, waiters)) = self.fetches.remove(key) else { return effects };
        for (handle, _) in waiters {
            let Some(task) = self.get_mut(handle) else { continue };
            let (task, op) = (task.key, task.op.name().to_string());
            let message = format!("its input {key} cannot be fetched from {from}: {why}");
            effects.push(Effect::Failed { task, op, message });
            self.drop_task(handle, None, &mut effects);
        }
        effects
    }

    /// Drops a queued task (not running) and, transitively, the tasks waiting for it.
    /// `missing`: the input it lacks and where it was looked for, reported as an effect;
    /// `None` drops silently (after a failure).
    fn drop_task(&mut self, handle: Handle, missing: Option<(Key, Option<Address>)>, effects: &mut Vec<Effect>) {
        let mut stack = vec![(handle, missing)];
        while let Some((handle, missing)) = stack.pop() {
            let Some(task) = self.remove(handle) else { continue };
            self.by_key.remove(&task.key);
            let silent = missing.is_none();
            if let Some((key, from)) = missing {
                effects.push(Effect::Missing { task: task.key, key, from });
            }
            for waiter in self.waiters.remove(&task.key).unwrap_or_default() {
                if self.get_mut(waiter).is_some() {
                    stack.push((waiter, (!silent).then_some((task.key, None))));
                }
            }
        }
    }

    fn make_ready(&mut self, handle: Handle) {
        let seq = self.seq;
        self.seq += 1;
        let task = self.get_mut(handle).expect("a live task");
        task.phase = Phase::Ready;
        let priority = task.priority;
        self.ready.push(Reverse((priority, seq, handle)));
    }

    fn insert(&mut self, task: Pending) -> Handle {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.task = Some(task);
        Handle { index, generation: slot.generation }
    }

    fn remove(&mut self, handle: Handle) -> Option<Pending> {
        let slot = self.slots.get_mut(handle.index as usize)?;
        if slot.generation != handle.generation {
            return None;
        }
        let task = slot.task.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(handle.index);
        Some(task)
    }

    fn get_mut(&mut self, handle: Handle) -> Option<&mut Pending> {
        let slot = self.slots.get_mut(handle.index as usize)?;
        if slot.generation != handle.generation {
            return None;
        }
        slot.task.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use rask_graph::ops::Inc;
    use rask_graph::{Group, Token};

    use super::*;

    fn key(i: u32) -> Key {
        Key::new(Group::new("tasks-test"), Token(3), &[i])
    }

    fn me() -> Address {
        "tcp://127.0.0.1:1".parse().unwrap()
    }

    fn peer() -> Address {
        "tcp://127.0.0.1:2".parse().unwrap()
    }

    fn task(i: u32, priority: u64, inputs: Vec<Input>) -> NewTask {
        NewTask { key: key(i), op: Arc::new(Inc), inputs, priority: priority.into() }
    }

    #[test]
    fn a_queued_task_can_be_cancelled_and_a_running_one_cannot() {
        let mut tasks = Tasks::default();
        tasks.submit(
            vec![task(1, 0, vec![Input::Value(Value::I64(1))]), task(2, 1, vec![Input::Value(Value::I64(2))])],
            |_| false,
            &me(),
        );
        assert_eq!(run_next(&mut tasks), Some(key(1)));
        assert_eq!((tasks.running(), tasks.queued()), (1, 1));
        assert!(!tasks.cancel(&key(1)), "running");
        assert!(tasks.cancel(&key(2)), "ready, not started");
        assert!(!tasks.cancel(&key(2)), "gone");
        assert_eq!(run_next(&mut tasks), None);
        assert_eq!(tasks.finished(&key(1)), 0);
        assert_eq!(tasks.active(), 0);
    }

    #[test]
    fn a_refused_fetch_fails_its_readers_and_drops_theirs() {
        let mut tasks = Tasks::default();
        let remote = Input::Remote { key: key(0), from: peer() };
        let effects =
            tasks.submit(vec![task(1, 0, vec![remote]), task(2, 1, vec![Input::Held(key(1))])], |_| false, &me());
        assert_eq!(effects, vec![Effect::Fetch { key: key(0), from: peer() }]);
        let effects = tasks.fetch_refused(&key(0), "too large");
        assert_eq!(effects.len(), 1, "{effects:?}");
        let Effect::Failed { task, op, message } = &effects[0] else { panic!("{effects:?}") };
        assert_eq!((*task, op.as_str()), (key(1), "inc"));
        assert!(message.contains(&key(0).to_string()) && message.contains("too large"), "{message}");
        assert_eq!(tasks.active(), 0);
        assert!(tasks.by_key.is_empty(), "the waiting task went too");
    }

    fn run_next(tasks: &mut Tasks) -> Option<Key> {
        tasks.pop_ready().map(|r| r.key)
    }

    #[test]
    fn ready_tasks_run_by_priority_and_dependents_wait() {
        let mut tasks = Tasks::default();
        // 2 depends on 1 (submitted later in the same batch), 3 on key 0 already held.
        let effects = tasks.submit(
            vec![
                task(2, 0, vec![Input::Held(key(1))]),
                task(3, 5, vec![Input::Held(key(0))]),
                task(1, 9, vec![Input::Value(Value::I64(1))]),
            ],
            |k| *k == key(0),
            &me(),
        );
        assert!(effects.is_empty());
        assert_eq!(tasks.active(), 2);
        assert_eq!(run_next(&mut tasks), Some(key(3)));
        assert_eq!(run_next(&mut tasks), Some(key(1)));
        assert_eq!(run_next(&mut tasks), None);
        assert_eq!(tasks.finished(&key(1)), 1);
        assert_eq!(run_next(&mut tasks), Some(key(2)));
        tasks.finished(&key(2));
        tasks.finished(&key(3));
        assert_eq!(tasks.active(), 0);
        // A later batch waits for a task of an earlier one.
        tasks.submit(vec![task(4, 0, vec![])], |_| false, &me());
        tasks.submit(vec![task(5, 0, vec![Input::Held(key(4)), Input::Held(key(4))])], |_| false, &me());
        assert_eq!(run_next(&mut tasks), Some(key(4)));
        assert_eq!(tasks.finished(&key(4)), 1);
        assert_eq!(run_next(&mut tasks), Some(key(5)));
    }

    #[test]
    fn a_held_input_nobody_computes_is_missing_and_so_are_its_waiters() {
        let mut tasks = Tasks::default();
        let effects = tasks.submit(
            vec![task(1, 0, vec![Input::Held(key(0))]), task(2, 0, vec![Input::Held(key(1))])],
            |_| false,
            &me(),
        );
        assert_eq!(
            effects,
            vec![
                Effect::Missing { task: key(1), key: key(0), from: None },
                Effect::Missing { task: key(2), key: key(1), from: None },
            ]
        );
        assert_eq!(tasks.active(), 0);
        assert!(tasks.pop_ready().is_none());
    }

    #[test]
    fn remote_inputs_are_fetched_once_and_fill_the_arguments() {
        let mut tasks = Tasks::default();
        let effects = tasks.submit(
            vec![
                task(1, 0, vec![Input::Remote { key: key(0), from: peer() }]),
                task(2, 0, vec![Input::Value(Value::I64(3)), Input::Remote { key: key(0), from: peer() }]),
                // A "remote" input on this very worker is a held one.
                task(3, 0, vec![Input::Remote { key: key(9), from: me() }]),
            ],
            |k| *k == key(9),
            &me(),
        );
        assert_eq!(effects, vec![Effect::Fetch { key: key(0), from: peer() }]);
        assert_eq!(run_next(&mut tasks), Some(key(3)));
        assert_eq!(tasks.fetched(&key(0), &Value::I64(7)), 2);
        let runnable = tasks.pop_ready().unwrap();
        assert!(runnable.inputs.iter().all(|i| matches!(i, Input::Value(_))));
    }

    #[test]
    fn a_failed_fetch_drops_the_waiting_tasks_and_their_dependents() {
        let mut tasks = Tasks::default();
        tasks.submit(
            vec![
                task(1, 0, vec![Input::Remote { key: key(0), from: peer() }]),
                task(2, 0, vec![Input::Held(key(1))]),
                task(3, 0, vec![]),
            ],
            |_| false,
            &me(),
        );
        let effects = tasks.fetch_failed(&key(0));
        assert_eq!(
            effects,
            vec![
                Effect::Missing { task: key(1), key: key(0), from: Some(peer()) },
                Effect::Missing { task: key(2), key: key(1), from: None },
            ]
        );
        assert_eq!(run_next(&mut tasks), Some(key(3)));
        // The keys may be submitted again.
        let effects = tasks.submit(vec![task(1, 0, vec![])], |_| false, &me());
        assert!(effects.is_empty());
        assert_eq!(run_next(&mut tasks), Some(key(1)));
    }

    #[test]
    fn a_failure_drops_dependents_silently_and_a_lost_input_reports_them() {
        let mut tasks = Tasks::default();
        tasks.submit(vec![task(1, 0, vec![]), task(2, 0, vec![Input::Held(key(1))])], |_| false, &me());
        assert_eq!(run_next(&mut tasks), Some(key(1)));
        tasks.failed(&key(1));
        assert_eq!(tasks.active(), 0);
        assert!(tasks.pop_ready().is_none());

        tasks.submit(
            vec![task(3, 0, vec![Input::Held(key(0))]), task(4, 0, vec![Input::Held(key(3))])],
            |_| true,
            &me(),
        );
        assert_eq!(run_next(&mut tasks), Some(key(3)));
        let effects = tasks.lost_input(&key(3), key(0), None);
        assert_eq!(
            effects,
            vec![
                Effect::Missing { task: key(3), key: key(0), from: None },
                Effect::Missing { task: key(4), key: key(3), from: None },
            ]
        );
        assert_eq!(tasks.active(), 0);
    }
}

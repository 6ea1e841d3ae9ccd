//! The task threads: each pops the most urgent ready task, reads its held inputs from the
//! store, calls its op (panics caught), stores the value and reports it.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rask_graph::Args;

use super::Shared;
use super::outbox::Out;
use super::tasks::{Input, Runnable};
use crate::SchedulerError;
use crate::run::call_op;
use crate::wire::{Finished, FromWorker, TaskFailure};

/// A task thread's loop; returns when the worker stops.
pub(super) fn run(shared: &Shared) {
    while let Some(task) = next(shared) {
        execute(shared, task);
    }
}

/// How often a paused worker's task threads look at its memory again.
const PAUSE_POLL: Duration = Duration::from_millis(10);

fn next(shared: &Shared) -> Option<Runnable> {
    let mut tasks = shared.lock_tasks();
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return None;
        }
        // Paused (memory over the threshold): no new task while another one runs.
        let hold = tasks.running() > 0 && shared.monitor.paused();
        if !hold && let Some(task) = tasks.pop_ready() {
            shared.after_transition(&tasks, 0);
            return Some(task);
        }
        tasks = if hold {
            shared.work.wait_timeout(tasks, PAUSE_POLL).unwrap_or_else(|e| e.into_inner()).0
        } else {
            shared.work.wait(tasks).unwrap_or_else(|e| e.into_inner())
        };
    }
}

fn execute(shared: &Shared, Runnable { key, op, inputs }: Runnable) {
    let mut args = Args::with_capacity(inputs.len());
    for input in inputs {
        let lost = match input {
            Input::Value(v) => {
                args.push(v);
                continue;
            }
            Input::Held(k) => match shared.store.get(&k) {
                Some(v) => {
                    args.push(v);
                    continue;
                }
                // Released (or unreadable) since the task was queued.
                None => (k, None),
            },
            // Fetched inputs arrive as values; a task whose fetch failed never runs.
            Input::Remote { key, from } => (key, Some(from)),
        };
        let effects = {
            let mut tasks = shared.lock_tasks();
            let effects = tasks.lost_input(&key, lost.0, lost.1);
            shared.after_transition(&tasks, 0);
            effects
        };
        shared.apply(effects);
        return;
    }
    let start = Instant::now();
    let result = call_op(op.as_ref(), key, args).and_then(|value| {
        // A value that cannot leave this process could never be gathered or fetched: the
        // scheduler would wait for it forever. It is an error of the task instead.
        if value.is_portable() {
            Ok(value)
        } else {
            Err(SchedulerError::TaskFailed {
                key,
                op: op.name().to_string(),
                message: format!(
                    "returned a {} value, which cannot leave its process; ops run by worker processes must \
                     return portable values (not Value::Opaque)",
                    value.type_name()
                ),
            })
        }
    });
    let duration_us = start.elapsed().as_micros() as u64;
    match result {
        Ok(value) => {
            let nbytes = shared.store.put(key, value);
            {
                let mut tasks = shared.lock_tasks();
                let ready = tasks.finished(&key);
                shared.after_transition(&tasks, ready);
            }
            let _ = shared.outbox.send(Out::Finished(Finished { key, nbytes, duration_us }));
        }
        Err(error) => {
            {
                let mut tasks = shared.lock_tasks();
                tasks.failed(&key);
                shared.after_transition(&tasks, 0);
            }
            let failure = match error {
                SchedulerError::TaskFailed { key, op, message } => TaskFailure { key, op, message, panicked: false },
                SchedulerError::TaskPanicked { key, op, message } => TaskFailure { key, op, message, panicked: true },
                other => TaskFailure { key, op: op.name().to_string(), message: other.to_string(), panicked: false },
            };
            tracing::debug!(key = %failure.key, op = %failure.op, message = %failure.message, "task failed");
            shared.send(FromWorker::Failed(failure));
        }
    }
}

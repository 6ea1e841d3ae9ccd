//! What every executor does with one task: call its op, catch a panic, and name the task
//! in the error.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rask_graph::{Args, Key, Op, TaskGraph, TaskId, Value};

use crate::error::SchedulerError;
use crate::events::TaskRecorder;

/// Calls task `id`'s op on `args`; an error or a panic becomes a [`SchedulerError`] naming
/// the task's key and op.
#[inline]
pub fn call_task(graph: &TaskGraph, id: TaskId, args: Args) -> Result<Value, SchedulerError> {
    call_op(graph.op(id).as_ref(), graph.key(id), args)
}

/// Calls `op` on `args` as the task `key` (for executors that hold ops outside a
/// [`TaskGraph`], like a worker process); an error or a panic becomes a
/// [`SchedulerError`] naming the key and op, or the fused step that failed.
///
/// ```
/// use rask_graph::{args, ops::Inc, Group, Key, Token, Value};
/// use rask_scheduler::{call_op, SchedulerError};
/// let key = Key::single(Group::new("inc"), Token(1));
/// assert_eq!(call_op(&Inc, key, args![Value::I64(1)]).unwrap(), Value::I64(2));
/// let err = call_op(&Inc, key, args![Value::Str("x".into())]).unwrap_err();
/// assert!(matches!(err, SchedulerError::TaskFailed { ref op, .. } if op == "inc"));
/// ```
#[inline]
pub fn call_op(op: &dyn Op, key: Key, args: Args) -> Result<Value, SchedulerError> {
    match catch_unwind(AssertUnwindSafe(|| op.call(args))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            // An error of a task fused into this one names that task.
            let (key, op) = e.origin().unwrap_or((key, op.name()));
            Err(SchedulerError::TaskFailed { key, op: op.to_string(), message: e.message().to_string() })
        }
        Err(payload) => Err(SchedulerError::TaskPanicked {
            key,
            op: op.name().to_string(),
            message: panic_message(payload.as_ref()),
        }),
    }
}

/// [`call_task`], reported to `recorder` when someone listens.
#[inline]
pub fn call_recorded(
    recorder: Option<&mut TaskRecorder>,
    graph: &TaskGraph,
    id: TaskId,
    args: Args,
) -> Result<Value, SchedulerError> {
    match recorder {
        None => call_task(graph, id, args),
        Some(recorder) => {
            let start = recorder.started(graph.key(id));
            let result = call_task(graph, id, args);
            recorder.ended(graph.key(id), start, &result);
            result
        }
    }
}

/// The text of a caught panic.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// How many times each task's output will be read: once per argument naming it, plus
/// one for each time it is requested as an output (so outputs are never freed).
pub fn use_counts(graph: &TaskGraph, outputs: &[TaskId]) -> Result<Vec<u32>, SchedulerError> {
    let mut uses = vec![0u32; graph.len()];
    for t in graph.ids() {
        for d in graph.dependencies(t) {
            uses[d.index()] += 1;
        }
    }
    for o in outputs {
        let len = graph.len();
        let slot =
            uses.get_mut(o.index()).ok_or(rask_graph::GraphError::UnknownTaskId { id: o.0, len, referrer: None })?;
        *slot += 1;
    }
    Ok(uses)
}

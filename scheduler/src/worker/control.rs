//! The control loop on the scheduler connection: reads [`ToWorker`] messages and acts on
//! them until `Shutdown` or the end of the connection.

use std::sync::Arc;

use rask_graph::Op;

use super::answer::answer;
use super::outbox::Out;
use super::tasks::{Input, NewTask};
use super::{Ended, Shared};
use crate::wire::{
    Connection, EncodedOp, FromWorker, TaskFailure, TaskMsg, ToWorker, WireArg, WireError, read_message_uninit,
};

/// Serves the scheduler until it says `Shutdown` or `Restart`, or goes away (`Ok`); a
/// frame that is not a valid message is an error (the connection can no longer be trusted).
pub(super) fn run(conn: &mut Connection, shared: &Shared) -> Result<Ended, WireError> {
    loop {
        let message: ToWorker = match read_message_uninit(conn, shared.transfer_limit) {
            Ok(message) => message,
            Err(WireError::Closed) => {
                tracing::info!("the scheduler closed the connection");
                return Ok(Ended::Stopped);
            }
            Err(e @ (WireError::Io { .. } | WireError::Truncated { .. })) => {
                tracing::info!(error = %e, "the scheduler connection ended");
                return Ok(Ended::Stopped);
            }
            Err(e) => {
                tracing::error!(error = %e, "bad frame from the scheduler; stopping");
                return Err(e);
            }
        };
        match message {
            ToWorker::Compute { ops, tasks } => compute(shared, &ops, tasks),
            ToWorker::Gather(keys) => {
                for frame in answer(&shared.store, keys, shared.scheduler_limit, FromWorker::Values) {
                    let _ = shared.outbox.send(Out::Frame(frame));
                }
            }
            ToWorker::Release(keys) => {
                {
                    let mut tasks = shared.lock_tasks();
                    for key in &keys {
                        tasks.cancel(key);
                    }
                    shared.after_transition(&tasks, 0);
                }
                shared.store.release(&keys);
            }
            ToWorker::Steal(keys) => {
                let answers = {
                    let mut tasks = shared.lock_tasks();
                    let answers = keys.into_iter().map(|k| (k, tasks.cancel(&k))).collect();
                    shared.after_transition(&tasks, 0);
                    answers
                };
                shared.send(FromWorker::Stolen(answers));
            }
            ToWorker::Shutdown => {
                tracing::info!("shutdown requested by the scheduler");
                return Ok(Ended::Stopped);
            }
            ToWorker::Restart => {
                tracing::info!("restart requested by the scheduler");
                return Ok(Ended::Restart);
            }
        }
    }
}

/// Decodes the batch's ops, fails the tasks whose op is unknown, and queues the others.
fn compute(shared: &Shared, ops: &[EncodedOp], batch: Vec<TaskMsg>) {
    let ops: Vec<Result<Arc<dyn Op>, (String, String)>> = ops.iter().map(decode).collect();
    let mut tasks = Vec::with_capacity(batch.len());
    for task in batch {
        let op = match ops.get(task.op as usize) {
            Some(Ok(op)) => op.clone(),
            Some(Err((name, message))) => {
                shared.send(failure(&task, name.clone(), message.clone()));
                continue;
            }
            None => {
                let message = format!("op index {} is out of range: the batch has {} ops", task.op, ops.len());
                shared.send(failure(&task, format!("#{}", task.op), message));
                continue;
            }
        };
        let inputs = task
            .args
            .into_iter()
            .map(|arg| match arg {
                WireArg::Value(v) => Input::Value(v),
                WireArg::Held(k) => Input::Held(k),
                WireArg::Remote { key, from } => Input::Remote { key, from },
            })
            .collect();
        tasks.push(NewTask { key: task.key, op, inputs, priority: task.priority });
    }
    let effects = {
        let mut state = shared.lock_tasks();
        let before = state.active();
        let effects = state.submit(tasks, |k| shared.store.contains(k), &shared.me);
        let ready = state.active() - before;
        shared.after_transition(&state, ready);
        effects
    };
    shared.apply(effects);
}

fn failure(task: &TaskMsg, op: String, message: String) -> FromWorker {
    FromWorker::Failed(TaskFailure { key: task.key, op, message, panicked: false })
}

/// An op, or its name (as far as it can be read) and why this worker cannot run it.
fn decode(op: &EncodedOp) -> Result<Arc<dyn Op>, (String, String)> {
    op.decode().map_err(|e| {
        let name = op.name();
        let message = match &name {
            Some(name) if e.to_string().contains("unknown variant") => format!(
                "op '{name}' is not registered in this worker; build a worker binary that links the crate \
                 defining it (`fn main() {{ rask::worker::main() }}` plus `use your_ops_crate as _;`) and point \
                 RASK_WORKER_BIN at it"
            ),
            Some(name) => format!("cannot decode op '{name}': {e}"),
            None => format!("cannot decode the op: {e}"),
        };
        (name.unwrap_or_else(|| "<undecodable>".to_string()), message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_graph::ops::Inc;

    #[test]
    fn a_known_op_decodes_and_an_unknown_one_is_named() {
        assert_eq!(decode(&EncodedOp::encode(&Inc).unwrap()).unwrap().name(), "inc");
        let mut bytes = EncodedOp::encode(&Inc).unwrap().0;
        let at = bytes.windows(8).position(|w| w == b"rask.inc").unwrap();
        bytes[at..at + 8].copy_from_slice(b"myop.inc");
        let (name, message) = decode(&EncodedOp(bytes)).unwrap_err();
        assert_eq!(name, "myop.inc");
        assert!(message.contains("'myop.inc' is not registered") && message.contains("rask::worker::main()"));
        let (name, message) = decode(&EncodedOp(vec![0xc1, 0xff])).unwrap_err();
        assert_eq!(name, "<undecodable>");
        assert!(message.contains("cannot decode"), "{message}");
    }
}

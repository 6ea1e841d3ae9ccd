//! What the cluster's state machine asks of the outside world: the [`Comm`] seam.
//!
//! The state machine ([`super::Core`]) decides; a `Comm` carries the decisions out. The
//! shell queues the messages on the workers' and clients' links and publishes task events;
//! the tests round-trip every message through the wire encoding and record it.

use rask_graph::Key;

use super::core::{ClientId, WorkerId};
use crate::wire::{FromScheduler, ToWorker};

/// Where the state machine's decisions go.
pub(crate) trait Comm {
    /// Sends `message` to worker `worker`. A send that fails is the shell's to notice: it
    /// reports the worker lost afterwards.
    fn send_worker(&mut self, worker: WorkerId, message: ToWorker);

    /// Sends `message` to client `client`.
    fn send_client(&mut self, client: ClientId, message: FromScheduler);

    /// Task `key` of run `run` finished on `worker` after `duration_us` microseconds, with
    /// an output of `nbytes` bytes (for the event bus).
    fn task_finished(&mut self, run: u64, worker: WorkerId, key: Key, duration_us: u64, nbytes: u64) {
        let _ = (run, worker, key, duration_us, nbytes);
    }

    /// Task `key` of run `run` failed on `worker` (for the event bus).
    fn task_failed(&mut self, run: u64, worker: WorkerId, key: Key, message: &str) {
        let _ = (run, worker, key, message);
    }
}

//! What the process pool's state machine asks of the outside world: the [`Comm`] seam.
//!
//! The state machine ([`super::state::Run`]) decides; a `Comm` carries the decisions out.
//! The pool's shell writes the messages to the workers' sockets and publishes task events
//! on the bus; tests record them ([`super::state`]'s tests drive whole runs through a fake
//! cluster with no sockets), as HyperQueue's reactor is tested.

use rask_graph::Key;

use crate::wire::ToWorker;

/// Where the state machine's decisions go.
pub(crate) trait Comm {
    /// Sends `message` to worker `worker` (an index into the run's workers). A send that
    /// fails is the shell's to notice: it reports the worker lost afterwards.
    fn send(&mut self, worker: usize, message: ToWorker);

    /// Task `key` finished on `worker` after `duration_us` microseconds, with an output of
    /// `nbytes` bytes (for the event bus).
    fn task_finished(&mut self, worker: usize, key: Key, duration_us: u64, nbytes: u64) {
        let _ = (worker, key, duration_us, nbytes);
    }

    /// Task `key` failed on `worker` (for the event bus).
    fn task_failed(&mut self, worker: usize, key: Key, message: &str) {
        let _ = (worker, key, message);
    }
}

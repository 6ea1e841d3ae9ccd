//! The cluster scheduler: one long-lived state machine over every task of every client,
//! keyed by [`Key`](rask_graph::Key), and the I/O shell that serves it to workers and
//! clients. The process pool (`processes(n)`) and the `rask-scheduler` binary both run it:
//! one implementation of placement and recovery.
//!
//! - [`core`]: the pure state machine (no I/O, no clock), HyperQueue/tako style: reactor
//!   functions take a message and a [`Comm`](comm::Comm) that carries out what they decide.
//!   Tasks go through Dask's states (released, waiting, queued, no-worker, processing,
//!   memory, erred, forgotten); see `docs/cluster.md` for the transitions.
//! - [`comm`]: the seam between the state machine and the world.
//!
//! What it decides, in short: a submitted graph merges into the task table (equal keys
//! are shared across clients); a task runs once every input is in memory (or, chained,
//! on the worker that will hold every input); placement minimises the estimated start
//! time (the worker's occupancy from observed durations per task group, plus the bytes to
//! fetch at 100 MB/s); root-like tasks wait at the scheduler until a worker has room
//! (Dask's root-task queuing); idle workers steal tasks not yet started from busy ones,
//! the victim confirming each steal; a failed task errs its dependents while independent
//! work goes on; a lost worker costs only its own keys, recomputed if still needed.

pub(crate) mod comm;
pub(crate) mod core;
mod graph;
mod loss;
mod needs;
mod place;
mod replicas;
mod steal;
mod task;
mod worker;

#[cfg(test)]
mod tests;

pub(crate) use self::core::{ClientId, Core, CoreConfig, WorkerId};
pub use self::graph::submission;
pub(crate) use self::worker::WorkerSpec;

//! Errors of the scheduler crate.

use rask_graph::{GraphError, Key};

/// Why a computation did not return its results.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SchedulerError {
    /// A task's op returned an error. Nothing was started after it.
    #[error("task {key} (op '{op}') failed: {message}")]
    TaskFailed {
        /// The failed task.
        key: Key,
        /// Its op's name.
        op: String,
        /// The op's message.
        message: String,
    },
    /// A task's op panicked; the panic was caught. Nothing was started after it.
    #[error("task {key} (op '{op}') panicked: {message}")]
    TaskPanicked {
        /// The task.
        key: Key,
        /// Its op's name.
        op: String,
        /// The panic message.
        message: String,
    },
    /// The future was cancelled ([`Future::cancel`](crate::Future::cancel)).
    #[error("the future of {key} was cancelled")]
    Cancelled {
        /// Its key.
        key: Key,
    },
    /// The cluster was restarted ([`Client::restart`](crate::Client::restart)) before the
    /// task finished, or while its value was held: the value is gone.
    #[error("the cluster was restarted before {key} finished, or while its value was held; its value is gone")]
    Restarted {
        /// Its key.
        key: Key,
    },
    /// A future passed to a call belongs to another client (or to a connection of this
    /// client that was lost): its value is not where the call runs.
    #[error("future {key} belongs to another client or to a lost connection; submit it again through this client")]
    ForeignFuture {
        /// Its key.
        key: Key,
    },
    /// The client was closed ([`Client::close`](crate::Client::close)).
    #[error("the client of {address} was closed")]
    ClientClosed {
        /// Its scheduler's address.
        address: String,
    },
    /// A scheduler name (in code or in `RASK_SCHEDULER`) is not one rask knows.
    #[error(
        "invalid scheduler {value:?} (from {origin}): expected one of sync, threads, threads:N, processes, processes:N (N >= 1), tcp://HOST:PORT, tls://HOST:PORT, unix:///PATH, scheduler-file:PATH"
    )]
    InvalidSpec {
        /// The text given.
        value: String,
        /// Where it came from.
        origin: String,
    },
    /// The process pool lost every worker while tasks were left to run.
    #[error(
        "the process pool lost all {workers} of its workers ({reason}); no worker is left to run the remaining {remaining} tasks"
    )]
    NoWorkersLeft {
        /// Workers the run started with.
        workers: usize,
        /// Why the last one was lost.
        reason: String,
        /// Tasks not finished.
        remaining: usize,
    },
    /// A task was running on every one of several workers that died (a task that crashes
    /// its worker, or needs more memory than one has): it is not tried again, as Dask's
    /// `KilledWorker`.
    #[error(
        "task {key} (op '{op}') was running on {deaths} workers that died, the last one {reason}; it is not tried again: does it crash its worker, or need more memory than a worker has?"
    )]
    KilledWorker {
        /// The task.
        key: Key,
        /// Its op's name.
        op: String,
        /// How many workers died while running it.
        deaths: u32,
        /// Why the last one was lost.
        reason: String,
    },
    /// The `rask-worker` binary was not found where the process pool looks for it.
    #[error(
        "cannot find the {binary} binary: looked in {searched}; build it (`cargo build --bin {binary}`) or set {var} to its path"
    )]
    WorkerNotFound {
        /// The binary looked for (`rask-worker`, `rask-scheduler`).
        binary: String,
        /// The variable that names it.
        var: String,
        /// The places searched, in order.
        searched: String,
    },
    /// The process pool could not start or talk to its workers.
    #[error("process pool: {0}")]
    Pool(String),
    /// A value cannot move between processes (it exceeds the receiver's transfer limit):
    /// a task's output to gather, an input another worker needs, or a task's literal
    /// arguments. Nothing is retried: the same value would be refused again.
    #[error(
        "the value of task {key} cannot be moved: {reason}; raise the limit (ProcessesScheduler::with_transfer_limit, rask-worker --transfer-limit) or make the value smaller (smaller chunks or partitions, or reduce it on the workers)"
    )]
    Transfer {
        /// The task whose value (or, for literal arguments, whose input) was refused.
        key: Key,
        /// What was refused, and the limit.
        reason: String,
    },
    /// A scheduler was configured with a setting it cannot work with.
    #[error("invalid scheduler setting: {0}")]
    Config(String),
    /// The graph was malformed (an output id outside it, for example).
    #[error(transparent)]
    Graph(#[from] GraphError),
}

impl From<crate::wire::TaskError> for SchedulerError {
    fn from(error: crate::wire::TaskError) -> SchedulerError {
        use crate::wire::TaskError as E;
        match error {
            E::Failed { key, op, message } => SchedulerError::TaskFailed { key, op, message },
            E::Panicked { key, op, message } => SchedulerError::TaskPanicked { key, op, message },
            E::KilledWorker { key, op, deaths, reason } => SchedulerError::KilledWorker { key, op, deaths, reason },
            E::Transfer { key, reason } => SchedulerError::Transfer { key, reason },
            E::Restarted { key } => SchedulerError::Restarted { key },
            E::NoWorkers { lost, reason, remaining } => {
                SchedulerError::NoWorkersLeft { workers: lost, reason, remaining }
            }
        }
    }
}

//! Errors of the collections crate.

use rask_graph::{GraphError, ValueError};
use rask_scheduler::SchedulerError;

/// Why building or computing a collection failed. The `rask` facade re-exports this as
/// `rask::Error`: one error type for everything a user calls.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The graph could not be built.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The computation failed (a task error or panic, or a bad scheduler name).
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    /// A value of the wrong type.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// A result did not have the type the collection promised.
    #[error("result {what}: {source}")]
    Result {
        /// Which result.
        what: String,
        /// The mismatch.
        source: ValueError,
    },
    /// An array expression is ill-formed (shapes, chunks, axes); found when it is built.
    #[error("{0}")]
    Shape(String),
    /// A dataframe expression names a column the schema lacks, or combines types that do
    /// not fit; found when it is built.
    #[error("{0}")]
    Schema(String),
    /// An operation does not apply to an array's element type.
    #[error("{0}")]
    DType(String),
    /// Writing a file failed.
    #[error("cannot write {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
    /// A published dataset is not the collection asked for (see
    /// `collections/src/published.rs`).
    #[error("dataset {name:?}: {message}")]
    Dataset {
        /// The dataset's name.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// Reading a file failed, or it does not hold what it should (a bad header, too few
    /// bytes).
    #[error("cannot read {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

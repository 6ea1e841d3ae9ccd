//! The facade's error: one type for everything rask can fail at.

use rask_graph::{GraphError, ValueError};
use rask_scheduler::SchedulerError;

/// Anything rask can fail at, by layer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Building or transforming a graph (cycle, missing key, closure sent to a process).
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// Running it (a task's error or panic, with its key; a bad scheduler name).
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    /// A collection's own error (a result of the wrong type, a file that cannot be written).
    #[error(transparent)]
    Collection(rask_collections::Error),
    /// A value of the wrong type.
    #[error(transparent)]
    Value(#[from] ValueError),
}

impl From<rask_collections::Error> for Error {
    /// Flattens the collections crate's wrappers, so that matching on `Error::Scheduler`
    /// finds a task failure wherever it came from.
    fn from(e: rask_collections::Error) -> Self {
        match e {
            rask_collections::Error::Graph(g) => Error::Graph(g),
            rask_collections::Error::Scheduler(s) => Error::Scheduler(s),
            other => Error::Collection(other),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

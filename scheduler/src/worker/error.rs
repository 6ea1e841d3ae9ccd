//! Why a worker could not start or stopped abnormally.

use std::path::PathBuf;

use crate::wire::{Address, WireError};

/// Why [`run_worker`](super::run_worker) returned an error. A closed scheduler connection
/// is not one: the worker exits cleanly then.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The scheduler could not be reached (refused, no such socket, unresolvable host)
    /// before the death timeout.
    #[error("cannot reach the scheduler: {source}")]
    Connect {
        /// The scheduler's address.
        address: Address,
        /// What the socket said.
        #[source]
        source: WireError,
    },
    /// The scheduler refused the handshake (wrong token or protocol version), or the
    /// peer at that address does not speak rask's protocol.
    #[error("the scheduler at {address} refused this worker: {source}")]
    Handshake {
        /// The scheduler's address.
        address: Address,
        /// The refusal.
        #[source]
        source: WireError,
    },
    /// The scheduler file could not be read before the death timeout.
    #[error("{0}")]
    SchedulerFile(String),
    /// The local directory could not be created.
    #[error("cannot create the worker's directory in {path}: {source}")]
    LocalDir {
        /// The local dir given.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificates could not be loaded.
    #[error("{0}")]
    Tls(#[source] WireError),
    /// The data server could not listen.
    #[error("cannot start the data server: {0}")]
    DataServer(#[source] WireError),
    /// A worker thread could not be started.
    #[error("cannot start a worker thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The scheduler connection failed other than by closing (a malformed or oversized
    /// frame, for example); the worker stopped.
    #[error("the connection to the scheduler failed: {0}")]
    Connection(#[source] WireError),
}

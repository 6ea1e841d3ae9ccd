//! The wire protocol between rask processes: the process pool's scheduler and its
//! `rask-worker`s today, the distributed scheduler, its workers and clients later.
//!
//! - [`Address`], [`Listener`], [`Connection`]: TCP (`tcp://host:port`) or Unix sockets
//!   (`unix:///path`), one blocking stream type over both.
//! - [`frame`]: length-delimited frames with a size limit; a malformed, truncated or
//!   oversized frame is a [`WireError`] for that connection only. A message frame is a
//!   MessagePack header followed by raw buffers: array blocks (little-endian elements plus
//!   dtype and shape), record batches (Arrow IPC) and byte strings are written from their
//!   own memory and read straight into typed memory, never element by element.
//! - [`handshake`]: the first frame of every connection carries a magic number, the
//!   protocol version and the shared-secret token; a mismatch is refused on both sides
//!   with a message saying which.
//! - [`message`]: the serde-encoded control messages between a scheduler and its workers
//!   ([`ToWorker`], [`FromWorker`]) and between workers ([`PeerRequest`], [`PeerReply`]),
//!   with task values inside them;
//! - [`client`]: the messages between a client and a scheduler ([`ToScheduler`],
//!   [`FromScheduler`]).
//!
//! ```
//! use rask_scheduler::wire::{Address, Listener, Connection, ToWorker, read_message, write_message};
//! let listener = Listener::bind(&"tcp://127.0.0.1:0".parse::<Address>()?)?;
//! let address = listener.address().clone();
//! let client = std::thread::spawn(move || -> Result<(), rask_scheduler::wire::WireError> {
//!     let mut conn = Connection::connect(&address)?;
//!     write_message(&mut conn, &ToWorker::Release(vec![]))
//! });
//! let mut conn = listener.accept()?;
//! let message: ToWorker = read_message(&mut conn, rask_scheduler::wire::MAX_FRAME_BYTES)?;
//! assert!(matches!(message, ToWorker::Release(keys) if keys.is_empty()));
//! client.join().unwrap()?;
//! # Ok::<(), rask_scheduler::wire::WireError>(())
//! ```

mod address;
pub mod client;
mod decode;
mod encode;
mod error;
pub mod frame;
pub mod handshake;
mod layout;
mod limit;
mod mapped;
pub mod message;
mod packed;
mod tls;
mod uninit;

pub use address::{Address, Connection, Listener};
pub use client::{
    ClusterInfo, FromScheduler, Placement, Submission, SubmitArg, SubmitOp, SubmitTask, TaskError, ToClient,
    ToScheduler, WorkerSummary,
};
pub use encode::{Encoded, encode_message};
pub use error::WireError;
pub use frame::{MAX_FRAME_BYTES, MAX_HEADER_BYTES, read_message, read_message_uninit, write_message};
pub use handshake::{
    HANDSHAKE_TIMEOUT, Hello, PROTOCOL_VERSION, Role, Welcome, WorkerInfo, accept_handshake, accept_handshake_within,
    connect_handshake,
};
pub use limit::transfer_limit;
pub use mapped::{Lease, MappedFrame, MappedReader, mapped_reads_work};
pub use message::{
    EncodedOp, Finished, FromWorker, Heartbeat, Lookup, PeerReply, PeerRequest, Priority, TaskFailure, TaskMsg,
    ToWorker, WireArg,
};
pub use tls::{TlsFiles, configure_tls};
pub use uninit::{ReadUninit, Zeroing};

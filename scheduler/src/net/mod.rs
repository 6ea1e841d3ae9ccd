//! The I/O shell every rask process shares around its pure state machines: connections
//! that never block their owner, and a listener that no caller can stall.
//!
//! - [`Link`]: one peer's connection, with a reader thread turning frames into
//!   [`Incoming`] messages on the owner's channel and a writer thread draining a queue of
//!   frames encoded by the owner. Sending only encodes and queues, so a peer that stops
//!   reading (frozen, swapped out, on a cut link) never blocks the owner's loop, and the
//!   owner's liveness checks ([`Link::silent_for`], which counts every byte that arrives,
//!   not only whole messages) keep running whatever the socket does.
//! - [`Acceptor`]: accepts connections on one thread and runs each handshake on a thread of
//!   its own within one overall deadline, with a cap on handshakes in progress (beyond it
//!   the oldest is dropped, so a flood of silent callers cannot lock out a real worker).
//!   Only completed handshakes reach the owner; refusals are counted and logged at a
//!   bounded rate, never queued.
//!
//! The process pool uses both today, the worker's data server the acceptor; the
//! distributed scheduler is built on the same two pieces.

mod acceptor;
mod link;

pub(crate) use acceptor::{AcceptConfig, Accepted, Acceptor};
pub(crate) use link::{Incoming, Link};

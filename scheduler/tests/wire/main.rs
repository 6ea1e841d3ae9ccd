//! The wire protocol end to end: value round trips (in memory and over real sockets),
//! malformed and hostile frames, and the handshake's refusals.

mod alloc;
mod handshake;
mod malformed;
mod values;

use rask_scheduler::wire::{MAX_FRAME_BYTES, WireError, read_message, write_message};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The bytes of `message` as one frame.
pub fn frame_of<M: Serialize + ?Sized>(message: &M) -> Vec<u8> {
    let mut out = Vec::new();
    write_message(&mut out, message).expect("encodes");
    out
}

/// `message` written to a frame and read back.
pub fn round_trip<M: Serialize + DeserializeOwned>(message: &M) -> M {
    let bytes = frame_of(message);
    read(&bytes).expect("decodes")
}

/// Decodes one frame from `bytes`.
pub fn read<M: DeserializeOwned>(bytes: &[u8]) -> Result<M, WireError> {
    read_message(&mut &bytes[..], MAX_FRAME_BYTES)
}

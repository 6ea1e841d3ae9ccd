//! The wire protocol end to end: value round trips (in memory and over real sockets),
//! malformed and hostile frames, and the handshake's refusals.

mod alloc;
mod handshake;
mod malformed;
mod values;

use rask_scheduler::wire::{MAX_FRAME_BYTES, WireError, read_message, read_message_uninit, write_message};
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

/// Decodes one frame from `bytes`, both into zeroed buffers and into buffers not
/// initialized first, which must agree.
pub fn read<M: DeserializeOwned>(bytes: &[u8]) -> Result<M, WireError> {
    let zeroed = read_message(&mut &bytes[..], MAX_FRAME_BYTES);
    let uninit = read_message_uninit::<_, M>(&mut &bytes[..], MAX_FRAME_BYTES);
    match (&zeroed, &uninit) {
        (Ok(_), Ok(_)) => {}
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "both readers fail alike"),
        _ => panic!("the readers disagree: one failed ({:?})", zeroed.as_ref().err().or(uninit.as_ref().err())),
    }
    zeroed
}

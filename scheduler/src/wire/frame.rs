//! Length-delimited frames: an 8-byte little-endian length, then that many bytes of
//! MessagePack.
//!
//! A reader never trusts the length: it is checked against a limit before anything is
//! read, and the payload buffer grows with the bytes that actually arrive, so a lying
//! header costs no memory. End of stream between frames is [`WireError::Closed`]; inside
//! one it is [`WireError::Truncated`].

use std::io::{ErrorKind, Read, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::WireError;

/// The default limit on one frame's payload: 2 GiB.
pub const MAX_FRAME_BYTES: u64 = 1 << 31;

/// Encodes `message` and writes it as one frame.
///
/// ```
/// use rask_scheduler::wire::{read_message, write_message, MAX_FRAME_BYTES};
/// let mut buf = Vec::new();
/// write_message(&mut buf, &vec![1u32, 2, 3])?;
/// let back: Vec<u32> = read_message(&mut buf.as_slice(), MAX_FRAME_BYTES)?;
/// assert_eq!(back, vec![1, 2, 3]);
/// # Ok::<(), rask_scheduler::wire::WireError>(())
/// ```
pub fn write_message<W: Write, M: Serialize + ?Sized>(writer: &mut W, message: &M) -> Result<(), WireError> {
    let payload = rmp_serde::to_vec(message).map_err(|e| WireError::Encode(e.to_string()))?;
    write_frame(writer, &payload)
}

/// Reads one frame of at most `max` bytes and decodes it as `M`.
pub fn read_message<R: Read, M: DeserializeOwned>(reader: &mut R, max: u64) -> Result<M, WireError> {
    let payload = read_frame(reader, max)?;
    rmp_serde::from_slice(&payload).map_err(|e| WireError::Malformed(e.to_string()))
}

/// Writes `payload` as one frame.
pub fn write_frame<W: Write>(writer: &mut W, payload: &[u8]) -> Result<(), WireError> {
    let len = (payload.len() as u64).to_le_bytes();
    writer
        .write_all(&len)
        .and_then(|()| writer.write_all(payload))
        .and_then(|()| writer.flush())
        .map_err(|e| WireError::io("cannot send a frame", e))
}

/// Reads one frame's payload, of at most `max` bytes.
///
/// ```
/// use rask_scheduler::wire::{frame::read_frame, WireError};
/// let oversized = 100u64.to_le_bytes();
/// assert!(matches!(read_frame(&mut &oversized[..], 10), Err(WireError::Oversized { len: 100, max: 10 })));
/// let truncated = [5u8, 0, 0, 0, 0, 0, 0, 0, 1, 2];
/// assert!(matches!(read_frame(&mut &truncated[..], 10), Err(WireError::Truncated { expected: 5, got: 2 })));
/// ```
pub fn read_frame<R: Read>(reader: &mut R, max: u64) -> Result<Vec<u8>, WireError> {
    let mut header = [0u8; 8];
    let got = read_full(reader, &mut header)?;
    if got == 0 {
        return Err(WireError::Closed);
    }
    if got < header.len() {
        return Err(WireError::Truncated { expected: 8, got: got as u64 });
    }
    let len = u64::from_le_bytes(header);
    if len > max {
        return Err(WireError::Oversized { len, max });
    }
    let mut payload = Vec::with_capacity(len.min(1 << 20) as usize);
    let got = reader.take(len).read_to_end(&mut payload).map_err(|e| WireError::io("cannot read a frame", e))?;
    if (got as u64) < len {
        return Err(WireError::Truncated { expected: len, got: got as u64 });
    }
    Ok(payload)
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, WireError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if filled == 0 && e.kind() == ErrorKind::ConnectionReset => return Ok(0),
            Err(e) => return Err(WireError::io("cannot read a frame", e)),
        }
    }
    Ok(filled)
}

//! Length-delimited frames: an 8-byte little-endian length, then that many bytes.
//!
//! [`write_frame`] and [`read_frame`] carry opaque payloads (the handshake uses them);
//! [`write_message`] and [`read_message`] carry messages. Both begin with the same 8-byte
//! length. A message frame is laid out as follows (all integers little-endian):
//!
//! ```text
//! u64  body length L: every byte after this field (at most the reader's limit)
//! u32  number of buffers B
//! u32  header length H
//! H    MessagePack header: the message, with placeholders for out-of-band payloads
//! 16B  buffer table: per buffer a kind code (u8), 7 zero bytes, its length (u64)
//! pad  zeros up to a multiple of 8 bytes from the frame's start
//! then each buffer's bytes, followed by zeros up to a multiple of 8
//! ```
//!
//! Buffers are the raw little-endian bytes of array blocks (kinds 0 to 4: bool, int32,
//! int64, float32, float64, in C or Fortran order as the placeholder says), byte strings
//! (5) and Arrow IPC streams (6); payloads of at most [`rask_graph::oob::INLINE_MAX`]
//! bytes stay inline in the header instead. See [`rask_graph::oob`].
//!
//! A reader never trusts the length: it is checked against a limit before anything is
//! read (the receiver's limit on the whole frame, [`MAX_HEADER_BYTES`] on the header), and
//! a buffer's memory is reserved as address space that the system backs only as bytes
//! arrive, so a lying length costs no memory. End of stream between frames is [`WireError::Closed`]; inside one it is
//! [`WireError::Truncated`].

use std::io::{ErrorKind, Read, Write};

use super::WireError;
pub use super::decode::{read_message, read_message_uninit};
pub use super::encode::write_message;

/// The limit on one opaque frame ([`read_frame`]), and a message limit for callers with
/// nothing better to go by: 2 GiB. Connections between rask processes agree on larger
/// limits in their handshake ([`transfer_limit`](super::transfer_limit)).
pub const MAX_FRAME_BYTES: u64 = 1 << 31;

/// The limit on a message frame's header (its MessagePack part and buffer table), whatever
/// the limit on the whole frame: 2 GiB. Large values travel as buffers after the header,
/// which only the frame's limit bounds, so a value of any size the receiver accepts can
/// move, while the part that is decoded into structures stays bounded.
pub const MAX_HEADER_BYTES: u64 = 1 << 31;

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
    let payload = read_to_vec(reader, len)?;
    if (payload.len() as u64) < len {
        return Err(WireError::Truncated { expected: len, got: payload.len() as u64 });
    }
    Ok(payload)
}

/// Reads up to `len` bytes (fewer if the stream ends), growing the buffer with the bytes
/// that arrive.
pub(crate) fn read_to_vec<R: Read>(reader: &mut R, len: u64) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(len.min(1 << 20) as usize);
    reader.take(len).read_to_end(&mut out).map_err(|e| WireError::io("cannot read a frame", e))?;
    Ok(out)
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
pub(crate) fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, WireError> {
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

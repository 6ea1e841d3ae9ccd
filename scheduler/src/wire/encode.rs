//! Writing a message frame: the MessagePack header, then the values' buffers straight
//! from their own memory with vectored writes.
//!
//! Encoding and writing are two steps ([`encode_message`], [`Encoded::write_to`]) so that
//! a sender can encode on its own thread, where an error belongs to the message (an op
//! that cannot leave its process, a value larger than the receiver takes), and leave the
//! writing, which may wait on a slow peer, to a thread of the connection's own.

use std::io::{ErrorKind, IoSlice, Write};

use rask_graph::oob::{self, SendBuffer};
use serde::Serialize;

use super::frame::MAX_HEADER_BYTES;
use super::layout::{ENTRY, Entry, PREFIX, ZEROS, padding};
use super::{Connection, WireError};

/// A message encoded as one frame, ready to write: its head (length prefix, MessagePack
/// header, buffer table) and the buffers, which share the values' own memory (an array
/// block or record batch is not copied to be encoded).
#[derive(Debug)]
pub struct Encoded {
    head: Vec<u8>,
    buffers: Vec<SendBuffer>,
}

impl Encoded {
    /// The frame's size in bytes, length prefix included.
    pub fn len(&self) -> u64 {
        8 + self.body()
    }

    /// Whether the frame is empty (never: it always has its prefix).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Bytes after the length prefix.
    fn body(&self) -> u64 {
        u64::from_le_bytes(self.head[..8].try_into().expect("8 bytes"))
    }

    /// Writes the frame, resuming after partial writes.
    pub fn write_to<W: Write + ?Sized>(&self, writer: &mut W) -> Result<(), WireError> {
        self.write_rest(writer, 0)
    }

    /// Writes the frame but its first `sent` bytes (sent already, by
    /// [`Encoded::send_now`]).
    pub fn write_rest<W: Write + ?Sized>(&self, writer: &mut W, sent: u64) -> Result<(), WireError> {
        let mut slices = self.slices();
        let mut slices = &mut slices[..];
        IoSlice::advance_slices(&mut slices, sent as usize);
        write_all_vectored(writer, slices)
            .and_then(|()| writer.flush())
            .map_err(|e| WireError::io("cannot send a frame", e))
    }

    /// Sends as much of the frame as `conn` takes without waiting; returns the bytes sent
    /// (the whole [`Encoded::len`] when done). A full socket sends nothing and is not an
    /// error.
    pub fn send_now(&self, conn: &Connection) -> Result<u64, WireError> {
        let mut slices = self.slices();
        let mut slices = &mut slices[..];
        let mut sent = 0u64;
        while !slices.is_empty() {
            match conn.send_now(slices) {
                Ok(0) => break,
                Ok(n) => {
                    sent += n as u64;
                    IoSlice::advance_slices(&mut slices, n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(WireError::io("cannot send a frame", e)),
            }
        }
        Ok(sent)
    }

    /// The frame's head, and where the rest of its bytes lie in this process's memory, in
    /// order (`(0, n)`: `n` bytes of zero padding), for [`MappedFrame`](super::MappedFrame).
    pub(crate) fn layout(&self) -> (Vec<u8>, Vec<(u64, u64)>) {
        let mut regions = Vec::with_capacity(2 * self.buffers.len());
        for buffer in &self.buffers {
            for piece in buffer.pieces().into_iter().filter(|p| !p.is_empty()) {
                regions.push((piece.as_ptr() as u64, piece.len() as u64));
            }
            let pad = padding(buffer.len() as u64);
            if pad > 0 {
                regions.push((0, pad));
            }
        }
        (self.head.clone(), regions)
    }

    /// The frame's bytes in order: the head, then each buffer's pieces and padding.
    fn slices(&self) -> Vec<IoSlice<'_>> {
        let mut slices = Vec::with_capacity(1 + 2 * self.buffers.len());
        slices.push(IoSlice::new(&self.head));
        for buffer in &self.buffers {
            slices.extend(buffer.pieces().into_iter().map(IoSlice::new));
            let pad = padding(buffer.len() as u64) as usize;
            if pad > 0 {
                slices.push(IoSlice::new(&ZEROS[..pad]));
            }
        }
        slices
    }
}

/// Encodes `message` as one frame (layout in [`frame`](super::frame)) whose body is at
/// most `max` bytes, the receiver's limit: array blocks, byte strings and record batches
/// larger than [`oob::INLINE_MAX`] become raw buffers after the header, sharing the
/// values' memory. A larger body is [`WireError::Oversized`], and so is a header (the
/// MessagePack part) over [`MAX_HEADER_BYTES`]; nothing is sent either way.
///
/// ```
/// use rask_scheduler::wire::{encode_message, WireError};
/// let frame = encode_message(&vec![1u32, 2, 3], 1 << 20)?;
/// let mut bytes = Vec::new();
/// frame.write_to(&mut bytes)?;
/// assert_eq!(bytes.len() as u64, frame.len());
/// assert!(matches!(encode_message(&vec![0u8; 100], 16), Err(WireError::Oversized { max: 16, .. })));
/// # Ok::<(), WireError>(())
/// ```
pub fn encode_message<M: Serialize + ?Sized>(message: &M, max: u64) -> Result<Encoded, WireError> {
    let mut head = Vec::with_capacity(256);
    head.resize(PREFIX, 0);
    let (encoded, buffers) = oob::collect_buffers(|| rmp_serde::encode::write(&mut head, message));
    encoded.map_err(|e| WireError::Encode(e.to_string()))?;
    let header_len = (head.len() - PREFIX) as u64;
    let table = (buffers.len() * ENTRY) as u64;
    if header_len + table > MAX_HEADER_BYTES {
        return Err(WireError::Oversized { len: header_len + table, max: MAX_HEADER_BYTES });
    }
    let count = u32::try_from(buffers.len()).map_err(|_| WireError::Encode("more than 2^32 buffers".into()))?;
    head.reserve(buffers.len() * ENTRY + 8);
    for buffer in &buffers {
        Entry { kind: buffer.kind().code(), len: buffer.len() as u64 }.encode(&mut head);
    }
    head.resize(head.len() + padding(head.len() as u64) as usize, 0);
    let body = (head.len() - 8) as u64 + buffers.iter().map(|b| b.len() as u64 + padding(b.len() as u64)).sum::<u64>();
    if body > max {
        return Err(WireError::Oversized { len: body, max });
    }
    head[..8].copy_from_slice(&body.to_le_bytes());
    head[8..12].copy_from_slice(&count.to_le_bytes());
    head[12..16].copy_from_slice(&(header_len as u32).to_le_bytes());
    Ok(Encoded { head, buffers })
}

/// Encodes `message` and writes it as one frame: [`encode_message`] with no limit but
/// the header's, then [`Encoded::write_to`].
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
    encode_message(message, u64::MAX)?.write_to(writer)
}

/// Writes every slice, resuming after partial writes.
fn write_all_vectored<W: Write + ?Sized>(writer: &mut W, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    while !slices.is_empty() {
        match writer.write_vectored(slices) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

//! Writing a message frame: the MessagePack header, then the values' buffers straight
//! from their own memory with vectored writes.

use std::io::{ErrorKind, IoSlice, Write};

use rask_graph::oob;
use serde::Serialize;

use super::WireError;
use super::frame::MAX_FRAME_BYTES;
use super::layout::{ENTRY, Entry, PREFIX, ZEROS, padding};

/// Encodes `message` and writes it as one frame (layout in [`frame`](super::frame)): array
/// blocks, byte strings and record batches larger than [`oob::INLINE_MAX`] travel as
/// raw buffers after the header, written from the values' own memory. A frame larger
/// than [`MAX_FRAME_BYTES`] is refused with [`WireError::Oversized`] before anything is
/// sent.
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
    let mut head = Vec::with_capacity(256);
    head.resize(PREFIX, 0);
    let (encoded, buffers) = oob::collect_buffers(|| rmp_serde::encode::write(&mut head, message));
    encoded.map_err(|e| WireError::Encode(e.to_string()))?;
    let header_len = head.len() - PREFIX;
    let header_len = u32::try_from(header_len)
        .map_err(|_| WireError::Encode(format!("message header of {header_len} bytes exceeds 4 GiB")))?;
    let count = u32::try_from(buffers.len()).map_err(|_| WireError::Encode("more than 2^32 buffers".into()))?;
    head.reserve(buffers.len() * ENTRY + 8);
    for buffer in &buffers {
        Entry { kind: buffer.kind().code(), len: buffer.len() as u64 }.encode(&mut head);
    }
    head.resize(head.len() + padding(head.len() as u64) as usize, 0);
    let body = (head.len() - 8) as u64 + buffers.iter().map(|b| b.len() as u64 + padding(b.len() as u64)).sum::<u64>();
    if body > MAX_FRAME_BYTES {
        return Err(WireError::Oversized { len: body, max: MAX_FRAME_BYTES });
    }
    head[..8].copy_from_slice(&body.to_le_bytes());
    head[8..12].copy_from_slice(&count.to_le_bytes());
    head[12..16].copy_from_slice(&header_len.to_le_bytes());
    let mut slices = Vec::with_capacity(1 + 2 * buffers.len());
    slices.push(IoSlice::new(&head));
    for buffer in &buffers {
        slices.extend(buffer.pieces().into_iter().map(IoSlice::new));
        let pad = padding(buffer.len() as u64) as usize;
        if pad > 0 {
            slices.push(IoSlice::new(&ZEROS[..pad]));
        }
    }
    write_all_vectored(writer, &mut slices)
        .and_then(|()| writer.flush())
        .map_err(|e| WireError::io("cannot send a frame", e))
}

/// Writes every slice, resuming after partial writes.
fn write_all_vectored<W: Write>(writer: &mut W, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
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

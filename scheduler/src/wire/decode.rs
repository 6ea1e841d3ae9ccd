//! Reading a message frame: every length is checked against the limit and the frame's
//! remaining bytes before anything is allocated, buffers are read straight into typed
//! memory, and the header is decoded with them (layout in [`frame`](super::frame)).

use std::io::Read;

use rask_graph::oob::{self, BufferKind, FillError, RecvBuffer};
use serde::de::DeserializeOwned;

use super::WireError;
use super::frame::{MAX_HEADER_BYTES, read_full, read_to_vec};
use super::layout::{ENTRY, Entry, PREFIX, padding};
use super::uninit::{ReadUninit, Zeroing, read_full_uninit};

/// How deeply a header may nest (arrays and maps): deep enough for any message, shallow
/// enough that decoding never exhausts a thread's stack.
const MAX_DEPTH: usize = 96;

/// Reads one frame of at most `max` body bytes and decodes it as `M`.
///
/// End of stream before the frame is [`WireError::Closed`], inside it
/// [`WireError::Truncated`]; a length over `max`, or a header (MessagePack and buffer
/// table) over [`MAX_HEADER_BYTES`], is [`WireError::Oversized`]; anything
/// that does not add up (lengths, buffer kinds and indices, shapes, the MessagePack
/// itself) is [`WireError::Malformed`]. Memory is held only for the bytes that actually
/// arrive.
///
/// ```
/// use rask_scheduler::wire::{read_message, WireError, MAX_FRAME_BYTES};
/// let mut frame = 1u64 << 40;
/// let lie = frame.to_le_bytes();
/// assert!(matches!(read_message::<_, u32>(&mut &lie[..], MAX_FRAME_BYTES), Err(WireError::Oversized { .. })));
/// frame = 3;
/// let short = frame.to_le_bytes();
/// assert!(matches!(read_message::<_, u32>(&mut &short[..], MAX_FRAME_BYTES), Err(WireError::Malformed(_))));
/// assert!(matches!(read_message::<_, u32>(&mut &[][..], MAX_FRAME_BYTES), Err(WireError::Closed)));
/// ```
pub fn read_message<R: Read, M: DeserializeOwned>(reader: &mut R, max: u64) -> Result<M, WireError> {
    read_message_uninit(&mut Zeroing(reader), max)
}

/// As [`read_message`], from a reader that writes buffers without their being zeroed
/// first (a [`Connection`](super::Connection), a mapped frame's reader): a large value is
/// written once, by the copy that receives it.
pub fn read_message_uninit<R: ReadUninit, M: DeserializeOwned>(reader: &mut R, max: u64) -> Result<M, WireError> {
    let mut prefix = [0u8; PREFIX];
    let got = read_full(reader, &mut prefix)?;
    if got == 0 {
        return Err(WireError::Closed);
    }
    if got < 8 {
        return Err(WireError::Truncated { expected: 8, got: got as u64 });
    }
    let body = u64::from_le_bytes(prefix[..8].try_into().expect("8 bytes"));
    if body > max {
        return Err(WireError::Oversized { len: body, max });
    }
    if body < (PREFIX - 8) as u64 {
        return Err(WireError::Malformed(format!("frame body of {body} bytes is shorter than its 8-byte prefix")));
    }
    if got < PREFIX {
        return Err(WireError::Truncated { expected: body, got: (got - 8) as u64 });
    }
    let count = u32::from_le_bytes(prefix[8..12].try_into().expect("4 bytes")) as u64;
    let header_len = u32::from_le_bytes(prefix[12..16].try_into().expect("4 bytes")) as u64;
    if header_len + count * ENTRY as u64 > MAX_HEADER_BYTES {
        return Err(WireError::Oversized { len: header_len + count * ENTRY as u64, max: MAX_HEADER_BYTES });
    }
    let head_len = PREFIX as u64 + header_len + count * ENTRY as u64;
    let head_len = head_len + padding(head_len);
    if head_len - 8 > body {
        return Err(WireError::Malformed(format!(
            "a header of {header_len} bytes and {count} buffers do not fit a frame body of {body} bytes"
        )));
    }
    let mut consumed = head_len - 8;
    let rest = head_len - PREFIX as u64;
    let head = read_to_vec(reader, rest)?;
    if (head.len() as u64) < rest {
        return Err(WireError::Truncated { expected: body, got: (PREFIX - 8 + head.len()) as u64 });
    }
    let (header, table) = head.split_at(header_len as usize);
    let mut entries = Vec::with_capacity(count as usize);
    for (i, raw) in table.chunks_exact(ENTRY).take(count as usize).enumerate() {
        let entry = Entry::decode(raw);
        let kind = BufferKind::from_u8(entry.kind)
            .ok_or_else(|| WireError::Malformed(format!("buffer {i} has unknown kind {}", entry.kind)))?;
        let padded = entry.len.checked_add(padding(entry.len)).filter(|&p| p <= body - consumed).ok_or_else(|| {
            WireError::Malformed(format!(
                "buffer {i} of {} bytes overruns the frame ({} bytes left)",
                entry.len,
                body - consumed
            ))
        })?;
        consumed += padded;
        entries.push((kind, entry.len));
    }
    if consumed != body {
        return Err(WireError::Malformed(format!("frame body of {body} bytes, its parts add up to {consumed}")));
    }
    let mut received = head_len - 8;
    let mut buffers = Vec::with_capacity(entries.len());
    for (i, &(kind, len)) in entries.iter().enumerate() {
        let buffer = RecvBuffer::fill_uninit(kind, len as usize, |piece| {
            let wanted = piece.len();
            let got = read_full_uninit(reader, piece).map_err(|e| WireError::io("cannot read a frame", e))?;
            received += got.len() as u64;
            if got.len() < wanted {
                return Err(WireError::Truncated { expected: body, got: received });
            }
            Ok(got)
        })
        .map_err(|e| match e {
            FillError::Read(e) => e,
            FillError::Invalid(why) => WireError::Malformed(format!("buffer {i}: {why}")),
        })?;
        let mut pad = [0u8; 8];
        let pad = &mut pad[..padding(len) as usize];
        let got = read_full(reader, pad)?;
        received += got as u64;
        if got < pad.len() {
            return Err(WireError::Truncated { expected: body, got: received });
        }
        buffers.push(buffer);
    }
    let (message, unused) = oob::with_buffers(buffers, || {
        let mut de = rmp_serde::Deserializer::from_read_ref(header);
        de.set_max_depth(MAX_DEPTH);
        M::deserialize(&mut de).map_err(|e| WireError::Malformed(e.to_string()))
    });
    let message = message?;
    if unused > 0 {
        return Err(WireError::Malformed(format!("{unused} of {count} buffers are not used by any value")));
    }
    Ok(message)
}

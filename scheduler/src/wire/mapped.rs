//! Frames left in the sender's memory, for a receiver on the same host to copy from there
//! itself (`process_vm_readv`): one copy, from the sender's pages into the receiver's,
//! where a socket makes two (into the kernel and out) and wakes both sides for every
//! socket buffer's worth. See [`MappedFrame`].

use std::io::Read;
use std::mem::MaybeUninit;

use serde::{Deserialize, Serialize};

use super::Encoded;
use super::uninit::{self, ReadUninit};

/// A message frame whose bytes stay in its sender's process: the frame's head (length
/// prefix, MessagePack header, buffer table) travels, and the frame continues with the
/// bytes at `regions` in process `pid` (a region at address 0 stands for zeros: padding).
/// Reading it back ([`MappedFrame::reader`]) gives exactly the bytes of the frame.
///
/// A process id names a process only within its pid namespace, and two processes that
/// share a loopback interface may not share one (containers of one pod): the reader first
/// checks `proof`, a random word the sender holds at a known address, so that it never
/// copies from another process that happens to have the same id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedFrame {
    /// The sender's process id.
    pub pid: u32,
    /// What the sender keeps the memory under, until released.
    pub lease: u64,
    /// Where the sender holds a random word, and the word.
    pub proof: (u64, u64),
    /// The frame's first bytes.
    #[serde(with = "super::message::serde_bytes_compat")]
    pub head: Vec<u8>,
    /// The rest of the frame: `(address, length)` in the sender's memory, in order.
    pub regions: Vec<(u64, u64)>,
}

/// What a sender keeps while a [`MappedFrame`] is out: the frame, and the proof word.
#[derive(Debug)]
pub struct Lease {
    frame: Encoded,
    proof: Box<u64>,
}

impl Lease {
    /// Keeps `frame` for a mapped answer.
    pub fn new(frame: Encoded) -> Lease {
        use std::hash::{BuildHasher, Hasher};
        let mut random = std::collections::hash_map::RandomState::new().build_hasher();
        random.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
        );
        Lease { frame, proof: Box::new(random.finish() | 1) }
    }

    /// The frame as a mapped frame of this process, under `lease`.
    pub fn mapped(&self, lease: u64) -> MappedFrame {
        let (head, regions) = self.frame.layout();
        let proof = (&*self.proof as *const u64 as u64, *self.proof);
        MappedFrame { pid: std::process::id(), lease, proof, head, regions }
    }
}

impl MappedFrame {
    /// The frame's bytes: the head, then the sender's memory, copied straight into the
    /// buffers the decoder fills. An error if process `pid` is not the sender (its proof
    /// word is not where the frame says).
    pub fn reader(&self) -> std::io::Result<MappedReader<'_>> {
        let mut word = [MaybeUninit::uninit(); 8];
        let word = uninit::read_process(self.pid, self.proof.0, &mut word)?;
        if *word != self.proof.1.to_ne_bytes() {
            return Err(std::io::Error::other(format!(
                "process {} is not the peer that sent the frame (another pid namespace?)",
                self.pid
            )));
        }
        Ok(MappedReader { frame: self, at: 0, region: 0, offset: 0 })
    }
}

/// Reads a [`MappedFrame`]'s bytes; see [`MappedFrame::reader`].
#[derive(Debug)]
pub struct MappedReader<'a> {
    frame: &'a MappedFrame,
    /// Bytes of the head read.
    at: usize,
    /// The region being read, and the bytes of it read.
    region: usize,
    offset: u64,
}

impl ReadUninit for MappedReader<'_> {
    fn read_uninit<'a>(&mut self, buf: &'a mut [MaybeUninit<u8>]) -> std::io::Result<&'a mut [u8]> {
        if self.at < self.frame.head.len() {
            let n = buf.len().min(self.frame.head.len() - self.at);
            let head = buf[..n].write_copy_of_slice(&self.frame.head[self.at..self.at + n]);
            self.at += n;
            return Ok(head);
        }
        let Some(&(address, len)) = self.frame.regions.get(self.region) else { return Ok(&mut []) };
        let n = buf.len().min((len - self.offset) as usize);
        let read = if address == 0 {
            uninit::zeroed(&mut buf[..n])
        } else {
            uninit::read_process_all(self.frame.pid, address + self.offset, &mut buf[..n])?
        };
        self.offset += read.len() as u64;
        if self.offset == len {
            self.region += 1;
            self.offset = 0;
        }
        Ok(read)
    }
}

impl Read for MappedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        Ok(self.read_uninit(uninit::as_uninit(buf))?.len())
    }
}

/// Whether this process may copy from others on the host at all (it may be forbidden by
/// the system: a container's seccomp policy, a restrictive ptrace scope).
pub fn mapped_reads_work() -> bool {
    let probe = [7u8; 64];
    let mut into = [MaybeUninit::uninit(); 64];
    uninit::read_process(std::process::id(), probe.as_ptr() as u64, &mut into).is_ok_and(|read| *read == probe)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rask_graph::{ArrayChunk, Value};

    use super::*;
    use crate::wire::{encode_message, read_message, read_message_uninit};

    #[test]
    fn a_mapped_frame_reads_back_as_the_frame_itself() {
        assert!(mapped_reads_work(), "this process may read its own memory");
        let block = Value::Array(ArrayChunk::F64(Arc::new(ndarray::ArrayD::from_shape_fn(vec![1001, 3], |i| {
            (i[0] * 3 + i[1]) as f64
        }))));
        let message = vec![block.clone(), Value::Bytes(vec![9u8; 10_001].into()), Value::I64(5)];
        let frame = encode_message(&message, u64::MAX).unwrap();
        let mut streamed = Vec::new();
        frame.write_to(&mut streamed).unwrap();
        let lease = Lease::new(frame);
        let mapped = lease.mapped(1);
        let mut read = Vec::new();
        mapped.reader().unwrap().read_to_end(&mut read).unwrap();
        assert_eq!(read, streamed, "the same bytes, head, buffers and padding");
        let back: Vec<Value> = read_message(&mut mapped.reader().unwrap(), u64::MAX).unwrap();
        assert_eq!(back, message);
        let back: Vec<Value> = read_message_uninit(&mut mapped.reader().unwrap(), u64::MAX).unwrap();
        assert_eq!(back, message, "read into buffers not zeroed first");
        // An address the holder does not map is an error, not a crash.
        let bad = MappedFrame { regions: vec![(8, 64)], ..mapped.clone() };
        assert!(bad.reader().unwrap().read_to_end(&mut Vec::new()).is_err());
        // Another process with the sender's id (a wrong proof) is never read from.
        let impostor = MappedFrame { proof: (mapped.proof.0, mapped.proof.1 ^ 1), ..mapped.clone() };
        let e = impostor.reader().unwrap_err().to_string();
        assert!(e.contains("not the peer"), "{e}");
    }
}

//! The layout of a message frame, shared by its writer and its reader.
//!
//! The layout itself is documented on the public [`frame`](super::frame) module.

/// Bytes before the header: body length, buffer count, header length.
pub(crate) const PREFIX: usize = 16;
/// Bytes of one buffer-table entry.
pub(crate) const ENTRY: usize = 16;

/// Zero bytes that follow `len` bytes to reach a multiple of 8.
pub(crate) fn padding(len: u64) -> u64 {
    (8 - len % 8) % 8
}

/// Zeros to write as padding.
pub(crate) const ZEROS: [u8; 8] = [0; 8];

/// One entry of the buffer table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) kind: u8,
    pub(crate) len: u64,
}

impl Entry {
    pub(crate) fn encode(self, out: &mut Vec<u8>) {
        out.push(self.kind);
        out.extend_from_slice(&[0; 7]);
        out.extend_from_slice(&self.len.to_le_bytes());
    }

    /// Parses an entry from exactly [`ENTRY`] bytes.
    pub(crate) fn decode(bytes: &[u8]) -> Entry {
        let mut len = [0; 8];
        len.copy_from_slice(&bytes[8..16]);
        Entry { kind: bytes[0], len: u64::from_le_bytes(len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_reaches_multiples_of_eight() {
        assert_eq!([0, 1, 7, 8, 9].map(padding), [0, 7, 1, 0, 7]);
        let mut out = Vec::new();
        Entry { kind: 4, len: 800 }.encode(&mut out);
        assert_eq!(out.len(), ENTRY);
        assert_eq!(Entry::decode(&out), Entry { kind: 4, len: 800 });
    }
}

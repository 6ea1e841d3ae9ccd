//! Reading into memory not yet initialized ([`ReadUninit`]): a large buffer received from
//! a socket or another process's memory is written once, by the copy itself, instead of
//! zeroed first and then overwritten.

use std::io::{self, ErrorKind, Read};
use std::mem::MaybeUninit;
use std::os::fd::RawFd;

/// A byte stream that reads into memory not yet initialized.
///
/// ```
/// use std::mem::MaybeUninit;
/// use rask_scheduler::wire::{ReadUninit, Zeroing};
/// let mut reader = Zeroing(&b"frame"[..]);
/// let mut buf = [MaybeUninit::<u8>::uninit(); 8];
/// assert_eq!(reader.read_uninit(&mut buf).unwrap(), b"frame");
/// ```
pub trait ReadUninit: Read {
    /// Reads some bytes into the start of `buf`, as [`Read::read`] does, and returns them
    /// (empty at the end of the stream).
    fn read_uninit<'a>(&mut self, buf: &'a mut [MaybeUninit<u8>]) -> io::Result<&'a mut [u8]>;
}

/// Any reader as a [`ReadUninit`], zeroing each buffer before reading into it.
#[derive(Debug)]
pub struct Zeroing<R>(pub R);

impl<R: Read> Read for Zeroing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> ReadUninit for Zeroing<R> {
    fn read_uninit<'a>(&mut self, buf: &'a mut [MaybeUninit<u8>]) -> io::Result<&'a mut [u8]> {
        let buf = zeroed(buf);
        let n = self.0.read(buf)?;
        Ok(&mut buf[..n])
    }
}

impl<R: ReadUninit + ?Sized> ReadUninit for &mut R {
    fn read_uninit<'a>(&mut self, buf: &'a mut [MaybeUninit<u8>]) -> io::Result<&'a mut [u8]> {
        (**self).read_uninit(buf)
    }
}

impl ReadUninit for &[u8] {
    fn read_uninit<'a>(&mut self, buf: &'a mut [MaybeUninit<u8>]) -> io::Result<&'a mut [u8]> {
        let n = buf.len().min(self.len());
        let (now, rest) = self.split_at(n);
        *self = rest;
        Ok(buf[..n].write_copy_of_slice(now))
    }
}

/// Reads until `buf` is full or the stream ends, and returns the bytes read (the start of
/// `buf`). A connection reset before any byte reads as the end of the stream.
pub(crate) fn read_full_uninit<'a, R: ReadUninit + ?Sized>(
    reader: &mut R,
    buf: &'a mut [MaybeUninit<u8>],
) -> io::Result<&'a mut [u8]> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read_uninit(&mut buf[filled..]) {
            Ok([]) => break,
            Ok(got) => filled += got.len(),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if filled == 0 && e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        }
    }
    // SAFETY: the first `filled` bytes were returned initialized by the reads above.
    Ok(unsafe { assume_init(&mut buf[..filled]) })
}

/// One `read(2)` of `fd` into `buf`.
pub(crate) fn read_fd(fd: RawFd, buf: &mut [MaybeUninit<u8>]) -> io::Result<&mut [u8]> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which we hold.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel wrote the first `n` bytes.
    Ok(unsafe { assume_init(&mut buf[..n as usize]) })
}

/// Copies up to `buf.len()` bytes at `address` in process `pid` into `buf`
/// (`process_vm_readv`); an error if it copies nothing.
pub(crate) fn read_process(pid: u32, address: u64, buf: &mut [MaybeUninit<u8>]) -> io::Result<&mut [u8]> {
    let local = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let remote = libc::iovec { iov_base: address as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which we hold, and
    // reads the other process's memory (it fails, rather than faults, on an address that
    // process does not map).
    let n = unsafe { libc::process_vm_readv(pid as libc::pid_t, &local, 1, &remote, 1, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n == 0 {
        return Err(ErrorKind::UnexpectedEof.into());
    }
    // SAFETY: the kernel wrote the first `n` bytes.
    Ok(unsafe { assume_init(&mut buf[..n as usize]) })
}

/// Copies from another process on several threads at once from this many bytes on.
const SPLIT_FROM: usize = 16 << 20;

/// Copies exactly `buf.len()` bytes at `address` in process `pid` into `buf`. A large
/// copy runs in pieces on up to four threads at once: most of its time goes to faulting
/// in the receiver's fresh pages (the kernel zeroes each first) and to the copy itself,
/// and every core can do its share of both.
pub(crate) fn read_process_all(pid: u32, address: u64, buf: &mut [MaybeUninit<u8>]) -> io::Result<&mut [u8]> {
    let threads = match buf.len() >= SPLIT_FROM {
        true => std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
        false => 1,
    };
    // Pieces of whole huge pages, so that no two threads fault in one.
    let piece = buf.len().div_ceil(threads).next_multiple_of(2 << 20).max(1);
    std::thread::scope(|scope| {
        let mut pieces = buf.chunks_mut(piece);
        let first = pieces.next();
        let others: Vec<_> = pieces
            .enumerate()
            .map(|(i, chunk)| {
                let at = address + ((i + 1) * piece) as u64;
                scope.spawn(move || fill_from_process(pid, at, chunk))
            })
            .collect();
        let mut result = first.map_or(Ok(()), |chunk| fill_from_process(pid, address, chunk));
        for other in others {
            let outcome = other.join().unwrap_or_else(|_| Err(io::Error::other("a copying thread panicked")));
            result = result.and(outcome);
        }
        result
    })?;
    // SAFETY: every piece of `buf` was filled by the copies above.
    Ok(unsafe { assume_init(buf) })
}

/// Fills all of `buf` from `address` in process `pid`.
fn fill_from_process(pid: u32, address: u64, buf: &mut [MaybeUninit<u8>]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        filled += read_process(pid, address + filled as u64, &mut buf[filled..])?.len();
    }
    Ok(())
}

/// Zeroes `buf` and gives it as the initialized bytes it now is.
pub(crate) fn zeroed(buf: &mut [MaybeUninit<u8>]) -> &mut [u8] {
    buf.fill(MaybeUninit::new(0));
    // SAFETY: every byte was just written.
    unsafe { assume_init(buf) }
}

/// `buf` as memory to read into. Sound because the readers of this module only ever
/// write initialized bytes into what they are given.
pub(crate) fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: same layout; callers within this crate write only initialized bytes.
    unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast(), buf.len()) }
}

/// # Safety
///
/// Every byte of `buf` must be initialized.
unsafe fn assume_init(buf: &mut [MaybeUninit<u8>]) -> &mut [u8] {
    // SAFETY: the caller's promise; `MaybeUninit<u8>` has the layout of `u8`.
    unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast(), buf.len()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fill_uninitialized_buffers_from_a_stream_a_descriptor_and_a_process() {
        let mut buf = [MaybeUninit::<u8>::uninit(); 10];
        let mut chunks = Zeroing(std::io::Read::chain(&b"abc"[..], &b"defg"[..]));
        assert_eq!(read_full_uninit(&mut chunks, &mut buf).unwrap(), b"abcdefg", "short at the end");

        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        std::io::Write::write_all(&mut a, b"hello").unwrap();
        use std::os::fd::AsRawFd;
        assert_eq!(read_fd(b.as_raw_fd(), &mut buf).unwrap(), b"hello");

        let source = *b"0123456789";
        let got = read_process(std::process::id(), source.as_ptr() as u64, &mut buf).unwrap();
        assert_eq!(got, &source);
        assert!(read_process(std::process::id(), 8, &mut buf).is_err(), "an unmapped address errs");

        // A large copy, split across threads, gives every byte in place.
        let big: Vec<u8> = (0..SPLIT_FROM * 2 + 12_345).map(|i| (i % 251) as u8).collect();
        let mut into = vec![MaybeUninit::<u8>::uninit(); big.len()];
        let got = read_process_all(std::process::id(), big.as_ptr() as u64, &mut into).unwrap();
        assert!(got == &big[..], "the pieces line up");
        assert!(read_process_all(std::process::id(), 8, &mut into).is_err(), "an unmapped address errs");
    }
}

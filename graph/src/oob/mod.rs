//! Out-of-band buffers: how array blocks, record batches and byte strings leave the
//! MessagePack stream of a wire frame, so that their bytes are sent and received without
//! being copied element by element.
//!
//! A wire writer serializes a message inside [`collect_buffers`]: while it runs, an
//! [`ArrayChunk`] larger than [`INLINE_MAX`] bytes serializes as a small placeholder
//! (dtype, shape, memory order, buffer index) and registers its block as a
//! [`SendBuffer`]; so do a [`Value::Bytes`](crate::Value::Bytes) (its bytes) and a
//! [`Batch`](crate::Batch) (its Arrow IPC stream). The writer then sends the buffers'
//! memory ([`SendBuffer::pieces`]) after the header. A reader receives each buffer into
//! typed memory ([`RecvBuffer::fill`]) and deserializes the header inside
//! [`with_buffers`], where each placeholder takes its buffer back.
//!
//! Outside these scopes, values serialize as they always did (the whole payload inside
//! the serde stream), so `rmp_serde::to_vec` of a value still round-trips on its own.
//! Buffers hold the host's bytes, which are the little-endian wire bytes on the
//! little-endian hosts rask supports.
//!
//! ```
//! use std::sync::Arc;
//! use rask_graph::{oob, ArrayChunk, Value};
//! let value = Value::Array(ArrayChunk::F64(Arc::new(ndarray::ArrayD::zeros(vec![1000]))));
//! let (header, buffers) = oob::collect_buffers(|| rmp_serde::to_vec(&value).unwrap());
//! assert_eq!(buffers.len(), 1);
//! assert!(header.len() < 32, "only the placeholder is in the header");
//! let received = buffers
//!     .iter()
//!     .map(|b| {
//!         let all = b.to_vec();
//!         let mut bytes = all.as_slice();
//!         oob::RecvBuffer::fill(b.kind(), bytes.len(), |piece| {
//!             let (head, rest) = bytes.split_at(piece.len());
//!             piece.copy_from_slice(head);
//!             bytes = rest;
//!             Ok::<(), ()>(())
//!         })
//!         .unwrap()
//!     })
//!     .collect();
//! let (back, unused) = oob::with_buffers(received, || rmp_serde::from_slice::<Value>(&header).unwrap());
//! assert_eq!((back, unused), (value, 0));
//! ```

mod form;
mod raw;

use std::cell::RefCell;
use std::mem::{MaybeUninit, size_of};
use std::sync::Arc;

use ndarray::ArrayD;

use crate::chunk::{ArrayChunk, DType};
use raw::Plain;

pub(crate) use form::bytes_value;
pub(crate) use form::{deserialize_array, deserialize_batch, serialize_array, serialize_batch};

/// Payloads of at most this many bytes stay inline in the header: a separate buffer costs
/// more than copying them.
pub const INLINE_MAX: usize = 4096;

/// Memory is initialized and filled in pieces of this size, which stay in cache.
const STEP: usize = 256 << 10;

/// What a buffer holds, and so which memory it is received into.
///
/// ```
/// use rask_graph::oob::BufferKind;
/// assert_eq!(BufferKind::from_u8(4), Some(BufferKind::F64));
/// assert_eq!(BufferKind::F64.itemsize(), 8);
/// assert_eq!(BufferKind::from_u8(99), None);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BufferKind {
    /// `bool` array elements, one byte each (0 or 1).
    Bool = 0,
    /// `int32` array elements.
    I32 = 1,
    /// `int64` array elements.
    I64 = 2,
    /// `float32` array elements.
    F32 = 3,
    /// `float64` array elements.
    F64 = 4,
    /// The bytes of a [`Value::Bytes`](crate::Value::Bytes).
    Bytes = 5,
    /// An Arrow IPC stream holding one record batch.
    Arrow = 6,
}

impl BufferKind {
    /// The kind with this code, if any.
    pub fn from_u8(code: u8) -> Option<BufferKind> {
        use BufferKind::*;
        [Bool, I32, I64, F32, F64, Bytes, Arrow].get(code as usize).copied()
    }

    /// Its code on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Bytes per element: a buffer's length is a multiple of it.
    pub fn itemsize(self) -> usize {
        match self {
            BufferKind::Bool | BufferKind::Bytes | BufferKind::Arrow => 1,
            BufferKind::I32 | BufferKind::F32 => 4,
            BufferKind::I64 | BufferKind::F64 => 8,
        }
    }

    fn of_dtype(dtype: DType) -> BufferKind {
        match dtype {
            DType::Bool => BufferKind::Bool,
            DType::I32 => BufferKind::I32,
            DType::I64 => BufferKind::I64,
            DType::F32 => BufferKind::F32,
            DType::F64 => BufferKind::F64,
        }
    }
}

/// A buffer registered by a message being serialized, to send after its header.
#[derive(Debug)]
pub struct SendBuffer(SendData);

#[derive(Debug)]
enum SendData {
    /// A block in C or Fortran order (contiguous, whichever it is).
    Array(ArrayChunk),
    Bytes(Arc<[u8]>),
    /// An Arrow IPC stream in pieces: its framing, and the batch's own column buffers.
    Arrow(Vec<arrow_buffer::Buffer>),
}

impl SendBuffer {
    /// What the buffer holds.
    pub fn kind(&self) -> BufferKind {
        match &self.0 {
            SendData::Array(chunk) => BufferKind::of_dtype(chunk.dtype()),
            SendData::Bytes(_) => BufferKind::Bytes,
            SendData::Arrow(_) => BufferKind::Arrow,
        }
    }

    /// The bytes to send, in order: the value's own memory, not a copy (an array block or
    /// byte string is one piece; a record batch's IPC stream is its framing interleaved
    /// with the columns' buffers).
    pub fn pieces(&self) -> Vec<&[u8]> {
        match &self.0 {
            SendData::Array(chunk) => vec![form::contiguous_bytes(chunk)],
            SendData::Bytes(bytes) => vec![bytes],
            SendData::Arrow(buffers) => buffers.iter().map(|b| b.as_slice()).collect(),
        }
    }

    /// How many bytes [`pieces`](Self::pieces) hold in all.
    pub fn len(&self) -> usize {
        match &self.0 {
            SendData::Array(chunk) => form::contiguous_bytes(chunk).len(),
            SendData::Bytes(bytes) => bytes.len(),
            SendData::Arrow(buffers) => buffers.iter().map(|b| b.len()).sum(),
        }
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All the bytes in one piece (a copy when there are several).
    pub fn to_vec(&self) -> Vec<u8> {
        self.pieces().concat()
    }
}

/// A buffer received after a header, in memory of its kind's type.
#[derive(Debug)]
pub struct RecvBuffer(RecvData);

#[derive(Debug)]
enum RecvData {
    Bool(Vec<bool>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bytes(Vec<u8>),
    Arrow(arrow_buffer::Buffer),
}

/// Why [`RecvBuffer::fill`] failed.
#[derive(Debug, PartialEq, Eq)]
pub enum FillError<E> {
    /// The reader failed.
    Read(E),
    /// The bytes are not a buffer of that kind (a length that is not a multiple of the
    /// element size, a boolean byte other than 0 or 1).
    Invalid(String),
}

impl RecvBuffer {
    /// Receives a buffer of `len` bytes of `kind`: `read` is called with consecutive pieces
    /// of the buffer's final memory (a `Vec` of the element type, aligned for it) and must
    /// fill each completely. The buffer is reserved whole up front (address space, backed
    /// by memory only as pieces are written), so a `len` that lies costs only the bytes
    /// that arrived, and a `len` the system cannot reserve is [`FillError::Invalid`].
    ///
    /// ```
    /// use rask_graph::oob::{BufferKind, FillError, RecvBuffer};
    /// let ok = RecvBuffer::fill(BufferKind::I32, 8, |piece| Ok::<(), ()>(piece.fill(0)));
    /// assert_eq!(ok.unwrap().kind(), BufferKind::I32);
    /// let ragged = RecvBuffer::fill(BufferKind::I32, 7, |_| Ok::<(), ()>(()));
    /// assert!(matches!(ragged, Err(FillError::Invalid(_))));
    /// let not_bool = RecvBuffer::fill(BufferKind::Bool, 1, |piece| Ok::<(), ()>(piece.fill(7)));
    /// assert!(matches!(not_bool, Err(FillError::Invalid(_))));
    /// ```
    pub fn fill<E>(
        kind: BufferKind,
        len: usize,
        mut read: impl FnMut(&mut [u8]) -> Result<(), E>,
    ) -> Result<RecvBuffer, FillError<E>> {
        RecvBuffer::fill_uninit(kind, len, |piece| {
            let piece = raw::zeroed(piece);
            read(piece)?;
            Ok(piece)
        })
    }

    /// As [`fill`](RecvBuffer::fill), for readers that write into memory not yet
    /// initialized (a socket, another process's memory), sparing a pass over it: `read`
    /// is given each piece uninitialized and returns it filled, as bytes. A slice other
    /// than the piece given is [`FillError::Invalid`].
    ///
    /// ```
    /// use std::mem::MaybeUninit;
    /// use rask_graph::oob::{BufferKind, RecvBuffer};
    /// let source = [7u8; 16];
    /// let mut at = 0;
    /// let filled = RecvBuffer::fill_uninit(BufferKind::Bytes, 16, |piece: &mut [MaybeUninit<u8>]| {
    ///     let n = piece.len();
    ///     let bytes = piece.write_copy_of_slice(&source[at..at + n]);
    ///     at += n;
    ///     Ok::<_, ()>(bytes)
    /// });
    /// assert_eq!(filled.unwrap().kind(), BufferKind::Bytes);
    /// ```
    pub fn fill_uninit<E>(
        kind: BufferKind,
        len: usize,
        mut read: impl for<'a> FnMut(&'a mut [MaybeUninit<u8>]) -> Result<&'a mut [u8], E>,
    ) -> Result<RecvBuffer, FillError<E>> {
        if !len.is_multiple_of(kind.itemsize()) {
            return Err(FillError::Invalid(format!(
                "a {kind:?} buffer of {len} bytes is not a whole number of {}-byte elements",
                kind.itemsize()
            )));
        }
        let read = &mut read;
        let data = match kind {
            BufferKind::Bool => {
                let bytes = fill_vec::<u8, E>(len, read)?;
                RecvData::Bool(
                    raw::bools_from_bytes(bytes)
                        .map_err(|at| FillError::Invalid(format!("byte {at} of a bool buffer is neither 0 nor 1")))?,
                )
            }
            BufferKind::I32 => RecvData::I32(fill_vec(len, read)?),
            BufferKind::I64 => RecvData::I64(fill_vec(len, read)?),
            BufferKind::F32 => RecvData::F32(fill_vec(len, read)?),
            BufferKind::F64 => RecvData::F64(fill_vec(len, read)?),
            BufferKind::Bytes => RecvData::Bytes(fill_vec(len, read)?),
            // 8-byte words keep Arrow's column buffers aligned, so decoding slices them.
            BufferKind::Arrow => RecvData::Arrow(
                arrow_buffer::Buffer::from_vec(fill_vec::<u64, E>(len, read)?).slice_with_length(0, len),
            ),
        };
        Ok(RecvBuffer(data))
    }

    /// What the buffer holds.
    pub fn kind(&self) -> BufferKind {
        match &self.0 {
            RecvData::Bool(_) => BufferKind::Bool,
            RecvData::I32(_) => BufferKind::I32,
            RecvData::I64(_) => BufferKind::I64,
            RecvData::F32(_) => BufferKind::F32,
            RecvData::F64(_) => BufferKind::F64,
            RecvData::Bytes(_) => BufferKind::Bytes,
            RecvData::Arrow(_) => BufferKind::Arrow,
        }
    }
}

/// Fills a vector of `T` with `len` bytes (rounded up to whole elements, the last one
/// zero-padded), piece by piece.
///
/// The whole buffer is reserved at once: address space only, which the system backs with
/// memory as pieces are written, so a length that lies still costs only the bytes that
/// arrive (and a length beyond what the system can reserve is refused). Reserving once
/// spares the copies or remappings of a growing vector, and lets large buffers be backed
/// by huge pages ([`advise_huge_pages`](crate::memory::advise_huge_pages)).
fn fill_vec<T: Plain, E>(
    len: usize,
    read: &mut impl for<'a> FnMut(&'a mut [MaybeUninit<u8>]) -> Result<&'a mut [u8], E>,
) -> Result<Vec<T>, FillError<E>> {
    let size = size_of::<T>();
    let n = len.div_ceil(size);
    let mut out: Vec<T> = Vec::new();
    out.try_reserve_exact(n)
        .map_err(|e| FillError::Invalid(format!("cannot reserve {len} bytes for a buffer: {e}")))?;
    crate::memory::advise_huge_pages(out.as_ptr().cast(), n * size);
    let mut filled = 0;
    while out.len() < n {
        let count = (n - out.len()).min(STEP / size);
        let take = (count * size).min(len - filled);
        if !raw::append_written(&mut out, count, take, &mut *read).map_err(FillError::Read)? {
            return Err(FillError::Invalid("the reader returned other memory than the piece it was given".into()));
        }
        filled += take;
    }
    Ok(out)
}

thread_local! {
    static OUTGOING: RefCell<Option<Vec<SendBuffer>>> = const { RefCell::new(None) };
    static INCOMING: RefCell<Option<Vec<Option<RecvBuffer>>>> = const { RefCell::new(None) };
}

/// Runs `f` (which serializes a message) with out-of-band buffers on, and returns its
/// result with the buffers it registered, in index order. Scopes nest; a panic in `f`
/// restores the outer scope.
pub fn collect_buffers<R>(f: impl FnOnce() -> R) -> (R, Vec<SendBuffer>) {
    struct Restore(Option<Vec<SendBuffer>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            OUTGOING.with(|o| *o.borrow_mut() = outer);
        }
    }
    let _restore = Restore(OUTGOING.with(|o| o.borrow_mut().replace(Vec::new())));
    let result = f();
    let buffers = OUTGOING.with(|o| o.borrow_mut().take()).unwrap_or_default();
    (result, buffers)
}

/// Runs `f` (which deserializes a message) with `buffers` available to its placeholders,
/// each usable once; returns its result and how many buffers no placeholder took.
pub fn with_buffers<R>(buffers: Vec<RecvBuffer>, f: impl FnOnce() -> R) -> (R, usize) {
    struct Restore(Option<Vec<Option<RecvBuffer>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            INCOMING.with(|i| *i.borrow_mut() = outer);
        }
    }
    let list = buffers.into_iter().map(Some).collect();
    let _restore = Restore(INCOMING.with(|i| i.borrow_mut().replace(list)));
    let result = f();
    let unused = INCOMING.with(|i| i.borrow().as_ref().map_or(0, |l| l.iter().filter(|b| b.is_some()).count()));
    (result, unused)
}

/// Whether a message is being serialized for a wire frame on this thread.
pub(crate) fn sending() -> bool {
    OUTGOING.with(|o| o.borrow().is_some())
}

/// Whether a wire frame's header is being deserialized on this thread.
pub(crate) fn receiving() -> bool {
    INCOMING.with(|i| i.borrow().is_some())
}

/// Adds a buffer to the frame being written; returns its index.
fn register(buffer: SendData) -> Result<u32, String> {
    OUTGOING.with(|o| {
        let mut outgoing = o.borrow_mut();
        let list = outgoing.as_mut().ok_or("no wire frame is being written")?;
        let index = u32::try_from(list.len()).map_err(|_| "more than 2^32 buffers in one frame".to_string())?;
        list.push(SendBuffer(buffer));
        Ok(index)
    })
}

/// Takes buffer `index` of the frame being read.
fn take(index: u32) -> Result<RecvData, String> {
    INCOMING.with(|i| {
        let mut incoming = i.borrow_mut();
        let list = incoming.as_mut().ok_or("no wire frame is being read")?;
        let count = list.len();
        let slot = list
            .get_mut(index as usize)
            .ok_or_else(|| format!("a placeholder names buffer {index}, but the frame has {count}"))?;
        slot.take().map(|b| b.0).ok_or_else(|| format!("buffer {index} is named by two placeholders"))
    })
}

/// The element types of array blocks, with their received buffers.
trait WireElement: crate::Element {
    fn from_inline(bytes: &[u8]) -> Result<Vec<Self>, String>;
    fn from_recv(data: RecvData) -> Option<Vec<Self>>;
    fn contiguous_bytes(slice: &[Self]) -> &[u8];
}

macro_rules! wire_element {
    ($t:ty, $variant:ident) => {
        impl WireElement for $t {
            fn from_inline(bytes: &[u8]) -> Result<Vec<Self>, String> {
                Ok(raw::vec_from_bytes(bytes))
            }
            fn from_recv(data: RecvData) -> Option<Vec<Self>> {
                match data {
                    RecvData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn contiguous_bytes(slice: &[Self]) -> &[u8] {
                raw::bytes_of(slice)
            }
        }
    };
}
wire_element!(i32, I32);
wire_element!(i64, I64);
wire_element!(f32, F32);
wire_element!(f64, F64);

impl WireElement for bool {
    fn from_inline(bytes: &[u8]) -> Result<Vec<Self>, String> {
        raw::bools_from_bytes(bytes.to_vec()).map_err(|at| format!("byte {at} of a bool array is neither 0 nor 1"))
    }
    fn from_recv(data: RecvData) -> Option<Vec<Self>> {
        match data {
            RecvData::Bool(v) => Some(v),
            _ => None,
        }
    }
    fn contiguous_bytes(slice: &[Self]) -> &[u8] {
        raw::bool_bytes(slice)
    }
}

/// A block's memory order on the wire: C (row-major) or Fortran (column-major).
fn memory_order<T>(a: &ArrayD<T>) -> Option<bool> {
    if a.is_standard_layout() {
        Some(false)
    } else if a.t().is_standard_layout() {
        Some(true)
    } else {
        None
    }
}

//! The serde forms of values inside a wire frame's header: a payload is either inline
//! bytes (at most [`INLINE_MAX`]) or the index of an out-of-band buffer.
//!
//! - an array block is the tuple `(dtype code, shape, fortran order, payload)`;
//! - a [`Value::Bytes`](crate::Value::Bytes) is its payload;
//! - a [`Batch`] is the payload of its Arrow IPC stream.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{Error as _, SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

use super::{INLINE_MAX, RecvData, SendData, WireElement, memory_order, receiving, register, sending, take};
use crate::batch::Batch;
use crate::chunk::{ArrayChunk, DType};
use crate::{each_chunk, map_chunk};

/// Arrays of more dimensions than this are refused when read (ndarray itself has no limit).
const MAX_NDIM: usize = 64;

/// Where a payload's bytes are.
enum Payload<'a> {
    Inline(Cow<'a, [u8]>),
    Buffer(u32),
}

impl Serialize for Payload<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Inline(bytes) => s.serialize_bytes(bytes),
            Payload::Buffer(index) => s.serialize_u32(*index),
        }
    }
}

impl<'de> Deserialize<'de> for Payload<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Payload<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("inline bytes or a buffer index")
            }
            fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<Payload<'de>, E> {
                Ok(Payload::Inline(Cow::Borrowed(v)))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Payload<'de>, E> {
                Ok(Payload::Inline(Cow::Owned(v.to_vec())))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Payload<'de>, E> {
                Ok(Payload::Inline(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Payload<'de>, E> {
                u32::try_from(v).map(Payload::Buffer).map_err(|_| E::custom(format!("buffer index {v} out of range")))
            }
        }
        d.deserialize_any(V)
    }
}

/// Registers `bytes` unless they are small enough to stay inline.
fn payload<'a>(bytes: &'a [u8], data: impl FnOnce() -> SendData) -> Result<Payload<'a>, String> {
    if bytes.len() <= INLINE_MAX {
        Ok(Payload::Inline(Cow::Borrowed(bytes)))
    } else {
        register(data()).map(Payload::Buffer)
    }
}

/// The memory of a block in C or Fortran order.
pub(super) fn contiguous_bytes(chunk: &ArrayChunk) -> &[u8] {
    each_chunk!(chunk, a => WireElement::contiguous_bytes(a.as_slice_memory_order().unwrap_or(&[])))
}

/// Serializes a block as its wire placeholder; a block in neither C nor Fortran order is
/// copied to C order once.
pub(crate) fn serialize_array<S: Serializer>(chunk: &ArrayChunk, s: S) -> Result<S::Ok, S::Error> {
    debug_assert!(sending());
    let (chunk, fortran) = match each_chunk!(chunk, a => memory_order(a)) {
        Some(fortran) => (chunk.clone(), fortran),
        None => (map_chunk!(chunk, a => Arc::new(a.as_standard_layout().into_owned())), false),
    };
    let payload = payload(contiguous_bytes(&chunk), || SendData::Array(chunk.clone())).map_err(S::Error::custom)?;
    let mut t = s.serialize_tuple(4)?;
    t.serialize_element(&(chunk.dtype() as u8))?;
    t.serialize_element(chunk.shape())?;
    t.serialize_element(&fortran)?;
    t.serialize_element(&payload)?;
    t.end()
}

/// Reads a block's wire placeholder back, taking its buffer.
pub(crate) fn deserialize_array<'de, D: Deserializer<'de>>(d: D) -> Result<ArrayChunk, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = ArrayChunk;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array placeholder (dtype, shape, order, payload)")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ArrayChunk, A::Error> {
            let missing = || de::Error::custom("array placeholder too short");
            let code: u8 = seq.next_element()?.ok_or_else(missing)?;
            let shape: Shape = seq.next_element()?.ok_or_else(missing)?;
            let fortran: bool = seq.next_element()?.ok_or_else(missing)?;
            let payload: Payload<'de> = seq.next_element()?.ok_or_else(missing)?;
            let dtype = [DType::Bool, DType::I32, DType::I64, DType::F32, DType::F64]
                .into_iter()
                .find(|d| *d as u8 == code)
                .ok_or_else(|| de::Error::custom(format!("unknown dtype code {code}")))?;
            let block = match dtype {
                DType::Bool => ArrayChunk::Bool(block(&shape.0, fortran, payload)?),
                DType::I32 => ArrayChunk::I32(block(&shape.0, fortran, payload)?),
                DType::I64 => ArrayChunk::I64(block(&shape.0, fortran, payload)?),
                DType::F32 => ArrayChunk::F32(block(&shape.0, fortran, payload)?),
                DType::F64 => ArrayChunk::F64(block(&shape.0, fortran, payload)?),
            };
            Ok(block)
        }
    }
    d.deserialize_tuple(4, V)
}

fn block<T: WireElement, E: de::Error>(
    shape: &[usize],
    fortran: bool,
    payload: Payload<'_>,
) -> Result<Arc<ArrayD<T>>, E> {
    let dtype = T::DTYPE;
    let elements = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|n| n.checked_mul(dtype.itemsize()).is_some_and(|b| b <= isize::MAX as usize))
        .ok_or_else(|| E::custom(format!("array shape {shape:?} of {dtype} is too large")))?;
    let data = match payload {
        Payload::Inline(bytes) => {
            if bytes.len() != elements * dtype.itemsize() {
                return Err(E::custom(format!(
                    "{dtype} array of shape {shape:?} needs {} bytes, got {} inline",
                    elements * dtype.itemsize(),
                    bytes.len()
                )));
            }
            T::from_inline(&bytes).map_err(E::custom)?
        }
        Payload::Buffer(index) => {
            let data = take(index).map_err(E::custom)?;
            let kind = super::RecvBuffer(data);
            let found = kind.kind();
            let data = T::from_recv(kind.0).ok_or_else(|| {
                E::custom(format!("{dtype} array placeholder names buffer {index} of kind {found:?}"))
            })?;
            if data.len() != elements {
                return Err(E::custom(format!(
                    "{dtype} array of shape {shape:?} has {elements} elements, buffer {index} holds {}",
                    data.len()
                )));
            }
            data
        }
    };
    ArrayD::from_shape_vec(IxDyn(shape).set_f(fortran), data)
        .map(Arc::new)
        .map_err(|e| E::custom(format!("array of shape {shape:?}: {e}")))
}

/// An array shape of at most [`MAX_NDIM`] axes.
struct Shape(Vec<usize>);

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array shape")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                let mut dims = Vec::new();
                while let Some(d) = seq.next_element::<u64>()? {
                    if dims.len() == MAX_NDIM {
                        return Err(de::Error::custom(format!("array of more than {MAX_NDIM} dimensions")));
                    }
                    dims.push(usize::try_from(d).map_err(|_| de::Error::custom(format!("axis length {d} too large")))?);
                }
                Ok(Shape(dims))
            }
        }
        d.deserialize_seq(V)
    }
}

/// Serializes a batch's IPC stream as a payload.
pub(crate) fn serialize_batch<S: Serializer>(batch: &Batch, s: S) -> Result<S::Ok, S::Error> {
    let pieces = batch.to_ipc_buffers().map_err(S::Error::custom)?;
    let len: usize = pieces.iter().map(|p| p.len()).sum();
    if len <= INLINE_MAX {
        let ipc: Vec<u8> = pieces.iter().flat_map(|p| p.as_slice()).copied().collect();
        return Payload::Inline(Cow::Owned(ipc)).serialize(s);
    }
    Payload::Buffer(register(SendData::Arrow(pieces)).map_err(S::Error::custom)?).serialize(s)
}

/// Reads a batch's payload back; an out-of-band stream is decoded without copying its
/// columns.
pub(crate) fn deserialize_batch<'de, D: Deserializer<'de>>(d: D) -> Result<Batch, D::Error> {
    use de::Error as _;
    match Payload::deserialize(d)? {
        Payload::Inline(bytes) => Batch::from_ipc(&bytes).map_err(D::Error::custom),
        Payload::Buffer(index) => match take(index).map_err(D::Error::custom)? {
            RecvData::Arrow(buffer) => Batch::from_ipc_buffer(buffer).map_err(D::Error::custom),
            other => Err(D::Error::custom(format!(
                "batch placeholder names buffer {index} of kind {:?}",
                super::RecvBuffer(other).kind()
            ))),
        },
    }
}

/// `#[serde(with)]` for [`Value::Bytes`](crate::Value::Bytes): a sequence of integers
/// outside a wire frame (as before), a payload inside one.
pub(crate) mod bytes_value {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(bytes: &Arc<[u8]>, s: S) -> Result<S::Ok, S::Error> {
        if !sending() {
            return (**bytes).serialize(s);
        }
        payload(bytes, || SendData::Bytes(bytes.clone())).map_err(S::Error::custom)?.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<[u8]>, D::Error> {
        use de::Error as _;
        if !receiving() {
            return Arc::<[u8]>::deserialize(d);
        }
        match Payload::deserialize(d)? {
            Payload::Inline(bytes) => Ok(Arc::from(&*bytes)),
            Payload::Buffer(index) => match take(index).map_err(D::Error::custom)? {
                RecvData::Bytes(bytes) => Ok(Arc::from(bytes)),
                other => Err(D::Error::custom(format!(
                    "bytes placeholder names buffer {index} of kind {:?}",
                    super::super::RecvBuffer(other).kind()
                ))),
            },
        }
    }
}

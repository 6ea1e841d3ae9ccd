//! Record batches as task values: one partition of a dataframe.
//!
//! A [`Batch`] is an Arrow `RecordBatch` behind an `Arc`, so a partition handed to several
//! tasks is never copied and a [`Value`](crate::Value) stays 24 bytes. It serializes as an
//! Arrow IPC stream (schema, then the batch), the format DESIGN.md fixes for partitions on
//! the wire.

use std::fmt;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_ipc::reader::{StreamDecoder, StreamReader};
use arrow_ipc::writer::StreamEncoder;
use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One dataframe partition.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Int64Array, RecordBatch};
/// use rask_graph::Batch;
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1, 2])) as _)]).unwrap();
/// let value = Batch::new(batch.clone());
/// let bytes = value.to_ipc().unwrap();
/// assert_eq!(*Batch::from_ipc(&bytes).unwrap().0, batch);
/// ```
#[derive(Clone, PartialEq)]
pub struct Batch(pub Arc<RecordBatch>);

impl Batch {
    /// Wraps a record batch.
    pub fn new(batch: RecordBatch) -> Batch {
        Batch(Arc::new(batch))
    }

    /// The batch as an Arrow IPC stream.
    pub fn to_ipc(&self) -> Result<Vec<u8>, arrow_schema::ArrowError> {
        let pieces = self.to_ipc_buffers()?;
        let mut out = Vec::with_capacity(pieces.iter().map(|p| p.len()).sum());
        for piece in &pieces {
            out.extend_from_slice(piece.as_slice());
        }
        Ok(out)
    }

    /// The batch as an Arrow IPC stream in pieces, to write in order: the framing, and the
    /// columns' own buffers where they need no re-encoding (no copy of the data).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{Int64Array, RecordBatch};
    /// use rask_graph::Batch;
    /// let batch = Batch::new(RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1, 2])) as _)]).unwrap());
    /// let pieces = batch.to_ipc_buffers().unwrap();
    /// let stream: Vec<u8> = pieces.iter().flat_map(|p| p.as_slice()).copied().collect();
    /// assert_eq!(stream, batch.to_ipc().unwrap());
    /// assert_eq!(Batch::from_ipc(&stream).unwrap(), batch);
    /// ```
    pub fn to_ipc_buffers(&self) -> Result<Vec<arrow_buffer::Buffer>, arrow_schema::ArrowError> {
        let mut encoder = StreamEncoder::try_new(self.0.schema_ref())?;
        let mut pieces = encoder.encode(&self.0)?;
        pieces.extend(encoder.finish()?);
        Ok(pieces)
    }

    /// Reads a batch back from an Arrow IPC stream holding exactly one batch. Malformed
    /// bytes are an error (arrow's decoder can panic on some; that is caught here).
    pub fn from_ipc(bytes: &[u8]) -> Result<Batch, arrow_schema::ArrowError> {
        unpanicked(|| Batch::read_ipc(bytes))
    }

    fn read_ipc(bytes: &[u8]) -> Result<Batch, arrow_schema::ArrowError> {
        crate::ipc_check::check_ipc_framing(bytes)?;
        let mut reader = StreamReader::try_new(bytes, None)?;
        let batch = match reader.next() {
            Some(batch) => batch?,
            None => RecordBatch::new_empty(reader.schema()),
        };
        if reader.next().is_some() {
            return Err(arrow_schema::ArrowError::IpcError("expected one record batch, found more".into()));
        }
        Ok(Batch::new(batch))
    }

    /// Reads a batch back from an Arrow IPC stream holding exactly one batch, without
    /// copying: the columns point into `buffer` where its alignment allows.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{Int64Array, RecordBatch};
    /// use rask_graph::Batch;
    /// let batch = Batch::new(RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1, 2])) as _)]).unwrap());
    /// let buffer = arrow_buffer::Buffer::from_vec(batch.to_ipc().unwrap());
    /// assert_eq!(Batch::from_ipc_buffer(buffer).unwrap(), batch);
    /// assert!(Batch::from_ipc_buffer(arrow_buffer::Buffer::from_vec(vec![1u8, 2, 3])).is_err());
    /// ```
    pub fn from_ipc_buffer(buffer: arrow_buffer::Buffer) -> Result<Batch, arrow_schema::ArrowError> {
        unpanicked(move || Batch::decode_ipc(buffer))
    }

    fn decode_ipc(mut buffer: arrow_buffer::Buffer) -> Result<Batch, arrow_schema::ArrowError> {
        crate::ipc_check::check_ipc_framing(&buffer)?;
        let mut decoder = StreamDecoder::new();
        let mut batch = None;
        while !buffer.is_empty() {
            if let Some(next) = decoder.decode(&mut buffer)?
                && batch.replace(next).is_some()
            {
                return Err(arrow_schema::ArrowError::IpcError("expected one record batch, found more".into()));
            }
        }
        decoder.finish()?;
        match (batch, decoder.schema()) {
            (Some(batch), _) => Ok(Batch::new(batch)),
            (None, Some(schema)) => Ok(Batch::new(RecordBatch::new_empty(schema))),
            (None, None) => Err(arrow_schema::ArrowError::IpcError("IPC stream without a schema".into())),
        }
    }

    /// Bytes of column data held.
    pub fn nbytes(&self) -> usize {
        self.0.get_array_memory_size()
    }
}

/// Runs an IPC decode, turning a panic of arrow's decoder on malformed bytes into an error
/// (a backstop: [`crate::ipc_check`] refuses the malformed framings known to panic first).
fn unpanicked(
    decode: impl FnOnce() -> Result<Batch, arrow_schema::ArrowError>,
) -> Result<Batch, arrow_schema::ArrowError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        Err(arrow_schema::ArrowError::IpcError(format!("malformed Arrow IPC stream: {why}")))
    })
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<batch of {} rows x {} columns>", self.0.num_rows(), self.0.num_columns())
    }
}

impl Serialize for Batch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if crate::oob::sending() {
            return crate::oob::serialize_batch(self, serializer);
        }
        serializer.serialize_bytes(&self.to_ipc().map_err(S::Error::custom)?)
    }
}

impl<'de> Deserialize<'de> for Batch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if crate::oob::receiving() {
            return crate::oob::deserialize_batch(deserializer);
        }
        let bytes: serde_bytes_buf::ByteBuf = Deserialize::deserialize(deserializer)?;
        Batch::from_ipc(&bytes.0).map_err(D::Error::custom)
    }
}

/// Deserializes a byte string (or a sequence of bytes) into a buffer.
mod serde_bytes_buf {
    use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};

    pub struct ByteBuf(pub Vec<u8>);

    impl<'de> Deserialize<'de> for ByteBuf {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Bytes;
            impl<'de> Visitor<'de> for Bytes {
                type Value = ByteBuf;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("Arrow IPC bytes")
                }
                fn visit_bytes<E>(self, v: &[u8]) -> Result<ByteBuf, E> {
                    Ok(ByteBuf(v.to_vec()))
                }
                fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                    Ok(ByteBuf(v))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ByteBuf, A::Error> {
                    let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                    while let Some(b) = seq.next_element::<u8>()? {
                        out.push(b);
                    }
                    Ok(ByteBuf(out))
                }
            }
            deserializer.deserialize_byte_buf(Bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{Float64Array, StringArray};

    use super::*;
    use crate::Value;

    #[test]
    fn batches_round_trip_through_messagepack_values_with_nulls() {
        let batch = RecordBatch::try_from_iter([
            ("x", Arc::new(Float64Array::from(vec![Some(1.5), None])) as _),
            ("s", Arc::new(StringArray::from(vec![None, Some("é")])) as _),
        ])
        .unwrap();
        let value = Value::Batch(Batch::new(batch));
        let bytes = rmp_serde::to_vec_named(&value).unwrap();
        let back: Value = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, value);
        assert!(Batch::from_ipc(&bytes[..10]).is_err());
    }
}

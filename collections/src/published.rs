//! Collections published on a cluster, as Dask's `client.publish_dataset(x=persisted)`:
//! [`Array::publish`] and [`DataFrame::publish`] persist the collection there (unless it
//! is), and keep its blocks or partitions under a name with a description of what they
//! make up (the array's dtype, shape and chunks; the dataframe's schema and number of
//! partitions). [`Array::from_dataset`] and [`DataFrame::from_dataset`], in any client of
//! that cluster, rebuild the collection over the same values; nothing is copied.
//!
//! The description is the dataset's metadata (see `scheduler/src/client/datasets.rs`),
//! MessagePack of [`Description`].

use std::any::Any;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use rask_graph::{DType, Element, Key, Layer, Op};
use rask_scheduler::{Client, Dataset, Future, Held, Kept, Scheduler};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::array::chunks::block_indices;
use crate::array::raw::RawArray;
use crate::compute::{ComputeOptions, kept_task};
use crate::dataframe::DataFrame;
use crate::error::{Error, Result};

/// What a published dataset's values make up.
#[derive(Debug, Serialize, Deserialize)]
enum Description {
    /// An array's blocks, in C order of the block grid.
    Array { dtype: DType, shape: Vec<usize>, chunks: Vec<Vec<usize>> },
    /// A dataframe's partitions, in order; the schema as an Arrow IPC stream of no rows.
    DataFrame { schema: Vec<u8>, npartitions: usize },
}

impl Description {
    fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec(self).expect("a description is plain data")
    }

    fn decode(name: &str, metadata: &[u8]) -> Result<Description> {
        if metadata.is_empty() {
            return Err(dataset_error(name, "it holds plain futures, not a published collection"));
        }
        rmp_serde::from_slice(metadata)
            .map_err(|e| dataset_error(name, &format!("its description is not one this version reads: {e}")))
    }

    fn kind(&self) -> &'static str {
        match self {
            Description::Array { .. } => "an array",
            Description::DataFrame { .. } => "a dataframe",
        }
    }
}

fn dataset_error(name: &str, message: &str) -> Error {
    Error::Dataset { name: name.to_string(), message: message.to_string() }
}

impl<T: Element> Array<T> {
    /// Keeps the array on `client`'s cluster under `name`, for any client to read
    /// ([`Array::from_dataset`]) until `client.unpublish(name)`, even after this one
    /// disconnects. The array is persisted there first unless it is already.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use rask_collections::array::{ones, Array};
    /// let client = Arc::new(rask_scheduler::Client::connect("tcp://127.0.0.1:8786".parse()?)?);
    /// (&ones::<f64>(&[4, 4], [2, 2])? * 3.0).publish(&client, "threes")?;
    /// let again = Array::<f64>::from_dataset(&client, "threes")?;   // in any client
    /// assert_eq!(again.sum(..)?.compute()?[[]], 48.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish(&self, client: &Arc<Client>, name: &str) -> Result<()> {
        let raw = self.raw_allowing_unknown()?;
        let keys: Vec<Key> = block_indices(&raw.numblocks()).iter().map(|i| raw.key(i)).collect();
        let (array, futures) = match held_futures(&raw.layer, &keys) {
            Some(futures) if !raw.has_unknown() => (self.clone(), futures),
            _ => {
                let persisted = self.persist_with(&on(client))?;
                let futures = held_futures(&persisted.raw()?.layer, &keys).ok_or_else(|| not_held(name))?;
                (persisted, futures)
            }
        };
        let description =
            Description::Array { dtype: T::DTYPE, shape: array.shape().to_vec(), chunks: array.chunks().to_vec() };
        client.publish_dataset(name, &Dataset { futures, metadata: description.encode() })?;
        Ok(())
    }

    /// The array published as `name` on `client`'s cluster ([`Array::publish`]), over the
    /// values there. An error if the dataset is not an array of `T`.
    pub fn from_dataset(client: &Client, name: &str) -> Result<Array<T>> {
        let Dataset { futures, metadata } = client.dataset(name)?;
        let (shape, chunks) = match Description::decode(name, &metadata)? {
            Description::Array { dtype, shape, chunks } if dtype == T::DTYPE => (shape, chunks),
            Description::Array { dtype, .. } => {
                return Err(dataset_error(name, &format!("it is an array of {dtype}, not of {}", T::DTYPE)));
            }
            other => return Err(dataset_error(name, &format!("it is {}, not an array", other.kind()))),
        };
        let first = checked_count(name, &futures, chunks.iter().map(Vec::len).product())?;
        let mut raw = RawArray {
            shape,
            chunks,
            unknown: vec![],
            dtype: T::DTYPE,
            group: first.group(),
            token: first.token(),
            layer: Layer::new(vec![], vec![]),
        };
        let keys: Vec<Key> = block_indices(&raw.numblocks()).iter().map(|i| raw.key(i)).collect();
        raw.layer = held_layer(name, &keys, futures)?;
        Ok(Array::from_raw(raw))
    }
}

impl DataFrame {
    /// Keeps the dataframe on `client`'s cluster under `name`, for any client to read
    /// ([`DataFrame::from_dataset`]) until `client.unpublish(name)`. The dataframe is
    /// persisted there first unless it is already.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use arrow::array::Int64Array;
    /// use rask_collections::dataframe::{self, DataFrame};
    /// let client = Arc::new(rask_scheduler::Client::connect("tcp://127.0.0.1:8786".parse()?)?);
    /// let df = dataframe::from_arrays(vec![("x", Arc::new(Int64Array::from(vec![1, 2, 3])) as _)], 2)?;
    /// df.publish(&client, "xs")?;
    /// assert_eq!(DataFrame::from_dataset(&client, "xs")?.compute()?.num_rows(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish(&self, client: &Arc<Client>, name: &str) -> Result<()> {
        let keys: Vec<Key> = (0..self.npartitions()).map(|i| self.partition_key(i)).collect();
        let (frame, futures) = match held_futures(self.layer(), &keys) {
            Some(futures) => (self.clone(), futures),
            None => {
                let persisted = self.persist_with(&on(client))?;
                let futures = held_futures(persisted.layer(), &keys).ok_or_else(|| not_held(name))?;
                (persisted, futures)
            }
        };
        let description =
            Description::DataFrame { schema: encode_schema(frame.schema())?, npartitions: frame.npartitions() };
        client.publish_dataset(name, &Dataset { futures, metadata: description.encode() })?;
        Ok(())
    }

    /// The dataframe published as `name` on `client`'s cluster ([`DataFrame::publish`]),
    /// over the partitions there. An error if the dataset is not a dataframe.
    pub fn from_dataset(client: &Client, name: &str) -> Result<DataFrame> {
        let Dataset { futures, metadata } = client.dataset(name)?;
        let (schema, npartitions) = match Description::decode(name, &metadata)? {
            Description::DataFrame { schema, npartitions } => (decode_schema(name, &schema)?, npartitions),
            other => return Err(dataset_error(name, &format!("it is {}, not a dataframe", other.kind()))),
        };
        let first = checked_count(name, &futures, npartitions)?;
        let (group, token) = (first.group(), first.token());
        let keys: Vec<Key> = (0..npartitions).map(|i| Key::new(group, token, &[i as u32])).collect();
        let layer = held_layer(name, &keys, futures)?;
        Ok(DataFrame::from_parts(schema, npartitions, group, token, layer))
    }
}

/// Options that run on `client`.
fn on(client: &Arc<Client>) -> ComputeOptions {
    ComputeOptions::default().scheduler_arc(client.clone() as Arc<dyn Scheduler>)
}

fn not_held(name: &str) -> Error {
    dataset_error(name, "the collection was persisted, yet its values are not held on the cluster")
}

/// The futures holding `keys`, if `layer` defines each as a value a cluster holds.
fn held_futures(layer: &Layer, keys: &[Key]) -> Option<Vec<Future>> {
    let by_key: FxHashMap<Key, &Arc<dyn Op>> = layer.tasks().iter().map(|t| (t.key, &t.op)).collect();
    keys.iter()
        .map(|key| {
            let op: &dyn Any = by_key.get(key)?.as_ref();
            op.downcast_ref::<Held>()?.future().cloned()
        })
        .collect()
}

/// The first key of a dataset of `futures`, which must number `expected`.
fn checked_count(name: &str, futures: &[Future], expected: usize) -> Result<Key> {
    match futures.first() {
        Some(first) if futures.len() == expected => Ok(first.key()),
        _ => Err(dataset_error(name, &format!("it holds {} values, its description {expected}", futures.len()))),
    }
}

/// A layer whose task `keys[i]` stands for the value of `futures[i]`; an error if the
/// futures' keys are not those.
fn held_layer(name: &str, keys: &[Key], futures: Vec<Future>) -> Result<Arc<Layer>> {
    if let Some((key, future)) = keys.iter().zip(&futures).find(|(k, f)| **k != f.key()) {
        return Err(dataset_error(
            name,
            &format!("value {} is not the block {key} its description names", future.key()),
        ));
    }
    Ok(Layer::new(keys.iter().zip(futures).map(|(&key, f)| kept_task(key, Kept::Future(f))).collect(), vec![]))
}

fn encode_schema(schema: &SchemaRef) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    arrow::ipc::writer::StreamWriter::try_new(&mut bytes, schema)
        .and_then(|mut writer| writer.finish())
        .map_err(|e| Error::Schema(format!("cannot describe the schema {schema:?}: {e}")))?;
    Ok(bytes)
}

fn decode_schema(name: &str, bytes: &[u8]) -> Result<SchemaRef> {
    arrow::ipc::reader::StreamReader::try_new(bytes, None)
        .map(|reader| reader.schema())
        .map_err(|e| dataset_error(name, &format!("its schema cannot be read: {e}")))
}

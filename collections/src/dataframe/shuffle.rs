//! Hash shuffles: rows with equal keys meet in the same output partition.
//!
//! Each input partition is split by the hash of its key columns into `n` parts (one
//! [`HashSplit`] task per input), and output partition `j` concatenates part `j` of every
//! split (one [`TakePart`] task per output). Keys are hashed through Arrow's row format,
//! so any key types work, several key columns hash together, and null keys all land in
//! one partition (pandas matches null keys). Both sides of a join must cast their keys to
//! the same types first: equal values of different types hash differently.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use rask_graph::{ArgSpec, Args, Batch, Op, OpError, Token, Value};
use serde::{Deserialize, Serialize};

use super::DataFrame;
use super::partitions::{layer_of_partitions, map_partitions_with};
use crate::dataframe::partitions::check_partitions;
use crate::error::{Error, Result};

/// The output partition (of `parts`) of every row of `batch`, by the hash of `keys`.
pub(crate) fn partition_of_rows(batch: &RecordBatch, keys: &[String], parts: usize) -> Result<Vec<u32>, String> {
    let columns = keys
        .iter()
        .map(|k| batch.column_by_name(k).cloned().ok_or_else(|| format!("no key column {k:?} in the partition")))
        .collect::<Result<Vec<_>, _>>()?;
    let fields = columns.iter().map(|c| SortField::new(c.data_type().clone())).collect();
    let converter = RowConverter::new(fields).map_err(|e| e.to_string())?;
    let rows = converter.convert_columns(&columns).map_err(|e| e.to_string())?;
    let hasher = rustc_hash::FxBuildHasher;
    Ok(rows
        .iter()
        .map(|row| {
            let mut h = hasher.build_hasher();
            h.write(row.as_ref());
            // Fx leaves the low bits weak for short keys: mix before reducing.
            let mixed = h.finish().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
            ((mixed * parts as u64) >> 32) as u32
        })
        .collect())
}

/// `batch` split into `parts` batches by `partition[row]`, rows keeping their order.
pub(crate) fn split_by(batch: &RecordBatch, partition: &[u32], parts: usize) -> Result<Vec<RecordBatch>, String> {
    let mut indices: Vec<Vec<u32>> = vec![Vec::new(); parts];
    for (row, &p) in partition.iter().enumerate() {
        indices[p as usize].push(row as u32);
    }
    indices
        .into_iter()
        .map(|rows| take_record_batch(batch, &UInt32Array::from(rows)).map_err(|e| e.to_string()))
        .collect()
}

/// Splits one partition into `parts` by the hash of `keys`: a list of batches.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HashSplit {
    /// The key columns.
    pub keys: Vec<String>,
    /// How many parts.
    pub parts: usize,
}

#[typetag::serde(name = "rask.dataframe.hash_split")]
impl Op for HashSplit {
    fn name(&self) -> &str {
        "hash_split"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let [Value::Batch(batch)] = args.as_slice() else {
            return Err(OpError::new(format!("hash_split takes one record batch, got {:?}", args.as_slice())));
        };
        let partition = partition_of_rows(&batch.0, &self.keys, self.parts).map_err(OpError::new)?;
        let parts = split_by(&batch.0, &partition, self.parts).map_err(OpError::new)?;
        Ok(Value::List(parts.into_iter().map(|b| Value::Batch(Batch::new(b))).collect()))
    }
}

/// Concatenates part `index` of every split it is given, in argument order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TakePart {
    /// Which part.
    pub index: usize,
    /// The schema of the parts (so that zero splits still give a typed empty batch).
    pub schema: SchemaRef,
}

#[typetag::serde(name = "rask.dataframe.take_part")]
impl Op for TakePart {
    fn name(&self) -> &str {
        "take_part"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let parts = args
            .iter()
            .map(|v| match v {
                Value::List(items) => match items.get(self.index) {
                    Some(Value::Batch(b)) => Ok(b.0.clone()),
                    _ => Err(OpError::new(format!("take_part: a split has no batch at {}", self.index))),
                },
                other => Err(OpError::new(format!("take_part takes lists of batches, got a {}", other.type_name()))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let batch =
            concat_batches(&self.schema, parts.iter().map(|b| b.as_ref())).map_err(|e| OpError::new(e.to_string()))?;
        Ok(Value::Batch(Batch::new(batch)))
    }
}

impl DataFrame {
    /// The rows moved so that rows with equal `keys` share a partition, in `npartitions`
    /// partitions (Dask's `shuffle(on=...)`); within a partition, rows keep their input
    /// order.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::Int64Array;
    /// let df = rask_collections::dataframe::from_arrays(vec![("k", Arc::new(Int64Array::from(vec![1, 2, 1, 2])) as _)], 4).unwrap();
    /// let shuffled = df.shuffle(&["k"], 2).unwrap();
    /// assert_eq!(shuffled.compute().unwrap().num_rows(), 4);
    /// ```
    pub fn shuffle<S: AsRef<str>>(&self, keys: &[S], npartitions: usize) -> Result<DataFrame> {
        let keys: Vec<String> = keys.iter().map(|k| k.as_ref().to_string()).collect();
        hash_shuffle(self, &keys, npartitions)
    }
}

/// `df` with its rows moved so that equal `keys` share a partition, in `npartitions`
/// partitions; within an output partition, rows keep their input partition order.
pub(crate) fn hash_shuffle(df: &DataFrame, keys: &[String], npartitions: usize) -> Result<DataFrame> {
    for k in keys {
        df.schema().field_with_name(k).map_err(|_| {
            Error::Schema(format!("no key column {k:?} in the schema [{}]", super::describe_schema(df.schema())))
        })?;
    }
    check_partitions("a shuffle", npartitions)?;
    check_partitions("a shuffle's edges (inputs × outputs)", npartitions.saturating_mul(df.npartitions()))?;
    let split: Arc<dyn Op> = Arc::new(HashSplit { keys: keys.to_vec(), parts: npartitions });
    let token = Token::of(&("shuffle", keys, npartitions));
    let splits = map_partitions_with("shuffle-split", df, split, token, df.schema().clone());
    let token = Token::of(&("shuffle", splits.token().0));
    let schema = df.schema().clone();
    Ok(layer_of_partitions("shuffle", token, schema.clone(), npartitions, vec![splits.layer().clone()], |j| {
        let op: Arc<dyn Op> = Arc::new(TakePart { index: j, schema: schema.clone() });
        (op, (0..splits.npartitions()).map(|i| ArgSpec::Key(splits.partition_key(i))).collect())
    }))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, Int64Array, StringArray};

    use super::*;

    #[test]
    fn equal_keys_land_in_one_partition_and_no_row_is_lost() {
        let keys = Int64Array::from_iter((0..1000).map(|i| if i % 97 == 0 { None } else { Some(i % 37) }));
        let names = StringArray::from_iter_values((0..1000).map(|i| format!("r{i}")));
        let batch = RecordBatch::try_from_iter([("k", Arc::new(keys) as _), ("name", Arc::new(names) as _)]).unwrap();
        let df =
            super::super::from_batches(vec![batch.slice(0, 400), batch.slice(400, 0), batch.slice(400, 600)]).unwrap();
        let shuffled = hash_shuffle(&df, &["k".to_string()], 5).unwrap();
        assert_eq!(shuffled.npartitions(), 5);
        let mut seen = std::collections::HashMap::new();
        let mut rows = 0;
        for p in 0..5 {
            let batch = shuffled.partition(p).unwrap().compute().unwrap();
            rows += batch.num_rows();
            let k = batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            for v in k.iter() {
                assert_eq!(*seen.entry(v).or_insert(p), p, "key {v:?} in two partitions");
            }
        }
        assert_eq!(rows, 1000);
        assert!(hash_shuffle(&df, &["nope".to_string()], 2).unwrap_err().to_string().contains("nope"));
    }
}

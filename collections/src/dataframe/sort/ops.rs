//! The registered ops of a sort, one per stage, and the sort order they share
//! ([`SortKeys`]): keys compare as Arrow's row format encodes them (per column ascending
//! or descending, nulls first or last, floats by IEEE total order, strings by their UTF-8
//! bytes, i.e. by code point), in the range split and in the local sorts alike.

use std::sync::Arc;

use arrow::array::{Array, RecordBatch, RecordBatchOptions, UInt32Array};
use arrow::compute::{SortOptions, concat_batches, interleave, take_record_batch};
use arrow::error::ArrowError;
use arrow::row::{RowConverter, SortField};
use rask_graph::{Args, Batch, Op, OpError, Value};
use serde::{Deserialize, Serialize};

use crate::dataframe::shuffle::split_by;

/// The columns a sort orders by, and how.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SortKeys {
    /// The key columns, most significant first.
    pub columns: Vec<String>,
    /// Whether each key column sorts descending.
    pub descending: Vec<bool>,
    /// Whether nulls come before every value (else after).
    pub nulls_first: bool,
}

impl SortKeys {
    fn options(&self, key: usize) -> SortOptions {
        SortOptions { descending: self.descending[key], nulls_first: self.nulls_first }
    }

    /// The key columns of `batch`, in key order.
    pub(crate) fn key_batch(&self, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        let schema = batch.schema();
        let indices = self.columns.iter().map(|c| schema.index_of(c)).collect::<Result<Vec<_>, _>>()?;
        batch.project(&indices)
    }

    /// A converter whose rows compare, as bytes, in this sort order.
    fn converter(&self, keys: &RecordBatch) -> Result<RowConverter, ArrowError> {
        let fields = keys
            .columns()
            .iter()
            .enumerate()
            .map(|(i, c)| SortField::new_with_options(c.data_type().clone(), self.options(i)))
            .collect();
        RowConverter::new(fields)
    }

    /// The rows of `keys` (a batch of the key columns) in sort order; equal keys keep
    /// their row order. Arrow's sort kernels are unstable, so this sorts row numbers
    /// stably by their row-format keys: as one integer each (key bytes, then row number)
    /// when the keys are narrow and of one width (numbers, dates, booleans), else with a
    /// `memcmp` per comparison.
    fn sorted_indices(&self, keys: &RecordBatch) -> Result<UInt32Array, ArrowError> {
        let rows = self.converter(keys)?.convert_columns(keys.columns())?;
        let n = rows.num_rows();
        let width = rows.iter().next().map_or(0, |row| row.data().len());
        if width <= NARROW_KEY && rows.iter().all(|row| row.data().len() == width) {
            let mut packed: Vec<u128> = rows.iter().enumerate().map(|(r, row)| pack(row.data(), r as u32)).collect();
            packed.sort_unstable();
            return Ok(packed.into_iter().map(|p| p as u32).collect());
        }
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by(|&a, &b| rows.row(a as usize).cmp(&rows.row(b as usize)));
        Ok(UInt32Array::from(order))
    }
}

/// The widest row-format key that [`pack`] takes: 16 bytes less the row number's 4.
const NARROW_KEY: usize = 12;

/// A key of at most [`NARROW_KEY`] bytes and its row number as one integer that orders as
/// (key bytes, row number) do: integers of equal-width keys compare like the bytes.
fn pack(key: &[u8], row: u32) -> u128 {
    let mut bytes = [0u8; 16];
    bytes[..key.len()].copy_from_slice(key);
    bytes[NARROW_KEY..].copy_from_slice(&row.to_be_bytes());
    u128::from_be_bytes(bytes)
}

/// The record batches among `args` (or part `part` of each list of batches).
fn batches_of(what: &str, args: &Args, part: Option<usize>) -> Result<Vec<Arc<RecordBatch>>, OpError> {
    args.iter()
        .map(|v| match (v, part) {
            (Value::Batch(b), None) => Ok(b.0.clone()),
            (Value::List(items), Some(part)) => match items.get(part) {
                Some(Value::Batch(b)) => Ok(b.0.clone()),
                _ => Err(OpError::new(format!("{what}: a split has no batch at {part}"))),
            },
            (other, _) => Err(OpError::new(format!("{what} cannot take a {}", other.type_name()))),
        })
        .collect()
}

fn arrow_error(what: &str) -> impl Fn(ArrowError) -> OpError + '_ {
    move |e| OpError::new(format!("{what}: {e}"))
}

/// Samples the sort keys of one partition: a list of the sampled key rows (a batch) and
/// the partition's row count. One row is drawn from each of `size` equal strides, so a
/// sample follows the data whether it is sorted, periodic or random.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SortSample {
    /// The sort order.
    pub keys: SortKeys,
    /// Rows drawn per partition (fewer if it is shorter).
    pub size: usize,
}

#[typetag::serde(name = "rask.dataframe.sort_sample")]
impl Op for SortSample {
    fn name(&self) -> &str {
        "sort_sample"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let [batch] = batches_of("sort_sample", &args, None)?
            .try_into()
            .map_err(|_| OpError::new(format!("sort_sample takes one record batch, got {} values", args.len())))?;
        let rows = batch.num_rows();
        let size = self.size.min(rows);
        let picks = UInt32Array::from_iter_values((0..size).map(|j| {
            let (start, end) = (j * rows / size, (j + 1) * rows / size);
            (start + (mix(j as u64) % (end - start) as u64) as usize) as u32
        }));
        let keys = self.keys.key_batch(&batch).map_err(arrow_error("sort_sample"))?;
        let sample = take_record_batch(&keys, &picks).map_err(arrow_error("sort_sample"))?;
        Ok(Value::List(vec![Value::Batch(Batch::new(sample)), Value::I64(rows as i64)].into()))
    }
}

/// SplitMix64's finalizer: a well-spread hash of `x`.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Picks the `parts - 1` keys that cut the sampled rows into `parts` ranges of nearly
/// equal row counts (each sampled row weighs its partition's rows over its sample size):
/// a batch of key rows in sort order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SortBoundaries {
    /// The sort order.
    pub keys: SortKeys,
    /// How many output partitions.
    pub parts: usize,
}

#[typetag::serde(name = "rask.dataframe.sort_boundaries")]
impl Op for SortBoundaries {
    fn name(&self) -> &str {
        "sort_boundaries"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let error = arrow_error("sort_boundaries");
        let samples = args.iter().map(sample_of).collect::<Result<Vec<_>, _>>()?;
        let weights: Vec<f64> = samples
            .iter()
            .flat_map(|(sample, rows)| {
                let weight = *rows as f64 / sample.num_rows().max(1) as f64;
                std::iter::repeat_n(weight, sample.num_rows())
            })
            .collect();
        let samples: Vec<Arc<RecordBatch>> = samples.into_iter().map(|(sample, _)| sample).collect();
        let Some(first) = samples.first() else {
            return Err(OpError::new("sort_boundaries needs at least one sample"));
        };
        let all = concat_batches(&first.schema(), samples.iter().map(|b| b.as_ref())).map_err(&error)?;
        let rows = self.keys.converter(&all).and_then(|c| c.convert_columns(all.columns())).map_err(&error)?;
        let mut order: Vec<usize> = (0..all.num_rows()).collect();
        order.sort_unstable_by(|&a, &b| rows.row(a).cmp(&rows.row(b)));
        let total: f64 = weights.iter().sum();
        let mut picks = Vec::with_capacity(self.parts.saturating_sub(1));
        let mut seen = 0.0;
        for &row in &order {
            seen += weights[row];
            // Every boundary whose share of the rows is reached by now.
            while picks.len() + 1 < self.parts && seen >= total * (picks.len() + 1) as f64 / self.parts as f64 {
                picks.push(row as u32);
            }
        }
        let boundaries = take_record_batch(&all, &UInt32Array::from(picks)).map_err(&error)?;
        Ok(Value::Batch(Batch::new(boundaries)))
    }
}

/// A sample and the row count of its partition, as [`SortSample`] gives them.
fn sample_of(value: &Value) -> Result<(Arc<RecordBatch>, i64), OpError> {
    match value {
        Value::List(items) => match items.as_ref() {
            [Value::Batch(sample), Value::I64(rows)] => Ok((sample.0.clone(), *rows)),
            _ => Err(OpError::new("sort_boundaries: a sample is not [batch, row count]")),
        },
        other => Err(OpError::new(format!("sort_boundaries takes samples, got a {}", other.type_name()))),
    }
}

/// Splits one partition by its sort keys into `parts` ranges cut at the boundaries (its
/// second argument): a list of batches, rows keeping their order. Part `j` holds the keys
/// above boundary `j - 1` up to boundary `j`, so equal keys share a part.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RangeSplit {
    /// The sort order.
    pub keys: SortKeys,
    /// How many parts.
    pub parts: usize,
}

#[typetag::serde(name = "rask.dataframe.range_split")]
impl Op for RangeSplit {
    fn name(&self) -> &str {
        "range_split"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let error = arrow_error("range_split");
        let [batch, boundaries] = batches_of("range_split", &args, None)?.try_into().map_err(|_| {
            OpError::new(format!("range_split takes a batch and its boundaries, got {} values", args.len()))
        })?;
        let keys = self.keys.key_batch(&batch).map_err(&error)?;
        let converter = self.keys.converter(&keys).map_err(&error)?;
        let rows = converter.convert_columns(keys.columns()).map_err(&error)?;
        let bounds = converter.convert_columns(boundaries.columns()).map_err(&error)?;
        let bounds: Vec<_> = bounds.iter().collect();
        let part = (0..rows.num_rows())
            .map(|r| {
                let row = rows.row(r);
                bounds.partition_point(|b| *b < row) as u32
            })
            .collect::<Vec<_>>();
        let parts = split_by(&batch, &part, self.parts).map_err(OpError::new)?;
        Ok(Value::List(parts.into_iter().map(|b| Value::Batch(Batch::new(b))).collect()))
    }
}

/// Sorts the concatenation of its arguments, in argument order and stably: record
/// batches, or with `part`, part `part` of each split (a list of batches).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SortParts {
    /// The sort order.
    pub keys: SortKeys,
    /// Which part of each split, if the arguments are splits.
    pub part: Option<usize>,
}

#[typetag::serde(name = "rask.dataframe.sort_parts")]
impl Op for SortParts {
    fn name(&self) -> &str {
        "sort_parts"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let batches = batches_of("sort_parts", &args, self.part)?;
        let sorted = sort_batches(&batches, &self.keys).map_err(arrow_error("sort_parts"))?;
        Ok(Value::Batch(Batch::new(sorted)))
    }
}

/// The rows of `batches` (concatenated in order) sorted stably by `keys`, gathered from
/// the batches in one copy.
fn sort_batches(batches: &[Arc<RecordBatch>], keys: &SortKeys) -> Result<RecordBatch, ArrowError> {
    let Some(first) = batches.first() else {
        return Err(ArrowError::InvalidArgumentError("nothing to sort: no batches".into()));
    };
    let batches: Vec<&RecordBatch> = batches.iter().map(|b| b.as_ref()).filter(|b| b.num_rows() > 0).collect();
    let key_batches = batches.iter().map(|b| keys.key_batch(b)).collect::<Result<Vec<_>, _>>()?;
    match batches.as_slice() {
        [] => Ok(RecordBatch::new_empty(first.schema())),
        [one] => take_record_batch(one, &keys.sorted_indices(&key_batches[0])?),
        many => {
            let key_schema = key_batches[0].schema();
            let order = keys.sorted_indices(&concat_batches(&key_schema, &key_batches)?)?;
            let mut starts = vec![0usize];
            starts.extend(many.iter().scan(0, |end, b| {
                *end += b.num_rows();
                Some(*end)
            }));
            let picks: Vec<(usize, usize)> = order
                .values()
                .iter()
                .map(|&row| {
                    let row = row as usize;
                    let batch = starts.partition_point(|&s| s <= row) - 1;
                    (batch, row - starts[batch])
                })
                .collect();
            let columns = (0..first.num_columns())
                .map(|c| interleave(&many.iter().map(|b| b.column(c).as_ref()).collect::<Vec<_>>(), &picks))
                .collect::<Result<Vec<_>, _>>()?;
            let options = RecordBatchOptions::new().with_row_count(Some(picks.len()));
            RecordBatch::try_new_with_options(first.schema(), columns, &options)
        }
    }
}

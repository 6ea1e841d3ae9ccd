//! `describe()`: count, mean, std, min, quartiles and max of every numeric column; for a
//! frame without numeric columns, as pandas does, count, unique, top and freq of the others.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray};
use arrow::compute::concat;
use arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use rask_graph::{ArgSpec, Args, Batch, Op, OpError, Token, Value};
use serde::{Deserialize, Serialize};

use super::kernels::Moments;
use super::stages::batch_args;
use crate::dataframe::partitions::layer_of_partitions;
use crate::dataframe::{DataFrame, col, describe_schema};
use crate::error::{Error, Result};

/// The statistics, in pandas' order.
const STATISTICS: [&str; 8] = ["count", "mean", "std", "min", "25%", "50%", "75%", "max"];
/// The statistics of non-numeric columns, in pandas' order.
const OBJECT_STATISTICS: [&str; 4] = ["count", "unique", "top", "freq"];

impl DataFrame {
    /// Summary statistics of the numeric columns (integers and floats; booleans are not
    /// numeric here, as in pandas): a `statistic` column naming the rows `count`, `mean`,
    /// `std` (ddof = 1), `min`, `25%`, `50%`, `75%`, `max`, then one `Float64` column per
    /// numeric column. Nulls are skipped; percentiles are exact, interpolated linearly
    /// between the two nearest values as pandas does. One partition.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::{Array, AsArray, Int64Array};
    /// # use arrow::datatypes::Float64Type;
    /// let df = rask_collections::dataframe::from_arrays(vec![("x", Arc::new(Int64Array::from(vec![Some(1), Some(2), None, Some(3), Some(4)])) as _)], 2)?;
    /// let out = df.describe()?.compute()?;
    /// let x = out.column(1).as_primitive::<Float64Type>();
    /// assert_eq!(x.values().to_vec(), vec![4.0, 2.5, (5.0f64 / 3.0).sqrt(), 1.0, 1.75, 2.5, 3.25, 4.0]);
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    ///
    /// A frame with no numeric column describes its other columns as pandas does for
    /// object columns: rows `count` (non-null values), `unique` (distinct non-null values),
    /// `top` (the most frequent; on a tie, the one seen first) and `freq` (its count), all
    /// as text (`Utf8`); `top` and `freq` are null for a column of nulls only.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::{Array, AsArray, StringArray};
    /// let names = StringArray::from(vec![Some("b"), Some("a"), None, Some("a"), Some("b"), Some("c")]);
    /// let df = rask_collections::dataframe::from_arrays(vec![("name", Arc::new(names) as _)], 3)?;
    /// let out = df.describe()?.compute()?;
    /// let name = out.column(1).as_string::<i32>();
    /// assert_eq!(name.iter().collect::<Vec<_>>(), vec![Some("5"), Some("3"), Some("b"), Some("2")]);
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn describe(&self) -> Result<DataFrame> {
        let numeric: Vec<String> = self
            .schema()
            .fields()
            .iter()
            .filter(|f| f.data_type().is_integer() || f.data_type().is_floating())
            .map(|f| f.name().clone())
            .collect();
        if !numeric.is_empty() {
            let values = self.pruned_to(&numeric)?.select(numeric.iter().map(|c| col(c).cast(DataType::Float64)))?;
            let schema = describe_output(&numeric, DataType::Float64);
            return Ok(describe_with(values, Arc::new(DescribeFinish { schema: schema.clone() }), schema));
        }
        let others: Vec<String> = self
            .schema()
            .fields()
            .iter()
            .filter(|f| arrow::compute::can_cast_types(f.data_type(), &DataType::Utf8))
            .map(|f| f.name().clone())
            .collect();
        if others.is_empty() {
            return Err(Error::Schema(format!(
                "describe needs a column that is numeric or can be shown as text; the schema is [{}]",
                describe_schema(self.schema())
            )));
        }
        let values = self.pruned_to(&others)?.select(others.iter().map(|c| col(c).cast(DataType::Utf8)))?;
        let schema = describe_output(&others, DataType::Utf8);
        Ok(describe_with(values, Arc::new(DescribeObjects { schema: schema.clone() }), schema))
    }
}

/// One task reading every partition of `values` with the finishing `op`, whose output has
/// `schema`.
fn describe_with(values: DataFrame, op: Arc<dyn Op>, schema: SchemaRef) -> DataFrame {
    let token = Token::of(&(op.name(), schema.fields().len(), values.token().0));
    layer_of_partitions("describe", token, schema, 1, vec![values.layer().clone()], |_| {
        (op.clone(), (0..values.npartitions()).map(|i| ArgSpec::Key(values.partition_key(i))).collect())
    })
}

/// `statistic`, then one column of `data_type` per described column.
fn describe_output(columns: &[String], data_type: DataType) -> SchemaRef {
    let statistic = Field::new("statistic", DataType::Utf8, false);
    let fields = std::iter::once(statistic).chain(columns.iter().map(|c| Field::new(c, data_type.clone(), true)));
    Arc::new(Schema::new(fields.collect::<Vec<_>>()))
}

/// The concatenation of column `c` of `batches` (an empty array of `data_type` for none).
fn concat_column(batches: &[&RecordBatch], c: usize, data_type: &DataType) -> Result<ArrayRef, OpError> {
    let parts = batches
        .iter()
        .map(|b| b.columns().get(c).map(|a| a.as_ref()))
        .collect::<Option<Vec<&dyn Array>>>()
        .ok_or_else(|| OpError::new(format!("describe: an input batch has no column {c}")))?;
    if parts.is_empty() {
        return Ok(arrow::array::new_empty_array(data_type));
    }
    concat(&parts).map_err(|e| OpError::new(format!("describe: {e}")))
}

/// The statistics of every column of its batches (all `Float64`, concatenated in order).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DescribeFinish {
    /// The output schema: `statistic`, then one column per described column.
    pub schema: SchemaRef,
}

#[typetag::serde(name = "rask.dataframe.describe")]
impl Op for DescribeFinish {
    fn name(&self) -> &str {
        "describe"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let batches = batch_args("describe", &args)?;
        let fail = |e: arrow::error::ArrowError| OpError::new(format!("describe: {e}"));
        let described = self.schema.fields().len().saturating_sub(1);
        let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(STATISTICS.to_vec()))];
        for c in 0..described {
            let all = concat_column(&batches, c, &DataType::Float64)?;
            let all =
                all.as_primitive_opt::<Float64Type>().ok_or_else(|| OpError::new("describe takes Float64 columns"))?;
            columns.push(Arc::new(statistics(all)));
        }
        let out = RecordBatch::try_new(self.schema.clone(), columns).map_err(fail)?;
        Ok(Value::Batch(Batch::new(out)))
    }
}

/// count, mean, std, min, 25%, 50%, 75%, max of the valid values.
fn statistics(values: &Float64Array) -> Float64Array {
    let m = Moments::of(values, &vec![0; values.len()], 1);
    let (n, mean, m2) = (m.count[0], m.mean[0], m.m2[0]);
    let mut sorted: Vec<f64> = values.iter().flatten().collect();
    sorted.sort_unstable_by(f64::total_cmp);
    let quantile = |q: f64| {
        let position = q * (sorted.len() - 1) as f64;
        let (low, frac) = (position.floor() as usize, position.fract());
        let high = (low + 1).min(sorted.len() - 1);
        sorted[low] + (sorted[high] - sorted[low]) * frac
    };
    let some = n > 0;
    Float64Array::from(vec![
        Some(n as f64),
        some.then_some(mean),
        (n > 1).then(|| (m2 / (n - 1) as f64).sqrt()),
        some.then(|| sorted[0]),
        some.then(|| quantile(0.25)),
        some.then(|| quantile(0.5)),
        some.then(|| quantile(0.75)),
        some.then(|| sorted[sorted.len() - 1]),
    ])
}

/// count, unique, top and freq of every column of its batches (all `Utf8`, concatenated
/// in order), as text.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DescribeObjects {
    /// The output schema: `statistic`, then one `Utf8` column per described column.
    pub schema: SchemaRef,
}

#[typetag::serde(name = "rask.dataframe.describe_objects")]
impl Op for DescribeObjects {
    fn name(&self) -> &str {
        "describe"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let batches = batch_args("describe", &args)?;
        let described = self.schema.fields().len().saturating_sub(1);
        let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(OBJECT_STATISTICS.to_vec()))];
        for c in 0..described {
            let all = concat_column(&batches, c, &DataType::Utf8)?;
            let all = all.as_string_opt::<i32>().ok_or_else(|| OpError::new("describe takes Utf8 columns here"))?;
            columns.push(Arc::new(object_statistics(all)));
        }
        let out =
            RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| OpError::new(format!("describe: {e}")))?;
        Ok(Value::Batch(Batch::new(out)))
    }
}

/// count, unique, top (most frequent, the first seen on a tie) and freq of the valid values.
fn object_statistics(values: &StringArray) -> StringArray {
    let mut counts: rustc_hash::FxHashMap<&str, (usize, usize)> = rustc_hash::FxHashMap::default();
    for (row, v) in values.iter().enumerate() {
        if let Some(v) = v {
            counts.entry(v).or_insert((0, row)).0 += 1;
        }
    }
    let top = counts.iter().max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1)));
    let count = values.len() - values.null_count();
    StringArray::from(vec![
        Some(count.to_string()),
        Some(counts.len().to_string()),
        top.map(|(v, _)| v.to_string()),
        top.map(|(_, (n, _))| n.to_string()),
    ])
}

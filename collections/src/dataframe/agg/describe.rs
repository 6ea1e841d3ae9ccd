//! `describe()`: count, mean, std, min, quartiles and max of every numeric column.

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
    pub fn describe(&self) -> Result<DataFrame> {
        let numeric: Vec<String> = self
            .schema()
            .fields()
            .iter()
            .filter(|f| f.data_type().is_integer() || f.data_type().is_floating())
            .map(|f| f.name().clone())
            .collect();
        if numeric.is_empty() {
            return Err(Error::Schema(format!(
                "describe needs a numeric column; the schema is [{}]",
                describe_schema(self.schema())
            )));
        }
        let values = self.select(numeric.iter().map(|c| col(c).cast(DataType::Float64)))?;
        let schema = describe_output(&numeric);
        let op: Arc<dyn Op> = Arc::new(DescribeFinish { schema: schema.clone() });
        let token = Token::of(&("describe", values.token().0));
        Ok(layer_of_partitions("describe", token, schema, 1, vec![values.layer().clone()], |_| {
            (op.clone(), (0..values.npartitions()).map(|i| ArgSpec::Key(values.partition_key(i))).collect())
        }))
    }
}

fn describe_output(columns: &[String]) -> SchemaRef {
    let statistic = Field::new("statistic", DataType::Utf8, false);
    let fields = std::iter::once(statistic).chain(columns.iter().map(|c| Field::new(c, DataType::Float64, true)));
    Arc::new(Schema::new(fields.collect::<Vec<_>>()))
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
        let described = self.schema.fields().len() - 1;
        let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(STATISTICS.to_vec()))];
        for c in 0..described {
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            let all = if parts.is_empty() {
                Arc::new(Float64Array::from(Vec::<f64>::new()))
            } else {
                concat(&parts).map_err(fail)?
            };
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

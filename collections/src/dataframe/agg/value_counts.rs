//! `value_counts(column)`: how many rows hold each value, most frequent first.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, RecordBatch};
use arrow::compute::{SortColumn, SortOptions, lexsort_to_indices, take_record_batch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use rask_graph::{Args, Batch, Op, OpError, Token, Value};
use serde::{Deserialize, Serialize};

use super::stages::{conforms, one_batch};
use crate::dataframe::partitions::map_partitions_with;
use crate::dataframe::{DataFrame, col};
use crate::error::Result;

/// Options of [`DataFrame::value_counts_with`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ValueCounts {
    dropna: bool,
    normalize: bool,
}

impl Default for ValueCounts {
    fn default() -> Self {
        ValueCounts { dropna: true, normalize: false }
    }
}

impl ValueCounts {
    /// Nulls dropped, counts not normalized (pandas' defaults).
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether null is left out (the default) or counted as a value of its own.
    pub fn dropna(mut self, dropna: bool) -> Self {
        self.dropna = dropna;
        self
    }

    /// Whether to give each value's share of the rows counted (a `proportion` column of
    /// `Float64`) instead of its count.
    pub fn normalize(mut self, normalize: bool) -> Self {
        self.normalize = normalize;
        self
    }
}

impl DataFrame {
    /// Each distinct value of `column` with the number of rows holding it (a `count`
    /// column), most frequent first (ties in value order, nulls last); nulls are left out.
    /// One partition.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::{Array, Int64Array, StringArray};
    /// use rask_collections::dataframe::{from_arrays, ValueCounts};
    /// let df = from_arrays(vec![("s", Arc::new(StringArray::from(vec![Some("b"), None, Some("a"), Some("b")])) as _)], 2)?;
    /// let out = df.value_counts("s")?.compute()?;
    /// assert_eq!(out.column(0).as_ref(), &StringArray::from(vec!["b", "a"]) as &dyn Array);
    /// assert_eq!(out.column(1).as_ref(), &Int64Array::from(vec![2, 1]) as &dyn Array);
    /// let shares = df.value_counts_with("s", &ValueCounts::new().normalize(true))?.compute()?;
    /// assert_eq!(shares.schema().field(1).name(), "proportion");
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn value_counts(&self, column: &str) -> Result<DataFrame> {
        self.value_counts_with(column, &ValueCounts::new())
    }

    /// [`value_counts`](Self::value_counts) with options: keep nulls as a value, or
    /// normalize (divide by the number of rows counted: the non-null rows unless nulls
    /// are kept).
    pub fn value_counts_with(&self, column: &str, options: &ValueCounts) -> Result<DataFrame> {
        let counts = self.groupby([column]).dropna(options.dropna).agg([col(column).size().alias("count")])?;
        let key = counts.schema().field(0).clone();
        let value = match options.normalize {
            true => Field::new("proportion", DataType::Float64, true),
            false => Field::new("count", DataType::Int64, true),
        };
        let schema: SchemaRef = Arc::new(Schema::new(vec![key, value]));
        let op: Arc<dyn Op> = Arc::new(ValueCountsFinish { normalize: options.normalize, schema: schema.clone() });
        Ok(map_partitions_with("value-counts", &counts, op, Token::of(&options.normalize), schema))
    }
}

/// Sorts a batch of (value, count) by count, descending (ties keep value order), and with
/// `normalize` turns counts into shares of their total.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ValueCountsFinish {
    /// Whether to divide counts by their total.
    pub normalize: bool,
    /// The output schema.
    pub schema: SchemaRef,
}

#[typetag::serde(name = "rask.dataframe.value_counts")]
impl Op for ValueCountsFinish {
    fn name(&self) -> &str {
        "value_counts"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let batch = one_batch("value_counts", &args)?;
        let values = self.schema.fields().first().ok_or_else(|| OpError::new("value_counts: empty output schema"))?;
        let counted = Schema::new(vec![values.as_ref().clone(), Field::new("count", DataType::Int64, false)]);
        conforms(&counted, batch).map_err(|e| OpError::new(format!("value_counts: {e}")))?;
        let sorted = by_count(batch).map_err(|e| OpError::new(e.to_string()))?;
        let counts = sorted.column(1).clone();
        let value: Arc<dyn Array> = if self.normalize {
            let counts = counts.as_primitive::<Int64Type>();
            let total = counts.values().iter().sum::<i64>() as f64;
            Arc::new(counts.values().iter().map(|&n| n as f64 / total).collect::<Float64Array>())
        } else {
            counts
        };
        let out = RecordBatch::try_new(self.schema.clone(), vec![sorted.column(0).clone(), value]);
        Ok(Value::Batch(Batch::new(out.map_err(|e| OpError::new(e.to_string()))?)))
    }
}

/// The rows by count (column 1) descending, then value (column 0) ascending, nulls last.
fn by_count(batch: &RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    let column = |i: usize, descending| SortColumn {
        values: batch.column(i).clone(),
        options: Some(SortOptions { descending, nulls_first: false }),
    };
    let order = lexsort_to_indices(&[column(1, true), column(0, false)], None)?;
    take_record_batch(batch, &order)
}

//! `drop_duplicates`: the first row (in partition order) of each distinct value of some
//! columns, tree-reduced like a groupby or hash-shuffled.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::SchemaRef;
use rask_graph::{Args, Batch, Op, OpError, Value};
use serde::{Deserialize, Serialize};

use super::groupby::{AUTO_SHUFFLE_GROUPS, SplitOut, Strategy, partials, strategy, tree_reduce};
use super::kernels::group_rows;
use super::plan::orderable;
use super::stages::concat_args;
use crate::dataframe::partitions::map_partitions_with;
use crate::dataframe::shuffle::hash_shuffle;
use crate::dataframe::{DataFrame, describe_schema};
use crate::error::{Error, Result};

impl DataFrame {
    /// The rows whose values in `subset` (all columns if `None`) were not seen in an
    /// earlier row, in partition order, as pandas' `drop_duplicates(keep="first")`; nulls
    /// equal each other. One partition, from a tree reduction.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::{Array, Int64Array};
    /// use rask_collections::dataframe::from_arrays;
    /// let df = from_arrays(
    ///     vec![
    ///         ("k", Arc::new(Int64Array::from(vec![Some(3), None, Some(3), None, Some(1)])) as _),
    ///         ("x", Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])) as _),
    ///     ],
    ///     2,
    /// )?;
    /// let out = df.drop_duplicates(Some(&["k"])).unwrap().compute()?;
    /// assert_eq!(out.column(1).as_ref(), &Int64Array::from(vec![1, 2, 5]) as &dyn Array);
    /// assert_eq!(df.drop_duplicates(None)?.compute()?.num_rows(), 5);
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn drop_duplicates(&self, subset: Option<&[&str]>) -> Result<DataFrame> {
        self.drop_duplicates_with(subset, SplitOut::Tree)
    }

    /// [`drop_duplicates`](Self::drop_duplicates) with a strategy: a tree (one partition,
    /// rows in partition order), or a hash shuffle on the columns into `n` partitions
    /// (each keeps the first occurrence of its values, in partition order; partitions
    /// are not in global order). [`SplitOut::Auto`] estimates the distinct rows from the
    /// first partitions, as a groupby does.
    pub fn drop_duplicates_with(&self, subset: Option<&[&str]>, split_out: SplitOut) -> Result<DataFrame> {
        let columns: Vec<String> = match subset {
            Some(columns) => columns.iter().map(|c| c.to_string()).collect(),
            None => self.columns().iter().map(|c| c.to_string()).collect(),
        };
        for c in &columns {
            let field = self.schema().field_with_name(c).map_err(|_| {
                Error::Schema(format!("no column {c:?} in the schema [{}]", describe_schema(self.schema())))
            })?;
            if !orderable(field.data_type()) {
                return Err(Error::Schema(format!(
                    "drop_duplicates: cannot compare values of column {c:?} of type {}",
                    field.data_type()
                )));
            }
        }
        let schema = self.schema().clone();
        let op: Arc<dyn Op> = Arc::new(DropDuplicates { columns: columns.clone(), schema: schema.clone() });
        let chunks = |known| partials("drop-duplicates-chunk", self, op.clone(), schema.clone(), known);
        Ok(match strategy(self, split_out, !columns.is_empty(), AUTO_SHUFFLE_GROUPS, chunks)? {
            Strategy::Tree(known) => tree_reduce("drop-duplicates", chunks(known), 8, |_| (op.clone(), schema.clone())),
            Strategy::Shuffle(n) => {
                let shuffled = hash_shuffle(self, &columns, n)?;
                map_partitions_with("drop-duplicates", &shuffled, op, shuffled.token(), schema)
            }
        })
    }
}

/// Concatenates its batches (in argument order) and keeps the first row of each distinct
/// value of `columns`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DropDuplicates {
    /// The columns compared.
    pub columns: Vec<String>,
    /// The batches' schema.
    pub schema: SchemaRef,
}

#[typetag::serde(name = "rask.dataframe.drop_duplicates")]
impl Op for DropDuplicates {
    fn name(&self) -> &str {
        "drop_duplicates"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let all = concat_args("drop_duplicates", &self.schema, &args)?;
        Ok(Value::Batch(Batch::new(first_rows(&all, &self.columns).map_err(OpError::new)?)))
    }
}

/// The first row of each distinct value of `columns`, in row order.
fn first_rows(batch: &RecordBatch, columns: &[String]) -> Result<RecordBatch, String> {
    if columns.is_empty() {
        return Ok(batch.slice(0, batch.num_rows().min(1)));
    }
    let keys = columns
        .iter()
        .map(|c| batch.column_by_name(c).cloned().ok_or_else(|| format!("no column {c:?} in the partition")))
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    let groups = group_rows(&keys, false)?;
    take_record_batch(batch, &UInt32Array::from(groups.first_rows)).map_err(|e| e.to_string())
}

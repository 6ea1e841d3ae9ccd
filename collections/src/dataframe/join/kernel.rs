//! The join of one left batch with one right batch: the registered op every join task
//! runs, whatever the strategy (broadcast or shuffle) that brought the batches together.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::compute::kernels::zip::zip;
use arrow::compute::{CastOptions, cast_with_options, concat_batches};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use rask_graph::{Args, Batch, Op, OpError, Value};
use serde::{Deserialize, Serialize};

use super::plan::{JoinPlan, OutputColumn};
use super::table::{Indices, match_rows};

/// Joins the concatenation of its first `left_args` batches (the left side) with the
/// concatenation of the others (the right side) by `plan`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JoinPartitions {
    /// How many leading arguments are left batches; the rest are right batches.
    pub left_args: usize,
    /// Keys, kind of join and output columns.
    pub plan: JoinPlan,
}

#[typetag::serde(name = "rask.dataframe.join")]
impl Op for JoinPartitions {
    fn name(&self) -> &str {
        "join"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let batches = args
            .iter()
            .map(|v| match v {
                Value::Batch(b) => Ok(b.0.clone()),
                other => Err(OpError::new(format!("join takes record batches, got a {}", other.type_name()))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.left_args == 0 || self.left_args >= batches.len() {
            return Err(OpError::new(format!(
                "join needs {} left batches and at least one right batch, got {} batches",
                self.left_args,
                batches.len()
            )));
        }
        let (left, right) = batches.split_at(self.left_args);
        let join = || -> Result<RecordBatch, ArrowError> {
            let (left, right) = (concatenated(left)?, concatenated(right)?);
            join_batches(&left, &right, &self.plan)
        };
        let joined = join().map_err(|e| OpError::new(format!("join: {e}")))?;
        Ok(Value::Batch(Batch::new(joined)))
    }
}

/// The batches of one side as one batch (the one batch itself, uncopied, if alone).
fn concatenated(batches: &[Arc<RecordBatch>]) -> Result<Arc<RecordBatch>, ArrowError> {
    match batches {
        [one] => Ok(one.clone()),
        _ => Ok(Arc::new(concat_batches(&batches[0].schema(), batches.iter().map(|b| b.as_ref()))?)),
    }
}

/// The join of `left` and `right` by `plan`, rows in the order `match_rows` documents.
pub(crate) fn join_batches(
    left: &RecordBatch,
    right: &RecordBatch,
    plan: &JoinPlan,
) -> Result<RecordBatch, ArrowError> {
    let keys = |batch: &RecordBatch, names: &[String]| -> Result<Vec<ArrayRef>, ArrowError> {
        names.iter().zip(&plan.key_types).map(|(name, to)| cast_to(column(batch, name)?, to)).collect()
    };
    let (left_rows, right_rows) =
        match_rows(&keys(left, &plan.left_on)?, &keys(right, &plan.right_on)?, plan.how, plan.nulls_equal)?;
    let columns = plan
        .columns
        .iter()
        .zip(plan.schema.fields())
        .map(|(source, field)| {
            let to = field.data_type();
            match source {
                OutputColumn::Left(name) => cast_to(&left_rows.gather(column(left, name)?)?, to),
                OutputColumn::Right(name) => cast_to(&right_rows.gather(column(right, name)?)?, to),
                OutputColumn::Key { left: l, right: r } => {
                    coalesced_key((column(left, l)?, &left_rows), (column(right, r)?, &right_rows), to)
                }
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(left_rows.len()));
    RecordBatch::try_new_with_options(plan.schema.clone(), columns, &options)
}

/// A key named alike on both sides, as one column: the left value where the output row
/// has a left row, else the right value.
fn coalesced_key(
    (left, left_rows): (&ArrayRef, &Indices),
    (right, right_rows): (&ArrayRef, &Indices),
    to: &DataType,
) -> Result<ArrayRef, ArrowError> {
    match (left_rows.present(), right_rows.present()) {
        (None, _) => cast_to(&left_rows.gather(left)?, to),
        (Some(_), None) => cast_to(&right_rows.gather(right)?, to),
        (Some(has_left), Some(_)) => {
            zip(&has_left, &cast_to(&left_rows.gather(left)?, to)?, &cast_to(&right_rows.gather(right)?, to)?)
        }
    }
}

/// The column `name` of a partition.
fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, ArrowError> {
    batch.column_by_name(name).ok_or_else(|| ArrowError::SchemaError(format!("no column {name:?} in the partition")))
}

/// `column` as type `to` (itself if it is of that type); values that do not fit are an
/// error, never nulls.
fn cast_to(column: &ArrayRef, to: &DataType) -> Result<ArrayRef, ArrowError> {
    match column.data_type() == to {
        true => Ok(column.clone()),
        false => cast_with_options(column, to, &CastOptions { safe: false, ..Default::default() }),
    }
}

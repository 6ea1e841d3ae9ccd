//! The stages of an aggregation on whole batches: a partition to its partial result
//! ([`chunk_batch`]), partials to one ([`combine_batches`]), a partial to the result
//! ([`finish_batch`]).

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::compute::{SortColumn, SortOptions, concat_batches, lexsort_to_indices, take, take_record_batch};
use arrow::datatypes::{Schema, SchemaRef};
use rask_graph::{Args, OpError, Value};

use super::kernels::{Groups, group_rows};
use super::plan::{AggPlan, state_types};
use super::state::{self, Grouped};

/// The partial result of `plan` over one partition: one row per group.
pub(crate) fn chunk_batch(plan: &AggPlan, batch: &RecordBatch) -> Result<RecordBatch, String> {
    let keys = plan
        .keys()
        .iter()
        .map(|k| {
            batch
                .column_by_name(k.name())
                .cloned()
                .ok_or_else(|| format!("no key column {:?} in the partition", k.name()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let groups = group(&keys, plan.dropna(), batch.num_rows())?;
    let by = Grouped::new(&groups);
    let mut columns = key_columns(&keys, &groups)?;
    for planned in plan.aggs() {
        let values = planned.agg.input.evaluate(batch)?;
        columns.extend(state::chunk(planned, &values, &by)?);
    }
    new_batch(plan.partial_schema(), columns, groups.len())
}

/// Partial results (in partition order) merged into one.
pub(crate) fn combine_batches(plan: &AggPlan, partials: &[&RecordBatch]) -> Result<RecordBatch, String> {
    let schema = plan.partial_schema();
    let all = concat_as(&schema, partials.iter().copied()).map_err(|e| format!("combining partials: {e}"))?;
    let keys = all.columns()[..plan.nkeys()].to_vec();
    // Null keys still here were kept on purpose (`dropna(false)`).
    let groups = group(&keys, false, all.num_rows())?;
    let by = Grouped::new(&groups);
    let mut columns = key_columns(&keys, &groups)?;
    for (planned, states) in plan.aggs().iter().zip(state_columns(plan, &all)) {
        columns.extend(state::merge(planned.agg.func, states, &by)?);
    }
    new_batch(schema, columns, groups.len())
}

/// The result from a merged partial: keys, then one column per aggregation, sorted by
/// key if the plan says so (nulls last).
pub(crate) fn finish_batch(plan: &AggPlan, partial: &RecordBatch) -> Result<RecordBatch, String> {
    conforms(&plan.partial_schema(), partial)?;
    let mut columns = partial.columns()[..plan.nkeys()].to_vec();
    for (planned, states) in plan.aggs().iter().zip(state_columns(plan, partial)) {
        columns.push(state::finish(planned, states)?);
    }
    let out = new_batch(plan.output_schema(), columns, partial.num_rows())?;
    if plan.sort() { sort_by_keys(&out, plan.nkeys()) } else { Ok(out) }
}

/// `batch` sorted by its first `nkeys` columns, ascending with nulls last (stable).
pub(crate) fn sort_by_keys(batch: &RecordBatch, nkeys: usize) -> Result<RecordBatch, String> {
    if nkeys == 0 || batch.num_rows() < 2 {
        return Ok(batch.clone());
    }
    let options = Some(SortOptions { descending: false, nulls_first: false });
    let columns: Vec<SortColumn> =
        batch.columns()[..nkeys].iter().map(|c| SortColumn { values: c.clone(), options }).collect();
    let order = lexsort_to_indices(&columns, None).map_err(|e| e.to_string())?;
    take_record_batch(batch, &order).map_err(|e| e.to_string())
}

/// The groups of rows with `keys`; without keys, one group of every row.
fn group(keys: &[ArrayRef], dropna: bool, rows: usize) -> Result<Groups, String> {
    if keys.is_empty() { Ok(Groups::single(rows)) } else { group_rows(keys, dropna) }
}

/// Each group's key values (from its first row).
fn key_columns(keys: &[ArrayRef], groups: &Groups) -> Result<Vec<ArrayRef>, String> {
    let first = arrow::array::UInt32Array::from(groups.first_rows.clone());
    keys.iter().map(|k| take(k, &first, None).map_err(|e| e.to_string())).collect()
}

/// The state columns of each aggregation in a partial batch.
fn state_columns<'a>(plan: &AggPlan, partial: &'a RecordBatch) -> Vec<&'a [ArrayRef]> {
    let mut at = plan.nkeys();
    plan.aggs()
        .iter()
        .map(|a| {
            let n = state_types(a.agg.func, &a.input_type).len();
            at += n;
            &partial.columns()[at - n..at]
        })
        .collect()
}

fn new_batch(schema: SchemaRef, columns: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch, String> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(schema, columns, &options).map_err(|e| e.to_string())
}

/// The record batches an op was given, in order.
pub(crate) fn batch_args<'a>(op: &str, args: &'a Args) -> Result<Vec<&'a RecordBatch>, OpError> {
    args.iter()
        .map(|v| match v {
            Value::Batch(b) => Ok(b.0.as_ref()),
            other => Err(OpError::new(format!("{op} takes record batches, got a {}", other.type_name()))),
        })
        .collect()
}

/// The one record batch an op was given.
pub(crate) fn one_batch<'a>(op: &str, args: &'a Args) -> Result<&'a RecordBatch, OpError> {
    match batch_args(op, args)?.as_slice() {
        [batch] => Ok(batch),
        other => Err(OpError::new(format!("{op} takes one record batch, got {}", other.len()))),
    }
}

/// The record batches an op was given, of `schema`, concatenated in order.
pub(crate) fn concat_args(op: &str, schema: &SchemaRef, args: &Args) -> Result<RecordBatch, OpError> {
    concat_as(schema, batch_args(op, args)?).map_err(|e| OpError::new(format!("{op}: {e}")))
}

/// `batches` concatenated as `schema`, once each is checked to have its columns (count and
/// types): Arrow's concatenation indexes columns by the schema and panics on fewer.
pub(crate) fn concat_as<'a>(
    schema: &SchemaRef,
    batches: impl IntoIterator<Item = &'a RecordBatch>,
) -> Result<RecordBatch, String> {
    let batches: Vec<&RecordBatch> = batches.into_iter().collect();
    for (i, batch) in batches.iter().enumerate() {
        conforms(schema, batch).map_err(|e| format!("input {i}: {e}"))?;
    }
    concat_batches(schema, batches).map_err(|e| e.to_string())
}

/// Whether `batch` has the columns of `schema`, by count and type (names may differ).
pub(crate) fn conforms(schema: &Schema, batch: &RecordBatch) -> Result<(), String> {
    let (want, got) = (schema.fields(), batch.schema_ref().fields());
    if want.len() == got.len() && want.iter().zip(got.iter()).all(|(w, g)| w.data_type() == g.data_type()) {
        return Ok(());
    }
    let types = |fields: &arrow::datatypes::Fields| {
        fields.iter().map(|f| f.data_type().to_string()).collect::<Vec<_>>().join(", ")
    };
    Err(format!("a batch of columns [{}], expected [{}]", types(got), types(want)))
}

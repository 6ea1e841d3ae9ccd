//! What a read task does with what it decodes: the steps pushed into its scan, applied
//! chunk by chunk.
//!
//! A [`ReadPlan`] names the file columns to decode (those the steps need) and the steps.
//! Without a filter, a partition is decoded and transformed in one batch. With one, the
//! task decodes [`FILTER_CHUNK_ROWS`] rows at a time: each chunk is filtered while it is in
//! cache, and the surviving rows are copied once, straight into the partition's output
//! buffers (Arrow's `BatchCoalescer`), when the last filter is followed only by plain
//! column selections (`filter(..).select([col("a"), col("b").alias("c")])`); otherwise the
//! filtered chunks are concatenated. On W3's `filter` query this takes about 30% less CPU
//! than decoding whole row groups and filtering them: fewer fresh pages to fault in, and
//! each chunk filtered before it leaves L2.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::compute::{BatchCoalescer, concat_batches, filter_record_batch};
use arrow::datatypes::{Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::dataframe::Step;
use crate::dataframe::expr::{Expr, describe_schema};
use crate::dataframe::map::filter_mask;

/// The rows a filtering read task decodes and filters at a time (see the module docs).
pub(crate) const FILTER_CHUNK_ROWS: usize = 32 * 1024;

/// What a read task does after decoding: the pushed steps, and which file columns to
/// decode for them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReadPlan {
    /// The indices of the file columns to decode, ascending.
    pub columns: Vec<usize>,
    /// The pushed steps, applied in order.
    pub steps: Vec<Step>,
    /// For each step, the columns the steps after it read (`None`: all of them); a filter
    /// drops the others before it filters.
    pub keep: Vec<Option<Vec<String>>>,
    /// The schema of the result.
    pub schema: SchemaRef,
}

/// The columns a step reads to give the columns `after` needed from it.
///
/// A column that `with_columns` replaces stays needed if it was: decoding it keeps it at
/// its place in the column order, which the plan's schema fixes.
fn needed_before(step: &Step, after: Vec<String>) -> Vec<String> {
    match step {
        Step::Select(exprs) => exprs.iter().flat_map(Expr::columns).collect(),
        Step::Filter(predicate) => after.into_iter().chain(predicate.columns()).collect(),
        Step::WithColumns(exprs) => after.into_iter().chain(exprs.iter().flat_map(Expr::columns)).collect(),
        Step::Rename(pairs) => after
            .into_iter()
            .map(|name| pairs.iter().find(|(_, to)| *to == name).map_or(name, |(from, _)| from.clone()))
            .collect(),
        Step::Drop(_) => after,
    }
}

impl ReadPlan {
    /// The plan applying `steps` to files of `file_schema`, giving `schema`.
    pub(crate) fn new(file_schema: &Schema, steps: Vec<Step>, schema: SchemaRef) -> ReadPlan {
        let mut needed: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let mut keep = vec![None; steps.len()];
        for (i, step) in steps.iter().enumerate().rev() {
            if i + 1 < steps.len() {
                keep[i] = Some(needed.clone());
            }
            needed = needed_before(step, needed);
        }
        let needed: HashSet<String> = needed.into_iter().collect();
        let mut columns: Vec<usize> = file_schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| needed.contains(f.name()))
            .map(|(i, _)| i)
            .collect();
        if columns.is_empty() && !file_schema.fields().is_empty() {
            columns.push(0); // something to count rows with
        }
        ReadPlan { columns, steps, keep, schema }
    }

    /// How many rows a read task decodes at a time out of `rows`: all of them, or chunks of
    /// [`FILTER_CHUNK_ROWS`] when a step filters.
    pub(crate) fn batch_size(&self, rows: usize) -> usize {
        let filters = self.steps.iter().any(|s| matches!(s, Step::Filter(_)));
        if filters { rows.clamp(1, FILTER_CHUNK_ROWS) } else { rows.max(1) }
    }

    /// The decoded `batches` (of `rows` rows at most in all) through the steps, in one
    /// batch.
    pub(crate) fn finish_all<E: fmt::Display>(
        &self,
        batches: impl Iterator<Item = Result<RecordBatch, E>>,
        rows: usize,
    ) -> Result<RecordBatch, String> {
        let batches = batches.map(|b| b.map_err(|e| e.to_string()));
        match self.filter_before_plain_selects() {
            Some((split, predicate)) => self.filter_into_one(batches, split, predicate, rows),
            None => self.join(batches.map(|b| self.finish(b?)).collect::<Result<Vec<_>, _>>()?),
        }
    }

    /// Applies the steps to one decoded batch.
    pub fn finish(&self, batch: RecordBatch) -> Result<RecordBatch, String> {
        let batch = self.apply(batch, 0..self.steps.len())?;
        let rows = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        RecordBatch::try_new_with_options(self.schema.clone(), batch.columns().to_vec(), &rows).map_err(|_| {
            format!(
                "the file gives columns [{}], the dataframe promises [{}]",
                describe_schema(&batch.schema()),
                describe_schema(&self.schema)
            )
        })
    }

    /// An empty result.
    pub(crate) fn empty(&self) -> RecordBatch {
        RecordBatch::new_empty(self.schema.clone())
    }

    /// The last filter and its position, when only selections of plain columns follow it
    /// (they commute with it, so the filter can copy the rows they keep straight into the
    /// output).
    fn filter_before_plain_selects(&self) -> Option<(usize, &Expr)> {
        let split = self.steps.iter().rposition(|s| matches!(s, Step::Filter(_)))?;
        let plain = |e: &Expr| plain_column(e).is_some();
        let commutes = self.steps[split + 1..].iter().all(|s| matches!(s, Step::Select(e) if e.iter().all(plain)));
        match &self.steps[split] {
            Step::Filter(predicate) if commutes && !self.schema.fields().is_empty() => Some((split, predicate)),
            _ => None,
        }
    }

    /// Each batch through the steps before `split`, then filtered by `predicate` into one
    /// output through the plain selections after it.
    fn filter_into_one(
        &self,
        batches: impl Iterator<Item = Result<RecordBatch, String>>,
        split: usize,
        predicate: &Expr,
        rows: usize,
    ) -> Result<RecordBatch, String> {
        let mut output = BatchCoalescer::new(self.schema.clone(), rows.max(1));
        for batch in batches {
            let batch = self.apply(batch?, 0..split)?;
            let mask = filter_mask(predicate, &batch)?;
            let kept = self.apply(batch, split + 1..self.steps.len())?;
            output.push_batch_with_filter(kept, &mask).map_err(|e| e.to_string())?;
        }
        output.finish_buffered_batch().map_err(|e| e.to_string())?;
        self.join(std::iter::from_fn(|| output.next_completed_batch()).collect())
    }

    /// Applies `steps` (indices) in order; a filter first drops the columns no later step
    /// reads.
    fn apply(&self, mut batch: RecordBatch, steps: Range<usize>) -> Result<RecordBatch, String> {
        for i in steps {
            batch = match &self.steps[i] {
                Step::Filter(predicate) => {
                    let mask = filter_mask(predicate, &batch)?;
                    if let Some(Some(keep)) = self.keep.get(i) {
                        let schema = batch.schema();
                        let indices: Vec<usize> =
                            (0..schema.fields().len()).filter(|&i| keep.contains(schema.field(i).name())).collect();
                        batch = batch.project(&indices).map_err(|e| e.to_string())?;
                    }
                    filter_record_batch(&batch, &mask).map_err(|e| e.to_string())?
                }
                step => {
                    // Renames and drops of columns not decoded (nobody reads them) are moot.
                    let step = step.restricted_to(&batch.schema());
                    let schema = step.output_schema(&batch.schema()).map_err(|e| e.to_string())?;
                    step.apply(batch, &schema)?
                }
            };
        }
        Ok(batch)
    }

    /// Results of the plan joined in one batch.
    fn join(&self, mut done: Vec<RecordBatch>) -> Result<RecordBatch, String> {
        match done.len() {
            0 => Ok(self.empty()),
            1 => Ok(done.pop().expect("one batch")),
            _ => concat_batches(&self.schema, &done).map_err(|e| e.to_string()),
        }
    }

    /// The predicates of the filter steps.
    pub(crate) fn filters(&self) -> Vec<Expr> {
        self.steps.iter().filter_map(|s| if let Step::Filter(e) = s { Some(e.clone()) } else { None }).collect()
    }

    /// The names of the decoded columns.
    pub(crate) fn column_names(&self, file_schema: &Schema) -> Vec<String> {
        self.columns.iter().map(|&i| file_schema.field(i).name().clone()).collect()
    }

    /// The filters among the steps, each with a map from the names its columns have there
    /// to the file columns they copy (a computed column has no entry).
    pub(crate) fn filters_on_file_columns(&self, file_schema: &Schema) -> Vec<(&Expr, HashMap<String, String>)> {
        let mut names: HashMap<String, String> =
            file_schema.fields().iter().map(|f| (f.name().clone(), f.name().clone())).collect();
        let mut filters = Vec::new();
        for step in &self.steps {
            match step {
                Step::Filter(predicate) => filters.push((predicate, names.clone())),
                Step::Select(exprs) => {
                    names = exprs
                        .iter()
                        .filter_map(|e| {
                            let (name, source) = plain_column(e)?;
                            Some((name.to_string(), names.get(source)?.clone()))
                        })
                        .collect()
                }
                Step::WithColumns(exprs) => {
                    // Evaluated side by side: every expression reads the names before the step.
                    let made: Vec<(String, Option<String>)> = exprs
                        .iter()
                        .map(|e| match plain_column(e) {
                            Some((name, source)) => (name.to_string(), names.get(source).cloned()),
                            None => (e.output_name(), None),
                        })
                        .collect();
                    for (name, file_column) in made {
                        match file_column {
                            Some(f) => names.insert(name, f),
                            None => names.remove(&name),
                        };
                    }
                }
                Step::Rename(pairs) => {
                    names = names
                        .into_iter()
                        .map(|(name, f)| match pairs.iter().find(|(from, _)| *from == name) {
                            Some((_, to)) => (to.clone(), f),
                            None => (name, f),
                        })
                        .collect()
                }
                Step::Drop(columns) => names.retain(|name, _| !columns.contains(name)),
            }
        }
        filters
    }
}

/// `(output name, column read)` of a plain column selection: `col("a")` or
/// `col("a").alias("b")`.
fn plain_column(e: &Expr) -> Option<(&str, &str)> {
    match e {
        Expr::Column(c) => Some((c, c)),
        Expr::Alias(inner, alias) => match inner.as_ref() {
            Expr::Column(c) => Some((alias, c)),
            _ => None,
        },
        _ => None,
    }
}

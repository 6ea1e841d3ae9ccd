//! Per-partition operations: `select`, `filter`, `with_column(s)`, `rename`, `drop`.
//!
//! Each is a [`Step`] of one registered op, [`MapPartition`], applied to every partition
//! independently; a chain of them can run as one task (the optimizer's fusion concatenates
//! the steps). The output schema is derived when the operation is built, so mistakes are
//! errors then.

use std::any::Any;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rask_graph::{Args, Batch, Op, OpError, Token, Value};
use serde::{Deserialize, Serialize};

use super::DataFrame;
use super::expr::{Expr, describe_schema};
use super::partitions::map_partitions_with;
use crate::error::{Error, Result};

/// One per-partition operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Step {
    /// Exactly these columns, each named by [`Expr::output_name`].
    Select(Vec<Expr>),
    /// The rows where the predicate is true (null drops the row).
    Filter(Expr),
    /// Each expression as a column: replacing a column of the same name in place, else
    /// appended.
    WithColumns(Vec<Expr>),
    /// Columns renamed `(from, to)`.
    Rename(Vec<(String, String)>),
    /// All but these columns.
    Drop(Vec<String>),
}

impl Step {
    /// The schema after this step, or an error naming the column and the schema.
    pub fn output_schema(&self, schema: &Schema) -> Result<SchemaRef> {
        let field = |e: &Expr| -> Result<Field> {
            let nullable = true;
            Ok(Field::new(e.output_name(), e.data_type(schema)?, nullable))
        };
        let missing = |c: &str| Error::Schema(format!("no column {c:?} in the schema [{}]", describe_schema(schema)));
        let fields: Vec<Field> = match self {
            Step::Select(exprs) => exprs.iter().map(field).collect::<Result<_>>()?,
            Step::Filter(predicate) => match predicate.data_type(schema)? {
                DataType::Boolean | DataType::Null => return Ok(Arc::new(schema.clone())),
                t => return Err(Error::Schema(format!("filter {predicate}: the predicate is {t}, not Boolean"))),
            },
            Step::WithColumns(exprs) => {
                let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
                for e in exprs {
                    let new = field(e)?;
                    match fields.iter_mut().find(|f| f.name() == new.name()) {
                        Some(old) => *old = new,
                        None => fields.push(new),
                    }
                }
                fields
            }
            Step::Rename(pairs) => {
                for (from, _) in pairs {
                    schema.field_with_name(from).map_err(|_| missing(from))?;
                }
                schema
                    .fields()
                    .iter()
                    .map(|f| match pairs.iter().find(|(from, _)| from == f.name()) {
                        Some((_, to)) => f.as_ref().clone().with_name(to),
                        None => f.as_ref().clone(),
                    })
                    .collect()
            }
            Step::Drop(columns) => {
                for c in columns {
                    schema.field_with_name(c).map_err(|_| missing(c))?;
                }
                schema.fields().iter().filter(|f| !columns.contains(f.name())).map(|f| f.as_ref().clone()).collect()
            }
        };
        let mut names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::Schema(format!("column {:?} would appear twice", w[0])));
        }
        Ok(Arc::new(Schema::new(fields)))
    }

    /// This step on a batch of `schema` that may lack columns nobody reads: renames and
    /// drops of absent columns are left out (the others are unchanged).
    pub(crate) fn restricted_to(&self, schema: &Schema) -> std::borrow::Cow<'_, Step> {
        let present = |c: &String| schema.field_with_name(c).is_ok();
        match self {
            Step::Rename(pairs) if !pairs.iter().all(|(from, _)| present(from)) => {
                std::borrow::Cow::Owned(Step::Rename(pairs.iter().filter(|(from, _)| present(from)).cloned().collect()))
            }
            Step::Drop(columns) if !columns.iter().all(present) => {
                std::borrow::Cow::Owned(Step::Drop(columns.iter().filter(|c| present(c)).cloned().collect()))
            }
            step => std::borrow::Cow::Borrowed(step),
        }
    }

    /// The step applied to one partition.
    pub fn apply(&self, batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, String> {
        let columns = |exprs: &[Expr], batch: &RecordBatch| -> Result<Vec<ArrayRef>, String> {
            exprs.iter().map(|e| e.evaluate(batch)).collect()
        };
        let rows = batch.num_rows();
        let arrays: Vec<ArrayRef> = match self {
            Step::Select(exprs) => columns(exprs, &batch)?,
            Step::Filter(predicate) => {
                return filter_record_batch(&batch, &filter_mask(predicate, &batch)?).map_err(|e| e.to_string());
            }
            Step::WithColumns(exprs) => {
                let new = columns(exprs, &batch)?;
                let mut arrays = batch.columns().to_vec();
                let mut names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
                for (e, values) in exprs.iter().zip(new) {
                    let name = e.output_name();
                    match names.iter().position(|n| *n == name) {
                        Some(i) => arrays[i] = values,
                        None => {
                            names.push(name);
                            arrays.push(values);
                        }
                    }
                }
                arrays
            }
            Step::Rename(_) => batch.columns().to_vec(),
            Step::Drop(columns) => batch
                .schema()
                .fields()
                .iter()
                .zip(batch.columns())
                .filter(|(f, _)| !columns.contains(f.name()))
                .map(|(_, c)| c.clone())
                .collect(),
        };
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(schema.clone(), arrays, &options).map_err(|e| e.to_string())
    }
}

/// The rows of `batch` where `predicate` is true (null counts as false in a filter).
pub(crate) fn filter_mask(predicate: &Expr, batch: &RecordBatch) -> Result<BooleanArray, String> {
    let mask = predicate.evaluate(batch)?;
    match mask.as_any().downcast_ref::<BooleanArray>() {
        Some(mask) => Ok(mask.clone()),
        None => Err(format!("filter {predicate}: the predicate is {}", mask.data_type())),
    }
}

/// Applies its steps, in order, to one partition.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MapPartition {
    /// The steps.
    pub steps: Vec<Step>,
}

#[typetag::serde(name = "rask.dataframe.map")]
impl Op for MapPartition {
    fn name(&self) -> &str {
        "map_partition"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let [Value::Batch(batch)] = args.as_slice() else {
            return Err(OpError::new(format!("map_partition takes one record batch, got {:?}", args.as_slice())));
        };
        let mut batch = (*batch.0).clone();
        for step in &self.steps {
            let schema = step.output_schema(&batch.schema()).map_err(|e| OpError::new(e.to_string()))?;
            batch = step.apply(batch, &schema).map_err(OpError::new)?;
        }
        Ok(Value::Batch(Batch::new(batch)))
    }

    /// A `MapPartition` producer's steps run first: the two become one op of both lists.
    fn fuse_with(&self, position: usize, producer: &dyn Op, producer_args: usize) -> Option<Arc<dyn Op>> {
        let producer: &dyn Any = producer;
        let first = producer.downcast_ref::<MapPartition>()?;
        if position != 0 || producer_args != 1 {
            return None;
        }
        let steps = first.steps.iter().chain(&self.steps).cloned().collect();
        Some(Arc::new(MapPartition { steps }))
    }
}

impl DataFrame {
    /// The dataframe after `step` on every partition.
    fn step(&self, name: &str, step: Step) -> Result<DataFrame> {
        if let Some(scan) = self.push_into_scan(&step)? {
            return Ok(scan);
        }
        if let (Step::Filter(predicate), Some(joined)) = (&step, &self.joined)
            && let Some(filtered_first) = joined.filter_first(predicate)?
        {
            return Ok(filtered_first);
        }
        let schema = step.output_schema(&self.schema)?;
        let token = Token::of(&format!("{step:?}"));
        let op: Arc<dyn Op> = Arc::new(MapPartition { steps: vec![step] });
        Ok(map_partitions_with(name, self, op, token, schema))
    }

    /// Exactly the given columns or expressions.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::Int64Array;
    /// use rask_collections::dataframe::{col, from_arrays};
    /// let df = from_arrays(vec![("a", Arc::new(Int64Array::from(vec![1, 2])) as _)], 1).unwrap();
    /// let out = df.select([(col("a") + 1).alias("b"), col("a")]).unwrap();
    /// assert_eq!(out.columns(), vec!["b", "a"]);
    /// ```
    pub fn select(&self, exprs: impl IntoIterator<Item = Expr>) -> Result<DataFrame> {
        self.step("select", Step::Select(exprs.into_iter().collect()))
    }

    /// The rows where `predicate` is true; rows where it is null are dropped.
    pub fn filter(&self, predicate: Expr) -> Result<DataFrame> {
        self.step("filter", Step::Filter(predicate))
    }

    /// Adds `expr` as a column named by its alias (replacing a column of that name).
    pub fn with_column(&self, expr: Expr) -> Result<DataFrame> {
        self.step("with_column", Step::WithColumns(vec![expr]))
    }

    /// Adds several columns at once, each computed from the input's columns.
    pub fn with_columns(&self, exprs: impl IntoIterator<Item = Expr>) -> Result<DataFrame> {
        self.step("with_columns", Step::WithColumns(exprs.into_iter().collect()))
    }

    /// Renames columns: `[("old", "new"), ...]`.
    pub fn rename<A: Into<String>, B: Into<String>>(
        &self,
        pairs: impl IntoIterator<Item = (A, B)>,
    ) -> Result<DataFrame> {
        self.step("rename", Step::Rename(pairs.into_iter().map(|(a, b)| (a.into(), b.into())).collect()))
    }

    /// All columns but these.
    pub fn drop<S: Into<String>>(&self, columns: impl IntoIterator<Item = S>) -> Result<DataFrame> {
        self.step("drop", Step::Drop(columns.into_iter().map(Into::into).collect()))
    }
}

//! Cumulative sums, products, minima and maxima down a dataframe's columns, across
//! partitions: pandas' `cumsum`, `cumprod`, `cummin`, `cummax`.
//!
//! Three stages, as Dask builds them: each partition accumulates on its own
//! ([`CumLocal`]); a chain of carries ([`CumCarry`]) folds the last value of each
//! partition into a running total; each partition after the first combines its local
//! result with the carry of the partitions before it ([`CumApply`]). Partitions run in
//! parallel; only the one-row carries form a chain.
//!
//! Rules (pandas with `skipna=True`, SEMANTICS.md): a null stays null and the running value
//! goes on past it; integer columns accumulate as `Int64` (wrapping on overflow, as numpy
//! does), float columns as `Float64`; other columns pass through unchanged.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, PrimitiveArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{ArrowPrimitiveType, DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use rask_graph::{ArgSpec, Args, Batch, Group, Key, Layer, Op, OpError, TaskSpec, Token, Value};
use serde::{Deserialize, Serialize};

use super::agg::{batch_args, one_batch};
use super::{DataFrame, describe_schema};
use crate::error::{Error, Result};

/// Which running value.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CumKind {
    /// Running sum.
    Sum,
    /// Running product.
    Prod,
    /// Running minimum.
    Min,
    /// Running maximum.
    Max,
}

impl CumKind {
    fn name(self) -> &'static str {
        match self {
            CumKind::Sum => "cumsum",
            CumKind::Prod => "cumprod",
            CumKind::Min => "cummin",
            CumKind::Max => "cummax",
        }
    }

    fn combine_i64(self, a: i64, b: i64) -> i64 {
        match self {
            CumKind::Sum => a.wrapping_add(b),
            CumKind::Prod => a.wrapping_mul(b),
            CumKind::Min => a.min(b),
            CumKind::Max => a.max(b),
        }
    }

    fn combine_f64(self, a: f64, b: f64) -> f64 {
        match self {
            CumKind::Sum => a + b,
            CumKind::Prod => a * b,
            // NaN propagates, as numpy's running minimum and maximum do.
            CumKind::Min if a.is_nan() || b.is_nan() => f64::NAN,
            CumKind::Max if a.is_nan() || b.is_nan() => f64::NAN,
            CumKind::Min => a.min(b),
            CumKind::Max => a.max(b),
        }
    }
}

impl DataFrame {
    /// Running sums down `columns` (all numeric columns if none is named), across
    /// partitions in order. As pandas with `skipna=True`: a null stays null and the running
    /// value goes on past it; integer columns accumulate as `Int64` (wrapping on overflow,
    /// as numpy does), float columns as `Float64` (NaN propagates); other columns pass
    /// through unchanged. Each partition accumulates on its own, then a chain of one-row
    /// carries joins them, so partitions still run in parallel.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::{Array, Int64Array};
    /// let x = Int64Array::from(vec![Some(1), Some(2), None, Some(4), Some(5)]);
    /// let df = rask_collections::dataframe::from_arrays(vec![("x", Arc::new(x) as _)], 3)?;
    /// let out = df.cum_sum::<&str>([])?.compute()?;
    /// assert_eq!(out.column(0).as_ref(), &Int64Array::from(vec![Some(1), Some(3), None, Some(7), Some(12)]) as &dyn Array);
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn cum_sum<S: AsRef<str>>(&self, columns: impl IntoIterator<Item = S>) -> Result<DataFrame> {
        self.cumulative(CumKind::Sum, columns)
    }

    /// Running products; see [`cum_sum`](Self::cum_sum).
    pub fn cum_prod<S: AsRef<str>>(&self, columns: impl IntoIterator<Item = S>) -> Result<DataFrame> {
        self.cumulative(CumKind::Prod, columns)
    }

    /// Running minima; see [`cum_sum`](Self::cum_sum).
    pub fn cum_min<S: AsRef<str>>(&self, columns: impl IntoIterator<Item = S>) -> Result<DataFrame> {
        self.cumulative(CumKind::Min, columns)
    }

    /// Running maxima; see [`cum_sum`](Self::cum_sum).
    pub fn cum_max<S: AsRef<str>>(&self, columns: impl IntoIterator<Item = S>) -> Result<DataFrame> {
        self.cumulative(CumKind::Max, columns)
    }

    /// The running `kind` down `columns` (all numeric columns if none is named); a column
    /// that is missing or not numeric is an error naming it and the schema.
    pub fn cumulative<S: AsRef<str>>(&self, kind: CumKind, columns: impl IntoIterator<Item = S>) -> Result<DataFrame> {
        let columns = self.cumulative_columns(kind, columns)?;
        let schema = cumulative_schema(self.schema(), &columns);
        let token = Token::of(&(kind.name(), &columns, self.token().0));
        let (local_group, carry_group, group) = (
            Group::new(&format!("{}-chunk", kind.name())),
            Group::new(&format!("{}-carry", kind.name())),
            Group::new(kind.name()),
        );
        let local_op: Arc<dyn Op> = Arc::new(CumLocal { kind, columns: columns.clone(), schema: schema.clone() });
        let carry_op: Arc<dyn Op> = Arc::new(CumCarry { kind, columns: columns.clone() });
        let apply_op: Arc<dyn Op> = Arc::new(CumApply { kind, columns: columns.clone() });
        let n = self.npartitions();
        let key = |g: Group, i: usize| Key::new(g, token, &[i as u32]);
        let mut tasks = Vec::with_capacity(3 * n);
        for i in 0..n {
            let args = [ArgSpec::Key(self.partition_key(i))].into_iter().collect();
            tasks.push(TaskSpec { key: key(local_group, i), op: local_op.clone(), args });
        }
        for i in 1..n {
            // carry(i): the running value of partitions 0..i.
            let previous = (i > 1).then(|| ArgSpec::Key(key(carry_group, i - 1)));
            let args = previous.into_iter().chain([ArgSpec::Key(key(local_group, i - 1))]).collect();
            tasks.push(TaskSpec { key: key(carry_group, i), op: carry_op.clone(), args });
        }
        for i in 0..n {
            let carry = (i > 0).then(|| ArgSpec::Key(key(carry_group, i)));
            let args = [ArgSpec::Key(key(local_group, i))].into_iter().chain(carry).collect();
            tasks.push(TaskSpec { key: key(group, i), op: apply_op.clone(), args });
        }
        Ok(DataFrame::from_parts(schema, n, group, token, Layer::new(tasks, vec![self.layer().clone()])))
    }

    /// The indices of the columns to accumulate.
    fn cumulative_columns<S: AsRef<str>>(
        &self,
        kind: CumKind,
        names: impl IntoIterator<Item = S>,
    ) -> Result<Vec<usize>> {
        let schema = self.schema();
        let numeric = |t: &DataType| t.is_integer() || t.is_floating();
        let named: Vec<S> = names.into_iter().collect();
        if named.is_empty() {
            return Ok((0..schema.fields().len()).filter(|&i| numeric(schema.field(i).data_type())).collect());
        }
        named
            .iter()
            .map(|name| {
                let name = name.as_ref();
                let i = schema.index_of(name).map_err(|_| {
                    Error::Schema(format!(
                        "{}: no column {name:?} in the schema [{}]",
                        kind.name(),
                        describe_schema(schema)
                    ))
                })?;
                if numeric(schema.field(i).data_type()) {
                    Ok(i)
                } else {
                    Err(Error::Schema(format!(
                        "{}: column {name:?} is {}, not numeric; the schema is [{}]",
                        kind.name(),
                        schema.field(i).data_type(),
                        describe_schema(schema)
                    )))
                }
            })
            .collect()
    }
}

/// `schema` with `columns` made `Int64` (integers) or `Float64` (floats), nullable.
fn cumulative_schema(schema: &SchemaRef, columns: &[usize]) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match columns.contains(&i) {
            true => Field::new(f.name(), accumulator(f.data_type()), true),
            false => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

fn accumulator(t: &DataType) -> DataType {
    if t.is_floating() { DataType::Float64 } else { DataType::Int64 }
}

/// The running value of `values`, skipping nulls; `start` is where it begins (a carry).
fn accumulate<T: ArrowPrimitiveType>(
    values: &PrimitiveArray<T>,
    start: Option<T::Native>,
    combine: impl Fn(T::Native, T::Native) -> T::Native,
) -> PrimitiveArray<T> {
    let mut running = start;
    values
        .iter()
        .map(|v| {
            let v = v?;
            let next = running.map_or(v, |r| combine(r, v));
            running = Some(next);
            Some(next)
        })
        .collect()
}

/// One partition accumulated on its own.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CumLocal {
    /// Which running value.
    pub kind: CumKind,
    /// The columns accumulated.
    pub columns: Vec<usize>,
    /// The output schema.
    pub schema: SchemaRef,
}

#[typetag::serde(name = "rask.dataframe.cumulative_chunk")]
impl Op for CumLocal {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let batch = one_batch(self.kind.name(), &args)?;
        let fail = |e: arrow::error::ArrowError| OpError::new(format!("{}: {e}", self.kind.name()));
        let mut columns = batch.columns().to_vec();
        for &c in &self.columns {
            let column = columns.get(c).ok_or_else(|| OpError::new(format!("{}: no column {c}", self.kind.name())))?;
            let kind = self.kind;
            columns[c] = match accumulator(column.data_type()) {
                DataType::Float64 => {
                    let values = cast(column, &DataType::Float64).map_err(fail)?;
                    Arc::new(accumulate(values.as_primitive::<Float64Type>(), None, |a, b| kind.combine_f64(a, b)))
                        as ArrayRef
                }
                _ => {
                    let values = cast(column, &DataType::Int64).map_err(fail)?;
                    Arc::new(accumulate(values.as_primitive::<Int64Type>(), None, |a, b| kind.combine_i64(a, b)))
                }
            };
        }
        let out = RecordBatch::try_new(self.schema.clone(), columns).map_err(fail)?;
        Ok(Value::Batch(Batch::new(out)))
    }
}

/// The last non-null value of `column`, if any.
fn last_valid(column: &ArrayRef) -> Option<usize> {
    (0..column.len()).rev().find(|&i| column.is_valid(i))
}

/// The running value after one more partition: from the carry before it (if any) and that
/// partition's accumulated chunk, a one-row batch of the accumulated columns (null where
/// nothing was seen yet).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CumCarry {
    /// Which running value.
    pub kind: CumKind,
    /// The accumulated columns of the chunks.
    pub columns: Vec<usize>,
}

#[typetag::serde(name = "rask.dataframe.cumulative_carry")]
impl Op for CumCarry {
    fn name(&self) -> &str {
        "carry"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let batches = batch_args("carry", &args)?;
        let (previous, chunk) = match batches.as_slice() {
            [chunk] => (None, *chunk),
            [previous, chunk] => (Some(*previous), *chunk),
            _ => return Err(OpError::new("carry takes an optional carry and one chunk")),
        };
        let mut fields = Vec::with_capacity(self.columns.len());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for (j, &c) in self.columns.iter().enumerate() {
            let column = chunk.columns().get(c).ok_or_else(|| OpError::new(format!("carry: no column {c}")))?;
            let before = match previous {
                Some(p) => Some(
                    p.columns()
                        .get(j)
                        .cloned()
                        .ok_or_else(|| OpError::new(format!("carry: the carry has no column {j}")))?,
                ),
                None => None,
            };
            fields.push(Field::new(chunk.schema().field(c).name(), column.data_type().clone(), true));
            columns.push(match column.data_type() {
                DataType::Float64 => {
                    Arc::new(carry_of::<Float64Type>(column, before, |a, b| self.kind.combine_f64(a, b))?)
                }
                DataType::Int64 => Arc::new(carry_of::<Int64Type>(column, before, |a, b| self.kind.combine_i64(a, b))?),
                other => return Err(OpError::new(format!("carry: column {c} is {other}, not Int64 or Float64"))),
            });
        }
        let out = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(|e| OpError::new(format!("carry: {e}")))?;
        Ok(Value::Batch(Batch::new(out)))
    }
}

/// The one-row carry of a column: the previous carry combined with the chunk's last
/// valid running value.
fn carry_of<T: ArrowPrimitiveType>(
    chunk: &ArrayRef,
    before: Option<ArrayRef>,
    combine: impl Fn(T::Native, T::Native) -> T::Native,
) -> Result<PrimitiveArray<T>, OpError> {
    let read = |a: &ArrayRef, i: usize| {
        a.as_primitive_opt::<T>().map(|p| p.value(i)).ok_or_else(|| OpError::new("carry: unexpected column type"))
    };
    let previous = match before {
        Some(b) if b.len() == 1 && b.is_valid(0) => Some(read(&b, 0)?),
        _ => None,
    };
    let last = last_valid(chunk).map(|i| read(chunk, i)).transpose()?;
    let value = match (previous, last) {
        (Some(p), Some(l)) => Some(combine(p, l)),
        (p, l) => p.or(l),
    };
    Ok(PrimitiveArray::<T>::from_iter([value]))
}

/// A partition's accumulated chunk combined with the carry of the partitions before it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CumApply {
    /// Which running value.
    pub kind: CumKind,
    /// The accumulated columns.
    pub columns: Vec<usize>,
}

#[typetag::serde(name = "rask.dataframe.cumulative_apply")]
impl Op for CumApply {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let batches = batch_args(self.kind.name(), &args)?;
        let (chunk, carry) = match batches.as_slice() {
            [chunk] => return Ok(Value::Batch(Batch::new((*chunk).clone()))),
            [chunk, carry] => (*chunk, *carry),
            _ => return Err(OpError::new(format!("{} takes a chunk and an optional carry", self.kind.name()))),
        };
        let kind = self.kind;
        let mut columns = chunk.columns().to_vec();
        for (j, &c) in self.columns.iter().enumerate() {
            let start = carry
                .columns()
                .get(j)
                .ok_or_else(|| OpError::new(format!("{}: the carry has no column {j}", kind.name())))?;
            if start.is_empty() || !start.is_valid(0) {
                continue;
            }
            let column = columns.get(c).ok_or_else(|| OpError::new(format!("{}: no column {c}", kind.name())))?;
            let floats = (column.as_primitive_opt::<Float64Type>(), start.as_primitive_opt::<Float64Type>());
            let ints = (column.as_primitive_opt::<Int64Type>(), start.as_primitive_opt::<Int64Type>());
            columns[c] = match (floats, ints) {
                ((Some(values), Some(start)), _) => {
                    let s = start.value(0);
                    Arc::new(Float64Array::from_iter(values.iter().map(|v| v.map(|v| kind.combine_f64(s, v)))))
                        as ArrayRef
                }
                (_, (Some(values), Some(start))) => {
                    let s = start.value(0);
                    Arc::new(Int64Array::from_iter(values.iter().map(|v| v.map(|v| kind.combine_i64(s, v)))))
                }
                _ => {
                    return Err(OpError::new(format!(
                        "{}: column {c} ({}) and its carry ({}) are not both Int64 or both Float64",
                        kind.name(),
                        column.data_type(),
                        start.data_type()
                    )));
                }
            };
        }
        let out =
            RecordBatch::try_new(chunk.schema(), columns).map_err(|e| OpError::new(format!("{}: {e}", kind.name())))?;
        Ok(Value::Batch(Batch::new(out)))
    }
}

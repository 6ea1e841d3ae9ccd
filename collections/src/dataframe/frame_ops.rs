//! Operations on a frame's partitions as a whole: `head`, `tail`, `len`, `concat` and
//! `map_partitions` (`repartition` has its own module).
//!
//! `head` computes only the partitions it needs, `len` sums per-partition row counts in a
//! tree (never concatenating), `concat` appends partitions, and `map_partitions` runs a
//! closure on each partition.

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::{Field, Schema, SchemaRef};
use rask_graph::{ArgSpec, Args, Batch, FnOp, Group, Key, Layer, Op, OpError, OptimizeOptions, TaskSpec, Token, Value};
use serde::{Deserialize, Serialize};

use super::partitions::layer_of_partitions;
use super::{DataFrame, checked_batch, describe_schema};
use crate::compute::{ComputeOptions, Target, compute_targets};
use crate::error::{Error, Result};

/// How many partial counts one task of `len`'s tree adds up.
const SPLIT_EVERY: usize = 8;

/// The number of rows of one partition.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RowCount;

#[typetag::serde(name = "rask.dataframe.row_count")]
impl Op for RowCount {
    fn name(&self) -> &str {
        "row_count"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        match args.as_slice() {
            [Value::Batch(batch)] => Ok(Value::I64(batch.0.num_rows() as i64)),
            other => Err(OpError::new(format!("row_count takes one record batch, got {other:?}"))),
        }
    }
}

impl DataFrame {
    /// The first `n` rows across partitions, in partition order (SEMANTICS.md), computed on
    /// the default scheduler. Only the partitions needed are computed: partition 0, then,
    /// while rows are missing, the next 2, 4, 8, ... partitions.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::Int64Array;
    /// let df = rask_collections::dataframe::from_arrays(vec![("x", Arc::new(Int64Array::from_iter_values(0..10)) as _)], 5).unwrap();
    /// let head = df.head(3).unwrap();
    /// assert_eq!(head.column(0).as_ref(), &Int64Array::from(vec![0, 1, 2]));
    /// assert_eq!(df.head(100).unwrap().num_rows(), 10);
    /// ```
    pub fn head(&self, n: usize) -> Result<RecordBatch> {
        self.head_with(n, &ComputeOptions::default())
    }

    /// [`head`](Self::head) computing with `options` (whose tasks are always culled to the
    /// partitions needed).
    pub fn head_with(&self, n: usize, options: &ComputeOptions) -> Result<RecordBatch> {
        self.edge_rows(n, false, options)
    }

    /// The last `n` rows across partitions, in partition order (SEMANTICS.md), computed on
    /// the default scheduler. Only the partitions needed are computed: the last one, then,
    /// while rows are missing, the 2, 4, 8, ... partitions before it.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::Int64Array;
    /// let df = rask_collections::dataframe::from_arrays(vec![("x", Arc::new(Int64Array::from_iter_values(0..10)) as _)], 5).unwrap();
    /// let tail = df.tail(3).unwrap();
    /// assert_eq!(tail.column(0).as_ref(), &Int64Array::from(vec![7, 8, 9]));
    /// assert_eq!(df.tail(100).unwrap().num_rows(), 10);
    /// ```
    pub fn tail(&self, n: usize) -> Result<RecordBatch> {
        self.tail_with(n, &ComputeOptions::default())
    }

    /// [`tail`](Self::tail) computing with `options` (whose tasks are always culled to the
    /// partitions needed).
    pub fn tail_with(&self, n: usize, options: &ComputeOptions) -> Result<RecordBatch> {
        self.edge_rows(n, true, options)
    }

    /// The first (or, `from_end`, the last) `n` rows in partition order, computing waves
    /// of 1, 2, 4, ... partitions from that end until enough rows came.
    fn edge_rows(&self, n: usize, from_end: bool, options: &ComputeOptions) -> Result<RecordBatch> {
        let options = culling(options);
        // Partitions counted from the chosen end: wave [done, done + wave).
        let (mut batches, mut rows, mut done, mut wave) = (Vec::new(), 0, 0, 1);
        while rows < n && done < self.npartitions {
            let upto = (done + wave).min(self.npartitions);
            let range = if from_end { self.npartitions - upto..self.npartitions - done } else { done..upto };
            let mut wave_batches = self.compute_partitions(range, &options)?;
            if from_end {
                wave_batches.reverse();
            }
            for batch in wave_batches {
                let take = batch.num_rows().min(n - rows);
                rows += take;
                let offset = if from_end { batch.num_rows() - take } else { 0 };
                batches.push(batch.slice(offset, take));
            }
            (done, wave) = (upto, wave * 2);
        }
        if from_end {
            batches.reverse();
        }
        concat_batches(&self.schema, &batches).map_err(|e| Error::Schema(e.to_string()))
    }

    /// Whether the frame has no row (computes partitions until one has a row).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.head(1)?.num_rows() == 0)
    }

    /// The number of rows, computed on the default scheduler: per-partition counts summed
    /// in a tree, without gathering the data. A parquet scan without filter takes it from
    /// the footers, computing nothing.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::Int64Array;
    /// use rask_collections::dataframe::{col, from_arrays, lit};
    /// let df = from_arrays(vec![("x", Arc::new(Int64Array::from_iter_values(0..10)) as _)], 4).unwrap();
    /// assert_eq!(df.len().unwrap(), 10);
    /// assert_eq!(df.filter(col("x").lt(lit(3))).unwrap().len().unwrap(), 3);
    /// ```
    pub fn len(&self) -> Result<usize> {
        self.len_with(&ComputeOptions::default())
    }

    /// [`len`](Self::len) computing with `options`.
    pub fn len_with(&self, options: &ComputeOptions) -> Result<usize> {
        if let Some(rows) = self.scan_summary().and_then(|s| s.rows()) {
            return Ok(rows);
        }
        if self.npartitions == 0 {
            return Ok(0);
        }
        let (layer, root) = self.count_tree();
        let values = compute_targets(&[Target::Task { key: root, layer }], options)?;
        match values.as_slice() {
            [Value::I64(rows)] => Ok(*rows as usize),
            other => Err(Error::Schema(format!("len: the counts gave {other:?}"))),
        }
    }

    /// The layer counting rows: a [`RowCount`] per partition, then sums of up to
    /// [`SPLIT_EVERY`] counts per level; and the key of the total.
    fn count_tree(&self) -> (Arc<Layer>, Key) {
        let group = Group::new("len");
        let count: Arc<dyn Op> = Arc::new(RowCount);
        let sum: Arc<dyn Op> = Arc::new(rask_graph::ops::Sum);
        let token = Token::of(&("len", self.token.0));
        let key = |level: u32, j: usize| Key::new(group, token, &[level, j as u32]);
        let mut tasks: Vec<TaskSpec> = (0..self.npartitions)
            .map(|i| TaskSpec {
                key: key(0, i),
                op: count.clone(),
                args: [ArgSpec::Key(self.partition_key(i))].into_iter().collect(),
            })
            .collect();
        let (mut level, mut width) = (0, self.npartitions);
        while width > 1 {
            let next = width.div_ceil(SPLIT_EVERY);
            tasks.extend(
                (0..next).map(|j| TaskSpec {
                    key: key(level + 1, j),
                    op: sum.clone(),
                    args: (j * SPLIT_EVERY..((j + 1) * SPLIT_EVERY).min(width))
                        .map(|c| ArgSpec::Key(key(level, c)))
                        .collect(),
                }),
            );
            (level, width) = (level + 1, next);
        }
        (Layer::new(tasks, vec![self.layer.clone()]), key(level, 0))
    }

    /// Partitions `range`, computed together and checked against the schema.
    fn compute_partitions(&self, range: std::ops::Range<usize>, options: &ComputeOptions) -> Result<Vec<RecordBatch>> {
        let targets: Vec<Target> =
            range.clone().map(|i| Target::Task { key: self.partition_key(i), layer: self.layer.clone() }).collect();
        let values = compute_targets(&targets, options)?;
        range
            .zip(values)
            .map(|(i, v)| checked_batch(&format!("partition {}", self.partition_key(i)), v, &self.schema))
            .collect()
    }

    /// `f` applied to every partition, giving batches of `schema` (checked when computed;
    /// a mismatch is an error naming the partition). `f` is a local closure: the graph
    /// runs on local schedulers only. An error of `f` fails the computation, naming the
    /// partition.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// let df = rask_collections::dataframe::from_arrays(vec![("x", Arc::new(Int64Array::from_iter_values(0..10)) as _)], 3).unwrap();
    /// let schema = Arc::new(Schema::new(vec![Field::new("rows", DataType::Int64, false)]));
    /// let out = schema.clone();
    /// let counts = df
    ///     .map_partitions("count", move |b: RecordBatch| RecordBatch::try_new(out.clone(), vec![Arc::new(Int64Array::from(vec![b.num_rows() as i64]))]), schema)
    ///     .unwrap();
    /// assert_eq!(counts.compute().unwrap().column(0).as_ref(), &Int64Array::from(vec![3, 3, 4]));
    /// ```
    pub fn map_partitions<F, E>(&self, name: &str, f: F, schema: SchemaRef) -> Result<DataFrame>
    where
        F: Fn(RecordBatch) -> std::result::Result<RecordBatch, E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        if name.is_empty() {
            return Err(Error::Schema("map_partitions needs a name (it names the tasks)".into()));
        }
        let f = Arc::new(f);
        let (name, promised) = (name.to_string(), schema.clone());
        Ok(layer_of_partitions(&name, Token::fresh(), schema, self.npartitions, vec![self.layer.clone()], |i| {
            let (f, name, promised) = (f.clone(), name.clone(), promised.clone());
            let op = FnOp::new(name.clone(), move |args: Args| {
                let what = format!("map_partitions {name:?} partition {i}");
                let input = match args.into_iter().next() {
                    Some(Value::Batch(b)) => Arc::try_unwrap(b.0).unwrap_or_else(|shared| (*shared).clone()),
                    other => return Err(OpError::new(format!("{what}: expected a record batch, got {other:?}"))),
                };
                let output = f(input).map_err(|e| OpError::new(format!("{what}: {e}")))?;
                let output = checked_batch(&what, Value::Batch(Batch::new(output)), &promised)
                    .map_err(|e| OpError::new(e.to_string()))?;
                Ok(Value::Batch(Batch::new(output)))
            });
            (Arc::new(op) as Arc<dyn Op>, vec![ArgSpec::Key(self.partition_key(i))])
        }))
    }
}

/// `options` with culling on, so that only the requested partitions' tasks run.
fn culling(options: &ComputeOptions) -> ComputeOptions {
    let on = options.optimizes();
    options.clone().passes(OptimizeOptions { cull: true, inline: on, fuse: on, order: on })
}

/// The partitions of `frames`, one after the other (pandas' `concat` of rows): all must
/// have the same column names and types (an error names the first that differs); a column
/// is nullable if it is in any frame.
///
/// ```
/// # use std::sync::Arc;
/// # use arrow::array::Int64Array;
/// use rask_collections::dataframe::{concat, from_arrays};
/// let a = from_arrays(vec![("x", Arc::new(Int64Array::from(vec![1, 2])) as _)], 2).unwrap();
/// let b = from_arrays(vec![("x", Arc::new(Int64Array::from(vec![3])) as _)], 1).unwrap();
/// let both = concat(&[&a, &b]).unwrap();
/// assert_eq!(both.npartitions(), 3);
/// assert_eq!(both.compute().unwrap().column(0).as_ref(), &Int64Array::from(vec![1, 2, 3]));
/// ```
pub fn concat(frames: &[&DataFrame]) -> Result<DataFrame> {
    let Some(first) = frames.first() else {
        return Err(Error::Schema("concat needs at least one dataframe".into()));
    };
    let columns = |s: &Schema| s.fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect::<Vec<_>>();
    for (k, frame) in frames.iter().enumerate().skip(1) {
        if columns(&frame.schema) != columns(&first.schema) {
            return Err(Error::Schema(format!(
                "concat: dataframe {k} has columns [{}], dataframe 0 has [{}]",
                describe_schema(&frame.schema),
                describe_schema(&first.schema)
            )));
        }
    }
    let fields: Vec<Field> = first
        .schema
        .fields()
        .iter()
        .enumerate()
        .map(|(c, f)| f.as_ref().clone().with_nullable(frames.iter().any(|df| df.schema.field(c).is_nullable())))
        .collect();
    let sources: Vec<(usize, usize)> =
        frames.iter().enumerate().flat_map(|(k, df)| (0..df.npartitions).map(move |i| (k, i))).collect();
    let tokens: Vec<u64> = frames.iter().map(|df| df.token.0).collect();
    let identity: Arc<dyn Op> = Arc::new(rask_graph::ops::Identity);
    let layers = frames.iter().map(|df| df.layer.clone()).collect();
    Ok(layer_of_partitions(
        "concat",
        Token::of(&("concat", tokens)),
        Arc::new(Schema::new(fields)),
        sources.len(),
        layers,
        |p| {
            let (k, i) = sources[p];
            (identity.clone(), vec![ArgSpec::Key(frames[k].partition_key(i))])
        },
    ))
}

//! Partitioned dataframes on Apache Arrow, the counterpart of `dask.dataframe`.
//!
//! A [`DataFrame`] is a lazy table cut into partitions, each an Arrow `RecordBatch`
//! computed by one task. Its schema is known when it is built (like Dask's `meta`), so
//! a wrong column name or a type mismatch is an error then, naming the column and the
//! schema. Expressions are Polars-style ([`col`], [`lit`]); results follow pandas on
//! Arrow (SEMANTICS.md): nulls are Arrow nulls everywhere.
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Float64Array, Int64Array};
//! use rask_collections::dataframe::{self, col, lit};
//! let df = dataframe::from_arrays(
//!     vec![("id", Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as _), ("x", Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5, 3.5])) as _)],
//!     2,
//! )
//! .unwrap();
//! let out = df.filter(col("x").gt(lit(1.0))).unwrap().select([col("id"), (col("x") * lit(2)).alias("x2")]).unwrap();
//! let batch = out.compute().unwrap();
//! assert_eq!(batch.num_rows(), 3);
//! assert_eq!(out.columns(), vec!["id", "x2"]);
//! assert!(df.select([col("nope")]).unwrap_err().to_string().contains("no column \"nope\""));
//! ```

mod agg;
mod cumulative;
mod expr;
mod frame_ops;
pub mod io;
mod join;
mod map;
mod partitions;
pub use partitions::MAX_PARTITIONS;
mod repartition;
mod shuffle;
mod sort;
mod sources;

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use rask_graph::{Group, Key, Layer, Token, Value, count_tasks};

pub use agg::{
    AUTO_SHUFFLE_GROUPS, Agg, AggFn, AggPlan, ConcatSorted, DescribeFinish, DescribeObjects, DropDuplicates, GroupBy,
    GroupbyChunk, GroupbyCombine, SplitOut, ValueCounts, ValueCountsFinish,
};
pub use cumulative::{CumApply, CumCarry, CumKind, CumLocal};
pub use expr::{BinaryOp, Expr, Scalar, StrFn, col, lit};
pub use frame_ops::{RowCount, concat};
pub use io::{CsvOptions, ParquetOptions, Paths, ScanSummary, read_csv, read_parquet};
pub use join::{How, Join, JoinPartitions, JoinPlan, OutputColumn, Strategy};
pub use map::{MapPartition, Step};
pub use repartition::{ConcatSlices, Slice, SplitPiece};
pub use shuffle::{HashSplit, TakePart};
pub use sort::{RangeSplit, Sort, SortBoundaries, SortKeys, SortParts, SortSample};
pub use sources::{from_arrays, from_batches};

use crate::compute::{Computable, ComputeOptions, Target, compute_with, kept_task, persist_targets};
use crate::error::{Error, Result};
pub(crate) use expr::describe_schema;
use rask_scheduler::Kept;

/// A lazy partitioned dataframe; see the module docs.
#[derive(Clone)]
pub struct DataFrame {
    schema: SchemaRef,
    npartitions: usize,
    group: Group,
    token: Token,
    layer: Arc<Layer>,
    /// The file scan this dataframe is, if it is one: `select`/`filter` then build a new
    /// scan reading fewer columns and row groups (see [`io`]).
    scan: Option<Arc<io::Scan>>,
    /// The join this dataframe is, if it is one: pruning it to some columns prunes its
    /// sides (see [`DataFrame::pruned_to`]).
    joined: Option<Arc<join::Joined>>,
}

impl DataFrame {
    /// A dataframe whose partition `i` is the task `(group, token, [i])` of `layer` (or of
    /// a layer it reads), each a batch of `schema`.
    pub(crate) fn from_parts(
        schema: SchemaRef,
        npartitions: usize,
        group: Group,
        token: Token,
        layer: Arc<Layer>,
    ) -> Self {
        DataFrame { schema, npartitions, group, token, layer, scan: None, joined: None }
    }

    /// The schema every partition has.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The column names, in order.
    pub fn columns(&self) -> Vec<&str> {
        self.schema.fields().iter().map(|f| f.name().as_str()).collect()
    }

    /// The number of partitions.
    pub fn npartitions(&self) -> usize {
        self.npartitions
    }

    /// The key of partition `i`.
    pub fn partition_key(&self, i: usize) -> Key {
        Key::new(self.group, self.token, &[i as u32])
    }

    /// Partition `i` alone, as a one-partition dataframe (Dask's `get_partition`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::Int64Array;
    /// let df = rask_collections::dataframe::from_arrays(vec![("x", Arc::new(Int64Array::from(vec![1, 2, 3])) as _)], 3).unwrap();
    /// assert_eq!(df.partition(2).unwrap().compute().unwrap().num_rows(), 1);
    /// assert!(df.partition(3).is_err());
    /// ```
    pub fn partition(&self, i: usize) -> Result<DataFrame> {
        if i >= self.npartitions {
            return Err(Error::Schema(format!("partition {i} of a dataframe of {} partitions", self.npartitions)));
        }
        let identity: Arc<dyn rask_graph::Op> = Arc::new(rask_graph::ops::Identity);
        let token = Token::of(&("partition", self.token.0, i));
        let key = self.partition_key(i);
        Ok(partitions::layer_of_partitions(
            "partition",
            token,
            self.schema.clone(),
            1,
            vec![self.layer.clone()],
            |_| (identity.clone(), vec![rask_graph::ArgSpec::Key(key)]),
        ))
    }

    /// The layer holding the partitions' tasks.
    pub(crate) fn layer(&self) -> &Arc<Layer> {
        &self.layer
    }

    /// The token naming this dataframe's partitions.
    pub(crate) fn token(&self) -> Token {
        self.token
    }

    /// The number of tasks in the graph behind this dataframe (before optimization).
    pub fn task_count(&self) -> usize {
        count_tasks(&[&self.layer])
    }

    /// Computes every partition on the default scheduler and concatenates them, in
    /// partition order, into one batch.
    pub fn compute(&self) -> Result<RecordBatch> {
        compute_with(self, &ComputeOptions::default())
    }

    /// Computes with `options`.
    pub fn compute_with(&self, options: &ComputeOptions) -> Result<RecordBatch> {
        compute_with(self, options)
    }

    /// The layers behind this dataframe and its task counts before and after
    /// optimization (see [`crate::explain::explain`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{ArrayRef, Int64Array};
    /// use rask_collections::dataframe::from_arrays;
    /// let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..8));
    /// let df = from_arrays(vec![("id", ids)], 4)?;
    /// let report = df.explain()?;
    /// assert_eq!((report.layers.len(), report.tasks_before), (1, 4));
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn explain(&self) -> Result<crate::explain::Explain> {
        crate::explain::explain(self, rask_graph::OptimizeOptions::default())
    }

    /// The graph behind this dataframe (optimized, as it would run) in DOT.
    pub fn to_dot(&self) -> Result<String> {
        crate::visualize::dot(self)
    }

    /// The graph behind this dataframe (optimized, as it would run) as an SVG picture: one
    /// box per task coloured by task group, or one per group for big graphs (see
    /// [`crate::visualize::svg`]).
    pub fn to_svg(&self) -> Result<String> {
        crate::visualize::svg(self)
    }

    /// Writes a picture of the graph to `path`: SVG for `.svg`, DOT for `.dot`; any other
    /// ending is an error naming the path (see [`crate::visualize::visualize`]).
    pub fn visualize(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        crate::visualize::visualize(self, path)
    }
}

/// The record batch inside a partition's value, checked against the promised schema.
pub(crate) fn checked_batch(what: &dyn fmt::Display, value: Value, schema: &SchemaRef) -> Result<RecordBatch> {
    let batch = match value {
        Value::Batch(b) => Arc::try_unwrap(b.0).unwrap_or_else(|shared| (*shared).clone()),
        other => return Err(Error::Schema(format!("{what} produced a {}, not a record batch", other.type_name()))),
    };
    let fields =
        |s: &SchemaRef| s.fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect::<Vec<_>>();
    if fields(&batch.schema()) != fields(schema) {
        return Err(Error::Schema(format!(
            "{what} has columns [{}], the dataframe promises [{}]",
            describe_schema(&batch.schema()),
            describe_schema(schema)
        )));
    }
    // Same names and types: only nullability or metadata may differ; adopt the promise.
    let columns = batch.columns().to_vec();
    RecordBatch::try_new(schema.clone(), columns).or(Ok(batch))
}

impl DataFrame {
    /// Computes every partition now, on the default scheduler, and returns the same
    /// dataframe (same keys) whose graph holds the computed partitions, as Dask's
    /// `persist`: on a local scheduler the graph holds the batches (shared, not copied);
    /// on a cluster ([`rask_scheduler::Client`]) they stay in the workers' memory, held
    /// by futures, until the dataframe (and everything built on it) is dropped.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::Int64Array;
    /// use rask_collections::dataframe::{self, col, lit};
    /// let df = dataframe::from_arrays(vec![("x", Arc::new(Int64Array::from(vec![1, 2, 3])) as _)], 2).unwrap();
    /// let kept = df.filter(col("x").gt(lit(1))).unwrap().persist().unwrap();
    /// assert_eq!(kept.task_count(), 2);
    /// assert_eq!(kept.compute().unwrap().num_rows(), 2);
    /// ```
    pub fn persist(&self) -> Result<DataFrame> {
        self.persist_with(&ComputeOptions::default())
    }

    /// [`DataFrame::persist`] with `options`. A partition that is not a batch of the
    /// schema is an error naming it.
    pub fn persist_with(&self, options: &ComputeOptions) -> Result<DataFrame> {
        let mut targets = Vec::new();
        self.targets(&mut targets);
        let kept = persist_targets(&targets, options)?;
        let tasks = kept
            .into_iter()
            .enumerate()
            .map(|(i, kept)| {
                let key = self.partition_key(i);
                if let Kept::Value(value) = &kept {
                    checked_batch(&format!("partition {key}"), value.clone(), &self.schema)?;
                }
                Ok(kept_task(key, kept))
            })
            .collect::<Result<Vec<_>>>()?;
        let layer = Layer::new(tasks, vec![]);
        Ok(DataFrame::from_parts(self.schema.clone(), self.npartitions, self.group, self.token, layer))
    }
}

impl Computable for DataFrame {
    type Output = RecordBatch;

    fn targets(&self, targets: &mut Vec<Target>) {
        for i in 0..self.npartitions {
            targets.push(Target::Task { key: self.partition_key(i), layer: self.layer.clone() });
        }
    }

    fn finish(&self, values: &mut dyn Iterator<Item = Value>) -> Result<RecordBatch> {
        let batches = (0..self.npartitions)
            .map(|i| {
                let value = values.next().expect("one value per partition");
                checked_batch(&format!("partition {}", self.partition_key(i)), value, &self.schema)
            })
            .collect::<Result<Vec<_>>>()?;
        arrow::compute::concat_batches(&self.schema, &batches).map_err(|e| Error::Schema(e.to_string()))
    }
}

impl fmt::Display for DataFrame {
    /// Like Dask's repr: `rask.DataFrame<from_arrays, npartitions=2, columns=[id: Int64, x: Float64], tasks=2>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rask.DataFrame<{}, npartitions={}, columns=[{}], tasks={}>",
            self.group,
            self.npartitions,
            describe_schema(&self.schema),
            self.task_count()
        )
    }
}

impl fmt::Debug for DataFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

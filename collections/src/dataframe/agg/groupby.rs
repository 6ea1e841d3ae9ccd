//! `groupby(keys).agg([...])`: the graph of an aggregation and its registered ops.
//!
//! The strategies are described on [`SplitOut`].

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use rask_graph::{ArgSpec, Args, Batch, Op, OpError, Token, Value, cull, materialize, op_token, ops};
use serde::{Deserialize, Serialize};

use super::Agg;
use super::plan::AggPlan;
use super::stages::{batch_args, chunk_batch, combine_batches, concat_args, finish_batch, one_batch, sort_by_keys};
use crate::dataframe::partitions::{layer_of_partitions, map_partitions_with};
use crate::dataframe::shuffle::hash_shuffle;
use crate::dataframe::{DataFrame, col};
use crate::error::{Error, Result};

/// Above this estimated number of groups, [`SplitOut::Auto`] shuffles.
pub const AUTO_SHUFFLE_GROUPS: usize = 1_000_000;

/// How the partial results of a groupby meet (Dask's `split_out`).
///
/// Two strategies, as in Dask:
/// - **tree** (`split_out=1`): every partition is reduced to a partial result per group
///   ([`GroupbyChunk`]); [`GroupbyCombine`] tasks merge up to `split_every` neighbouring
///   partials, level after level, and the last one finishes (one output partition);
/// - **shuffle** (`split_out=n`): rows are hash-shuffled on the keys into `n` partitions
///   (only the columns the aggregation reads), each aggregated alone; with `sort` the
///   sorted pieces are concatenated and sorted into one partition ([`ConcatSorted`]),
///   without it the `n` partitions are the result.
///
/// The default is the tree, as Dask's `split_out=1`: building a groupby computes nothing.
/// [`SplitOut::Auto`] (opt-in, like Dask's `split_out=True`) estimates the number of
/// groups from the first partitions: it computes their partial results while the graph is
/// built (as many as
/// the machine has cores, on the default scheduler; only when they need little of the
/// graph: not after a shuffle or a join, whose partitions each need every input), and
/// shuffles into as many partitions as the input when the estimate, the most groups of
/// a computed partition times the number of partitions, exceeds [`AUTO_SHUFFLE_GROUPS`].
/// Otherwise the tree reuses the computed partials, so no work is done twice. A whole-frame aggregation
/// is always a tree.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum SplitOut {
    /// Estimated from the first partitions, computed when the groupby is built (see above).
    Auto,
    /// A tree reduction into one partition (the default).
    #[default]
    Tree,
    /// A hash shuffle of the rows on the keys into this many partitions, then a local
    /// aggregation of each.
    Shuffle(usize),
}

/// A dataframe grouped by key columns, waiting for its aggregations; from
/// [`DataFrame::groupby`].
#[derive(Clone, Debug)]
pub struct GroupBy {
    df: DataFrame,
    keys: Vec<String>,
    dropna: bool,
    sort: bool,
    split_every: usize,
    split_out: SplitOut,
}

impl DataFrame {
    /// The rows grouped by the values of `keys` (one or more columns of any orderable
    /// type); [`GroupBy::agg`] gives one row per group, keys first, groups sorted by key.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::{Array, Int64Array, StringArray};
    /// use rask_collections::dataframe::{col, from_arrays};
    /// let df = from_arrays(
    ///     vec![
    ///         ("s", Arc::new(StringArray::from(vec![Some("b"), None, Some("a"), Some("b")])) as _),
    ///         ("x", Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as _),
    ///     ],
    ///     2,
    /// )?;
    /// let out = df.groupby(["s"]).dropna(false).agg([col("x").sum()])?.compute()?;
    /// assert_eq!(out.column(0).as_ref(), &StringArray::from(vec![Some("a"), Some("b"), None]) as &dyn Array);
    /// assert_eq!(out.column(1).as_ref(), &Int64Array::from(vec![3, 5, 2]) as &dyn Array);
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn groupby<S: Into<String>>(&self, keys: impl IntoIterator<Item = S>) -> GroupBy {
        GroupBy {
            df: self.clone(),
            keys: keys.into_iter().map(Into::into).collect(),
            dropna: true,
            sort: true,
            split_every: 8,
            split_out: SplitOut::Tree,
        }
    }
}

impl GroupBy {
    /// Whether rows with a null key are dropped (the default) or form a group of their
    /// own, sorted last.
    pub fn dropna(mut self, dropna: bool) -> Self {
        self.dropna = dropna;
        self
    }

    /// Whether groups are sorted by key (the default, like pandas' `sort=True`). Without
    /// sorting, the tree gives groups in order of first appearance, and a shuffle leaves
    /// its partitions unmerged.
    pub fn sort(mut self, sort: bool) -> Self {
        self.sort = sort;
        self
    }

    /// How many partials a combine task merges (at least 2; 8 by default).
    pub fn split_every(mut self, split_every: usize) -> Self {
        self.split_every = split_every;
        self
    }

    /// The strategy: a tree (the default), a shuffle, or [`SplitOut::Auto`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::Int64Array;
    /// use rask_collections::dataframe::{col, from_arrays, SplitOut};
    /// let df = from_arrays(vec![("k", Arc::new(Int64Array::from_iter_values(0..100)) as _)], 4)?;
    /// let tree = df.groupby(["k"]).split_out(SplitOut::Tree).agg([col("k").count().alias("n")])?;
    /// let shuffled = df.groupby(["k"]).split_out(SplitOut::Shuffle(3)).agg([col("k").count().alias("n")])?;
    /// assert_eq!(tree.compute()?, shuffled.compute()?);
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn split_out(mut self, split_out: SplitOut) -> Self {
        self.split_out = split_out;
        self
    }

    /// One row per group: the keys, then each aggregation's column (see [`Agg`] for the
    /// rules). Mistakes are errors when the graph is built, naming the column and the
    /// schema.
    pub fn agg(&self, aggs: impl IntoIterator<Item = Agg>) -> Result<DataFrame> {
        let aggs: Vec<Agg> = aggs.into_iter().collect();
        // A file scan decodes only the keys and the aggregated columns.
        let read: Vec<String> = self.keys.iter().cloned().chain(aggs.iter().flat_map(|a| a.input.columns())).collect();
        let df = self.df.pruned_to(&read)?;
        let plan = AggPlan::new(df.schema(), &self.keys, aggs, self.dropna, self.sort)?;
        if self.split_every < 2 {
            return Err(Error::Schema(format!("split_every must be at least 2, not {}", self.split_every)));
        }
        let chunks = |known| chunk_layer(&df, &plan, known);
        match strategy(&df, self.split_out, plan.nkeys() > 0, AUTO_SHUFFLE_GROUPS, chunks)? {
            Strategy::Tree(known) => {
                let combine = |finish| -> (Arc<dyn Op>, SchemaRef) {
                    let schema = if finish { plan.output_schema() } else { plan.partial_schema() };
                    (Arc::new(GroupbyCombine { plan: plan.clone(), finish }), schema)
                };
                Ok(tree_reduce("groupby", chunk_layer(&df, &plan, known), self.split_every, combine))
            }
            Strategy::Shuffle(n) => shuffled(&df, &plan, n),
        }
    }
}

/// How partial results meet.
pub(crate) enum Strategy {
    /// A tree, with the partial results of the first partitions if they are known
    /// already.
    Tree(Vec<RecordBatch>),
    /// A shuffle into this many partitions.
    Shuffle(usize),
}

/// The strategy `split_out` asks for; `Auto` computes the first partitions of
/// `chunks(vec![])` (the partial results: as many as the machine has cores, so that no
/// core idles) to estimate the number of groups, and shuffles above `threshold`. Without
/// keys, always a tree.
pub(crate) fn strategy(
    df: &DataFrame,
    split_out: SplitOut,
    keyed: bool,
    threshold: usize,
    chunks: impl Fn(Vec<RecordBatch>) -> DataFrame,
) -> Result<Strategy> {
    let n = df.npartitions();
    let probed = rask_scheduler::cores().min(n);
    match split_out {
        SplitOut::Shuffle(0) => Err(Error::Schema("split_out needs at least one partition".into())),
        SplitOut::Shuffle(out) if keyed => Ok(Strategy::Shuffle(out)),
        SplitOut::Auto if keyed && n > 1 && first_partitions_are_narrow(df, probed)? => {
            let partials = chunks(vec![]);
            let first = (0..probed).map(|i| partials.partition(i)).collect::<Result<Vec<_>>>()?;
            let known = crate::compute::compute(&first)?;
            let groups = known.iter().map(RecordBatch::num_rows).max().unwrap_or(0);
            if groups.saturating_mul(n) > threshold { Ok(Strategy::Shuffle(n)) } else { Ok(Strategy::Tree(known)) }
        }
        _ => Ok(Strategy::Tree(vec![])),
    }
}

/// Whether the first `k` partitions depend on about their share of the graph (at most
/// one and a half times it), so that computing them early costs no more than their part
/// of the work.
fn first_partitions_are_narrow(df: &DataFrame, k: usize) -> Result<bool> {
    let keys: Vec<_> = (0..k).map(|i| df.partition_key(i)).collect();
    let (graph, ids) = materialize(&[df.layer()], &keys)?;
    let (needed, _) = cull(graph, &ids);
    Ok(2 * needed.len() * df.npartitions() <= 3 * k * df.task_count())
}

fn plan_token(name: &str, df: &DataFrame, plan: &AggPlan) -> Token {
    Token::of(&(name, df.token().0, format!("{plan:?}")))
}

/// The chunk stage of a groupby: every partition's partial result.
fn chunk_layer(df: &DataFrame, plan: &AggPlan, known: Vec<RecordBatch>) -> DataFrame {
    let op: Arc<dyn Op> = Arc::new(GroupbyChunk { plan: plan.clone(), finish: false });
    partials("groupby-chunk", df, op, plan.partial_schema(), known)
}

/// `op` applied to every partition of `df`, except the first ones whose results are
/// `known` already.
pub(crate) fn partials(
    name: &str,
    df: &DataFrame,
    op: Arc<dyn Op>,
    schema: SchemaRef,
    known: Vec<RecordBatch>,
) -> DataFrame {
    let identity: Arc<dyn Op> = Arc::new(ops::Identity);
    let token = Token::of(&(name, df.token().0, op_token(op.as_ref())));
    let mut known = known.into_iter();
    layer_of_partitions(name, token, schema, df.npartitions(), vec![df.layer().clone()], |i| match known.next() {
        Some(batch) => (identity.clone(), vec![ArgSpec::Value(Value::Batch(Batch::new(batch)))]),
        None => (op.clone(), vec![ArgSpec::Key(df.partition_key(i))]),
    })
}

/// A tree over the partial results `level`: levels of tasks each merging up to
/// `split_every` neighbours, until one task finishes. `combine(finish)` gives the op of a
/// level and the schema of its results.
pub(crate) fn tree_reduce(
    name: &str,
    mut level: DataFrame,
    split_every: usize,
    combine: impl Fn(bool) -> (Arc<dyn Op>, SchemaRef),
) -> DataFrame {
    loop {
        let finish = level.npartitions() <= split_every;
        let (op, schema) = combine(finish);
        let stage = format!("{name}-{}", if finish { "aggregate" } else { "combine" });
        let n = level.npartitions();
        let token = Token::of(&(&stage, level.token().0, split_every, op_token(op.as_ref())));
        let input = &level;
        let next =
            layer_of_partitions(&stage, token, schema, n.div_ceil(split_every), vec![level.layer().clone()], |j| {
                let args = (j * split_every..n.min((j + 1) * split_every))
                    .map(|i| ArgSpec::Key(input.partition_key(i)))
                    .collect();
                (op.clone(), args)
            });
        if finish {
            return next;
        }
        level = next;
    }
}

/// The shuffle strategy: the columns read, shuffled on the keys into `n` partitions,
/// each aggregated alone; with `sort`, merged into one sorted partition.
fn shuffled(df: &DataFrame, plan: &AggPlan, n: usize) -> Result<DataFrame> {
    let mut needed = plan.key_names();
    for planned in plan.aggs() {
        for c in planned.agg.input.columns() {
            if !needed.contains(&c) {
                needed.push(c);
            }
        }
    }
    let projected =
        if needed.len() < df.schema().fields().len() { df.select(needed.into_iter().map(col))? } else { df.clone() };
    let shuffled = hash_shuffle(&projected, &plan.key_names(), n)?;
    let op: Arc<dyn Op> = Arc::new(GroupbyChunk { plan: plan.clone(), finish: true });
    let local = map_partitions_with(
        "groupby-local",
        &shuffled,
        op,
        plan_token("groupby-local", df, plan),
        plan.output_schema(),
    );
    if !plan.sort() || n == 1 {
        return Ok(local);
    }
    Ok(concat_sorted(&local, plan.nkeys()))
}

/// All partitions of `df` in one, sorted by its first `nkeys` columns.
pub(crate) fn concat_sorted(df: &DataFrame, nkeys: usize) -> DataFrame {
    let op: Arc<dyn Op> = Arc::new(ConcatSorted { schema: df.schema().clone(), nkeys });
    let token = Token::of(&("concat-sorted", df.token().0, nkeys));
    layer_of_partitions("concat-sorted", token, df.schema().clone(), 1, vec![df.layer().clone()], |_| {
        (op.clone(), (0..df.npartitions()).map(|i| ArgSpec::Key(df.partition_key(i))).collect())
    })
}

/// The chunk stage of a groupby: one partition to its partial result per group, or with
/// `finish` to its result (the shuffle strategy's local aggregation).
///
/// ```
/// # use std::sync::Arc;
/// # use arrow::array::{Int64Array, RecordBatch};
/// use arrow::datatypes::{DataType, Field, Schema};
/// use rask_collections::dataframe::{col, AggPlan, GroupbyChunk};
/// use rask_graph::{args, Batch, Op, Value};
/// let batch = RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(vec![2, 1, 2])) as _)]).unwrap();
/// let plan = AggPlan::new(&batch.schema(), &["k".into()], vec![col("k").count().alias("n")], true, true).unwrap();
/// let op = GroupbyChunk { plan, finish: true };
/// let Value::Batch(out) = op.call(args![Value::Batch(Batch::new(batch))]).unwrap() else { panic!() };
/// assert_eq!(out.0.column(1).as_ref(), &Int64Array::from(vec![1, 2]) as &dyn arrow::array::Array);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupbyChunk {
    /// The aggregation.
    pub plan: AggPlan,
    /// Whether to finish (a result) rather than stop at a partial result.
    pub finish: bool,
}

#[typetag::serde(name = "rask.dataframe.groupby_chunk")]
impl Op for GroupbyChunk {
    fn name(&self) -> &str {
        "groupby_chunk"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let batch = one_batch("groupby_chunk", &args)?;
        let mut out = chunk_batch(&self.plan, batch).map_err(OpError::new)?;
        if self.finish {
            out = finish_batch(&self.plan, &out).map_err(OpError::new)?;
        }
        Ok(Value::Batch(Batch::new(out)))
    }
}

/// The combine stages of a groupby: partial results (in partition order) merged into
/// one, or with `finish` into the result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupbyCombine {
    /// The aggregation.
    pub plan: AggPlan,
    /// Whether this is the last stage.
    pub finish: bool,
}

#[typetag::serde(name = "rask.dataframe.groupby_combine")]
impl Op for GroupbyCombine {
    fn name(&self) -> &str {
        "groupby_combine"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let partials = batch_args("groupby_combine", &args)?;
        let mut out = combine_batches(&self.plan, &partials).map_err(OpError::new)?;
        if self.finish {
            out = finish_batch(&self.plan, &out).map_err(OpError::new)?;
        }
        Ok(Value::Batch(Batch::new(out)))
    }
}

/// Concatenates batches of `schema` and sorts them by their first `nkeys` columns
/// (ascending, nulls last, stable).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConcatSorted {
    /// The batches' schema (so that no batch still gives a typed empty one).
    pub schema: arrow::datatypes::SchemaRef,
    /// How many leading columns to sort by.
    pub nkeys: usize,
}

#[typetag::serde(name = "rask.dataframe.concat_sorted")]
impl Op for ConcatSorted {
    fn name(&self) -> &str {
        "concat_sorted"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let all = concat_args("concat_sorted", &self.schema, &args)?;
        Ok(Value::Batch(Batch::new(sort_by_keys(&all, self.nkeys).map_err(OpError::new)?)))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::Int64Array;

    use super::*;
    use crate::dataframe::from_arrays;

    fn keys(n: i64, partitions: usize) -> DataFrame {
        from_arrays(vec![("k", Arc::new(Int64Array::from_iter_values(0..n)) as _)], partitions).unwrap()
    }

    fn auto(df: &DataFrame, threshold: usize) -> Strategy {
        let plan = AggPlan::new(df.schema(), &["k".into()], vec![col("k").count().alias("n")], true, true).unwrap();
        strategy(df, SplitOut::Auto, true, threshold, |known| chunk_layer(df, &plan, known)).unwrap()
    }

    #[test]
    fn auto_shuffles_when_the_first_partition_promises_many_groups() {
        let df = keys(100, 4);
        assert!(matches!(auto(&df, 10), Strategy::Shuffle(4)));
        assert!(matches!(auto(&df, 1000), Strategy::Tree(known) if !known.is_empty() && known[0].num_rows() == 25));
        // After a shuffle, partition 0 needs every input partition: no estimate.
        assert!(matches!(auto(&df.shuffle(&["k"], 4).unwrap(), 10), Strategy::Tree(known) if known.is_empty()));
        // One partition or no keys: nothing to choose.
        assert!(matches!(auto(&keys(100, 1), 10), Strategy::Tree(known) if known.is_empty()));
    }
}

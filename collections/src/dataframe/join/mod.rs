//! Joins of two dataframes, pandas' `merge` on partitions: [`DataFrame::join`] with a
//! [`Join`] naming the keys and options (whose docs give the semantics and row order).
//! The plan (`plan.rs`), the hash-table matching (`table.rs`) and the join task's op
//! (`kernel.rs`) live beside this file; here the partitions of both sides are routed to
//! the join tasks, broadcast or shuffled.

mod kernel;
mod plan;
mod table;

use std::sync::Arc;

use arrow::datatypes::DataType;
use rask_graph::{ArgSpec, Op, Token};
use serde::{Deserialize, Serialize};

pub use kernel::JoinPartitions;
pub use plan::{JoinPlan, OutputColumn};

use super::DataFrame;
use super::expr::{Expr, col};
use super::partitions::layer_of_partitions;
use super::shuffle::hash_shuffle;
use crate::error::{Error, Result};

/// Which rows a join keeps.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum How {
    /// Rows whose key is on both sides.
    #[default]
    Inner,
    /// Every left row; nulls for the right columns where no right row matches.
    Left,
    /// Every right row; nulls for the left columns where no left row matches.
    Right,
    /// Every row of both sides (a full outer join).
    Outer,
}

/// How the partitions of both sides meet.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Broadcast a side of one partition when the join allows it, else shuffle.
    #[default]
    Auto,
    /// Broadcast the side with fewer partitions (of those the join allows: the right one
    /// of a left join, the left one of a right join): every task concatenates all its
    /// partitions. An error for an outer join of two sides of several partitions.
    Broadcast,
    /// Hash-shuffle both sides on the keys, whatever their sizes.
    Shuffle,
}

/// The keys and options of a join ([`DataFrame::join`]).
///
/// Semantics (pandas on Arrow):
/// - duplicate keys multiply (every left row with every right row of its key);
/// - a left, right or outer join fills the missing side with nulls, and integer columns
///   stay integers (with nulls), never floats;
/// - keys named alike on both sides ([`Join::on`]) come out once, in the left key's place;
///   an outer join coalesces it (the right key where a row has no left row). Keys named
///   differently ([`Join::left_on`] + [`Join::right_on`]) both stay;
/// - a non-key column of the right side whose name the left side has gets the suffix
///   `_right` ([`Join::suffix`]); left columns are never renamed;
/// - null keys match each other, as in pandas; [`Join::nulls_equal`]`(false)` gives SQL's
///   behaviour, where a null key matches nothing;
/// - the key columns of each pair are cast to one type before matching (`Int32` with
///   `Int64` gives `Int64`, an integer with a float gives `Float64`): a shared key comes
///   out in that type, the other columns in their own.
///
/// Row order: within an output partition, an inner, left or outer join follows the left
/// rows (pandas' order: each left row with its matches in right order, unmatched left rows
/// in place), then an outer join appends the right rows that matched nothing, in right
/// order; a right join follows the right rows likewise. Across partitions:
/// - when one side is small — it has one partition, or [`Strategy::Broadcast`] says so —
///   it is broadcast: every partition of the other side joins against all of it, and the
///   output keeps the big side's partitions in order (so an inner or left join with a
///   one-partition right side keeps the left frame's row order exactly, as pandas does).
///   A side whose unmatched rows are kept (the right side of a right or outer join) is
///   broadcast only when the other side is one partition, so those rows appear once;
/// - otherwise both sides are hash-shuffled on their keys into the same number of
///   partitions and partition `i` joins partition `i`: rows come grouped by key hash, not
///   in the inputs' order (pandas' outer join sorts by key; use `sort_by` for an order).
///
/// ```
/// use rask_collections::dataframe::{How, Join, Strategy};
/// let inner = Join::on(["id"]);
/// let left = Join::on(["id", "day"]).how(How::Left).suffix("_lookup");
/// let sql = Join::left_on(["user"]).right_on(["id"]).how(How::Outer).nulls_equal(false);
/// let shuffled = Join::on(["id"]).strategy(Strategy::Shuffle).npartitions(16);
/// # let _ = (inner, left, sql, shuffled);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Join {
    left_on: Vec<String>,
    right_on: Vec<String>,
    how: How,
    suffix: String,
    nulls_equal: bool,
    strategy: Strategy,
    npartitions: Option<usize>,
}

impl Join {
    /// An inner join on key columns named alike on both sides.
    pub fn on<S: Into<String>>(keys: impl IntoIterator<Item = S>) -> Join {
        let keys: Vec<String> = keys.into_iter().map(Into::into).collect();
        Join {
            left_on: keys.clone(),
            right_on: keys,
            how: How::Inner,
            suffix: "_right".into(),
            nulls_equal: true,
            strategy: Strategy::Auto,
            npartitions: None,
        }
    }

    /// An inner join on these left key columns, matched pairwise with the columns of
    /// [`right_on`](Join::right_on) (the same names unless given).
    pub fn left_on<S: Into<String>>(keys: impl IntoIterator<Item = S>) -> Join {
        Join::on(keys)
    }

    /// The right side's key columns, pairwise with the left ones. A pair named alike acts
    /// as an [`on`](Join::on) key (one output column); other pairs both stay.
    pub fn right_on<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Join {
        self.right_on = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Which rows to keep (default [`How::Inner`]).
    pub fn how(mut self, how: How) -> Join {
        self.how = how;
        self
    }

    /// The suffix of right columns whose name the left side has (default `_right`).
    pub fn suffix(mut self, suffix: impl Into<String>) -> Join {
        self.suffix = suffix.into();
        self
    }

    /// Whether null keys match each other: `true` (the default) as in pandas, `false` as
    /// in SQL (a row with a null key matches nothing).
    pub fn nulls_equal(mut self, nulls_equal: bool) -> Join {
        self.nulls_equal = nulls_equal;
        self
    }

    /// Broadcast or shuffle (default [`Strategy::Auto`]).
    pub fn strategy(mut self, strategy: Strategy) -> Join {
        self.strategy = strategy;
        self
    }

    /// The number of output partitions of a shuffle join (default: the larger number of
    /// partitions of the two sides).
    pub fn npartitions(mut self, npartitions: usize) -> Join {
        self.npartitions = Some(npartitions);
        self
    }
}

/// Which partitions each join task reads.
#[derive(Copy, Clone, Debug, Hash)]
enum Route {
    /// Task `i` joins left partition `i` with the whole right side.
    BroadcastRight,
    /// Task `i` joins the whole left side with right partition `i`.
    BroadcastLeft,
    /// Both sides shuffled into this many partitions; task `i` joins partition `i`s.
    Shuffle(usize),
}

impl Join {
    /// The route for sides of `left` and `right` partitions.
    fn route(&self, left: usize, right: usize) -> Result<Route> {
        // A side whose unmatched rows are kept is broadcast only to a single task.
        let right_ok = matches!(self.how, How::Inner | How::Left) || left == 1;
        let left_ok = matches!(self.how, How::Inner | How::Right) || right == 1;
        let shuffle = Route::Shuffle(self.npartitions.unwrap_or(left.max(right)));
        match self.strategy {
            Strategy::Shuffle => Ok(shuffle),
            Strategy::Auto if right == 1 && right_ok => Ok(Route::BroadcastRight),
            Strategy::Auto if left == 1 && left_ok => Ok(Route::BroadcastLeft),
            Strategy::Auto => Ok(shuffle),
            Strategy::Broadcast if right_ok && (right <= left || !left_ok) => Ok(Route::BroadcastRight),
            Strategy::Broadcast if left_ok => Ok(Route::BroadcastLeft),
            Strategy::Broadcast => Err(Error::Schema(format!(
                "an {:?} join of {left} and {right} partitions cannot broadcast either side (its unmatched rows would repeat in every task); use Strategy::Shuffle",
                self.how
            ))),
        }
    }
}

impl DataFrame {
    /// The join of this dataframe (the left side) with `other` (the right side), pandas'
    /// `merge`; see [`Join`] for the semantics, the row order and when a side is
    /// broadcast. Missing key columns, keys whose types cannot match and output
    /// names that clash are errors naming the column and both schemas.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Array, Float64Array, Int64Array};
    /// use rask_collections::dataframe::{from_arrays, How, Join};
    /// let orders = from_arrays(vec![
    ///     ("id", Arc::new(Int64Array::from(vec![1, 2, 2, 3])) as _),
    ///     ("x", Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5, 3.5])) as _),
    /// ], 2).unwrap();
    /// let lookup = from_arrays(vec![
    ///     ("id", Arc::new(Int64Array::from(vec![2, 3, 4])) as _),
    ///     ("w", Arc::new(Int64Array::from(vec![20, 30, 40])) as _),
    /// ], 1).unwrap();
    /// let left = orders.join(&lookup, Join::on(["id"]).how(How::Left)).unwrap();
    /// assert_eq!(left.columns(), vec!["id", "x", "w"]);
    /// let batch = left.compute().unwrap();
    /// // id 1 has no match: its w is null, and w stays an integer column.
    /// assert_eq!(batch.column(2).as_ref(), &Int64Array::from(vec![None, Some(20), Some(20), Some(30)]) as &dyn Array);
    /// assert!(orders.join(&lookup, Join::on(["nope"])).unwrap_err().to_string().contains("nope"));
    /// ```
    pub fn join(&self, other: &DataFrame, join: Join) -> Result<DataFrame> {
        let plan = JoinPlan::new(self.schema(), other.schema(), &join)?;
        let mut joined = self.join_layers(other, &join, plan.clone())?;
        joined.joined = Some(Arc::new(Joined { left: self.clone(), right: other.clone(), join, plan }));
        Ok(joined)
    }

    fn join_layers(&self, other: &DataFrame, join: &Join, plan: JoinPlan) -> Result<DataFrame> {
        let all = |df: &DataFrame| (0..df.npartitions()).map(|i| ArgSpec::Key(df.partition_key(i))).collect::<Vec<_>>();
        match join.route(self.npartitions(), other.npartitions())? {
            Route::BroadcastRight => Ok(join_layer(self, other, plan, Route::BroadcastRight, |i| {
                std::iter::once(ArgSpec::Key(self.partition_key(i))).chain(all(other)).collect()
            })),
            Route::BroadcastLeft => Ok(join_layer(self, other, plan, Route::BroadcastLeft, |i| {
                all(self).into_iter().chain([ArgSpec::Key(other.partition_key(i))]).collect()
            })),
            Route::Shuffle(n) => {
                let left = hash_shuffle(&with_key_types(self, &plan.left_on, &plan.key_types)?, &plan.left_on, n)?;
                let right = hash_shuffle(&with_key_types(other, &plan.right_on, &plan.key_types)?, &plan.right_on, n)?;
                Ok(join_layer(&left, &right, plan, Route::Shuffle(n), |i| {
                    vec![ArgSpec::Key(left.partition_key(i)), ArgSpec::Key(right.partition_key(i))]
                }))
            }
        }
    }
}

/// What a join dataframe was made of, to rebuild it from pruned sides.
#[derive(Debug)]
pub(crate) struct Joined {
    left: DataFrame,
    right: DataFrame,
    join: Join,
    /// The plan the join was built with (where each output column comes from).
    plan: JoinPlan,
}

impl Joined {
    /// The join of the sides pruned to what the output columns `keep` (and the keys) need,
    /// then `keep` selected; `None` when neither side gets any narrower. A column named
    /// alike on both sides is kept on both, so that output names (suffixes) stay the same.
    pub(crate) fn pruned_to(&self, keep: &[Expr]) -> Result<Option<DataFrame>> {
        let plan = &self.plan;
        let (mut left, mut right) = (plan.left_on.clone(), plan.right_on.clone());
        let kept = |name: &str| keep.iter().any(|e| e.output_name() == name);
        for (field, origin) in plan.schema.fields().iter().zip(&plan.columns) {
            if !kept(field.name()) {
                continue;
            }
            match origin {
                OutputColumn::Left(c) => left.push(c.clone()),
                OutputColumn::Right(c) => right.push(c.clone()),
                OutputColumn::Key { .. } => {} // keys are kept anyway
            }
        }
        let names = |df: &DataFrame| df.schema().fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>();
        let (left_names, right_names) = (names(&self.left), names(&self.right));
        left.extend(left_names.iter().filter(|c| right_names.contains(c)).cloned());
        right.extend(right_names.iter().filter(|c| left_names.contains(c)).cloned());
        let pruned_left = self.left.pruned_to(&left)?;
        let pruned_right = self.right.pruned_to(&right)?;
        if pruned_left.token() == self.left.token() && pruned_right.token() == self.right.token() {
            return Ok(None);
        }
        pruned_left.join(&pruned_right, self.join.clone())?.select(keep.to_vec()).map(Some)
    }

    /// The join with `predicate` applied to one side first, when it reads only that
    /// side's columns under their own names (or a key holding the left value, of the
    /// left key's type) and the join passes that side's rows through unchanged: the left
    /// side of an inner or left join, the right side of an inner or right join. Then a
    /// filter right after a join reaches a scan under it (fewer row groups, fewer rows
    /// joined). `None` otherwise.
    pub(crate) fn filter_first(&self, predicate: &Expr) -> Result<Option<DataFrame>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Side {
            Left,
            Right,
        }
        let plan = &self.plan;
        let mut side = None;
        for c in predicate.columns() {
            let Ok(i) = plan.schema.index_of(&c) else { return Ok(None) };
            let of_left_type = |name: &str| {
                self.left
                    .schema()
                    .field_with_name(name)
                    .is_ok_and(|f| f.data_type() == plan.schema.field(i).data_type())
            };
            let this = match &plan.columns[i] {
                OutputColumn::Left(name) if *name == c => Side::Left,
                OutputColumn::Right(name) if *name == c => Side::Right,
                OutputColumn::Key { left, .. } if *left == c && self.join.how != How::Outer && of_left_type(left) => {
                    Side::Left
                }
                _ => return Ok(None),
            };
            if side.is_some_and(|s| s != this) {
                return Ok(None);
            }
            side = Some(this);
        }
        let join = self.join.clone();
        match (side, self.join.how) {
            (Some(Side::Left), How::Inner | How::Left) => {
                self.left.filter(predicate.clone())?.join(&self.right, join).map(Some)
            }
            (Some(Side::Right), How::Inner | How::Right) => {
                self.left.join(&self.right.filter(predicate.clone())?, join).map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// The dataframe of join tasks over `left` and `right`, one per output partition; `args(i)`
/// lists the left partitions task `i` reads, then the right ones.
fn join_layer(
    left: &DataFrame,
    right: &DataFrame,
    plan: JoinPlan,
    route: Route,
    args: impl Fn(usize) -> Vec<ArgSpec>,
) -> DataFrame {
    let (npartitions, left_args) = match route {
        Route::BroadcastRight => (left.npartitions(), 1),
        Route::BroadcastLeft => (right.npartitions(), left.npartitions()),
        Route::Shuffle(n) => (n, 1),
    };
    let token = Token::of(&(format!("{plan:?}"), left.token().0, right.token().0, route));
    let schema = plan.schema.clone();
    let op: Arc<dyn Op> = Arc::new(JoinPartitions { left_args, plan });
    let dependencies = vec![left.layer().clone(), right.layer().clone()];
    layer_of_partitions("join", token, schema, npartitions, dependencies, |i| (op.clone(), args(i)))
}

/// `df` with its key columns cast to the join's key types where they differ, so that
/// equal keys of both sides hash alike in a shuffle.
fn with_key_types(df: &DataFrame, keys: &[String], types: &[DataType]) -> Result<DataFrame> {
    let casts: Vec<Expr> = keys
        .iter()
        .zip(types)
        .filter(|(key, to)| df.schema().field_with_name(key).map(|f| f.data_type() != *to).unwrap_or(false))
        .map(|(key, to)| col(key.as_str()).cast(to.clone()))
        .collect();
    match casts.is_empty() {
        true => Ok(df.clone()),
        false => df.with_columns(casts),
    }
}

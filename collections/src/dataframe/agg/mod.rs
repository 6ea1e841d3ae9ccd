//! Aggregations, whole-frame and per group, tree-reduced across partitions as Dask does.
//!
//! An [`Agg`] is built from an expression: `col("x").sum()`, `col("x").mean().alias("m")`,
//! `(col("x") * lit(2)).max()`. Its output column is named like Polars names it: the
//! alias, else the input's name (`col("x").sum()` gives `x`); names must be unique, so
//! two aggregations of one column need an alias. [`DataFrame::agg`] reduces the whole
//! frame to one row; [`DataFrame::groupby`] gives one row per group.
//!
//! The rules (pandas on Arrow, SEMANTICS.md) are listed on [`Agg`]; the strategies
//! (tree or shuffle) on [`SplitOut`].
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Float64Array, Int64Array};
//! use rask_collections::dataframe::{col, from_arrays};
//! let df = from_arrays(
//!     vec![
//!         ("k", Arc::new(Int64Array::from(vec![Some(2), Some(1), None, Some(2)])) as _),
//!         ("x", Arc::new(Float64Array::from(vec![Some(1.0), None, Some(4.0), Some(3.0)])) as _),
//!     ],
//!     2,
//! )?;
//! let total = df.agg([col("x").sum(), col("x").count().alias("n")])?.compute()?;
//! assert_eq!(total.num_rows(), 1);
//! let by_k = df.groupby(["k"]).agg([col("x").mean(), col("x").size().alias("rows")])?.compute()?;
//! assert_eq!(by_k.num_rows(), 2); // the null key is dropped; groups sorted by key
//! # Ok::<(), rask_collections::Error>(())
//! ```

mod describe;
mod drop_duplicates;
mod groupby;
mod kernels;
mod plan;
mod stages;
pub(crate) use stages::{batch_args, one_batch};
mod state;
mod value_counts;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use describe::{DescribeFinish, DescribeObjects};
pub use drop_duplicates::DropDuplicates;
pub use groupby::{AUTO_SHUFFLE_GROUPS, ConcatSorted, GroupBy, GroupbyChunk, GroupbyCombine, SplitOut};
pub use plan::AggPlan;
pub use value_counts::{ValueCounts, ValueCountsFinish};

use super::{DataFrame, Expr};
use crate::error::{Error, Result};

/// An aggregation function.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AggFn {
    /// The sum of valid values; null when there are fewer than `min_count` of them.
    Sum {
        /// Valid values needed for a non-null sum (0: an empty sum is 0).
        min_count: usize,
    },
    /// The mean of valid values.
    Mean,
    /// The smallest valid value.
    Min,
    /// The largest valid value.
    Max,
    /// The number of valid values.
    Count,
    /// The number of rows, nulls included.
    Size,
    /// The variance with `ddof` delta degrees of freedom.
    Var {
        /// Delta degrees of freedom (1: the sample variance).
        ddof: usize,
    },
    /// The standard deviation with `ddof` delta degrees of freedom.
    Std {
        /// Delta degrees of freedom (1: the sample standard deviation).
        ddof: usize,
    },
    /// The number of distinct valid values.
    NUnique,
    /// The first valid value, in partition order.
    First,
    /// The last valid value, in partition order.
    Last,
}

impl AggFn {
    /// The function's name, as in pandas.
    pub fn name(self) -> &'static str {
        match self {
            AggFn::Sum { .. } => "sum",
            AggFn::Mean => "mean",
            AggFn::Min => "min",
            AggFn::Max => "max",
            AggFn::Count => "count",
            AggFn::Size => "size",
            AggFn::Var { .. } => "var",
            AggFn::Std { .. } => "std",
            AggFn::NUnique => "n_unique",
            AggFn::First => "first",
            AggFn::Last => "last",
        }
    }
}

/// One aggregation: a function of an input expression, with an optional output name
/// (by default the input's name, as in Polars).
///
/// Results follow pandas on Arrow (SEMANTICS.md):
/// - nulls are skipped: `count` counts valid values, `size` counts rows; the `sum` of
///   only nulls is 0 (null with [`Expr::sum_min_count`]`(1)`), a boolean sum counts true
///   values; `mean`, `min`, `max` of an all-null group are null;
/// - result types: `sum` of booleans and signed integers is `Int64` (wrapping, as numpy),
///   of unsigned integers `UInt64`, of floats the float type; `mean`, `var`, `std` are
///   `Float64`; `min`, `max`, `first`, `last` keep the input type; `count`, `size`,
///   `n_unique` are `Int64`;
/// - `var` and `std` use ddof = 1 by default ([`Expr::var_ddof`] changes it) and are null
///   for groups of at most ddof values; they are numerically stable: each partition's
///   count, mean and sum of squared deviations (two passes), merged with Chan's formula;
/// - `min` and `max` skip NaN unless a group holds only NaN; strings compare by code point;
/// - `first` and `last` are the first and last valid value in partition order;
/// - `n_unique` counts distinct valid values.
///
/// ```
/// use rask_collections::dataframe::{col, Agg, AggFn};
/// let a = col("x").std().alias("spread");
/// assert_eq!(a, Agg { input: col("x"), func: AggFn::Std { ddof: 1 }, alias: Some("spread".into()) });
/// assert_eq!(a.output_name(), "spread");
/// assert_eq!(col("x").sum().output_name(), "x");
/// assert_eq!(a.to_string(), "x.std() AS spread");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agg {
    /// What is aggregated.
    pub input: Expr,
    /// How.
    pub func: AggFn,
    /// The output column's name, if not the input's.
    pub alias: Option<String>,
}

impl Agg {
    /// `func` of `input`, named after the input.
    pub fn new(input: Expr, func: AggFn) -> Agg {
        Agg { input, func, alias: None }
    }

    /// The aggregation with its output column named `name`.
    pub fn alias(mut self, name: impl Into<String>) -> Agg {
        self.alias = Some(name.into());
        self
    }

    /// The output column's name: the alias, else the input expression's name.
    pub fn output_name(&self) -> String {
        self.alias.clone().unwrap_or_else(|| self.input.output_name())
    }
}

impl fmt::Display for Agg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let args = match self.func {
            AggFn::Sum { min_count } if min_count > 0 => format!("min_count={min_count}"),
            AggFn::Var { ddof } | AggFn::Std { ddof } if ddof != 1 => format!("ddof={ddof}"),
            _ => String::new(),
        };
        write!(f, "{}.{}({args})", self.input, self.func.name())?;
        match &self.alias {
            Some(name) => write!(f, " AS {name}"),
            None => Ok(()),
        }
    }
}

macro_rules! agg_methods {
    ($($(#[$doc:meta])* $name:ident => $func:expr;)*) => {
        impl Expr {
            $(
                $(#[$doc])*
                pub fn $name(self) -> Agg {
                    Agg::new(self, $func)
                }
            )*
        }
    };
}

agg_methods! {
    /// The sum of valid values (of only nulls: 0); booleans count true values.
    sum => AggFn::Sum { min_count: 0 };
    /// The mean of valid values (`Float64`; null without any).
    mean => AggFn::Mean;
    /// The smallest valid value (NaN skipped unless alone).
    min => AggFn::Min;
    /// The largest valid value (NaN skipped unless alone).
    max => AggFn::Max;
    /// The number of valid (non-null) values.
    count => AggFn::Count;
    /// The number of rows, nulls included.
    size => AggFn::Size;
    /// The sample variance (ddof = 1): null for fewer than two values.
    var => AggFn::Var { ddof: 1 };
    /// The sample standard deviation (ddof = 1): null for fewer than two values.
    std => AggFn::Std { ddof: 1 };
    /// The number of distinct valid values.
    n_unique => AggFn::NUnique;
    /// The first valid value in partition order.
    first => AggFn::First;
    /// The last valid value in partition order.
    last => AggFn::Last;
}

impl Expr {
    /// The sum, null when fewer than `min_count` values are valid (pandas' `min_count`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::{Array, Int64Array};
    /// use rask_collections::dataframe::{col, from_arrays};
    /// let df = from_arrays(vec![("x", Arc::new(Int64Array::from(vec![None::<i64>, None])) as _)], 2)?;
    /// let out = df.agg([col("x").sum().alias("zero"), col("x").sum_min_count(1).alias("null")])?.compute()?;
    /// assert_eq!(out.column(0).as_ref(), &Int64Array::from(vec![0]) as &dyn Array);
    /// assert!(out.column(1).is_null(0));
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn sum_min_count(self, min_count: usize) -> Agg {
        Agg::new(self, AggFn::Sum { min_count })
    }

    /// The variance with `ddof` delta degrees of freedom (0: the population variance).
    pub fn var_ddof(self, ddof: usize) -> Agg {
        Agg::new(self, AggFn::Var { ddof })
    }

    /// The standard deviation with `ddof` delta degrees of freedom.
    pub fn std_ddof(self, ddof: usize) -> Agg {
        Agg::new(self, AggFn::Std { ddof })
    }
}

impl DataFrame {
    /// The aggregations over the whole frame: a one-partition dataframe of one row, a
    /// column per aggregation (see the module docs for the rules).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::{Array, BooleanArray, Float64Array, Int64Array};
    /// use rask_collections::dataframe::{col, from_arrays};
    /// let df = from_arrays(
    ///     vec![
    ///         ("b", Arc::new(BooleanArray::from(vec![true, false, true])) as _),
    ///         ("x", Arc::new(Float64Array::from(vec![1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0])) as _),
    ///     ],
    ///     3,
    /// )?;
    /// let out = df.agg([col("b").sum(), col("x").var()])?.compute()?;
    /// assert_eq!(out.column(0).as_ref(), &Int64Array::from(vec![2]) as &dyn Array);
    /// assert_eq!(out.column(1).as_ref(), &Float64Array::from(vec![1.0]) as &dyn Array);
    /// assert!(df.agg([col("nope").sum()]).unwrap_err().to_string().contains("nope"));
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn agg(&self, aggs: impl IntoIterator<Item = Agg>) -> Result<DataFrame> {
        let aggs: Vec<Agg> = aggs.into_iter().collect();
        if aggs.is_empty() {
            return Err(Error::Schema("agg needs at least one aggregation".into()));
        }
        self.groupby(Vec::<String>::new()).agg(aggs)
    }
}

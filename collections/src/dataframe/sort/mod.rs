//! Sorting a dataframe by key columns, as Dask does: [`DataFrame::sort_by`] with a
//! [`Sort`] (whose docs give the order and the plan). The stages' ops and the sort order
//! they share live in `ops.rs`; here the stages are laid out as layers.

mod ops;

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use rask_graph::{ArgSpec, Op, Token};

pub use ops::{RangeSplit, SortBoundaries, SortKeys, SortParts, SortSample};

use super::DataFrame;
use super::describe_schema;
use super::partitions::{layer_of_partitions, map_partitions_with};
use crate::dataframe::partitions::check_partitions;
use crate::error::{Error, Result};

/// The key columns and options of a sort. A column name or a list of them converts into
/// an ascending sort with nulls last.
///
/// Semantics (pandas on Arrow): nulls sort last unless [`Sort::nulls_first`]; strings sort
/// by code point (their UTF-8 bytes); floats by IEEE total order (`-0.0` before `0.0`,
/// NaN after every number); each column ascending or descending; and the sort is stable:
/// rows with equal keys keep their order in the input (partition order, then row order).
///
/// The plan: sample each partition's keys ([`SortSample`]), pick the quantile keys that
/// cut the samples into equal shares ([`SortBoundaries`], one task), split every
/// partition into ranges by those keys ([`RangeSplit`], rows keeping their order), and
/// sort the parts of each range together ([`SortParts`], stable, parts in partition
/// order). Output partition `j` holds range `j`, so the partitions are in sorted order
/// and `compute()` gives the fully sorted table. A sort into one partition is one task
/// that sorts all the input partitions together.
///
/// ```
/// use rask_collections::dataframe::Sort;
/// let by_id = Sort::from("id");
/// let newest_first = Sort::by(["day", "id"]).descending_each([true, false]).nulls_first(true);
/// # let _ = (by_id, newest_first);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Sort {
    columns: Vec<String>,
    descending: Vec<bool>,
    nulls_first: bool,
    npartitions: Option<usize>,
}

impl Sort {
    /// Ascending by these columns, most significant first, nulls last.
    pub fn by<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Sort {
        Sort {
            columns: columns.into_iter().map(Into::into).collect(),
            descending: vec![false],
            nulls_first: false,
            npartitions: None,
        }
    }

    /// Every column descending (`true`) or ascending.
    pub fn descending(mut self, descending: bool) -> Sort {
        self.descending = vec![descending];
        self
    }

    /// Each column descending or not, one flag per column.
    pub fn descending_each(mut self, descending: impl IntoIterator<Item = bool>) -> Sort {
        self.descending = descending.into_iter().collect();
        self
    }

    /// Nulls before every value (`true`) or after (the default).
    pub fn nulls_first(mut self, nulls_first: bool) -> Sort {
        self.nulls_first = nulls_first;
        self
    }

    /// The number of output partitions (default: as many as the input has).
    pub fn npartitions(mut self, npartitions: usize) -> Sort {
        self.npartitions = Some(npartitions);
        self
    }

    /// The sort order checked against `schema`: the columns exist and can be ordered, one
    /// descending flag or one per column.
    fn keys(&self, schema: &SchemaRef) -> Result<SortKeys> {
        let describe = || format!("the schema [{}]", describe_schema(schema));
        if self.columns.is_empty() {
            return Err(Error::Schema(format!("sort_by needs at least one column of {}", describe())));
        }
        let mut fields = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            let field = schema
                .field_with_name(c)
                .map_err(|_| Error::Schema(format!("sort_by: no column {c:?} in {}", describe())))?;
            fields.push(SortField::new(field.data_type().clone()));
        }
        if !RowConverter::supports_fields(&fields) {
            return Err(Error::Schema(format!(
                "sort_by {:?}: a column of {} cannot be ordered",
                self.columns,
                describe()
            )));
        }
        let descending = match self.descending.as_slice() {
            [all] => vec![*all; self.columns.len()],
            each if each.len() == self.columns.len() => each.to_vec(),
            each => {
                return Err(Error::Schema(format!(
                    "sort_by {:?}: {} descending flags for {} columns",
                    self.columns,
                    each.len(),
                    self.columns.len()
                )));
            }
        };
        Ok(SortKeys { columns: self.columns.clone(), descending, nulls_first: self.nulls_first })
    }
}

impl From<&str> for Sort {
    fn from(column: &str) -> Sort {
        Sort::by([column])
    }
}

impl From<String> for Sort {
    fn from(column: String) -> Sort {
        Sort::by([column])
    }
}

impl<S: Into<String>, const N: usize> From<[S; N]> for Sort {
    fn from(columns: [S; N]) -> Sort {
        Sort::by(columns)
    }
}

impl<S: Into<String>> From<Vec<S>> for Sort {
    fn from(columns: Vec<S>) -> Sort {
        Sort::by(columns)
    }
}

/// How many key rows each partition contributes to the sample, for `parts` outputs.
fn sample_size(parts: usize) -> usize {
    (64 * parts).clamp(256, 4096)
}

impl DataFrame {
    /// The rows sorted by `sort` (a column, a list of columns, or a [`Sort`]); see
    /// [`Sort`] for the order and the plan. A missing column, a column that
    /// cannot be ordered or a wrong number of descending flags is an error naming the
    /// schema.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow::array::{Array, Int64Array, StringArray};
    /// use rask_collections::dataframe::{from_arrays, Sort};
    /// let df = from_arrays(vec![
    ///     ("k", Arc::new(Int64Array::from(vec![Some(3), None, Some(1), Some(3), Some(2)])) as _),
    ///     ("s", Arc::new(StringArray::from(vec!["a", "b", "c", "d", "e"])) as _),
    /// ], 2).unwrap();
    /// let sorted = df.sort_by("k").unwrap().compute().unwrap();
    /// // Nulls last; the two 3s keep their order (a, then d).
    /// assert_eq!(sorted.column(1).as_ref(), &StringArray::from(vec!["c", "e", "a", "d", "b"]) as &dyn Array);
    /// let down = df.sort_by(Sort::by(["k"]).descending(true).nulls_first(true)).unwrap().compute().unwrap();
    /// assert_eq!(down.column(1).as_ref(), &StringArray::from(vec!["b", "a", "d", "e", "c"]) as &dyn Array);
    /// assert!(df.sort_by("nope").unwrap_err().to_string().contains("nope"));
    /// ```
    pub fn sort_by(&self, sort: impl Into<Sort>) -> Result<DataFrame> {
        let sort = sort.into();
        let keys = sort.keys(self.schema())?;
        let parts = sort.npartitions.unwrap_or(self.npartitions());
        check_partitions("sort_by", parts)?;
        check_partitions("sort_by's edges (inputs × outputs)", parts.saturating_mul(self.npartitions()))?;
        let token = Token::of(&("sort", &keys, parts, self.token().0));
        let schema = self.schema().clone();
        let all = |df: &DataFrame| (0..df.npartitions()).map(|i| ArgSpec::Key(df.partition_key(i))).collect();
        if parts == 1 {
            let op: Arc<dyn Op> = Arc::new(SortParts { keys, part: None });
            return Ok(layer_of_partitions("sort", token, schema, 1, vec![self.layer().clone()], |_| {
                (op.clone(), all(self))
            }));
        }
        let sample: Arc<dyn Op> = Arc::new(SortSample { keys: keys.clone(), size: sample_size(parts) });
        let samples = map_partitions_with("sort-sample", self, sample, token, schema.clone());
        let bounds: Arc<dyn Op> = Arc::new(SortBoundaries { keys: keys.clone(), parts });
        let bounds =
            layer_of_partitions("sort-boundaries", token, schema.clone(), 1, vec![samples.layer().clone()], |_| {
                (bounds.clone(), all(&samples))
            });
        let split: Arc<dyn Op> = Arc::new(RangeSplit { keys: keys.clone(), parts });
        let dependencies = vec![self.layer().clone(), bounds.layer().clone()];
        let splits = layer_of_partitions("sort-split", token, schema.clone(), self.npartitions(), dependencies, |i| {
            (split.clone(), vec![ArgSpec::Key(self.partition_key(i)), ArgSpec::Key(bounds.partition_key(0))])
        });
        Ok(layer_of_partitions("sort", token, schema, parts, vec![splits.layer().clone()], |j| {
            let op: Arc<dyn Op> = Arc::new(SortParts { keys: keys.clone(), part: Some(j) });
            (op, all(&splits))
        }))
    }
}

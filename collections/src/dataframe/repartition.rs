//! `repartition`: the same rows, in order, in another number of partitions.
//!
//! When the input's row counts are known without computing anything (a parquet scan
//! without filter reads them from its footers), the plan is exact: output `j` holds rows
//! `[total * j / n, total * (j + 1) / n)`, sliced from neighbouring inputs
//! ([`ConcatSlices`]). Otherwise nothing is computed when the frame is built, as with
//! Dask's `repartition(npartitions=n)`: fewer outputs concatenate contiguous groups of
//! inputs, and more outputs split each input into pieces whose bounds come from its row
//! count when it runs ([`SplitPiece`]).

use std::ops::Range;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use rask_graph::{ArgSpec, Args, Batch, Op, OpError, Token, Value};
use serde::{Deserialize, Serialize};

use super::DataFrame;
use super::partitions::layer_of_partitions;
use crate::compute::ComputeOptions;
use crate::dataframe::partitions::check_partitions;
use crate::error::Result;

/// One piece of an output partition: `len` rows from `offset` of argument `arg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Slice {
    /// Which argument.
    pub arg: usize,
    /// The first row.
    pub offset: usize,
    /// How many rows.
    pub len: usize,
}

/// Concatenates slices of its arguments, in order (a whole argument is passed through
/// uncopied, a single slice is a zero-copy view).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConcatSlices {
    /// The pieces.
    pub slices: Vec<Slice>,
    /// The schema of the result (for a partition of no piece).
    pub schema: SchemaRef,
}

#[typetag::serde(name = "rask.dataframe.concat_slices")]
impl Op for ConcatSlices {
    fn name(&self) -> &str {
        "concat_slices"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        concat_slices("concat_slices", &self.slices, &self.schema, &args)
    }
}

/// Piece `piece` of `pieces` of its arguments' rows, concatenated in order: of their
/// `len` rows, rows `[piece * len / pieces, (piece + 1) * len / pieces)`, the bounds
/// taken from the row counts when it runs. With one piece it concatenates its arguments;
/// with one argument it splits it. A whole argument is passed through uncopied, a piece
/// within one argument is a zero-copy view; no argument gives an empty batch of `schema`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SplitPiece {
    /// Which piece, from 0.
    pub piece: usize,
    /// How many pieces the rows are cut into (at least 1, more than `piece`).
    pub pieces: usize,
    /// The schema of the result (for a piece of no row).
    pub schema: SchemaRef,
}

#[typetag::serde(name = "rask.dataframe.split_piece")]
impl Op for SplitPiece {
    fn name(&self) -> &str {
        "split_piece"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        if self.piece >= self.pieces {
            return Err(OpError::new(format!("split_piece: piece {} of {} pieces", self.piece, self.pieces)));
        }
        let lengths = args
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Batch(b) => Ok(b.0.num_rows()),
                other => Err(OpError::new(format!(
                    "split_piece: argument {i} is a {}, not a record batch",
                    other.type_name()
                ))),
            })
            .collect::<Result<Vec<usize>, _>>()?;
        let total = lengths.iter().sum();
        let rows = share(total, self.piece, self.pieces)..share(total, self.piece + 1, self.pieces);
        let slices: Vec<Slice> =
            overlaps(&lengths, rows).map(|(arg, offset, len)| Slice { arg, offset, len }).collect();
        concat_slices("split_piece", &slices, &self.schema, &args)
    }
}

/// `slices` of `args`, concatenated into one batch of `schema`; errors name `op`.
fn concat_slices(op: &str, slices: &[Slice], schema: &SchemaRef, args: &Args) -> Result<Value, OpError> {
    let pieces = slices
        .iter()
        .map(|s| match args.get(s.arg) {
            Some(Value::Batch(b)) if s.offset.checked_add(s.len).is_some_and(|end| end <= b.0.num_rows()) => Ok((b, s)),
            Some(Value::Batch(b)) => Err(OpError::new(format!(
                "{op}: {} rows from row {} of a partition of {} rows (did the input change since its rows were counted?)",
                s.len,
                s.offset,
                b.0.num_rows()
            ))),
            _ => Err(OpError::new(format!("{op}: argument {} is not a record batch", s.arg))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let batch = match pieces.as_slice() {
        [(b, s)] if s.offset == 0 && s.len == b.0.num_rows() => return Ok(Value::Batch((*b).clone())),
        [(b, s)] => b.0.slice(s.offset, s.len),
        _ => {
            let slices: Vec<RecordBatch> = pieces.iter().map(|(b, s)| b.0.slice(s.offset, s.len)).collect();
            concat_batches(schema, &slices).map_err(|e| OpError::new(format!("{op}: {e}")))?
        }
    };
    Ok(Value::Batch(Batch::new(batch)))
}

/// `total * j / n` rounded down, without overflow (`n` > 0).
fn share(total: usize, j: usize, n: usize) -> usize {
    (total as u128 * j as u128 / n as u128) as usize
}

/// For inputs of `lengths` rows laid end to end, the part of each that falls in `rows`:
/// (input, offset in it, length), in order, non-empty parts only.
fn overlaps(lengths: &[usize], rows: Range<usize>) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let starts = lengths.iter().scan(0usize, |at, &len| Some(std::mem::replace(at, at.saturating_add(len))));
    starts.zip(lengths).enumerate().filter_map(move |(i, (start, &len))| {
        let (from, to) = (rows.start.max(start), rows.end.min(start.saturating_add(len)));
        (from < to).then(|| (i, from - start, to - from))
    })
}

/// For each of `n` outputs holding rows `[total * j / n, total * (j + 1) / n)` of inputs
/// of `lengths` rows: the inputs it reads and its slices of them.
fn balanced_slices(lengths: &[usize], n: usize) -> Vec<(Vec<usize>, Vec<Slice>)> {
    let total: usize = lengths.iter().sum();
    (0..n)
        .map(|j| {
            overlaps(lengths, share(total, j, n)..share(total, j + 1, n))
                .enumerate()
                .map(|(arg, (i, offset, len))| (i, Slice { arg, offset, len }))
                .unzip()
        })
        .collect()
}

/// The lazy plan of `n` outputs from `m` inputs whose row counts are unknown: for each
/// output, the inputs it reads and its piece of their rows (piece, pieces). `n <= m`:
/// contiguous groups of `m * j / n ..` inputs, whole. `n > m`: input `i` cut into
/// `n * (i + 1) / m - n * i / m` pieces. No input: empty outputs.
fn lazy_plan(m: usize, n: usize) -> Vec<(Range<usize>, usize, usize)> {
    if m == 0 {
        return (0..n).map(|_| (0..0, 0, 1)).collect();
    }
    if n <= m {
        return (0..n).map(|j| (share(m, j, n)..share(m, j + 1, n), 0, 1)).collect();
    }
    (0..m)
        .flat_map(|i| {
            let pieces = share(n, i + 1, m) - share(n, i, m);
            (0..pieces).map(move |p| (i..i + 1, p, pieces))
        })
        .collect()
}

impl DataFrame {
    /// The same rows, in order, in `npartitions` partitions. Nothing is computed when the
    /// frame is built:
    ///
    /// - a parquet scan without filter knows its row counts from the footers: the rows
    ///   are balanced exactly (partition sizes differ by at most one row), neighbouring
    ///   partitions sliced and concatenated;
    /// - otherwise, as Dask's `repartition(npartitions=n)`: with no more partitions than
    ///   the input, output `j` concatenates a contiguous group of input partitions
    ///   (groups as even as possible in partition count); with more, each input
    ///   partition is cut into nearly as many pieces as every other, piece `p` of `k`
    ///   holding rows `[p * len / k, (p + 1) * len / k)` of its `len` rows, counted when
    ///   it runs. Row counts are then as uneven as the input's.
    ///
    /// Zero partitions is an error.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use arrow::array::{Int64Array, RecordBatch};
    /// let df = rask_collections::dataframe::from_arrays(vec![("x", Arc::new(Int64Array::from_iter_values(0..10)) as _)], 3).unwrap();
    /// let runs = Arc::new(AtomicUsize::new(0));
    /// let counter = runs.clone();
    /// let watched = df
    ///     .map_partitions("watched", move |b: RecordBatch| { counter.fetch_add(1, Ordering::SeqCst); Ok::<_, String>(b) }, df.schema().clone())
    ///     .unwrap();
    /// let fewer = watched.repartition(2).unwrap(); // partitions [0] and [1, 2]
    /// let more = watched.repartition(6).unwrap(); // each partition cut in two
    /// assert_eq!(runs.load(Ordering::SeqCst), 0, "nothing computed yet");
    /// let rows = |d: &rask_collections::dataframe::DataFrame| (0..d.npartitions()).map(|i| d.partition(i).unwrap().compute().unwrap().num_rows()).collect::<Vec<_>>();
    /// assert_eq!(rows(&fewer), vec![3, 7]);
    /// assert_eq!(rows(&more), vec![1, 2, 1, 2, 2, 2]);
    /// assert_eq!(more.compute().unwrap(), df.compute().unwrap());
    /// assert!(df.repartition(0).is_err());
    /// ```
    pub fn repartition(&self, npartitions: usize) -> Result<DataFrame> {
        check_partitions("repartition", npartitions)?;
        if let Some(lengths) = self.scan_summary().and_then(|s| s.partition_rows.as_deref()) {
            let plan = balanced_slices(lengths, npartitions);
            let token = Token::of(&("repartition", self.token.0, &plan));
            return Ok(self.repartitioned(token, npartitions, |j| {
                let (inputs, slices) = &plan[j];
                let op = ConcatSlices { slices: slices.clone(), schema: self.schema.clone() };
                (Arc::new(op), inputs.clone())
            }));
        }
        let plan = lazy_plan(self.npartitions, npartitions);
        let token = Token::of(&("repartition_lazy", self.token.0, npartitions));
        Ok(self.repartitioned(token, npartitions, |j| {
            let (inputs, piece, pieces) = plan[j].clone();
            (Arc::new(SplitPiece { piece, pieces, schema: self.schema.clone() }), inputs.collect())
        }))
    }

    /// [`repartition`](Self::repartition), kept for its signature: it computes nothing,
    /// so `options` are not used.
    pub fn repartition_with(&self, npartitions: usize, options: &ComputeOptions) -> Result<DataFrame> {
        let _ = options;
        self.repartition(npartitions)
    }

    /// `n` partitions, partition `j` being `task(j)`'s op applied to its input partitions.
    fn repartitioned(
        &self,
        token: Token,
        n: usize,
        mut task: impl FnMut(usize) -> (Arc<dyn Op>, Vec<usize>),
    ) -> DataFrame {
        layer_of_partitions("repartition", token, self.schema.clone(), n, vec![self.layer.clone()], |j| {
            let (op, inputs) = task(j);
            (op, inputs.into_iter().map(|i| ArgSpec::Key(self.partition_key(i))).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_slices_split_and_join_neighbours() {
        let plan = balanced_slices(&[5, 0, 1, 4], 2);
        assert_eq!(plan[0], (vec![0], vec![Slice { arg: 0, offset: 0, len: 5 }]));
        assert_eq!(
            plan[1],
            (vec![2, 3], vec![Slice { arg: 0, offset: 0, len: 1 }, Slice { arg: 1, offset: 0, len: 4 }])
        );
        let plan = balanced_slices(&[10], 3);
        let lens: Vec<usize> = plan.iter().map(|(_, s)| s[0].len).collect();
        assert_eq!(lens, vec![3, 3, 4]);
        assert!(balanced_slices(&[0, 0], 2).iter().all(|(inputs, _)| inputs.is_empty()));
    }

    #[test]
    fn lazy_plan_groups_or_splits_in_order() {
        assert_eq!(lazy_plan(5, 2), vec![(0..2, 0, 1), (2..5, 0, 1)]);
        assert_eq!(lazy_plan(3, 3), vec![(0..1, 0, 1), (1..2, 0, 1), (2..3, 0, 1)]);
        assert_eq!(lazy_plan(2, 5), vec![(0..1, 0, 2), (0..1, 1, 2), (1..2, 0, 3), (1..2, 1, 3), (1..2, 2, 3)]);
        assert_eq!(lazy_plan(0, 2), vec![(0..0, 0, 1), (0..0, 0, 1)]);
        for (m, n) in [(1, 1), (7, 3), (3, 7), (8, 24), (4, 1)] {
            let plan = lazy_plan(m, n);
            assert_eq!(plan.len(), n);
            // Every input read, in order, each piece once.
            let order: Vec<(usize, usize)> =
                plan.iter().flat_map(|(r, p, _)| r.clone().map(move |i| (i, *p))).collect();
            assert!(order.windows(2).all(|w| w[0] < w[1]), "{m} -> {n}: {plan:?}");
            assert_eq!(order.first().map(|o| o.0), Some(0));
            assert_eq!(order.last().map(|o| o.0), Some(m - 1));
        }
    }

    #[test]
    fn split_piece_cuts_the_rows_it_is_given() {
        let batch = |v: Vec<i64>| {
            let b = RecordBatch::try_from_iter([("x", Arc::new(arrow::array::Int64Array::from(v)) as _)]).unwrap();
            Value::Batch(Batch::new(b))
        };
        let schema = match batch(vec![]) {
            Value::Batch(b) => b.0.schema(),
            _ => unreachable!(),
        };
        let run = |piece, pieces, args: Args| SplitPiece { piece, pieces, schema: schema.clone() }.call(args);
        let rows = |v: Result<Value, OpError>| match v.unwrap() {
            Value::Batch(b) => b.0.num_rows(),
            other => panic!("{other:?}"),
        };
        let args = || -> Args { [batch(vec![1, 2, 3]), batch(vec![]), batch(vec![4, 5])].into_iter().collect() };
        assert_eq!(rows(run(0, 1, args())), 5);
        assert_eq!((0..3).map(|p| rows(run(p, 3, args()))).collect::<Vec<_>>(), vec![1, 2, 2]);
        assert_eq!(rows(run(0, 1, Args::new())), 0);
        assert!(run(2, 2, args()).is_err());
        assert!(run(0, 0, args()).is_err());
        assert!(run(0, 1, [Value::I64(1)].into_iter().collect()).is_err());
    }
}

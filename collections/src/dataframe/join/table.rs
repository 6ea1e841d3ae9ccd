//! Matching the rows of two batches by key: a hash table on the smaller side, probed with
//! the other, giving the left and right row of every output row in the join's order.
//!
//! A single integer key is hashed as an `i64` directly; other keys (several columns,
//! strings, floats) as their bytes in Arrow's row format, borrowed from one buffer per
//! side. Building and probing allocate nothing per row: the table maps a key to the first
//! row holding it, and `next[row]` links the rows of equal keys, in row order.

use std::hash::Hash;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, UInt32Array};
use arrow::buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Int64Type};
use arrow::error::ArrowError;
use arrow::row::{RowConverter, Rows, SortField};
use rustc_hash::FxHashMap;

use super::How;

/// No row: the end of a chain, or the missing side of an output row.
const NONE: u32 = u32::MAX;

/// The key of each row of one side.
trait Keys {
    type Key: Hash + Eq + Copy;
    fn len(&self) -> usize;
    /// The row's key; `None` for a null key that matches only other null keys, and only
    /// when nulls are equal.
    fn key(&self, row: usize) -> Option<Self::Key>;
}

/// One integer key column, as `i64`.
struct IntKeys<'a> {
    values: &'a [i64],
    nulls: Option<&'a NullBuffer>,
}

impl<'a> IntKeys<'a> {
    /// Keys of an `Int64` column.
    fn new(column: &'a ArrayRef) -> Self {
        IntKeys { values: column.as_primitive::<Int64Type>().values(), nulls: column.nulls() }
    }
}

impl Keys for IntKeys<'_> {
    type Key = i64;
    fn len(&self) -> usize {
        self.values.len()
    }
    #[inline]
    fn key(&self, row: usize) -> Option<i64> {
        match self.nulls {
            Some(nulls) if nulls.is_null(row) => None,
            _ => Some(self.values[row]),
        }
    }
}

/// Any key columns, as row-format bytes. Null keys are encoded in the bytes (so they
/// match each other); `nulls` marks rows with a null key when nulls must not match.
struct RowKeys<'a> {
    rows: &'a Rows,
    nulls: Option<NullBuffer>,
}

impl<'a> RowKeys<'a> {
    fn new(rows: &'a Rows, columns: &[ArrayRef], nulls_equal: bool) -> Self {
        let nulls = match nulls_equal {
            true => None,
            false => {
                let nulls: Vec<Option<NullBuffer>> = columns.iter().map(|c| c.logical_nulls()).collect();
                NullBuffer::union_many(nulls.iter().map(Option::as_ref))
            }
        };
        RowKeys { rows, nulls }
    }
}

impl<'a> Keys for RowKeys<'a> {
    type Key = &'a [u8];
    fn len(&self) -> usize {
        self.rows.num_rows()
    }
    #[inline]
    fn key(&self, row: usize) -> Option<&'a [u8]> {
        match &self.nulls {
            Some(nulls) if nulls.is_null(row) => None,
            _ => Some(self.rows.row(row).data()),
        }
    }
}

/// The rows of the build side chained by key: `heads[key]` is the first row with that
/// key (`null_head` for null keys when they match), `next[row]` the following one.
struct Table<K> {
    heads: FxHashMap<K, u32>,
    null_head: u32,
    next: Vec<u32>,
}

impl<K: Hash + Eq + Copy> Table<K> {
    fn build(keys: &impl Keys<Key = K>, nulls_equal: bool) -> Self {
        let n = keys.len();
        // Keys repeat often (a lookup of codes): grow past a modest start only as needed.
        let mut heads = FxHashMap::with_capacity_and_hasher(n.min(1 << 14), Default::default());
        let mut next = vec![NONE; n];
        let mut null_head = NONE;
        // Backwards, pushing at the head: every chain ends up in row order.
        for row in (0..n).rev() {
            let head = match keys.key(row) {
                Some(key) => heads.entry(key).or_insert(NONE),
                None if nulls_equal => &mut null_head,
                None => continue,
            };
            next[row] = *head;
            *head = row as u32;
        }
        Table { heads, null_head, next }
    }

    /// The first build row matching `key`, or `NONE`.
    #[inline]
    fn first(&self, key: Option<K>) -> u32 {
        match key {
            Some(key) => self.heads.get(&key).copied().unwrap_or(NONE),
            None => self.null_head,
        }
    }
}

/// Which rows without a match are kept (with nulls for the missing side).
#[derive(Copy, Clone)]
struct Keep {
    order: bool,
    other: bool,
}

/// Output rows as pairs (row of the order side, row of the other side), `NONE` for a
/// missing side.
struct Pairs {
    order: Vec<u32>,
    other: Vec<u32>,
}

impl Pairs {
    fn with_capacity(n: usize) -> Self {
        Pairs { order: Vec::with_capacity(n), other: Vec::with_capacity(n) }
    }

    #[inline]
    fn push(&mut self, order: u32, other: u32) {
        self.order.push(order);
        self.other.push(other);
    }

    /// Appends these rows of the other side, without a row of the order side.
    fn push_alone(&mut self, other_rows: impl IntoIterator<Item = u32>) {
        for row in other_rows {
            self.push(NONE, row);
        }
    }
}

/// The rows `matched` does not mark, in order.
fn unmarked(matched: &[bool]) -> impl Iterator<Item = u32> + '_ {
    matched.iter().enumerate().filter(|(_, m)| !**m).map(|(row, _)| row as u32)
}

/// The output rows in order: by row of the order side (each with its matches in the other
/// side's row order, or alone if kept unmatched), then the kept unmatched rows of the
/// other side. The hash table is built on the smaller side.
fn ordered_pairs<S: Keys>(order: &S, other: &S, keep: Keep, nulls_equal: bool) -> Pairs {
    if other.len() <= order.len() {
        probe_with_order_side(order, other, keep, nulls_equal)
    } else {
        probe_with_other_side(order, other, keep, nulls_equal)
    }
}

/// Table on the other side, probed in order: pairs come out in output order.
fn probe_with_order_side<S: Keys>(order: &S, other: &S, keep: Keep, nulls_equal: bool) -> Pairs {
    let table = Table::build(other, nulls_equal);
    let mut pairs = Pairs::with_capacity(order.len());
    let mut matched = vec![false; if keep.other { other.len() } else { 0 }];
    for o in 0..order.len() {
        let mut t = table.first(order.key(o));
        if t == NONE && keep.order {
            pairs.push(o as u32, NONE);
        }
        while t != NONE {
            pairs.push(o as u32, t);
            if keep.other {
                matched[t as usize] = true;
            }
            t = table.next[t as usize];
        }
    }
    pairs.push_alone(unmarked(&matched));
    pairs
}

/// Table on the order side, probed with the other; the pairs found are then placed in
/// output order by a counting sort on the order row (stable: each order row's matches
/// stay in the other side's row order).
fn probe_with_other_side<S: Keys>(order: &S, other: &S, keep: Keep, nulls_equal: bool) -> Pairs {
    let table = Table::build(order, nulls_equal);
    let mut found = Pairs::with_capacity(other.len());
    let mut matches_of = vec![0u32; order.len()];
    let mut alone = Vec::new();
    for t in 0..other.len() {
        let mut o = table.first(other.key(t));
        if keep.other && o == NONE {
            alone.push(t as u32);
        }
        while o != NONE {
            found.push(o, t as u32);
            matches_of[o as usize] += 1;
            o = table.next[o as usize];
        }
    }
    // Where each order row's output rows start.
    let mut start = Vec::with_capacity(order.len() + 1);
    let mut total = 0usize;
    for &count in &matches_of {
        start.push(total);
        total += if count == 0 && keep.order { 1 } else { count as usize };
    }
    start.push(total);
    let mut pairs = Pairs { order: vec![NONE; total], other: vec![NONE; total] };
    for o in 0..order.len() {
        pairs.order[start[o]..start[o + 1]].fill(o as u32);
    }
    for (&o, &t) in found.order.iter().zip(&found.other) {
        let slot = &mut start[o as usize];
        pairs.other[*slot] = t;
        *slot += 1;
    }
    pairs.push_alone(alone);
    pairs
}

/// The rows of one side to gather, one per output row; null where the output row has no
/// row of this side.
#[derive(Debug)]
pub(super) struct Indices {
    rows: UInt32Array,
    /// Every row of the side once, in order: the side's columns pass through uncopied.
    identity: bool,
}

impl Indices {
    fn new(rows: Vec<u32>, side_len: usize) -> Self {
        let identity = rows.len() == side_len && rows.iter().enumerate().all(|(i, &r)| r as usize == i);
        let nulls =
            rows.contains(&NONE).then(|| NullBuffer::new(BooleanBuffer::collect_bool(rows.len(), |i| rows[i] != NONE)));
        Indices { rows: UInt32Array::new(ScalarBuffer::from(rows), nulls), identity }
    }

    /// How many output rows.
    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// `column`'s value for every output row (null where there is no row of this side).
    pub(super) fn gather(&self, column: &ArrayRef) -> Result<ArrayRef, ArrowError> {
        match self.identity {
            true => Ok(column.clone()),
            false => take(column, &self.rows, None),
        }
    }

    /// Which output rows have a row of this side; `None` if all do.
    pub(super) fn present(&self) -> Option<BooleanArray> {
        self.rows.nulls().map(|nulls| BooleanArray::new(nulls.inner().clone(), None))
    }
}

/// The left and right row of every output row of a join of rows keyed by `left` and
/// `right` (key columns pairwise of one type), in output order: inner, left and outer
/// joins follow the left rows (each with its matches in right order; a left or outer join
/// keeps unmatched left rows in place), then an outer join appends the unmatched right
/// rows in right order; a right join follows the right rows likewise.
pub(super) fn match_rows(
    left: &[ArrayRef],
    right: &[ArrayRef],
    how: How,
    nulls_equal: bool,
) -> Result<(Indices, Indices), ArrowError> {
    let (keep, swap) = match how {
        How::Inner => (Keep { order: false, other: false }, false),
        How::Left => (Keep { order: true, other: false }, false),
        How::Right => (Keep { order: true, other: false }, true),
        How::Outer => (Keep { order: true, other: true }, false),
    };
    let (order, other) = if swap { (right, left) } else { (left, right) };
    let pairs = match (as_single_i64(order)?, as_single_i64(other)?) {
        (Some(a), Some(b)) => ordered_pairs(&IntKeys::new(&a), &IntKeys::new(&b), keep, nulls_equal),
        _ => {
            let fields = order.iter().map(|c| SortField::new(c.data_type().clone())).collect();
            let converter = RowConverter::new(fields)?;
            let (a, b) = (converter.convert_columns(order)?, converter.convert_columns(other)?);
            ordered_pairs(
                &RowKeys::new(&a, order, nulls_equal),
                &RowKeys::new(&b, other, nulls_equal),
                keep,
                nulls_equal,
            )
        }
    };
    let order_rows = Indices::new(pairs.order, order.first().map_or(0, |c| c.len()));
    let other_rows = Indices::new(pairs.other, other.first().map_or(0, |c| c.len()));
    Ok(if swap { (other_rows, order_rows) } else { (order_rows, other_rows) })
}

/// A single integer key column (all but `UInt64`, which may not fit) as `Int64`.
fn as_single_i64(columns: &[ArrayRef]) -> Result<Option<ArrayRef>, ArrowError> {
    match columns {
        [c] if c.data_type().is_integer() && c.data_type() != &DataType::UInt64 => Ok(Some(cast(c, &DataType::Int64)?)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;

    use super::*;

    fn keys(values: &[Option<i64>]) -> ArrayRef {
        Arc::new(Int64Array::from(values.to_vec()))
    }

    #[test]
    fn building_on_either_side_gives_the_same_pairs_in_order() {
        let order = keys(&[Some(1), None, Some(2), Some(1), Some(5), None, Some(2)]);
        let other = keys(&[Some(2), Some(1), None, Some(2), Some(7)]);
        let (a, b) = (IntKeys::new(&order), IntKeys::new(&other));
        for (keep_order, keep_other) in [(false, false), (true, false), (true, true)] {
            for nulls_equal in [true, false] {
                let keep = Keep { order: keep_order, other: keep_other };
                let by_order = probe_with_order_side(&a, &b, keep, nulls_equal);
                let by_other = probe_with_other_side(&a, &b, keep, nulls_equal);
                assert_eq!((&by_order.order, &by_order.other), (&by_other.order, &by_other.other));
            }
        }
        let pairs = probe_with_other_side(&a, &b, Keep { order: true, other: true }, true);
        let n = NONE;
        assert_eq!(pairs.order, vec![0, 1, 2, 2, 3, 4, 5, 6, 6, n]);
        assert_eq!(pairs.other, vec![1, 2, 0, 3, 1, n, 2, 0, 3, 4]);
    }
}

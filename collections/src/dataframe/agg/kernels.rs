//! The hot loops of aggregation: rows to group indices, and per-group accumulators.
//!
//! [`group_rows`] gives every row the index of its group (groups numbered in order of
//! first appearance). A single integer key column is looked up directly, in a dense
//! array when its range is small and in an Fx hash map otherwise; other keys (strings,
//! several columns) go through Arrow's row format and a hash map of its bytes. Rows whose
//! key is null and dropped point to one spare slot past the last group, so accumulators
//! run branch-free over every row and simply ignore that slot.
//!
//! The accumulators are plain loops over `values()` slices; a null bitmap is consulted
//! only when the array has nulls.

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, Int64Array, PrimitiveArray, UInt32Array, downcast_primitive_array,
};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::{ArrowNativeTypeOp, DataType};
use arrow::row::{RowConverter, Rows, SortField};
use rustc_hash::{FxHashMap, FxHashSet};

/// "No row" or "no group yet".
pub(crate) const NONE: u32 = u32::MAX;

/// Rows assigned to groups.
#[derive(Debug)]
pub(crate) struct Groups {
    /// The group of every row; dropped rows hold the spare slot, [`Groups::len`].
    pub ids: Vec<u32>,
    /// The first row of every group, in order of first appearance.
    pub first_rows: Vec<u32>,
    /// The number of rows of every slot (the groups, then the spare).
    pub sizes: Vec<i64>,
}

impl Groups {
    /// Every row in one group (a whole-frame aggregation: one group even of no rows).
    pub fn single(rows: usize) -> Groups {
        Groups { ids: vec![0; rows], first_rows: vec![0], sizes: vec![rows as i64, 0] }
    }

    /// The number of groups.
    pub fn len(&self) -> usize {
        self.first_rows.len()
    }

    /// Slots an accumulator needs: one per group and the spare.
    pub fn slots(&self) -> usize {
        self.len() + 1
    }
}

/// The groups of the rows of `keys` (at least one column, all of `rows` rows). With
/// `dropna`, rows with a null in any key are dropped; otherwise null is a key like others.
pub(crate) fn group_rows(keys: &[ArrayRef], dropna: bool) -> Result<Groups, String> {
    if let [key] = keys
        && is_small_integer(key.data_type())
    {
        let key = cast(key, &DataType::Int64).map_err(|e| e.to_string())?;
        let key = key.as_any().downcast_ref::<Int64Array>().expect("cast to Int64");
        return Ok(group_integers(key, dropna));
    }
    let fields = keys.iter().map(|k| SortField::new(k.data_type().clone())).collect();
    let rows = RowConverter::new(fields).and_then(|c| c.convert_columns(keys)).map_err(|e| e.to_string())?;
    let nulls = if dropna {
        keys.iter().fold(None, |acc, k| NullBuffer::union(acc.as_ref(), k.logical_nulls().as_ref()))
    } else {
        None
    };
    let table = RowTable { rows: &rows, map: FxHashMap::default() };
    Ok(assign(table, rows.num_rows(), nulls.as_ref(), dropna))
}

/// Integer types that fit an `i64` losslessly.
fn is_small_integer(t: &DataType) -> bool {
    use DataType::*;
    matches!(t, Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32)
}

/// Groups of one integer key: a dense array over the key range when it is small, else a
/// hash map.
fn group_integers(key: &Int64Array, dropna: bool) -> Groups {
    let rows = key.len();
    let nulls = key.nulls();
    let Some((low, high)) = value_range(key) else {
        // No valid key at all.
        return assign(NullTable, rows, nulls, dropna);
    };
    let range = (high as i128 - low as i128) as u128;
    if range <= (rows as u128).max(1 << 12) * 2 {
        let table = DenseTable { values: key.values(), low, slots: vec![NONE; range as usize + 1] };
        assign(table, rows, nulls, dropna)
    } else {
        let table = HashTable { values: key.values(), map: FxHashMap::default() };
        assign(table, rows, nulls, dropna)
    }
}

/// The smallest and largest valid value, in one pass.
fn value_range(key: &Int64Array) -> Option<(i64, i64)> {
    let v = key.values();
    let widen = |(low, high): (i64, i64), x: i64| (low.min(x), high.max(x));
    let empty = (i64::MAX, i64::MIN);
    let range = match key.nulls().filter(|n| n.null_count() > 0) {
        None => v.iter().fold(empty, |r, &x| widen(r, x)),
        Some(nulls) => nulls.valid_indices().fold(empty, |r, i| widen(r, v[i])),
    };
    (key.len() > key.null_count()).then_some(range)
}

/// Where a row's group index lives, found by its (valid) key.
trait GroupTable {
    fn slot(&mut self, row: usize) -> &mut u32;
}

struct DenseTable<'a> {
    values: &'a [i64],
    low: i64,
    slots: Vec<u32>,
}

impl GroupTable for DenseTable<'_> {
    #[inline]
    fn slot(&mut self, row: usize) -> &mut u32 {
        &mut self.slots[self.values[row].wrapping_sub(self.low) as usize]
    }
}

struct HashTable<'a> {
    values: &'a [i64],
    map: FxHashMap<i64, u32>,
}

impl GroupTable for HashTable<'_> {
    #[inline]
    fn slot(&mut self, row: usize) -> &mut u32 {
        self.map.entry(self.values[row]).or_insert(NONE)
    }
}

struct RowTable<'a> {
    rows: &'a Rows,
    map: FxHashMap<&'a [u8], u32>,
}

impl GroupTable for RowTable<'_> {
    #[inline]
    fn slot(&mut self, row: usize) -> &mut u32 {
        self.map.entry(self.rows.row(row).data()).or_insert(NONE)
    }
}

/// The table of a key with no valid value: never asked.
struct NullTable;

impl GroupTable for NullTable {
    fn slot(&mut self, _: usize) -> &mut u32 {
        unreachable!("a key column without valid values has no slot to look up")
    }
}

/// Numbers the groups of `rows` rows in order of first appearance; `nulls` marks rows
/// whose key is null (dropped with `dropna`, else one group of their own).
fn assign(mut table: impl GroupTable, rows: usize, nulls: Option<&NullBuffer>, dropna: bool) -> Groups {
    let mut ids = Vec::with_capacity(rows);
    let (mut first_rows, mut sizes) = (Vec::new(), Vec::new());
    let mut place = |slot: &mut u32, row: usize| {
        if *slot == NONE {
            *slot = first_rows.len() as u32;
            first_rows.push(row as u32);
            sizes.push(0);
        }
        sizes[*slot as usize] += 1;
        *slot
    };
    let mut dropped = 0;
    match nulls.filter(|n| n.null_count() > 0) {
        None => ids.extend((0..rows).map(|row| place(table.slot(row), row))),
        Some(nulls) => {
            let mut null_group = NONE;
            for row in 0..rows {
                ids.push(match (nulls.is_valid(row), dropna) {
                    (true, _) => place(table.slot(row), row),
                    (false, true) => NONE,
                    (false, false) => place(&mut null_group, row),
                });
            }
            if dropna {
                dropped = nulls.null_count();
            }
        }
    }
    let spare = first_rows.len() as u32;
    if dropped > 0 {
        ids.iter_mut().filter(|id| **id == NONE).for_each(|id| *id = spare);
    }
    sizes.push(dropped as i64);
    Groups { ids, first_rows, sizes }
}

/// The valid positions of an array with `nulls` (all of `len` if none), in order.
fn for_valid(len: usize, nulls: Option<&NullBuffer>, mut f: impl FnMut(usize)) {
    match nulls.filter(|n| n.null_count() > 0) {
        None => (0..len).for_each(f),
        Some(nulls) => nulls.valid_indices().for_each(&mut f),
    }
}

/// How many valid values each slot gets.
pub(crate) fn counts(len: usize, nulls: Option<&NullBuffer>, ids: &[u32], slots: usize) -> Vec<i64> {
    let mut out = vec![0i64; slots];
    match nulls.filter(|n| n.null_count() > 0) {
        None => ids.iter().for_each(|&g| out[g as usize] += 1),
        Some(_) => for_valid(len, nulls, |i| out[ids[i] as usize] += 1),
    }
    out
}

/// The (wrapping) sum of the valid values of each slot.
pub(crate) fn sums<T: ArrowPrimitiveType>(values: &PrimitiveArray<T>, ids: &[u32], slots: usize) -> Vec<T::Native> {
    let mut out = vec![T::Native::ZERO; slots];
    let v = values.values();
    match values.nulls().filter(|n| n.null_count() > 0) {
        None => ids.iter().zip(v.iter()).for_each(|(&g, &x)| {
            let s = &mut out[g as usize];
            *s = s.add_wrapping(x);
        }),
        Some(nulls) => nulls.valid_indices().for_each(|i| {
            let s = &mut out[ids[i] as usize];
            *s = s.add_wrapping(v[i]);
        }),
    }
    out
}

/// Each slot's sum of squared deviations from its mean `means[slot]` (valid values only).
pub(crate) fn squared_deviations(
    values: &PrimitiveArray<arrow::datatypes::Float64Type>,
    ids: &[u32],
    means: &[f64],
) -> Vec<f64> {
    let mut out = vec![0.0; means.len()];
    let v = values.values();
    for_valid(values.len(), values.nulls(), |i| {
        let g = ids[i] as usize;
        let d = v[i] - means[g];
        out[g] += d * d;
    });
    out
}

/// Count, mean and sum of squared deviations per slot.
#[derive(Debug)]
pub(crate) struct Moments {
    pub count: Vec<i64>,
    pub mean: Vec<f64>,
    pub m2: Vec<f64>,
}

impl Moments {
    /// The moments of each slot's valid values, in two passes (sums, then squared
    /// deviations from the mean): no cancellation for large values of small spread.
    pub fn of(values: &PrimitiveArray<arrow::datatypes::Float64Type>, ids: &[u32], slots: usize) -> Moments {
        let count = counts(values.len(), values.nulls(), ids, slots);
        let mean: Vec<f64> = sums(values, ids, slots)
            .iter()
            .zip(&count)
            .map(|(&s, &n)| if n > 0 { s / n as f64 } else { 0.0 })
            .collect();
        let m2 = squared_deviations(values, ids, &mean);
        Moments { count, mean, m2 }
    }

    /// Partial moments (row `i`: `count[i]`, `mean[i]`, `m2[i]`) merged per slot with
    /// Chan's parallel formula.
    pub fn merge(count: &[i64], mean: &[f64], m2: &[f64], ids: &[u32], slots: usize) -> Moments {
        let mut out = Moments { count: vec![0; slots], mean: vec![0.0; slots], m2: vec![0.0; slots] };
        for (i, &g) in ids.iter().enumerate() {
            let (nb, g) = (count[i], g as usize);
            if nb == 0 {
                continue;
            }
            let na = out.count[g];
            let n = (na + nb) as f64;
            let delta = mean[i] - out.mean[g];
            out.mean[g] += delta * nb as f64 / n;
            out.m2[g] += m2[i] + delta * delta * (na as f64) * (nb as f64) / n;
            out.count[g] = na + nb;
        }
        out
    }
}

/// Which row to pick per group.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pick {
    Min,
    Max,
    First,
    Last,
}

/// The row each slot picks among its valid values (`NONE` for a slot without one), rows
/// taken in order. Min and max skip NaN unless a group holds only NaN (pandas' rule);
/// ties keep the earliest row.
pub(crate) fn pick_rows(values: &ArrayRef, ids: &[u32], slots: usize, pick: Pick) -> Result<Vec<u32>, String> {
    let mut rows = vec![NONE; slots];
    let nulls = values.logical_nulls();
    match pick {
        Pick::First => for_valid(values.len(), nulls.as_ref(), |i| {
            let r = &mut rows[ids[i] as usize];
            if *r == NONE {
                *r = i as u32;
            }
        }),
        Pick::Last => for_valid(values.len(), nulls.as_ref(), |i| rows[ids[i] as usize] = i as u32),
        Pick::Min | Pick::Max => {
            let max = pick == Pick::Max;
            downcast_primitive_array!(
                values => return Ok(extreme_primitive(values, ids, slots, max)),
                _ => {
                    let converter = RowConverter::new(vec![SortField::new(values.data_type().clone())]).map_err(|e| e.to_string())?;
                    let encoded = converter.convert_columns(std::slice::from_ref(values)).map_err(|e| e.to_string())?;
                    for_valid(values.len(), nulls.as_ref(), |i| {
                        let r = &mut rows[ids[i] as usize];
                        let better = || {
                            let (new, cur) = (encoded.row(i), encoded.row(*r as usize));
                            if max { new > cur } else { new < cur }
                        };
                        if *r == NONE || better() {
                            *r = i as u32;
                        }
                    });
                }
            )
        }
    }
    Ok(rows)
}

/// The rows of each slot's smallest (or largest) valid value of a primitive array.
fn extreme_primitive<T: ArrowPrimitiveType>(
    values: &PrimitiveArray<T>,
    ids: &[u32],
    slots: usize,
    max: bool,
) -> Vec<u32> {
    let mut best = vec![T::Native::default(); slots];
    let mut rows = vec![NONE; slots];
    let v = values.values();
    let mut visit = |i: usize| {
        let (g, x) = (ids[i] as usize, v[i]);
        let cur = best[g];
        // NaN, the one value unequal to itself, gives way to any other value.
        #[allow(clippy::eq_op)]
        let better = (if max { x > cur } else { x < cur }) || cur != cur;
        if rows[g] == NONE || better {
            best[g] = x;
            rows[g] = i as u32;
        }
    };
    for_valid(values.len(), values.nulls(), &mut visit);
    rows
}

/// `rows` (with `NONE` for none) as `take` indices.
pub(crate) fn take_indices(rows: &[u32]) -> UInt32Array {
    rows.iter().map(|&r| (r != NONE).then_some(r)).collect()
}

/// The rows that hold the first occurrence of each distinct (group, valid value) pair,
/// for groups below `groups` (the spare slot is skipped), in row order.
pub(crate) fn distinct_rows(values: &ArrayRef, ids: &[u32], groups: usize) -> Result<Vec<u32>, String> {
    let converter = RowConverter::new(vec![SortField::new(values.data_type().clone())]).map_err(|e| e.to_string())?;
    let encoded = converter.convert_columns(std::slice::from_ref(values)).map_err(|e| e.to_string())?;
    let mut seen: FxHashSet<(u32, &[u8])> = FxHashSet::default();
    let mut out = Vec::new();
    for_valid(values.len(), values.logical_nulls().as_ref(), |i| {
        if (ids[i] as usize) < groups && seen.insert((ids[i], encoded.row(i).data())) {
            out.push(i as u32);
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, StringArray};

    use super::*;

    #[test]
    fn integer_keys_dense_and_hashed_number_groups_by_first_appearance() {
        for key in [
            vec![Some(5), None, Some(3), Some(5), Some(3)],
            vec![Some(5_000_000_000), None, Some(-3), Some(5_000_000_000), Some(-3)],
        ] {
            let key: ArrayRef = Arc::new(Int64Array::from(key));
            let dropped = group_rows(std::slice::from_ref(&key), true).unwrap();
            assert_eq!(dropped.ids, vec![0, 2, 1, 0, 1]);
            assert_eq!(dropped.first_rows, vec![0, 2]);
            let kept = group_rows(&[key], false).unwrap();
            assert_eq!(kept.ids, vec![0, 1, 2, 0, 2]);
        }
    }

    #[test]
    fn row_keys_group_strings_and_several_columns() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![Some("x"), Some("y"), None, Some("x")]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 1, 2]));
        let groups = group_rows(&[a.clone(), b], true).unwrap();
        assert_eq!(groups.ids, vec![0, 1, 3, 2]);
        let groups = group_rows(&[a], false).unwrap();
        assert_eq!(groups.ids, vec![0, 1, 2, 0]);
    }

    #[test]
    fn min_and_max_skip_nan_unless_alone() {
        let values: ArrayRef =
            Arc::new(Float64Array::from(vec![Some(f64::NAN), Some(2.0), None, Some(f64::NAN), Some(1.0)]));
        let ids = [0, 0, 0, 1, 0];
        assert_eq!(pick_rows(&values, &ids, 2, Pick::Min).unwrap(), vec![4, 3]);
        assert_eq!(pick_rows(&values, &ids, 2, Pick::Max).unwrap(), vec![1, 3]);
        assert_eq!(pick_rows(&values, &ids, 2, Pick::Last).unwrap(), vec![4, 3]);
        let strings: ArrayRef = Arc::new(StringArray::from(vec![Some("b"), Some("a"), None, Some("c"), Some("a")]));
        assert_eq!(pick_rows(&strings, &ids, 2, Pick::Min).unwrap(), vec![1, 3]);
        assert_eq!(pick_rows(&strings, &ids, 2, Pick::Max).unwrap(), vec![0, 3]);
    }

    #[test]
    fn chan_merge_keeps_the_variance_of_large_values() {
        let values: Vec<f64> = (0..1000).map(|i| 1e9 + (i % 3) as f64).collect();
        let whole = Moments::of(&Float64Array::from(values.clone()), &[0; 1000], 1);
        let parts: Vec<Moments> =
            values.chunks(333).map(|c| Moments::of(&Float64Array::from(c.to_vec()), &vec![0; c.len()], 1)).collect();
        let merged = Moments::merge(
            &parts.iter().map(|m| m.count[0]).collect::<Vec<_>>(),
            &parts.iter().map(|m| m.mean[0]).collect::<Vec<_>>(),
            &parts.iter().map(|m| m.m2[0]).collect::<Vec<_>>(),
            &vec![0; parts.len()],
            1,
        );
        assert_eq!(merged.count[0], 1000);
        assert!((merged.m2[0] - whole.m2[0]).abs() < 1e-6 * whole.m2[0], "{} vs {}", merged.m2[0], whole.m2[0]);
    }
}

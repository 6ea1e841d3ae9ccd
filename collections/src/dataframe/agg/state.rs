//! The partial state of each aggregation function, as Arrow columns with one row per
//! group: computed from a partition's rows ([`chunk`]), merged across partials
//! ([`merge`]), turned into the result column ([`finish`]).
//!
//! | function | state |
//! |---|---|
//! | count, size | count |
//! | sum | count of valid values, sum (Int64, UInt64 or Float64) |
//! | mean | count, sum (Float64) |
//! | var, std | count, mean, sum of squared deviations (merged with Chan's formula) |
//! | min, max, first, last | the value picked so far |
//! | n_unique | the list of distinct values |
//!
//! Partials are merged in partition order, so "first" and "last" keep the first and last
//! valid value in partition order.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, ListArray, PrimitiveArray, UInt32Array};
use arrow::buffer::OffsetBuffer;
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, UInt64Type};

use super::AggFn;
use super::kernels::{Groups, Moments, Pick, counts, distinct_rows, pick_rows, sums, take_indices};
use super::plan::{Planned, output_type, sum_type};

type Columns = Result<Vec<ArrayRef>, String>;

/// The groups of a batch's rows, and the per-group computations on them.
pub(crate) struct Grouped<'a> {
    groups: &'a Groups,
}

impl<'a> Grouped<'a> {
    pub fn new(groups: &'a Groups) -> Self {
        Grouped { groups }
    }

    fn ids(&self) -> &[u32] {
        &self.groups.ids
    }

    fn slots(&self) -> usize {
        self.groups.slots()
    }

    /// The number of rows of each slot.
    fn sizes(&self) -> &Vec<i64> {
        &self.groups.sizes
    }

    /// The number of valid values of `values` in each slot.
    fn counts(&self, values: &dyn Array) -> Vec<i64> {
        match values.logical_nulls().filter(|n| n.null_count() > 0) {
            None => self.sizes().clone(),
            nulls => counts(values.len(), nulls.as_ref(), self.ids(), self.slots()),
        }
    }

    /// Per-slot values as a column of the groups (the spare slot dropped).
    fn column<T: arrow::datatypes::ArrowPrimitiveType>(&self, mut values: Vec<T::Native>) -> ArrayRef {
        values.truncate(self.groups.len());
        Arc::new(PrimitiveArray::<T>::from_iter_values(values))
    }

    /// The per-slot sums of a column of Int64, UInt64 or Float64 values.
    fn sums(&self, values: &ArrayRef) -> Result<ArrayRef, String> {
        let (ids, slots) = (self.ids(), self.slots());
        Ok(match values.data_type() {
            DataType::Int64 => self.column::<Int64Type>(sums(values.as_primitive::<Int64Type>(), ids, slots)),
            DataType::UInt64 => self.column::<UInt64Type>(sums(values.as_primitive::<UInt64Type>(), ids, slots)),
            DataType::Float64 => self.column::<Float64Type>(sums(values.as_primitive::<Float64Type>(), ids, slots)),
            t => return Err(format!("cannot sum a state column of type {t}")),
        })
    }

    /// The value each group picks.
    fn pick(&self, values: &ArrayRef, pick: Pick) -> Result<ArrayRef, String> {
        let mut rows = pick_rows(values, self.ids(), self.slots(), pick)?;
        rows.truncate(self.groups.len());
        take(values, &take_indices(&rows), None).map_err(|e| e.to_string())
    }

    fn moments(&self, m: Moments) -> Vec<ArrayRef> {
        vec![self.column::<Int64Type>(m.count), self.column::<Float64Type>(m.mean), self.column::<Float64Type>(m.m2)]
    }

    /// The distinct valid values of each group, as a list per group.
    fn distinct(&self, values: &ArrayRef, ids: &[u32]) -> Result<ArrayRef, String> {
        let groups = self.groups.len();
        let rows = distinct_rows(values, ids, groups)?;
        let mut lengths = vec![0usize; groups];
        rows.iter().for_each(|&r| lengths[ids[r as usize] as usize] += 1);
        let mut next: Vec<usize> =
            lengths.iter().scan(0, |start, &n| Some(std::mem::replace(start, *start + n))).collect();
        let mut order = vec![0u32; rows.len()];
        for &r in &rows {
            let slot = &mut next[ids[r as usize] as usize];
            order[*slot] = r;
            *slot += 1;
        }
        let items = take(values, &UInt32Array::from(order), None).map_err(|e| e.to_string())?;
        let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
        let list = ListArray::try_new(field, OffsetBuffer::from_lengths(lengths), items, None);
        Ok(Arc::new(list.map_err(|e| e.to_string())?))
    }
}

fn cast_to(values: &ArrayRef, t: &DataType) -> Result<ArrayRef, String> {
    if values.data_type() == t { Ok(values.clone()) } else { cast(values, t).map_err(|e| e.to_string()) }
}

/// The state columns of `planned` over one partition's `values`.
pub(crate) fn chunk(planned: &Planned, values: &ArrayRef, by: &Grouped) -> Columns {
    let count = |values: &ArrayRef| by.column::<Int64Type>(by.counts(values));
    let func = planned.agg.func;
    Ok(match func {
        AggFn::Count => vec![count(values)],
        AggFn::Size => vec![by.column::<Int64Type>(by.sizes().clone())],
        AggFn::Sum { .. } | AggFn::Mean => {
            let acc = if func == AggFn::Mean {
                DataType::Float64
            } else {
                sum_type(values.data_type()).unwrap_or(DataType::Float64)
            };
            let values = cast_to(values, &acc)?;
            vec![count(&values), by.sums(&values)?]
        }
        AggFn::Var { .. } | AggFn::Std { .. } => {
            let values = cast_to(values, &DataType::Float64)?;
            by.moments(Moments::of(values.as_primitive::<Float64Type>(), by.ids(), by.slots()))
        }
        AggFn::NUnique => vec![by.distinct(values, by.ids())?],
        AggFn::Min | AggFn::Max | AggFn::First | AggFn::Last => merge(func, std::slice::from_ref(values), by)?,
    })
}

/// The states of `func` (its columns of a batch of partial rows) merged per group.
pub(crate) fn merge(func: AggFn, states: &[ArrayRef], by: &Grouped) -> Columns {
    let pick = |pick| Ok(vec![by.pick(&states[0], pick)?]);
    match func {
        AggFn::Min => pick(Pick::Min),
        AggFn::Max => pick(Pick::Max),
        AggFn::First => pick(Pick::First),
        AggFn::Last => pick(Pick::Last),
        AggFn::Var { .. } | AggFn::Std { .. } => {
            let [count, mean, m2] = states else { return Err(format!("{}: expected 3 state columns", func.name())) };
            let (count, mean, m2) = (
                count.as_primitive::<Int64Type>().values(),
                mean.as_primitive::<Float64Type>().values(),
                m2.as_primitive::<Float64Type>().values(),
            );
            Ok(by.moments(Moments::merge(count, mean, m2, by.ids(), by.slots())))
        }
        AggFn::NUnique => {
            let lists = states[0].as_list::<i32>();
            let offsets = lists.value_offsets();
            let (start, end) = (offsets[0] as usize, offsets[offsets.len() - 1] as usize);
            let items = lists.values().slice(start, end - start);
            let ids: Vec<u32> = (0..lists.len())
                .flat_map(|row| std::iter::repeat_n(by.ids()[row], lists.value_length(row) as usize))
                .collect();
            Ok(vec![by.distinct(&items, &ids)?])
        }
        // count, size, sum, mean: every state column adds up.
        _ => states.iter().map(|s| by.sums(s)).collect(),
    }
}

/// The result column of `planned` from its merged states.
pub(crate) fn finish(planned: &Planned, states: &[ArrayRef]) -> Result<ArrayRef, String> {
    let func = planned.agg.func;
    let count = || states[0].as_primitive::<Int64Type>();
    let out: ArrayRef = match func {
        AggFn::Count | AggFn::Size | AggFn::Min | AggFn::Max | AggFn::First | AggFn::Last => states[0].clone(),
        AggFn::Sum { min_count } => {
            let enough: arrow::array::BooleanArray =
                count().values().iter().map(|&n| Some(n < min_count as i64)).collect();
            arrow::compute::nullif(&states[1], &enough).map_err(|e| e.to_string())?
        }
        AggFn::Mean => {
            let sums = states[1].as_primitive::<Float64Type>();
            Arc::new(ratio(count(), |i, n| sums.value(i) / n as f64, 0))
        }
        AggFn::Var { ddof } | AggFn::Std { ddof } => {
            let m2 = states[2].as_primitive::<Float64Type>();
            let var = move |i: usize, n: i64| m2.value(i) / (n - ddof as i64) as f64;
            let root = matches!(func, AggFn::Std { .. });
            Arc::new(ratio(count(), |i, n| if root { var(i, n).sqrt() } else { var(i, n) }, ddof as i64))
        }
        AggFn::NUnique => {
            let lists = states[0].as_list::<i32>();
            Arc::new(Int64Array::from_iter_values((0..lists.len()).map(|i| lists.value_length(i) as i64)))
        }
    };
    let wanted = output_type(func, &planned.input_type)?;
    cast_to(&out, &wanted)
}

/// `f(group, count)` for groups with more than `at_least` values, null for the others.
fn ratio(count: &Int64Array, f: impl Fn(usize, i64) -> f64, at_least: i64) -> Float64Array {
    count.values().iter().enumerate().map(|(i, &n)| (n > at_least).then(|| f(i, n))).collect()
}

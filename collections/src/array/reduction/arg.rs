//! argmin/argmax: the best element of each lane of a block with its index, and the merge
//! of such partial results. NaN counts as the extreme (numpy returns the first NaN) and
//! ties go to the smallest index, whatever the chunking: merges compare indices, so the
//! order in which partial results meet does not matter.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Zip};
use rask_graph::{ArrayChunk, OpError};

use super::fold::{Number, c_order};
use super::state::{Partial, Reducer, check_same_shape, owned, with_same_dtype};

/// Whether `x` at index `at` beats `best` at index `best_at`.
fn wins<T: Number, const MAX: bool>(x: T, at: i64, best: T, best_at: i64) -> bool {
    if best.is_nan() {
        return x.is_nan() && at < best_at;
    }
    let better = if MAX { x > best } else { x < best };
    x.is_nan() || better || (x == best && at < best_at)
}

/// Whether `x` beats `best` when it comes later: [`wins`] without the tie-break, which
/// the compiler folds away, leaving a loop it can vectorize.
fn replaces<T: Number, const MAX: bool>(x: T, best: T) -> bool {
    wins::<T, MAX>(x, 1, best, 0)
}

/// The chunk stage: the best element of `block` along its one axis in `axes` (indexed
/// along that axis), or of the whole block when `axes` holds every axis (indexed in the
/// C-order flattening of the array of `shape`); `offsets` is where the block starts.
pub(crate) fn chunk(
    reducer: Reducer,
    block: &ArrayChunk,
    axes: &[usize],
    offsets: &[usize],
    shape: &[usize],
) -> Result<Partial, OpError> {
    let fits = offsets.len() == block.shape().len()
        && shape.len() == offsets.len()
        && offsets.iter().zip(block.shape()).zip(shape).all(|((&o, &n), &total)| o.checked_add(n) <= Some(total));
    if !fits {
        return Err(OpError::new(format!(
            "{}: a block of shape {:?} at {offsets:?} does not fit an array of shape {shape:?}",
            reducer.name(),
            block.shape()
        )));
    }
    let max = reducer == Reducer::ArgMax;
    rask_graph::each_chunk!(block, a => if max {
        chunk_typed::<_, true>(reducer, a, axes, offsets, shape)
    } else {
        chunk_typed::<_, false>(reducer, a, axes, offsets, shape)
    })
}

fn chunk_typed<T: Number, const MAX: bool>(
    reducer: Reducer,
    block: &ArrayD<T>,
    axes: &[usize],
    offsets: &[usize],
    shape: &[usize],
) -> Result<Partial, OpError> {
    let data = c_order(block);
    let block_shape = block.shape();
    let empty = || OpError::new(format!("attempt to get {} of an empty sequence", reducer.name()));
    let (values, index) = match axes {
        [axis] if *axis < block_shape.len() => {
            along::<T, MAX>(&data, block_shape, *axis, offsets[*axis]).ok_or_else(empty)?
        }
        _ if axes.len() == block_shape.len() => {
            let (value, at) = flat::<T, MAX>(&data, block_shape, offsets, shape).ok_or_else(empty)?;
            (vec![value], vec![at])
        }
        _ => {
            let message = format!("{}: needs one axis or all, not {axes:?} of {block_shape:?}", reducer.name());
            return Err(OpError::new(message));
        }
    };
    let out_shape: Vec<usize> =
        block_shape.iter().enumerate().map(|(a, &n)| if axes.contains(&a) { 1 } else { n }).collect();
    let shaped = |e: ndarray::ShapeError| OpError::new(format!("{}: {e}", reducer.name()));
    Ok(Partial::Arg {
        value: T::wrap(Arc::new(ArrayD::from_shape_vec(IxDyn(&out_shape), values).map_err(shaped)?)),
        index: Arc::new(ArrayD::from_shape_vec(IxDyn(&out_shape), index).map_err(shaped)?),
    })
}

/// The best element of every lane along `axis` of C-order `data` and its index along the
/// axis (from `offset`), lanes in C order; `None` if the axis is empty.
fn along<T: Number, const MAX: bool>(
    data: &[T],
    shape: &[usize],
    axis: usize,
    offset: usize,
) -> Option<(Vec<T>, Vec<i64>)> {
    let n = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let lanes = data.len().checked_div(n)?;
    let (mut values, mut index) = (Vec::with_capacity(lanes), vec![offset as i64; lanes]);
    if lanes == 0 {
        return Some((values, index));
    }
    for (slab, at) in data.chunks_exact(n * inner).zip(index.chunks_exact_mut(inner)) {
        let (first, rest) = slab.split_at(inner);
        let start = values.len();
        values.extend_from_slice(first);
        let best = &mut values[start..];
        for (k, row) in rest.chunks_exact(inner).enumerate() {
            let position = (offset + k + 1) as i64;
            for ((b, i), &x) in best.iter_mut().zip(at.iter_mut()).zip(row) {
                let replace = replaces::<T, MAX>(x, *b);
                *b = if replace { x } else { *b };
                *i = if replace { position } else { *i };
            }
        }
    }
    Some((values, index))
}

/// The best element of a block and its index in the C-order flattening of the array of
/// `shape` the block sits in at `offsets`; `None` if the block is empty.
fn flat<T: Number, const MAX: bool>(
    data: &[T],
    block_shape: &[usize],
    offsets: &[usize],
    shape: &[usize],
) -> Option<(T, i64)> {
    let mut best = (*data.first()?, 0);
    for (at, &x) in data.iter().enumerate().skip(1) {
        if replaces::<T, MAX>(x, best.0) {
            best = (x, at as i64);
        }
    }
    let mut local = best.1 as usize;
    let (mut flat, mut stride) = (0, 1);
    // Wrapping arithmetic: shapes that fit in memory never wrap, and others must not panic.
    for axis in (0..block_shape.len()).rev() {
        let at = (local % block_shape[axis]).wrapping_add(offsets[axis]);
        flat = at.wrapping_mul(stride).wrapping_add(flat);
        local /= block_shape[axis];
        stride = stride.wrapping_mul(shape[axis]);
    }
    Some((best.0, flat as i64))
}

/// Merges two (value, index) partial results position by position.
pub(crate) fn merge(
    reducer: Reducer,
    a: (ArrayChunk, Arc<ArrayD<i64>>),
    b: (&ArrayChunk, &ArrayD<i64>),
) -> Result<(ArrayChunk, Arc<ArrayD<i64>>), OpError> {
    check_same_shape(a.1.shape(), b.1.shape())?;
    let mut index = owned(a.1);
    let value = with_same_dtype!(reducer.name(), a.0, b.0, |x, y| {
        if reducer == Reducer::ArgMax {
            merge_typed::<_, true>(x, &mut index, y, b.1)?
        } else {
            merge_typed::<_, false>(x, &mut index, y, b.1)?
        }
    });
    Ok((value, Arc::new(index)))
}

fn merge_typed<T: Number, const MAX: bool>(
    values: Arc<ArrayD<T>>,
    index: &mut ArrayD<i64>,
    other_values: &ArrayD<T>,
    other_index: &ArrayD<i64>,
) -> Result<Arc<ArrayD<T>>, OpError> {
    check_same_shape(values.shape(), other_values.shape())?;
    check_same_shape(values.shape(), index.shape())?;
    let mut values = owned(values);
    Zip::from(&mut values).and(index).and(other_values).and(other_index).for_each(|v, i, &w, &j| {
        if wins::<T, MAX>(w, j, *v, *i) {
            (*v, *i) = (w, j);
        }
    });
    Ok(Arc::new(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_the_smallest_index_and_nan_wins() {
        assert!(!wins::<f64, false>(1.0, 5, 1.0, 3));
        assert!(wins::<f64, false>(1.0, 2, 1.0, 3));
        assert!(wins::<f64, false>(f64::NAN, 9, 1.0, 3));
        assert!(!wins::<f64, true>(5.0, 1, f64::NAN, 3));
        assert!(wins::<f64, true>(f64::NAN, 1, f64::NAN, 3));
    }

    #[test]
    fn lanes_and_flat_indices_are_global() {
        let data = [3.0, 1.0, 1.0, 0.0, 7.0, 0.0];
        let (values, index) = along::<f64, false>(&data, &[2, 3], 0, 10).unwrap();
        assert_eq!((values, index), (vec![0.0, 1.0, 0.0], vec![11, 10, 11]));
        let (values, index) = along::<f64, true>(&data, &[2, 3], 1, 4).unwrap();
        assert_eq!((values, index), (vec![3.0, 7.0], vec![4, 5]));
        // The block [[3, 1, 1], [0, 7, 0]] at (2, 1) of a 4x5 array: its 0 at (1, 0) is (3, 1).
        assert_eq!(flat::<f64, false>(&data, &[2, 3], &[2, 1], &[4, 5]), Some((0.0, 16)));
        assert_eq!(flat::<f64, false>(&[], &[0, 3], &[0, 0], &[0, 3]), None);
        assert_eq!(along::<f64, false>(&[], &[2, 0], 1, 0), None);
    }
}

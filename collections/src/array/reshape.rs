//! Changing how an array is laid out without changing its elements: [`Array::rechunk`],
//! [`Array::reshape`] (with [`Array::ravel`] and [`Array::flatten`]), [`Array::squeeze`] and
//! [`Array::expand_dims`].
//!
//! Each output block is one task: an [`Assemble`](super::Assemble) that gathers the
//! pieces of the input blocks it needs and gives them the output block's shape. A
//! reshape follows Dask's `reshape_rechunk` plan, so every output block is the C-order
//! reshape of exactly one (rechunked) input block; where the input blocks already fit,
//! nothing is rechunked and blocks held by no one else are reshaped without a copy.

use rask_graph::{Element, Token};

use super::Array;
use super::axes::{Axes, normalize_axes, normalize_axis};
use super::chunks::ChunkSpec;
use super::raw::{RawArray, layer_of_blocks};
use super::rechunk::{Recut, rechunk};
use crate::error::{Error, Result};

mod plan;
use plan::{reshape_chunks, whole};

impl<T: Element> Array<T> {
    /// The same array cut into `chunks` (Dask's `rechunk`). No shuffle: each new block
    /// gathers only the pieces of the old blocks it overlaps. A
    /// [`ChunkSpec::WHOLE_AXIS`] size keeps an axis in one block (Dask's -1).
    ///
    /// ```
    /// use rask_collections::array::{ChunkSpec, from_ndarray};
    /// let a = ndarray::Array2::from_shape_fn((5, 6), |(i, j)| (i * 6 + j) as i64);
    /// let x = from_ndarray(&a, [2, 2]).unwrap();
    /// let rows = x.rechunk([1, ChunkSpec::WHOLE_AXIS]).unwrap();
    /// assert_eq!(rows.chunks(), &[vec![1; 5], vec![6]]);
    /// assert_eq!(rows.compute().unwrap(), a.into_dyn());
    /// assert!(x.rechunk([2]).unwrap_err().to_string().contains("[5, 6]"));
    /// ```
    pub fn rechunk(&self, chunks: impl Into<ChunkSpec>) -> Result<Array<T>> {
        Ok(Array::from_raw(rechunk(self.raw()?, chunks.into())?))
    }

    /// The array with a new shape of the same size, its elements read and written in C
    /// (row-major) order, as numpy's `reshape`. At most one length may be -1: it is
    /// inferred from the others.
    ///
    /// Chunks follow Dask: axes are grouped so that the lengths of each input group
    /// multiply to those of an output group. Merged axes keep the outer axis's chunks
    /// (rechunking the inner input axes whole if they are split, then cutting the outer
    /// axis finer so blocks do not grow); split axes cut the outer output axis and keep
    /// the inner ones whole. An error names both shapes when the sizes differ.
    ///
    /// ```
    /// use rask_collections::array::from_ndarray;
    /// let a = ndarray::Array2::from_shape_fn((6, 4), |(i, j)| (i * 4 + j) as f64);
    /// let x = from_ndarray(&a, [2, 4]).unwrap();
    /// let flat = x.reshape(&[24]).unwrap();
    /// assert_eq!(flat.chunks(), &[vec![8, 8, 8]]);
    /// let back = flat.reshape(&[-1, 4]).unwrap();
    /// assert_eq!(back.chunks(), &[vec![2, 2, 2], vec![4]]);
    /// assert_eq!(back.compute().unwrap(), a.clone().into_dyn());
    /// let e = x.reshape(&[5, -1]).unwrap_err().to_string();
    /// assert!(e.contains("[6, 4]") && e.contains("[5, -1]"), "{e}");
    /// ```
    pub fn reshape(&self, shape: &[isize]) -> Result<Array<T>> {
        let raw = self.raw()?;
        let shape = resolve_shape(&raw.shape, shape)?;
        if shape == raw.shape {
            return Ok(self.clone());
        }
        let (in_chunks, out_chunks) = if raw.size() == 0 {
            (whole(&raw.shape), whole(&shape))
        } else {
            reshape_chunks(&raw.shape, &shape, &raw.chunks)
        };
        Ok(Array::from_raw(relayout("reshape", raw, in_chunks, shape, out_chunks)))
    }

    /// The elements in C order as a 1-d array (numpy's `ravel`; `reshape(&[-1])`).
    ///
    /// ```
    /// use rask_collections::array::from_ndarray;
    /// let x = from_ndarray(&ndarray::array![[1, 2, 3], [4, 5, 6]], [1, 3]).unwrap();
    /// let flat = x.ravel().unwrap();
    /// assert_eq!(flat.chunks(), &[vec![3, 3]]);
    /// assert_eq!(flat.compute().unwrap(), ndarray::array![1, 2, 3, 4, 5, 6].into_dyn());
    /// ```
    pub fn ravel(&self) -> Result<Array<T>> {
        self.reshape(&[-1])
    }

    /// The same as [`Array::ravel`] (numpy's `flatten`, which copies; rask arrays are
    /// immutable, so nothing needs to).
    pub fn flatten(&self) -> Result<Array<T>> {
        self.ravel()
    }

    /// The array without some axes of length 1 ([`Axes`]): `..` removes every length-1
    /// axis (numpy's `axis=None`), or name them (an integer, an array, slice or `Vec`;
    /// negative counts from the end). Naming an axis whose length is not 1, one out of
    /// range, or one twice is an error naming the shape.
    ///
    /// ```
    /// use rask_collections::array::zeros;
    /// let x = zeros::<f32>(&[1, 3, 1], [1, 2, 1]).unwrap();
    /// assert_eq!(x.squeeze(..).unwrap().shape(), &[3]);
    /// assert_eq!(x.squeeze(-1).unwrap().shape(), &[1, 3]);
    /// assert_eq!(x.squeeze([0, 2]).unwrap().chunks(), &[vec![2, 1]]);
    /// let e = x.squeeze(1).unwrap_err().to_string();
    /// assert!(e.contains("axis 1") && e.contains("[1, 3, 1]"), "{e}");
    /// ```
    pub fn squeeze(&self, axes: impl Into<Axes>) -> Result<Array<T>> {
        let raw = self.raw()?;
        let dropped = squeezed_axes(&axes.into(), &raw.shape)?;
        if dropped.is_empty() {
            return Ok(self.clone());
        }
        let kept = |a: &usize| !dropped.contains(a);
        let shape = (0..raw.shape.len()).filter(kept).map(|a| raw.shape[a]).collect();
        let chunks = (0..raw.shape.len()).filter(kept).map(|a| raw.chunks[a].clone()).collect();
        Ok(Array::from_raw(relayout("squeeze", raw, raw.chunks.clone(), shape, chunks)))
    }

    /// The array with a new axis of length 1 at `axis` of the result (negative counts
    /// from the end: -1 appends), as numpy's `expand_dims`.
    ///
    /// ```
    /// use rask_collections::array::zeros;
    /// let x = zeros::<i64>(&[3, 4], [2, 4]).unwrap();
    /// assert_eq!(x.expand_dims(0).unwrap().shape(), &[1, 3, 4]);
    /// assert_eq!(x.expand_dims(-1).unwrap().chunks(), &[vec![2, 1], vec![4], vec![1]]);
    /// assert!(x.expand_dims(3).unwrap_err().to_string().contains("[3, 4]"));
    /// ```
    pub fn expand_dims(&self, axis: isize) -> Result<Array<T>> {
        let raw = self.raw()?;
        let axis = normalize_axis("expand_dims", axis, raw.shape.len() + 1, &[&raw.shape])?;
        let (mut shape, mut chunks) = (raw.shape.clone(), raw.chunks.clone());
        shape.insert(axis, 1);
        chunks.insert(axis, vec![1]);
        Ok(Array::from_raw(relayout("expand_dims", raw, raw.chunks.clone(), shape, chunks)))
    }
}

/// The axes [`Array::squeeze`] removes from an array of `shape`: every axis of length 1
/// for `Axes::All`, else the named ones, which must have length 1.
fn squeezed_axes(axes: &Axes, shape: &[usize]) -> Result<Vec<usize>> {
    if *axes == Axes::All {
        return Ok((0..shape.len()).filter(|&a| shape[a] == 1).collect());
    }
    let named = normalize_axes("squeeze", axes, shape.len(), &[shape])?;
    if let Some(&a) = named.iter().find(|&&a| shape[a] != 1) {
        return Err(Error::Shape(format!(
            "squeeze: axis {a} of shape {shape:?} has length {}; only axes of length 1 can be removed",
            shape[a]
        )));
    }
    Ok(named)
}

/// `array` cut into `in_chunks`, each block then given the shape of the block at the same
/// C-order position of the grid `out_chunks` (of `shape`): one task per block. The two
/// grids have as many blocks, of matching sizes in C order.
pub(super) fn relayout(
    name: &str,
    array: &RawArray,
    in_chunks: Vec<Vec<usize>>,
    shape: Vec<usize>,
    out_chunks: Vec<Vec<usize>>,
) -> RawArray {
    let token = Token::of(&(name, array.token.0, &in_chunks, &out_chunks));
    let recut = Recut::new(array, in_chunks);
    let from = recut.numblocks();
    let to: Vec<usize> = out_chunks.iter().map(Vec::len).collect();
    debug_assert_eq!(from.iter().product::<usize>(), to.iter().product::<usize>(), "{name}: block counts differ");
    layer_of_blocks(name, token, shape, out_chunks.clone(), array.dtype, vec![array.layer.clone()], |index| {
        let source = unravel(ravel(index, &to), &from);
        let block_shape = index.iter().zip(&out_chunks).map(|(&i, c)| c[i as usize]).collect();
        recut.block(&source, Some(block_shape))
    })
}

/// The C-order position of `index` in a grid of `counts`.
fn ravel(index: &[u32], counts: &[usize]) -> usize {
    index.iter().zip(counts).fold(0, |flat, (&i, &n)| flat * n + i as usize)
}

/// The index at C-order position `flat` of a grid of `counts`.
fn unravel(mut flat: usize, counts: &[usize]) -> Vec<u32> {
    let mut index = vec![0u32; counts.len()];
    for (slot, &n) in index.iter_mut().zip(counts).rev() {
        *slot = (flat % n) as u32;
        flat /= n;
    }
    index
}

/// numpy's reading of a reshape target: at most one -1, inferred from the size; an error
/// names both shapes when the sizes cannot match.
fn resolve_shape(from: &[usize], to: &[isize]) -> Result<Vec<usize>> {
    let size: usize = from.iter().product();
    let mismatch = |why: &str| {
        Error::Shape(format!("reshape: cannot reshape an array of shape {from:?} (size {size}) into shape {to:?}{why}"))
    };
    if let Some(&bad) = to.iter().find(|&&n| n < -1) {
        return Err(mismatch(&format!(": negative length {bad}; only -1 (one inferred length) may be negative")));
    }
    let unknown: Vec<usize> = (0..to.len()).filter(|&a| to[a] == -1).collect();
    if unknown.len() > 1 {
        return Err(mismatch(": only one length can be -1"));
    }
    let known = to.iter().filter(|&&n| n >= 0).try_fold(1usize, |p, &n| p.checked_mul(n as usize));
    let known = known.ok_or_else(|| mismatch(""))?;
    let mut shape: Vec<usize> = to.iter().map(|&n| n.max(0) as usize).collect();
    match unknown.as_slice() {
        [] if known == size => Ok(shape),
        [a] if known > 0 && size.is_multiple_of(known) => {
            shape[*a] = size / known;
            Ok(shape)
        }
        [_] if known == 0 => Err(mismatch(": the -1 is ambiguous when the other lengths multiply to 0")),
        _ => Err(mismatch("")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_targets_follow_numpy() {
        assert_eq!((ravel(&[1, 2], &[2, 3]), unravel(5, &[2, 3])), (5, vec![1, 2]));
        assert_eq!(resolve_shape(&[2, 3], &[-1]).unwrap(), vec![6]);
        assert_eq!(resolve_shape(&[0, 3], &[3, -1]).unwrap(), vec![3, 0]);
        assert_eq!(resolve_shape(&[], &[1, -1, 1]).unwrap(), vec![1, 1, 1]);
        assert_eq!(resolve_shape(&[1], &[]).unwrap(), Vec::<usize>::new());
        for bad in [&[4, -1][..], &[-1, -1], &[-2, 3], &[7], &[0, -1], &[isize::MAX, isize::MAX]] {
            let e = resolve_shape(&[2, 3], bad).unwrap_err().to_string();
            assert!(e.contains("[2, 3]") && e.contains(&format!("{bad:?}")), "{e}");
        }
    }
}

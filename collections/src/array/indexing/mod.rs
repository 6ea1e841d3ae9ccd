//! Indexing arrays as numpy and Dask do: slices written with ndarray's `s![..]`
//! ([`Array::slice`]), integer indices along one axis ([`Array::take`]), boolean masks
//! ([`Array::mask`], [`Array::extract`], [`Array::compress`]) and selecting whole blocks
//! ([`Array::blocks`], Dask's `x.blocks[..]`).
//!
//! The rules (numpy 2, spelled as ndarray spells them):
//! - Negative indices and slice bounds count from the end of the axis. Slice bounds
//!   outside the axis are clamped into it (numpy); an integer index outside its axis is an
//!   error naming the index, the axis and the shape. A zero step is an error.
//! - A negative step walks the range from its end, as in ndarray (`s![1..4;-1]` is
//!   `3, 2, 1`), not as in numpy (`x[1:4:-1]` is empty).
//! - Integer indices drop their axis, `NewAxis` adds one of length 1; entries left out
//!   select whole axes.
//! - `take` accepts negative, unsorted and repeated indices.
//! - A boolean mask of the array's shape selects a 1-d array in C order. A concrete mask
//!   (an ndarray, [`Array::mask`]) gives a known length; a lazy one (an `Array<bool>`,
//!   [`Array::extract`]) a length known only after compute (unknown chunk sizes, as
//!   Dask's `nan` chunks).
//!
//! Slices keep the input's block boundaries (each output block is one stretch of one
//! input block, in selection order, made by one task); `take` and masks cut their output
//! into blocks of about the input's block size, each reading only the input blocks it
//! needs.
//!
//! ```
//! use ndarray::s;
//! use rask_collections::array::from_ndarray;
//! let a = ndarray::Array::from_shape_fn((4, 6), |(i, j)| (10 * i + j) as i64);
//! let x = from_ndarray(&a, [2, 3]).unwrap();
//! let y = x.slice(s![1.., ..;-2]).unwrap();
//! assert_eq!(y.compute().unwrap(), a.slice(s![1.., ..;-2]).into_dyn());
//! assert_eq!(y.chunks(), &[vec![1, 2], vec![2, 1]]);
//! assert!(x.slice(s![4, ..]).unwrap_err().to_string().contains("index 4 is out of bounds for axis 0"));
//! ```

mod extract;
mod gather;
mod select;
mod slice;

use ndarray::{ArrayBase, Data, Dimension, SliceInfoElem};
use rask_graph::{Element, Token, TokenHasher};

use super::Array;
use super::axes::normalize_axis;
use crate::error::{Error, Result};
pub use extract::ExtractBlock;
pub use gather::{Gather, Run};
use gather::{mask_layer, take_layer};
use select::{Indexed, checked_index, is_identity, normalize};
use slice::Selection;

impl<T: Element> Array<T> {
    /// The elements `info` (ndarray's `s![..]`) selects: ranges with steps, integer
    /// indices (which drop their axis) and `NewAxis`, with ndarray's meaning of negative
    /// steps (`s![1..4;-1]` is 3, 2, 1). Out-of-range slice bounds are clamped; an out-of-range integer index, a zero
    /// step or more indices than axes is an error.
    ///
    /// Each output block is the part of one input block the selection crosses.
    ///
    /// ```
    /// use ndarray::{s, NewAxis};
    /// use rask_collections::array::from_ndarray;
    /// let a = ndarray::Array1::from_iter(0..10i32);
    /// let x = from_ndarray(&a, [4]).unwrap();
    /// assert_eq!(x.slice(s![-3..]).unwrap().compute().unwrap(), ndarray::array![7, 8, 9].into_dyn());
    /// assert_eq!(x.slice(s![2..9;3]).unwrap().chunks(), &[vec![1, 1, 1]]);
    /// assert_eq!(x.slice(s![1..4;-1]).unwrap().compute().unwrap(), ndarray::array![3, 2, 1].into_dyn());
    /// assert_eq!(x.slice(s![5..100]).unwrap().shape(), &[5]); // clamped
    /// assert_eq!(x.slice(s![-1]).unwrap().compute().unwrap(), ndarray::arr0(9).into_dyn());
    /// assert_eq!(x.slice(s![NewAxis, ..2]).unwrap().shape(), &[1, 2]);
    /// ```
    pub fn slice(&self, info: impl AsRef<[SliceInfoElem]>) -> Result<Array<T>> {
        let raw = self.raw()?;
        let sels = normalize(info.as_ref(), Indexed { op: "slice", shape_name: "shape", shape: &raw.shape })?;
        if is_identity(&sels, &raw.shape) {
            return Ok(self.clone());
        }
        let token = Token::of(&("getitem", raw.token.0, &sels));
        Ok(Array::from_raw(Selection::of_elements(&sels, &raw.chunks).layer(raw, "getitem", token)))
    }

    /// The array made of the blocks `info` selects from the grid of blocks (Dask's
    /// `x.blocks[..]`): ranges with steps and integer indices, which (unlike in
    /// [`slice`](Self::slice)) keep their axis. The blocks are passed through, not copied.
    /// An out-of-range block index or a `NewAxis` is an error.
    ///
    /// ```
    /// use ndarray::s;
    /// use rask_collections::array::from_ndarray;
    /// let a = ndarray::Array::from_shape_fn((4, 6), |(i, j)| (10 * i + j) as f64);
    /// let x = from_ndarray(&a, [2, 2]).unwrap();
    /// let b = x.blocks(s![1, ..;-2]).unwrap();
    /// assert_eq!(b.chunks(), &[vec![2], vec![2, 2]]);
    /// assert_eq!(b.compute().unwrap(), ndarray::concatenate![ndarray::Axis(1), a.slice(s![2.., 4..]), a.slice(s![2.., ..2])].into_dyn());
    /// assert!(x.blocks(s![2]).is_err());
    /// ```
    pub fn blocks(&self, info: impl AsRef<[SliceInfoElem]>) -> Result<Array<T>> {
        let raw = self.raw()?;
        let grid = raw.numblocks();
        let sels = normalize(info.as_ref(), Indexed { op: "blocks", shape_name: "block grid", shape: &grid })?;
        if is_identity(&sels, &grid) {
            return Ok(self.clone());
        }
        let token = Token::of(&("blocks", raw.token.0, &sels));
        Ok(Array::from_raw(Selection::of_blocks(&sels, &raw.chunks)?.layer(raw, "blocks", token)))
    }

    /// The elements at `indices` along `axis` (numpy's `take`, or fancy indexing with an
    /// integer list): negative indices and axes count from the end; unsorted and repeated indices
    /// are fine; an index outside the axis is an error. The output is cut along `axis`
    /// into blocks of the input's largest block size there.
    ///
    /// ```
    /// use rask_collections::array::from_ndarray;
    /// let a = ndarray::array![[0, 1, 2], [3, 4, 5]];
    /// let x = from_ndarray(&a, [1, 2]).unwrap();
    /// let t = x.take(&[2, -3, 2, 1], -1).unwrap();
    /// assert_eq!(t.compute().unwrap(), ndarray::array![[2, 0, 2, 1], [5, 3, 5, 4]].into_dyn());
    /// assert_eq!(t.chunks(), &[vec![1, 1], vec![2, 2]]);
    /// assert!(x.take(&[3], 1).unwrap_err().to_string().contains("index 3 is out of bounds for axis 1 with size 3"));
    /// ```
    pub fn take(&self, indices: &[isize], axis: isize) -> Result<Array<T>> {
        let raw = self.raw()?;
        let axis = normalize_axis("take", axis, raw.shape.len(), &[&raw.shape])?;
        let target = Indexed { op: "take", shape_name: "shape", shape: &raw.shape };
        let resolved = indices.iter().map(|&i| checked_index(i, axis, target)).collect::<Result<Vec<_>>>()?;
        let token = Token::of(&("take", raw.token.0, axis, &resolved));
        Ok(Array::from_raw(take_layer(raw, "take", token, &resolved, axis)))
    }

    /// The elements along `axis` (negative counts from the end) where `condition` is true
    /// (numpy's `compress`, or indexing one axis with a boolean array). `condition` must have the axis's length
    /// (numpy's `compress` also accepts a shorter one; boolean indexing does not).
    ///
    /// ```
    /// use rask_collections::array::from_ndarray;
    /// let x = from_ndarray(&ndarray::array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [2, 2]).unwrap();
    /// let c = x.compress(&[true, false, true], 0).unwrap();
    /// assert_eq!(c.compute().unwrap(), ndarray::array![[1.0, 2.0], [5.0, 6.0]].into_dyn());
    /// assert!(x.compress(&[true], 1).unwrap_err().to_string().contains("length 1"));
    /// ```
    pub fn compress(&self, condition: &[bool], axis: isize) -> Result<Array<T>> {
        let raw = self.raw()?;
        let axis = normalize_axis("compress", axis, raw.shape.len(), &[&raw.shape])?;
        let n = raw.shape[axis];
        if condition.len() != n {
            return Err(Error::Shape(format!(
                "compress: a condition of length {} for axis {axis} of length {n} (shape {:?})",
                condition.len(),
                raw.shape
            )));
        }
        let picked: Vec<usize> = (0..n).filter(|&i| condition[i]).collect();
        let token = Token::of(&("compress", raw.token.0, axis, &picked));
        Ok(Array::from_raw(take_layer(raw, "compress", token, &picked, axis)))
    }

    /// The elements where `mask` (a boolean ndarray of the array's shape) is true, as a
    /// 1-d array in C order (numpy's `x[mask]`); a mask of another shape is an error
    /// naming both shapes. The output is cut into blocks of as many elements as the
    /// input's largest block.
    ///
    /// ```
    /// use rask_collections::array::from_ndarray;
    /// let a = ndarray::array![[1, -2, 3], [-4, 5, -6]];
    /// let x = from_ndarray(&a, [1, 2]).unwrap();
    /// let positive = x.mask(&a.mapv(|v| v > 0)).unwrap();
    /// assert_eq!(positive.compute().unwrap(), ndarray::array![1, 3, 5].into_dyn());
    /// assert!(x.mask(&ndarray::array![true, false]).unwrap_err().to_string().contains("[2] does not fit"));
    /// ```
    pub fn mask<S, D>(&self, mask: &ArrayBase<S, D>) -> Result<Array<T>>
    where
        S: Data<Elem = bool>,
        D: Dimension,
    {
        let raw = self.raw()?;
        if mask.shape() != raw.shape.as_slice() {
            return Err(Error::Shape(format!(
                "mask: a boolean mask of shape {:?} does not fit an array of shape {:?}",
                mask.shape(),
                raw.shape
            )));
        }
        let mut hasher = TokenHasher::new();
        std::hash::Hash::hash(&("mask", raw.token.0), &mut hasher);
        mask.iter().for_each(|&m| std::hash::Hasher::write_u8(&mut hasher, m.into()));
        let token = Token(std::hash::Hasher::finish(&hasher));
        Ok(Array::from_raw(mask_layer(raw, "mask", token, mask.view().into_dyn())))
    }
}

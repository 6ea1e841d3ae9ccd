//! Unknown chunk sizes, as Dask's NaN chunks: arrays whose block lengths along some axes
//! are known only once computed, such as the elements a lazy boolean mask selects
//! ([`Array::extract`]).
//!
//! Such an array keeps its grid of blocks (how many along each axis) but not their
//! lengths along the unknown axes, where its shape and chunks hold placeholders no code
//! may read. So it refuses every operation that needs them: `Array::raw()`, which every
//! fallible method calls first, returns an error telling the user to call
//! [`Array::compute_chunk_sizes`]. Only these take such arrays, through
//! `Array::raw_allowing_unknown()`:
//!
//! - `compute`, [`Array::persist`] and [`Array::compute_chunk_sizes`], which lay the
//!   blocks out by their computed shapes (the last two return the array with known
//!   chunks);
//! - elementwise operations with Rust scalars, unary functions and `astype` (one array
//!   input), and between arrays of one block structure (the same grid of blocks, the
//!   same unknown axes, the same chunks along the others) or with 0-d arrays: blocks are
//!   matched by index, and blocks whose shapes turn out to differ are an error when
//!   computed ([`SameShapes`]);
//! - reductions over every unknown axis (over all axes, for a 1-d array); argmin and
//!   argmax of 1-d arrays, each block's offset added up as the blocks are computed
//!   ([`ArgBlock`]); `min`, `max`, `argmin` and `argmax` of a result that turns out
//!   empty fail when computed ([`RequireElements`], [`ArgFound`]);
//! - [`Array::extract`] with a condition of the same block structure.
//!
//! [`Array::known_shape`] and [`Array::known_chunks`] say which lengths are unknown
//! (`None`), and `Display` prints them as `nan`, as Dask does.
//!
//! ```
//! use rask_collections::array::from_ndarray;
//! let x = from_ndarray(&ndarray::array![3.0, -1.0, 4.0, -1.0, 5.0], [2])?;
//! let positive = x.extract(&x.greater(0.0)?)?;
//! assert_eq!(positive.known_shape(), vec![None]);
//! assert!(positive.to_string().contains("shape=(nan,)"));
//! let total: f64 = (&positive * 2.0).sum(..)?.compute_scalar()?;
//! assert_eq!(total, 24.0);
//! assert!(positive.rechunk([2]).unwrap_err().to_string().contains("x.compute_chunk_sizes()"));
//! let known = positive.compute_chunk_sizes()?;
//! assert_eq!(known.chunks(), &[vec![1, 1, 1]]);
//! # Ok::<(), rask_collections::Error>(())
//! ```

mod arg;
mod matched;
mod measure;
mod nonempty;

use rask_graph::Element;

use super::Array;
use super::raw::RawArray;
use crate::compute::ComputeOptions;
use crate::error::{Error, Result};
pub(crate) use arg::arg_chunk_stage;
pub use arg::{ArgBlock, ArgFound};
pub use matched::SameShapes;
pub(crate) use matched::{check_matched, matched_blockwise};
pub(crate) use measure::{measure, measure_shapes, typed_block};
pub use nonempty::{BlockLength, RequireElements};
pub(crate) use nonempty::{check_reducible, require_elements};

impl RawArray {
    /// Whether some axis has block lengths known only after compute.
    pub fn has_unknown(&self) -> bool {
        !self.unknown.is_empty()
    }

    /// The length of each axis, `None` where it is unknown.
    pub fn known_shape(&self) -> Vec<Option<usize>> {
        (0..self.shape.len()).map(|a| (!self.unknown.contains(&a)).then_some(self.shape[a])).collect()
    }

    /// The block lengths along each axis, `None` where they are unknown.
    pub fn known_chunks(&self) -> Vec<Option<&[usize]>> {
        (0..self.chunks.len()).map(|a| (!self.unknown.contains(&a)).then_some(self.chunks[a].as_slice())).collect()
    }
}

/// Lengths as a Python tuple, `nan` for unknown ones, as Dask prints them: `(3,)`,
/// `(nan, 4)`, `()`.
pub(crate) fn tuple(lengths: impl IntoIterator<Item = Option<usize>>) -> String {
    tuple_of(lengths.into_iter().map(|n| n.map_or_else(|| "nan".to_string(), |n| n.to_string())).collect())
}

/// The array's shape and chunks, `nan` where unknown, and the layer that made it.
pub(crate) fn describe(raw: &RawArray) -> String {
    let chunks = raw.known_chunks().into_iter().zip(raw.numblocks()).map(|(along, n)| match along {
        Some(sizes) => tuple(sizes.iter().map(|&s| Some(s))),
        None => tuple(vec![None; n]),
    });
    let chunks = tuple_of(chunks.collect());
    format!("shape={}, chunks={chunks} (made by {})", tuple(raw.known_shape()), raw.group)
}

/// Texts as a Python tuple.
fn tuple_of(items: Vec<String>) -> String {
    match items.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", items.join(", ")),
    }
}

/// The error of an `operation` that needs the chunk sizes `raw` does not know, in Dask's
/// words, telling the user to call `compute_chunk_sizes()`.
pub(crate) fn unknown_sizes(operation: &str, raw: &RawArray) -> Error {
    Error::Shape(format!(
        "Arrays chunk sizes are unknown: {}; {operation} needs them. A possible solution: \
         x.compute_chunk_sizes() computes the array once and returns it with known chunk sizes",
        describe(raw)
    ))
}

impl<T: Element> Array<T> {
    /// The length of each axis, `None` for an axis whose length is known only after
    /// compute (Dask's `nan`; see [`Array::extract`]). [`Array::shape`] reads such a
    /// length as 0.
    ///
    /// ```
    /// use rask_collections::array::from_ndarray;
    /// let x = from_ndarray(&ndarray::array![[1, -2], [3, 4]], [1, 2])?;
    /// assert_eq!(x.known_shape(), vec![Some(2), Some(2)]);
    /// assert_eq!(x.extract(&x.greater(0)?)?.known_shape(), vec![None]);
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn known_shape(&self) -> Vec<Option<usize>> {
        self.raw.known_shape()
    }

    /// The block lengths along each axis, `None` for an axis whose lengths are known only
    /// after compute. [`Array::chunks`] reads such lengths as 0.
    ///
    /// ```
    /// use rask_collections::array::from_ndarray;
    /// let x = from_ndarray(&ndarray::array![1, -2, 3], [2])?;
    /// assert_eq!(x.known_chunks(), vec![Some(&[2, 1][..])]);
    /// let picked = x.extract(&x.greater(0)?)?;
    /// assert_eq!((picked.known_chunks(), picked.numblocks()), (vec![None], vec![2]));
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn known_chunks(&self) -> Vec<Option<&[usize]>> {
        self.raw.known_chunks()
    }

    /// Whether every block length is known (false after a lazy boolean mask, until
    /// [`Array::compute_chunk_sizes`]).
    ///
    /// ```
    /// use rask_collections::array::from_ndarray;
    /// let x = from_ndarray(&ndarray::array![1.0, f64::NAN], [1])?;
    /// let clean = x.extract(&x.isnan()?.logical_not()?)?;
    /// assert!(x.chunk_sizes_known() && !clean.chunk_sizes_known());
    /// assert!(clean.compute_chunk_sizes()?.chunk_sizes_known());
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn chunk_sizes_known(&self) -> bool {
        !self.raw.has_unknown()
    }

    /// The same array with known chunk sizes, as Dask's `compute_chunk_sizes`: an array
    /// whose block lengths are unknown (see [`Array::extract`]) is computed once, on the
    /// default scheduler, and comes back with the same keys, its chunks measured from the
    /// computed blocks, which its graph holds (as [`Array::persist`] does), so nothing is
    /// computed again. An array whose chunk sizes are known comes back as it is, without
    /// computing.
    ///
    /// ```
    /// use rask_collections::array::from_ndarray;
    /// let x = from_ndarray(&ndarray::array![[5, 0, 7], [0, 0, 9]], [1, 3])?;
    /// let nonzero = x.extract(&x.not_equal(0)?)?;
    /// assert!(nonzero.rechunk([1]).is_err());
    /// let known = nonzero.compute_chunk_sizes()?;
    /// assert_eq!((known.shape(), known.chunks()), (&[3][..], &[vec![2, 1]][..]));
    /// assert_eq!(known.rechunk([3])?.compute()?, ndarray::array![5, 7, 9].into_dyn());
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn compute_chunk_sizes(&self) -> Result<Array<T>> {
        self.compute_chunk_sizes_with(&ComputeOptions::default())
    }

    /// [`Array::compute_chunk_sizes`] with `options`.
    pub fn compute_chunk_sizes_with(&self, options: &ComputeOptions) -> Result<Array<T>> {
        match self.raw_allowing_unknown()?.has_unknown() {
            true => self.persist_with(options),
            false => Ok(self.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_print_as_python_tuples_with_nan() {
        assert_eq!(tuple([Some(3)]), "(3,)");
        assert_eq!(tuple([None, Some(4)]), "(nan, 4)");
        assert_eq!(tuple([]), "()");
        assert_eq!(tuple_of(vec!["(nan, nan)".into()]), "((nan, nan),)");
    }
}

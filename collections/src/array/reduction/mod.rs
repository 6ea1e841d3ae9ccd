//! Reductions (`sum prod mean min max var std argmin argmax any all` and the `nan*`
//! variants) over all axes or some, with numpy 2's semantics, tree-reduced as Dask does.
//!
//! - Result types: `sum`/`prod` of int32 and bool accumulate in and return int64;
//!   `mean`/`var`/`std` return float64 for integers and bool, float32 stays float32;
//!   `min`/`max` keep the type; `argmin`/`argmax` give int64, `any`/`all` bool.
//! - Reducing nothing: a sum is 0, a product 1, a mean NaN; `min`, `max`, `argmin` and
//!   `argmax` of nothing are an error when the expression is built (when it is computed,
//!   for an array whose chunk sizes are unknown until then).
//! - NaN: `min`/`max` propagate it; the `nan*` reductions skip it (`nansum` of only NaN is
//!   0, `nanmean`/`nanmax` of only NaN are NaN); `argmin`/`argmax` return the first NaN.
//! - `var`/`std` are numerically stable: each block's count, mean and sum of squared
//!   deviations (two passes over the block), merged with Chan's parallel formula.
//! - Ties in `argmin`/`argmax` go to the smallest index, whatever the chunking; without an
//!   axis they index the C-order flattening.
//!
//! ```
//! use rask_collections::array::{from_ndarray, ReduceOptions};
//! let x = from_ndarray(&ndarray::array![[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.0]], [1, 2])?;
//! assert_eq!(x.sum(..)?.compute_scalar()?, 21.0);
//! assert_eq!(x.mean(0)?.compute()?, ndarray::array![2.5, 3.5, 4.5].into_dyn());
//! assert_eq!(x.max_with(-1, &ReduceOptions::new().keepdims(true))?.compute()?, ndarray::array![[3.0], [6.0]].into_dyn());
//! assert_eq!(x.argmax(..)?.compute_scalar()?, 5);
//! # Ok::<(), rask_collections::Error>(())
//! ```

mod arg;
mod fold;
mod ops;
mod options;
mod state;
mod tree;

use rask_graph::Element;

pub(crate) use arg::chunk as arg_chunk;
pub(crate) use fold::{Number, c_order};
pub use ops::{CombinePartials, Finish, ReduceBlock};
pub use options::ReduceOptions;
pub use state::Reducer;
pub(crate) use state::{Partial, owned};
pub(crate) use tree::chunk_stage;

use super::Array;
use super::axes::{Axes, normalize_axes};
use super::raw::RawArray;
use super::unknown::check_reducible;
use crate::compute::ComputeOptions;
use crate::error::{Error, Result};

/// The reduction of `raw` with `reducer` over `axes`, as an array of `O`.
fn reduce<O: Element>(raw: &RawArray, reducer: Reducer, axes: Axes, options: &ReduceOptions) -> Result<Array<O>> {
    let mut resolved = normalize_axes(reducer.name(), &axes, raw.shape.len(), &[&raw.shape])?;
    resolved.sort_unstable();
    if reducer.is_arg() && axes != Axes::All && resolved.len() != 1 {
        return Err(Error::Shape(format!(
            "{}: takes one axis or all of them (`..`), not {axes:?}, for an array of shape {:?}",
            reducer.name(),
            raw.shape
        )));
    }
    check_reducible(raw, reducer, &resolved)?;
    Ok(Array::from_raw(tree::tree_reduce(raw, reducer, &resolved, options)?))
}

macro_rules! reductions {
    ($($(#[$doc:meta])* $name:ident / $with:ident => $reducer:ident -> $out:ty;)*) => {$(
        $(#[$doc])*
        pub fn $name(&self, axes: impl Into<Axes>) -> Result<Array<$out>> {
            self.$with(axes, &ReduceOptions::new())
        }

        #[doc = concat!("[`", stringify!($name), "`](Self::", stringify!($name), ") with [`ReduceOptions`]: ")]
        #[doc = "`keepdims`, `split_every` (and `ddof` for `var` and `std`)."]
        #[doc = ""]
        #[doc = "```"]
        #[doc = "use rask_collections::array::{from_ndarray, ReduceOptions};"]
        #[doc = "let x = from_ndarray(&ndarray::array![[1.0, 2.0], [3.0, 4.0]], [1, 2])?;"]
        #[doc = concat!("let y = x.", stringify!($with), "(0, &ReduceOptions::new().keepdims(true).split_every(4))?;")]
        #[doc = "assert_eq!(y.compute()?.shape(), &[1, 2]);"]
        #[doc = "# Ok::<(), rask_collections::Error>(())"]
        #[doc = "```"]
        pub fn $with(&self, axes: impl Into<Axes>, options: &ReduceOptions) -> Result<Array<$out>> {
            reduce(self.raw_allowing_unknown()?, Reducer::$reducer, axes.into(), options)
        }
    )*};
}

impl<T: Element> Array<T> {
    reductions! {
        /// The sum over `axes` (`..` for all): int32 and bool accumulate in and return
        /// int64 (no wrap-around); the sum of nothing is 0.
        ///
        /// ```
        /// use rask_collections::array::{from_ndarray, Array};
        /// let x = from_ndarray(&ndarray::array![[i32::MAX, 2], [i32::MAX, 4]], [1, 1])?;
        /// let total: Array<i64> = x.sum(..)?;
        /// assert_eq!(total.compute_scalar()?, 2 * i32::MAX as i64 + 6);
        /// assert_eq!(x.sum(1)?.compute()?, ndarray::array![i32::MAX as i64 + 2, i32::MAX as i64 + 4].into_dyn());
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        sum / sum_with => Sum -> T::Sum;
        /// The product over `axes`: int32 and bool accumulate in int64; the product of
        /// nothing is 1.
        ///
        /// ```
        /// use rask_collections::array::from_ndarray;
        /// let x = from_ndarray(&ndarray::array![[1, 2], [3, 4]], [1, 2])?;
        /// assert_eq!(x.prod(0)?.compute()?, ndarray::array![3i64, 8].into_dyn());
        /// let empty = from_ndarray(&ndarray::Array1::<f64>::zeros(0), [1])?;
        /// assert_eq!(empty.prod(..)?.compute_scalar()?, 1.0);
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        prod / prod_with => Prod -> T::Sum;
        /// The smallest element over `axes`; NaN if any is NaN. Of nothing it is an error.
        ///
        /// ```
        /// use rask_collections::array::from_ndarray;
        /// let x = from_ndarray(&ndarray::array![[3.0, f64::NAN], [1.0, 2.0]], [1, 1])?;
        /// let m = x.min(0)?.compute()?;
        /// assert!(m[0] == 1.0 && m[1].is_nan());
        /// let empty = from_ndarray(&ndarray::Array2::<f64>::zeros((2, 0)), [1, 1])?;
        /// assert!(empty.min(1).unwrap_err().to_string().contains("no identity"));
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        min / min_with => Min -> T;
        /// The largest element over `axes`; NaN if any is NaN. Of nothing it is an error.
        ///
        /// ```
        /// use rask_collections::array::from_ndarray;
        /// let x = from_ndarray(&ndarray::array![4i32, -1, 7], [2])?;
        /// assert_eq!(x.max(..)?.compute_scalar()?, 7);
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        max / max_with => Max -> T;
        /// Whether any element over `axes` is true (non-zero; NaN counts as true).
        ///
        /// ```
        /// use rask_collections::array::from_ndarray;
        /// let x = from_ndarray(&ndarray::array![[0.0, 0.0], [0.0, f64::NAN]], [1, 1])?;
        /// assert_eq!(x.any(0)?.compute()?, ndarray::array![false, true].into_dyn());
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        any / any_with => Any -> bool;
        /// Whether every element over `axes` is true (non-zero); true of nothing.
        ///
        /// ```
        /// use rask_collections::array::from_ndarray;
        /// let x = from_ndarray(&ndarray::array![[true, false], [true, true]], [1, 1])?;
        /// assert_eq!(x.all(1)?.compute()?, ndarray::array![false, true].into_dyn());
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        all / all_with => All -> bool;
        /// The sum with NaN counted as 0: of only NaN it is 0.
        ///
        /// ```
        /// use rask_collections::array::from_ndarray;
        /// let x = from_ndarray(&ndarray::array![[f64::NAN, 1.0], [f64::NAN, 2.0]], [1, 1])?;
        /// assert_eq!(x.nansum(0)?.compute()?, ndarray::array![0.0, 3.0].into_dyn());
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        nansum / nansum_with => NanSum -> T::Sum;
        /// The product with NaN counted as 1.
        ///
        /// ```
        /// use rask_collections::array::from_ndarray;
        /// let x = from_ndarray(&ndarray::array![2.0, f64::NAN, 3.0], [1])?;
        /// assert_eq!(x.nanprod(..)?.compute_scalar()?, 6.0);
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        nanprod / nanprod_with => NanProd -> T::Sum;
        /// The smallest element that is not NaN; NaN for a slice of only NaN. Of nothing
        /// it is an error.
        ///
        /// ```
        /// use rask_collections::array::from_ndarray;
        /// let x = from_ndarray(&ndarray::array![[f64::NAN, 1.0], [f64::NAN, -2.0]], [1, 1])?;
        /// let m = x.nanmin(0)?.compute()?;
        /// assert!(m[0].is_nan() && m[1] == -2.0);
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        nanmin / nanmin_with => NanMin -> T;
        /// The largest element that is not NaN; NaN for a slice of only NaN. Of nothing it
        /// is an error.
        ///
        /// ```
        /// use rask_collections::array::from_ndarray;
        /// let x = from_ndarray(&ndarray::array![f64::NAN, 4.0, f64::NAN], [1])?;
        /// assert_eq!(x.nanmax(..)?.compute_scalar()?, 4.0);
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        nanmax / nanmax_with => NanMax -> T;
        /// The arithmetic mean: float64 for integers and bool, float32 stays float32; NaN
        /// for nothing.
        ///
        /// ```
        /// use rask_collections::array::{from_ndarray, Array};
        /// let x = from_ndarray(&ndarray::array![[1, 2], [3, 5]], [1, 2])?;
        /// let mean: Array<f64> = x.mean(0)?;
        /// assert_eq!(mean.compute()?, ndarray::array![2.0, 3.5].into_dyn());
        /// let y = from_ndarray(&ndarray::array![1.0f32, 2.0], [1])?;
        /// let half: Array<f32> = y.mean(..)?;
        /// assert_eq!(half.compute_scalar()?, 1.5);
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        mean / mean_with => Mean -> T::Float;
        /// The mean of the elements that are not NaN; NaN for a slice of only NaN.
        ///
        /// ```
        /// use rask_collections::array::from_ndarray;
        /// let x = from_ndarray(&ndarray::array![1.0, f64::NAN, 3.0], [1])?;
        /// assert_eq!(x.nanmean(..)?.compute_scalar()?, 2.0);
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        nanmean / nanmean_with => NanMean -> T::Float;
        /// The variance, dividing by `max(n - ddof, 0)` (ddof 0 unless
        /// [`ReduceOptions::ddof`] says otherwise); numerically stable.
        ///
        /// ```
        /// use rask_collections::array::{from_ndarray, ReduceOptions};
        /// let x = from_ndarray(&ndarray::array![1e9 + 1.0f64, 1e9 + 2.0, 1e9 + 3.0, 1e9 + 4.0], [3])?;
        /// assert_eq!(x.var(..)?.compute_scalar()?, 1.25);
        /// assert_eq!(x.var_with(.., &ReduceOptions::new().ddof(1))?.compute_scalar()?, 5.0 / 3.0);
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        var / var_with => Var -> T::Float;
        /// The variance of the elements that are not NaN.
        ///
        /// ```
        /// use rask_collections::array::from_ndarray;
        /// let x = from_ndarray(&ndarray::array![1.0, f64::NAN, 3.0], [2])?;
        /// assert_eq!(x.nanvar(..)?.compute_scalar()?, 1.0);
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        nanvar / nanvar_with => NanVar -> T::Float;
        /// The standard deviation: the square root of [`var`](Self::var).
        ///
        /// ```
        /// use rask_collections::array::from_ndarray;
        /// let x = from_ndarray(&ndarray::array![[1.0, 2.0], [3.0, 6.0]], [1, 1])?;
        /// assert_eq!(x.std(0)?.compute()?, ndarray::array![1.0, 2.0].into_dyn());
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        std / std_with => Std -> T::Float;
        /// The standard deviation of the elements that are not NaN.
        ///
        /// ```
        /// use rask_collections::array::from_ndarray;
        /// let x = from_ndarray(&ndarray::array![1.0, f64::NAN, 3.0], [2])?;
        /// assert_eq!(x.nanstd(..)?.compute_scalar()?, 1.0);
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        nanstd / nanstd_with => NanStd -> T::Float;
        /// The index of the smallest element along one axis, or in the C-order flattening
        /// (`..`): the first one on ties, the first NaN if there is one.
        ///
        /// ```
        /// use rask_collections::array::from_ndarray;
        /// let x = from_ndarray(&ndarray::array![[3, 1, 2], [1, 0, 0]], [1, 2])?;
        /// assert_eq!(x.argmin(..)?.compute_scalar()?, 4);
        /// assert_eq!(x.argmin(1)?.compute()?, ndarray::array![1i64, 1].into_dyn());
        /// assert!(x.argmin([0, 1]).is_err());
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        argmin / argmin_with => ArgMin -> i64;
        /// The index of the largest element along one axis, or in the C-order flattening
        /// (`..`): the first one on ties, the first NaN if there is one.
        ///
        /// ```
        /// use rask_collections::array::from_ndarray;
        /// let x = from_ndarray(&ndarray::array![1.0, 5.0, 5.0, f64::NAN, f64::NAN], [2])?;
        /// assert_eq!(x.argmax(..)?.compute_scalar()?, 3);
        /// # Ok::<(), rask_collections::Error>(())
        /// ```
        argmax / argmax_with => ArgMax -> i64;
    }

    /// The single element of a 0-d array (such as a reduction over all axes), computed on
    /// the default scheduler; an error for an array with axes.
    ///
    /// ```
    /// use rask_collections::array::from_ndarray;
    /// let x = from_ndarray(&ndarray::array![1.5f64, 2.5], [1])?;
    /// assert_eq!(x.sum(..)?.compute_scalar()?, 4.0);
    /// assert!(x.compute_scalar().unwrap_err().to_string().contains("shape [2]"));
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn compute_scalar(&self) -> Result<T> {
        self.compute_scalar_with(&ComputeOptions::default())
    }

    /// [`compute_scalar`](Self::compute_scalar) with `options`.
    pub fn compute_scalar_with(&self, options: &ComputeOptions) -> Result<T> {
        let raw = self.raw()?;
        let not_scalar = || Error::Shape(format!("compute_scalar needs a 0-d array, not one of shape {:?}", raw.shape));
        if !raw.shape.is_empty() {
            return Err(not_scalar());
        }
        self.compute_with(options)?.first().copied().ok_or_else(not_scalar)
    }
}

//! What a reduction is asked for: the axes it runs over ([`Axes`]) and its options
//! ([`ReduceOptions`]: `keepdims`, `split_every`, `ddof`).

use std::ops::RangeFull;

use crate::error::{Error, Result};

/// The axes a reduction runs over: all of them (`..`), one (`0`, `-1`) or several
/// (`[0, 2]`, `&[1, 2][..]`, `vec![0]`). Negative axes count from the end, as in numpy.
///
/// ```
/// use rask_collections::array::{from_ndarray, Axes};
/// let x = from_ndarray(&ndarray::Array3::<f64>::ones((2, 3, 4)), [1, 2, 2]).unwrap();
/// assert_eq!(x.sum(..).unwrap().shape(), &[] as &[usize]);
/// assert_eq!(x.sum(-1).unwrap().shape(), &[2, 3]);
/// assert_eq!(x.sum([0, 2]).unwrap().shape(), &[3]);
/// assert_eq!(Axes::from(vec![1usize]), Axes::List(vec![1]));
/// assert!(x.sum(3).unwrap_err().to_string().contains("axis 3 is out of bounds for an array of shape [2, 3, 4]"));
/// assert!(x.sum([1, -2]).unwrap_err().to_string().contains("repeated axis 1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Axes {
    /// Every axis (numpy's `axis=None`).
    All,
    /// These axes; negative ones count from the end.
    List(Vec<i64>),
}

impl From<RangeFull> for Axes {
    fn from(_: RangeFull) -> Self {
        Axes::All
    }
}

macro_rules! axes_from_integers {
    ($($t:ty),*) => {$(
        impl From<$t> for Axes {
            fn from(axis: $t) -> Self {
                Axes::List(vec![axis as i64])
            }
        }
        impl<const N: usize> From<[$t; N]> for Axes {
            fn from(axes: [$t; N]) -> Self {
                Axes::from(&axes[..])
            }
        }
        impl From<&[$t]> for Axes {
            fn from(axes: &[$t]) -> Self {
                Axes::List(axes.iter().map(|&a| a as i64).collect())
            }
        }
        impl From<Vec<$t>> for Axes {
            fn from(axes: Vec<$t>) -> Self {
                Axes::from(axes.as_slice())
            }
        }
    )*};
}
axes_from_integers!(i32, i64, isize, u32, usize);

impl Axes {
    /// The axes of an array of `shape` as sorted non-negative indices, or an error naming
    /// the operation `what`, the bad or repeated axis, and the shape.
    pub(crate) fn resolve(&self, what: &str, shape: &[usize]) -> Result<Vec<usize>> {
        let list = match self {
            Axes::All => return Ok((0..shape.len()).collect()),
            Axes::List(list) => list,
        };
        let mut axes = list.iter().map(|&a| normalize_axis(what, a, shape)).collect::<Result<Vec<_>>>()?;
        axes.sort_unstable();
        if let Some(w) = axes.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::Shape(format!(
                "{what}: repeated axis {} in {list:?} for an array of shape {shape:?}",
                w[0]
            )));
        }
        Ok(axes)
    }
}

/// `axis` of an array of `shape` as a non-negative index (negative counts from the end),
/// or an error naming the operation `what`, the axis and the shape.
pub(crate) fn normalize_axis(what: &str, axis: i64, shape: &[usize]) -> Result<usize> {
    let ndim = shape.len() as i64;
    if !(-ndim..ndim).contains(&axis) {
        return Err(Error::Shape(format!("{what}: axis {axis} is out of bounds for an array of shape {shape:?}")));
    }
    Ok(if axis < 0 { axis + ndim } else { axis } as usize)
}

/// Options of a reduction, built like `ReduceOptions::new().keepdims(true).split_every(4).ddof(1)`.
///
/// - `keepdims`: keep the reduced axes with length 1 (default false);
/// - `split_every`: how many partial results a combine task merges, as Dask's: `n` in
///   all, so `max(⌊n^(1/k)⌋, 2)` per axis when reducing over `k` axes (default 16);
/// - `ddof`: `var` and `std` divide by `max(n - ddof, 0)` (default 0).
///
/// ```
/// use rask_collections::array::{from_ndarray, ReduceOptions};
/// let x = from_ndarray(&ndarray::array![[1.0, 2.0], [3.0, 5.0]], [1, 1]).unwrap();
/// let options = ReduceOptions::new().keepdims(true).split_every(4).ddof(1);
/// let var = x.var_with(0, &options).unwrap();
/// assert_eq!(var.shape(), &[1, 2]);
/// assert_eq!(var.compute().unwrap(), ndarray::array![[2.0, 4.5]].into_dyn());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReduceOptions {
    pub(crate) keepdims: bool,
    pub(crate) split_every: Option<usize>,
    pub(crate) ddof: usize,
}

impl ReduceOptions {
    /// The defaults: no keepdims, Dask's split_every (16), ddof 0.
    pub fn new() -> Self {
        ReduceOptions::default()
    }

    /// Keeps the reduced axes with length 1.
    pub fn keepdims(mut self, on: bool) -> Self {
        self.keepdims = on;
        self
    }

    /// Merges up to `n` partial results per combine task (rooted per reduced axis).
    pub fn split_every(mut self, n: usize) -> Self {
        self.split_every = Some(n);
        self
    }

    /// The "delta degrees of freedom" of `var` and `std`.
    pub fn ddof(mut self, ddof: usize) -> Self {
        self.ddof = ddof;
        self
    }

    /// How many partial results one combine task merges along each of `reduced` axes:
    /// Dask's `max(int(split_every ** (1 / reduced)), 2)`.
    pub(crate) fn fan_in(&self, reduced: usize) -> usize {
        let total = self.split_every.unwrap_or(16) as f64;
        let per_axis = total.powf(1.0 / reduced.max(1) as f64) as usize;
        per_axis.max(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_in_is_dasks() {
        let default = ReduceOptions::new();
        assert_eq!((default.fan_in(1), default.fan_in(2), default.fan_in(3), default.fan_in(5)), (16, 4, 2, 2));
        assert_eq!(ReduceOptions::new().split_every(1).fan_in(1), 2);
        assert_eq!(ReduceOptions::new().split_every(100).fan_in(2), 10);
        assert_eq!(ReduceOptions::new().split_every(8).fan_in(0), 8);
    }

    #[test]
    fn axes_resolve_against_the_shape() {
        assert_eq!(Axes::from(..).resolve("sum", &[2, 3]).unwrap(), vec![0, 1]);
        assert_eq!(Axes::from([-1, 0]).resolve("sum", &[2, 3]).unwrap(), vec![0, 1]);
        assert_eq!(Axes::from(Vec::<i32>::new()).resolve("sum", &[2, 3]).unwrap(), Vec::<usize>::new());
        let e = Axes::from(-3).resolve("mean", &[2, 3]).unwrap_err().to_string();
        assert_eq!(e, "mean: axis -3 is out of bounds for an array of shape [2, 3]");
        let e = Axes::from(0).resolve("max", &[]).unwrap_err().to_string();
        assert!(e.contains("axis 0") && e.contains("[]"), "{e}");
    }
}

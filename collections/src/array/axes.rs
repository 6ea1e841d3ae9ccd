//! Naming axes: the one argument type every function that takes axes accepts ([`Axes`]),
//! and the one check that turns it into axis indices ([`normalize_axes`]), so every such
//! function reads and reports axes alike: `sum: axis 2 is out of bounds for an array of
//! shape [3, 4]`, `transpose: repeated axis 0 in [0, -3] for an array of shape [2, 3, 4]`.

use std::ops::RangeFull;

use crate::error::{Error, Result};

/// Axes of an array: all of them (`..`), one (`0`, `-1`) or several (`[0, 2]`,
/// `&[1, 2][..]`, `vec![0]`). Negative axes count from the end, as in numpy. Reductions
/// take it (`..` is numpy's `axis=None`), and so does [`Array::squeeze`](super::Array::squeeze)
/// (`..` removes every axis of length 1).
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
                Axes::from(&[axis][..])
            }
        }
        impl<const N: usize> From<[$t; N]> for Axes {
            fn from(axes: [$t; N]) -> Self {
                Axes::from(&axes[..])
            }
        }
        impl From<&[$t]> for Axes {
            /// An axis too large for an `i64` (a `u64` or `usize` above `i64::MAX`) is
            /// kept as `i64::MAX`, which is out of bounds as well.
            fn from(axes: &[$t]) -> Self {
                Axes::List(axes.iter().map(|&a| i64::try_from(a).unwrap_or(i64::MAX)).collect())
            }
        }
        impl From<Vec<$t>> for Axes {
            fn from(axes: Vec<$t>) -> Self {
                Axes::from(axes.as_slice())
            }
        }
    )*};
}
axes_from_integers!(i32, i64, isize, u32, u64, usize);

/// `axes` of an array of `ndim` axes as indices, in the order given (`Axes::All`: every
/// axis in order), or an error naming the function `what`, the axis out of bounds or
/// repeated, and the `shapes` of the arrays involved. `ndim` is the number of axes
/// `what` counts in: the arrays' own, or one more where it inserts an axis
/// (`expand_dims`, `stack`).
pub(crate) fn normalize_axes(what: &str, axes: &Axes, ndim: usize, shapes: &[&[usize]]) -> Result<Vec<usize>> {
    let list = match axes {
        Axes::All => return Ok((0..ndim).collect()),
        Axes::List(list) => list,
    };
    let in_bounds = |&axis: &i64| {
        let index = if axis < 0 { axis.checked_add(ndim as i64) } else { Some(axis) };
        index.filter(|i| (0..ndim as i64).contains(i)).map(|i| i as usize).ok_or_else(|| {
            Error::Shape(format!("{what}: axis {axis} is out of bounds for {}", described(ndim, shapes)))
        })
    };
    let resolved = list.iter().map(in_bounds).collect::<Result<Vec<_>>>()?;
    if let Some(i) = (1..resolved.len()).find(|&i| resolved[..i].contains(&resolved[i])) {
        return Err(Error::Shape(format!(
            "{what}: repeated axis {} in {list:?} for {}",
            resolved[i],
            described(ndim, shapes)
        )));
    }
    Ok(resolved)
}

/// One `axis` checked by [`normalize_axes`].
pub(crate) fn normalize_axis(what: &str, axis: isize, ndim: usize, shapes: &[&[usize]]) -> Result<usize> {
    Ok(normalize_axes(what, &Axes::from(axis), ndim, shapes)?[0])
}

/// The arrays of `shapes`, seen by a function that counts `ndim` axes: `an array of shape
/// [3, 4]`, `arrays of shapes [2, 3], [2, 4]`, or `the 3 axes of the result (an array of
/// shape [3, 4] and a new axis)`.
fn described(ndim: usize, shapes: &[&[usize]]) -> String {
    let arrays = match shapes {
        [one] => format!("an array of shape {one:?}"),
        many => format!("arrays of shapes {}", shape_list(many)),
    };
    match shapes.first() {
        Some(first) if first.len() != ndim => format!("the {ndim} axes of the result ({arrays} and a new axis)"),
        _ => arrays,
    }
}

/// The shapes, as `[2, 3], [4]`.
pub(crate) fn shape_list(shapes: &[&[usize]]) -> String {
    shapes.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(axes: impl Into<Axes>, ndim: usize, shapes: &[&[usize]]) -> String {
        normalize_axes("f", &axes.into(), ndim, shapes).unwrap_err().to_string()
    }

    #[test]
    fn axes_normalize_in_order_against_the_number_of_axes() {
        let check = |axes: Axes, ndim| normalize_axes("f", &axes, ndim, &[&[2, 3, 4]]).unwrap();
        assert_eq!(check(Axes::All, 3), vec![0, 1, 2]);
        assert_eq!(check([-1, 0].into(), 3), vec![2, 0]);
        assert_eq!(check(Vec::<i32>::new().into(), 3), Vec::<usize>::new());
        assert_eq!(check(3usize.into(), 4), vec![3]);
        assert_eq!(normalize_axis("f", -4, 4, &[&[2, 3, 4]]).unwrap(), 0);
    }

    #[test]
    fn errors_name_the_function_the_axis_and_the_shapes() {
        assert_eq!(error(-3, 2, &[&[2, 3]]), "f: axis -3 is out of bounds for an array of shape [2, 3]");
        assert_eq!(error(0, 0, &[&[]]), "f: axis 0 is out of bounds for an array of shape []");
        assert_eq!(error([1, -1], 2, &[&[2, 3]]), "f: repeated axis 1 in [1, -1] for an array of shape [2, 3]");
        assert_eq!(error(2, 2, &[&[2, 3], &[2, 4]]), "f: axis 2 is out of bounds for arrays of shapes [2, 3], [2, 4]");
        assert_eq!(
            error(-4, 3, &[&[2, 3]]),
            "f: axis -4 is out of bounds for the 3 axes of the result (an array of shape [2, 3] and a new axis)"
        );
        assert_eq!(
            error(i64::MIN, 2, &[&[2, 3]]),
            format!("f: axis {} is out of bounds for an array of shape [2, 3]", i64::MIN)
        );
        assert!(error(usize::MAX, 2, &[&[2, 3]]).contains(&format!("axis {}", i64::MAX)));
    }
}

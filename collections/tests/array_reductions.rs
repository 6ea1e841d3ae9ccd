//! Reductions and scans against the same operations done eagerly with ndarray on whole
//! arrays, over random shapes, chunkings (irregular, 0-d, one-element and empty arrays),
//! axes, keepdims and split_every, with NaN-containing data and all-NaN blocks, for float,
//! integer and bool arrays, on every scheduler; plus the numpy rules and error messages.

use std::sync::Arc;

use ndarray::{ArrayD, Axis, Dimension, IxDyn};
use proptest::prelude::*;
use rask_collections::array::{
    self, Array, Axes, ChunkSpec, CombinePartials, Finish, ReduceBlock, ReduceOptions, Reducer, Scan, ScanBlock,
    from_ndarray,
};
use rask_graph::{ArrayChunk, DType, Op, Value, args};

mod common;
use common::{f64_data, options, shape_and_chunks};

/// The elements each output position reduces (C order over the reduced axes), and the
/// output's shape.
fn lanes<T: Clone>(a: &ArrayD<T>, axes: &[usize], keepdims: bool) -> (Vec<Vec<T>>, Vec<usize>) {
    let kept: Vec<usize> = (0..a.ndim()).filter(|x| !axes.contains(x)).collect();
    let order: Vec<usize> = kept.iter().chain(axes).copied().collect();
    let elements: Vec<T> = a.view().permuted_axes(order).iter().cloned().collect();
    let rows: usize = kept.iter().map(|&x| a.shape()[x]).product();
    let n: usize = axes.iter().map(|&x| a.shape()[x]).product();
    let lanes = (0..rows).map(|r| elements[r * n..(r + 1) * n].to_vec()).collect();
    let shape = (0..a.ndim())
        .filter(|x| keepdims || !axes.contains(x))
        .map(|x| if axes.contains(&x) { 1 } else { a.shape()[x] });
    (lanes, shape.collect())
}

/// `a` reduced eagerly over `axes` by `f` of each lane.
fn eager<T: Clone, U>(a: &ArrayD<T>, axes: &[usize], keepdims: bool, f: impl Fn(&[T]) -> U) -> ArrayD<U> {
    let (lanes, shape) = lanes(a, axes, keepdims);
    ArrayD::from_shape_vec(IxDyn(&shape), lanes.iter().map(|lane| f(lane)).collect()).unwrap()
}

fn present(lane: &[f64]) -> Vec<f64> {
    lane.iter().copied().filter(|x| !x.is_nan()).collect()
}

fn mean(lane: &[f64]) -> f64 {
    lane.iter().sum::<f64>() / lane.len() as f64
}

/// numpy's two-pass variance, dividing by max(n - ddof, 0).
fn var(lane: &[f64], ddof: usize) -> f64 {
    let m = mean(lane);
    lane.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (lane.len() as f64 - ddof as f64).max(0.0)
}

/// numpy's min/max: NaN propagates.
fn extreme(lane: &[f64], max: bool) -> f64 {
    lane.iter().fold(if max { f64::NEG_INFINITY } else { f64::INFINITY }, |acc, &x| {
        if acc.is_nan() || x.is_nan() {
            f64::NAN
        } else if max {
            acc.max(x)
        } else {
            acc.min(x)
        }
    })
}

/// The index of the first best element, the first NaN counting as best.
fn arg_best<T: Copy + PartialOrd>(lane: &[T], max: bool) -> i64 {
    #[allow(clippy::eq_op)]
    let is_nan = |x: T| x != x;
    if let Some(i) = lane.iter().position(|&x| is_nan(x)) {
        return i as i64;
    }
    let mut best = 0;
    for (i, &x) in lane.iter().enumerate() {
        if (max && x > lane[best]) || (!max && x < lane[best]) {
            best = i;
        }
    }
    best as i64
}

fn close(a: &ArrayD<f64>, b: &ArrayD<f64>) -> bool {
    a.shape() == b.shape()
        && a.iter().zip(b).all(|(&x, &y)| {
            x == y || (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        })
}

/// Computes `x` on every scheduler and checks it with `ok` against `expected`.
fn check<T: rask_graph::Element>(
    what: &str,
    x: &Array<T>,
    expected: &ArrayD<T>,
    ok: impl Fn(&ArrayD<T>, &ArrayD<T>) -> bool,
) -> Result<(), TestCaseError> {
    for options in options() {
        let got = x.compute_with(&options).map_err(|e| TestCaseError::fail(format!("{what}: {e}")))?;
        prop_assert!(ok(&got, expected), "{}: got {:?}, expected {:?}", what, got, expected);
    }
    Ok(())
}

/// A random reduction problem.
#[derive(Debug, Clone)]
struct Case {
    data: ArrayD<f64>,
    chunks: ChunkSpec,
    axes: Vec<usize>,
    spec: Axes,
    options: ReduceOptions,
    keepdims: bool,
    ddof: usize,
}

/// NaN nowhere, here and there, or over the whole first block along axis 0 (an all-NaN
/// block) and here and there.
fn add_nans(data: &mut ArrayD<f64>, chunks: &ChunkSpec, mode: u8, seed: u64) {
    let resolved = chunks.resolve(data.shape()).unwrap();
    for (i, (index, x)) in data.indexed_iter_mut().enumerate() {
        let sprinkled = mode > 0 && (i as u64).wrapping_mul(seed | 1).rotate_left(17).is_multiple_of(5);
        let first_block = mode == 2 && index.slice().first().is_none_or(|&row| row < resolved[0][0]);
        if sprinkled || first_block {
            *x = f64::NAN;
        }
    }
}

fn case(nan_modes: u8) -> impl Strategy<Value = Case> {
    let options = (any::<bool>(), prop::option::of(1usize..7), 0usize..3);
    (shape_and_chunks(), any::<u64>(), any::<u8>(), 0u8..3, options, 0..nan_modes).prop_map(
        |((shape, chunks), seed, mask, form, (keepdims, split_every, ddof), nans)| {
            let ndim = shape.len();
            let mut data = f64_data(&shape, seed);
            add_nans(&mut data, &chunks, nans, seed);
            let axes: Vec<usize> = (0..ndim).filter(|a| form == 0 || mask >> a & 1 == 1).collect();
            let spec = match form {
                0 => Axes::All,
                1 => Axes::List(axes.iter().map(|&a| a as i64).collect()),
                _ => Axes::List(axes.iter().map(|&a| a as i64 - ndim as i64).collect()),
            };
            let mut options = ReduceOptions::new().keepdims(keepdims).ddof(ddof);
            if let Some(n) = split_every {
                options = options.split_every(n);
            }
            Case { data, chunks, axes, spec, options, keepdims, ddof }
        },
    )
}

impl Case {
    fn eager<U>(&self, f: impl Fn(&[f64]) -> U) -> ArrayD<U> {
        eager(&self.data, &self.axes, self.keepdims, f)
    }

    /// Whether min/max are defined: something to reduce, or nothing to compute.
    fn has_extremes(&self) -> bool {
        let shape = self.data.shape();
        self.axes.iter().all(|&a| shape[a] > 0) || (0..shape.len()).any(|a| !self.axes.contains(&a) && shape[a] == 0)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn float_reductions_match_ndarray(c in case(3)) {
        let x = from_ndarray(&c.data, c.chunks.clone()).unwrap();
        let (axes, o) = (c.spec.clone(), &c.options);
        check("sum", &x.sum_with(axes.clone(), o).unwrap(), &c.eager(|l| l.iter().sum()), close)?;
        check("prod", &x.prod_with(axes.clone(), o).unwrap(), &c.eager(|l| l.iter().product()), close)?;
        check("mean", &x.mean_with(axes.clone(), o).unwrap(), &c.eager(mean), close)?;
        check("var", &x.var_with(axes.clone(), o).unwrap(), &c.eager(|l| var(l, c.ddof)), close)?;
        check("std", &x.std_with(axes.clone(), o).unwrap(), &c.eager(|l| var(l, c.ddof).sqrt()), close)?;
        check("nansum", &x.nansum_with(axes.clone(), o).unwrap(), &c.eager(|l| present(l).iter().sum()), close)?;
        check("nanprod", &x.nanprod_with(axes.clone(), o).unwrap(), &c.eager(|l| present(l).iter().product()), close)?;
        check("nanmean", &x.nanmean_with(axes.clone(), o).unwrap(), &c.eager(|l| mean(&present(l))), close)?;
        check("nanvar", &x.nanvar_with(axes.clone(), o).unwrap(), &c.eager(|l| var(&present(l), c.ddof)), close)?;
        check("nanstd", &x.nanstd_with(axes.clone(), o).unwrap(), &c.eager(|l| var(&present(l), c.ddof).sqrt()), close)?;
        check("any", &x.any_with(axes.clone(), o).unwrap(), &c.eager(|l| l.iter().any(|&v| v != 0.0)), PartialEq::eq)?;
        check("all", &x.all_with(axes.clone(), o).unwrap(), &c.eager(|l| l.iter().all(|&v| v != 0.0)), PartialEq::eq)?;
        if c.has_extremes() {
            check("min", &x.min_with(axes.clone(), o).unwrap(), &c.eager(|l| extreme(l, false)), close)?;
            check("max", &x.max_with(axes.clone(), o).unwrap(), &c.eager(|l| extreme(l, true)), close)?;
            let nanmin = |l: &[f64]| present(l).into_iter().reduce(f64::min).unwrap_or(f64::NAN);
            check("nanmin", &x.nanmin_with(axes.clone(), o).unwrap(), &c.eager(nanmin), close)?;
            let nanmax = |l: &[f64]| present(l).into_iter().reduce(f64::max).unwrap_or(f64::NAN);
            check("nanmax", &x.nanmax_with(axes.clone(), o).unwrap(), &c.eager(nanmax), close)?;
        } else {
            let e = x.min_with(axes.clone(), o).unwrap_err().to_string();
            prop_assert!(e.contains("no identity") && e.contains(&format!("{:?}", c.data.shape())), "{}", e);
            prop_assert!(x.nanmax_with(axes, o).is_err());
        }
    }

    #[test]
    fn argmin_and_argmax_take_the_first_best_whatever_the_chunking(c in case(3), axis in any::<i8>(), coarse in any::<bool>()) {
        // Coarse data has many ties.
        let data = if coarse { c.data.mapv(|v| (v * 0.3).round()) } else { c.data.clone() };
        let x = from_ndarray(&data, c.chunks.clone()).unwrap();
        let ndim = data.ndim() as i64;
        let (spec, axes) = match (ndim, axis % 3) {
            (0, _) | (_, 0) => (Axes::All, (0..ndim as usize).collect::<Vec<_>>()),
            _ => {
                let a = axis as i64 % ndim;
                (Axes::from(a), vec![a.rem_euclid(ndim) as usize])
            }
        };
        let keepdims = c.keepdims && spec != Axes::All;
        let o = &c.options.clone().keepdims(keepdims);
        if axes.iter().any(|&a| data.shape()[a] == 0) {
            let e = x.argmin_with(spec, o).unwrap_err().to_string();
            prop_assert!(e.contains("empty sequence") && e.contains(&format!("{:?}", data.shape())), "{}", e);
            return Ok(());
        }
        let eq = PartialEq::eq;
        check("argmin", &x.argmin_with(spec.clone(), o).unwrap(), &eager(&data, &axes, keepdims, |l| arg_best(l, false)), eq)?;
        check("argmax", &x.argmax_with(spec, o).unwrap(), &eager(&data, &axes, keepdims, |l| arg_best(l, true)), eq)?;
    }

    #[test]
    fn integer_and_bool_reductions_are_exact(c in case(1)) {
        let ints = c.data.mapv(|v| (v * 4.0) as i32);
        let x = from_ndarray(&ints, c.chunks.clone()).unwrap();
        let (axes, o) = (c.spec.clone(), &c.options);
        let wide = |l: &[i32]| l.iter().map(|&v| v as i64).collect::<Vec<_>>();
        let int_eager = |f: &dyn Fn(&[i32]) -> i64| eager(&ints, &c.axes, c.keepdims, f);
        let sum: Array<i64> = x.sum_with(axes.clone(), o).unwrap();
        check("int sum", &sum, &int_eager(&|l| wide(l).iter().sum()), PartialEq::eq)?;
        check("int nansum", &x.nansum_with(axes.clone(), o).unwrap(), &int_eager(&|l| wide(l).iter().sum()), PartialEq::eq)?;
        let product = |l: &[i32]| wide(l).iter().fold(1i64, |a, &b| a.wrapping_mul(b));
        check("int prod", &x.prod_with(axes.clone(), o).unwrap(), &int_eager(&product), PartialEq::eq)?;
        let floats = |l: &[i32]| l.iter().map(|&v| v as f64).collect::<Vec<_>>();
        let mean_of: Array<f64> = x.mean_with(axes.clone(), o).unwrap();
        check("int mean", &mean_of, &eager(&ints, &c.axes, c.keepdims, |l| mean(&floats(l))), close)?;
        check("int var", &x.var_with(axes.clone(), o).unwrap(), &eager(&ints, &c.axes, c.keepdims, |l| var(&floats(l), c.ddof)), close)?;
        if c.has_extremes() {
            let min = |l: &[i32]| l.iter().copied().fold(i32::MAX, i32::min);
            check("int min", &x.min_with(axes.clone(), o).unwrap(), &eager(&ints, &c.axes, c.keepdims, min), PartialEq::eq)?;
            let max = |l: &[i32]| l.iter().copied().fold(i32::MIN, i32::max);
            check("int nanmax", &x.nanmax_with(axes.clone(), o).unwrap(), &eager(&ints, &c.axes, c.keepdims, max), PartialEq::eq)?;
        }
        let bools = c.data.mapv(|v| v > 0.0);
        let b = from_ndarray(&bools, c.chunks.clone()).unwrap();
        let count = |l: &[bool]| l.iter().filter(|&&v| v).count() as i64;
        check("bool sum", &b.sum_with(axes.clone(), o).unwrap(), &eager(&bools, &c.axes, c.keepdims, count), PartialEq::eq)?;
        check("bool any", &b.any_with(axes.clone(), o).unwrap(), &eager(&bools, &c.axes, c.keepdims, |l| l.iter().any(|&v| v)), PartialEq::eq)?;
        check("bool all", &b.all_with(axes.clone(), o).unwrap(), &eager(&bools, &c.axes, c.keepdims, |l| l.iter().all(|&v| v)), PartialEq::eq)?;
        let fraction = |l: &[bool]| count(l) as f64 / l.len() as f64;
        check("bool mean", &b.mean_with(axes.clone(), o).unwrap(), &eager(&bools, &c.axes, c.keepdims, fraction), close)?;
        if c.has_extremes() {
            let max = |l: &[bool]| l.iter().any(|&v| v);
            check("bool max", &b.max_with(axes, o).unwrap(), &eager(&bools, &c.axes, c.keepdims, max), PartialEq::eq)?;
        }
    }

    #[test]
    fn scans_match_ndarray(((shape, chunks), seed) in (shape_and_chunks(), any::<u64>()), axis in any::<i8>()) {
        let data = f64_data(&shape, seed);
        let x = from_ndarray(&data, chunks.clone()).unwrap();
        let ndim = shape.len() as i64;
        if ndim == 0 {
            prop_assert!(x.cumsum(0).unwrap_err().to_string().contains("out of bounds"));
            return Ok(());
        }
        let axis = axis as i64 % ndim;
        let along = Axis(axis.rem_euclid(ndim) as usize);
        let mut sums = data.clone();
        sums.accumulate_axis_inplace(along, |&prev, cur| *cur += prev);
        check("cumsum", &x.cumsum(axis as isize).unwrap(), &sums, close)?;
        let mut products = data.clone();
        products.accumulate_axis_inplace(along, |&prev, cur| *cur *= prev);
        check("cumprod", &x.cumprod(axis as isize).unwrap(), &products, close)?;
        let ints = data.mapv(|v| (v * 4.0) as i32 + i32::MAX / 2);
        let mut wide = ints.mapv(|v| v as i64);
        wide.accumulate_axis_inplace(along, |&prev, cur| *cur += prev);
        let int_sums: Array<i64> = from_ndarray(&ints, chunks).unwrap().cumsum(axis as isize).unwrap();
        check("int cumsum", &int_sums, &wide, PartialEq::eq)?;
    }

    #[test]
    fn single_axis_reductions_match_ndarrays_axis_methods(c in case(1), axis in any::<u8>()) {
        prop_assume!(c.data.ndim() > 0 && !c.data.is_empty());
        let a = axis as usize % c.data.ndim();
        let x = from_ndarray(&c.data, c.chunks.clone()).unwrap();
        let o = ReduceOptions::new().ddof(c.ddof);
        prop_assert!(close(&x.sum(a).unwrap().compute().unwrap(), &c.data.sum_axis(Axis(a))));
        prop_assert!(close(&x.mean(a).unwrap().compute().unwrap(), &c.data.mean_axis(Axis(a)).unwrap()));
        if c.data.shape()[a] > c.ddof {
            prop_assert!(close(&x.var_with(a, &o).unwrap().compute().unwrap(), &c.data.var_axis(Axis(a), c.ddof as f64)));
            prop_assert!(close(&x.std_with(a, &o).unwrap().compute().unwrap(), &c.data.std_axis(Axis(a), c.ddof as f64)));
        }
    }
}

#[test]
fn result_types_follow_numpy_2() {
    let i = from_ndarray(&ndarray::array![i32::MAX, i32::MAX, 3], [2]).unwrap();
    let sum: Array<i64> = i.sum(..).unwrap();
    assert_eq!(sum.compute_scalar().unwrap(), 2 * i32::MAX as i64 + 3);
    let mean: Array<f64> = i.mean(0).unwrap();
    assert_eq!(mean.dtype(), DType::F64);
    let f = from_ndarray(&ndarray::array![1.0f32, 2.0, 4.0], [2]).unwrap();
    let (fm, fs, fv): (Array<f32>, Array<f32>, Array<f32>) =
        (f.mean(..).unwrap(), f.sum(..).unwrap(), f.var(..).unwrap());
    assert_eq!((fm.compute_scalar().unwrap(), fs.compute_scalar().unwrap()), (7.0 / 3.0, 7.0));
    assert!((fv.compute_scalar().unwrap() - 14.0 / 9.0).abs() < 1e-6);
    let b = from_ndarray(&ndarray::array![true, true, false], [1]).unwrap();
    let (count, product): (Array<i64>, Array<i64>) = (b.sum(..).unwrap(), b.prod(..).unwrap());
    assert_eq!((count.compute_scalar().unwrap(), product.compute_scalar().unwrap()), (2, 0));
    let (min, arg): (Array<bool>, Array<i64>) = (b.min(..).unwrap(), b.argmin(..).unwrap());
    assert_eq!((min.compute_scalar().unwrap(), arg.compute_scalar().unwrap()), (false, 2));
    let running: Array<i64> = b.cumsum(0).unwrap();
    assert_eq!(running.compute().unwrap(), ndarray::array![1i64, 2, 2].into_dyn());
    let wide: Array<i64> = i.cumsum(0).unwrap();
    assert_eq!(wide.compute().unwrap()[1], 2 * i32::MAX as i64);
}

#[test]
fn empty_reductions_follow_numpy() {
    let empty = from_ndarray(&ndarray::Array2::<f64>::zeros((0, 3)), [2, 2]).unwrap();
    assert_eq!(empty.sum(..).unwrap().compute_scalar().unwrap(), 0.0);
    assert_eq!(empty.prod(..).unwrap().compute_scalar().unwrap(), 1.0);
    assert!(empty.mean(..).unwrap().compute_scalar().unwrap().is_nan());
    assert!(empty.var(0).unwrap().compute().unwrap().iter().all(|v| v.is_nan()));
    assert_eq!(empty.nansum(0).unwrap().compute().unwrap(), ndarray::array![0.0, 0.0, 0.0].into_dyn());
    assert_eq!(empty.min(1).unwrap().compute().unwrap().shape(), &[0], "nothing to compute is fine");
    let e = empty.max(0).unwrap_err().to_string();
    assert_eq!(e, "max: zero-size array to reduction operation max which has no identity (axis 0 of shape [0, 3])");
    let e = empty.argmin(0).unwrap_err().to_string();
    assert_eq!(e, "argmin: attempt to get argmin of an empty sequence (axis 0 of shape [0, 3])");
    assert_eq!(empty.argmin(1).unwrap().compute().unwrap().shape(), &[0]);
    assert!(empty.argmax(..).is_err());
    assert!(empty.nanmin(..).is_err());
    assert!(!empty.any(..).unwrap().compute_scalar().unwrap());
    assert!(empty.all(..).unwrap().compute_scalar().unwrap());
    let one = from_ndarray(&ndarray::array![4.0f64], [1]).unwrap();
    let ddof = |d| one.var_with(.., &ReduceOptions::new().ddof(d)).unwrap().compute_scalar().unwrap();
    assert_eq!(ddof(0), 0.0);
    assert!(ddof(1).is_nan() && ddof(2).is_nan());
    let scalar = from_ndarray(&ndarray::arr0(2.5f64), ChunkSpec::Whole).unwrap();
    assert_eq!(scalar.max(..).unwrap().compute_scalar().unwrap(), 2.5);
    assert_eq!(scalar.argmax(..).unwrap().compute_scalar().unwrap(), 0);
    assert_eq!(scalar.sum(Vec::<i32>::new()).unwrap().compute_scalar().unwrap(), 2.5);
}

#[test]
fn nan_reductions_skip_nan_and_an_all_nan_block_poisons_nothing() {
    let nan = f64::NAN;
    let data = ndarray::array![[nan, nan, 1.0], [nan, nan, nan], [nan, 2.0, -3.0]];
    for chunks in [[1, 2], [2, 1], [3, 3]] {
        let x = from_ndarray(&data, chunks).unwrap();
        let nanmax = x.nanmax(0).unwrap().compute().unwrap();
        assert!(nanmax[0].is_nan() && nanmax[1] == 2.0 && nanmax[2] == 1.0, "{chunks:?}: {nanmax}");
        assert_eq!(x.nanmin(..).unwrap().compute_scalar().unwrap(), -3.0);
        assert_eq!(x.nansum(0).unwrap().compute().unwrap(), ndarray::array![0.0, 2.0, -2.0].into_dyn());
        let nanmean = x.nanmean(0).unwrap().compute().unwrap();
        assert!(nanmean[0].is_nan() && nanmean[1] == 2.0 && nanmean[2] == -1.0);
        assert_eq!(x.nanvar(..).unwrap().compute_scalar().unwrap(), var(&[1.0, 2.0, -3.0], 0));
        assert!(x.max(..).unwrap().compute_scalar().unwrap().is_nan());
        assert_eq!(x.argmax(..).unwrap().compute_scalar().unwrap(), 0, "the first NaN");
        assert_eq!(x.argmin(1).unwrap().compute().unwrap(), ndarray::array![0i64, 0, 0].into_dyn());
    }
}

#[test]
fn ties_go_to_the_smallest_index_on_every_chunking() {
    let data = ndarray::array![[5, 1, 3], [1, 1, 0], [0, 7, 7]];
    for chunks in [vec![vec![1, 1, 1], vec![1, 1, 1]], vec![vec![2, 1], vec![1, 2]], vec![vec![3], vec![3]]] {
        let x = from_ndarray(&data, chunks).unwrap();
        assert_eq!(x.argmin(..).unwrap().compute_scalar().unwrap(), 5);
        assert_eq!(x.argmax(..).unwrap().compute_scalar().unwrap(), 7);
        assert_eq!(x.argmin(0).unwrap().compute().unwrap(), ndarray::array![2i64, 0, 1].into_dyn());
        assert_eq!(x.argmax(-1).unwrap().compute().unwrap(), ndarray::array![0i64, 0, 1].into_dyn());
        let o = ReduceOptions::new().keepdims(true).split_every(2);
        assert_eq!(x.argmin_with(1, &o).unwrap().compute().unwrap(), ndarray::array![[1i64], [2], [0]].into_dyn());
    }
}

#[test]
fn variance_is_stable_for_large_values_with_a_small_spread() {
    let data = ndarray::Array1::from_iter((0..1000).map(|i| 1e9 + (i % 7) as f64));
    let expected = var(&(0..1000).map(|i| (i % 7) as f64).collect::<Vec<_>>(), 0);
    for chunks in [7, 100, 1000] {
        let x = from_ndarray(&data, [chunks]).unwrap();
        let got = x.var(..).unwrap().compute_scalar().unwrap();
        assert!((got - expected).abs() < 1e-6, "{chunks}: {got} vs {expected}");
    }
}

#[test]
fn axis_mistakes_are_errors_naming_the_axis_and_the_shape() {
    let x = array::zeros::<f64>(&[3, 4], [2, 2]).unwrap();
    assert_eq!(x.sum(2).unwrap_err().to_string(), "sum: axis 2 is out of bounds for an array of shape [3, 4]");
    assert_eq!(x.mean(-3).unwrap_err().to_string(), "mean: axis -3 is out of bounds for an array of shape [3, 4]");
    let e = x.var([0, -2]).unwrap_err().to_string();
    assert_eq!(e, "var: repeated axis 0 in [0, -2] for an array of shape [3, 4]");
    let e = x.argmin([0, 1]).unwrap_err().to_string();
    assert!(e.contains("one axis or all") && e.contains("[3, 4]"), "{e}");
    assert!(x.cumprod(-3).unwrap_err().to_string().contains("cumprod: axis -3"));
    let e = x.compute_scalar().unwrap_err().to_string();
    assert!(e.contains("0-d") && e.contains("[3, 4]"), "{e}");
    let broken = &x + &array::zeros::<f64>(&[5], [5]).unwrap();
    assert!(broken.sum(..).unwrap_err().to_string().contains("do not broadcast"));
}

#[test]
fn the_tree_groups_split_every_blocks_per_axis_as_dask_does() {
    let x = array::ones::<f64>(&[100, 100], [10, 10]).unwrap();
    // 100 blocks, 100 chunk tasks; fan-in 4 per axis: 3x3 partials, then the aggregate.
    let total = x.sum(..).unwrap();
    assert_eq!(total.task_count(), 100 + 100 + 9 + 1);
    assert_eq!(
        total.to_string(),
        "rask.Array<sum-aggregate, shape=(), dtype=float64, chunksize=(), chunktype=ndarray, tasks=210>"
    );
    assert_eq!(total.compute_scalar().unwrap(), 10_000.0);
    let wide = x.sum_with(.., &ReduceOptions::new().split_every(100)).unwrap();
    assert_eq!(wide.task_count(), 100 + 100 + 1);
    let narrow = x.sum_with(.., &ReduceOptions::new().split_every(2)).unwrap();
    assert_eq!(narrow.task_count(), 100 + 100 + 25 + 9 + 4 + 1);
    assert_eq!(narrow.compute_scalar().unwrap(), 10_000.0);
    // One axis: fan-in 16 > 10 blocks, so the aggregate takes a whole column of blocks.
    let columns = x.mean(0).unwrap();
    assert_eq!((columns.task_count(), columns.chunks()), (100 + 100 + 10, &[vec![10; 10]][..]));
    let kept = x.max_with(1, &ReduceOptions::new().keepdims(true)).unwrap();
    assert_eq!((kept.shape(), kept.chunks()), (&[100, 1][..], &[vec![10; 10], vec![1]][..]));
}

#[test]
fn the_w2_expressions_match_ndarray() {
    let data = f64_data(&[40, 30], 7);
    let x = from_ndarray(&data, [10, 10]).unwrap();
    let square = from_ndarray(&data.slice(ndarray::s![..30, ..]).to_owned(), [10, 10]).unwrap();
    let xt = from_ndarray(&data.slice(ndarray::s![..30, ..]).t().to_owned(), [10, 10]).unwrap();
    let expected: f64 = (&data.slice(ndarray::s![..30, ..]) + &data.slice(ndarray::s![..30, ..]).t()).sum();
    assert_eq!((&square + &xt).sum(..).unwrap().compute_scalar().unwrap(), expected);
    let centered = &x - &x.mean(0).unwrap();
    let std = centered.std(0).unwrap().compute().unwrap();
    assert!(close(&std, &data.std_axis(Axis(0), 0.0)));
}

#[test]
fn ops_refuse_malformed_arguments_without_panicking() {
    let block = |shape: &[usize]| Value::Array(ArrayChunk::F64(Arc::new(ArrayD::zeros(IxDyn(shape)))));
    let sum = ReduceBlock { reducer: Reducer::Sum, axes: vec![1] };
    assert!(sum.call(args![]).is_err());
    assert!(sum.call(args![Value::I64(3)]).is_err());
    assert!(sum.call(args![block(&[2])]).unwrap_err().to_string().contains("axes [1]"));
    let arg = ReduceBlock { reducer: Reducer::ArgMin, axes: vec![0] };
    let list = |v: &[i64]| Value::List(v.iter().map(|&i| Value::I64(i)).collect());
    assert!(arg.call(args![block(&[2])]).is_err());
    assert!(arg.call(args![block(&[2]), list(&[-1]), list(&[2])]).is_err());
    assert!(arg.call(args![block(&[2]), list(&[1]), list(&[2])]).unwrap_err().to_string().contains("does not fit"));
    assert!(arg.call(args![block(&[0]), list(&[0]), list(&[0])]).unwrap_err().to_string().contains("empty"));
    let combine = CombinePartials { reducer: Reducer::Sum, finish: None };
    assert!(combine.call(args![]).is_err());
    assert!(combine.call(args![block(&[1, 2]), block(&[1, 3])]).unwrap_err().to_string().contains("do not line up"));
    let ints = Value::Array(ArrayChunk::I64(Arc::new(ArrayD::zeros(IxDyn(&[1, 2])))));
    assert!(combine.call(args![block(&[1, 2]), ints]).unwrap_err().to_string().contains("two types"));
    let mean = CombinePartials { reducer: Reducer::Mean, finish: None };
    assert!(mean.call(args![block(&[1])]).unwrap_err().to_string().contains("not a partial result"));
    let finish = Finish { axes: vec![0], keepdims: false, ddof: 0, dtype: DType::F64 };
    let squeeze = CombinePartials { reducer: Reducer::Max, finish: Some(finish.clone()) };
    assert!(squeeze.call(args![block(&[2, 2])]).unwrap_err().to_string().contains("cannot drop"));
    let wrong_type = CombinePartials { reducer: Reducer::Max, finish: Some(Finish { dtype: DType::I32, ..finish }) };
    assert!(wrong_type.call(args![block(&[1])]).unwrap_err().to_string().contains("promises int32"));
    let scan = ScanBlock { scan: Scan::Sum, axis: 0 };
    assert!(scan.call(args![block(&[2, 2]), block(&[2, 2])]).unwrap_err().to_string().contains("carry"));
    assert!(ScanBlock { scan: Scan::Prod, axis: 3 }.call(args![block(&[2])]).is_err());
    assert!(scan.call(args![]).is_err());
}

/// Times the chunk kernels on a 1000x1000 float64 block (the W2 block): run with
/// `cargo test --release -p rask-collections --test array_reductions -- --ignored --nocapture`.
#[test]
#[ignore]
fn chunk_kernel_timings() {
    let data = f64_data(&[1000, 1000], 3);
    let block = Value::Array(ArrayChunk::F64(Arc::new(data)));
    let time = |name: &str, op: &dyn Op, args: &dyn Fn() -> rask_graph::Args| {
        let runs = 50;
        std::hint::black_box(op.call(args()).unwrap());
        let started = std::time::Instant::now();
        for _ in 0..runs {
            std::hint::black_box(op.call(args()).unwrap());
        }
        println!("{name:<28} {:>8.3} ms", started.elapsed().as_secs_f64() * 1e3 / runs as f64);
    };
    let one = || args![block.clone()];
    for (reducer, axes) in [
        (Reducer::Sum, vec![0, 1]),
        (Reducer::Sum, vec![0]),
        (Reducer::Sum, vec![1]),
        (Reducer::Mean, vec![0]),
        (Reducer::Var, vec![0]),
        (Reducer::Std, vec![0, 1]),
        (Reducer::Max, vec![0, 1]),
        (Reducer::NanMax, vec![0]),
        (Reducer::NanMean, vec![0]),
    ] {
        time(&format!("{} over {axes:?}", reducer.name()), &ReduceBlock { reducer, axes: axes.clone() }, &one);
    }
    let list = |v: &[i64]| Value::List(v.iter().map(|&i| Value::I64(i)).collect());
    let argmin = ReduceBlock { reducer: Reducer::ArgMin, axes: vec![0] };
    time("argmin over [0]", &argmin, &|| args![block.clone(), list(&[0, 0]), list(&[1000, 1000])]);
    time("cumsum along 0 (copy)", &ScanBlock { scan: Scan::Sum, axis: 0 }, &one);
}

/// Times the W2 reductions end to end on 10000x10000 float64 arrays of ones in
/// 1000x1000 blocks on two threads (filled blocks instead of random ones): run with
/// `cargo test --release -p rask-collections --test array_reductions -- --ignored --nocapture`.
#[test]
#[ignore]
fn w2_shaped_timings() {
    let two_threads = rask_collections::ComputeOptions::default().scheduler(rask_scheduler::ThreadsScheduler::new(2));
    let x = array::ones::<f64>(&[10_000, 10_000], [1000, 1000]).unwrap();
    let started = std::time::Instant::now();
    let total = (&x + &x).sum(..).unwrap().compute_scalar_with(&two_threads).unwrap();
    println!("(x + x).sum()              {:>8.3} s", started.elapsed().as_secs_f64());
    assert_eq!(total, 2e8);
    let started = std::time::Instant::now();
    let std = (&x - &x.mean(0).unwrap()).std(0).unwrap().compute_with(&two_threads).unwrap();
    println!("(x - x.mean(0)).std(0)     {:>8.3} s", started.elapsed().as_secs_f64());
    assert!(std.iter().all(|&v| v == 0.0));
    let started = std::time::Instant::now();
    x.sum(..).unwrap().compute_scalar_with(&two_threads).unwrap();
    println!("x.sum() (fill + reduce)    {:>8.3} s", started.elapsed().as_secs_f64());
}

//! Block kernels of the reductions.
//!
//! A [`Fold`] says how elements reduce (a sum, a product, an extreme, a truth value, a
//! count, a sum of squared deviations) and [`Blocked::reduce`] applies one to a C-order
//! block over some of its axes, keeping them with length 1. The block's axes are merged
//! into alternating runs of kept and reduced axes, so every inner loop runs over
//! contiguous memory: a trailing reduced run is a slice folded with several independent
//! accumulators, a reduced run before a kept one adds rows into an accumulator row. Both
//! loops vectorize.

use std::borrow::Cow;

use ndarray::{ArrayD, IxDyn};
use rask_graph::{Element, OpError};

use super::super::kernels::Kernel;

/// An element type with its smallest and largest values (infinities for floats).
pub(crate) trait Number: Kernel {
    const LOWEST: Self;
    const HIGHEST: Self;
}

macro_rules! number {
    ($($t:ty: $lo:expr, $hi:expr);*) => {$(impl Number for $t { const LOWEST: Self = $lo; const HIGHEST: Self = $hi; })*};
}
number!(f64: f64::NEG_INFINITY, f64::INFINITY; f32: f32::NEG_INFINITY, f32::INFINITY; i64: i64::MIN, i64::MAX;
    i32: i32::MIN, i32::MAX; bool: false, true);

/// How elements of type `I` reduce into an accumulator of type `A`. `merge` must be
/// associative and commutative, with `identity` as its neutral element, so that blocks,
/// lanes and partial results combine in any grouping.
pub(crate) trait Fold<I, A>: Copy {
    /// What each output position brings to `step` (its mean, for squared deviations).
    type Ctx: Copy;
    fn identity(self) -> A;
    fn step(self, acc: A, ctx: Self::Ctx, x: I) -> A;
    fn merge(self, a: A, b: A) -> A;
}

/// `Σ x` in the accumulator's type (wrapping for integers); NaN skipped if `SKIP_NAN`.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Sum<const SKIP_NAN: bool>;

impl<I: Number, A: Number, const SKIP_NAN: bool> Fold<I, A> for Sum<SKIP_NAN> {
    type Ctx = ();
    fn identity(self) -> A {
        A::from_i64(0)
    }
    fn step(self, acc: A, _: (), x: I) -> A {
        if SKIP_NAN && x.is_nan() { acc } else { Kernel::add(acc, x.cast::<A>()) }
    }
    fn merge(self, a: A, b: A) -> A {
        Kernel::add(a, b)
    }
}

/// `Π x` in the accumulator's type (wrapping for integers); NaN skipped if `SKIP_NAN`.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Product<const SKIP_NAN: bool>;

impl<I: Number, A: Number, const SKIP_NAN: bool> Fold<I, A> for Product<SKIP_NAN> {
    type Ctx = ();
    fn identity(self) -> A {
        A::from_i64(1)
    }
    fn step(self, acc: A, _: (), x: I) -> A {
        if SKIP_NAN && x.is_nan() { acc } else { Kernel::mul(acc, x.cast::<A>()) }
    }
    fn merge(self, a: A, b: A) -> A {
        Kernel::mul(a, b)
    }
}

/// The largest (`MAX`) or smallest element. Without `SKIP_NAN` a NaN wins, as numpy's
/// `max` propagates it; with it a NaN is skipped and NaN means "nothing seen yet", so an
/// all-NaN slice gives NaN and an all-NaN block leaves the others alone.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Extreme<const MAX: bool, const SKIP_NAN: bool>;

impl<T: Number, const MAX: bool, const SKIP_NAN: bool> Fold<T, T> for Extreme<MAX, SKIP_NAN> {
    type Ctx = ();
    fn identity(self) -> T {
        match (SKIP_NAN && T::DTYPE.is_float(), MAX) {
            (true, _) => T::from_f64(f64::NAN),
            (false, true) => T::LOWEST,
            (false, false) => T::HIGHEST,
        }
    }
    fn step(self, acc: T, _: (), x: T) -> T {
        Fold::<T, T>::merge(self, acc, x)
    }
    fn merge(self, a: T, b: T) -> T {
        let better = if MAX { b > a } else { b < a };
        let take_b = if SKIP_NAN { better || a.is_nan() } else { better || b.is_nan() };
        if take_b { b } else { a }
    }
}

/// Whether all (`ALL`) or any of the elements are true (non-zero; NaN is true).
#[derive(Copy, Clone, Debug)]
pub(crate) struct Truth<const ALL: bool>;

impl<I: Number, const ALL: bool> Fold<I, bool> for Truth<ALL> {
    type Ctx = ();
    fn identity(self) -> bool {
        ALL
    }
    fn step(self, acc: bool, _: (), x: I) -> bool {
        Fold::<I, bool>::merge(self, acc, x != I::default())
    }
    fn merge(self, a: bool, b: bool) -> bool {
        if ALL { a & b } else { a | b }
    }
}

/// The number of elements that are not NaN.
#[derive(Copy, Clone, Debug)]
pub(crate) struct CountPresent;

impl<I: Number> Fold<I, i64> for CountPresent {
    type Ctx = ();
    fn identity(self) -> i64 {
        0
    }
    fn step(self, acc: i64, _: (), x: I) -> i64 {
        acc + i64::from(!x.is_nan())
    }
    fn merge(self, a: i64, b: i64) -> i64 {
        a + b
    }
}

/// `Σ (x - mean)²` in float64, given each output position's mean; NaN skipped if
/// `SKIP_NAN`.
#[derive(Copy, Clone, Debug)]
pub(crate) struct SquaredDeviation<const SKIP_NAN: bool>;

impl<I: Number, const SKIP_NAN: bool> Fold<I, f64> for SquaredDeviation<SKIP_NAN> {
    type Ctx = f64;
    fn identity(self) -> f64 {
        0.0
    }
    fn step(self, acc: f64, mean: f64, x: I) -> f64 {
        if SKIP_NAN && x.is_nan() {
            return acc;
        }
        let d = x.cast::<f64>() - mean;
        acc + d * d
    }
    fn merge(self, a: f64, b: f64) -> f64 {
        a + b
    }
}

/// A run of adjacent axes that are all kept or all reduced, merged into one.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Run {
    len: usize,
    reduced: bool,
}

/// A block ready to be reduced over some axes: its elements in C order and the runs of
/// kept and reduced axes (length-1 axes dropped: they change nothing).
#[derive(Debug)]
pub(crate) struct Blocked<'a, T: Clone> {
    data: Cow<'a, [T]>,
    runs: Vec<Run>,
    out_shape: Vec<usize>,
    extent: usize,
}

impl<'a, T: Element> Blocked<'a, T> {
    /// `block` to be reduced over `axes` (sorted, distinct, in range; else an error).
    pub fn new(block: &'a ArrayD<T>, axes: &[usize]) -> Result<Self, OpError> {
        let shape = block.shape();
        if axes.windows(2).any(|w| w[0] >= w[1]) || axes.last().is_some_and(|&a| a >= shape.len()) {
            return Err(OpError::new(format!("cannot reduce axes {axes:?} of a block of shape {shape:?}")));
        }
        let reduced: Vec<bool> = (0..shape.len()).map(|a| axes.contains(&a)).collect();
        let mut runs: Vec<Run> = Vec::new();
        for (&len, &reduced) in shape.iter().zip(&reduced) {
            match runs.last_mut() {
                _ if len == 1 => {}
                Some(last) if last.reduced == reduced => last.len *= len,
                _ => runs.push(Run { len, reduced }),
            }
        }
        Ok(Blocked {
            data: c_order(block),
            runs,
            out_shape: shape.iter().zip(&reduced).map(|(&n, &r)| if r { 1 } else { n }).collect(),
            extent: axes.iter().map(|&a| shape[a]).product(),
        })
    }

    /// The shape of the reduced block: the reduced axes have length 1.
    pub fn out_shape(&self) -> &[usize] {
        &self.out_shape
    }

    /// How many elements reduce into each output position.
    pub fn extent(&self) -> usize {
        self.extent
    }

    /// The block reduced with `fold`.
    pub fn reduce<A: Element, F: Fold<T, A, Ctx = ()>>(&self, fold: F) -> Result<ArrayD<A>, OpError> {
        let ctx = vec![(); self.out_shape.iter().product()];
        self.reduce_with(fold, &ctx)
    }

    /// The block reduced with `fold`, each output position (C order) bringing its `ctx`.
    pub fn reduce_with<A: Element, F: Fold<T, A>>(&self, fold: F, ctx: &[F::Ctx]) -> Result<ArrayD<A>, OpError> {
        let mut out = vec![fold.identity(); ctx.len()];
        if !self.data.is_empty() {
            walk(fold, &self.data, &self.runs, ctx, &mut out);
        }
        ArrayD::from_shape_vec(IxDyn(&self.out_shape), out)
            .map_err(|e| OpError::new(format!("reduced block of shape {:?}: {e}", self.out_shape)))
    }
}

/// The block's elements in C order: borrowed when it is laid out so already.
pub(crate) fn c_order<T: Element>(block: &ArrayD<T>) -> Cow<'_, [T]> {
    match block.as_slice() {
        Some(slice) => Cow::Borrowed(slice),
        None => Cow::Owned(block.iter().copied().collect()),
    }
}

/// Folds `data` (laid out as `runs`) into `out`, one output position per element of the
/// kept runs. `data` is not empty.
fn walk<I: Copy, A: Copy, F: Fold<I, A>>(fold: F, data: &[I], runs: &[Run], ctx: &[F::Ctx], out: &mut [A]) {
    match runs {
        [] | [Run { reduced: true, .. }] => {
            if let (Some(acc), Some(&c)) = (out.first_mut(), ctx.first()) {
                *acc = fold_slice(fold, *acc, c, data);
            }
        }
        [Run { reduced: false, .. }] => accumulate(fold, out, ctx, data),
        [first, rest @ ..] => {
            let inner = data.len() / first.len;
            if first.reduced {
                data.chunks_exact(inner).for_each(|part| walk(fold, part, rest, ctx, out));
            } else {
                let per = out.len() / first.len;
                let outs = out.chunks_exact_mut(per).zip(ctx.chunks_exact(per));
                for (part, (out, ctx)) in data.chunks_exact(inner).zip(outs) {
                    walk(fold, part, rest, ctx, out);
                }
            }
        }
    }
}

/// `out[j] = step(out[j], ctx[j], data[j])`: adds a row into the accumulator row.
fn accumulate<I: Copy, A: Copy, F: Fold<I, A>>(fold: F, out: &mut [A], ctx: &[F::Ctx], data: &[I]) {
    for ((acc, &c), &x) in out.iter_mut().zip(ctx).zip(data) {
        *acc = fold.step(*acc, c, x);
    }
}

/// Folds a contiguous slice into `init` with independent accumulators (so the loop
/// vectorizes), a piece at a time (so float sums stay accurate, as numpy's pairwise
/// summation does).
fn fold_slice<I: Copy, A: Copy, F: Fold<I, A>>(fold: F, init: A, ctx: F::Ctx, data: &[I]) -> A {
    const LANES: usize = 8;
    const PIECE: usize = 2048;
    data.chunks(PIECE).fold(init, |total, piece| {
        let mut lanes = [fold.identity(); LANES];
        let mut groups = piece.chunks_exact(LANES);
        for group in &mut groups {
            for (lane, &x) in lanes.iter_mut().zip(group) {
                *lane = fold.step(*lane, ctx, x);
            }
        }
        let folded = groups.remainder().iter().fold(lanes[0], |acc, &x| fold.step(acc, ctx, x));
        let piece_total = lanes[1..].iter().fold(folded, |acc, &lane| fold.merge(acc, lane));
        fold.merge(total, piece_total)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reduce_sum(block: &ArrayD<f64>, axes: &[usize]) -> ArrayD<f64> {
        Blocked::new(block, axes).unwrap().reduce(Sum::<false>).unwrap()
    }

    #[test]
    fn runs_merge_neighbouring_axes_and_drop_length_one() {
        let block = ArrayD::<f64>::zeros(IxDyn(&[2, 1, 3, 4, 5]));
        let blocked = Blocked::new(&block, &[2, 3]).unwrap();
        let run = |len, reduced| Run { len, reduced };
        assert_eq!(blocked.runs, vec![run(2, false), run(12, true), run(5, false)]);
        assert_eq!(blocked.out_shape(), &[2, 1, 1, 1, 5]);
        assert_eq!(blocked.extent(), 12);
        assert!(Blocked::new(&block, &[3, 2]).is_err());
        assert!(Blocked::new(&block, &[5]).is_err());
    }

    #[test]
    fn every_layout_of_axes_sums_like_ndarray() {
        let block = ArrayD::from_shape_fn(IxDyn(&[3, 4, 5]), |i| (i[0] * 100 + i[1] * 10 + i[2]) as f64);
        for axes in [vec![], vec![0], vec![1], vec![2], vec![0, 1], vec![0, 2], vec![1, 2], vec![0, 1, 2]] {
            let mut expected = block.clone();
            for &a in axes.iter().rev() {
                expected = expected.sum_axis(ndarray::Axis(a)).insert_axis(ndarray::Axis(a));
            }
            assert_eq!(reduce_sum(&block, &axes), expected, "axes {axes:?}");
        }
        let transposed = block.t().to_owned();
        assert_eq!(reduce_sum(&transposed, &[0]), transposed.sum_axis(ndarray::Axis(0)).insert_axis(ndarray::Axis(0)));
        let reversed = block.slice(ndarray::s![.., ..;-1, ..]).to_owned().into_dyn();
        assert_eq!(reduce_sum(&reversed, &[1])[[2, 0, 4]], reduce_sum(&block, &[1])[[2, 0, 4]]);
    }

    #[test]
    fn extremes_propagate_or_skip_nan() {
        let nan = f64::NAN;
        let block = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![nan, 1.0, nan, nan, 3.0, 2.0]).unwrap();
        let blocked = Blocked::new(&block, &[0]).unwrap();
        let max = blocked.reduce(Extreme::<true, false>).unwrap();
        assert!(max[[0, 0]].is_nan() && max[[0, 1]] == 3.0 && max[[0, 2]].is_nan());
        let nanmax = blocked.reduce(Extreme::<true, true>).unwrap();
        assert!(nanmax[[0, 0]].is_nan() && nanmax[[0, 1]] == 3.0 && nanmax[[0, 2]] == 2.0);
        let count = blocked.reduce(CountPresent).unwrap();
        assert_eq!(count.into_raw_vec_and_offset().0, vec![0, 2, 1]);
    }

    #[test]
    fn integer_sums_widen_and_truth_treats_nan_as_true() {
        let block = ArrayD::from_elem(IxDyn(&[3]), i32::MAX);
        let sum: ArrayD<i64> = Blocked::new(&block, &[0]).unwrap().reduce(Sum::<false>).unwrap();
        assert_eq!(sum[[0]], 3 * i32::MAX as i64);
        let floats = ArrayD::from_shape_vec(IxDyn(&[3]), vec![0.0, f64::NAN, -0.0]).unwrap();
        let blocked = Blocked::new(&floats, &[0]).unwrap();
        assert!(blocked.reduce(Truth::<false>).unwrap()[[0]]);
        assert!(!blocked.reduce(Truth::<true>).unwrap()[[0]]);
    }
}

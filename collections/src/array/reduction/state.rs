//! What a reduction computes ([`Reducer`]) and the partial results its tree passes
//! along ([`Partial`]): the reduced block itself for sums, products, extremes and truth
//! values; (count, total) for means; (count, mean, M2) for variances, merged with Chan's
//! parallel formula; (best value, index) for argmin/argmax. A partial travels between
//! tasks as a `Value::Array`, or as a `Value::List` of blocks.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Zip};
use rask_graph::{ArrayChunk, DType, Element, OpError, Value};
use serde::{Deserialize, Serialize};

use super::arg;
use super::fold::{self, Blocked, CountPresent, Extreme, Fold, Number, Product, SquaredDeviation, Truth};
use crate::array::kernels::cast_chunk;

/// A reduction, as the ops of the reduction tree carry it.
///
/// ```
/// use rask_collections::array::Reducer;
/// use rask_graph::DType;
/// assert_eq!(Reducer::Sum.output_dtype(DType::I32), DType::I64);
/// assert_eq!(Reducer::Mean.output_dtype(DType::F32), DType::F32);
/// assert_eq!(Reducer::ArgMax.output_dtype(DType::F64), DType::I64);
/// assert_eq!(Reducer::NanMean.name(), "nanmean");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reducer {
    /// `sum`: int32 and bool accumulate in int64.
    Sum,
    /// `prod`: int32 and bool accumulate in int64.
    Prod,
    /// `min`: NaN propagates.
    Min,
    /// `max`: NaN propagates.
    Max,
    /// `any`: whether some element is non-zero.
    Any,
    /// `all`: whether every element is non-zero.
    All,
    /// `nansum`: NaN counts as 0.
    NanSum,
    /// `nanprod`: NaN counts as 1.
    NanProd,
    /// `nanmin`: NaN skipped; NaN for an all-NaN slice.
    NanMin,
    /// `nanmax`: NaN skipped; NaN for an all-NaN slice.
    NanMax,
    /// `mean`: float64 for integers and bool.
    Mean,
    /// `nanmean`: the mean of the elements that are not NaN.
    NanMean,
    /// `var`: the variance with a `ddof`.
    Var,
    /// `nanvar`: the variance of the elements that are not NaN.
    NanVar,
    /// `std`: the square root of the variance.
    Std,
    /// `nanstd`: the square root of `nanvar`.
    NanStd,
    /// `argmin`: the index of the first smallest element (of the first NaN, if any).
    ArgMin,
    /// `argmax`: the index of the first largest element (of the first NaN, if any).
    ArgMax,
}

impl Reducer {
    /// numpy's name of the reduction.
    pub fn name(self) -> &'static str {
        use Reducer::*;
        match self {
            Sum => "sum",
            Prod => "prod",
            Min => "min",
            Max => "max",
            Any => "any",
            All => "all",
            NanSum => "nansum",
            NanProd => "nanprod",
            NanMin => "nanmin",
            NanMax => "nanmax",
            Mean => "mean",
            NanMean => "nanmean",
            Var => "var",
            NanVar => "nanvar",
            Std => "std",
            NanStd => "nanstd",
            ArgMin => "argmin",
            ArgMax => "argmax",
        }
    }

    /// The result's element type for input of type `input` (numpy's rules).
    pub fn output_dtype(self, input: DType) -> DType {
        use Reducer::*;
        match self {
            Sum | Prod | NanSum | NanProd => input.sum(),
            Min | Max | NanMin | NanMax => input,
            Any | All => DType::Bool,
            Mean | NanMean | Var | NanVar | Std | NanStd => input.float(),
            ArgMin | ArgMax => DType::I64,
        }
    }

    /// The same reduction without NaN handling when `input` cannot hold NaN.
    pub(crate) fn for_dtype(self, input: DType) -> Reducer {
        use Reducer::*;
        match self {
            _ if input.is_float() => self,
            NanSum => Sum,
            NanProd => Prod,
            NanMin => Min,
            NanMax => Max,
            NanMean => Mean,
            NanVar => Var,
            NanStd => Std,
            other => other,
        }
    }

    /// Whether it skips NaN.
    pub(crate) fn skips_nan(self) -> bool {
        use Reducer::*;
        matches!(self, NanSum | NanProd | NanMin | NanMax | NanMean | NanVar | NanStd)
    }

    /// Whether it is argmin or argmax.
    pub(crate) fn is_arg(self) -> bool {
        matches!(self, Reducer::ArgMin | Reducer::ArgMax)
    }

    /// Whether reducing nothing is an error (numpy: "no identity").
    pub(crate) fn has_identity(self) -> bool {
        use Reducer::*;
        !matches!(self, Min | Max | NanMin | NanMax | ArgMin | ArgMax)
    }
}

/// A partial result of a reduction over some blocks.
#[derive(Debug)]
pub(crate) enum Partial {
    /// The reduced block (sums, products, extremes, truth values).
    Block(ArrayChunk),
    /// How many elements (not NaN, for `nanmean`) and their total, per position.
    Mean { count: Arc<ArrayD<i64>>, total: Arc<ArrayD<f64>> },
    /// Count, mean and sum of squared deviations from the mean, per position.
    Moments { count: Arc<ArrayD<i64>>, mean: Arc<ArrayD<f64>>, m2: Arc<ArrayD<f64>> },
    /// The best value (of the input type) and its index, per position.
    Arg { value: ArrayChunk, index: Arc<ArrayD<i64>> },
}

impl Partial {
    /// What kind of partial it is, for messages.
    fn kind(&self) -> &'static str {
        match self {
            Partial::Block(_) => "block",
            Partial::Mean { .. } => "mean",
            Partial::Moments { .. } => "moments",
            Partial::Arg { .. } => "arg",
        }
    }

    /// The partial as a task value.
    pub fn into_value(self) -> Value {
        let list = |blocks: Vec<ArrayChunk>| Value::List(blocks.into_iter().map(Value::Array).collect());
        match self {
            Partial::Block(block) => Value::Array(block),
            Partial::Mean { count, total } => list(vec![ArrayChunk::I64(count), ArrayChunk::F64(total)]),
            Partial::Moments { count, mean, m2 } => {
                list(vec![ArrayChunk::I64(count), ArrayChunk::F64(mean), ArrayChunk::F64(m2)])
            }
            Partial::Arg { value, index } => list(vec![value, ArrayChunk::I64(index)]),
        }
    }

    /// Reads back a partial of `reducer` made by [`Partial::into_value`].
    pub fn from_value(reducer: Reducer, value: Value) -> Result<Partial, OpError> {
        use ArrayChunk::{F64, I64};
        use Reducer::*;
        let same_shapes = |shapes: &[&[usize]]| shapes.windows(2).all(|w| w[0] == w[1]);
        let parsed = match (reducer, &value) {
            (Mean | NanMean, Value::List(items)) => match &**items {
                [Value::Array(I64(count)), Value::Array(F64(total))]
                    if same_shapes(&[count.shape(), total.shape()]) =>
                {
                    Some(Partial::Mean { count: count.clone(), total: total.clone() })
                }
                _ => None,
            },
            (Var | NanVar | Std | NanStd, Value::List(items)) => match &**items {
                [Value::Array(I64(count)), Value::Array(F64(mean)), Value::Array(F64(m2))]
                    if same_shapes(&[count.shape(), mean.shape(), m2.shape()]) =>
                {
                    Some(Partial::Moments { count: count.clone(), mean: mean.clone(), m2: m2.clone() })
                }
                _ => None,
            },
            (ArgMin | ArgMax, Value::List(items)) => match &**items {
                [Value::Array(value), Value::Array(I64(index))] if same_shapes(&[value.shape(), index.shape()]) => {
                    Some(Partial::Arg { value: value.clone(), index: index.clone() })
                }
                _ => None,
            },
            (Mean | NanMean | Var | NanVar | Std | NanStd | ArgMin | ArgMax, _) => None,
            (_, Value::Array(block)) => Some(Partial::Block(block.clone())),
            (_, _) => None,
        };
        parsed.ok_or_else(|| OpError::new(format!("{}: {value:?} is not a partial result of it", reducer.name())))
    }
}

/// The chunk stage of every reduction but argmin/argmax: `block` reduced over `axes`.
pub(crate) fn chunk(reducer: Reducer, block: &ArrayChunk, axes: &[usize]) -> Result<Partial, OpError> {
    rask_graph::each_chunk!(block, a => chunk_typed(reducer, &Blocked::new(a, axes)?))
}

fn chunk_typed<T: Number>(reducer: Reducer, view: &Blocked<T>) -> Result<Partial, OpError>
where
    T::Sum: Number,
{
    use Reducer::*;
    fn block<A: Element>(a: ArrayD<A>) -> Partial {
        Partial::Block(A::wrap(Arc::new(a)))
    }
    Ok(match reducer {
        Sum => block::<T::Sum>(view.reduce(fold::Sum::<false>)?),
        NanSum => block::<T::Sum>(view.reduce(fold::Sum::<true>)?),
        Prod => block::<T::Sum>(view.reduce(Product::<false>)?),
        NanProd => block::<T::Sum>(view.reduce(Product::<true>)?),
        Min => block::<T>(view.reduce(Extreme::<false, false>)?),
        NanMin => block::<T>(view.reduce(Extreme::<false, true>)?),
        Max => block::<T>(view.reduce(Extreme::<true, false>)?),
        NanMax => block::<T>(view.reduce(Extreme::<true, true>)?),
        Any => block::<bool>(view.reduce(Truth::<false>)?),
        All => block::<bool>(view.reduce(Truth::<true>)?),
        Mean | NanMean => {
            let (count, total) = totals(view, reducer.skips_nan())?;
            Partial::Mean { count: Arc::new(count), total: Arc::new(total) }
        }
        Var | NanVar | Std | NanStd => moments(view, reducer.skips_nan())?,
        ArgMin | ArgMax => return Err(OpError::new(format!("{}: blocks need their offsets", reducer.name()))),
    })
}

/// How many elements reduce into each position (not counting NaN if `skip_nan`), and
/// their float64 total.
fn totals<T: Number>(view: &Blocked<T>, skip_nan: bool) -> Result<(ArrayD<i64>, ArrayD<f64>), OpError> {
    if skip_nan {
        return Ok((view.reduce(CountPresent)?, view.reduce(fold::Sum::<true>)?));
    }
    let count = ArrayD::from_elem(IxDyn(view.out_shape()), view.extent() as i64);
    Ok((count, view.reduce(fold::Sum::<false>)?))
}

/// Count, mean and M2 of each position in two passes over the block: the mean first,
/// then the squared deviations from it (never E[x²] - E[x]²).
fn moments<T: Number>(view: &Blocked<T>, skip_nan: bool) -> Result<Partial, OpError> {
    let (count, total) = totals(view, skip_nan)?;
    let mean: Vec<f64> = total.iter().zip(count.iter()).map(|(&t, &n)| t / n as f64).collect();
    let m2 = if skip_nan {
        view.reduce_with(SquaredDeviation::<true>, &mean)?
    } else {
        view.reduce_with(SquaredDeviation::<false>, &mean)?
    };
    let mean = ArrayD::from_shape_vec(count.raw_dim(), mean).map_err(|e| OpError::new(e.to_string()))?;
    Ok(Partial::Moments { count: Arc::new(count), mean: Arc::new(mean), m2: Arc::new(m2) })
}

/// Merges partial results, in order, into one.
pub(crate) fn combine(reducer: Reducer, parts: impl IntoIterator<Item = Partial>) -> Result<Partial, OpError> {
    let mut parts = parts.into_iter();
    let first =
        parts.next().ok_or_else(|| OpError::new(format!("{}: no partial results to combine", reducer.name())))?;
    parts.try_fold(first, |acc, part| merge(reducer, acc, part))
}

fn merge(reducer: Reducer, a: Partial, b: Partial) -> Result<Partial, OpError> {
    Ok(match (a, b) {
        (Partial::Block(a), Partial::Block(b)) => Partial::Block(merge_blocks(reducer, a, &b)?),
        (Partial::Mean { count, total }, Partial::Mean { count: n, total: t }) => {
            Partial::Mean { count: zip_into(count, &n, |x, y| x + y)?, total: zip_into(total, &t, |x, y| x + y)? }
        }
        (Partial::Moments { count, mean, m2 }, Partial::Moments { count: n, mean: m, m2: s }) => {
            merge_moments((count, mean, m2), (&n, &m, &s))?
        }
        (Partial::Arg { value, index }, Partial::Arg { value: v, index: i }) => {
            let (value, index) = arg::merge(reducer, (value, index), (&v, &i))?;
            Partial::Arg { value, index }
        }
        (a, b) => {
            let message = format!("{}: cannot merge a {} partial with a {} one", reducer.name(), a.kind(), b.kind());
            return Err(OpError::new(message));
        }
    })
}

/// Runs `$body` with `$x` and `$y` bound to the blocks of two chunks of one element type,
/// and wraps the block it gives back; chunks of two types are an error naming `$what`.
macro_rules! with_same_dtype {
    ($what:expr, $a:expr, $b:expr, |$x:ident, $y:ident| $body:expr) => {
        match ($a, $b) {
            (ArrayChunk::Bool($x), ArrayChunk::Bool($y)) => ArrayChunk::Bool($body),
            (ArrayChunk::I32($x), ArrayChunk::I32($y)) => ArrayChunk::I32($body),
            (ArrayChunk::I64($x), ArrayChunk::I64($y)) => ArrayChunk::I64($body),
            (ArrayChunk::F32($x), ArrayChunk::F32($y)) => ArrayChunk::F32($body),
            (ArrayChunk::F64($x), ArrayChunk::F64($y)) => ArrayChunk::F64($body),
            (a, b) => {
                let message = format!("{}: partial results of two types, {} and {}", $what, a.dtype(), b.dtype());
                return Err(OpError::new(message));
            }
        }
    };
}
pub(crate) use with_same_dtype;

fn merge_blocks(reducer: Reducer, a: ArrayChunk, b: &ArrayChunk) -> Result<ArrayChunk, OpError> {
    Ok(with_same_dtype!(reducer.name(), a, b, |a, b| merge_typed(reducer, a, b)?))
}

fn merge_typed<T: Number>(reducer: Reducer, a: Arc<ArrayD<T>>, b: &ArrayD<T>) -> Result<Arc<ArrayD<T>>, OpError> {
    use Reducer::*;
    fn merger<T, F: Fold<T, T>>(fold: F) -> impl Fn(T, T) -> T {
        move |x, y| fold.merge(x, y)
    }
    match reducer {
        Sum | NanSum => zip_into(a, b, merger(fold::Sum::<false>)),
        Prod | NanProd => zip_into(a, b, merger(Product::<false>)),
        // On truth values `any` is the maximum and `all` the minimum.
        Max | Any => zip_into(a, b, merger(Extreme::<true, false>)),
        Min | All => zip_into(a, b, merger(Extreme::<false, false>)),
        NanMax => zip_into(a, b, merger(Extreme::<true, true>)),
        NanMin => zip_into(a, b, merger(Extreme::<false, true>)),
        _ => Err(OpError::new(format!("{}: its partial results are not single blocks", reducer.name()))),
    }
}

/// The block of `a` updated in place (when uniquely owned) with `f(a, b)` elementwise.
pub(crate) fn zip_into<T: Element>(
    a: Arc<ArrayD<T>>,
    b: &ArrayD<T>,
    f: impl Fn(T, T) -> T,
) -> Result<Arc<ArrayD<T>>, OpError> {
    check_same_shape(a.shape(), b.shape())?;
    let mut a = owned(a);
    Zip::from(&mut a).and(b).for_each(|x, &y| *x = f(*x, y));
    Ok(Arc::new(a))
}

/// The block, without copying it when this is its only reference.
pub(crate) fn owned<T: Clone>(block: Arc<ArrayD<T>>) -> ArrayD<T> {
    Arc::try_unwrap(block).unwrap_or_else(|shared| (*shared).clone())
}

pub(crate) fn check_same_shape(a: &[usize], b: &[usize]) -> Result<(), OpError> {
    if a == b {
        return Ok(());
    }
    Err(OpError::new(format!("partial results of shapes {a:?} and {b:?} do not line up")))
}

type Moments = (Arc<ArrayD<i64>>, Arc<ArrayD<f64>>, Arc<ArrayD<f64>>);

/// Chan et al.'s parallel update: two (count, mean, M2) become the moments of the union.
fn merge_moments(a: Moments, b: (&ArrayD<i64>, &ArrayD<f64>, &ArrayD<f64>)) -> Result<Partial, OpError> {
    check_same_shape(a.0.shape(), b.0.shape())?;
    let (mut count, mut mean, mut m2) = (owned(a.0), owned(a.1), owned(a.2));
    Zip::from(&mut count).and(&mut mean).and(&mut m2).and(b.0).and(b.1).and(b.2).for_each(
        |na, ma, sa, &nb, &mb, &sb| {
            if nb == 0 {
                return;
            }
            if *na == 0 {
                (*na, *ma, *sa) = (nb, mb, sb);
                return;
            }
            let n = *na + nb;
            let delta = mb - *ma;
            let weight = nb as f64 / n as f64;
            *ma += delta * weight;
            *sa += sb + delta * delta * *na as f64 * weight;
            *na = n;
        },
    );
    Ok(Partial::Moments { count: Arc::new(count), mean: Arc::new(mean), m2: Arc::new(m2) })
}

/// The result block of a merged partial: means divided out, variances with `ddof`
/// (divided by `max(n - ddof, 0)`, as numpy does), in `dtype`.
pub(crate) fn finish(reducer: Reducer, partial: Partial, ddof: usize, dtype: DType) -> Result<ArrayChunk, OpError> {
    let float = |values: ArrayD<f64>| cast_chunk(ArrayChunk::F64(Arc::new(values)), dtype);
    let chunk = match partial {
        Partial::Block(block) => block,
        Partial::Mean { count, total } => float(Zip::from(&*total).and(&*count).map_collect(|&t, &n| t / n as f64)),
        Partial::Moments { count, m2, .. } => {
            let root = matches!(reducer, Reducer::Std | Reducer::NanStd);
            float(Zip::from(&*m2).and(&*count).map_collect(|&s, &n| {
                let var = s / (n as f64 - ddof as f64).max(0.0);
                if root { var.sqrt() } else { var }
            }))
        }
        Partial::Arg { index, .. } => ArrayChunk::I64(index),
    };
    if chunk.dtype() != dtype {
        let message = format!("{}: the result is {}, the array promises {dtype}", reducer.name(), chunk.dtype());
        return Err(OpError::new(message));
    }
    Ok(chunk)
}

//! Evenly spaced values and diagonals: [`arange`], [`linspace`] and [`eye`], as numpy
//! computes them. Each block is made by its own task from the block's place in the array
//! (a few numbers in the graph, never the data); [`generated`] builds such layers for
//! every creation function of that kind (random numbers and `.npy` reading too).

use std::sync::Arc;

use ndarray::{Array1, ArrayD, IxDyn};
use rask_graph::{Args, ArrayChunk, DType, Element, Op, OpError, Token, Value, map_chunk};
use serde::{Deserialize, Serialize};

use super::Array;
use super::chunks::{ChunkSpec, offsets};
use super::creation::num_zero_one::ZeroOne;
use super::kernels::{Kernel, scalar_chunk};
use super::raw::{RawArray, layer_of_blocks};
use crate::error::{Error, Result};

/// Where one block sits in its array.
pub(crate) struct Place {
    /// Its position among all blocks, in C order.
    pub number: u64,
    /// The array index of its first element along each axis.
    pub start: Vec<usize>,
    /// Its shape.
    pub shape: Vec<usize>,
}

/// An array of `shape` cut into `chunks` whose blocks are made from nothing but their
/// place: `block_op` gives the op of each block's task (called without arguments).
pub(crate) fn generated(
    name: &str,
    token: Token,
    shape: &[usize],
    chunks: Vec<Vec<usize>>,
    dtype: DType,
    mut block_op: impl FnMut(&Place) -> Arc<dyn Op>,
) -> RawArray {
    let starts: Vec<Vec<usize>> = chunks.iter().map(|c| offsets(c)).collect();
    let numblocks: Vec<usize> = chunks.iter().map(Vec::len).collect();
    layer_of_blocks(name, token, shape.to_vec(), chunks.clone(), dtype, vec![], |index| {
        let place = Place {
            number: index.iter().zip(&numblocks).fold(0, |n, (&i, &count)| n * count as u64 + u64::from(i)),
            start: index.iter().enumerate().map(|(a, &i)| starts[a][i as usize]).collect(),
            shape: index.iter().enumerate().map(|(a, &i)| chunks[a][i as usize]).collect(),
        };
        (block_op(&place), vec![])
    })
}

/// A 1-d block of `len` elements whose element `i` (counted from the array's start) is
/// `at(i)`, for `i` in `offset..offset + len`.
fn ramp<T>(offset: u64, len: u64, at: impl Fn(u64) -> T) -> Result<ArrayD<T>, OpError> {
    let end = offset.checked_add(len).ok_or_else(|| OpError::new(format!("block {offset}+{len} overflows")))?;
    Ok(Array1::from_iter((offset..end).map(at)).into_dyn())
}

/// Element types [`arange`] counts in: `f64`, `f32`, `i64` and `i32`.
pub trait Arange: Element + sealed::Sealed {
    /// The number of elements from `start` up to `stop` (exclusive) by `step`, as numpy
    /// counts them, or why there is no such count.
    #[doc(hidden)]
    fn arange_len(start: Self, stop: Self, step: Self) -> std::result::Result<usize, String>;
    /// The increment between consecutive elements as numpy applies it.
    #[doc(hidden)]
    fn arange_delta(start: Self, step: Self) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f64 {}
    impl Sealed for f32 {}
    impl Sealed for i64 {}
    impl Sealed for i32 {}
}

macro_rules! float_arange {
    ($t:ty) => {
        impl Arange for $t {
            fn arange_len(start: $t, stop: $t, step: $t) -> std::result::Result<usize, String> {
                if step == 0.0 {
                    return Err("the step is zero".into());
                }
                let (span, count) = (stop - start, (stop - start) / step);
                // A quotient that underflowed to zero still counts one element if positive.
                let count = if count == 0.0 && span != 0.0 {
                    f64::from(u8::from(count.is_sign_positive()))
                } else {
                    f64::from(count).ceil()
                };
                if count.is_nan() || count >= isize::MAX as f64 {
                    return Err(format!("cannot count the elements from {start} to {stop} by {step}"));
                }
                Ok(count.max(0.0) as usize)
            }
            fn arange_delta(start: $t, step: $t) -> $t {
                (start + step) - start
            }
        }
    };
}
float_arange!(f64);
float_arange!(f32);

macro_rules! int_arange {
    ($t:ty) => {
        impl Arange for $t {
            fn arange_len(start: $t, stop: $t, step: $t) -> std::result::Result<usize, String> {
                if step == 0 {
                    return Err("the step is zero".into());
                }
                let (span, step) = (i128::from(stop) - i128::from(start), i128::from(step));
                let count = span / step + i128::from(span % step != 0 && (span < 0) == (step < 0));
                isize::try_from(count.max(0)).map(|n| n as usize).map_err(|_| format!("{count} elements are too many"))
            }
            fn arange_delta(_start: $t, step: $t) -> $t {
                step
            }
        }
    };
}
int_arange!(i64);
int_arange!(i32);

/// Evenly spaced values from `start` up to `stop` (exclusive) by `step`, as numpy's and
/// Dask's `arange`, for `f64`, `f32`, `i64` and `i32` (the type of the arguments).
///
/// numpy's rules: there are `ceil((stop - start) / step)` elements, none when the step
/// points away from `stop`; element `i` is `start + i * delta` with `delta = (start +
/// step) - start` (for floats the same as `step` but for rounding, as numpy computes it).
/// A zero step is an error.
///
/// ```
/// use rask_collections::array::arange;
/// let x = arange(0.0, 1.0, 0.3, [2]).unwrap();
/// assert_eq!(x.compute().unwrap(), ndarray::arr1(&[0.0, 0.3, 0.6, 0.8999999999999999]).into_dyn());
/// assert_eq!(arange(10i64, 0, -3, [4]).unwrap().compute().unwrap(), ndarray::arr1(&[10, 7, 4, 1]).into_dyn());
/// assert_eq!(arange(0i32, 5, -1, [4]).unwrap().size(), 0);
/// assert!(arange(0.0, 1.0, 0.0, [4]).unwrap_err().to_string().contains("step is zero"));
/// ```
pub fn arange<T: Arange>(start: T, stop: T, step: T, chunks: impl Into<ChunkSpec>) -> Result<Array<T>> {
    let len = T::arange_len(start, stop, step)
        .map_err(|e| Error::Shape(format!("arange({start:?}, {stop:?}, {step:?}): {e}")))?;
    let delta = T::arange_delta(start, step);
    let parameters = ("arange", T::DTYPE, start.token_bits(), delta.token_bits());
    let (start, delta) = (scalar_chunk(start), scalar_chunk(delta));
    ramp_array(parameters, len, chunks.into(), |offset, len| {
        Arc::new(ArangeBlock { start: start.clone(), delta: delta.clone(), offset, len })
    })
}

/// A 1-d array of `len` elements named by `parameters.0`, its blocks made by
/// `block_op(offset, len)`; `parameters` identify its values (they key its blocks).
fn ramp_array<T: Element>(
    parameters: (&str, DType, u64, u64),
    len: usize,
    chunks: ChunkSpec,
    block_op: impl Fn(u64, u64) -> Arc<dyn Op>,
) -> Result<Array<T>> {
    let shape = [len];
    let chunks = chunks.resolve(&shape)?;
    let token = Token::of(&(parameters, len, &chunks));
    let raw = generated(parameters.0, token, &shape, chunks, T::DTYPE, |place| {
        block_op(place.start[0] as u64, place.shape[0] as u64)
    });
    Ok(Array::from_raw(raw))
}

/// Makes one block of an [`arange`]: elements `offset..offset + len` of `start + i * delta`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArangeBlock {
    /// The first element (a 0-d block, which gives the dtype).
    pub start: ArrayChunk,
    /// The increment (a 0-d block of the same dtype).
    pub delta: ArrayChunk,
    /// The array index of the block's first element.
    pub offset: u64,
    /// The block's length.
    pub len: u64,
}

/// The single element of a 0-d block (`what` names it in the error).
fn first<T: Copy>(block: &ArrayD<T>, what: &str) -> Result<T, OpError> {
    block.first().copied().ok_or_else(|| OpError::new(format!("{what} is an empty block")))
}

fn arange_block<T: Kernel>(start: &ArrayD<T>, op: &ArangeBlock) -> Result<Arc<ArrayD<T>>, OpError> {
    let start = first(start, "arange's start")?;
    let delta = T::unwrap(&op.delta)
        .ok_or_else(|| OpError::new(format!("arange's delta is {}, its start {}", op.delta.dtype(), T::DTYPE)))?;
    let delta = first(delta, "arange's delta")?;
    Ok(Arc::new(ramp(op.offset, op.len, |i| start.add(T::from_i64(i as i64).mul(delta)))?))
}

#[typetag::serde(name = "rask.array.arange")]
impl Op for ArangeBlock {
    fn name(&self) -> &str {
        "arange"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        no_arguments("arange", &args)?;
        Ok(Value::Array(map_chunk!(&self.start, start => arange_block(start, self)?)))
    }
}

/// An error unless `args` is empty (the ops that make blocks from nothing).
pub(crate) fn no_arguments(name: &str, args: &Args) -> Result<(), OpError> {
    match args.len() {
        0 => Ok(()),
        n => Err(OpError::new(format!("{name} takes no arguments, got {n}"))),
    }
}

/// `num` evenly spaced values from `start` to `stop`, both included, as numpy's and
/// Dask's `linspace` (float64).
///
/// numpy's rules: element `i` is `start + i * step` with `step = (stop - start) / (num -
/// 1)`, the last element is exactly `stop`; `num = 1` gives `[start]` and `num = 0` an
/// empty array.
///
/// ```
/// use rask_collections::array::linspace;
/// let x = linspace(0.0, 1.0, 5, [2]).unwrap();
/// assert_eq!(x.compute().unwrap(), ndarray::arr1(&[0.0, 0.25, 0.5, 0.75, 1.0]).into_dyn());
/// assert_eq!(linspace(3.0, 7.0, 1, [2]).unwrap().compute().unwrap(), ndarray::arr1(&[3.0]).into_dyn());
/// assert_eq!(linspace(3.0, 7.0, 0, [2]).unwrap().shape(), &[0]);
/// ```
pub fn linspace(start: f64, stop: f64, num: usize, chunks: impl Into<ChunkSpec>) -> Result<Array<f64>> {
    let parameters = ("linspace", DType::F64, start.to_bits(), stop.to_bits());
    ramp_array(parameters, num, chunks.into(), |offset, len| {
        Arc::new(LinspaceBlock { start, stop, num: num as u64, offset, len })
    })
}

/// Makes one block of a [`linspace`]: elements `offset..offset + len` of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinspaceBlock {
    /// The first value.
    pub start: f64,
    /// The last value.
    pub stop: f64,
    /// The number of values in the whole array.
    pub num: u64,
    /// The array index of the block's first element.
    pub offset: u64,
    /// The block's length.
    pub len: u64,
}

impl LinspaceBlock {
    /// Element `i`, computed as numpy does (including its care for steps that underflow).
    fn at(&self, i: u64) -> f64 {
        let (delta, div) = (self.stop - self.start, self.num.saturating_sub(1) as f64);
        if self.num > 1 && i == self.num - 1 {
            return self.stop;
        }
        let step = delta / div;
        match div {
            0.0 => i as f64 * delta + self.start,
            _ if step == 0.0 => i as f64 / div * delta + self.start,
            _ => i as f64 * step + self.start,
        }
    }
}

#[typetag::serde(name = "rask.array.linspace")]
impl Op for LinspaceBlock {
    fn name(&self) -> &str {
        "linspace"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        no_arguments("linspace", &args)?;
        Ok(Value::Array(ArrayChunk::F64(Arc::new(ramp(self.offset, self.len, |i| self.at(i))?))))
    }
}

/// An `n` by `m` array with ones on the `k`-th diagonal and zeros elsewhere (`false` and
/// `true` for `bool`), as numpy's and Dask's `eye`: `k = 0` is the main diagonal, `k > 0`
/// above it, `k < 0` below it.
///
/// ```
/// use rask_collections::array::eye;
/// let x = eye::<i32>(3, 4, 1, [2, 2]).unwrap();
/// assert_eq!(x.compute().unwrap(), ndarray::array![[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]].into_dyn());
/// assert_eq!(eye::<f64>(2, 2, 0, [2, 2]).unwrap().compute().unwrap(), ndarray::Array2::<f64>::eye(2).into_dyn());
/// ```
pub fn eye<T: Element + ZeroOne>(n: usize, m: usize, k: isize, chunks: impl Into<ChunkSpec>) -> Result<Array<T>> {
    let shape = [n, m];
    let chunks = chunks.into().resolve(&shape)?;
    let token = Token::of(&("eye", T::DTYPE, n, m, k, &chunks));
    let one = scalar_chunk(T::ONE);
    let raw = generated("eye", token, &shape, chunks, T::DTYPE, |place| {
        Arc::new(EyeBlock {
            one: one.clone(),
            shape: [place.shape[0] as u64, place.shape[1] as u64],
            start: [place.start[0] as u64, place.start[1] as u64],
            k: k as i64,
        })
    });
    Ok(Array::from_raw(raw))
}

/// Makes one block of an [`eye`]: zeros with `one` where `column - row == k`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EyeBlock {
    /// The value on the diagonal (a 0-d block, which gives the dtype).
    pub one: ArrayChunk,
    /// The block's shape.
    pub shape: [u64; 2],
    /// The array index (row, column) of the block's first element.
    pub start: [u64; 2],
    /// The diagonal's offset.
    pub k: i64,
}

fn eye_block<T: Element>(one: &ArrayD<T>, op: &EyeBlock) -> Result<Arc<ArrayD<T>>, OpError> {
    let one = first(one, "eye's diagonal value")?;
    let [rows, cols] = op.shape.map(|n| n as usize);
    let mut block = ArrayD::from_elem(IxDyn(&[rows, cols]), T::default());
    // The diagonal's column in this block for block row r is r + first.
    let first = i128::from(op.start[0]) + i128::from(op.k) - i128::from(op.start[1]);
    for r in 0..rows {
        if let Ok(c) = usize::try_from(first + r as i128)
            && c < cols
        {
            block[[r, c]] = one;
        }
    }
    Ok(Arc::new(block))
}

#[typetag::serde(name = "rask.array.eye")]
impl Op for EyeBlock {
    fn name(&self) -> &str {
        "eye"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        no_arguments("eye", &args)?;
        Ok(Value::Array(map_chunk!(&self.one, one => eye_block(one, self)?)))
    }
}

//! Random arrays from an explicit seed, as `dask.array.random`.
//!
//! Each block draws from its own stream, derived from the seed and the block's position
//! in C order (SplitMix64 into xoshiro256++), so the same seed gives the same numbers
//! whatever the scheduler, the number of threads or the order blocks run in. As in Dask,
//! the numbers depend on the chunking (the streams are per block); the shape never does.
//! Uniform floats take the top 53 bits of a draw (numpy's `random()`); normals use a
//! ziggurat.
//!
//! ```
//! use rask_collections::array::random;
//! let x = random::normal(42, 10.0, 2.0, &[1000, 100], [250, 50]).unwrap();
//! let y = random::normal(42, 10.0, 2.0, &[1000, 100], [250, 50]).unwrap();
//! assert_eq!(x.compute().unwrap(), y.compute().unwrap());
//! let mean = x.compute().unwrap().mean().unwrap();
//! assert!((mean - 10.0).abs() < 0.05);
//! ```

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use rand_distr::{Distribution as Sample, StandardNormal, Uniform};
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rand_xoshiro::{SplitMix64, Xoshiro256PlusPlus};
use rask_graph::{Args, ArrayChunk, Element, Op, OpError, Token, Value, ValueError};
use serde::{Deserialize, Serialize};

use super::Array;
use super::chunks::ChunkSpec;
use super::ranges::{generated, no_arguments};
use crate::error::{Error, Result};

/// Uniform floats in `[0, 1)`, as Dask's `random.random`.
///
/// ```
/// use rask_collections::array::random;
/// let x = random::random(7, &[3, 4], [2, 2]).unwrap().compute().unwrap();
/// assert!(x.iter().all(|&v| (0.0..1.0).contains(&v)));
/// ```
pub fn random(seed: u64, shape: &[usize], chunks: impl Into<ChunkSpec>) -> Result<Array<f64>> {
    uniform(seed, 0.0, 1.0, shape, chunks)
}

/// Uniform floats in `[low, high)` (`low + (high - low) * u`, as numpy computes them).
///
/// ```
/// use rask_collections::array::random;
/// let x = random::uniform(1, -2.0, 2.0, &[100], [30]).unwrap().compute().unwrap();
/// assert!(x.iter().all(|&v| (-2.0..2.0).contains(&v)));
/// ```
pub fn uniform(seed: u64, low: f64, high: f64, shape: &[usize], chunks: impl Into<ChunkSpec>) -> Result<Array<f64>> {
    random_array(seed, Distribution::Uniform { low, high }, shape, chunks.into())
}

/// Normally distributed floats with mean `mean` and standard deviation `std`; a negative
/// or NaN `std` is an error (numpy's `scale < 0`).
///
/// ```
/// use rask_collections::array::random;
/// assert!(random::normal(1, 0.0, -1.0, &[3], [3]).unwrap_err().to_string().contains("-1"));
/// ```
pub fn normal(seed: u64, mean: f64, std: f64, shape: &[usize], chunks: impl Into<ChunkSpec>) -> Result<Array<f64>> {
    if std.is_nan() || std < 0.0 {
        return Err(Error::Value(ValueError::OutOfRange {
            value: std.to_string(),
            target: "normal's std (a standard deviation is at least 0)",
        }));
    }
    random_array(seed, Distribution::Normal { mean, std }, shape, chunks.into())
}

/// Standard normal floats (mean 0, standard deviation 1).
///
/// ```
/// use rask_collections::array::random;
/// assert_eq!(random::standard_normal(3, &[5, 5], [2, 5]).unwrap().shape(), &[5, 5]);
/// ```
pub fn standard_normal(seed: u64, shape: &[usize], chunks: impl Into<ChunkSpec>) -> Result<Array<f64>> {
    normal(seed, 0.0, 1.0, shape, chunks)
}

/// Uniform integers in `[low, high)`, as numpy's `Generator.integers` (int64); `low` must
/// be below `high`.
///
/// ```
/// use rask_collections::array::random;
/// let dice = random::integers(9, 1, 7, &[600], [100]).unwrap().compute().unwrap();
/// assert!(dice.iter().all(|d| (1..7).contains(d)));
/// assert!(random::integers(9, 3, 3, &[1], [1]).is_err());
/// ```
pub fn integers(seed: u64, low: i64, high: i64, shape: &[usize], chunks: impl Into<ChunkSpec>) -> Result<Array<i64>> {
    if low >= high {
        return Err(Error::Value(ValueError::OutOfRange {
            value: format!("[{low}, {high})"),
            target: "integers' range (low must be below high)",
        }));
    }
    random_array(seed, Distribution::Integers { low, high }, shape, chunks.into())
}

fn random_array<T: Element>(
    seed: u64,
    distribution: Distribution,
    shape: &[usize],
    chunks: ChunkSpec,
) -> Result<Array<T>> {
    let chunks = chunks.resolve(shape)?;
    let token = Token::of(&("random", seed, distribution.token_bits(), shape, &chunks));
    let raw = generated(distribution.name(), token, shape, chunks, T::DTYPE, |place| {
        Arc::new(RandomBlock { seed, stream: place.number, shape: place.shape.clone(), distribution })
    });
    Ok(Array::from_raw(raw))
}

/// What a [`RandomBlock`] draws.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Distribution {
    /// float64 in `[low, high)`.
    Uniform {
        /// Lower bound (included).
        low: f64,
        /// Upper bound (excluded).
        high: f64,
    },
    /// float64, normal.
    Normal {
        /// The mean.
        mean: f64,
        /// The standard deviation.
        std: f64,
    },
    /// int64 in `[low, high)`.
    Integers {
        /// Lower bound (included).
        low: i64,
        /// Upper bound (excluded).
        high: i64,
    },
}

impl Distribution {
    fn name(self) -> &'static str {
        match self {
            Distribution::Uniform { .. } => "uniform",
            Distribution::Normal { .. } => "normal",
            Distribution::Integers { .. } => "integers",
        }
    }

    fn token_bits(self) -> (&'static str, u64, u64) {
        match self {
            Distribution::Uniform { low, high } => ("uniform", low.to_bits(), high.to_bits()),
            Distribution::Normal { mean, std } => ("normal", mean.to_bits(), std.to_bits()),
            Distribution::Integers { low, high } => ("integers", low as u64, high as u64),
        }
    }

    /// A block of `shape` drawn from `rng`, in C order.
    fn draw(self, rng: &mut Xoshiro256PlusPlus, shape: &[usize]) -> Result<ArrayChunk, OpError> {
        Ok(match self {
            Distribution::Uniform { low, high } => {
                let scale = high - low;
                ArrayChunk::F64(block(shape, || low + scale * unit(rng.next_u64()))?)
            }
            Distribution::Normal { mean, std } => {
                ArrayChunk::F64(block(shape, || mean + std * Sample::<f64>::sample(&StandardNormal, rng))?)
            }
            Distribution::Integers { low, high } => {
                let range =
                    Uniform::new(low, high).map_err(|e| OpError::new(format!("integers [{low}, {high}): {e}")))?;
                ArrayChunk::I64(block(shape, || range.sample(rng))?)
            }
        })
    }
}

/// A block of `shape` filled in C order by `next`.
fn block<T>(shape: &[usize], mut next: impl FnMut() -> T) -> Result<Arc<ArrayD<T>>, OpError> {
    let too_large = || OpError::new(format!("a random block of shape {shape:?} is too large"));
    let n = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).ok_or_else(too_large)?;
    let mut data = Vec::new();
    data.try_reserve_exact(n).map_err(|_| too_large())?;
    data.extend((0..n).map(|_| next()));
    ArrayD::from_shape_vec(IxDyn(shape), data).map(Arc::new).map_err(|e| OpError::new(e.to_string()))
}

/// A uniform float in `[0, 1)` from the top 53 bits of a draw (converted as a signed
/// integer, which x86-64 does in one instruction).
fn unit(bits: u64) -> f64 {
    ((bits >> 11) as i64) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The generator of block `stream` of seed `seed`: the xoshiro256++ state is four
/// SplitMix64 outputs, two from the seed's stream and two from the block's, so distinct
/// (seed, block) pairs never share a state.
fn block_rng(seed: u64, stream: u64) -> Xoshiro256PlusPlus {
    const SALT: u64 = 0x632B_E59B_D9B4_E019;
    let (mut a, mut b) = (SplitMix64::seed_from_u64(seed), SplitMix64::seed_from_u64(stream ^ SALT));
    let words = [a.next_u64(), b.next_u64(), a.next_u64(), b.next_u64()];
    let mut bytes = [0u8; 32];
    for (slot, word) in bytes.chunks_exact_mut(8).zip(words) {
        slot.copy_from_slice(&word.to_le_bytes());
    }
    Xoshiro256PlusPlus::from_seed(bytes)
}

/// Makes one block of a random array: `shape` draws of `distribution` from the stream of
/// block number `stream` (C order) of `seed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RandomBlock {
    /// The array's seed.
    pub seed: u64,
    /// The block's position among the array's blocks, in C order.
    pub stream: u64,
    /// The block's shape.
    pub shape: Vec<usize>,
    /// What to draw.
    pub distribution: Distribution,
}

#[typetag::serde(name = "rask.array.random")]
impl Op for RandomBlock {
    fn name(&self) -> &str {
        self.distribution.name()
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        no_arguments(self.name(), &args)?;
        let chunk = self.distribution.draw(&mut block_rng(self.seed, self.stream), &self.shape)?;
        Ok(Value::Array(chunk))
    }
}

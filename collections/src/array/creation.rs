//! Creating arrays: from an ndarray, or filled with one value.

use std::sync::Arc;

use ndarray::{ArrayBase, ArrayD, Data as NdData, Dimension, IxDyn, Slice, arr0};
use rask_graph::{ArgSpec, Args, ArrayChunk, Element, Op, OpError, Token, TokenHasher, Value, ops};
use serde::{Deserialize, Serialize};

use super::Array;
use super::chunks::{ChunkSpec, offsets};
use super::raw::layer_of_blocks;
use crate::error::Result;

/// Cuts an in-memory ndarray into blocks of `chunks` (copied once, block by block).
/// Equal data and chunks give equal keys.
///
/// ```
/// use rask_collections::array::from_ndarray;
/// let a = ndarray::Array1::from_iter(0..10i64);
/// let x = from_ndarray(&a, [4]).unwrap();
/// assert_eq!(x.chunks(), &[vec![4, 4, 2]]);
/// assert_eq!(x.compute().unwrap(), a.into_dyn());
/// assert!(from_ndarray(&ndarray::Array1::<f64>::zeros(3), [1, 1]).is_err());
/// ```
pub fn from_ndarray<T, S, D>(array: &ArrayBase<S, D>, chunks: impl Into<ChunkSpec>) -> Result<Array<T>>
where
    T: Element,
    S: NdData<Elem = T>,
    D: Dimension,
{
    let view = array.view().into_dyn();
    let shape = view.shape().to_vec();
    let chunks = chunks.into().resolve(&shape)?;
    let mut hasher = TokenHasher::new();
    std::hash::Hash::hash(&(&shape, &chunks, T::DTYPE), &mut hasher);
    view.iter().for_each(|x| std::hash::Hasher::write_u64(&mut hasher, x.token_bits()));
    let token = Token(std::hash::Hasher::finish(&hasher));
    let identity: Arc<dyn Op> = Arc::new(ops::Identity);
    let offsets: Vec<Vec<usize>> = chunks.iter().map(|c| offsets(c)).collect();
    let raw = layer_of_blocks("array", token, shape, chunks, T::DTYPE, vec![], |index| {
        let block = view
            .slice_each_axis(|axis| {
                let (a, i) = (axis.axis.index(), index[axis.axis.index()] as usize);
                Slice::from(offsets[a][i]..offsets[a][i + 1])
            })
            .to_owned();
        (identity.clone(), vec![ArgSpec::Value(Value::Array(T::wrap(Arc::new(block))))])
    });
    Ok(Array::from_raw(raw))
}

/// An array of `shape` with every element `value`.
///
/// ```
/// use rask_collections::array::full;
/// let x = full(&[3, 2], [2, 2], 7i32).unwrap();
/// assert_eq!(x.compute().unwrap(), ndarray::ArrayD::from_elem(vec![3, 2], 7));
/// ```
pub fn full<T: Element>(shape: &[usize], chunks: impl Into<ChunkSpec>, value: T) -> Result<Array<T>> {
    filled(shape, chunks.into(), value, "full")
}

/// An array of zeros (`false` for `bool`).
pub fn zeros<T: Element + num_zero_one::ZeroOne>(shape: &[usize], chunks: impl Into<ChunkSpec>) -> Result<Array<T>> {
    filled(shape, chunks.into(), T::ZERO, "zeros")
}

/// An array of ones (`true` for `bool`).
///
/// ```
/// use rask_collections::array::ones;
/// let x = ones::<f32>(&[5], [2]).unwrap();
/// assert_eq!(x.to_string(), "rask.Array<ones, shape=(5,), dtype=float32, chunksize=(2,), chunktype=ndarray, tasks=3>");
/// assert_eq!(x.compute().unwrap().sum(), 5.0);
/// ```
pub fn ones<T: Element + num_zero_one::ZeroOne>(shape: &[usize], chunks: impl Into<ChunkSpec>) -> Result<Array<T>> {
    filled(shape, chunks.into(), T::ONE, "ones")
}

/// The zeros and ones of each element type.
pub mod num_zero_one {
    /// An element type's zero and one.
    pub trait ZeroOne: Sized {
        /// Zero (`false`).
        const ZERO: Self;
        /// One (`true`).
        const ONE: Self;
    }
    macro_rules! zero_one {
        ($($t:ty: $z:expr, $o:expr);*) => {$(impl ZeroOne for $t { const ZERO: Self = $z; const ONE: Self = $o; })*};
    }
    zero_one!(f64: 0.0, 1.0; f32: 0.0, 1.0; i64: 0, 1; i32: 0, 1; bool: false, true);
}

fn filled<T: Element>(shape: &[usize], chunks: ChunkSpec, value: T, name: &str) -> Result<Array<T>> {
    let chunks = chunks.resolve(shape)?;
    let token = Token::of(&(name, shape, &chunks, T::DTYPE, value.token_bits()));
    let fill = T::wrap(Arc::new(arr0(value).into_dyn()));
    let mut ops: std::collections::HashMap<Vec<usize>, Arc<dyn Op>> = std::collections::HashMap::new();
    let raw = layer_of_blocks(name, token, shape.to_vec(), chunks.clone(), T::DTYPE, vec![], |index| {
        let block_shape: Vec<usize> = index.iter().enumerate().map(|(a, &i)| chunks[a][i as usize]).collect();
        let op = ops
            .entry(block_shape.clone())
            .or_insert_with(|| Arc::new(FullBlock { shape: block_shape, fill: fill.clone() }))
            .clone();
        (op, vec![])
    });
    Ok(Array::from_raw(raw))
}

/// Makes one block of `shape` filled with the single element of `fill` (a 0-d block).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FullBlock {
    /// The block's shape.
    pub shape: Vec<usize>,
    /// A 0-d block holding the value.
    pub fill: ArrayChunk,
}

fn fill_block<T: Element>(fill: &ArrayD<T>, shape: &[usize]) -> Result<Arc<ArrayD<T>>, OpError> {
    let value = fill.first().copied().ok_or_else(|| OpError::new("full: the fill block is empty"))?;
    Ok(Arc::new(ArrayD::from_elem(IxDyn(shape), value)))
}

#[typetag::serde(name = "rask.array.full")]
impl Op for FullBlock {
    fn name(&self) -> &str {
        "full"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        if !args.is_empty() {
            return Err(OpError::new(format!("full takes no arguments, got {}", args.len())));
        }
        let shape = &self.shape;
        Ok(Value::Array(match &self.fill {
            ArrayChunk::Bool(f) => ArrayChunk::Bool(fill_block(f, shape)?),
            ArrayChunk::I32(f) => ArrayChunk::I32(fill_block(f, shape)?),
            ArrayChunk::I64(f) => ArrayChunk::I64(fill_block(f, shape)?),
            ArrayChunk::F32(f) => ArrayChunk::F32(fill_block(f, shape)?),
            ArrayChunk::F64(f) => ArrayChunk::F64(fill_block(f, shape)?),
        }))
    }
}

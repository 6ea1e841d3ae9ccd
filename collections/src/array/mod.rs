//! Chunked n-dimensional arrays, the counterpart of `dask.array`.
//!
//! An [`Array<T>`] is a lazy array of element type `T` ([`Element`]: `f64`, `f32`,
//! `i64`, `i32`, `bool`) cut into ndarray blocks along every axis ([`ChunkSpec`]). Its
//! shape and chunks are known when it is built, so shape mistakes are errors at build
//! time; `compute()` runs the blocks' tasks and assembles one `ndarray::ArrayD<T>`.
//!
//! ```
//! use rask_collections::array::{self, Array};
//! let x = array::from_ndarray(&ndarray::Array2::<f64>::ones((4, 6)), [2, 4]).unwrap();
//! assert_eq!(x.chunks(), &[vec![2, 2], vec![4, 2]]);
//! assert_eq!(x.npartitions(), 4);
//! assert_eq!(x.compute().unwrap(), ndarray::ArrayD::<f64>::ones(vec![4, 6]));
//! ```

mod arith;
mod axes;
mod blockwise;
mod chunks;
mod combine;
mod creation;
mod cumulative;
mod elementwise;
mod indexing;
mod kernels;
mod linalg;
mod map_blocks;
mod npy;
mod persist;
pub mod random;
mod ranges;
mod raw;
mod rechunk;
mod reduction;
mod reshape;
mod transpose;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Slice};
use rask_graph::{Element, Group, Key, Layer, Token, Value, count_tasks};

pub use arith::{Operand, Promote, where_};
pub use elementwise::{BinaryFn, Elementwise, Expr, UnaryFn};
pub use indexing::{Gather, Run};
pub use linalg::{
    BlockProduct, DEFAULT_SPLIT_EVERY, ProductKind, TensordotAxes, dot, matmul, matmul_with, tensordot, tensordot_with,
};
pub use map_blocks::MapBlock;
use raw::RawArray;
pub use rechunk::{Assemble, Piece, Span};
pub use transpose::TransposeBlock;

pub use axes::Axes;
pub use chunks::ChunkSpec;
pub use combine::{concatenate, stack};
pub use creation::{FullBlock, from_ndarray, full, ones, zeros};
pub use cumulative::{Scan, ScanBlock};
pub use npy::{NpyCreate, NpyLayout, NpyReadBlock, NpyWriteBlock, from_npy};
pub use persist::{CheckBlock, from_blocks, from_delayed};
pub use ranges::{Arange, ArangeBlock, EyeBlock, LinspaceBlock, arange, eye, linspace};
pub use reduction::{CombinePartials, Finish, ReduceBlock, ReduceOptions, Reducer};

use crate::compute::{Computable, ComputeOptions, Target, compute_with};
use crate::error::{Error, Result};
use chunks::{block_indices, offsets};

/// A lazy chunked array; see the module docs.
///
/// An array made by an operator (`&x + &y`) whose operands do not fit carries the error
/// instead of blocks: the next fallible call on it, or `compute()`, returns that error.
pub struct Array<T: Element> {
    raw: RawArray,
    problem: Option<Box<Error>>,
    _type: PhantomData<fn() -> T>,
}

impl<T: Element> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array { raw: self.raw.clone(), problem: self.problem.clone(), _type: PhantomData }
    }
}

impl<T: Element> Array<T> {
    /// The array whose blocks `raw` describes; `raw.dtype` must be `T`'s.
    pub(crate) fn from_raw(raw: RawArray) -> Self {
        debug_assert_eq!(raw.dtype, T::DTYPE, "array blocks of the wrong type");
        Array { raw, problem: None, _type: PhantomData }
    }

    /// An array that carries `error` instead of blocks (see the type's docs).
    pub(crate) fn broken(error: Error) -> Self {
        let raw = RawArray {
            shape: vec![],
            chunks: vec![],
            dtype: T::DTYPE,
            group: Group::new("error"),
            token: Token(0),
            layer: Layer::new(vec![], vec![]),
        };
        Array { raw, problem: Some(Box::new(error)), _type: PhantomData }
    }

    /// The array's blocks, or the error it carries.
    pub(crate) fn raw(&self) -> Result<&RawArray> {
        match &self.problem {
            Some(e) => Err((**e).clone()),
            None => Ok(&self.raw),
        }
    }

    /// The error this array carries, if an operator that made it failed (see the type's
    /// docs).
    ///
    /// ```
    /// use rask_collections::array::zeros;
    /// let (x, y) = (zeros::<f64>(&[3], [3]).unwrap(), zeros::<f64>(&[4], [4]).unwrap());
    /// let z = &x + &y;
    /// assert!(z.error().unwrap().to_string().contains("[3], [4]"));
    /// assert!(z.compute().is_err());
    /// ```
    pub fn error(&self) -> Option<&Error> {
        self.problem.as_deref()
    }

    /// The length of each axis.
    pub fn shape(&self) -> &[usize] {
        &self.raw.shape
    }

    /// The number of axes.
    pub fn ndim(&self) -> usize {
        self.raw.shape.len()
    }

    /// The number of elements.
    pub fn size(&self) -> usize {
        self.raw.size()
    }

    /// The element type.
    pub fn dtype(&self) -> rask_graph::DType {
        T::DTYPE
    }

    /// Bytes of element data once computed.
    pub fn nbytes(&self) -> usize {
        self.size() * T::DTYPE.itemsize()
    }

    /// The block sizes along each axis, as Dask's `chunks`.
    pub fn chunks(&self) -> &[Vec<usize>] {
        &self.raw.chunks
    }

    /// The largest block size along each axis (Dask's `chunksize`).
    pub fn chunksize(&self) -> Vec<usize> {
        self.raw.chunks.iter().map(|c| c.iter().copied().max().unwrap_or(0)).collect()
    }

    /// The number of blocks along each axis.
    pub fn numblocks(&self) -> Vec<usize> {
        self.raw.numblocks()
    }

    /// The number of blocks.
    pub fn npartitions(&self) -> usize {
        self.numblocks().iter().product()
    }

    /// The key of the block at `index` (one entry per axis).
    pub fn block_key(&self, index: &[u32]) -> Key {
        self.raw.key(index)
    }

    /// The number of tasks in the graph behind this array (before optimization).
    pub fn task_count(&self) -> usize {
        count_tasks(&[&self.raw.layer])
    }

    /// Computes the array on the default scheduler.
    pub fn compute(&self) -> Result<ArrayD<T>> {
        compute_with(self, &ComputeOptions::default())
    }

    /// Computes the array with `options`.
    pub fn compute_with(&self, options: &ComputeOptions) -> Result<ArrayD<T>> {
        compute_with(self, options)
    }
}

impl<T: Element> Computable for Array<T> {
    type Output = ArrayD<T>;

    fn targets(&self, targets: &mut Vec<Target>) {
        if self.problem.is_some() {
            return;
        }
        for index in block_indices(&self.numblocks()) {
            targets.push(Target::Task { key: self.block_key(&index), layer: self.raw.layer.clone() });
        }
    }

    fn finish(&self, values: &mut dyn Iterator<Item = Value>) -> Result<ArrayD<T>> {
        self.raw()?;
        let indices = block_indices(&self.numblocks());
        let offsets: Vec<Vec<usize>> = self.raw.chunks.iter().map(|c| offsets(c)).collect();
        let mut out: Option<ArrayD<T>> = None;
        for index in &indices {
            let value = values.next().expect("one value per block");
            let block = self.checked_block(index, value)?;
            if indices.len() == 1 {
                return Ok(Arc::try_unwrap(block).unwrap_or_else(|shared| (*shared).clone()));
            }
            let out = out.get_or_insert_with(|| ArrayD::default(IxDyn(&self.raw.shape)));
            out.slice_each_axis_mut(|axis| {
                let (a, i) = (axis.axis.index(), index[axis.axis.index()] as usize);
                Slice::from(offsets[a][i]..offsets[a][i + 1])
            })
            .assign(&*block);
        }
        Ok(out.unwrap_or_else(|| ArrayD::default(IxDyn(&self.raw.shape))))
    }
}

impl<T: Element> Array<T> {
    /// The block's data, checked against the dtype and block shape the array promises.
    fn checked_block(&self, index: &[u32], value: Value) -> Result<Arc<ArrayD<T>>> {
        let key = self.block_key(index);
        let chunk = match value {
            Value::Array(chunk) => chunk,
            other => {
                return Err(Error::Shape(format!("block {key} produced a {}, not an array block", other.type_name())));
            }
        };
        let block = T::unwrap(&chunk).ok_or_else(|| {
            Error::Shape(format!("block {key} has dtype {}, the array promises {}", chunk.dtype(), T::DTYPE))
        })?;
        let expected = self.raw.block_shape(index);
        if block.shape() != expected.as_slice() {
            return Err(Error::Shape(format!(
                "block {key} has shape {:?}, the array's chunks promise {expected:?}",
                block.shape()
            )));
        }
        Ok(block.clone())
    }
}

impl<T: Element> fmt::Display for Array<T> {
    /// Like Dask's repr: `rask.Array<ones, shape=(4, 6), dtype=float64, chunksize=(2, 4), chunktype=ndarray, tasks=4>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tuple = |v: &[usize]| match v {
            [one] => format!("({one},)"),
            _ => format!("({})", v.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
        };
        write!(
            f,
            "rask.Array<{}, shape={}, dtype={}, chunksize={}, chunktype=ndarray, tasks={}>",
            self.raw.group,
            tuple(&self.raw.shape),
            T::DTYPE,
            tuple(&self.chunksize()),
            self.task_count()
        )
    }
}

impl<T: Element> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

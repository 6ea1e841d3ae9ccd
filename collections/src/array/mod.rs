//! Chunked n-dimensional arrays, the counterpart of `dask.array`.
//!
//! An [`Array<T>`] is a lazy array of element type `T` ([`Element`]: `f64`, `f32`,
//! `i64`, `i32`, `bool`) cut into ndarray blocks along every axis ([`ChunkSpec`]). Its
//! shape and chunks are known when it is built, so shape mistakes are errors at build
//! time; `compute()` runs the blocks' tasks and assembles one `ndarray::ArrayD<T>`. The
//! one exception is a lazy boolean mask ([`Array::extract`]), whose length is known only
//! once computed: the array's chunk sizes are unknown, as Dask's `nan` chunks, until
//! [`Array::compute_chunk_sizes`].
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
pub(crate) mod chunks;
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
pub(crate) mod raw;
mod rechunk;
mod reduction;
mod reshape;
mod transpose;
mod unknown;

use std::fmt;
use std::marker::PhantomData;

use ndarray::ArrayD;
use rask_graph::{Element, Group, Key, Layer, Token, Value, count_tasks};

pub use arith::{Operand, Promote, where_};
pub use elementwise::{BinaryFn, Elementwise, Expr, UnaryFn};
pub use indexing::{ExtractBlock, Gather, Run};
pub use linalg::{
    BlockProduct, DEFAULT_SPLIT_EVERY, ProductKind, TensordotAxes, dot, matmul, matmul_with, tensordot, tensordot_with,
};
pub use map_blocks::MapBlock;
use raw::RawArray;
pub use rechunk::{Assemble, Piece, Span};
pub use transpose::TransposeBlock;
pub use unknown::{ArgBlock, ArgFound, BlockLength, RequireElements, SameShapes};

pub use axes::Axes;
pub use chunks::{ChunkSpec, GRAPH_BYTES_PER_BLOCK, MAX_BLOCKS};
pub use combine::{concatenate, stack};
pub use creation::{FullBlock, from_ndarray, full, ones, zeros};
pub use cumulative::{Scan, ScanBlock};
pub use npy::{NpyCreate, NpyLayout, NpyReadBlock, NpyWriteBlock, from_npy};
pub use persist::{CheckBlock, from_blocks, from_delayed};
pub use ranges::{Arange, ArangeBlock, EyeBlock, LinspaceBlock, arange, eye, linspace};
pub use reduction::{CombinePartials, Finish, ReduceBlock, ReduceOptions, Reducer};

use crate::compute::{Computable, ComputeOptions, Target, compute_with};
use crate::error::{Error, Result};
use chunks::block_indices;

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
            unknown: vec![],
            dtype: T::DTYPE,
            group: Group::new("error"),
            token: Token(0),
            layer: Layer::new(vec![], vec![]),
        };
        Array { raw, problem: Some(Box::new(error)), _type: PhantomData }
    }

    /// The array's blocks, or the error it carries, or an error if some of its chunk
    /// sizes are unknown (see [`unknown`]): what every operation that needs them calls.
    pub(crate) fn raw(&self) -> Result<&RawArray> {
        let raw = self.raw_allowing_unknown()?;
        if raw.has_unknown() {
            return Err(unknown::unknown_sizes("this operation", raw));
        }
        Ok(raw)
    }

    /// The array's blocks, or the error it carries, whether or not its chunk sizes are
    /// known: for the operations that handle unknown ones (see [`unknown`]).
    pub(crate) fn raw_allowing_unknown(&self) -> Result<&RawArray> {
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

    /// The length of each axis. An axis whose length is known only after compute (see
    /// [`Array::known_shape`]) reads as 0.
    pub fn shape(&self) -> &[usize] {
        &self.raw.shape
    }

    /// The number of axes.
    pub fn ndim(&self) -> usize {
        self.raw.shape.len()
    }

    /// The number of elements (counting unknown lengths as 0; see [`Array::known_shape`]).
    pub fn size(&self) -> usize {
        self.raw.size()
    }

    /// The element type.
    pub fn dtype(&self) -> rask_graph::DType {
        T::DTYPE
    }

    /// Bytes of element data once computed (counting unknown lengths as 0; see
    /// [`Array::known_shape`]).
    pub fn nbytes(&self) -> usize {
        self.size() * T::DTYPE.itemsize()
    }

    /// The block sizes along each axis, as Dask's `chunks`. Along an axis whose block
    /// lengths are known only after compute (see [`Array::known_chunks`]) they read as 0.
    pub fn chunks(&self) -> &[Vec<usize>] {
        &self.raw.chunks
    }

    /// The largest block size along each axis (Dask's `chunksize`; 0 where the lengths
    /// are unknown, see [`Array::known_chunks`]).
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

    /// The layers behind this array and its task counts before and after optimization
    /// (see [`crate::explain::explain`]); the error this array carries, if it has one.
    ///
    /// ```
    /// use rask_collections::array::ones;
    /// let report = (&ones::<f64>(&[8], [2])? + 1.0).explain()?;
    /// assert_eq!(report.layers.iter().map(|l| l.tasks).collect::<Vec<_>>(), [4, 4]);
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn explain(&self) -> Result<crate::explain::Explain> {
        self.raw_allowing_unknown()?;
        crate::explain::explain(self, rask_graph::OptimizeOptions::default())
    }

    /// The graph behind this array (optimized, as it would run) in DOT.
    pub fn to_dot(&self) -> Result<String> {
        self.raw_allowing_unknown()?;
        crate::visualize::dot(self)
    }

    /// The graph behind this array (optimized, as it would run) as an SVG picture: one box
    /// per task coloured by task group, or one per group for big graphs (see
    /// [`crate::visualize::svg`]).
    ///
    /// ```
    /// use rask_collections::array::ones;
    /// let svg = (&ones::<f64>(&[8], [2])? + 1.0).to_svg()?;
    /// assert_eq!(svg.matches("class=\"task\"").count(), 8);
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn to_svg(&self) -> Result<String> {
        self.raw_allowing_unknown()?;
        crate::visualize::svg(self)
    }

    /// Writes a picture of the graph to `path`: SVG for `.svg`, DOT for `.dot`; any other
    /// ending is an error naming the path (see [`crate::visualize::visualize`]).
    pub fn visualize(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        self.raw_allowing_unknown()?;
        crate::visualize::visualize(self, path)
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
        Ok(unknown::measure::<T>(self.raw_allowing_unknown()?, values)?.assemble())
    }
}

impl<T: Element> fmt::Display for Array<T> {
    /// Like Dask's repr: `rask.Array<ones, shape=(4, 6), dtype=float64, chunksize=(2, 4), chunktype=ndarray, tasks=4>`,
    /// with `nan` for unknown lengths (`shape=(nan,)`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let largest = |sizes: Option<&[usize]>| sizes.map(|c| c.iter().copied().max().unwrap_or(0));
        write!(
            f,
            "rask.Array<{}, shape={}, dtype={}, chunksize={}, chunktype=ndarray, tasks={}>",
            self.raw.group,
            unknown::tuple(self.known_shape()),
            T::DTYPE,
            unknown::tuple(self.known_chunks().into_iter().map(largest)),
            self.task_count()
        )
    }
}

impl<T: Element> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

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

mod chunks;
mod creation;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Slice};
use rask_graph::{Element, Group, Key, Layer, Token, Value, count_tasks};

pub use chunks::ChunkSpec;
pub use creation::{FullBlock, from_ndarray, full, ones, zeros};

use crate::compute::{Computable, ComputeOptions, Target, compute_with};
use crate::error::{Error, Result};
use chunks::{block_indices, offsets};

/// A lazy chunked array; see the module docs.
pub struct Array<T: Element> {
    shape: Vec<usize>,
    chunks: Vec<Vec<usize>>,
    group: Group,
    token: Token,
    layer: Arc<Layer>,
    _type: PhantomData<fn() -> T>,
}

impl<T: Element> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array {
            shape: self.shape.clone(),
            chunks: self.chunks.clone(),
            group: self.group,
            token: self.token,
            layer: self.layer.clone(),
            _type: PhantomData,
        }
    }
}

impl<T: Element> Array<T> {
    /// An array whose block `(i, j, ...)` is the task `(group, token, [i, j, ...])` of
    /// `layer` (or of a layer it reads). `chunks` must already be validated.
    pub(crate) fn from_parts(
        shape: Vec<usize>,
        chunks: Vec<Vec<usize>>,
        group: Group,
        token: Token,
        layer: Arc<Layer>,
    ) -> Self {
        Array { shape, chunks, group, token, layer, _type: PhantomData }
    }

    /// The length of each axis.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of axes.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements.
    pub fn size(&self) -> usize {
        self.shape.iter().product()
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
        &self.chunks
    }

    /// The largest block size along each axis (Dask's `chunksize`).
    pub fn chunksize(&self) -> Vec<usize> {
        self.chunks.iter().map(|c| c.iter().copied().max().unwrap_or(0)).collect()
    }

    /// The number of blocks along each axis.
    pub fn numblocks(&self) -> Vec<usize> {
        self.chunks.iter().map(Vec::len).collect()
    }

    /// The number of blocks.
    pub fn npartitions(&self) -> usize {
        self.numblocks().iter().product()
    }

    /// The key of the block at `index` (one entry per axis).
    pub fn block_key(&self, index: &[u32]) -> Key {
        Key::new(self.group, self.token, index)
    }

    /// The number of tasks in the graph behind this array (before optimization).
    pub fn task_count(&self) -> usize {
        count_tasks(&[&self.layer])
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
        for index in block_indices(&self.numblocks()) {
            targets.push(Target::Task { key: self.block_key(&index), layer: self.layer.clone() });
        }
    }

    fn finish(&self, values: &mut dyn Iterator<Item = Value>) -> Result<ArrayD<T>> {
        let indices = block_indices(&self.numblocks());
        let offsets: Vec<Vec<usize>> = self.chunks.iter().map(|c| offsets(c)).collect();
        let mut out: Option<ArrayD<T>> = None;
        for index in &indices {
            let value = values.next().expect("one value per block");
            let block = self.checked_block(index, value)?;
            if indices.len() == 1 {
                return Ok(Arc::try_unwrap(block).unwrap_or_else(|shared| (*shared).clone()));
            }
            let out = out.get_or_insert_with(|| ArrayD::default(IxDyn(&self.shape)));
            out.slice_each_axis_mut(|axis| {
                let (a, i) = (axis.axis.index(), index[axis.axis.index()] as usize);
                Slice::from(offsets[a][i]..offsets[a][i + 1])
            })
            .assign(&*block);
        }
        Ok(out.unwrap_or_else(|| ArrayD::default(IxDyn(&self.shape))))
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
        let expected: Vec<usize> = index.iter().enumerate().map(|(a, &i)| self.chunks[a][i as usize]).collect();
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
            self.group,
            tuple(&self.shape),
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

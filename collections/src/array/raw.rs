//! The untyped description of a lazy array that layer builders share: shape, chunks,
//! element type and the layer holding its blocks. [`Array<T>`](super::Array) wraps one
//! with its element type; builders that work for every type take and return these.

use std::sync::Arc;

use ndarray::ArrayD;
use rask_graph::{ArgSpec, Args, ArrayChunk, DType, Element, Group, Key, Layer, Op, OpError, TaskSpec, Token, Value};

use super::chunks::block_indices;

/// An array's blocks, whatever their element type.
#[derive(Clone, Debug)]
pub(crate) struct RawArray {
    pub shape: Vec<usize>,
    pub chunks: Vec<Vec<usize>>,
    /// The axes whose block lengths are known only after compute (sorted; empty for
    /// most arrays). Along them `shape` and `chunks` hold 0 as a placeholder, which no
    /// code may read: see [`super::unknown`].
    pub unknown: Vec<usize>,
    pub dtype: DType,
    pub group: Group,
    pub token: Token,
    pub layer: Arc<Layer>,
}

impl RawArray {
    /// The key of the block at `index`.
    pub fn key(&self, index: &[u32]) -> Key {
        Key::new(self.group, self.token, index)
    }

    /// The number of blocks along each axis.
    pub fn numblocks(&self) -> Vec<usize> {
        self.chunks.iter().map(Vec::len).collect()
    }

    /// The shape of the block at `index`.
    pub fn block_shape(&self, index: &[u32]) -> Vec<usize> {
        index.iter().enumerate().map(|(axis, &i)| self.chunks[axis][i as usize]).collect()
    }

    /// The number of elements.
    pub fn size(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Builds a layer with one task per block of a grid of `chunks`, named `name` and keyed
/// by `token`: `task(index)` gives each block's op and arguments. The layer reads
/// `dependencies`.
pub(crate) fn layer_of_blocks(
    name: &str,
    token: Token,
    shape: Vec<usize>,
    chunks: Vec<Vec<usize>>,
    dtype: DType,
    dependencies: Vec<Arc<Layer>>,
    mut task: impl FnMut(&[u32]) -> (Arc<dyn Op>, Vec<ArgSpec>),
) -> RawArray {
    let group = Group::new(name);
    let numblocks: Vec<usize> = chunks.iter().map(Vec::len).collect();
    let tasks = block_indices(&numblocks)
        .into_iter()
        .map(|index| {
            let (op, args) = task(&index);
            TaskSpec { key: Key::new(group, token, &index), op, args: args.into_iter().collect() }
        })
        .collect();
    let layer = Layer::new(tasks, dependencies);
    RawArray { shape, chunks, unknown: vec![], dtype, group, token, layer }
}

/// An op's arguments as array blocks, or an error naming the op and the first argument
/// that is not one.
pub(crate) fn block_args(op: &str, args: Args) -> Result<Vec<ArrayChunk>, OpError> {
    args.into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Array(chunk) => Ok(chunk),
            other => Err(OpError::new(format!("{op}: argument {i} is a {}, not an array block", other.type_name()))),
        })
        .collect()
}

/// `chunks` as blocks of `T`, or an error naming the op and the first block of another
/// element type.
pub(crate) fn typed_blocks<T: Element>(op: &str, chunks: Vec<ArrayChunk>) -> Result<Vec<Arc<ArrayD<T>>>, OpError> {
    chunks
        .into_iter()
        .map(|c| {
            T::unwrap(&c)
                .cloned()
                .ok_or_else(|| OpError::new(format!("{op}: mixed dtypes {} and {}", T::DTYPE, c.dtype())))
        })
        .collect()
}

/// Runs `$body` on an op's arguments as blocks of one element type (that of the first):
/// `$blocks` is a `Vec<Arc<ArrayD<T>>>` and `$body` returns `Result<Arc<ArrayD<T>>,
/// OpError>`; the result is wrapped back into an [`ArrayChunk`].
macro_rules! with_blocks_of_one_type {
    ($op:expr, $args:expr, $blocks:ident => $body:expr) => {{
        let op: &str = $op;
        let chunks = $crate::array::raw::block_args(op, $args)?;
        match chunks.first().map(rask_graph::ArrayChunk::dtype) {
            None => Err(rask_graph::OpError::new(format!("{op} needs at least one block"))),
            Some(rask_graph::DType::Bool) => {
                let $blocks = $crate::array::raw::typed_blocks::<bool>(op, chunks)?;
                $body.map(rask_graph::ArrayChunk::Bool)
            }
            Some(rask_graph::DType::I32) => {
                let $blocks = $crate::array::raw::typed_blocks::<i32>(op, chunks)?;
                $body.map(rask_graph::ArrayChunk::I32)
            }
            Some(rask_graph::DType::I64) => {
                let $blocks = $crate::array::raw::typed_blocks::<i64>(op, chunks)?;
                $body.map(rask_graph::ArrayChunk::I64)
            }
            Some(rask_graph::DType::F32) => {
                let $blocks = $crate::array::raw::typed_blocks::<f32>(op, chunks)?;
                $body.map(rask_graph::ArrayChunk::F32)
            }
            Some(rask_graph::DType::F64) => {
                let $blocks = $crate::array::raw::typed_blocks::<f64>(op, chunks)?;
                $body.map(rask_graph::ArrayChunk::F64)
            }
        }
    }};
}
pub(crate) use with_blocks_of_one_type;

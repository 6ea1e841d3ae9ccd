//! The untyped description of a lazy array that layer builders share: shape, chunks,
//! element type and the layer holding its blocks. [`Array<T>`](super::Array) wraps one
//! with its element type; builders that work for every type take and return these.

use std::sync::Arc;

use rask_graph::{ArgSpec, DType, Group, Key, Layer, Op, TaskSpec, Token};

use super::chunks::block_indices;

/// An array's blocks, whatever their element type.
#[derive(Clone, Debug)]
pub(crate) struct RawArray {
    pub shape: Vec<usize>,
    pub chunks: Vec<Vec<usize>>,
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
    let layer = Layer::new(tasks, dedup_layers(dependencies));
    RawArray { shape, chunks, dtype, group, token, layer }
}

/// The layers, each once (by pointer).
pub(crate) fn dedup_layers(mut layers: Vec<Arc<Layer>>) -> Vec<Arc<Layer>> {
    let mut seen = Vec::with_capacity(layers.len());
    layers.retain(|l| {
        let p = Arc::as_ptr(l);
        if seen.contains(&p) {
            return false;
        }
        seen.push(p);
        true
    });
    layers
}

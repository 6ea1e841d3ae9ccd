//! Arrays made of work done elsewhere, and arrays kept in memory: [`from_delayed`] (one
//! block computed by a delayed value), [`from_blocks`] (a grid of arrays, Dask's `block`)
//! and [`Array::persist`] (every block computed now and held by the array's graph, or by
//! a cluster).

use std::hash::Hasher;
use std::sync::Arc;

use ndarray::ArrayD;
use rask_graph::{
    ArgSpec, Args, DType, Element, Group, Key, Layer, Op, OpError, TaskSpec, Token, TokenHasher, Value, ops,
};
use rask_scheduler::Kept;
use serde::{Deserialize, Serialize};

use super::Array;
use super::chunks::block_indices;
use super::raw::{RawArray, layer_of_blocks};
use super::rechunk::{Assemble, Piece, Span, common_chunks, rechunk};
use super::unknown::{measure_shapes, typed_block};
use crate::compute::{Computable, ComputeOptions, Target, compute_targets, kept_task, persist_targets};
use crate::delayed::Delayed;
use crate::error::{Error, Result};

impl<T: Element> Array<T> {
    /// Computes every block now, on the default scheduler, and returns the same array
    /// (same keys, same chunks) whose graph holds the computed blocks: computing it, or
    /// anything built on it, does not compute them again. As Dask's `persist`: on a local
    /// scheduler the graph holds the blocks themselves (shared, not copied); on a cluster
    /// ([`rask_scheduler::Client`]) the blocks stay in the workers' memory, held by
    /// futures, until the array (and everything built on it) is dropped.
    ///
    /// ```
    /// use rask_collections::array::random;
    /// let x = random::random(1, &[100, 100], [50, 50]).unwrap();
    /// let y = (&x * 2.0).persist().unwrap();
    /// assert_eq!(y.task_count(), 4);
    /// assert_eq!(y.compute().unwrap(), (&x * 2.0).compute().unwrap());
    /// ```
    pub fn persist(&self) -> Result<Array<T>> {
        self.persist_with(&ComputeOptions::default())
    }

    /// [`Array::persist`] with `options`. An array whose chunk sizes were unknown comes
    /// back with the sizes of the computed blocks (see [`Array::compute_chunk_sizes`]).
    pub fn persist_with(&self, options: &ComputeOptions) -> Result<Array<T>> {
        let raw = self.raw_allowing_unknown()?;
        let mut targets = Vec::new();
        self.targets(&mut targets);
        let kept = persist_targets(&targets, options)?;
        let held_shapes = match raw.has_unknown() {
            true => held_block_shapes::<T>(raw, &kept, options)?,
            false => vec![None; kept.len()],
        };
        let indices = block_indices(&raw.numblocks());
        let chunks = measure_shapes(raw, &mut |b, key| match (&kept[b], &held_shapes[b]) {
            (Kept::Value(value), _) => Ok(typed_block::<T>(key, value.clone())?.shape().to_vec()),
            (Kept::Future(_), Some(shape)) => Ok(shape.clone()),
            (Kept::Future(_), None) => Ok(raw.block_shape(&indices[b])),
        })?;
        let tasks = indices.iter().zip(kept).map(|(index, k)| kept_task(raw.key(index), k)).collect();
        let layer = Layer::new(tasks, vec![]);
        let shape = chunks.iter().map(|c| c.iter().sum()).collect();
        Ok(Array::from_raw(RawArray { shape, chunks, unknown: vec![], layer, ..raw.clone() }))
    }
}

/// The shapes of the blocks of `raw` kept on a cluster (`None` for blocks kept here),
/// measured there: only the shapes travel.
fn held_block_shapes<T: Element>(
    raw: &RawArray,
    kept: &[Kept],
    options: &ComputeOptions,
) -> Result<Vec<Option<Vec<usize>>>> {
    let indices = block_indices(&raw.numblocks());
    let held: Vec<usize> = (0..kept.len()).filter(|&b| matches!(kept[b], Kept::Future(_))).collect();
    if held.is_empty() {
        return Ok(vec![None; kept.len()]);
    }
    let held_layer =
        Layer::new(held.iter().map(|&b| kept_task(raw.key(&indices[b]), kept[b].clone())).collect(), vec![]);
    let op: Arc<dyn Op> = Arc::new(BlockShape { dtype: T::DTYPE });
    let group = Group::new("block-shape");
    let token = Token::of(&("block-shape", raw.token.0));
    let tasks = held
        .iter()
        .map(|&b| TaskSpec {
            key: Key::new(group, token, &indices[b]),
            op: op.clone(),
            args: [ArgSpec::Key(raw.key(&indices[b]))].into_iter().collect(),
        })
        .collect::<Vec<_>>();
    let layer = Layer::new(tasks, vec![held_layer]);
    let targets: Vec<Target> =
        held.iter().map(|&b| Target::Task { key: Key::new(group, token, &indices[b]), layer: layer.clone() }).collect();
    let mut shapes = vec![None; kept.len()];
    for (&b, value) in held.iter().zip(compute_targets(&targets, options)?) {
        shapes[b] = Some(shape_of_value(&raw.key(&indices[b]), &value)?);
    }
    Ok(shapes)
}

/// A shape as [`BlockShape`] gives it, as lengths.
fn shape_of_value(key: &Key, value: &Value) -> Result<Vec<usize>> {
    let lengths = match value {
        Value::List(items) => items.iter().map(|n| match n {
            Value::I64(n) => usize::try_from(*n).ok(),
            _ => None,
        }),
        _ => return Err(Error::Shape(format!("the shape of block {key} came back as a {}", value.type_name()))),
    };
    lengths
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| Error::Shape(format!("the shape of block {key} is malformed")))
}

/// The shape of an array block of `dtype`, as a list of lengths; a value of another kind
/// or dtype is an error naming both.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockShape {
    /// The element type the block must have.
    pub dtype: DType,
}

#[typetag::serde(name = "rask.array.block_shape")]
impl Op for BlockShape {
    fn name(&self) -> &str {
        "block-shape"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        match args.as_slice() {
            [Value::Array(c)] if c.dtype() == self.dtype => {
                Ok(Value::List(c.shape().iter().map(|&n| Value::I64(n as i64)).collect()))
            }
            [Value::Array(c)] => {
                Err(OpError::new(format!("the block has dtype {}, the array promises {}", c.dtype(), self.dtype)))
            }
            [other] => Err(OpError::new(format!("the block is a {}, not an array block", other.type_name()))),
            _ => Err(OpError::new("block-shape takes exactly one block")),
        }
    }

    fn is_cheap(&self) -> bool {
        true
    }
}

/// A one-block array computed by a delayed value, as Dask's `from_delayed`: `shape` is
/// what the value promises; a block of another shape is an error when it is computed.
///
/// ```
/// use rask_collections::array::from_delayed;
/// use rask_collections::delayed::delayed_fn;
/// let load = delayed_fn("load", |n: i64| ndarray::ArrayD::from_elem(vec![n as usize, 2], 1.5f64));
/// let x = from_delayed(&load.call(3), &[3, 2]).unwrap();
/// assert_eq!((&x + 1.0).compute().unwrap(), ndarray::ArrayD::from_elem(vec![3, 2], 2.5));
/// let wrong = from_delayed(&load.call(4), &[3, 2]).unwrap();
/// assert!(wrong.compute().unwrap_err().to_string().contains("[4, 2]"));
/// ```
pub fn from_delayed<T: Element>(value: &Delayed<ArrayD<T>>, shape: &[usize]) -> Result<Array<T>> {
    let mut source = TokenHasher::new();
    let (arg, dependencies) = match value.target() {
        Target::Task { key, layer } => {
            std::hash::Hash::hash(&(key.group().as_str(), key.token(), key.index()), &mut source);
            (ArgSpec::Key(*key), vec![layer.clone()])
        }
        Target::Literal(v) => {
            v.hash_token(&mut source);
            (ArgSpec::Value(v.clone()), vec![])
        }
    };
    let token = Token::of(&("from_delayed", source.finish(), shape, T::DTYPE));
    let chunks = shape.iter().map(|&n| vec![n]).collect();
    let check: Arc<dyn Op> = Arc::new(CheckBlock { shape: shape.to_vec(), dtype: T::DTYPE });
    let raw = layer_of_blocks("from-delayed", token, shape.to_vec(), chunks, T::DTYPE, dependencies, |_| {
        (check.clone(), vec![arg.clone()])
    });
    Ok(Array::from_raw(raw))
}

/// Passes an array block on if it has `dtype` and `shape`, else fails naming both.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckBlock {
    /// The promised shape.
    pub shape: Vec<usize>,
    /// The promised element type.
    pub dtype: DType,
}

#[typetag::serde(name = "rask.array.check_block")]
impl Op for CheckBlock {
    fn name(&self) -> &str {
        "check-block"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let mut args = args.into_iter();
        let (Some(value), None) = (args.next(), args.next()) else {
            return Err(OpError::new("check-block takes exactly one block"));
        };
        let promised = format!("the array promises {} of shape {:?}", self.dtype, self.shape);
        match &value {
            Value::Array(c) if c.dtype() == self.dtype && c.shape() == self.shape.as_slice() => Ok(value),
            Value::Array(c) => {
                Err(OpError::new(format!("the block is {} of shape {:?}, {promised}", c.dtype(), c.shape())))
            }
            other => Err(OpError::new(format!("the block is a {}, not an array block; {promised}", other.type_name()))),
        }
    }
}

/// One array assembled from a grid of arrays, as numpy's and Dask's `block`: `blocks`
/// lists the arrays of a grid of shape `grid` in C order. Arrays with fewer axes than the
/// result get leading axes of length 1; the grid's axes are the result's last ones. The
/// arrays must line up: those in one row of the grid have equal lengths across it, and
/// all have equal lengths along axes the grid does not cut.
///
/// The arrays' blocks become the result's blocks, shared and not copied (blocks that
/// need leading axes are reshaped, and arrays whose chunks differ within a row are
/// rechunked to the common refinement).
///
/// ```
/// use rask_collections::array::{from_blocks, ones, zeros};
/// let (a, b) = (ones::<i64>(&[2, 2], [1, 2]).unwrap(), zeros::<i64>(&[2, 3], [2, 2]).unwrap());
/// let (c, d) = (zeros::<i64>(&[1, 2], [1, 2]).unwrap(), ones::<i64>(&[1, 3], [1, 3]).unwrap());
/// let x = from_blocks(&[a, b, c, d], &[2, 2]).unwrap();
/// assert_eq!(x.compute().unwrap(), ndarray::array![[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 1, 1]].into_dyn());
/// let e = ones::<i64>(&[3, 3], [3, 3]).unwrap();
/// assert_eq!(from_blocks(&[e.clone(), e.clone(), x.clone()], &[3]).unwrap().shape(), &[3, 11]);
/// let err = from_blocks(&[e.clone(), e, x], &[3, 1]).unwrap_err().to_string();
/// assert!(err.contains("[3, 3]") && err.contains("[3, 5]"), "{err}");
/// ```
pub fn from_blocks<T: Element>(blocks: &[Array<T>], grid: &[usize]) -> Result<Array<T>> {
    let inputs = blocks.iter().map(|b| b.raw().cloned()).collect::<Result<Vec<_>>>()?;
    let count: usize = grid.iter().product();
    if count != inputs.len() || count == 0 {
        return Err(Error::Shape(format!(
            "from_blocks: a grid of {grid:?} holds {count} arrays, but {} were given",
            inputs.len()
        )));
    }
    let layout = GridLayout::new(&inputs, grid)?;
    let inputs = inputs
        .iter()
        .enumerate()
        .map(|(b, input)| rechunk(input, layout.wanted_chunks(b, input.shape.len()).into()))
        .collect::<Result<Vec<_>>>()?;
    let tokens: Vec<u64> = inputs.iter().map(|i| i.token.0).collect();
    let token = Token::of(&("from_blocks", grid, tokens, &layout.chunks));
    let identity: Arc<dyn Op> = Arc::new(ops::Identity);
    let dependencies = inputs.iter().map(|i| i.layer.clone()).collect();
    let raw = layer_of_blocks(
        "from-blocks",
        token,
        layout.shape.clone(),
        layout.chunks.clone(),
        T::DTYPE,
        dependencies,
        |index| {
            let (b, inner) = layout.source(index);
            let input = &inputs[b];
            let inner = &inner[layout.shape.len() - input.shape.len()..];
            let key = ArgSpec::Key(input.key(inner));
            if input.shape.len() == layout.shape.len() {
                return (identity.clone(), vec![key]);
            }
            let shape = input.block_shape(inner);
            let piece =
                Piece { arg: 0, src: shape.iter().map(|&n| Span::range(0, n)).collect(), dst: vec![0; shape.len()] };
            let reshape = Some(layout.promoted(&shape));
            (Arc::new(Assemble { shape, pieces: vec![piece], reshape }) as Arc<dyn Op>, vec![key])
        },
    );
    Ok(Array::from_raw(raw))
}

/// How the arrays of a [`from_blocks`] grid line up: the result's shape and chunks, and
/// for every result axis, which slab of the grid and which chunk of it each result
/// chunk comes from.
struct GridLayout {
    shape: Vec<usize>,
    chunks: Vec<Vec<usize>>,
    /// Each input's position in the grid, one entry per result axis (0 on axes the grid
    /// does not cut).
    positions: Vec<Vec<usize>>,
    /// The grid's extent along each result axis (1 on axes it does not cut).
    extent: Vec<usize>,
    /// Per result axis, per slab: the chunks every input in that slab is cut into.
    slab_chunks: Vec<Vec<Vec<usize>>>,
    /// Per result axis, per result chunk: (slab, chunk within the slab).
    sources: Vec<Vec<(usize, usize)>>,
}

impl GridLayout {
    fn new(inputs: &[RawArray], grid: &[usize]) -> Result<GridLayout> {
        let ndim = inputs.iter().map(|i| i.shape.len()).max().unwrap_or(0).max(grid.len());
        let offset = ndim - grid.len();
        let extent: Vec<usize> = (0..ndim).map(|a| if a < offset { 1 } else { grid[a - offset] }).collect();
        let positions: Vec<Vec<usize>> = block_indices(grid)
            .iter()
            .map(|p| (0..ndim).map(|a| if a < offset { 0 } else { p[a - offset] as usize }).collect())
            .collect();
        let promoted = |i: &RawArray, a: usize| -> (usize, Vec<usize>) {
            match (a + i.shape.len()).checked_sub(ndim) {
                Some(own) => (i.shape[own], i.chunks[own].clone()),
                None => (1, vec![1]),
            }
        };
        let mut layout =
            GridLayout { shape: vec![], chunks: vec![], positions, extent, slab_chunks: vec![], sources: vec![] };
        for a in 0..ndim {
            let mut slabs = Vec::with_capacity(layout.extent[a]);
            for slab in 0..layout.extent[a] {
                let members: Vec<usize> = (0..inputs.len()).filter(|&b| layout.positions[b][a] == slab).collect();
                let Some(&first) = members.first() else {
                    slabs.push(vec![0]);
                    continue;
                };
                let (length, _) = promoted(&inputs[first], a);
                if let Some(&odd) = members.iter().find(|&&b| promoted(&inputs[b], a).0 != length) {
                    return Err(Error::Shape(format!(
                        "from_blocks: arrays of shapes {:?} (grid position {:?}) and {:?} (grid position {:?}) \
                         do not line up along axis {a} of the result",
                        inputs[first].shape, layout.positions[first], inputs[odd].shape, layout.positions[odd]
                    )));
                }
                let chunkings: Vec<Vec<usize>> = members.iter().map(|&b| promoted(&inputs[b], a).1).collect();
                slabs.push(common_chunks(&chunkings.iter().map(Vec::as_slice).collect::<Vec<_>>()));
            }
            layout.add_axis(slabs);
        }
        Ok(layout)
    }

    /// Adds a result axis made of `slabs` (each slab's chunks): empty slabs drop out
    /// unless the whole axis is empty.
    fn add_axis(&mut self, slabs: Vec<Vec<usize>>) {
        let mut chunks = Vec::new();
        let mut sources = Vec::new();
        for (s, slab) in slabs.iter().enumerate() {
            for (c, &n) in slab.iter().enumerate() {
                if n > 0 {
                    chunks.push(n);
                    sources.push((s, c));
                }
            }
        }
        if chunks.is_empty() {
            chunks.push(0);
            sources.push((0, 0));
        }
        self.shape.push(chunks.iter().sum());
        self.chunks.push(chunks);
        self.sources.push(sources);
        self.slab_chunks.push(slabs);
    }

    /// The chunks input `b` (of `ndim` axes) must have to line up with the others.
    fn wanted_chunks(&self, b: usize, ndim: usize) -> Vec<Vec<usize>> {
        let skip = self.shape.len() - ndim;
        (skip..self.shape.len()).map(|a| self.slab_chunks[a][self.positions[b][a]].clone()).collect()
    }

    /// The input and its block (indexed over the result's axes) that result block
    /// `index` is.
    fn source(&self, index: &[u32]) -> (usize, Vec<u32>) {
        let (slabs, inner): (Vec<usize>, Vec<u32>) =
            index.iter().enumerate().map(|(a, &i)| self.sources[a][i as usize]).map(|(s, c)| (s, c as u32)).unzip();
        let b = slabs.iter().zip(&self.extent).fold(0, |n, (&s, &e)| n * e + s);
        (b, inner)
    }

    /// A block shape with leading axes of length 1 up to the result's number of axes.
    fn promoted(&self, shape: &[usize]) -> Vec<usize> {
        let mut out = vec![1; self.shape.len() - shape.len()];
        out.extend_from_slice(shape);
        out
    }
}

//! `map_blocks`: a user function applied to every block, one task per block, as Dask's
//! `map_blocks`. The function may be a Rust closure ([`Array::map_blocks`], local
//! schedulers only, as a closure cannot be serialized) or a registered op
//! ([`Array::map_blocks_op`], serializable). The output chunks are the input's unless
//! declared; every task checks that its block has the declared shape and type
//! ([`MapBlock`]), so a wrong block fails with its key instead of travelling on.

use std::collections::HashMap;
use std::sync::Arc;

use ndarray::ArrayD;
use rask_graph::{ArgSpec, Args, DType, Element, FnOp, Op, OpError, Token, Value, op_token};
use serde::{Deserialize, Serialize};

use super::Array;
use super::chunks::ChunkSpec;
use super::raw::{RawArray, layer_of_blocks};
use crate::error::{Error, Result};

/// Runs a user op on one block and checks that the result is an array block of the
/// declared shape and type.
///
/// ```
/// use std::sync::Arc;
/// use rask_collections::array::MapBlock;
/// use rask_graph::{args, ops::Identity, DType, Element, Op, Value};
/// let block = Value::Array(f64::wrap(Arc::new(ndarray::array![1.0, 2.0].into_dyn())));
/// let fits = MapBlock { op: Arc::new(Identity), shape: vec![2], dtype: DType::F64 };
/// assert_eq!(fits.call(args![block.clone()]).unwrap(), block);
/// let promised = MapBlock { op: Arc::new(Identity), shape: vec![3], dtype: DType::F64 };
/// assert!(promised.call(args![block]).unwrap_err().to_string().contains("[3]"));
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MapBlock {
    /// The user's op: one block in, one block out.
    pub op: Arc<dyn Op>,
    /// The shape the output block must have.
    pub shape: Vec<usize>,
    /// The type the output block must have.
    pub dtype: DType,
}

#[typetag::serde(name = "rask.array.map_blocks")]
impl Op for MapBlock {
    fn name(&self) -> &str {
        self.op.name()
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        match self.op.call(args)? {
            Value::Array(chunk) if chunk.shape() == self.shape.as_slice() && chunk.dtype() == self.dtype => {
                Ok(Value::Array(chunk))
            }
            Value::Array(chunk) => Err(OpError::new(format!(
                "map_blocks '{}' returned a {} block of shape {:?}; the declared chunks promise {} of shape {:?}",
                self.op.name(),
                chunk.dtype(),
                chunk.shape(),
                self.dtype,
                self.shape
            ))),
            other => Err(OpError::new(format!(
                "map_blocks '{}' returned a {}, not an array block",
                self.op.name(),
                other.type_name()
            ))),
        }
    }

    fn is_portable(&self) -> bool {
        self.op.is_portable()
    }
}

impl<T: Element> Array<T> {
    /// Applies `f` to every block, as Dask's `map_blocks`: one task per block, named
    /// `name`. The output has this array's chunks unless `out_chunks` declares others: the
    /// size of every block along each axis (`ChunkSpec::Explicit`, as many blocks as
    /// here), or one block shape that every block has (`ChunkSpec::Uniform`). A block of
    /// another shape fails the compute with an error naming its key. A closure runs on the
    /// local schedulers only; register an op and use [`map_blocks_op`](Self::map_blocks_op)
    /// to run on other processes.
    ///
    /// ```
    /// use rask_collections::array::{from_ndarray, ChunkSpec};
    /// let x = from_ndarray(&ndarray::array![1.0, 2.0, 3.0, 4.0, 5.0], [2]).unwrap();
    /// let squared = x.map_blocks("square", |b| b.mapv(|v| v * v), None).unwrap();
    /// assert_eq!(squared.compute().unwrap(), ndarray::array![1.0, 4.0, 9.0, 16.0, 25.0].into_dyn());
    /// let sums = x.map_blocks("block-sum", |b| ndarray::arr1(&[b.sum() as i64]).into_dyn(), Some(ChunkSpec::uniform(&[1]))).unwrap();
    /// assert_eq!(sums.compute().unwrap(), ndarray::array![3, 7, 5].into_dyn());
    /// let wrong = x.map_blocks("wrong", |b| b.slice(ndarray::s![..1]).to_owned().into_dyn(), None).unwrap();
    /// let e = wrong.compute().unwrap_err().to_string();
    /// // Blocks 0 and 1 (two elements each) come back with one; whichever fails first is named.
    /// let named = |i: u32| e.contains(&wrong.block_key(&[i]).to_string());
    /// assert!((named(0) || named(1)) && e.contains("shape [1]"), "{e}");
    /// ```
    pub fn map_blocks<U, F>(&self, name: &str, f: F, out_chunks: Option<ChunkSpec>) -> Result<Array<U>>
    where
        U: Element,
        F: Fn(&ArrayD<T>) -> ArrayD<U> + Send + Sync + 'static,
    {
        let label = name.to_string();
        let op = FnOp::new(name, move |args| match args.first() {
            Some(Value::Array(chunk)) => match T::unwrap(chunk) {
                Some(block) => Ok(Value::Array(U::wrap(Arc::new(f(block))))),
                None => Err(OpError::new(format!("{label} takes {} blocks, got {}", T::DTYPE, chunk.dtype()))),
            },
            _ => Err(OpError::new(format!("{label} takes one array block"))),
        });
        map_blocks_raw(self.raw()?, Arc::new(op), U::DTYPE, out_chunks).map(Array::from_raw)
    }

    /// Applies a registered op to every block (see [`map_blocks`](Self::map_blocks)): the
    /// op takes one block (`Value::Array`) and returns one of type `U`. The graph stays
    /// serializable, so it runs on every scheduler; equal ops on equal arrays give equal
    /// keys.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rask_collections::array::{from_ndarray, Elementwise, Expr, UnaryFn};
    /// let x = from_ndarray(&ndarray::array![[1.0, -2.0], [-3.0, 4.0]], [1, 2]).unwrap();
    /// let abs = Arc::new(Elementwise { name: "abs".into(), expr: Expr::Unary(UnaryFn::Abs, Box::new(Expr::Input(0))) });
    /// let y = x.map_blocks_op::<f64>(abs, None).unwrap();
    /// assert_eq!(y.compute().unwrap(), ndarray::array![[1.0, 2.0], [3.0, 4.0]].into_dyn());
    /// ```
    pub fn map_blocks_op<U: Element>(&self, op: Arc<dyn Op>, out_chunks: Option<ChunkSpec>) -> Result<Array<U>> {
        map_blocks_raw(self.raw()?, op, U::DTYPE, out_chunks).map(Array::from_raw)
    }
}

/// The layer applying `op` to every block of `raw`, giving blocks of `dtype` cut as
/// `out_chunks` (checked against the input's block grid).
fn map_blocks_raw(raw: &RawArray, op: Arc<dyn Op>, dtype: DType, out_chunks: Option<ChunkSpec>) -> Result<RawArray> {
    let chunks = output_chunks(raw, out_chunks, op.name())?;
    let shape: Vec<usize> = chunks.iter().map(|c| c.iter().sum()).collect();
    let chunks = ChunkSpec::explicit(chunks).resolve(&shape)?;
    let name = op.name().to_string();
    let token = Token::of(&("map_blocks", &name, op_token(op.as_ref()).0, raw.token.0, dtype, &chunks));
    let mut checked: HashMap<Vec<usize>, Arc<dyn Op>> = HashMap::new();
    Ok(layer_of_blocks(&name, token, shape, chunks.clone(), dtype, vec![raw.layer.clone()], |index| {
        let block_shape: Vec<usize> = index.iter().enumerate().map(|(a, &i)| chunks[a][i as usize]).collect();
        let op = checked
            .entry(block_shape.clone())
            .or_insert_with(|| Arc::new(MapBlock { op: op.clone(), shape: block_shape, dtype }))
            .clone();
        (op, vec![ArgSpec::Key(raw.key(index))])
    }))
}

/// The output's block sizes per axis: the input's, or the declared ones, which must have
/// the input's number of axes and blocks.
fn output_chunks(raw: &RawArray, declared: Option<ChunkSpec>, name: &str) -> Result<Vec<Vec<usize>>> {
    let numblocks = raw.numblocks();
    let chunks = match declared {
        None => return Ok(raw.chunks.clone()),
        Some(ChunkSpec::Explicit(chunks)) => chunks,
        Some(ChunkSpec::Uniform(block)) if block.len() == numblocks.len() => {
            block.iter().zip(&numblocks).map(|(&size, &n)| vec![size; n]).collect()
        }
        Some(ChunkSpec::Uniform(block)) => {
            return Err(Error::Shape(format!(
                "map_blocks '{name}': the block shape {block:?} does not have the axes of the array of shape {:?}",
                raw.shape
            )));
        }
        Some(ChunkSpec::Whole) => {
            return Err(Error::Shape(format!(
                "map_blocks '{name}': ChunkSpec::Whole does not say the output blocks' shapes; declare them"
            )));
        }
    };
    let counts: Vec<usize> = chunks.iter().map(Vec::len).collect();
    if counts != numblocks {
        return Err(Error::Shape(format!(
            "map_blocks '{name}': output chunks {chunks:?} do not match the {numblocks:?} blocks of the array of shape {:?} (chunks {:?})",
            raw.shape, raw.chunks
        )));
    }
    Ok(chunks)
}

//! The registered ops of the reduction tree: [`ReduceBlock`] (the chunk stage) and
//! [`CombinePartials`] (the combine stages and, with a [`Finish`], the aggregate stage).

use rask_graph::{Args, ArrayChunk, DType, Op, OpError, Value, map_chunk};
use serde::{Deserialize, Serialize};

use super::arg;
use super::state::{self, Partial, Reducer};
use crate::array::rechunk::reshape_block;

/// The chunk stage: reduces one block over `axes` (sorted block axes, which stay with
/// length one) into a partial result. Its argument is the block; argmin and argmax also
/// take the block's start along each axis and the whole array's shape (lists of
/// integers), to turn positions into the array's indices.
///
/// ```
/// use std::sync::Arc;
/// use rask_collections::array::{Reducer, ReduceBlock};
/// use rask_graph::{args, ArrayChunk, Op, Value};
/// let block = ArrayChunk::I32(Arc::new(ndarray::array![[1, 2], [3, 4]].into_dyn()));
/// let op = ReduceBlock { reducer: Reducer::Sum, axes: vec![0] };
/// let expected = ArrayChunk::I64(Arc::new(ndarray::array![[4i64, 6]].into_dyn()));
/// assert_eq!(op.call(args![Value::Array(block)]).unwrap(), Value::Array(expected));
/// assert!(op.call(args![Value::I64(1)]).is_err());
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReduceBlock {
    /// What to compute.
    pub reducer: Reducer,
    /// The axes to reduce.
    pub axes: Vec<usize>,
}

#[typetag::serde(name = "rask.array.reduce_block")]
impl Op for ReduceBlock {
    fn name(&self) -> &str {
        self.reducer.name()
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let what = self.reducer.name();
        let wanted = if self.reducer.is_arg() { 3 } else { 1 };
        if args.len() != wanted {
            return Err(OpError::new(format!(
                "{what}: a block reduction takes {wanted} arguments, got {}",
                args.len()
            )));
        }
        let block = match &args[0] {
            Value::Array(block) => block,
            other => return Err(OpError::new(format!("{what}: expected an array block, got a {}", other.type_name()))),
        };
        let partial = if self.reducer.is_arg() {
            let (offsets, shape) = (integers(what, &args[1])?, integers(what, &args[2])?);
            arg::chunk(self.reducer, block, &self.axes, &offsets, &shape)?
        } else {
            state::chunk(self.reducer, block, &self.axes)?
        };
        Ok(partial.into_value())
    }
}

/// A list of non-negative integers.
fn integers(what: &str, value: &Value) -> Result<Vec<usize>, OpError> {
    let bad = || OpError::new(format!("{what}: expected a list of non-negative integers, got {value:?}"));
    let Value::List(items) = value else { return Err(bad()) };
    items
        .iter()
        .map(|v| if let Value::I64(i) = v { usize::try_from(*i).map_err(|_| bad()) } else { Err(bad()) })
        .collect()
}

/// The combine stages of a reduction: merges the partial results of a group of blocks
/// (its arguments, any number) into one. With `finish` it is the aggregate stage, and
/// returns the result block instead.
///
/// ```
/// use std::sync::Arc;
/// use rask_collections::array::{CombinePartials, Finish, Reducer};
/// use rask_graph::{args, ArrayChunk, DType, Op, Value};
/// let partial = |v: f64| Value::Array(ArrayChunk::F64(Arc::new(ndarray::array![[v]].into_dyn())));
/// let finish = Finish { axes: vec![0], keepdims: false, ddof: 0, dtype: DType::F64 };
/// let op = CombinePartials { reducer: Reducer::Max, finish: Some(finish) };
/// let expected = ArrayChunk::F64(Arc::new(ndarray::array![5.0].into_dyn()));
/// assert_eq!(op.call(args![partial(1.0), partial(5.0), partial(2.0)]).unwrap(), Value::Array(expected));
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CombinePartials {
    /// What is computed.
    pub reducer: Reducer,
    /// How the aggregate stage ends; `None` for a combine stage.
    pub finish: Option<Finish>,
}

/// How the aggregate stage of a reduction turns the merged partial result into the
/// result block.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Finish {
    /// The reduced axes.
    pub axes: Vec<usize>,
    /// Whether they stay, with length 1; otherwise they are dropped.
    pub keepdims: bool,
    /// The "delta degrees of freedom" of `var` and `std`.
    pub ddof: usize,
    /// The result's element type.
    pub dtype: DType,
}

#[typetag::serde(name = "rask.array.reduce_combine")]
impl Op for CombinePartials {
    fn name(&self) -> &str {
        self.reducer.name()
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let parts = args.into_iter().map(|v| Partial::from_value(self.reducer, v)).collect::<Result<Vec<_>, _>>()?;
        let merged = state::combine(self.reducer, parts)?;
        let Some(finish) = &self.finish else {
            return Ok(merged.into_value());
        };
        let block = state::finish(self.reducer, merged, finish.ddof, finish.dtype)?;
        Ok(Value::Array(if finish.keepdims { block } else { squeeze(block, &finish.axes)? }))
    }
}

/// The block without `axes`, which must have length 1.
fn squeeze(block: ArrayChunk, axes: &[usize]) -> Result<ArrayChunk, OpError> {
    let shape = block.shape();
    if axes.iter().any(|&a| shape.get(a) != Some(&1)) {
        return Err(OpError::new(format!("cannot drop axes {axes:?} of a reduced block of shape {shape:?}")));
    }
    let kept: Vec<usize> = shape.iter().enumerate().filter(|(a, _)| !axes.contains(a)).map(|(_, &n)| n).collect();
    Ok(map_chunk!(block, a => reshape_block(a, &kept)?))
}

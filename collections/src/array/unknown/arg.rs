//! argmin and argmax of a 1-d array of unknown chunk sizes. A block's indices are global
//! once its offset is known: the sum of the lengths of the blocks before it, which a
//! chain of small tasks adds up as the blocks are computed. An empty block (a mask can
//! select nothing from a block) gives a placeholder that loses every merge
//! ([`ArgBlock`]); a result that is still the placeholder, when every block was empty,
//! is an error ([`ArgFound`]), as numpy's argmax of nothing is.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use rask_graph::{ArgSpec, Args, ArrayChunk, DType, Group, Key, Layer, Op, OpError, TaskSpec, Token, Value};
use serde::{Deserialize, Serialize};

use super::nonempty::length_layer;
use crate::array::Reducer;
use crate::array::raw::{RawArray, layer_of_blocks};
use crate::array::reduction::{Number, Partial, arg_chunk};

/// The index of a placeholder partial result: no array has that many elements.
const NOTHING: i64 = i64::MAX;

/// The chunk stage of argmin/argmax (`reducer`) over the 1-d array `raw` of unknown
/// chunk sizes, giving partial results typed `dtype`; `None` for other reductions or
/// arrays, which take the usual chunk stage.
pub(crate) fn arg_chunk_stage(raw: &RawArray, reducer: Reducer, dtype: DType) -> Option<RawArray> {
    if !(reducer.is_arg() && raw.has_unknown() && raw.shape.len() == 1) {
        return None;
    }
    let name = reducer.name();
    let (lengths, length_keys) = length_layer(raw, name);
    let (offsets, offset_args) = offset_layer(name, raw.token, lengths, &length_keys);
    let op: Arc<dyn Op> = Arc::new(ArgBlock { reducer });
    let blocks = length_keys.len();
    let token = Token::of(&(name, raw.token.0, "offsets"));
    let dependencies = vec![raw.layer.clone(), offsets];
    Some(layer_of_blocks(name, token, vec![blocks], vec![vec![1; blocks]], dtype, dependencies, |index| {
        (op.clone(), vec![ArgSpec::Key(raw.key(index)), offset_args[index[0] as usize].clone()])
    }))
}

/// A layer adding up block lengths (`length_keys`, in order, computed in `lengths`) into
/// each block's offset, and the argument that gives each block its offset.
fn offset_layer(name: &str, token: Token, lengths: Arc<Layer>, length_keys: &[Key]) -> (Arc<Layer>, Vec<ArgSpec>) {
    let (group, token) = (Group::new(&format!("{name}-offset")), Token::of(&("offset", token.0)));
    let add: Arc<dyn Op> = Arc::new(rask_graph::ops::Add);
    let mut offsets = vec![ArgSpec::Value(Value::I64(0))];
    let mut tasks = Vec::new();
    for (i, &length) in length_keys.iter().enumerate().take(length_keys.len().saturating_sub(1)) {
        let key = Key::new(group, token, &[i as u32 + 1]);
        let args = [offsets[i].clone(), ArgSpec::Key(length)].into_iter().collect();
        tasks.push(TaskSpec { key, op: add.clone(), args });
        offsets.push(ArgSpec::Key(key));
    }
    (Layer::new(tasks, vec![lengths]), offsets)
}

/// The chunk stage of argmin/argmax (`reducer`) for a 1-d block (the first argument)
/// whose offset in the array (the second, an `i64`) was known only once the blocks
/// before it were computed. An empty block gives a placeholder that every element
/// beats.
///
/// ```
/// use std::sync::Arc;
/// use rask_collections::array::{ArgBlock, Reducer};
/// use rask_graph::{args, Element, Op, Value};
/// let block = |v: Vec<f64>| Value::Array(f64::wrap(Arc::new(ndarray::Array1::from(v).into_dyn())));
/// let op = ArgBlock { reducer: Reducer::ArgMax };
/// let partial = op.call(args![block(vec![1.0, 7.0, 3.0]), Value::I64(10)]).unwrap();
/// let expected = Value::List(vec![block(vec![7.0]), Value::Array(i64::wrap(Arc::new(ndarray::array![11i64].into_dyn())))].into());
/// assert_eq!(partial, expected);
/// assert!(op.call(args![block(vec![]), Value::I64(3)]).is_ok());
/// assert!(op.call(args![block(vec![1.0]), Value::I64(-1)]).is_err());
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ArgBlock {
    /// argmin or argmax.
    pub reducer: Reducer,
}

#[typetag::serde(name = "rask.array.arg_block")]
impl Op for ArgBlock {
    fn name(&self) -> &str {
        self.reducer.name()
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let what = self.reducer.name();
        let (block, offset) = match args.as_slice() {
            [Value::Array(block), Value::I64(offset)] if block.shape().len() == 1 && *offset >= 0 => {
                (block, *offset as usize)
            }
            _ => return Err(OpError::new(format!("{what}: expected a 1-d array block and its offset, got {args:?}"))),
        };
        let length = block.shape()[0];
        let partial = match length {
            0 => rask_graph::each_chunk!(block, a => placeholder(a, self.reducer == Reducer::ArgMax)),
            _ => arg_chunk(self.reducer, block, &[0], &[offset], &[offset.saturating_add(length)])?,
        };
        Ok(partial.into_value())
    }
}

/// The partial result of an empty block of `T` (the type of `_block`): the worst value at
/// an index past every real one, so that any element wins against it, ties included.
fn placeholder<T: Number>(_block: &ArrayD<T>, max: bool) -> Partial {
    let worst = if max { T::LOWEST } else { T::HIGHEST };
    Partial::Arg {
        value: T::wrap(Arc::new(ArrayD::from_elem(IxDyn(&[1]), worst))),
        index: Arc::new(ArrayD::from_elem(IxDyn(&[1]), NOTHING)),
    }
}

/// `result`, the argmin/argmax (`reducer`) of the array of unknown chunk sizes `raw`,
/// checked when computed to have found an element.
pub(crate) fn require_found(raw: &RawArray, reducer: Reducer, result: RawArray) -> RawArray {
    let op: Arc<dyn Op> = Arc::new(ArgFound { what: reducer.name().to_string() });
    let name = format!("{}-found", reducer.name());
    let token = Token::of(&(&name, raw.token.0, result.token.0));
    let (shape, chunks) = (result.shape.clone(), result.chunks.clone());
    layer_of_blocks(&name, token, shape, chunks, result.dtype, vec![result.layer.clone()], |index| {
        (op.clone(), vec![ArgSpec::Key(result.key(index))])
    })
}

/// Passes an argmin/argmax result block (`int64`) on unless it still holds the
/// placeholder of an empty array, which is numpy's error "attempt to get argmax of an
/// empty sequence".
///
/// ```
/// use std::sync::Arc;
/// use rask_collections::array::ArgFound;
/// use rask_graph::{args, Element, Op, Value};
/// let op = ArgFound { what: "argmax".into() };
/// let found = Value::Array(i64::wrap(Arc::new(ndarray::arr0(4i64).into_dyn())));
/// assert_eq!(op.call(args![found.clone()]).unwrap(), found);
/// let nothing = Value::Array(i64::wrap(Arc::new(ndarray::arr0(i64::MAX).into_dyn())));
/// assert!(op.call(args![nothing]).unwrap_err().to_string().contains("empty sequence"));
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ArgFound {
    /// argmin or argmax, for the message.
    pub what: String,
}

#[typetag::serde(name = "rask.array.arg_found")]
impl Op for ArgFound {
    fn name(&self) -> &str {
        "arg-found"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let what = &self.what;
        let found = match args.as_slice() {
            [Value::Array(ArrayChunk::I64(index))] => !index.iter().any(|&i| i == NOTHING),
            _ => return Err(OpError::new(format!("{what}: expected one int64 result block, got {args:?}"))),
        };
        if !found {
            return Err(OpError::new(format!(
                "{what}: attempt to get {what} of an empty sequence (the array's length was unknown until computed)"
            )));
        }
        Ok(args.into_iter().next().unwrap_or(Value::Unit))
    }
}

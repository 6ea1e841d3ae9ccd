//! Reductions of arrays with unknown chunk sizes: which are possible (those over every
//! unknown axis; argmin and argmax only of 1-d arrays, see [`super::arg`]), and for those
//! without an identity (`min`, `max` and their NaN-skipping variants) the check, when
//! computed, that the unknown axes were not empty: a block's partial result of nothing
//! is the reduction's neutral value, which must not pass for a result.

use std::sync::Arc;

use rask_graph::{ArgSpec, Args, Group, Key, Layer, Op, OpError, TaskSpec, Token, Value};
use serde::{Deserialize, Serialize};

use super::arg::require_found;
use super::unknown_sizes;
use crate::array::Reducer;
use crate::array::raw::{RawArray, layer_of_blocks};
use crate::error::Result;

/// An error unless `raw` can be reduced with `reducer` over `axes`: every unknown axis
/// must be among them, and argmin and argmax need a 1-d array.
pub(crate) fn check_reducible(raw: &RawArray, reducer: Reducer, axes: &[usize]) -> Result<()> {
    if !raw.has_unknown() {
        return Ok(());
    }
    let name = reducer.name();
    if reducer.is_arg() && raw.shape.len() != 1 {
        return Err(unknown_sizes(&format!("{name} of an array with more than one axis"), raw));
    }
    match raw.unknown.iter().find(|u| !axes.contains(u)) {
        Some(kept) => {
            Err(unknown_sizes(&format!("{name} over axes {axes:?}, which keeps the unknown axis {kept},"), raw))
        }
        None => Ok(()),
    }
}

/// `result`, the reduction of `raw` with `reducer`, checked when computed to have reduced
/// something along the unknown axes of `raw`, if `reducer` has no identity and the result
/// has elements; otherwise `result` itself.
pub(crate) fn require_elements(raw: &RawArray, reducer: Reducer, result: RawArray) -> RawArray {
    if !raw.has_unknown() || reducer.has_identity() || result.size() == 0 {
        return result;
    }
    if reducer.is_arg() {
        return require_found(raw, reducer, result);
    }
    let (lengths, keys) = length_layer(raw, reducer.name());
    let op: Arc<dyn Op> = Arc::new(RequireElements {
        what: reducer.name().to_string(),
        axes: raw.unknown.clone(),
        counts: raw.unknown.iter().map(|&a| raw.chunks[a].len()).collect(),
    });
    let name = format!("{}-nonempty", reducer.name());
    let token = Token::of(&(&name, result.token.0));
    let (shape, chunks) = (result.shape.clone(), result.chunks.clone());
    let dependencies = vec![result.layer.clone(), lengths];
    layer_of_blocks(&name, token, shape, chunks, result.dtype, dependencies, |index| {
        let args = std::iter::once(result.key(index)).chain(keys.iter().copied()).map(ArgSpec::Key).collect();
        (op.clone(), args)
    })
}

/// A layer with the length of every block along each unknown axis of `raw` (read from
/// the blocks at index 0 along the other axes), and the keys of those tasks, axis by axis.
pub(super) fn length_layer(raw: &RawArray, name: &str) -> (Arc<Layer>, Vec<Key>) {
    let group = Group::new(&format!("{name}-length"));
    let token = Token::of(&("length", raw.token.0));
    let mut tasks = Vec::new();
    for &axis in &raw.unknown {
        let op: Arc<dyn Op> = Arc::new(BlockLength { axis });
        for i in 0..raw.chunks[axis].len() as u32 {
            let mut block = vec![0; raw.shape.len()];
            block[axis] = i;
            let args = [ArgSpec::Key(raw.key(&block))].into_iter().collect();
            tasks.push(TaskSpec { key: Key::new(group, token, &[axis as u32, i]), op: op.clone(), args });
        }
    }
    let keys = tasks.iter().map(|t| t.key).collect();
    (Layer::new(tasks, vec![raw.layer.clone()]), keys)
}

/// The length of its one argument, an array block, along `axis` (an `i64`).
///
/// ```
/// use std::sync::Arc;
/// use rask_collections::array::BlockLength;
/// use rask_graph::{args, Element, Op, Value};
/// let block = Value::Array(f64::wrap(Arc::new(ndarray::ArrayD::zeros(vec![2, 5]))));
/// assert_eq!(BlockLength { axis: 1 }.call(args![block.clone()]).unwrap(), Value::I64(5));
/// assert!(BlockLength { axis: 2 }.call(args![block]).is_err());
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlockLength {
    /// The axis measured.
    pub axis: usize,
}

#[typetag::serde(name = "rask.array.block_length")]
impl Op for BlockLength {
    fn name(&self) -> &str {
        "block-length"
    }

    fn call(&self, args: Args) -> std::result::Result<Value, OpError> {
        match args.as_slice() {
            [Value::Array(block)] => match block.shape().get(self.axis) {
                Some(&n) => Ok(Value::I64(n as i64)),
                None => Err(OpError::new(format!(
                    "block-length: no axis {} in a block of shape {:?}",
                    self.axis,
                    block.shape()
                ))),
            },
            _ => Err(OpError::new("block-length takes exactly one array block")),
        }
    }
}

/// Passes its first argument (a reduction's result block) on if, along each of `axes`,
/// the block lengths that follow it (`counts[k]` of them for `axes[k]`, as `i64`) add up
/// to more than 0; otherwise fails as numpy does for a reduction `what` without identity.
///
/// ```
/// use rask_collections::array::RequireElements;
/// use rask_graph::{args, Op, Value};
/// let op = RequireElements { what: "max".into(), axes: vec![0], counts: vec![2] };
/// assert_eq!(op.call(args![Value::F64(1.0), Value::I64(0), Value::I64(3)]).unwrap(), Value::F64(1.0));
/// let e = op.call(args![Value::F64(1.0), Value::I64(0), Value::I64(0)]).unwrap_err().to_string();
/// assert!(e.contains("zero-size array to reduction operation max"), "{e}");
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequireElements {
    /// The reduction, for the message.
    pub what: String,
    /// The axes whose lengths follow the result.
    pub axes: Vec<usize>,
    /// How many block lengths follow for each axis.
    pub counts: Vec<usize>,
}

#[typetag::serde(name = "rask.array.require_elements")]
impl Op for RequireElements {
    fn name(&self) -> &str {
        "require-elements"
    }

    fn call(&self, args: Args) -> std::result::Result<Value, OpError> {
        let mut args = args.into_iter();
        let result = args.next().ok_or_else(|| OpError::new("require-elements needs the result and block lengths"))?;
        let lengths = args
            .map(|v| match v {
                Value::I64(n) => Ok(n),
                other => Err(OpError::new(format!("require-elements: a block length is a {}", other.type_name()))),
            })
            .collect::<std::result::Result<Vec<i64>, _>>()?;
        if lengths.len() != self.counts.iter().sum::<usize>() || self.axes.len() != self.counts.len() {
            return Err(OpError::new(format!(
                "require-elements: {} block lengths for counts {:?} of axes {:?}",
                lengths.len(),
                self.counts,
                self.axes
            )));
        }
        let mut rest = lengths.as_slice();
        for (&axis, &count) in self.axes.iter().zip(&self.counts) {
            let (along, next) = rest.split_at(count);
            if along.iter().sum::<i64>() == 0 {
                let what = &self.what;
                return Err(OpError::new(format!(
                    "{what}: zero-size array to reduction operation {what} which has no identity (axis {axis}, \
                     whose length was unknown until computed, is empty)"
                )));
            }
            rest = next;
        }
        Ok(result)
    }
}

//! Blockwise operations on arrays with unknown chunk sizes: without lengths there is
//! nothing to broadcast or rechunk by, so the inputs must share one block structure (or
//! be 0-d) and blocks are matched by index. [`SameShapes`] checks, when the blocks are
//! computed, that matched blocks really have one shape.

use std::sync::Arc;

use rask_graph::{ArgSpec, Args, DType, Op, OpError, Token, Value};
use serde::{Deserialize, Serialize};

use super::{describe, unknown_sizes};
use crate::array::raw::{RawArray, layer_of_blocks};
use crate::error::{Error, Result};

/// Calls `op` once its array-block arguments that have axes are checked to share one
/// shape: blocks of arrays whose lengths were unknown when the graph was built are
/// matched by index, and blocks that differ must be an error rather than broadcast.
///
/// ```
/// use std::sync::Arc;
/// use rask_collections::array::{BinaryFn, Elementwise, Expr, SameShapes};
/// use rask_graph::{args, Element, Op, Value};
/// let add = Elementwise { name: "add".into(), expr: Expr::Binary(BinaryFn::Add, Box::new(Expr::Input(0)), Box::new(Expr::Input(1))) };
/// let op = SameShapes { op: Arc::new(add) };
/// let block = |v: Vec<f64>| Value::Array(f64::wrap(Arc::new(ndarray::Array1::from(v).into_dyn())));
/// assert_eq!(op.call(args![block(vec![1.0, 2.0]), block(vec![3.0, 4.0])]).unwrap(), block(vec![4.0, 6.0]));
/// assert!(op.call(args![block(vec![1.0, 2.0]), block(vec![3.0])]).unwrap_err().to_string().contains("[2], [1]"));
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SameShapes {
    /// The op called on the checked arguments.
    pub op: Arc<dyn Op>,
}

#[typetag::serde(name = "rask.array.same_shapes")]
impl Op for SameShapes {
    fn name(&self) -> &str {
        self.op.name()
    }

    fn call(&self, args: Args) -> std::result::Result<Value, OpError> {
        let shapes: Vec<&[usize]> = args
            .iter()
            .filter_map(|v| match v {
                Value::Array(chunk) if !chunk.shape().is_empty() => Some(chunk.shape()),
                _ => None,
            })
            .collect();
        if shapes.windows(2).any(|w| w[0] != w[1]) {
            let listed = shapes.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
            return Err(OpError::new(format!(
                "{}: blocks of shapes {listed} do not match: the arrays' chunk sizes, unknown when the \
                 expression was built, differ",
                self.op.name()
            )));
        }
        self.op.call(args)
    }

    fn is_portable(&self) -> bool {
        self.op.is_portable()
    }
}

/// An error unless `inputs` (at least one with unknown chunk sizes) can be matched block
/// by block: every input with axes has the block structure of the first with unknown
/// sizes (the same grid of blocks, unknown axes and chunks along the known axes); 0-d
/// inputs match anything.
pub(crate) fn check_matched(what: &str, inputs: &[&RawArray]) -> Result<()> {
    let Some(reference) = inputs.iter().find(|i| i.has_unknown()) else {
        return Ok(());
    };
    let same_structure = |i: &RawArray| {
        i.shape.is_empty()
            || (i.unknown == reference.unknown
                && i.numblocks() == reference.numblocks()
                && i.known_chunks() == reference.known_chunks())
    };
    match inputs.iter().find(|i| !same_structure(i)) {
        None => Ok(()),
        Some(other) => Err(unknown_sizes(
            &format!(
                "{what} with an array of {}, which is neither 0-d nor of the same block structure,",
                describe(other)
            ),
            reference,
        )),
    }
}

/// The blockwise layer named `name` applying `op` to the blocks of `inputs` matched by
/// index (checked with [`check_matched`]), producing blocks of `dtype` with the unknown
/// lengths of the inputs; `token` identifies the op's parameters.
pub(crate) fn matched_blockwise(
    name: &str,
    op: Arc<dyn Op>,
    token: Token,
    dtype: DType,
    inputs: &[RawArray],
) -> Result<RawArray> {
    let refs: Vec<&RawArray> = inputs.iter().collect();
    check_matched(name, &refs)?;
    let Some(reference) = inputs.iter().find(|i| i.has_unknown()) else {
        return Err(Error::Shape(format!("{name}: no input has unknown chunk sizes")));
    };
    let op: Arc<dyn Op> = match inputs.iter().filter(|i| !i.shape.is_empty()).count() {
        0 | 1 => op,
        _ => Arc::new(SameShapes { op }),
    };
    let tokens: Vec<u64> = inputs.iter().map(|i| i.token.0).collect();
    let token = Token::of(&(name, token.0, tokens, &reference.chunks, &reference.unknown));
    let dependencies = inputs.iter().map(|i| i.layer.clone()).collect();
    let (shape, chunks) = (reference.shape.clone(), reference.chunks.clone());
    let mut out = layer_of_blocks(name, token, shape, chunks, dtype, dependencies, |index| {
        let args = inputs.iter().map(|i| ArgSpec::Key(i.key(if i.shape.is_empty() { &[] } else { index }))).collect();
        (op.clone(), args)
    });
    out.unknown = reference.unknown.clone();
    Ok(out)
}

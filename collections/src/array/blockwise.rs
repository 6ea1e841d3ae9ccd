//! Blockwise layers: one task per output block, reading the matching block of every
//! input. Inputs are aligned with numpy's broadcasting first: shapes are matched from the
//! last axis, a length-1 axis stretches, and inputs whose chunks differ along an axis
//! are rechunked to the common refinement of their chunks (Dask's `unify_chunks`).

use std::sync::Arc;

use rask_graph::{ArgSpec, DType, Op, Token};

use super::elementwise::{Elementwise, Expr};
use super::raw::{RawArray, layer_of_blocks};
use super::rechunk::{common_chunks, rechunk};
use super::unknown::{matched_blockwise, unknown_sizes};
use crate::error::{Error, Result};

/// The shape all `shapes` broadcast to, or an error naming them.
pub(crate) fn broadcast_shapes(what: &str, shapes: &[&[usize]]) -> Result<Vec<usize>> {
    let ndim = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; ndim];
    for shape in shapes {
        for (i, &n) in shape.iter().enumerate() {
            let slot = &mut out[ndim - shape.len() + i];
            match (*slot, n) {
                (a, b) if a == b => {}
                (1, b) => *slot = b,
                (_, 1) => {}
                _ => {
                    return Err(Error::Shape(format!(
                        "{what}: shapes {} do not broadcast together",
                        shapes.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
                    )));
                }
            }
        }
    }
    Ok(out)
}

/// Inputs broadcast against each other.
pub(crate) struct Aligned {
    /// The broadcast shape.
    pub shape: Vec<usize>,
    /// The output's chunks.
    pub chunks: Vec<Vec<usize>>,
    /// Each input, rechunked where its chunks differed from the others'.
    pub inputs: Vec<RawArray>,
}

/// The inputs broadcast against each other (see [`Aligned`]).
pub(crate) fn align(what: &str, inputs: &[RawArray]) -> Result<Aligned> {
    if let Some(unknown) = inputs.iter().find(|i| i.has_unknown()) {
        return Err(unknown_sizes(what, unknown));
    }
    let shapes: Vec<&[usize]> = inputs.iter().map(|i| i.shape.as_slice()).collect();
    let shape = broadcast_shapes(what, &shapes)?;
    let ndim = shape.len();
    let mut chunks = Vec::with_capacity(ndim);
    for (axis, &n) in shape.iter().enumerate() {
        let along: Vec<&[usize]> = inputs
            .iter()
            .filter(|i| i.shape.len() + axis >= ndim && i.shape[i.shape.len() + axis - ndim] == n)
            .map(|i| i.chunks[i.shape.len() + axis - ndim].as_slice())
            .collect();
        chunks.push(if along.windows(2).all(|w| w[0] == w[1]) {
            along.first().map_or_else(|| vec![n], |c| c.to_vec())
        } else {
            common_chunks(&along)
        });
    }
    let inputs = inputs
        .iter()
        .map(|input| {
            let offset = ndim - input.shape.len();
            let wanted: Vec<Vec<usize>> = input
                .shape
                .iter()
                .enumerate()
                .map(
                    |(a, &n)| if n == shape[a + offset] { chunks[a + offset].clone() } else { input.chunks[a].clone() },
                )
                .collect();
            rechunk(input, wanted.into())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Aligned { shape, chunks, inputs })
}

/// A blockwise layer named `name` applying `op` to the aligned blocks of `inputs`,
/// producing blocks of `dtype`; `token` identifies the op's parameters. Inputs with
/// unknown chunk sizes are matched block by block instead ([`matched_blockwise`]).
pub(crate) fn blockwise(
    name: &str,
    op: Arc<dyn Op>,
    token: Token,
    dtype: DType,
    inputs: &[RawArray],
) -> Result<RawArray> {
    if inputs.iter().any(RawArray::has_unknown) {
        return matched_blockwise(name, op, token, dtype, inputs);
    }
    let Aligned { shape, chunks, inputs } = align(name, inputs)?;
    let ndim = shape.len();
    let tokens: Vec<u64> = inputs.iter().map(|i| i.token.0).collect();
    let token = Token::of(&(name, token.0, tokens, &chunks));
    let dependencies = inputs.iter().map(|i| i.layer.clone()).collect();
    Ok(layer_of_blocks(name, token, shape.clone(), chunks, dtype, dependencies, |index| {
        let args = inputs
            .iter()
            .map(|input| {
                let offset = ndim - input.shape.len();
                let at: Vec<u32> = (0..input.shape.len())
                    .map(|a| if input.shape[a] == shape[a + offset] { index[a + offset] } else { 0 })
                    .collect();
                ArgSpec::Key(input.key(&at))
            })
            .collect();
        (op.clone(), args)
    }))
}

/// The elementwise layer computing `expr` over `inputs` (the expression's `Input(i)` is
/// `inputs[i]`), or an error naming the function and the mismatched types or shapes.
pub(crate) fn elementwise(name: &str, expr: Expr, inputs: &[RawArray]) -> Result<RawArray> {
    let dtypes: Vec<DType> = inputs.iter().map(|i| i.dtype).collect();
    let dtype = expr.dtype(&dtypes).map_err(|e| Error::DType(format!("{name}: {e}")))?;
    let token = Token::of(&format!("{expr:?}"));
    let op: Arc<dyn Op> = Arc::new(Elementwise { name: name.to_string(), expr });
    blockwise(name, op, token, dtype, inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_broadcast_from_the_last_axis() {
        assert_eq!(broadcast_shapes("add", &[&[3, 1], &[4]]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shapes("add", &[&[], &[2, 0]]).unwrap(), vec![2, 0]);
        let e = broadcast_shapes("add", &[&[3, 2], &[3]]).unwrap_err().to_string();
        assert!(e.contains("[3, 2], [3]") && e.contains("add"), "{e}");
    }
}

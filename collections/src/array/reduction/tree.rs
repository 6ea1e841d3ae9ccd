//! The reduction tree, built as Dask builds it: a chunk stage reduces every block
//! (keeping the reduced axes with length 1, so its results form a grid of one cell per
//! block), combine stages merge groups of up to `fan_in` neighbouring partial results
//! along each reduced axis until one group is left, and an aggregate stage merges that
//! last group and finishes (dropping the reduced axes unless `keepdims`).
//!
//! Layers are named as Dask names them (`sum`, `sum-partial`, `sum-aggregate`); the
//! intermediate arrays carry the result's dtype although their blocks are partial
//! results.

use std::sync::Arc;

use rask_graph::{ArgSpec, DType, Op, Token, Value};

use super::ops::{CombinePartials, Finish, ReduceBlock};
use super::options::ReduceOptions;
use super::state::Reducer;
use crate::array::chunks::{block_indices, offsets};
use crate::array::raw::{RawArray, layer_of_blocks};
use crate::array::unknown::{arg_chunk_stage, require_elements};
use crate::error::{Error, Result};

/// `raw` reduced with `reducer` over `axes` (sorted, distinct, in range).
pub(crate) fn tree_reduce(
    raw: &RawArray,
    reducer: Reducer,
    axes: &[usize],
    options: &ReduceOptions,
) -> Result<RawArray> {
    let dtype = reducer.output_dtype(raw.dtype);
    let reducer = reducer.for_dtype(raw.dtype);
    check_extent(raw, reducer, axes)?;
    let fan_in = options.fan_in(axes.len());
    let mut partials = arg_chunk_stage(raw, reducer, dtype).unwrap_or_else(|| chunk_stage(raw, reducer, axes, dtype));
    while axes.iter().any(|&a| partials.chunks[a].len() > fan_in) {
        partials = combine_stage(&partials, reducer, axes, fan_in, None);
    }
    let finish = Finish { axes: axes.to_vec(), keepdims: options.keepdims, ddof: options.ddof, dtype };
    Ok(require_elements(raw, reducer, combine_stage(&partials, reducer, axes, fan_in, Some(finish))))
}

/// Reductions without an identity (min, max, argmin, argmax) of nothing are an error, as
/// in numpy; min and max of an empty result are fine (there is nothing to compute).
/// Unknown lengths are checked when computed ([`require_elements`]).
fn check_extent(raw: &RawArray, reducer: Reducer, axes: &[usize]) -> Result<()> {
    let Some(&axis) = axes.iter().find(|&&a| raw.shape[a] == 0 && !raw.unknown.contains(&a)) else {
        return Ok(());
    };
    let out_size: usize = (0..raw.shape.len()).filter(|a| !axes.contains(a)).map(|a| raw.shape[a]).product();
    let (name, shape) = (reducer.name(), &raw.shape);
    if reducer.is_arg() {
        let message = format!("{name}: attempt to get {name} of an empty sequence (axis {axis} of shape {shape:?})");
        return Err(Error::Shape(message));
    }
    if !reducer.has_identity() && out_size > 0 {
        return Err(Error::Shape(format!(
            "{name}: zero-size array to reduction operation {name} which has no identity (axis {axis} of shape {shape:?})"
        )));
    }
    Ok(())
}

/// The chunk stage: every block reduced to a partial result.
pub(crate) fn chunk_stage(raw: &RawArray, reducer: Reducer, axes: &[usize], dtype: DType) -> RawArray {
    let (shape, chunks) = grid(raw, axes, 1, false);
    let token = Token::of(&(reducer.name(), raw.token.0, axes));
    let op: Arc<dyn Op> = Arc::new(ReduceBlock { reducer, axes: axes.to_vec() });
    let starts: Vec<Vec<usize>> = raw.chunks.iter().map(|c| offsets(c)).collect();
    let integers =
        |values: &mut dyn Iterator<Item = usize>| Value::List(values.map(|v| Value::I64(v as i64)).collect());
    let array_shape = integers(&mut raw.shape.iter().copied());
    layer_of_blocks(reducer.name(), token, shape, chunks, dtype, vec![raw.layer.clone()], |index| {
        let mut args = vec![ArgSpec::Key(raw.key(index))];
        if reducer.is_arg() {
            let start = integers(&mut index.iter().enumerate().map(|(a, &i)| starts[a][i as usize]));
            args.extend([ArgSpec::Value(start), ArgSpec::Value(array_shape.clone())]);
        }
        (op.clone(), args)
    })
}

/// A combine stage (`finish` is `None`) or the aggregate stage: each task merges up to
/// `fan_in` neighbouring partial results along every reduced axis.
fn combine_stage(
    input: &RawArray,
    reducer: Reducer,
    axes: &[usize],
    fan_in: usize,
    finish: Option<Finish>,
) -> RawArray {
    let squeeze = finish.as_ref().is_some_and(|f| !f.keepdims);
    let (shape, chunks) = grid(input, axes, fan_in, squeeze);
    let name = format!("{}-{}", reducer.name(), if finish.is_some() { "aggregate" } else { "partial" });
    let token = Token::of(&(&name, input.token.0, axes, fan_in, &finish));
    let numblocks = input.numblocks();
    let op: Arc<dyn Op> = Arc::new(CombinePartials { reducer, finish });
    layer_of_blocks(&name, token, shape, chunks, input.dtype, vec![input.layer.clone()], |index| {
        let mut index = index.iter().copied();
        let (mut starts, mut counts) = (Vec::new(), Vec::new());
        for (axis, &n) in numblocks.iter().enumerate() {
            let reduced = axes.contains(&axis);
            let i = if reduced && squeeze { 0 } else { index.next().unwrap_or(0) as usize };
            let (start, count) = if reduced { (i * fan_in, fan_in.min(n - i * fan_in)) } else { (i, 1) };
            starts.push(start);
            counts.push(count);
        }
        let args = block_indices(&counts)
            .into_iter()
            .map(|group| {
                let at: Vec<u32> = group.iter().zip(&starts).map(|(&g, &s)| g + s as u32).collect();
                ArgSpec::Key(input.key(&at))
            })
            .collect();
        (op.clone(), args)
    })
}

/// The shape and chunks of a stage's results: one length-1 block per group of `fan_in`
/// blocks along the reduced axes (or none of those axes if `squeeze`), the input's
/// chunks along the others.
fn grid(input: &RawArray, axes: &[usize], fan_in: usize, squeeze: bool) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut shape = Vec::with_capacity(input.shape.len());
    let mut chunks = Vec::with_capacity(input.shape.len());
    for (axis, along) in input.chunks.iter().enumerate() {
        if !axes.contains(&axis) {
            shape.push(input.shape[axis]);
            chunks.push(along.clone());
        } else if !squeeze {
            let groups = along.len().div_ceil(fan_in);
            shape.push(groups);
            chunks.push(vec![1; groups]);
        }
    }
    (shape, chunks)
}

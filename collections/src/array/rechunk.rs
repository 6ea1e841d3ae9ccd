//! Rechunking: new blocks cut from the old ones, each new block gathering only the
//! pieces of the old blocks it overlaps (no all-to-all shuffle), and the [`Assemble`] op
//! that copies pieces of several blocks into one (also used by concatenation, slicing
//! and block selection). A `Recut` lets a layer that needs its input in other chunks
//! build each of its blocks in one task, with no rechunk layer in between.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Slice, SliceInfoElem};
use rask_graph::{ArgSpec, Args, Element, Op, OpError, Token, Value};
use serde::{Deserialize, Serialize};

use super::chunks::{ChunkSpec, offsets};
use super::raw::with_blocks_of_one_type;
use super::raw::{RawArray, layer_of_blocks};
use crate::error::Result;

/// A strided range of one axis of a source block: ndarray's `Slice` (a negative step
/// walks `start..end` backwards).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// First index (inclusive).
    pub start: usize,
    /// Last index (exclusive).
    pub end: usize,
    /// Step; negative walks the range from its end.
    pub step: isize,
}

impl Span {
    /// `start..end` with step 1.
    pub fn range(start: usize, end: usize) -> Span {
        Span { start, end, step: 1 }
    }

    /// The number of elements selected.
    pub fn len(&self) -> usize {
        let n = self.end.saturating_sub(self.start);
        n.div_ceil(self.step.unsigned_abs().max(1))
    }

    /// Whether nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A piece of one argument block copied into the output block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    /// Which argument.
    pub arg: u32,
    /// What to take from it, per axis.
    pub src: Vec<Span>,
    /// Where it goes in the output block: the start along each axis.
    pub dst: Vec<usize>,
}

/// Builds one block of `shape` out of pieces of its argument blocks, then gives it
/// `reshape` (to drop indexed axes or add new ones) if set.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Assemble {
    /// The assembled block's shape.
    pub shape: Vec<usize>,
    /// The pieces, which together cover the block.
    pub pieces: Vec<Piece>,
    /// The final shape (same number of elements), if different.
    pub reshape: Option<Vec<usize>>,
}

fn assemble<T: Element>(op: &Assemble, mut blocks: Vec<Arc<ArrayD<T>>>) -> Result<Arc<ArrayD<T>>, OpError> {
    let get = |arg: u32| blocks.get(arg as usize).ok_or_else(|| OpError::new(format!("assemble: no argument {arg}")));
    let sliced = |p: &Piece| -> Result<ndarray::ArrayViewD<'_, T>, OpError> {
        let block = get(p.arg)?;
        if p.src.len() != block.ndim() || p.src.iter().zip(block.shape()).any(|(s, &n)| s.end > n || s.start > s.end) {
            return Err(OpError::new(format!(
                "assemble: piece {:?} does not fit a block of shape {:?}",
                p.src,
                block.shape()
            )));
        }
        let info: Vec<SliceInfoElem> =
            p.src.iter().map(|s| Slice::new(s.start as isize, Some(s.end as isize), s.step).into()).collect();
        Ok(block.slice(info.as_slice()))
    };
    // `None`: the output is the single argument block itself, passed through uncopied.
    let built = match op.pieces.as_slice() {
        [p] if p.dst.iter().all(|&d| d == 0) && sliced(p)?.shape() == op.shape.as_slice() => {
            let whole = get(p.arg)?.shape() == op.shape.as_slice() && p.src.iter().all(|s| s.step == 1);
            if whole { None } else { Some(Arc::new(sliced(p)?.to_owned())) }
        }
        pieces => {
            let mut out = ArrayD::<T>::default(IxDyn(&op.shape));
            for p in pieces {
                let view = sliced(p)?;
                if p.dst.len() != op.shape.len()
                    || p.dst.iter().zip(view.shape()).zip(&op.shape).any(|((&d, &n), &m)| d + n > m)
                {
                    return Err(OpError::new(format!(
                        "assemble: a piece of shape {:?} at {:?} does not fit the block {:?}",
                        view.shape(),
                        p.dst,
                        op.shape
                    )));
                }
                out.slice_each_axis_mut(|a| {
                    let (i, d) = (a.axis.index(), p.dst[a.axis.index()]);
                    Slice::from(d..d + view.shape()[i])
                })
                .assign(&view);
            }
            Some(Arc::new(out))
        }
    };
    // Moved out of the arguments, a block held by no one else is reshaped without a copy.
    let out = built.unwrap_or_else(|| blocks.swap_remove(op.pieces[0].arg as usize));
    match &op.reshape {
        None => Ok(out),
        Some(shape) => reshape_block(out, shape),
    }
}

/// The block with a new shape of the same size, in C order: a uniquely held block in
/// standard layout keeps its buffer; a shared one is copied once.
pub(crate) fn reshape_block<T: Element>(block: Arc<ArrayD<T>>, shape: &[usize]) -> Result<Arc<ArrayD<T>>, OpError> {
    if block.shape() == shape {
        return Ok(block);
    }
    let error = |from: &[usize]| OpError::new(format!("cannot reshape a block of shape {from:?} to {shape:?}"));
    let reshaped = match Arc::try_unwrap(block) {
        Ok(owned) => {
            let from = owned.shape().to_vec();
            owned.into_shape_clone(IxDyn(shape)).map_err(|_| error(&from))?
        }
        Err(shared) => shared.to_shape(IxDyn(shape)).map_err(|_| error(shared.shape()))?.into_owned(),
    };
    Ok(Arc::new(reshaped))
}

#[typetag::serde(name = "rask.array.assemble")]
impl Op for Assemble {
    fn name(&self) -> &str {
        "assemble"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        with_blocks_of_one_type!("assemble", args, blocks => assemble(self, blocks)).map(Value::Array)
    }
}

/// Part of an old block inside a new one along one axis: `(old block, start within the
/// old block, end within it, start within the new block)`.
type Overlap = (usize, usize, usize, usize);

/// For each new block along one axis, the old blocks it overlaps.
pub(crate) fn overlaps(old: &[usize], new: &[usize]) -> Vec<Vec<Overlap>> {
    let (old_off, new_off) = (offsets(old), offsets(new));
    let mut out = Vec::with_capacity(new.len());
    let mut first = 0;
    for j in 0..new.len() {
        let (lo, hi) = (new_off[j], new_off[j + 1]);
        while first + 1 < old.len() && old_off[first + 1] <= lo {
            first += 1;
        }
        if lo == hi {
            // Only an empty axis has an empty block: take an empty piece of the old one.
            out.push(vec![(first, lo - old_off[first], lo - old_off[first], 0)]);
            continue;
        }
        let mut parts = Vec::new();
        let mut i = first;
        while i < old.len() && old_off[i] < hi {
            let (a, b) = (old_off[i].max(lo), old_off[i + 1].min(hi));
            if a < b {
                parts.push((i, a - old_off[i], b - old_off[i], a - lo));
            }
            i += 1;
        }
        out.push(parts);
    }
    out
}

/// `array` cut into `chunks` instead (the same array when nothing changes).
pub(crate) fn rechunk(array: &RawArray, chunks: ChunkSpec) -> Result<RawArray> {
    if array.has_unknown() {
        return Err(super::unknown::unknown_sizes("rechunk", array));
    }
    let chunks = chunks.resolve(&array.shape)?;
    if chunks == array.chunks {
        return Ok(array.clone());
    }
    let token = Token::of(&("rechunk", array.token.0, &chunks));
    let recut = Recut::new(array, chunks.clone());
    Ok(layer_of_blocks(
        "rechunk",
        token,
        array.shape.clone(),
        chunks,
        array.dtype,
        vec![array.layer.clone()],
        |index| recut.block(index, None),
    ))
}

/// An array read through other chunks of the same shape: each block of the new grid is
/// one [`Assemble`] of the pieces of the old blocks it overlaps (a block whose chunks did
/// not change passes through uncopied). Layers that rechunk their inputs build their
/// tasks from it, so the rechunk costs no tasks of its own.
pub(crate) struct Recut<'a> {
    array: &'a RawArray,
    chunks: Vec<Vec<usize>>,
    per_axis: Vec<Vec<Vec<Overlap>>>,
}

impl<'a> Recut<'a> {
    /// `array` read through `chunks` (which must fit its shape).
    pub fn new(array: &'a RawArray, chunks: Vec<Vec<usize>>) -> Self {
        let per_axis = array.chunks.iter().zip(&chunks).map(|(old, new)| overlaps(old, new)).collect();
        Recut { array, chunks, per_axis }
    }

    /// The number of new blocks along each axis.
    pub fn numblocks(&self) -> Vec<usize> {
        self.chunks.iter().map(Vec::len).collect()
    }

    /// The op and arguments making the new block at `index`, given the shape `reshape`
    /// (of as many elements) when set.
    pub fn block(&self, index: &[u32], reshape: Option<Vec<usize>>) -> (Arc<dyn Op>, Vec<ArgSpec>) {
        // The cartesian product of each axis's overlapping old blocks.
        let axes: Vec<&Vec<Overlap>> = index.iter().enumerate().map(|(a, &i)| &self.per_axis[a][i as usize]).collect();
        let counts: Vec<usize> = axes.iter().map(|parts| parts.len()).collect();
        let mut args = Vec::new();
        let mut pieces = Vec::new();
        for combo in super::chunks::block_indices(&counts) {
            let parts: Vec<_> = combo.iter().enumerate().map(|(a, &k)| axes[a][k as usize]).collect();
            let old: Vec<u32> = parts.iter().map(|p| p.0 as u32).collect();
            pieces.push(Piece {
                arg: args.len() as u32,
                src: parts.iter().map(|p| Span::range(p.1, p.2)).collect(),
                dst: parts.iter().map(|p| p.3).collect(),
            });
            args.push(ArgSpec::Key(self.array.key(&old)));
        }
        let shape: Vec<usize> = index.iter().enumerate().map(|(a, &i)| self.chunks[a][i as usize]).collect();
        let reshape = reshape.filter(|r| *r != shape);
        let op: Arc<dyn Op> = Arc::new(Assemble { shape, pieces, reshape });
        (op, args)
    }
}

/// The common refinement of several chunkings of one axis: every boundary of any of them.
pub(crate) fn common_chunks(chunkings: &[&[usize]]) -> Vec<usize> {
    let mut bounds: Vec<usize> = chunkings.iter().flat_map(|c| offsets(c)).collect();
    bounds.sort_unstable();
    bounds.dedup();
    let out: Vec<usize> = bounds.windows(2).map(|w| w[1] - w[0]).collect();
    if out.is_empty() { vec![0] } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_find_the_old_blocks_of_each_new_block() {
        assert_eq!(overlaps(&[3, 3], &[2, 4]), vec![vec![(0, 0, 2, 0)], vec![(0, 2, 3, 0), (1, 0, 3, 1)]]);
        assert_eq!(overlaps(&[2, 2, 2], &[6]), vec![vec![(0, 0, 2, 0), (1, 0, 2, 2), (2, 0, 2, 4)]]);
        assert_eq!(overlaps(&[0], &[0]), vec![vec![(0, 0, 0, 0)]]);
        assert_eq!(common_chunks(&[&[3, 3], &[2, 4]]), vec![2, 1, 3]);
        assert_eq!(Span { start: 1, end: 8, step: -3 }.len(), 3);
    }
}

//! Slices and block selections as layers of [`Assemble`] tasks: every output block is one
//! strided stretch of one input block (Dask's slicing keeps the input's block boundaries),
//! reshaped when integer indices drop axes or new axes are added. A stretch that is a
//! whole block passes the block through without copying it.

use std::sync::Arc;

use rask_graph::{ArgSpec, Op, Token};

use super::super::raw::{RawArray, layer_of_blocks};
use super::super::rechunk::{Assemble, Piece, Span};
use super::select::{AxisSel, block_parts, or_empty_block, positions};
use crate::error::{Error, Result};

/// Where an axis of the output comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutAxis {
    /// An axis of the input.
    Input(usize),
    /// A new axis of length 1.
    New,
}

/// An output whose blocks each read one stretch of one input block.
#[derive(Debug)]
pub(super) struct Selection {
    /// For each input axis, the stretches of its blocks the output reads, in output
    /// order; an axis the output drops has exactly one.
    parts: Vec<Vec<(u32, Span)>>,
    /// The output's axes.
    axes: Vec<OutAxis>,
}

impl Selection {
    /// The selection `sels` (normalized against `chunks`' shape) makes: integer indices
    /// drop their axis.
    pub fn of_elements(sels: &[AxisSel], chunks: &[Vec<usize>]) -> Selection {
        let mut selection = Selection { parts: Vec::with_capacity(chunks.len()), axes: Vec::with_capacity(sels.len()) };
        for sel in sels {
            let Some(span) = sel.span() else {
                selection.axes.push(OutAxis::New);
                continue;
            };
            let axis = selection.parts.len();
            selection.parts.push(block_parts(span, &chunks[axis]));
            if !matches!(sel, AxisSel::Index(_)) {
                selection.axes.push(OutAxis::Input(axis));
            }
        }
        selection
    }

    /// The selection of whole blocks `sels` (normalized against the block grid) makes:
    /// integer indices keep their axis, as in Dask's `x.blocks[..]`.
    pub fn of_blocks(sels: &[AxisSel], chunks: &[Vec<usize>]) -> Result<Selection> {
        if sels.contains(&AxisSel::New) {
            return Err(Error::Shape("blocks: a new axis (NewAxis) does not select blocks".to_string()));
        }
        let whole_blocks = |(sel, sizes): (&AxisSel, &Vec<usize>)| {
            let span = sel.span().unwrap_or(Span::range(0, 0));
            or_empty_block(positions(span).map(|k| (k as u32, Span::range(0, sizes[k]))).collect())
        };
        let parts: Vec<_> = sels.iter().zip(chunks).map(whole_blocks).collect();
        Ok(Selection { axes: (0..parts.len()).map(OutAxis::Input).collect(), parts })
    }

    /// The output's block sizes along each of its axes.
    fn chunks(&self) -> Vec<Vec<usize>> {
        let sizes = |axis: &OutAxis| match *axis {
            OutAxis::Input(a) => self.parts[a].iter().map(|(_, span)| span.len()).collect(),
            OutAxis::New => vec![1],
        };
        self.axes.iter().map(sizes).collect()
    }

    /// The input block and the stretch of it that the output block at `index` reads.
    fn source(&self, index: &[u32]) -> (Vec<u32>, Vec<Span>) {
        let mut chosen: Vec<(u32, Span)> = self.parts.iter().map(|parts| parts[0]).collect();
        for (axis, &i) in self.axes.iter().zip(index) {
            if let OutAxis::Input(a) = *axis {
                chosen[a] = self.parts[a][i as usize];
            }
        }
        chosen.into_iter().unzip()
    }

    /// The layer of `input`'s selection, named `name` and keyed by `token`.
    pub fn layer(&self, input: &RawArray, name: &str, token: Token) -> RawArray {
        let chunks = self.chunks();
        let shape: Vec<usize> = chunks.iter().map(|c| c.iter().sum()).collect();
        let layer_chunks = chunks.clone();
        layer_of_blocks(name, token, shape, layer_chunks, input.dtype, vec![input.layer.clone()], |index| {
            let (block, src) = self.source(index);
            let read: Vec<usize> = src.iter().map(Span::len).collect();
            let out: Vec<usize> = index.iter().zip(&chunks).map(|(&i, sizes)| sizes[i as usize]).collect();
            let piece = Piece { arg: 0, dst: vec![0; src.len()], src };
            let reshape = (out != read).then_some(out);
            let op: Arc<dyn Op> = Arc::new(Assemble { shape: read, pieces: vec![piece], reshape });
            (op, vec![ArgSpec::Key(input.key(&block))])
        })
    }
}

#[cfg(test)]
mod tests {
    use rask_graph::{ArrayChunk, Value, args};

    use super::*;

    #[test]
    fn whole_blocks_pass_through_uncopied() {
        let x = crate::array::from_ndarray(&ndarray::Array2::<f64>::zeros((4, 4)), [2, 2]).unwrap();
        let block = |key| match x.raw.layer.tasks().iter().find(|t| t.key == key).map(|t| &t.args[0]) {
            Some(ArgSpec::Value(Value::Array(ArrayChunk::F64(a)))) => a.clone(),
            other => panic!("an input block, got {other:?}"),
        };
        for selected in [x.blocks(ndarray::s![1, ..;-1]).unwrap(), x.slice(ndarray::s![2.., ..2]).unwrap()] {
            for task in selected.raw.layer.tasks() {
                let ArgSpec::Key(key) = task.args[0] else { panic!("reads an input block") };
                let input = block(key);
                let out = task.op.call(args![Value::Array(ArrayChunk::F64(input.clone()))]).unwrap();
                assert!(matches!(out, Value::Array(ArrayChunk::F64(a)) if Arc::ptr_eq(&a, &input)));
            }
        }
    }
}

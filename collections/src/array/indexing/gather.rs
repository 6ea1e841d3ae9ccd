//! Gathering: numpy's `take` along one axis and concrete boolean masks, as layers of
//! [`Gather`] tasks. Output positions are grouped into blocks of about the input's block
//! size; each output block reads only the input blocks its positions fall in, and copies
//! runs of evenly spaced indices with one loop (a contiguous run is one `memcpy`).

use std::collections::HashMap;
use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, Dimension, IxDyn};
use rask_graph::{ArgSpec, Args, Element, Op, OpError, Token, Value};

use crate::array::raw::with_blocks_of_one_type;
use serde::{Deserialize, Serialize};

use super::super::chunks::{block_indices, offsets};
use super::super::raw::{RawArray, layer_of_blocks};
use super::super::rechunk::Span;
use super::select::positions;

/// Consecutive output positions read from one argument block: the indices `span`
/// selects along the gathered axis, in `span`'s order.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// Which argument block.
    pub arg: u32,
    /// Which indices of it.
    pub span: Span,
}

/// Builds one block by gathering along `axis` (numpy's `take` on blocks): its positions
/// along the axis are the runs' indices of their argument blocks, in order; the other
/// axes are the argument blocks' (which must agree). With `flatten` each argument block
/// is read flattened in C order and the block is 1-d (boolean masks; `axis` is 0).
///
/// ```
/// use rask_collections::array::{Gather, Run, Span};
/// use rask_graph::{Element, Op, Value, args};
/// let block = |v: Vec<i64>| Value::Array(i64::wrap(std::sync::Arc::new(ndarray::Array1::from(v).into_dyn())));
/// let runs = vec![Run { arg: 1, span: Span { start: 0, end: 3, step: -2 } }, Run { arg: 0, span: Span::range(1, 2) }];
/// let out = Gather { axis: 0, flatten: false, runs }.call(args![block(vec![10, 11]), block(vec![20, 21, 22])]).unwrap();
/// assert_eq!(out, block(vec![22, 20, 11]));
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Gather {
    /// The axis gathered along.
    pub axis: usize,
    /// Whether argument blocks are read flattened (the output is then 1-d).
    pub flatten: bool,
    /// The runs, in output order.
    pub runs: Vec<Run>,
}

impl Gather {
    /// The shape each argument block is read at, or an error if they do not agree off
    /// the gathered axis.
    fn shapes<T: Element>(&self, blocks: &[Arc<ArrayD<T>>]) -> Result<Vec<Vec<usize>>, OpError> {
        let shapes: Vec<Vec<usize>> =
            blocks.iter().map(|b| if self.flatten { vec![b.len()] } else { b.shape().to_vec() }).collect();
        let Some(reference) = shapes.first() else { return Err(OpError::new("gather needs at least one block")) };
        if self.axis >= reference.len() {
            return Err(OpError::new(format!("gather: no axis {} in a block of shape {reference:?}", self.axis)));
        }
        let agree = |shape: &Vec<usize>| {
            shape.len() == reference.len()
                && shape.iter().zip(reference).enumerate().all(|(a, (m, n))| a == self.axis || m == n)
        };
        match shapes.iter().find(|s| !agree(s)) {
            Some(other) => Err(OpError::new(format!("gather: blocks of shapes {reference:?} and {other:?}"))),
            None => Ok(shapes),
        }
    }

    /// Checks every run against the blocks' lengths along the axis.
    fn check_runs(&self, lengths: &[usize]) -> Result<(), OpError> {
        for run in &self.runs {
            let fits =
                lengths.get(run.arg as usize).is_some_and(|&n| run.span.start <= run.span.end && run.span.end <= n);
            if !fits || run.span.step == 0 {
                return Err(OpError::new(format!("gather: {run:?} does not fit blocks of lengths {lengths:?}")));
            }
        }
        Ok(())
    }

    /// The whole argument block when the runs read exactly it, in order.
    fn pass_through<T: Element>(&self, blocks: &[Arc<ArrayD<T>>]) -> Option<Arc<ArrayD<T>>> {
        match (blocks, self.runs.as_slice()) {
            ([block], [Run { arg: 0, span: Span { start: 0, end, step: 1 } }])
                if (!self.flatten || block.ndim() == 1) && block.shape().get(self.axis) == Some(end) =>
            {
                Some(block.clone())
            }
            _ => None,
        }
    }
}

fn gather<T: Element>(op: &Gather, blocks: &[Arc<ArrayD<T>>]) -> Result<Arc<ArrayD<T>>, OpError> {
    if let Some(block) = op.pass_through(blocks) {
        return Ok(block);
    }
    let shapes = op.shapes(blocks)?;
    let lengths: Vec<usize> = shapes.iter().map(|s| s[op.axis]).collect();
    let mut shape = shapes[0].clone();
    op.check_runs(&lengths)?;
    let standard: Vec<_> = blocks.iter().map(|b| b.as_standard_layout()).collect();
    let data = standard
        .iter()
        .map(|b| b.as_slice().ok_or_else(|| OpError::new("gather: a block is not contiguous")))
        .collect::<Result<Vec<&[T]>, _>>()?;
    let outer: usize = shape[..op.axis].iter().product();
    let inner: usize = shape[op.axis + 1..].iter().product();
    let count: usize = op.runs.iter().map(|r| r.span.len()).sum();
    let mut out = Vec::with_capacity(outer * count * inner);
    for o in 0..outer {
        for &Run { arg, span } in &op.runs {
            let (src, row) = (data[arg as usize], o * lengths[arg as usize]);
            if span.step == 1 {
                out.extend_from_slice(&src[(row + span.start) * inner..(row + span.end) * inner]);
            } else if inner == 1 {
                out.extend(positions(span).map(|i| src[row + i]));
            } else {
                positions(span).for_each(|i| out.extend_from_slice(&src[(row + i) * inner..(row + i + 1) * inner]));
            }
        }
    }
    shape[op.axis] = count;
    ArrayD::from_shape_vec(IxDyn(&shape), out).map(Arc::new).map_err(|e| OpError::new(format!("gather: {e}")))
}

#[typetag::serde(name = "rask.array.gather")]
impl Op for Gather {
    fn name(&self) -> &str {
        "gather"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        with_blocks_of_one_type!("gather", args, blocks => gather(self, &blocks)).map(Value::Array)
    }
}

/// A run being grown: `count` indices from `first` to `last`, `step` apart.
struct OpenRun {
    arg: u32,
    first: usize,
    last: usize,
    count: usize,
    step: isize,
}

impl OpenRun {
    /// Takes index `i` of argument `arg` if it continues the run.
    fn extend(&mut self, arg: u32, i: usize) -> bool {
        let step = i as isize - self.last as isize;
        if arg != self.arg || step == 0 || (self.count > 1 && step != self.step) {
            return false;
        }
        (self.step, self.last, self.count) = (step, i, self.count + 1);
        true
    }

    fn close(&self) -> Run {
        let (low, high) = (self.first.min(self.last), self.first.max(self.last));
        Run { arg: self.arg, span: Span { start: low, end: high + 1, step: self.step } }
    }
}

/// One output block's [`Gather`] runs for `picks` (source block, index in it), with the
/// source blocks its arguments are, in order of first use (block 0 if there are none:
/// an empty block still takes its shape from one).
fn runs_of(picks: &[(usize, usize)]) -> (Vec<usize>, Vec<Run>) {
    let (mut sources, mut args) = (Vec::new(), HashMap::new());
    let mut runs = Vec::new();
    let mut open: Option<OpenRun> = None;
    for &(source, i) in picks {
        let arg = match &open {
            Some(run) if sources[run.arg as usize] == source => run.arg,
            _ => *args.entry(source).or_insert_with(|| {
                sources.push(source);
                sources.len() as u32 - 1
            }),
        };
        if open.as_mut().is_some_and(|run| run.extend(arg, i)) {
            continue;
        }
        runs.extend(open.replace(OpenRun { arg, first: i, last: i, count: 1, step: 1 }).map(|r| r.close()));
    }
    runs.extend(open.map(|r| r.close()));
    if sources.is_empty() {
        sources.push(0);
    }
    (sources, runs)
}

/// How to cut gathered positions into the blocks of a gather layer.
pub(super) struct GatherLayer<'a> {
    /// The array gathered from.
    pub input: &'a RawArray,
    /// The layer's name.
    pub name: &'a str,
    /// The layer's token.
    pub token: Token,
    /// The output axis the positions run along.
    pub axis: usize,
    /// Whether input blocks are read flattened ([`Gather::flatten`]).
    pub flatten: bool,
    /// Positions per output block (at least 1 is used).
    pub size: usize,
}

impl GatherLayer<'_> {
    /// The layer gathering `picks` (source, index in the source block, in output order)
    /// along the axis. `shape` and `chunks` are the output's off the axis (the axis's
    /// entries are replaced); `input_block(output index, source)` is the input block the
    /// output block at that index reads for `source`.
    pub fn build(
        &self,
        picks: &[(usize, usize)],
        mut shape: Vec<usize>,
        mut chunks: Vec<Vec<usize>>,
        input_block: impl Fn(&[u32], usize) -> Vec<u32>,
    ) -> RawArray {
        let groups: Vec<&[(usize, usize)]> =
            if picks.is_empty() { vec![&[]] } else { picks.chunks(self.size.max(1)).collect() };
        let ops: Vec<(Arc<dyn Op>, Vec<usize>)> = groups
            .iter()
            .map(|group| {
                let (sources, runs) = runs_of(group);
                let op: Arc<dyn Op> = Arc::new(Gather { axis: self.axis, flatten: self.flatten, runs });
                (op, sources)
            })
            .collect();
        chunks[self.axis] = groups.iter().map(|g| g.len()).collect();
        shape[self.axis] = picks.len();
        let input = self.input;
        layer_of_blocks(self.name, self.token, shape, chunks, input.dtype, vec![input.layer.clone()], |index| {
            let (op, sources) = &ops[index[self.axis] as usize];
            let args = sources.iter().map(|&s| ArgSpec::Key(input.key(&input_block(index, s)))).collect();
            (op.clone(), args)
        })
    }
}

/// Numpy's `take` of `indices` (within the axis) along `axis`, in output blocks of the
/// input's largest block size along it.
pub(super) fn take_layer(input: &RawArray, name: &str, token: Token, indices: &[usize], axis: usize) -> RawArray {
    let sizes = &input.chunks[axis];
    let offsets = offsets(sizes);
    let picks: Vec<(usize, usize)> = indices
        .iter()
        .map(|&i| {
            let block = offsets.partition_point(|&o| o <= i) - 1;
            (block, i - offsets[block])
        })
        .collect();
    let size = sizes.iter().copied().max().unwrap_or(1);
    let layer = GatherLayer { input, name, token, axis, flatten: false, size };
    layer.build(&picks, input.shape.clone(), input.chunks.clone(), |index, source| {
        let mut block = index.to_vec();
        block[axis] = source as u32;
        block
    })
}

/// The elements `mask` (of the input's shape) selects, in C order, as a 1-d array in
/// blocks of as many elements as the input's largest block holds.
pub(super) fn mask_layer(input: &RawArray, name: &str, token: Token, mask: ArrayViewD<'_, bool>) -> RawArray {
    let picks = masked(mask, &input.chunks);
    let grid = block_indices(&input.numblocks());
    let size = input.chunks.iter().map(|c| c.iter().copied().max().unwrap_or(0)).product();
    let layer = GatherLayer { input, name, token, axis: 0, flatten: true, size };
    layer.build(&picks, vec![0], vec![vec![]], |_, source| grid[source].clone())
}

/// For every element `mask` selects, in C order: its block (numbered in C order) and its
/// index in the flattened block.
fn masked(mask: ArrayViewD<'_, bool>, chunks: &[Vec<usize>]) -> Vec<(usize, usize)> {
    let locate: Vec<Vec<(usize, usize)>> = chunks
        .iter()
        .map(|sizes| sizes.iter().enumerate().flat_map(|(k, &n)| (0..n).map(move |l| (k, l))).collect())
        .collect();
    let grid: Vec<usize> = chunks.iter().map(Vec::len).collect();
    mask.indexed_iter()
        .filter(|(_, selected)| **selected)
        .map(|(index, _)| {
            let (mut block, mut local) = (0, 0);
            for (axis, &i) in index.slice().iter().enumerate() {
                let (k, l) = locate[axis][i];
                (block, local) = (block * grid[axis] + k, local * chunks[axis][k] + l);
            }
            (block, local)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_join_evenly_spaced_indices_of_one_block() {
        let (sources, runs) = runs_of(&[(2, 0), (2, 1), (2, 2), (0, 5), (0, 3), (0, 1), (0, 1), (2, 4)]);
        assert_eq!(sources, vec![2, 0]);
        assert_eq!(
            runs,
            vec![
                Run { arg: 0, span: Span::range(0, 3) },
                Run { arg: 1, span: Span { start: 1, end: 6, step: -2 } },
                Run { arg: 1, span: Span::range(1, 2) },
                Run { arg: 0, span: Span::range(4, 5) },
            ]
        );
        assert_eq!(runs_of(&[]), (vec![0], vec![]));
    }

    #[test]
    fn output_blocks_read_only_the_input_blocks_they_touch() {
        let x = crate::array::from_ndarray(&ndarray::Array1::from_iter(0..6i64), [2]).unwrap();
        let t = x.take(&[0, 1, 5, 4, 1, 3], 0).unwrap();
        let reads: Vec<usize> = t.raw.layer.tasks().iter().map(|task| task.args.len()).collect();
        assert_eq!(reads, vec![1, 1, 2]);
    }

    #[test]
    fn gather_reads_any_layout_and_refuses_bad_arguments_without_panicking() {
        let block = |a: ArrayD<i32>| Value::Array(i32::wrap(Arc::new(a)));
        let fortran = block(ndarray::array![[1, 2, 3], [4, 5, 6]].reversed_axes().into_dyn());
        let run = |arg, start, end, step| Run { arg, span: Span { start, end, step } };
        let along = |axis, runs| Gather { axis, flatten: false, runs };
        let out = along(1, vec![run(0, 0, 2, -1)]).call(rask_graph::args![fortran.clone()]).unwrap();
        assert_eq!(out, block(ndarray::array![[4, 1], [5, 2], [6, 3]].into_dyn()));
        let flat = Gather { axis: 0, flatten: true, runs: vec![run(0, 1, 6, 2)] };
        assert_eq!(flat.call(rask_graph::args![fortran.clone()]).unwrap(), block(ndarray::array![4, 5, 6].into_dyn()));
        let other = Value::Array(f64::wrap(Arc::new(ArrayD::zeros(IxDyn(&[3, 2])))));
        let narrow = block(ArrayD::zeros(IxDyn(&[3, 1])));
        let failures = [
            (along(0, vec![run(0, 0, 4, 1)]), rask_graph::args![fortran.clone()], "does not fit"),
            (along(0, vec![run(1, 0, 1, 1)]), rask_graph::args![fortran.clone()], "does not fit"),
            (along(0, vec![run(0, 0, 1, 0)]), rask_graph::args![fortran.clone()], "does not fit"),
            (along(2, vec![]), rask_graph::args![fortran.clone()], "no axis 2"),
            (along(0, vec![]), rask_graph::args![fortran.clone(), narrow], "shapes [3, 2] and [3, 1]"),
            (along(0, vec![]), rask_graph::args![fortran.clone(), other], "mixed dtypes"),
            (along(0, vec![]), rask_graph::args![Value::I64(1)], "not an array block"),
            (along(0, vec![]), rask_graph::args![], "at least one block"),
        ];
        for (op, args, message) in failures {
            let e = op.call(args).unwrap_err().to_string();
            assert!(e.contains(message), "{e}");
        }
    }

    #[test]
    fn masked_elements_are_located_in_their_blocks() {
        let mask = ndarray::array![[true, false, true], [false, true, true]].into_dyn();
        assert_eq!(masked(mask.view(), &[vec![1, 1], vec![2, 1]]), vec![(0, 0), (1, 0), (2, 1), (3, 0)]);
    }
}

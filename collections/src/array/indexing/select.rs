//! Reading an `s![..]` selection against a shape, axis by axis: numpy's clamping of
//! out-of-range slice bounds, ndarray's meaning of negative steps, and errors naming the
//! index, axis and shape; then which part of which block each selected stretch reads.

use ndarray::SliceInfoElem;

use super::super::chunks::offsets;
use super::super::rechunk::Span;
use crate::error::{Error, Result};

/// What a selection does to one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum AxisSel {
    /// `start..end` (clamped into the axis, `start <= end`) every `step`; a negative step
    /// walks the range from its end, as ndarray's `Slice` does.
    Range { start: usize, end: usize, step: isize },
    /// One index, within the axis.
    Index(usize),
    /// A new axis of length 1.
    New,
}

impl AxisSel {
    /// The indices of the axis it selects, as a span (`None` for a new axis).
    pub fn span(self) -> Option<Span> {
        match self {
            AxisSel::Range { start, end, step } => Some(Span { start, end, step }),
            AxisSel::Index(i) => Some(Span::range(i, i + 1)),
            AxisSel::New => None,
        }
    }

    /// Whether it keeps an axis of length `n` as it is.
    fn is_full(self, n: usize) -> bool {
        matches!(self, AxisSel::Range { start: 0, end, step: 1 } if end == n)
    }
}

/// What is being indexed, for error messages: the operation and what its shape is called
/// (`"shape"`, or `"block grid"` when selecting blocks).
#[derive(Clone, Copy)]
pub(super) struct Indexed<'a> {
    pub op: &'a str,
    pub shape_name: &'a str,
    pub shape: &'a [usize],
}

/// One [`AxisSel`] per entry of `info`, then a full range for each axis it leaves out; or
/// an error for an integer index outside its axis, a zero step, or more indices than
/// axes. Slice bounds outside the axis are clamped into it (numpy), negative ones count
/// from the end.
pub(super) fn normalize(info: &[SliceInfoElem], target: Indexed<'_>) -> Result<Vec<AxisSel>> {
    let shape = target.shape;
    let used = info.iter().filter(|e| !matches!(e, SliceInfoElem::NewAxis)).count();
    if used > shape.len() {
        return Err(Error::Shape(format!(
            "{}: {used} indices for {} axes ({} {shape:?})",
            target.op,
            shape.len(),
            target.shape_name
        )));
    }
    let mut sels = Vec::with_capacity(info.len() + shape.len() - used);
    let mut axis = 0;
    for &elem in info {
        let sel = match elem {
            SliceInfoElem::NewAxis => AxisSel::New,
            SliceInfoElem::Index(i) => AxisSel::Index(checked_index(i, axis, target)?),
            SliceInfoElem::Slice { step: 0, .. } => {
                return Err(Error::Shape(format!("{}: slice step cannot be zero (axis {axis})", target.op)));
            }
            SliceInfoElem::Slice { start, end, step } => {
                let n = shape[axis];
                let start = clamp(start, n);
                AxisSel::Range { start, end: end.map_or(n, |e| clamp(e, n)).max(start), step }
            }
        };
        axis += usize::from(sel != AxisSel::New);
        sels.push(sel);
    }
    sels.extend(shape[axis..].iter().map(|&n| AxisSel::Range { start: 0, end: n, step: 1 }));
    Ok(sels)
}

/// Whether `sels` (from [`normalize`]) leave an array of `shape` as it is.
pub(super) fn is_identity(sels: &[AxisSel], shape: &[usize]) -> bool {
    sels.len() == shape.len() && sels.iter().zip(shape).all(|(s, &n)| s.is_full(n))
}

/// A slice bound clamped into an axis of length `n`; negative bounds count from the end.
fn clamp(bound: isize, n: usize) -> usize {
    if bound < 0 { n.saturating_sub(bound.unsigned_abs()) } else { bound.unsigned_abs().min(n) }
}

/// The index `i` of `axis` (negative counts from the end), or an error naming it.
pub(super) fn checked_index(i: isize, axis: usize, target: Indexed<'_>) -> Result<usize> {
    let n = target.shape[axis];
    let resolved = if i < 0 { n.checked_sub(i.unsigned_abs()) } else { Some(i.unsigned_abs()) };
    resolved.filter(|&r| r < n).ok_or_else(|| {
        Error::Shape(format!(
            "{}: index {i} is out of bounds for axis {axis} with size {n} ({} {:?})",
            target.op, target.shape_name, target.shape
        ))
    })
}

/// The indices `span` selects, in selection order.
pub(super) fn positions(span: Span) -> impl Iterator<Item = usize> {
    let first = if span.step > 0 { span.start as isize } else { span.end as isize - 1 };
    (0..span.len() as isize).map(move |k| (first + k * span.step) as usize)
}

/// The stretches of the blocks of one axis (cut into `chunks`) that `span` selects, in
/// selection order: `(block, span within the block)`, blocks selecting nothing left out.
/// An empty selection is an empty stretch of block 0 ([`or_empty_block`]).
pub(super) fn block_parts(span: Span, chunks: &[usize]) -> Vec<(u32, Span)> {
    let offsets = offsets(chunks);
    let mut blocks: Vec<usize> = (0..chunks.len()).collect();
    if span.step < 0 {
        blocks.reverse();
    }
    let parts: Vec<(u32, Span)> = blocks
        .into_iter()
        .filter_map(|k| within(span, offsets[k], offsets[k + 1]).map(|local| (k as u32, local)))
        .collect();
    or_empty_block(parts)
}

/// `parts`, or an empty stretch of block 0 if there are none: an empty selection still
/// has one (empty) block, as every axis of an array does.
pub(super) fn or_empty_block(parts: Vec<(u32, Span)>) -> Vec<(u32, Span)> {
    if parts.is_empty() { vec![(0, Span::range(0, 0))] } else { parts }
}

/// The part of `span` inside the block `lo..hi`, relative to the block, if any.
fn within(span: Span, lo: usize, hi: usize) -> Option<Span> {
    let (lo, hi, block_start) = (span.start.max(lo), span.end.min(hi), lo);
    if lo >= hi {
        return None;
    }
    let step = span.step.unsigned_abs();
    // The selected indices nearest to each end of lo..hi: `first` in selection order.
    let (first, last) = if span.step > 0 {
        let first = span.start + (lo - span.start).div_ceil(step) * step;
        (first, first + hi.saturating_sub(1 + first) / step * step)
    } else {
        let top = span.end - 1;
        let first = top.checked_sub((top - (hi - 1)).div_ceil(step) * step)?;
        (first, first.saturating_sub(first.saturating_sub(lo) / step * step))
    };
    let (low, high) = (first.min(last), first.max(last));
    (lo <= low && high < hi).then(|| Span { start: low - block_start, end: high + 1 - block_start, step: span.step })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(info: &[SliceInfoElem], shape: &[usize]) -> Result<Vec<AxisSel>> {
        normalize(info, Indexed { op: "slice", shape_name: "shape", shape })
    }

    #[test]
    #[allow(clippy::reversed_empty_ranges)] // a start after the end is what is tested
    fn bounds_clamp_and_count_from_the_end() {
        let s = sel(ndarray::s![-2.., 1..100;-1, -9..3].as_ref(), &[5, 4, 6]).unwrap();
        assert_eq!(
            s,
            vec![
                AxisSel::Range { start: 3, end: 5, step: 1 },
                AxisSel::Range { start: 1, end: 4, step: -1 },
                AxisSel::Range { start: 0, end: 3, step: 1 }
            ]
        );
        assert_eq!(sel(ndarray::s![4..2].as_ref(), &[5]).unwrap(), vec![AxisSel::Range { start: 4, end: 4, step: 1 }]);
        assert_eq!(
            sel(ndarray::s![-1, ndarray::NewAxis].as_ref(), &[5, 2]).unwrap()[..2],
            [AxisSel::Index(4), AxisSel::New]
        );
    }

    #[test]
    fn spans_split_at_block_boundaries_in_selection_order() {
        let reversed = Span { start: 1, end: 8, step: -3 };
        assert_eq!(positions(reversed).collect::<Vec<_>>(), vec![7, 4, 1]);
        assert_eq!(
            block_parts(reversed, &[3, 3, 3]),
            vec![
                (2, Span { start: 1, end: 2, step: -3 }),
                (1, Span { start: 1, end: 2, step: -3 }),
                (0, Span { start: 1, end: 2, step: -3 })
            ]
        );
        assert_eq!(
            block_parts(Span { start: 0, end: 9, step: 4 }, &[2, 5, 2]),
            vec![
                (0, Span { start: 0, end: 1, step: 4 }),
                (1, Span { start: 2, end: 3, step: 4 }),
                (2, Span { start: 1, end: 2, step: 4 })
            ]
        );
        assert_eq!(block_parts(Span { start: 2, end: 2, step: 1 }, &[2, 2]), vec![(0, Span::range(0, 0))]);
        assert_eq!(
            block_parts(Span { start: 0, end: 6, step: -2 }, &[3, 3]),
            vec![(1, Span { start: 0, end: 3, step: -2 }), (0, Span { start: 1, end: 2, step: -2 })]
        );
    }
}

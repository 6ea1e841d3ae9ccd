//! Dask's `reshape_rechunk`: how to cut a reshape's input and output into blocks so that
//! each output block is the C-order reshape of exactly one input block.

use std::iter;

/// One block holding each whole axis.
pub(super) fn whole(shape: &[usize]) -> Vec<Vec<usize>> {
    shape.iter().map(|&n| vec![n]).collect()
}

/// Dask's `reshape_rechunk` for a non-empty array: the chunks to cut the input into and
/// the output's chunks, such that the blocks of the two grids correspond one to one in C
/// order, each output block the reshape of its input block.
///
/// Walking both shapes from the last axis, equal lengths keep their chunks, length-1
/// axes are one block, and otherwise the fewest axes whose lengths multiply alike form a
/// group cut by [`group_chunks`].
pub(super) fn reshape_chunks(
    inshape: &[usize],
    outshape: &[usize],
    inchunks: &[Vec<usize>],
) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let mut in_chunks = inchunks.to_vec();
    let mut out_chunks = whole(outshape);
    let (mut ii, mut oi) = (inshape.len(), outshape.len());
    while ii > 0 || oi > 0 {
        let (din, dout) = (ii.checked_sub(1).map(|i| inshape[i]), oi.checked_sub(1).map(|o| outshape[o]));
        match (din, dout) {
            (Some(a), Some(b)) if a == b => {
                out_chunks[oi - 1] = inchunks[ii - 1].clone();
                (ii, oi) = (ii - 1, oi - 1);
            }
            (Some(1), _) => ii -= 1,
            (_, Some(1)) => oi -= 1,
            (Some(_), Some(_)) => {
                let (il, ol) = matching_group(&inshape[..ii], &outshape[..oi]);
                let (group_in, group_out) = group_chunks(&inshape[il..ii], &inchunks[il..ii], &outshape[ol..oi]);
                in_chunks.splice(il..ii, group_in);
                out_chunks.splice(ol..oi, group_out);
                (ii, oi) = (il, ol);
            }
            // Unreachable for equal sizes: the rest of both shapes multiply alike.
            _ => {
                in_chunks.splice(..ii, whole(&inshape[..ii]));
                break;
            }
        }
    }
    (in_chunks, out_chunks)
}

/// Where the fewest trailing axes of `inshape` and `outshape` whose lengths multiply
/// alike begin (the whole shapes when nothing shorter matches).
fn matching_group(inshape: &[usize], outshape: &[usize]) -> (usize, usize) {
    let (mut i, mut o) = (inshape.len() - 1, outshape.len() - 1);
    let (mut pin, mut pout) = (inshape[i], outshape[o]);
    while pin != pout {
        if pin < pout && i > 0 {
            i -= 1;
            pin *= inshape[i];
        } else if pout < pin && o > 0 {
            o -= 1;
            pout *= outshape[o];
        } else {
            return (0, 0);
        }
    }
    (i, o)
}

/// The input and output chunks of one group of axes (input lengths multiplying to the
/// output lengths). The input's own chunks serve when its blocks are runs of the C-order
/// flattening that fit an output grid; otherwise Dask's cut ([`dask_cut`]); failing both
/// (never), one block.
fn group_chunks(inshape: &[usize], inchunks: &[Vec<usize>], outshape: &[usize]) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    iter::once(inchunks.to_vec())
        .chain(iter::once_with(|| dask_cut(inshape, inchunks, outshape)))
        .find_map(|cut| {
            let out = runs_to_chunks(&contiguous_runs(inshape, &cut)?, outshape)?;
            Some((cut, out))
        })
        .unwrap_or_else(|| (whole(inshape), whole(outshape)))
}

/// Dask's input chunks for a group: the inner axes whole; the first axis's blocks split
/// by as many blocks as that merged away (so blocks do not grow), then joined to
/// multiples of the rows of the output's inner axes.
fn dask_cut(inshape: &[usize], inchunks: &[Vec<usize>], outshape: &[usize]) -> Vec<Vec<usize>> {
    let inner_in: usize = inshape[1..].iter().product();
    let inner_out: usize = outshape[1..].iter().product();
    let unit = inner_out / gcd(inner_in, inner_out);
    let merged_away: usize = inchunks[1..].iter().map(Vec::len).product();
    let first = contract(&expand(&inchunks[0], merged_away), unit);
    iter::once(first).chain(whole(&inshape[1..])).collect()
}

/// The sizes of the blocks of a grid as runs of the C-order flattening of `shape`, in
/// block order, if each block is such a run: the axes before some axis cut into length
/// 1, those after it whole.
fn contiguous_runs(shape: &[usize], chunks: &[Vec<usize>]) -> Option<Vec<usize>> {
    let pivot = chunks.iter().position(|c| c.iter().any(|&n| n != 1)).unwrap_or(shape.len() - 1);
    if chunks[pivot + 1..].iter().any(|c| c.len() != 1) {
        return None;
    }
    let inner: usize = shape[pivot + 1..].iter().product();
    let row: Vec<usize> = chunks[pivot].iter().map(|&c| c * inner).collect();
    Some(row.repeat(shape[..pivot].iter().product()))
}

/// The chunks of `shape` whose blocks are the C-order `runs`, if some grid has them: the
/// axes before some axis cut into length 1 and those after it whole (the first such
/// axis, for the largest blocks).
fn runs_to_chunks(runs: &[usize], shape: &[usize]) -> Option<Vec<Vec<usize>>> {
    (0..shape.len()).find_map(|pivot| {
        let inner: usize = shape[pivot + 1..].iter().product();
        let outer: usize = shape[..pivot].iter().product();
        if !runs.len().is_multiple_of(outer) {
            return None;
        }
        let row = &runs[..runs.len() / outer];
        if row.iter().any(|r| !r.is_multiple_of(inner)) || runs.chunks(row.len()).any(|r| r != row) {
            return None;
        }
        let before = shape[..pivot].iter().map(|&n| vec![1; n]);
        let at = iter::once(row.iter().map(|r| r / inner).collect());
        Some(before.chain(at).chain(whole(&shape[pivot + 1..])).collect())
    })
}

/// Dask's `expand_tuple`: each block split into about `factor` parts.
fn expand(chunks: &[usize], factor: usize) -> Vec<usize> {
    if factor <= 1 {
        return chunks.to_vec();
    }
    let mut out = Vec::with_capacity(chunks.len() * factor);
    for &c in chunks {
        // Parts of `c / factor` (at least 1) while two fit, then the rest.
        let part = (c / factor).max(1);
        let fits_two = |x: usize| if c >= factor { x as u128 * factor as u128 >= 2 * c as u128 } else { x >= 2 };
        let mut left = c;
        while fits_two(left) {
            out.push(part);
            left -= part;
        }
        if left > 0 {
            out.push(left);
        }
    }
    out
}

/// Dask's `contract_tuple`: block boundaries moved down to multiples of `unit`, empty
/// blocks dropped (the total must be a multiple of `unit`).
fn contract(chunks: &[usize], unit: usize) -> Vec<usize> {
    let (mut end, mut done) = (0, 0);
    let mut out = Vec::with_capacity(chunks.len());
    for &c in chunks {
        end += c;
        let edge = end / unit * unit;
        if edge > done {
            out.push(edge - done);
            done = edge;
        }
    }
    out
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(inshape: &[usize], outshape: &[usize], inchunks: &[&[usize]]) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
        let inchunks: Vec<Vec<usize>> = inchunks.iter().map(|c| c.to_vec()).collect();
        reshape_chunks(inshape, outshape, &inchunks)
    }

    #[test]
    fn merged_axes_keep_the_outer_chunks_when_the_inner_axes_are_whole() {
        assert_eq!(plan(&[6, 4], &[24], &[&[2, 2, 2], &[4]]), (vec![vec![2, 2, 2], vec![4]], vec![vec![8, 8, 8]]));
        // Blocks of single rows are runs already: moved, not rechunked (Dask's special case).
        let (input, output) = plan(&[4, 4, 4], &[64], &[&[1; 4], &[1; 4], &[4]]);
        assert_eq!((input[2].clone(), output), (vec![4], vec![vec![4; 16]]));
    }

    #[test]
    fn split_inner_axes_are_made_whole_and_the_outer_axis_cut_finer() {
        assert_eq!(plan(&[6, 4], &[24], &[&[2, 2, 2], &[2, 2]]), (vec![vec![1; 6], vec![4]], vec![vec![4; 6]]));
        assert_eq!(plan(&[4, 6], &[24], &[&[4], &[3, 3]]), (vec![vec![2, 2], vec![6]], vec![vec![12, 12]]));
    }

    #[test]
    fn split_axes_cut_the_outer_output_axis_and_keep_the_inner_whole() {
        assert_eq!(plan(&[24], &[6, 4], &[&[8, 8, 8]]), (vec![vec![8, 8, 8]], vec![vec![2, 2, 2], vec![4]]));
        assert_eq!(
            plan(&[24], &[6, 4], &[&[5, 5, 5, 5, 4]]),
            (vec![vec![4, 4, 4, 8, 4]], vec![vec![1, 1, 1, 2, 1], vec![4]])
        );
        // Runs that fit a finer output grid need no rechunk.
        assert_eq!(plan(&[16], &[4, 4], &[&[2; 8]]), (vec![vec![2; 8]], vec![vec![1; 4], vec![2, 2]]));
    }

    #[test]
    fn groups_that_are_neither_merge_nor_split_and_length_one_axes() {
        assert_eq!(plan(&[4, 6], &[6, 4], &[&[1; 4], &[6]]), (vec![vec![2, 2], vec![6]], vec![vec![3, 3], vec![4]]));
        assert_eq!(
            plan(&[2, 1, 3], &[1, 6, 1], &[&[1, 1], &[1], &[3]]),
            (vec![vec![1, 1], vec![1], vec![3]], vec![vec![1], vec![3, 3], vec![1]])
        );
        assert_eq!(plan(&[3], &[1, 3, 1], &[&[2, 1]]), (vec![vec![2, 1]], vec![vec![1], vec![2, 1], vec![1]]));
    }

    #[test]
    fn dask_tuple_helpers() {
        assert_eq!(expand(&[2, 4], 2), vec![1, 1, 2, 2]);
        assert_eq!(expand(&[2, 4], 3), vec![1, 1, 1, 1, 2]);
        assert_eq!(expand(&[3, 4], 2), vec![1, 2, 2, 2]);
        assert_eq!(expand(&[7, 4], 3), vec![2, 2, 3, 1, 1, 2]);
        assert_eq!(contract(&[2, 2, 8, 4], 4), vec![4, 8, 4]);
    }
}

//! Chunk sizes: how an array is cut into blocks along each axis (Dask's `chunks`).

use crate::error::{Error, Result};

/// How to cut an array into blocks, per axis.
///
/// ```
/// use rask_collections::array::ChunkSpec;
/// let spec = ChunkSpec::uniform(&[1000, 1000]);
/// assert_eq!(spec.resolve(&[2500, 1000]).unwrap(), vec![vec![1000, 1000, 500], vec![1000]]);
/// let explicit = ChunkSpec::explicit(vec![vec![1, 2], vec![3]]);
/// assert!(explicit.resolve(&[4, 3]).unwrap_err().to_string().contains("sum to 3"));
/// // Dask's -1: keep an axis whole.
/// let rows = ChunkSpec::uniform(&[2, ChunkSpec::WHOLE_AXIS]);
/// assert_eq!(rows.resolve(&[5, 7]).unwrap(), vec![vec![2, 2, 1], vec![7]]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkSpec {
    /// Blocks of at most this size along each axis; the last block of an axis may be
    /// smaller. [`ChunkSpec::WHOLE_AXIS`] (`usize::MAX`) keeps an axis in one block.
    Uniform(Vec<usize>),
    /// The size of every block along each axis.
    Explicit(Vec<Vec<usize>>),
    /// One block holding the whole array.
    Whole,
}

impl ChunkSpec {
    /// A [`ChunkSpec::Uniform`] size meaning "the whole axis in one block" (Dask's -1).
    pub const WHOLE_AXIS: usize = usize::MAX;

    /// Blocks of at most `sizes[axis]` elements along each axis.
    pub fn uniform(sizes: &[usize]) -> Self {
        ChunkSpec::Uniform(sizes.to_vec())
    }

    /// The given block sizes along each axis.
    pub fn explicit(sizes: Vec<Vec<usize>>) -> Self {
        ChunkSpec::Explicit(sizes)
    }

    /// The block sizes along each axis of an array of `shape`, or an error naming the shape
    /// and the chunks that do not fit it, or that would make more than [`MAX_BLOCKS`]
    /// blocks.
    ///
    /// ```
    /// use rask_collections::array::ChunkSpec;
    /// assert_eq!(ChunkSpec::uniform(&[4]).resolve(&[10]).unwrap(), vec![vec![4, 4, 2]]);
    /// let e = ChunkSpec::uniform(&[10, 2]).resolve(&[usize::MAX, 2]).unwrap_err().to_string();
    /// assert!(e.contains("blocks"), "{e}");
    /// ```
    pub fn resolve(&self, shape: &[usize]) -> Result<Vec<Vec<usize>>> {
        self.check_block_count(shape)?;
        match self {
            ChunkSpec::Whole => Ok(shape.iter().map(|&n| vec![n]).collect()),
            ChunkSpec::Uniform(sizes) => {
                check_ndim(sizes.len(), shape, || format!("{sizes:?}"))?;
                shape
                    .iter()
                    .zip(sizes)
                    .enumerate()
                    .map(|(axis, (&n, &size))| match (n, size) {
                        (0, _) => Ok(vec![0]),
                        (_, 0) => Err(Error::Shape(format!(
                            "chunk size 0 on axis {axis} of an array of shape {shape:?}; chunk sizes must be at least 1"
                        ))),
                        _ => Ok((0..n).step_by(size).map(|start| size.min(n - start)).collect()),
                    })
                    .collect()
            }
            ChunkSpec::Explicit(chunks) => {
                check_ndim(chunks.len(), shape, || format!("{chunks:?}"))?;
                for (axis, (&n, sizes)) in shape.iter().zip(chunks).enumerate() {
                    let total = sizes.iter().try_fold(0usize, |t, &s| t.checked_add(s));
                    if total != Some(n) {
                        let total = total.map_or("more than 2^64".to_string(), |t| t.to_string());
                        return Err(Error::Shape(format!(
                            "chunks {sizes:?} on axis {axis} sum to {total}, but the array of shape {shape:?} has {n} there"
                        )));
                    }
                    if sizes.is_empty() || (n > 0 && sizes.contains(&0)) {
                        return Err(Error::Shape(format!(
                            "chunks {sizes:?} on axis {axis} of shape {shape:?}: every block of a non-empty axis needs at least one element"
                        )));
                    }
                }
                Ok(chunks.clone())
            }
        }
    }

    /// An error if the chunks would cut an array of `shape` into more than [`MAX_BLOCKS`]
    /// blocks (counted without building them).
    fn check_block_count(&self, shape: &[usize]) -> Result<()> {
        let counts: Vec<usize> = match self {
            ChunkSpec::Whole => return Ok(()),
            ChunkSpec::Uniform(sizes) => {
                shape.iter().zip(sizes).map(|(&n, &size)| if size == 0 { 1 } else { n.div_ceil(size).max(1) }).collect()
            }
            ChunkSpec::Explicit(chunks) => chunks.iter().map(|c| c.len().max(1)).collect(),
        };
        match counts.iter().try_fold(1usize, |total, &c| total.checked_mul(c)) {
            Some(blocks) if blocks <= MAX_BLOCKS => {
                check_graph_fits(blocks, rask_graph::memory::available(), shape, || self.describe())
            }
            blocks => Err(Error::Shape(format!(
                "chunks {} would cut an array of shape {shape:?} into {} blocks, more than the {MAX_BLOCKS} \
                 one array may have; use larger chunks",
                self.describe(),
                blocks.map_or("more than 2^64".to_string(), |b| b.to_string()),
            ))),
        }
    }

    fn describe(&self) -> String {
        match self {
            ChunkSpec::Whole => "whole".to_string(),
            ChunkSpec::Uniform(sizes) => format!("{sizes:?}"),
            ChunkSpec::Explicit(chunks) if chunks.iter().map(Vec::len).sum::<usize>() <= 16 => format!("{chunks:?}"),
            ChunkSpec::Explicit(chunks) => {
                format!("of {:?} blocks per axis", chunks.iter().map(Vec::len).collect::<Vec<_>>())
            }
        }
    }
}

/// The most blocks one array may have: a graph of that many tasks already takes gigabytes.
pub const MAX_BLOCKS: usize = 100_000_000;

/// What one block's task takes while an array's graph is built (its key, op handle,
/// arguments and index), measured at about 216 bytes; used to refuse a graph that could
/// not fit in memory before building it.
pub const GRAPH_BYTES_PER_BLOCK: u64 = 216;

/// An error if the task graph of `blocks` blocks would take more memory than is
/// `available` (now), rather than aborting on the allocation.
fn check_graph_fits(blocks: usize, available: Option<u64>, shape: &[usize], chunks: impl Fn() -> String) -> Result<()> {
    let needed = blocks as u64 * GRAPH_BYTES_PER_BLOCK;
    match available {
        Some(available) if needed > available => Err(Error::Shape(format!(
            "chunks {} would cut an array of shape {shape:?} into {blocks} blocks, whose task graph would take \
             about {}, more than the {} of memory available; use larger chunks",
            chunks(),
            rask_graph::memory::human(needed),
            rask_graph::memory::human(available),
        ))),
        _ => Ok(()),
    }
}

fn check_ndim(given: usize, shape: &[usize], what: impl Fn() -> String) -> Result<()> {
    if given == shape.len() {
        return Ok(());
    }
    Err(Error::Shape(format!(
        "chunks {} have {given} axes, but the array of shape {shape:?} has {}",
        what(),
        shape.len()
    )))
}

impl From<&[usize]> for ChunkSpec {
    fn from(sizes: &[usize]) -> Self {
        ChunkSpec::uniform(sizes)
    }
}

impl<const N: usize> From<[usize; N]> for ChunkSpec {
    fn from(sizes: [usize; N]) -> Self {
        ChunkSpec::uniform(&sizes)
    }
}

impl From<Vec<Vec<usize>>> for ChunkSpec {
    fn from(sizes: Vec<Vec<usize>>) -> Self {
        ChunkSpec::explicit(sizes)
    }
}

/// The start offset of every block along one axis, plus the total at the end.
pub(crate) fn offsets(sizes: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(sizes.len() + 1);
    out.push(0);
    for s in sizes {
        out.push(out.last().copied().unwrap_or(0) + s);
    }
    out
}

/// Every block index of a grid with `counts` blocks per axis, in C order.
pub(crate) fn block_indices(counts: &[usize]) -> Vec<Vec<u32>> {
    let total: usize = counts.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut index = vec![0u32; counts.len()];
    for _ in 0..total {
        out.push(index.clone());
        for axis in (0..counts.len()).rev() {
            index[axis] += 1;
            if (index[axis] as usize) < counts[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_chunks_cover_the_shape_with_a_short_last_block() {
        assert_eq!(ChunkSpec::uniform(&[3]).resolve(&[7]).unwrap(), vec![vec![3, 3, 1]]);
        assert_eq!(ChunkSpec::uniform(&[10]).resolve(&[7]).unwrap(), vec![vec![7]]);
        assert_eq!(ChunkSpec::uniform(&[4, 2]).resolve(&[0, 3]).unwrap(), vec![vec![0], vec![2, 1]]);
        assert_eq!(ChunkSpec::uniform(&[]).resolve(&[]).unwrap(), Vec::<Vec<usize>>::new());
    }

    #[test]
    fn bad_chunks_are_errors_naming_the_shape() {
        let e = ChunkSpec::uniform(&[0]).resolve(&[5]).unwrap_err().to_string();
        assert!(e.contains("[5]") && e.contains("axis 0"), "{e}");
        let e = ChunkSpec::uniform(&[2, 2]).resolve(&[5]).unwrap_err().to_string();
        assert!(e.contains("2 axes") && e.contains("[5]"), "{e}");
        let e = ChunkSpec::explicit(vec![vec![2, 0, 3]]).resolve(&[5]).unwrap_err().to_string();
        assert!(e.contains("at least one element"), "{e}");
        assert_eq!(ChunkSpec::explicit(vec![vec![2, 3]]).resolve(&[5]).unwrap(), vec![vec![2, 3]]);
    }

    #[test]
    fn block_indices_are_in_c_order() {
        assert_eq!(block_indices(&[2, 2]), vec![vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]]);
        assert_eq!(block_indices(&[]), vec![Vec::<u32>::new()]);
        assert_eq!(offsets(&[3, 3, 1]), vec![0, 3, 6, 7]);
    }

    #[test]
    fn a_graph_larger_than_the_available_memory_is_refused_before_it_is_built() {
        let describe = || "[1, 1]".to_string();
        let e = check_graph_fits(100_000_000, Some(20_000_000_000), &[10_000, 10_000], describe).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("100000000 blocks") && text.contains("21.6 GB") && text.contains("20.0 GB"), "{text}");
        assert!(check_graph_fits(1_000_000, Some(20_000_000_000), &[1000, 1000], describe).is_ok());
        assert!(check_graph_fits(100_000_000, None, &[10_000, 10_000], describe).is_ok(), "unknown memory: no guess");
    }
}

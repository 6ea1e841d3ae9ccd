//! Computed blocks checked against what their array promises: the element type, the
//! block lengths along known axes, and along unknown axes lengths that agree across each
//! row of blocks. The lengths measured are the array's chunks, by which
//! [`Measured::assemble`] lays the blocks out.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Slice};
use rask_graph::{Element, Value};

use crate::array::chunks::{block_indices, offsets};
use crate::array::raw::RawArray;
use crate::error::{Error, Result};

/// The blocks of an array, in C order of the block grid, and the chunks they form.
pub(crate) struct Measured<T> {
    /// The blocks.
    pub blocks: Vec<Arc<ArrayD<T>>>,
    /// The block lengths along each axis.
    pub chunks: Vec<Vec<usize>>,
}

/// The blocks of `raw` (one value per block, in C order), checked, with their chunks.
pub(crate) fn measure<T: Element>(raw: &RawArray, values: &mut dyn Iterator<Item = Value>) -> Result<Measured<T>> {
    let mut blocks = Vec::new();
    let chunks = measure_shapes(raw, &mut |_, key| {
        let value = values.next().ok_or_else(|| Error::Shape(format!("block {key} has no computed value")))?;
        let block = typed_block::<T>(key, value)?;
        let shape = block.shape().to_vec();
        blocks.push(block);
        Ok(shape)
    })?;
    Ok(Measured { blocks, chunks })
}

/// The chunks of `raw`, from the shape of each block (`shape_of(block number, key)`,
/// asked in C order), checked against the lengths the array promises.
pub(crate) fn measure_shapes(
    raw: &RawArray,
    shape_of: &mut dyn FnMut(usize, &rask_graph::Key) -> Result<Vec<usize>>,
) -> Result<Vec<Vec<usize>>> {
    let mut lengths: Vec<Vec<Option<usize>>> = raw
        .known_chunks()
        .into_iter()
        .zip(raw.numblocks())
        .map(|(known, n)| known.map_or_else(|| vec![None; n], |sizes| sizes.iter().copied().map(Some).collect()))
        .collect();
    for (b, index) in block_indices(&raw.numblocks()).iter().enumerate() {
        let key = raw.key(index);
        let shape = shape_of(b, &key)?;
        let expected: Vec<Option<usize>> = index.iter().enumerate().map(|(a, &i)| lengths[a][i as usize]).collect();
        let fits = shape.len() == expected.len()
            && shape.iter().zip(&expected).all(|(&n, promised)| promised.is_none_or(|p| p == n));
        if !fits {
            return Err(Error::Shape(format!(
                "block {key} has shape {shape:?}, the array's chunks promise {}",
                super::tuple(expected)
            )));
        }
        for (a, &n) in shape.iter().enumerate() {
            lengths[a][index[a] as usize] = Some(n);
        }
    }
    // Every entry is set: each block index along each axis has a block.
    Ok(lengths.into_iter().map(|along| along.into_iter().map(|n| n.unwrap_or(0)).collect()).collect())
}

/// A computed value as a block of `T`, or an error naming the block's key.
pub(crate) fn typed_block<T: Element>(key: &rask_graph::Key, value: Value) -> Result<Arc<ArrayD<T>>> {
    let chunk = match value {
        Value::Array(chunk) => chunk,
        other => {
            return Err(Error::Shape(format!("block {key} produced a {}, not an array block", other.type_name())));
        }
    };
    T::unwrap(&chunk).cloned().ok_or_else(|| {
        Error::Shape(format!("block {key} has dtype {}, the array promises {}", chunk.dtype(), T::DTYPE))
    })
}

impl<T: Element> Measured<T> {
    /// The length of each axis.
    pub fn shape(&self) -> Vec<usize> {
        self.chunks.iter().map(|c| c.iter().sum()).collect()
    }

    /// The blocks laid out as one array (a lone block, uncopied when no one else holds it).
    pub fn assemble(mut self) -> ArrayD<T> {
        let shape = self.shape();
        if self.blocks.len() == 1
            && let Some(block) = self.blocks.pop()
        {
            return Arc::try_unwrap(block).unwrap_or_else(|shared| (*shared).clone());
        }
        let starts: Vec<Vec<usize>> = self.chunks.iter().map(|c| offsets(c)).collect();
        let mut out = ArrayD::default(IxDyn(&shape));
        for (index, block) in
            block_indices(&self.chunks.iter().map(Vec::len).collect::<Vec<_>>()).iter().zip(self.blocks)
        {
            out.slice_each_axis_mut(|axis| {
                let (a, i) = (axis.axis.index(), index[axis.axis.index()] as usize);
                Slice::from(starts[a][i]..starts[a][i + 1])
            })
            .assign(&*block);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_graph::{Group, Layer, Token};

    fn unknown_rows(numblocks: usize) -> RawArray {
        RawArray {
            shape: vec![0, 2],
            chunks: vec![vec![0; numblocks], vec![2]],
            unknown: vec![0],
            dtype: rask_graph::DType::F64,
            group: Group::new("test"),
            token: Token(1),
            layer: Layer::new(vec![], vec![]),
        }
    }

    fn block(rows: usize, cols: usize) -> Value {
        Value::Array(f64::wrap(Arc::new(ArrayD::from_elem(IxDyn(&[rows, cols]), rows as f64))))
    }

    #[test]
    fn unknown_lengths_are_measured_and_known_ones_checked() {
        let raw = unknown_rows(3);
        let measured = measure::<f64>(&raw, &mut [block(2, 2), block(0, 2), block(1, 2)].into_iter()).unwrap();
        assert_eq!(measured.chunks, vec![vec![2, 0, 1], vec![2]]);
        let whole = measured.assemble();
        assert_eq!(whole, ndarray::array![[2.0, 2.0], [2.0, 2.0], [1.0, 1.0]].into_dyn());
        let e = measure::<f64>(&raw, &mut [block(2, 2), block(1, 3)].into_iter()).err().unwrap().to_string();
        assert!(e.contains("shape [1, 3]") && e.contains("promise (nan, 2)"), "{e}");
        let e = measure::<f64>(&raw, &mut [block(2, 2)].into_iter()).err().unwrap().to_string();
        assert!(e.contains("no computed value"), "{e}");
        let e = measure::<i64>(&raw, &mut [block(2, 2)].into_iter()).err().unwrap().to_string();
        assert!(e.contains("dtype float64"), "{e}");
    }
}

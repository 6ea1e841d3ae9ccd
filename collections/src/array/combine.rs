//! Joining arrays with numpy's rules: [`concatenate`] along an existing axis and
//! [`stack`] along a new one.
//!
//! Output blocks are the input blocks: each is one task that passes its input block
//! through uncopied (`stack` gives it the new length-1 axis). Where the inputs' chunks
//! differ along an axis they share, they are first cut to the common refinement of their
//! chunks (Dask's `unify_chunks`), inside the same tasks.

use rask_graph::{Element, Token};

use super::Array;
use super::axes::{normalize_axis, shape_list};
use super::chunks::offsets;
use super::raw::{RawArray, layer_of_blocks};
use super::rechunk::{Recut, common_chunks};
use crate::error::{Error, Result};

/// The arrays joined along an existing `axis` (negative counts from the end), as
/// numpy's `concatenate`: their shapes must match on every other axis. The output's
/// chunks along `axis` are the inputs' chunks in order (inputs of length 0 there add no
/// blocks); along the other axes, the common refinement of the inputs' chunks.
///
/// An empty list, 0-d arrays, a bad axis or mismatched shapes are errors naming the
/// shapes.
///
/// ```
/// use rask_collections::array::{concatenate, from_ndarray};
/// let x = from_ndarray(&ndarray::array![[1, 2], [3, 4]], [1, 2]).unwrap();
/// let y = from_ndarray(&ndarray::array![[5, 6]], [1, 1]).unwrap();
/// let z = concatenate(&[&x, &y], 0).unwrap();
/// assert_eq!(z.chunks(), &[vec![1, 1, 1], vec![1, 1]]);
/// assert_eq!(z.compute().unwrap(), ndarray::array![[1, 2], [3, 4], [5, 6]].into_dyn());
/// let e = concatenate(&[&x, &y], 1).unwrap_err().to_string();
/// assert!(e.contains("[2, 2], [1, 2]"), "{e}");
/// ```
pub fn concatenate<T: Element>(arrays: &[&Array<T>], axis: isize) -> Result<Array<T>> {
    let inputs = raw_inputs("concatenate", arrays)?;
    let shapes: Vec<&[usize]> = inputs.iter().map(|r| r.shape.as_slice()).collect();
    let ndim = shapes[0].len();
    if ndim == 0 {
        return Err(Error::Shape(format!(
            "concatenate: zero-dimensional arrays cannot be concatenated (shapes {})",
            shape_list(&shapes)
        )));
    }
    let axis = normalize_axis("concatenate", axis, ndim, &shapes)?;
    let fits = |s: &&[usize]| s.len() == ndim && (0..ndim).all(|a| a == axis || s[a] == shapes[0][a]);
    if !shapes.iter().all(fits) {
        return Err(Error::Shape(format!(
            "concatenate along axis {axis}: the shapes {} must match except on axis {axis}",
            shape_list(&shapes)
        )));
    }
    // Inputs of length 0 along the axis add nothing (all of them may, then keep one).
    let mut kept: Vec<&RawArray> = inputs.iter().copied().filter(|r| r.shape[axis] > 0).collect();
    if kept.is_empty() {
        kept.push(inputs[0]);
    }
    let mut chunks = unified_chunks(&kept);
    let recuts: Vec<Recut> = kept
        .iter()
        .map(|r| {
            let mut own = chunks.clone();
            own[axis] = r.chunks[axis].clone();
            Recut::new(r, own)
        })
        .collect();
    chunks[axis] = kept.iter().flat_map(|r| r.chunks[axis].iter().copied()).collect();
    let mut shape = shapes[0].to_vec();
    shape[axis] = kept.iter().map(|r| r.shape[axis]).sum();
    let starts = offsets(&kept.iter().map(|r| r.chunks[axis].len()).collect::<Vec<_>>());
    let token = Token::of(&("concatenate", axis, tokens(&kept), &chunks));
    let raw = layer_of_blocks("concatenate", token, shape, chunks, T::DTYPE, layers(&kept), |index| {
        let input = starts.partition_point(|&s| s <= index[axis] as usize) - 1;
        let mut local = index.to_vec();
        local[axis] -= starts[input] as u32;
        recuts[input].block(&local, None)
    });
    Ok(Array::from_raw(raw))
}

/// The arrays, all of one shape, joined along a new `axis` of the result (negative
/// counts from the end: -1 appends), as numpy's `stack`. The new axis has one block per
/// input; the other axes take the common refinement of the inputs' chunks.
///
/// An empty list, a bad axis or differing shapes are errors naming the shapes.
///
/// ```
/// use rask_collections::array::{from_ndarray, stack};
/// let x = from_ndarray(&ndarray::array![1.0, 2.0, 3.0], [2]).unwrap();
/// let y = from_ndarray(&ndarray::array![4.0, 5.0, 6.0], [1]).unwrap();
/// let z = stack(&[&x, &y], -1).unwrap();
/// assert_eq!(z.chunks(), &[vec![1, 1, 1], vec![1, 1]]);
/// assert_eq!(z.compute().unwrap(), ndarray::array![[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]].into_dyn());
/// let short = from_ndarray(&ndarray::array![1.0, 2.0], [2]).unwrap();
/// assert!(stack(&[&x, &short], 0).unwrap_err().to_string().contains("[3], [2]"));
/// ```
pub fn stack<T: Element>(arrays: &[&Array<T>], axis: isize) -> Result<Array<T>> {
    let inputs = raw_inputs("stack", arrays)?;
    let shapes: Vec<&[usize]> = inputs.iter().map(|r| r.shape.as_slice()).collect();
    if shapes.iter().any(|s| *s != shapes[0]) {
        return Err(Error::Shape(format!("stack: all arrays must have the same shape, got {}", shape_list(&shapes))));
    }
    let axis = normalize_axis("stack", axis, shapes[0].len() + 1, &shapes)?;
    let common = unified_chunks(&inputs);
    let recuts: Vec<Recut> = inputs.iter().map(|r| Recut::new(r, common.clone())).collect();
    let (mut shape, mut chunks) = (shapes[0].to_vec(), common);
    shape.insert(axis, inputs.len());
    chunks.insert(axis, vec![1; inputs.len()]);
    let token = Token::of(&("stack", axis, tokens(&inputs), &chunks));
    let out_chunks = chunks.clone();
    let raw = layer_of_blocks("stack", token, shape, chunks, T::DTYPE, layers(&inputs), |index| {
        let mut local = index.to_vec();
        let input = local.remove(axis) as usize;
        let block_shape = index.iter().zip(&out_chunks).map(|(&i, c)| c[i as usize]).collect();
        recuts[input].block(&local, Some(block_shape))
    });
    Ok(Array::from_raw(raw))
}

/// The inputs' blocks (or the first error one carries); an error when there are none.
fn raw_inputs<'a, T: Element>(what: &str, arrays: &[&'a Array<T>]) -> Result<Vec<&'a RawArray>> {
    if arrays.is_empty() {
        return Err(Error::Shape(format!("{what} needs at least one array")));
    }
    arrays.iter().map(|a| a.raw()).collect()
}

/// Per axis, the inputs' chunks when they agree, else their common refinement. Along an
/// axis whose lengths differ (the concatenation axis) the result is unused.
fn unified_chunks(inputs: &[&RawArray]) -> Vec<Vec<usize>> {
    (0..inputs[0].shape.len())
        .map(|a| {
            let along: Vec<&[usize]> = inputs.iter().map(|r| r.chunks[a].as_slice()).collect();
            let agree = along.windows(2).all(|w| w[0] == w[1]);
            if agree || along.iter().any(|c| c.iter().sum::<usize>() != inputs[0].shape[a]) {
                along[0].to_vec()
            } else {
                common_chunks(&along)
            }
        })
        .collect()
}

fn tokens(inputs: &[&RawArray]) -> Vec<u64> {
    inputs.iter().map(|r| r.token.0).collect()
}

fn layers(inputs: &[&RawArray]) -> Vec<std::sync::Arc<rask_graph::Layer>> {
    inputs.iter().map(|r| r.layer.clone()).collect()
}

//! Lazy boolean masks: [`Array::extract`], numpy's `x[m]` (or `np.extract(m, x)`) for a
//! mask `m` that is itself a lazy array, so the result's length is known only once
//! computed (unknown chunk sizes, see [`super::super::unknown`]).
//!
//! As Dask does, both arrays are first cut alike and raveled (so each block is one
//! stretch of the C-order flattening), then every block keeps its elements where its
//! mask block is true ([`ExtractBlock`]): one task per block, and the result's blocks,
//! in order, are numpy's C-order selection.

use std::sync::Arc;

use ndarray::{Array1, ArrayD};
use rask_graph::{ArgSpec, Args, ArrayChunk, Element, Op, OpError, Token, Value, map_chunk};
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::array::blockwise::align;
use crate::array::raw::{RawArray, layer_of_blocks};
use crate::array::reduction::c_order;
use crate::array::unknown::{check_matched, unknown_sizes};
use crate::error::{Error, Result};

impl<T: Element> Array<T> {
    /// The elements where `condition` (a lazy boolean array of this array's shape) is
    /// true, as a 1-d array in C order: numpy's `x[m]` and `np.extract(m, x)`, Dask's
    /// `x[m]`. Its length is known only once computed: the result has unknown chunk
    /// sizes (Dask's `nan` chunks; see [`Array::known_shape`]), one block per block of
    /// the raveled inputs. Elementwise operations and reductions work on it; operations
    /// that need its chunk sizes ask for [`Array::compute_chunk_sizes`]. A concrete mask
    /// goes to [`Array::mask`] instead, which knows the length at once.
    ///
    /// A condition of another shape is an error naming both shapes. An input with unknown
    /// chunk sizes needs a condition of the same block structure (such as one computed
    /// from it), and must be 1-d.
    ///
    /// ```
    /// use rask_collections::array::from_ndarray;
    /// let a = ndarray::array![[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]];
    /// let x = from_ndarray(&a, [1, 2])?;
    /// let positive = x.extract(&x.greater(0.0)?)?;
    /// assert_eq!(positive.compute()?, ndarray::array![1.0, 3.0, 5.0].into_dyn());
    /// let mean: f64 = positive.mean(..)?.compute_scalar()?;
    /// assert_eq!(mean, 3.0);
    /// let big = positive.extract(&positive.greater(2.0)?)?;
    /// assert_eq!(big.compute()?, ndarray::array![3.0, 5.0].into_dyn());
    /// let e = x.extract(&from_ndarray(&ndarray::array![true, false], [1])?).unwrap_err().to_string();
    /// assert!(e.contains("[2]") && e.contains("[2, 3]"), "{e}");
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn extract(&self, condition: &Array<bool>) -> Result<Array<T>> {
        let (x, m) = (self.raw_allowing_unknown()?, condition.raw_allowing_unknown()?);
        let (x, m) = if x.has_unknown() || m.has_unknown() { matched_rows(x, m)? } else { raveled_alike::<T>(x, m)? };
        let token = Token::of(&("extract", x.token.0, m.token.0, &x.chunks));
        let op: Arc<dyn Op> = Arc::new(ExtractBlock);
        let blocks = x.chunks[0].len();
        let dependencies = vec![x.layer.clone(), m.layer.clone()];
        let mut out = layer_of_blocks("extract", token, vec![0], vec![vec![0; blocks]], T::DTYPE, dependencies, |i| {
            (op.clone(), vec![ArgSpec::Key(x.key(i)), ArgSpec::Key(m.key(i))])
        });
        out.unknown = vec![0];
        Ok(Array::from_raw(out))
    }
}

/// `x` (of `T`) and `m`, of one known shape, cut alike and raveled alike.
fn raveled_alike<T: Element>(x: &RawArray, m: &RawArray) -> Result<(RawArray, RawArray)> {
    if x.shape != m.shape {
        return Err(Error::Shape(format!(
            "extract: a boolean condition of shape {:?} does not fit an array of shape {:?}",
            m.shape, x.shape
        )));
    }
    let [x, m]: [RawArray; 2] = align("extract", &[x.clone(), m.clone()])?
        .inputs
        .try_into()
        .map_err(|_| Error::Shape("extract: aligning two arrays gave another number of arrays".to_string()))?;
    Ok((Array::<T>::from_raw(x).ravel()?.raw, Array::<bool>::from_raw(m).ravel()?.raw))
}

/// `x` and `m`, one of them with unknown chunk sizes: they must be 1-d and match block
/// by block.
fn matched_rows(x: &RawArray, m: &RawArray) -> Result<(RawArray, RawArray)> {
    check_matched("extract", &[x, m])?;
    match [x, m].into_iter().find(|r| r.shape.len() != 1) {
        Some(other) => Err(unknown_sizes("extract of an array with axes other than one (it ravels the array)", other)),
        None => Ok((x.clone(), m.clone())),
    }
}

/// Keeps the elements of its first argument (an array block) where its second (a `bool`
/// block of the same shape) is true, as a 1-d block in C order.
///
/// ```
/// use std::sync::Arc;
/// use rask_collections::array::ExtractBlock;
/// use rask_graph::{args, Element, Op, Value};
/// let x = Value::Array(i64::wrap(Arc::new(ndarray::array![[1i64, 2], [3, 4]].into_dyn())));
/// let m = Value::Array(bool::wrap(Arc::new(ndarray::array![[true, false], [false, true]].into_dyn())));
/// let picked = Value::Array(i64::wrap(Arc::new(ndarray::array![1i64, 4].into_dyn())));
/// assert_eq!(ExtractBlock.call(args![x.clone(), m]).unwrap(), picked);
/// assert!(ExtractBlock.call(args![x.clone(), x]).is_err());
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExtractBlock;

#[typetag::serde(name = "rask.array.extract")]
impl Op for ExtractBlock {
    fn name(&self) -> &str {
        "extract"
    }

    fn call(&self, args: Args) -> std::result::Result<Value, OpError> {
        let (data, mask) = match args.as_slice() {
            [Value::Array(data), Value::Array(ArrayChunk::Bool(mask))] => (data, mask),
            _ => return Err(OpError::new("extract takes an array block and a bool block")),
        };
        if data.shape() != mask.shape() {
            return Err(OpError::new(format!(
                "extract: a condition block of shape {:?} does not fit a block of shape {:?}",
                mask.shape(),
                data.shape()
            )));
        }
        Ok(Value::Array(map_chunk!(data, a => Arc::new(selected(a, mask)))))
    }
}

/// The elements of `data` where `mask` (of the same shape) is true, in C order. The loop
/// writes every element and moves on only past the kept ones, with no branch to
/// mispredict: on 4 million random f64 it took 2.9 ms against 18 ms for a filter when
/// half are kept, 2.0 against 3.2 ms when 2% are (`rustc -O`).
fn selected<T: Element>(data: &ArrayD<T>, mask: &ArrayD<bool>) -> ArrayD<T> {
    let (data, mask) = (c_order(data), c_order(mask));
    let count = mask.iter().filter(|&&m| m).count();
    let mut out = vec![T::default(); count + 1];
    let mut kept = 0;
    for (&x, &m) in data.iter().zip(mask.iter()) {
        out[kept] = x;
        kept += usize::from(m);
    }
    out.truncate(count);
    Array1::from(out).into_dyn()
}

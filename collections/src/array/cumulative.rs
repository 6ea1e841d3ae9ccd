//! Cumulative sums and products along an axis (numpy's `cumsum` and `cumprod`), computed
//! as Dask computes them: the total of every block along the axis (the chunk stage of
//! `sum` or `prod`), a chain of carries (a block's carry is the previous block's carry
//! combined with that block's total), and a scan of every block starting from its carry.
//! int32 and bool accumulate in int64, as in numpy.

use std::sync::Arc;

use rask_graph::{ArgSpec, Args, ArrayChunk, Element, Group, Key, Layer, Op, OpError, TaskSpec, Token, Value};
use serde::{Deserialize, Serialize};

use super::Array;
use super::axes::normalize_axis;
use super::chunks::block_indices;
use super::kernels::{Kernel, cast_chunk};
use super::raw::{RawArray, layer_of_blocks};
use super::reduction::{CombinePartials, Number, Reducer, c_order, chunk_stage, owned};
use crate::error::Result;

/// Which running total a scan keeps.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scan {
    /// Running sums (`cumsum`).
    Sum,
    /// Running products (`cumprod`).
    Prod,
}

impl Scan {
    /// numpy's name of the scan.
    pub fn name(self) -> &'static str {
        match self {
            Scan::Sum => "cumsum",
            Scan::Prod => "cumprod",
        }
    }

    /// The reduction whose block totals carry from one block to the next.
    fn reducer(self) -> Reducer {
        match self {
            Scan::Sum => Reducer::Sum,
            Scan::Prod => Reducer::Prod,
        }
    }
}

/// Scans one block along `axis` in its `sum` type (int64 for int32 and bool), starting
/// from the carry if one is given: arguments are the block and, for every block after the
/// first along the axis, the total of the blocks before it (the block's shape with
/// `axis` of length 1).
///
/// ```
/// use std::sync::Arc;
/// use rask_collections::array::{Scan, ScanBlock};
/// use rask_graph::{args, ArrayChunk, Op, Value};
/// let block = Value::Array(ArrayChunk::I32(Arc::new(ndarray::array![[1, 2], [3, 4]].into_dyn())));
/// let carry = Value::Array(ArrayChunk::I64(Arc::new(ndarray::array![[10i64, 20]].into_dyn())));
/// let out = ScanBlock { scan: Scan::Sum, axis: 0 }.call(args![block, carry]).unwrap();
/// let expected = ArrayChunk::I64(Arc::new(ndarray::array![[11i64, 22], [14, 26]].into_dyn()));
/// assert_eq!(out, Value::Array(expected));
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScanBlock {
    /// Sums or products.
    pub scan: Scan,
    /// The axis to scan along.
    pub axis: usize,
}

#[typetag::serde(name = "rask.array.scan")]
impl Op for ScanBlock {
    fn name(&self) -> &str {
        self.scan.name()
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let what = self.scan.name();
        let mut blocks = args.into_iter().map(|v| match v {
            Value::Array(block) => Ok(block),
            other => Err(OpError::new(format!("{what}: expected array blocks, got a {}", other.type_name()))),
        });
        let block = blocks.next().ok_or_else(|| OpError::new(format!("{what}: no block to scan")))??;
        let carry = blocks.next().transpose()?;
        if blocks.next().is_some() {
            return Err(OpError::new(format!("{what}: takes a block and at most one carry")));
        }
        let out = match block.dtype().sum() {
            rask_graph::DType::I64 => scan_block::<i64>(self, block, carry.as_ref()),
            rask_graph::DType::F32 => scan_block::<f32>(self, block, carry.as_ref()),
            _ => scan_block::<f64>(self, block, carry.as_ref()),
        };
        out.map(Value::Array)
    }
}

/// The block cast to `A` and scanned in place.
fn scan_block<A: Number>(op: &ScanBlock, block: ArrayChunk, carry: Option<&ArrayChunk>) -> Result<ArrayChunk, OpError> {
    let what = op.scan.name();
    let cast = cast_chunk(block, A::DTYPE);
    let typed =
        A::unwrap(&cast).cloned().ok_or_else(|| OpError::new(format!("{what}: cannot scan in {}", A::DTYPE)))?;
    drop(cast);
    let mut out = owned(typed);
    if !out.is_standard_layout() {
        out = out.as_standard_layout().into_owned();
    }
    let shape = out.shape().to_vec();
    if op.axis >= shape.len() {
        return Err(OpError::new(format!("{what}: no axis {} in a block of shape {shape:?}", op.axis)));
    }
    let carry = match carry {
        None => None,
        Some(chunk) => Some(carry_of::<A>(what, chunk, &shape, op.axis)?),
    };
    let combine: fn(A, A) -> A = match op.scan {
        Scan::Sum => Kernel::add,
        Scan::Prod => Kernel::mul,
    };
    let data = out.as_slice_mut().ok_or_else(|| OpError::new(format!("{what}: the block is not contiguous")))?;
    scan_in_place(data, shape[op.axis], shape[op.axis + 1..].iter().product(), carry.as_deref(), combine);
    Ok(A::wrap(Arc::new(out)))
}

/// The carry's elements in C order, checked to be `A` and of the block's shape with
/// `axis` of length 1.
fn carry_of<'a, A: Number>(
    what: &str,
    chunk: &'a ArrayChunk,
    shape: &[usize],
    axis: usize,
) -> Result<std::borrow::Cow<'a, [A]>, OpError> {
    let mut expected = shape.to_vec();
    expected[axis] = 1;
    match A::unwrap(chunk) {
        Some(carry) if carry.shape() == expected.as_slice() => Ok(c_order(carry)),
        _ => Err(OpError::new(format!(
            "{what}: the carry is a {} block of shape {:?}, expected {} of shape {expected:?}",
            chunk.dtype(),
            chunk.shape(),
            A::DTYPE
        ))),
    }
}

/// Running `combine` along an axis of length `n` in C-order `data`, where each step along
/// the axis is a row of `inner` elements: every row becomes the previous row combined
/// with itself, the first starting from `carry` (one row per slab before the axis).
fn scan_in_place<A: Copy>(data: &mut [A], n: usize, inner: usize, carry: Option<&[A]>, combine: fn(A, A) -> A) {
    if data.is_empty() {
        return;
    }
    for (o, slab) in data.chunks_exact_mut(n * inner).enumerate() {
        if let Some(start) = carry.and_then(|c| c.get(o * inner..(o + 1) * inner)) {
            slab[..inner].iter_mut().zip(start).for_each(|(x, &c)| *x = combine(c, *x));
        }
        for k in 1..n {
            let (done, rest) = slab.split_at_mut(k * inner);
            let previous = &done[(k - 1) * inner..];
            rest[..inner].iter_mut().zip(previous).for_each(|(x, &p)| *x = combine(p, *x));
        }
    }
}

/// `raw` scanned along `axis` (negative counts from the end).
fn cumulative(raw: &RawArray, scan: Scan, axis: isize) -> Result<RawArray> {
    let axis = normalize_axis(scan.name(), axis, raw.shape.len(), &[&raw.shape])?;
    let dtype = raw.dtype.sum();
    let reducer = scan.reducer();
    // Only the blocks before the last along the axis carry into another block.
    let mut head = raw.clone();
    head.chunks[axis].pop();
    head.shape[axis] = head.chunks[axis].iter().sum();
    let totals = chunk_stage(&head, reducer, &[axis], dtype);
    let before = |index: &[u32]| -> Vec<u32> {
        let mut previous = index.to_vec();
        previous[axis] -= 1;
        previous
    };
    let carry_name = format!("{}-carry", scan.name());
    let (carry_group, carry_token) = (Group::new(&carry_name), Token::of(&(&carry_name, raw.token.0, axis)));
    let carry_key = |index: &[u32]| match index[axis] {
        0 => None,
        1 => Some(totals.key(&before(index))),
        _ => Some(Key::new(carry_group, carry_token, index)),
    };
    let combine: Arc<dyn Op> = Arc::new(CombinePartials { reducer, finish: None });
    let carry_tasks = block_indices(&raw.numblocks())
        .into_iter()
        .filter(|index| index[axis] >= 2)
        .map(|index| {
            let previous = before(&index);
            let args = [carry_key(&previous), Some(totals.key(&previous))].into_iter().flatten().map(ArgSpec::Key);
            TaskSpec { key: Key::new(carry_group, carry_token, &index), op: combine.clone(), args: args.collect() }
        })
        .collect();
    let carries = Layer::new(carry_tasks, vec![totals.layer.clone()]);
    let op: Arc<dyn Op> = Arc::new(ScanBlock { scan, axis });
    let token = Token::of(&(scan.name(), raw.token.0, axis));
    let dependencies = vec![raw.layer.clone(), totals.layer.clone(), carries];
    Ok(layer_of_blocks(scan.name(), token, raw.shape.clone(), raw.chunks.clone(), dtype, dependencies, |index| {
        let args = [Some(raw.key(index)), carry_key(index)].into_iter().flatten().map(ArgSpec::Key).collect();
        (op.clone(), args)
    }))
}

impl<T: Element> Array<T> {
    /// The cumulative sum along `axis` (negative counts from the end): int32 and bool
    /// accumulate in int64, as numpy's `cumsum`.
    ///
    /// ```
    /// use rask_collections::array::{from_ndarray, Array};
    /// let x = from_ndarray(&ndarray::array![[1i32, 2, 3], [4, 5, 6]], [1, 2])?;
    /// let rows: Array<i64> = x.cumsum(-1)?;
    /// assert_eq!(rows.compute()?, ndarray::array![[1i64, 3, 6], [4, 9, 15]].into_dyn());
    /// assert_eq!(x.cumsum(0)?.compute()?, ndarray::array![[1i64, 2, 3], [5, 7, 9]].into_dyn());
    /// assert!(x.cumsum(2).unwrap_err().to_string().contains("axis 2 is out of bounds"));
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn cumsum(&self, axis: isize) -> Result<Array<T::Sum>> {
        Ok(Array::from_raw(cumulative(self.raw()?, Scan::Sum, axis)?))
    }

    /// The cumulative product along `axis` (negative counts from the end): int32 and bool
    /// accumulate in int64, as numpy's `cumprod`.
    ///
    /// ```
    /// use rask_collections::array::from_ndarray;
    /// let x = from_ndarray(&ndarray::array![1.0, 2.0, 3.0, 4.0], [3])?;
    /// assert_eq!(x.cumprod(0)?.compute()?, ndarray::array![1.0, 2.0, 6.0, 24.0].into_dyn());
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn cumprod(&self, axis: isize) -> Result<Array<T::Sum>> {
        Ok(Array::from_raw(cumulative(self.raw()?, Scan::Prod, axis)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_run_along_the_middle_axis_from_the_carry() {
        // Shape (2, 3, 2), scanned along axis 1.
        let mut data: Vec<i64> = (1..=12).collect();
        let carry = [100, 200, 300, 400];
        scan_in_place(&mut data, 3, 2, Some(&carry), |a, b| a + b);
        assert_eq!(data, vec![101, 202, 104, 206, 109, 212, 307, 408, 316, 418, 327, 430]);
        let mut empty: Vec<i64> = vec![];
        scan_in_place(&mut empty, 0, 2, None, |a, b| a + b);
    }
}

//! Linear algebra: [`matmul`], [`dot`] and [`tensordot`] with numpy's rules, blocked.
//!
//! - The contraction axis (or axes) of both operands is cut at the union of their block
//!   boundaries, then each output block sums the products of its pairs of input blocks in
//!   one task ([`BlockProduct`]: one buffer, `matrixmultiply` for floats). With more than
//!   `split_every` pairs (default [`DEFAULT_SPLIT_EVERY`]) tasks over groups of pairs make
//!   partial products that a tree of sums adds up.
//! - `x @ x.T` and `x.T @ x` are recognised from the keys (a transpose's key derives from
//!   its source's): only the blocks on and above the diagonal are multiplied, the
//!   diagonal ones with about half the work, and the blocks below are transposed copies.
//! - Operands of different types are cast to their common type first ([`Promote`]):
//!   integers multiply exactly with numpy's wrap-around, `bool @ bool` is the `or` of
//!   `and`s, as in numpy.
//!
//! ```
//! use rask_collections::array::{from_ndarray, matmul};
//! let a = ndarray::array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
//! let x = from_ndarray(&a, [2, 1]).unwrap();
//! let gram = x.matmul(&x.t()).unwrap();
//! assert_eq!(gram.compute().unwrap(), a.dot(&a.t()).into_dyn());
//! let v = from_ndarray(&ndarray::array![1i32, 1], [1]).unwrap();
//! let xv = matmul(&x, &v).unwrap(); // int32 with float64: float64
//! assert_eq!(xv.compute().unwrap(), ndarray::array![3.0, 7.0, 11.0].into_dyn());
//! ```

mod contract;
mod product;

use rask_graph::{DType, Element, Key, Token};

pub use product::{BlockProduct, ProductKind};

use super::Array;
use super::arith::Promote;
use super::axes::{Axes, normalize_axes};
use super::blockwise::{broadcast_shapes, elementwise};
use super::chunks::block_indices;
use super::elementwise::Expr;
use super::raw::RawArray;
use super::rechunk::{common_chunks, rechunk};
use super::transpose::{is_transpose_of, transpose_raw};
use crate::error::{Error, Result};
use contract::{BlockWork, Contraction, contract};

/// How many block products (or partial sums) one task adds, unless told otherwise.
pub const DEFAULT_SPLIT_EVERY: usize = 8;

/// The axes [`tensordot`] contracts, as numpy's `axes` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TensordotAxes {
    /// The last `n` axes of the first operand with the first `n` of the second.
    Last(usize),
    /// These axes of the first operand with these of the second, pairwise (negative
    /// axes count from the end).
    Pairs(Vec<isize>, Vec<isize>),
}

impl From<usize> for TensordotAxes {
    fn from(n: usize) -> Self {
        TensordotAxes::Last(n)
    }
}

impl From<(Vec<isize>, Vec<isize>)> for TensordotAxes {
    fn from((a, b): (Vec<isize>, Vec<isize>)) -> Self {
        TensordotAxes::Pairs(a, b)
    }
}

impl<const N: usize> From<([isize; N], [isize; N])> for TensordotAxes {
    fn from((a, b): ([isize; N], [isize; N])) -> Self {
        TensordotAxes::Pairs(a.to_vec(), b.to_vec())
    }
}

/// numpy's `matmul` (`a @ b`): matrix products over the last two axes, a 1-d operand
/// taken as a row (left) or a column (right) and its axis dropped from the result (vector
/// @ vector is 0-d), earlier axes broadcast as a batch. The result has the operands'
/// common type. Mismatched shapes are an error naming both.
///
/// ```
/// use rask_collections::array::{from_ndarray, matmul, ones};
/// let stack = ones::<f64>(&[3, 2, 4], [1, 2, 2]).unwrap();
/// let m = ones::<f64>(&[4, 5], [3, 5]).unwrap();
/// let out = matmul(&stack, &m).unwrap();
/// assert_eq!(out.shape(), &[3, 2, 5]);
/// assert_eq!(out.compute().unwrap(), ndarray::ArrayD::from_elem(vec![3, 2, 5], 4.0));
/// let e = matmul(&m, &stack).unwrap_err().to_string();
/// assert!(e.contains("[4, 5]") && e.contains("[3, 2, 4]"), "{e}");
/// let v = from_ndarray(&ndarray::array![true, false], [1]).unwrap();
/// assert_eq!(matmul(&v, &v).unwrap().compute().unwrap(), ndarray::arr0(true).into_dyn());
/// ```
pub fn matmul<T, U>(a: &Array<T>, b: &Array<U>) -> Result<Array<<T as Promote<U>>::Output>>
where
    T: Promote<U>,
    U: Element,
{
    matmul_with(a, b, DEFAULT_SPLIT_EVERY)
}

/// [`matmul`] where one task adds at most `split_every` (at least 2) block products or
/// partial sums; longer contractions sum their partial products in a tree.
///
/// ```
/// use rask_collections::array::{matmul_with, ones};
/// let a = ones::<i64>(&[2, 9], [2, 1]).unwrap();
/// let b = ones::<i64>(&[9, 3], [1, 3]).unwrap();
/// let tree = matmul_with(&a, &b, 2).unwrap();
/// assert_eq!(tree.compute().unwrap(), ndarray::ArrayD::from_elem(vec![2, 3], 9));
/// assert!(tree.task_count() > ones::<i64>(&[2, 9], [2, 1]).unwrap().task_count() + 9 + 1);
/// ```
pub fn matmul_with<T, U>(a: &Array<T>, b: &Array<U>, split_every: usize) -> Result<Array<<T as Promote<U>>::Output>>
where
    T: Promote<U>,
    U: Element,
{
    let (a, b) = operands(a, b, <T as Promote<U>>::Output::DTYPE, split_every)?;
    Ok(Array::from_raw(matmul_raw(&a, &b, split_every)?))
}

/// numpy's `dot`: [`matmul`] for operands of at most two axes, multiplication when one
/// is 0-d, and otherwise the sum over the last axis of `a` and the second-to-last axis of
/// `b` (the last, if `b` is 1-d), the result having `a`'s other axes then `b`'s.
///
/// ```
/// use rask_collections::array::{dot, ones};
/// let a = ones::<f32>(&[2, 3, 4], [1, 3, 2]).unwrap();
/// let b = ones::<f32>(&[5, 4, 6], [5, 2, 3]).unwrap();
/// let c = dot(&a, &b).unwrap();
/// assert_eq!(c.shape(), &[2, 3, 5, 6]);
/// assert_eq!(c.compute().unwrap(), ndarray::ArrayD::from_elem(vec![2, 3, 5, 6], 4.0f32));
/// ```
pub fn dot<T, U>(a: &Array<T>, b: &Array<U>) -> Result<Array<<T as Promote<U>>::Output>>
where
    T: Promote<U>,
    U: Element,
{
    let (na, nb) = (a.raw()?.shape.len(), b.raw()?.shape.len());
    match (na, nb) {
        (0, _) | (_, 0) => a.try_mul(b),
        (..=2, ..=2) => matmul(a, b),
        (_, 1) => contraction(a, b, "dot", ([-1], [0]).into(), DEFAULT_SPLIT_EVERY),
        _ => contraction(a, b, "dot", ([-1], [-2]).into(), DEFAULT_SPLIT_EVERY),
    }
}

/// numpy's `tensordot`: the sum of products over pairs of axes (`axes`: the last `n` of
/// `a` with the first `n` of `b`, or explicit pairs); the result has the remaining axes of
/// `a`, then those of `b`. An empty contraction gives zeros.
///
/// ```
/// use rask_collections::array::{from_ndarray, tensordot, TensordotAxes};
/// let a = ndarray::Array3::from_shape_fn((3, 4, 5), |(i, j, k)| (i + 2 * j + 3 * k) as f64);
/// let b = ndarray::Array3::from_shape_fn((4, 3, 2), |(i, j, k)| (i * j + k) as f64);
/// let (x, y) = (from_ndarray(&a, [2, 2, 5]).unwrap(), from_ndarray(&b, [3, 1, 2]).unwrap());
/// let z = tensordot(&x, &y, ([1, 0], [0, 1])).unwrap();
/// assert_eq!(z.shape(), &[5, 2]);
/// let expected = ndarray::Array2::from_shape_fn((5, 2), |(k, l)| {
///     (0..3).flat_map(|i| (0..4).map(move |j| (i, j))).map(|(i, j)| a[[i, j, k]] * b[[j, i, l]]).sum::<f64>()
/// });
/// assert_eq!(z.compute().unwrap(), expected.into_dyn());
/// assert_eq!(tensordot(&x, &y, 0).unwrap().shape(), &[3, 4, 5, 4, 3, 2]);
/// assert!(tensordot(&x, &y, TensordotAxes::Last(2)).unwrap_err().to_string().contains("[3, 4, 5]"));
/// ```
pub fn tensordot<T, U>(
    a: &Array<T>,
    b: &Array<U>,
    axes: impl Into<TensordotAxes>,
) -> Result<Array<<T as Promote<U>>::Output>>
where
    T: Promote<U>,
    U: Element,
{
    contraction(a, b, "tensordot", axes.into(), DEFAULT_SPLIT_EVERY)
}

/// [`tensordot`] where one task adds at most `split_every` (at least 2) block products or
/// partial sums.
///
/// ```
/// use rask_collections::array::{ones, tensordot_with};
/// let a = ones::<f64>(&[2, 6, 6], [2, 1, 2]).unwrap();
/// let b = ones::<f64>(&[6, 6], [2, 3]).unwrap();
/// let z = tensordot_with(&a, &b, 2, 3).unwrap();
/// assert_eq!(z.compute().unwrap(), ndarray::ArrayD::from_elem(vec![2], 36.0));
/// ```
pub fn tensordot_with<T, U>(
    a: &Array<T>,
    b: &Array<U>,
    axes: impl Into<TensordotAxes>,
    split_every: usize,
) -> Result<Array<<T as Promote<U>>::Output>>
where
    T: Promote<U>,
    U: Element,
{
    contraction(a, b, "tensordot", axes.into(), split_every)
}

impl<T: Element> Array<T> {
    /// `self @ other`: see [`matmul`].
    ///
    /// ```
    /// use rask_collections::array::from_ndarray;
    /// let a = ndarray::array![[1i64, 2], [3, 4]];
    /// let x = from_ndarray(&a, [1, 1]).unwrap();
    /// assert_eq!(x.matmul(&x).unwrap().compute().unwrap(), a.dot(&a).into_dyn());
    /// ```
    pub fn matmul<U: Element>(&self, other: &Array<U>) -> Result<Array<<T as Promote<U>>::Output>>
    where
        T: Promote<U>,
    {
        matmul(self, other)
    }

    /// numpy's `self.dot(other)`: see [`dot`].
    ///
    /// ```
    /// use rask_collections::array::from_ndarray;
    /// let v = from_ndarray(&ndarray::array![1.0, 2.0, 3.0], [2]).unwrap();
    /// assert_eq!(v.dot(&v).unwrap().compute().unwrap(), ndarray::arr0(14.0).into_dyn());
    /// ```
    pub fn dot<U: Element>(&self, other: &Array<U>) -> Result<Array<<T as Promote<U>>::Output>>
    where
        T: Promote<U>,
    {
        dot(self, other)
    }
}

/// Both operands' blocks in the result type `dtype`, after checking `split_every`.
fn operands<T: Element, U: Element>(
    a: &Array<T>,
    b: &Array<U>,
    dtype: DType,
    split_every: usize,
) -> Result<(RawArray, RawArray)> {
    let (a, b) = (a.raw()?, b.raw()?);
    if split_every < 2 {
        return Err(Error::Shape(format!("split_every must be at least 2, got {split_every}")));
    }
    Ok((cast(a, dtype)?, cast(b, dtype)?))
}

/// `raw` in type `to` (itself if it has it).
fn cast(raw: &RawArray, to: DType) -> Result<RawArray> {
    if raw.dtype == to {
        return Ok(raw.clone());
    }
    elementwise("astype", Expr::Input(0).cast_to(raw.dtype, to), std::slice::from_ref(raw))
}

/// The shapes named in errors: `"{what}: shapes [..] and [..]"`.
fn shapes(what: &str, a: &RawArray, b: &RawArray) -> String {
    format!("{what}: shapes {:?} and {:?}", a.shape, b.shape)
}

/// numpy's `matmul` of two arrays of one type.
fn matmul_raw(a: &RawArray, b: &RawArray, split_every: usize) -> Result<RawArray> {
    let (na, nb) = (a.shape.len(), b.shape.len());
    if na == 0 || nb == 0 {
        return Err(Error::Shape(format!(
            "{}: a 0-d operand has no matrix axes (use multiply)",
            shapes("matmul", a, b)
        )));
    }
    check_aligned("matmul", a, b, na - 1, inner_axis_of_right(b))?;
    match (na, nb) {
        (2, 2) if is_transpose_of(b, a) => return Ok(gram(a, false, split_every)),
        (2, 2) if is_transpose_of(a, b) => return Ok(gram(b, true, split_every)),
        _ => {}
    }
    let batch = broadcast_shapes("matmul", &[&a.shape[..batch_len(a)], &b.shape[..batch_len(b)]])
        .map_err(|_| Error::Shape(format!("{}: their batch axes do not broadcast", shapes("matmul", a, b))))?;
    let batch_chunks = unify_batch(&batch, &[a, b]);
    let inner = common_chunks(&[&a.chunks[na - 1], &b.chunks[inner_axis_of_right(b)]]);
    let a = rechunk(a, matmul_chunks(a, &batch, &batch_chunks, na - 1, &inner).into())?;
    let b = rechunk(b, matmul_chunks(b, &batch, &batch_chunks, inner_axis_of_right(b), &inner).into())?;
    Ok(blocked_matmul(&a, &b, &batch, batch_chunks, split_every))
}

/// The number of batch axes of a matmul operand: all but its last two.
fn batch_len(raw: &RawArray) -> usize {
    raw.shape.len().saturating_sub(2)
}

/// The contracted axis of the right operand of a matmul: its second-to-last (its only one
/// if it is a vector).
fn inner_axis_of_right(b: &RawArray) -> usize {
    b.shape.len().saturating_sub(2)
}

/// The matmul of operands already cut alike along the contracted and batch axes: output
/// block (batch, i, j) sums `a[batch, i, k] @ b[batch, k, j]` over the contracted blocks
/// `k` (vector operands have no `i` or `j`).
fn blocked_matmul(
    a: &RawArray,
    b: &RawArray,
    batch: &[usize],
    batch_chunks: Vec<Vec<usize>>,
    split_every: usize,
) -> RawArray {
    let rows = (a.shape.len() >= 2).then(|| a.chunks[a.shape.len() - 2].clone());
    let cols = (b.shape.len() >= 2).then(|| b.chunks[b.shape.len() - 1].clone());
    let (has_rows, has_cols) = (rows.is_some(), cols.is_some());
    let chunks: Vec<Vec<usize>> = batch_chunks.into_iter().chain(rows).chain(cols).collect();
    let shape = chunks.iter().map(|c| c.iter().sum()).collect();
    let nk = b.chunks[inner_axis_of_right(b)].len() as u32;
    let token = Token::of(&("matmul", a.token.0, b.token.0, split_every));
    let plan = Contraction { name: "matmul", token, shape, chunks, dtype: a.dtype, inputs: vec![a, b], split_every };
    contract(plan, |index| {
        let (batch_index, matrix) = index.split_at(batch.len());
        let row = has_rows.then(|| matrix[0]);
        let col = has_cols.then(|| matrix[matrix.len() - 1]);
        let (a_at, b_at) = (batch_block(a, batch, batch_index), batch_block(b, batch, batch_index));
        let terms = (0..nk)
            .map(|k| {
                let a_index: Vec<u32> = a_at.iter().copied().chain(row).chain([k]).collect();
                let b_index: Vec<u32> = b_at.iter().copied().chain([k]).chain(col).collect();
                vec![a.key(&a_index), b.key(&b_index)]
            })
            .collect();
        BlockWork::Product { kind: ProductKind::Matmul, terms }
    })
}

/// An error unless axis `x` of `a` and axis `y` of `b` have the same length.
fn check_aligned(what: &str, a: &RawArray, b: &RawArray, x: usize, y: usize) -> Result<()> {
    if a.shape[x] == b.shape[y] {
        return Ok(());
    }
    Err(Error::Shape(format!(
        "{} do not align: axis {x} of the first has {} elements, axis {y} of the second {}",
        shapes(what, a, b),
        a.shape[x],
        b.shape[y]
    )))
}

/// Whether batch axis `axis` of a matmul operand spans the output's batch axis it lines up
/// with (rather than being broadcast along it).
fn spans(raw: &RawArray, batch: &[usize], axis: usize) -> bool {
    raw.shape[axis] == batch[axis + batch.len() - batch_len(raw)]
}

/// The chunks of each output batch axis: the common refinement of the chunks of the
/// operand axes that span it.
fn unify_batch(batch: &[usize], operands: &[&RawArray]) -> Vec<Vec<usize>> {
    let mut along: Vec<Vec<&[usize]>> = vec![vec![]; batch.len()];
    for raw in operands {
        for axis in (0..batch_len(raw)).filter(|&axis| spans(raw, batch, axis)) {
            along[axis + batch.len() - batch_len(raw)].push(&raw.chunks[axis]);
        }
    }
    along.iter().zip(batch).map(|(c, &n)| if c.is_empty() { vec![n] } else { common_chunks(c) }).collect()
}

/// The chunks a matmul operand needs: its batch axes cut as the output's where they span
/// them, its contracted axis `inner_axis` cut as `inner`, its other axis unchanged.
fn matmul_chunks(
    raw: &RawArray,
    batch: &[usize],
    batch_chunks: &[Vec<usize>],
    inner_axis: usize,
    inner: &[usize],
) -> Vec<Vec<usize>> {
    let offset = batch.len() - batch_len(raw);
    (0..raw.shape.len())
        .map(|axis| match axis {
            _ if axis == inner_axis => inner.to_vec(),
            _ if axis < batch_len(raw) && spans(raw, batch, axis) => batch_chunks[axis + offset].clone(),
            _ => raw.chunks[axis].clone(),
        })
        .collect()
}

/// The block of a matmul operand's batch axes that output batch block `index` reads: the
/// same block, or block 0 along axes the operand broadcasts.
fn batch_block(raw: &RawArray, batch: &[usize], index: &[u32]) -> Vec<u32> {
    let offset = batch.len() - batch_len(raw);
    (0..batch_len(raw)).map(|axis| if spans(raw, batch, axis) { index[axis + offset] } else { 0 }).collect()
}

/// `s @ s.T` (or `s.T @ s` if `transposed`) of a 2-d array: blocks above the diagonal are
/// products of two blocks of `s`, diagonal blocks Gram products (half the work), blocks
/// below the diagonal transposes of their mirror blocks.
fn gram(s: &RawArray, transposed: bool, split_every: usize) -> RawArray {
    let (outer, inner) = if transposed { (1, 0) } else { (0, 1) };
    let key = |m: u32, k: u32| if transposed { s.key(&[k, m]) } else { s.key(&[m, k]) };
    let chunks = vec![s.chunks[outer].clone(), s.chunks[outer].clone()];
    let shape = vec![s.shape[outer], s.shape[outer]];
    let token = Token::of(&("matmul-gram", s.token.0, transposed, split_every));
    let plan = Contraction { name: "matmul", token, shape, chunks, dtype: s.dtype, inputs: vec![s], split_every };
    let nk = s.chunks[inner].len() as u32;
    contract(plan, |index| {
        let (i, j) = (index[0], index[1]);
        let terms: Vec<Vec<Key>> = match i.cmp(&j) {
            std::cmp::Ordering::Greater => return BlockWork::MirrorOf(vec![j, i]),
            std::cmp::Ordering::Equal => (0..nk).map(|k| vec![key(i, k)]).collect(),
            std::cmp::Ordering::Less => (0..nk).map(|k| vec![key(i, k), key(j, k)]).collect(),
        };
        let kind = match i == j {
            true => ProductKind::Gram { transposed },
            false => ProductKind::Transposed { a: transposed, b: !transposed },
        };
        BlockWork::Product { kind, terms }
    })
}

/// The typed front of [`tensordot`] and [`dot`].
fn contraction<T, U>(
    a: &Array<T>,
    b: &Array<U>,
    what: &str,
    axes: TensordotAxes,
    split_every: usize,
) -> Result<Array<<T as Promote<U>>::Output>>
where
    T: Promote<U>,
    U: Element,
{
    let (a, b) = operands(a, b, <T as Promote<U>>::Output::DTYPE, split_every)?;
    let (xa, xb) = contracted_axes(what, &a, &b, axes)?;
    Ok(Array::from_raw(tensordot_raw(&a, &b, &xa, &xb, split_every)?))
}

/// The contracted axes of each operand, checked: in range, not repeated, as many for
/// each, of equal lengths pairwise.
fn contracted_axes(what: &str, a: &RawArray, b: &RawArray, axes: TensordotAxes) -> Result<(Vec<usize>, Vec<usize>)> {
    let (na, nb) = (a.shape.len(), b.shape.len());
    let (xa, xb) = match axes {
        TensordotAxes::Last(n) if n > na || n > nb => {
            return Err(Error::Shape(format!(
                "{}: cannot contract the last {n} axes of the first with the first {n} of the second",
                shapes(what, a, b)
            )));
        }
        TensordotAxes::Last(n) => ((na - n..na).collect(), (0..n).collect()),
        TensordotAxes::Pairs(pa, pb) if pa.len() != pb.len() => {
            return Err(Error::Shape(format!("{}: axes {pa:?} and {pb:?} are not pairs", shapes(what, a, b))));
        }
        TensordotAxes::Pairs(pa, pb) => (
            normalize_axes(what, &Axes::from(pa), na, &[&a.shape])?,
            normalize_axes(what, &Axes::from(pb), nb, &[&b.shape])?,
        ),
    };
    for (&x, &y) in xa.iter().zip(&xb) {
        check_aligned(what, a, b, x, y)?;
    }
    Ok((xa, xb))
}

/// The contraction of axes `xa` of `a` with axes `xb` of `b` (checked): `a` is transposed
/// to (free, contracted) and `b` to (contracted, free), the contracted axes cut alike,
/// and each output block sums the products over every block of the contracted axes.
fn tensordot_raw(a: &RawArray, b: &RawArray, xa: &[usize], xb: &[usize], split_every: usize) -> Result<RawArray> {
    let free = |n: usize, x: &[usize]| (0..n).filter(|i| !x.contains(i)).collect::<Vec<_>>();
    let (free_a, free_b) = (free(a.shape.len(), xa), free(b.shape.len(), xb));
    let a = transpose_raw(a, &[free_a.as_slice(), xa].concat());
    let b = transpose_raw(b, &[xb, free_b.as_slice()].concat());
    let (nfa, nc) = (free_a.len(), xa.len());
    let inner: Vec<Vec<usize>> = (0..nc).map(|i| common_chunks(&[&a.chunks[nfa + i], &b.chunks[i]])).collect();
    let a = rechunk(&a, a.chunks[..nfa].iter().chain(&inner).cloned().collect::<Vec<_>>().into())?;
    let b = rechunk(&b, inner.iter().chain(&b.chunks[nc..]).cloned().collect::<Vec<_>>().into())?;
    let chunks: Vec<Vec<usize>> = a.chunks[..nfa].iter().chain(&b.chunks[nc..]).cloned().collect();
    let shape = chunks.iter().map(|c| c.iter().sum()).collect();
    let token = Token::of(&("tensordot", a.token.0, b.token.0, nc, split_every));
    let plan =
        Contraction { name: "tensordot", token, shape, chunks, dtype: a.dtype, inputs: vec![&a, &b], split_every };
    let inner_blocks = block_indices(&inner.iter().map(Vec::len).collect::<Vec<_>>());
    Ok(contract(plan, |index| {
        let (ia, ib) = index.split_at(nfa);
        let terms =
            inner_blocks.iter().map(|k| vec![a.key(&[ia, k].concat()), b.key(&[k.as_slice(), ib].concat())]).collect();
        BlockWork::Product { kind: ProductKind::Tensordot { axes: nc }, terms }
    }))
}

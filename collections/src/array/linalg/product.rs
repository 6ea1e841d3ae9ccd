//! The [`BlockProduct`] op: one output block of a matrix product or contraction, the sum
//! of the products of several pairs of input blocks accumulated into one buffer (no
//! partial-product allocations).
//!
//! Floats multiply with `matrixmultiply` through `ndarray::linalg::general_mat_mul`
//! (beta = 1 accumulates in place); integers and `bool` with a row-by-row loop using
//! numpy's element rules (wrapping integer arithmetic; `or` of `and`s for `bool`). A
//! symmetric product `a @ a.T` multiplies only the upper half of each diagonal block
//! (recursively splitting it in two) and mirrors it.

use std::sync::Arc;

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayBase, ArrayD, ArrayView2, ArrayViewD, ArrayViewMut2, Axis, Dimension, Ix2, IxDyn, RawData, Zip};
use rask_graph::{Args, Element, Op, OpError, Value};

use crate::array::raw::with_blocks_of_one_type;
use serde::{Deserialize, Serialize};

use super::super::kernels::{Kernel, broadcast_shape};
use super::super::transpose::mirror_upper;

/// Diagonal blocks of a symmetric product are split in two until they are at most this
/// tall; smaller products run below matrixmultiply's best speed.
const GRAM_LEAF: usize = 256;

/// What one term of a [`BlockProduct`] multiplies.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProductKind {
    /// numpy's `matmul` of a pair of blocks: 1-d operands are promoted to a row (left) or a
    /// column (right) and the promoted axis dropped from the result; axes before the last
    /// two are batch axes and broadcast.
    Matmul,
    /// `a @ b` of a pair of 2-d blocks, either of them used transposed.
    Transposed {
        /// Use the left block transposed.
        a: bool,
        /// Use the right block transposed.
        b: bool,
    },
    /// `a @ a.T` (`a.T @ a` if `transposed`) of one 2-d block: a symmetric result whose
    /// lower half is a copy of the upper half.
    Gram {
        /// Multiply `a.T @ a` instead.
        transposed: bool,
    },
    /// numpy's `tensordot` of a pair of blocks over the last `axes` axes of the left block
    /// and the first `axes` axes of the right one.
    Tensordot {
        /// How many axes are contracted.
        axes: usize,
    },
}

impl ProductKind {
    /// Blocks per term: two, or one for a Gram product.
    pub(crate) fn arity(self) -> usize {
        if matches!(self, ProductKind::Gram { .. }) { 1 } else { 2 }
    }
}

/// Sums the products of its argument blocks, taken two at a time (one at a time for a
/// Gram product): one output block of a blocked matrix product, or a partial sum of one.
///
/// ```
/// use std::sync::Arc;
/// use rask_collections::array::{BlockProduct, ProductKind};
/// use rask_graph::{args, Element, Op, Value};
/// let block = |a: ndarray::Array2<f64>| Value::Array(f64::wrap(Arc::new(a.into_dyn())));
/// let (a, b) = (ndarray::array![[1.0, 2.0]], ndarray::array![[3.0], [4.0]]);
/// let op = BlockProduct { kind: ProductKind::Matmul };
/// // [1, 2] @ [3, 4]^T + [1, 2] @ [3, 4]^T
/// let out = op.call(args![block(a.clone()), block(b.clone()), block(a), block(b)]).unwrap();
/// assert_eq!(out, block(ndarray::array![[22.0]]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockProduct {
    /// What each term multiplies.
    pub kind: ProductKind,
}

#[typetag::serde(name = "rask.array.block_product")]
impl Op for BlockProduct {
    fn name(&self) -> &str {
        match self.kind {
            ProductKind::Tensordot { .. } => "tensordot",
            _ => "matmul",
        }
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        with_blocks_of_one_type!(self.name(), args, blocks => self.typed(blocks)).map(Value::Array)
    }
}

impl BlockProduct {
    fn typed<T: Dot>(&self, blocks: Vec<Arc<ArrayD<T>>>) -> Result<Arc<ArrayD<T>>, OpError> {
        let arity = self.kind.arity();
        if blocks.is_empty() || !blocks.len().is_multiple_of(arity) {
            return Err(OpError::new(format!("{}: {} blocks do not make terms of {arity}", self.name(), blocks.len())));
        }
        let mut sum: Option<Accumulator<T>> = None;
        for term in blocks.chunks(arity) {
            let (a, b) = (term[0].view(), term[arity - 1].view());
            match self.kind {
                ProductKind::Matmul => matmul_term(&mut sum, a, b)?,
                ProductKind::Transposed { a: ta, b: tb } => matrix_term(&mut sum, matrix(a, ta)?, matrix(b, tb)?)?,
                ProductKind::Gram { transposed } => gram_term(&mut sum, matrix(a, transposed)?)?,
                ProductKind::Tensordot { axes } => tensordot_term(&mut sum, a, b, axes)?,
            }
        }
        let Accumulator { mut out, shape } = sum.ok_or_else(|| OpError::new("no terms"))?;
        if let (ProductKind::Gram { .. }, Some(data)) = (self.kind, out.as_slice_mut()) {
            mirror_upper(data, shape.first().copied().unwrap_or(0));
        }
        out.into_shape_with_order(IxDyn(&shape))
            .map(Arc::new)
            .map_err(|e| OpError::new(format!("{}: cannot shape the result as {shape:?}: {e}", self.name())))
    }
}

/// The running sum of a block product: the buffer (a C-order stack of matrices) and the
/// shape the result takes at the end.
struct Accumulator<T> {
    out: ArrayD<T>,
    shape: Vec<usize>,
}

/// The accumulator's buffer, made of zeros by the first term; later terms must fit it.
fn buffer<'a, T: Element>(
    sum: &'a mut Option<Accumulator<T>>,
    full: &[usize],
    shape: Vec<usize>,
) -> Result<&'a mut ArrayD<T>, OpError> {
    let acc = sum.get_or_insert_with(|| Accumulator { out: ArrayD::default(IxDyn(full)), shape: shape.clone() });
    if acc.out.shape() != full || acc.shape != shape {
        return Err(OpError::new(format!(
            "block product: a term of shape {shape:?} does not add to one of shape {:?}",
            acc.shape
        )));
    }
    Ok(&mut acc.out)
}

/// `a @ b` of two matrices, added to the sum.
fn matrix_term<T: Dot>(sum: &mut Option<Accumulator<T>>, a: ArrayView2<T>, b: ArrayView2<T>) -> Result<(), OpError> {
    check_inner(a.ncols(), b.nrows(), a.shape(), b.shape())?;
    let out = buffer(sum, &[a.nrows(), b.ncols()], vec![a.nrows(), b.ncols()])?;
    T::gemm_acc(matrix_at(out.view_mut(), &[])?, a, b);
    Ok(())
}

/// The upper triangle of `a @ a.T`, added to the sum (mirrored once all terms are in).
fn gram_term<T: Dot>(sum: &mut Option<Accumulator<T>>, a: ArrayView2<T>) -> Result<(), OpError> {
    let n = a.nrows();
    let out = buffer(sum, &[n, n], vec![n, n])?;
    gram_acc(matrix_at(out.view_mut(), &[])?, a);
    Ok(())
}

/// numpy's `matmul` of one pair of blocks, added to the sum.
fn matmul_term<T: Dot>(sum: &mut Option<Accumulator<T>>, a: ArrayViewD<T>, b: ArrayViewD<T>) -> Result<(), OpError> {
    if a.ndim() == 0 || b.ndim() == 0 {
        return Err(OpError::new(format!(
            "matmul of blocks of shapes {:?} and {:?}: 0-d operand",
            a.shape(),
            b.shape()
        )));
    }
    let (a_vector, b_vector) = (a.ndim() == 1, b.ndim() == 1);
    let a2 = if a_vector { a.clone().insert_axis(Axis(0)) } else { a.clone() };
    let b2 = if b_vector { b.clone().insert_axis(Axis(1)) } else { b.clone() };
    let (na, nb) = (a2.ndim(), b2.ndim());
    let (m, k, n) = (a2.shape()[na - 2], a2.shape()[na - 1], b2.shape()[nb - 1]);
    check_inner(k, b2.shape()[nb - 2], a.shape(), b.shape())?;
    let batch = broadcast_shape(&a2.shape()[..na - 2], &b2.shape()[..nb - 2]).map_err(OpError::new)?;
    let full: Vec<usize> = batch.iter().copied().chain([m, n]).collect();
    let shape: Vec<usize> =
        batch.iter().copied().chain((!a_vector).then_some(m)).chain((!b_vector).then_some(n)).collect();
    let (a3, b3) = (stretch(&a2, &batch, m, k)?, stretch(&b2, &batch, k, n)?);
    let out = buffer(sum, &full, shape)?;
    for index in ndarray::indices(IxDyn(&batch)) {
        let at = index.slice();
        T::gemm_acc(matrix_at(out.view_mut(), at)?, matrix_at(a3.view(), at)?, matrix_at(b3.view(), at)?);
    }
    Ok(())
}

/// A stack of matrices broadcast to the batch axes `batch` (the matrices keep their shape).
fn stretch<'a, T>(
    v: &'a ArrayViewD<'_, T>,
    batch: &[usize],
    rows: usize,
    cols: usize,
) -> Result<ArrayViewD<'a, T>, OpError> {
    let target: Vec<usize> = batch.iter().copied().chain([rows, cols]).collect();
    v.broadcast(IxDyn(&target)).ok_or_else(|| {
        OpError::new(format!("matmul: a block of shape {:?} does not broadcast to {target:?}", v.shape()))
    })
}

/// numpy's `tensordot` of one pair of blocks over `axes` axes, added to the sum: both
/// blocks are seen as matrices (free axes by contracted axes) and multiplied.
fn tensordot_term<T: Dot>(
    sum: &mut Option<Accumulator<T>>,
    a: ArrayViewD<T>,
    b: ArrayViewD<T>,
    axes: usize,
) -> Result<(), OpError> {
    let fits = axes <= a.ndim() && axes <= b.ndim() && a.shape()[a.ndim() - axes..] == b.shape()[..axes];
    if !fits {
        return Err(OpError::new(format!(
            "tensordot over {axes} axes: blocks of shapes {:?} and {:?} do not fit",
            a.shape(),
            b.shape()
        )));
    }
    let (free_a, contracted) = a.shape().split_at(a.ndim() - axes);
    let free_b = &b.shape()[axes..];
    let (rows, inner, cols) =
        (free_a.iter().product::<usize>(), contracted.iter().product::<usize>(), free_b.iter().product::<usize>());
    let shape: Vec<usize> = free_a.iter().chain(free_b).copied().collect();
    let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
    let (a2, b2) = (as_matrix(a.view(), rows, inner)?, as_matrix(b.view(), inner, cols)?);
    let out = buffer(sum, &[rows, cols], shape)?;
    T::gemm_acc(matrix_at(out.view_mut(), &[])?, a2, b2);
    Ok(())
}

/// A C-order view seen as a `rows` by `cols` matrix.
fn as_matrix<T>(v: ArrayViewD<'_, T>, rows: usize, cols: usize) -> Result<ArrayView2<'_, T>, OpError> {
    v.into_shape_with_order((rows, cols)).map_err(|e| OpError::new(format!("tensordot: {e}")))
}

/// A 2-d view of a block (transposed if asked), or an error for other shapes.
fn matrix<T>(v: ArrayViewD<'_, T>, transposed: bool) -> Result<ArrayView2<'_, T>, OpError> {
    let shape = v.shape().to_vec();
    let m = v.into_dimensionality::<Ix2>().map_err(|_| OpError::new(format!("matmul: block {shape:?} is not 2-d")))?;
    Ok(if transposed { m.reversed_axes() } else { m })
}

/// The matrix at batch index `at` of a stack of matrices (its leading axes).
fn matrix_at<S: RawData>(mut v: ArrayBase<S, IxDyn>, at: &[usize]) -> Result<ArrayBase<S, Ix2>, OpError> {
    for &i in at {
        v.index_axis_inplace(Axis(0), i);
    }
    let shape = v.shape().to_vec();
    v.into_dimensionality::<Ix2>().map_err(|_| OpError::new(format!("matmul: {shape:?} is not a matrix")))
}

/// An error unless the inner lengths `k` and `k2` of two operands agree.
fn check_inner(k: usize, k2: usize, a: &[usize], b: &[usize]) -> Result<(), OpError> {
    if k == k2 {
        return Ok(());
    }
    Err(OpError::new(format!("matmul of blocks of shapes {a:?} and {b:?}: inner lengths {k} and {k2} differ")))
}

/// Adds `a @ a.T` to the upper triangle of the square `c` (its lower triangle is left to
/// mirroring), multiplying about half of what a full product would: the diagonal halves
/// recursively, the upper off-diagonal quarter in one product.
fn gram_acc<T: Dot>(c: ArrayViewMut2<T>, a: ArrayView2<T>) {
    let n = a.nrows();
    if n <= GRAM_LEAF {
        return T::gemm_acc(c, a, a.t());
    }
    let half = n / 2;
    let (a1, a2) = a.split_at(Axis(0), half);
    let (top, bottom) = c.split_at(Axis(0), half);
    let (c11, c12) = top.split_at(Axis(1), half);
    let (_, c22) = bottom.split_at(Axis(1), half);
    T::gemm_acc(c12, a1, a2.t());
    gram_acc(c11, a1);
    gram_acc(c22, a2);
}

/// The 2-d kernel of each element type: `c += a @ b`.
pub(crate) trait Dot: Kernel {
    /// Adds `a @ b` to `c` (shapes already checked).
    fn gemm_acc(c: ArrayViewMut2<Self>, a: ArrayView2<Self>, b: ArrayView2<Self>);
}

macro_rules! float_dot {
    ($($t:ty),*) => {$(
        impl Dot for $t {
            fn gemm_acc(mut c: ArrayViewMut2<Self>, a: ArrayView2<Self>, b: ArrayView2<Self>) {
                general_mat_mul(1.0, &a, &b, 1.0, &mut c);
            }
        }
    )*};
}
float_dot!(f32, f64);

macro_rules! exact_dot {
    ($($t:ty),*) => {$(
        impl Dot for $t {
            fn gemm_acc(c: ArrayViewMut2<Self>, a: ArrayView2<Self>, b: ArrayView2<Self>) {
                exact_gemm_acc(c, a, b)
            }
        }
    )*};
}
exact_dot!(bool, i32, i64);

/// `c += a @ b` with numpy's element rules for integers (wrapping) and `bool` (`or` of
/// `and`s): each row of `c` gains `a[i, k] * b[k, :]` for every `k`, a contiguous loop.
/// Zeros of `a` are skipped, which is exact for these types.
fn exact_gemm_acc<T: Kernel>(mut c: ArrayViewMut2<T>, a: ArrayView2<T>, b: ArrayView2<T>) {
    for (mut c_row, a_row) in c.rows_mut().into_iter().zip(a.rows()) {
        for (&x, b_row) in a_row.iter().zip(b.rows()) {
            if x != T::default() {
                Zip::from(&mut c_row).and(&b_row).for_each(|c, &y| *c = c.add(x.mul(y)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};
    use rask_graph::ArrayChunk;

    fn call(kind: ProductKind, blocks: Vec<ArrayD<f64>>) -> Result<ArrayD<f64>, OpError> {
        let args = blocks.into_iter().map(|b| Value::Array(ArrayChunk::F64(Arc::new(b)))).collect();
        let out = BlockProduct { kind }.call(args)?;
        match out {
            Value::Array(ArrayChunk::F64(a)) => Ok((*a).clone()),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn terms_accumulate_into_one_block() {
        let a = array![[1.0, 2.0], [3.0, 4.0]].into_dyn();
        let out = call(ProductKind::Matmul, vec![a.clone(), a.clone(), a.clone(), a.clone()]).unwrap();
        assert_eq!(out, array![[14.0, 20.0], [30.0, 44.0]].into_dyn());
        let v = array![1.0, 1.0].into_dyn();
        assert_eq!(call(ProductKind::Matmul, vec![v.clone(), a.clone()]).unwrap(), array![4.0, 6.0].into_dyn());
        assert_eq!(call(ProductKind::Matmul, vec![v.clone(), v]).unwrap(), ndarray::arr0(2.0).into_dyn());
    }

    #[test]
    fn gram_products_equal_plain_ones() {
        let n = 600;
        let a = Array2::from_shape_fn((n, 70), |(i, j)| ((i * 7 + j * 13) % 17) as f64 - 8.0);
        let gram = call(ProductKind::Gram { transposed: false }, vec![a.clone().into_dyn()]).unwrap();
        assert_eq!(gram, a.dot(&a.t()).into_dyn());
        let left = call(ProductKind::Gram { transposed: true }, vec![a.clone().into_dyn()]).unwrap();
        assert_eq!(left, a.t().dot(&a).into_dyn());
    }

    #[test]
    fn integers_wrap_and_bools_or_their_ands() {
        let big = ArrayChunk::I64(Arc::new(array![[i64::MAX, 1]].into_dyn()));
        let col = ArrayChunk::I64(Arc::new(array![[2], [3]].into_dyn()));
        let out =
            BlockProduct { kind: ProductKind::Matmul }.call(rask_graph::args![Value::Array(big), Value::Array(col)]);
        assert_eq!(out.unwrap(), Value::Array(ArrayChunk::I64(Arc::new(array![[1]].into_dyn()))));
        let t = ArrayChunk::Bool(Arc::new(array![[true, false], [false, false]].into_dyn()));
        let out = BlockProduct { kind: ProductKind::Matmul }
            .call(rask_graph::args![Value::Array(t.clone()), Value::Array(t)]);
        assert_eq!(
            out.unwrap(),
            Value::Array(ArrayChunk::Bool(Arc::new(array![[true, false], [false, false]].into_dyn())))
        );
    }

    #[test]
    fn bad_arguments_are_errors() {
        let a = array![[1.0, 2.0]].into_dyn();
        let e = call(ProductKind::Matmul, vec![a.clone(), a.clone()]).unwrap_err().to_string();
        assert!(e.contains("[1, 2]"), "{e}");
        assert!(call(ProductKind::Matmul, vec![a.clone()]).is_err());
        assert!(call(ProductKind::Tensordot { axes: 3 }, vec![a.clone(), a]).is_err());
        let mixed = rask_graph::args![
            Value::Array(ArrayChunk::F64(Arc::new(array![[1.0]].into_dyn()))),
            Value::Array(ArrayChunk::I64(Arc::new(array![[1]].into_dyn())))
        ];
        assert!(BlockProduct { kind: ProductKind::Matmul }.call(mixed).unwrap_err().to_string().contains("mixed"));
    }
}

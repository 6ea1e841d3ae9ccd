//! Transposition, matrix products, tensordot and map_blocks against the same operations
//! done eagerly with ndarray (or plain loops) on whole arrays, over random shapes and
//! chunkings on every scheduler; numpy's 1-d, batch and dtype rules; the symmetric
//! product against the plain one; error messages.

use std::sync::Arc;

use ndarray::{Array2, ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use rask_collections::array::{
    Array, ChunkSpec, Elementwise, Expr, MapBlock, TensordotAxes, UnaryFn, dot, from_ndarray, matmul, matmul_with,
    tensordot, tensordot_with,
};
use rask_graph::{Args, ArrayChunk, Element, Op, OpError, Value, decode_op, encode_op};
use serde::{Deserialize, Serialize};

mod common;
use common::{chunks_for, f64_array, f64_data, options};

/// Equal shapes and elements within 1e-9 relative.
fn close(a: &ArrayD<f64>, b: &ArrayD<f64>) -> bool {
    a.shape() == b.shape() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0))
}

/// `x` computed on every scheduler, each result checked by `check`.
fn on_every_scheduler<T: Element>(x: &Array<T>, check: impl Fn(&ArrayD<T>) -> bool) -> bool {
    options().iter().all(|o| check(&x.compute_with(o).unwrap()))
}

/// A shape with an array of it, chunked at random.
fn array_of(shape: Vec<usize>, seed: u64) -> impl Strategy<Value = (ArrayD<f64>, ChunkSpec)> {
    chunks_for(shape.clone()).prop_map(move |chunks| (f64_data(&shape, seed), chunks))
}

/// A pair of matrices that multiply, each chunked at random.
fn matrix_pair() -> impl Strategy<Value = ((ArrayD<f64>, ChunkSpec), (ArrayD<f64>, ChunkSpec))> {
    (0usize..6, 0usize..6, 0usize..6, any::<u64>())
        .prop_flat_map(|(m, k, n, seed)| (array_of(vec![m, k], seed), array_of(vec![k, n], seed.rotate_left(9))))
}

/// numpy's `tensordot` by loops: `a`'s axes `xa` summed against `b`'s axes `xb`.
fn tensordot_loops(a: &ArrayD<f64>, b: &ArrayD<f64>, xa: &[usize], xb: &[usize]) -> ArrayD<f64> {
    let free = |n: usize, x: &[usize]| (0..n).filter(|i| !x.contains(i)).collect::<Vec<_>>();
    let (fa, fb) = (free(a.ndim(), xa), free(b.ndim(), xb));
    let out_shape: Vec<usize> = fa.iter().map(|&i| a.shape()[i]).chain(fb.iter().map(|&i| b.shape()[i])).collect();
    let inner: Vec<usize> = xa.iter().map(|&i| a.shape()[i]).collect();
    ArrayD::from_shape_fn(IxDyn(&out_shape), |out| {
        let mut total = 0.0;
        for k in ndarray::indices(IxDyn(&inner)) {
            let (mut ia, mut ib) = (vec![0; a.ndim()], vec![0; b.ndim()]);
            fa.iter().enumerate().for_each(|(d, &i)| ia[i] = out[d]);
            fb.iter().enumerate().for_each(|(d, &i)| ib[i] = out[fa.len() + d]);
            xa.iter().zip(xb).enumerate().for_each(|(d, (&i, &j))| (ia[i], ib[j]) = (k[d], k[d]));
            total += a[IxDyn(&ia)] * b[IxDyn(&ib)];
        }
        total
    })
}

/// numpy's `matmul` by loops: 1-d operands promoted to a row or a column (and the axis
/// dropped again), batch axes broadcast.
fn matmul_loops(a: &ArrayD<f64>, b: &ArrayD<f64>) -> ArrayD<f64> {
    let a2 = if a.ndim() == 1 { a.view().insert_axis(Axis(0)) } else { a.view() };
    let b2 = if b.ndim() == 1 { b.view().insert_axis(Axis(1)) } else { b.view() };
    let (na, nb) = (a2.ndim(), b2.ndim());
    let n = (na - 2).max(nb - 2);
    let dim = |s: &[usize], i: usize| if i + s.len() < n { 1 } else { s[i + s.len() - n] };
    let batch: Vec<usize> = (0..n).map(|i| dim(&a2.shape()[..na - 2], i).max(dim(&b2.shape()[..nb - 2], i))).collect();
    let (m, k, p) = (a2.shape()[na - 2], a2.shape()[na - 1], b2.shape()[nb - 1]);
    let stack = |rows, cols| batch.iter().copied().chain([rows, cols]).collect::<Vec<_>>();
    let (av, bv) = (a2.broadcast(stack(m, k)).unwrap(), b2.broadcast(stack(k, p)).unwrap());
    let out = ArrayD::from_shape_fn(IxDyn(&stack(m, p)), |at| {
        let (i, j) = (at[n], at[n + 1]);
        let with = |x: usize, y: usize| (0..n).map(|d| at[d]).chain([x, y]).collect::<Vec<_>>();
        (0..k).map(|t| av[IxDyn(&with(i, t))] * bv[IxDyn(&with(t, j))]).sum()
    });
    let keep: Vec<usize> =
        batch.iter().copied().chain((a.ndim() > 1).then_some(m)).chain((b.ndim() > 1).then_some(p)).collect();
    out.into_shape_with_order(keep).unwrap()
}

/// A random permutation of `n` axes.
fn permutation(n: usize, seed: u64) -> Vec<isize> {
    let mut axes: Vec<isize> = (0..n as isize).collect();
    for i in (1..n).rev() {
        axes.swap(i, (seed.rotate_left(i as u32 * 7) % (i as u64 + 1)) as usize);
    }
    axes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn transposes_match_ndarray((a, chunks) in f64_array(), seed in any::<u64>()) {
        let x = from_ndarray(&a, chunks).unwrap();
        let axes = permutation(a.ndim(), seed);
        let perm: Vec<usize> = axes.iter().map(|&i| i as usize).collect();
        let y = x.transpose(Some(&axes)).unwrap();
        let expected = a.view().permuted_axes(perm.clone()).to_owned();
        prop_assert_eq!(y.shape(), expected.shape());
        prop_assert!(on_every_scheduler(&y, |r| *r == expected));
        prop_assert_eq!(x.t().compute().unwrap(), a.t().to_owned());
        if a.ndim() >= 2 {
            let mut swapped = a.view();
            swapped.swap_axes(0, a.ndim() - 1);
            prop_assert_eq!(x.swapaxes(0, -1).unwrap().compute().unwrap(), swapped.to_owned());
        }
    }

    #[test]
    fn matrix_products_match_ndarray_dot(((a, ca), (b, cb)) in matrix_pair()) {
        let (x, y) = (from_ndarray(&a, ca).unwrap(), from_ndarray(&b, cb).unwrap());
        let expected = a.view().into_dimensionality::<ndarray::Ix2>().unwrap().dot(&b.view().into_dimensionality::<ndarray::Ix2>().unwrap()).into_dyn();
        let product = matmul(&x, &y).unwrap();
        prop_assert!(on_every_scheduler(&product, |r| close(r, &expected)));
        prop_assert!(close(&matmul_with(&x, &y, 2).unwrap().compute().unwrap(), &expected), "tree of partial sums");
        prop_assert!(close(&x.dot(&y).unwrap().compute().unwrap(), &expected));
    }

    #[test]
    fn one_d_operands_follow_numpy(((a, ca), (b, cb)) in matrix_pair(), seed in any::<u64>()) {
        let (x, y) = (from_ndarray(&a, ca).unwrap(), from_ndarray(&b, cb.clone()).unwrap());
        let k = a.shape()[1];
        let v = f64_data(&[k], seed);
        let w = f64_data(&[b.shape()[1]], seed ^ 1);
        let (xv, xw) = (from_ndarray(&v, [2]).unwrap(), from_ndarray(&w, [3]).unwrap());
        prop_assert!(on_every_scheduler(&matmul(&xv, &y).unwrap(), |r| close(r, &matmul_loops(&v, &b))), "vector @ matrix");
        prop_assert!(on_every_scheduler(&matmul(&x, &xv).unwrap(), |r| close(r, &matmul_loops(&a, &v))), "matrix @ vector");
        let inner = matmul(&xv, &xv).unwrap();
        prop_assert_eq!(inner.shape(), &[] as &[usize]);
        prop_assert!(close(&inner.compute().unwrap(), &ndarray::arr0(v.iter().map(|e| e * e).sum()).into_dyn()));
        prop_assert!(close(&matmul_with(&y, &xw, 2).unwrap().compute().unwrap(), &matmul_loops(&b, &w)));
    }

    #[test]
    fn batch_axes_broadcast(
        (batch_a, batch_b) in (proptest::collection::vec(1usize..4, 0..3), any::<u8>()).prop_map(|(b, ones)| {
            let other: Vec<usize> = b.iter().enumerate().map(|(i, &n)| if ones >> i & 1 == 1 { 1 } else { n }).collect();
            let cut = (ones >> 4) as usize % (b.len() + 1);
            if ones & 0x80 == 0 { (b, other[cut..].to_vec()) } else { (other[cut..].to_vec(), b) }
        }),
        (m, k, n, seed) in (0usize..4, 0usize..4, 0usize..4, any::<u64>()),
        vectors in 0u8..3,
    ) {
        let sa: Vec<usize> = batch_a.iter().copied().chain([m, k]).collect();
        let sb: Vec<usize> = batch_b.iter().copied().chain([k, n]).collect();
        let (sa, sb) = match vectors { 1 => (vec![k], sb), 2 => (sa, vec![k]), _ => (sa, sb) };
        let (a, b) = (f64_data(&sa, seed), f64_data(&sb, seed ^ 5));
        let chunk = |s: &[usize]| ChunkSpec::uniform(&s.iter().map(|&l| 1 + l / 2).collect::<Vec<_>>());
        let (x, y) = (from_ndarray(&a, chunk(&sa)).unwrap(), from_ndarray(&b, chunk(&sb)).unwrap());
        let expected = matmul_loops(&a, &b);
        let product = matmul(&x, &y).unwrap();
        prop_assert_eq!(product.shape(), expected.shape());
        prop_assert!(on_every_scheduler(&product, |r| close(r, &expected)));
    }

    #[test]
    fn symmetric_products_equal_plain_ones((a, chunks) in (0usize..7, 0usize..7, any::<u64>()).prop_flat_map(|(m, k, s)| array_of(vec![m, k], s)), split in 2usize..4) {
        let x = from_ndarray(&a, chunks).unwrap();
        let plain_t = from_ndarray(&a.t().to_owned(), x.t().chunks().to_vec()).unwrap();
        let a2 = a.view().into_dimensionality::<ndarray::Ix2>().unwrap();
        let outer = matmul_with(&x, &x.t(), split).unwrap();
        prop_assert!(on_every_scheduler(&outer, |r| close(r, &a2.dot(&a2.t()).into_dyn())));
        prop_assert!(close(&outer.compute().unwrap(), &matmul_with(&x, &plain_t, split).unwrap().compute().unwrap()));
        let inner = matmul_with(&x.t(), &x, split).unwrap();
        prop_assert!(on_every_scheduler(&inner, |r| close(r, &a2.t().dot(&a2).into_dyn())));
        prop_assert!(close(&inner.compute().unwrap(), &matmul_with(&plain_t, &x, split).unwrap().compute().unwrap()));
    }

    #[test]
    fn tensordot_matches_loops(
        (inner, free_a, free_b) in (proptest::collection::vec(0usize..4, 0..3), proptest::collection::vec(1usize..4, 0..3), proptest::collection::vec(1usize..4, 0..2)),
        (seed, split) in (any::<u64>(), 2usize..4),
    ) {
        // Contracted axes interleaved with free ones, in a shuffled pairing.
        let order_a = permutation(inner.len() + free_a.len(), seed);
        let sa: Vec<usize> = order_a.iter().map(|&i| if (i as usize) < inner.len() { inner[i as usize] } else { free_a[i as usize - inner.len()] }).collect();
        let xa: Vec<usize> = (0..inner.len()).map(|c| order_a.iter().position(|&i| i as usize == c).unwrap()).collect();
        let sb: Vec<usize> = free_b.iter().copied().chain(inner.iter().copied()).collect();
        let xb: Vec<usize> = (free_b.len()..sb.len()).collect();
        let (a, b) = (f64_data(&sa, seed), f64_data(&sb, seed ^ 3));
        let chunk = |s: &[usize], d: usize| ChunkSpec::uniform(&s.iter().map(|&l| 1 + l / d).collect::<Vec<_>>());
        let (x, y) = (from_ndarray(&a, chunk(&sa, 2)).unwrap(), from_ndarray(&b, chunk(&sb, 3)).unwrap());
        let to_isize = |v: &[usize]| v.iter().map(|&i| i as isize).collect::<Vec<_>>();
        let expected = tensordot_loops(&a, &b, &xa, &xb);
        let z = tensordot(&x, &y, (to_isize(&xa), to_isize(&xb))).unwrap();
        prop_assert!(on_every_scheduler(&z, |r| close(r, &expected)));
        let tree = tensordot_with(&x, &y, TensordotAxes::Pairs(to_isize(&xa), to_isize(&xb)), split).unwrap();
        prop_assert!(close(&tree.compute().unwrap(), &expected));
    }

    #[test]
    fn map_blocks_applies_closures_per_block((a, chunks) in f64_array()) {
        let x = from_ndarray(&a, chunks).unwrap();
        let y = x.map_blocks("affine", |b| b.mapv(|v| 2.0 * v + 1.0), None).unwrap();
        prop_assert_eq!(y.chunks(), x.chunks());
        prop_assert!(on_every_scheduler(&y, |r| *r == a.mapv(|v| 2.0 * v + 1.0)));
        let counts = x.map_blocks("count", |b| ArrayD::from_elem(vec![1; b.ndim()], b.len() as i64), Some(ChunkSpec::uniform(&vec![1; a.ndim()]))).unwrap();
        let expected = ArrayD::from_shape_fn(IxDyn(&x.numblocks()), |i| x.chunks().iter().enumerate().map(|(d, c)| c[i[d]]).product::<usize>() as i64);
        prop_assert!(on_every_scheduler(&counts, |r| *r == expected));
    }
}

#[test]
fn integer_products_are_exact_and_wrap() {
    let a = Array2::from_shape_fn((5, 7), |(i, j)| {
        ((i as i64 - 2) * 1_000_000_007).wrapping_add((i64::MAX / 3).wrapping_mul(j as i64))
    });
    let b = Array2::from_shape_fn((7, 4), |(i, j)| (j as i64 + 1) * 998_244_353 - i as i64 * 31);
    let expected = Array2::from_shape_fn((5, 4), |(i, j)| {
        (0..7).fold(0i64, |s, k| s.wrapping_add(a[[i, k]].wrapping_mul(b[[k, j]])))
    });
    let (x, y) = (from_ndarray(&a, [2, 3]).unwrap(), from_ndarray(&b, [2, 2]).unwrap());
    for options in options() {
        assert_eq!(matmul_with(&x, &y, 2).unwrap().compute_with(&options).unwrap(), expected.clone().into_dyn());
    }
    let small = from_ndarray(&ndarray::array![[70_000i32, 1], [2, 3]], [1, 1]).unwrap();
    let squared: Array<i32> = matmul(&small, &small).unwrap();
    let wrapped = 70_000i32.wrapping_mul(70_000).wrapping_add(2);
    assert_eq!(squared.compute().unwrap(), ndarray::array![[wrapped, 70_003], [140_006, 11]].into_dyn());
}

#[test]
fn bool_products_are_or_of_ands_and_types_promote() {
    let a = ndarray::array![[true, false], [false, false]];
    let b = ndarray::array![[false, true], [true, true]];
    let (x, y) = (from_ndarray(&a, [1, 1]).unwrap(), from_ndarray(&b, [1, 2]).unwrap());
    let product: Array<bool> = matmul(&x, &y).unwrap();
    assert_eq!(product.compute().unwrap(), ndarray::array![[false, true], [false, false]].into_dyn());
    let ints = from_ndarray(&ndarray::array![[1i32, 2], [3, 4]], [1, 2]).unwrap();
    let counted: Array<i32> = matmul(&x, &ints).unwrap();
    assert_eq!(counted.compute().unwrap(), ndarray::array![[1, 2], [0, 0]].into_dyn());
    let floats = from_ndarray(&ndarray::array![[0.5f32, 0.0], [0.0, 0.5]], [2, 2]).unwrap();
    let mixed: Array<f64> = matmul(&ints, &floats).unwrap();
    assert_eq!(mixed.compute().unwrap(), ndarray::array![[0.5, 1.0], [1.5, 2.0]].into_dyn());
    let single: Array<f32> = matmul(&floats, &floats).unwrap();
    assert_eq!(single.dtype().name(), "float32");
}

#[test]
fn empty_contractions_give_zeros() {
    let x = from_ndarray(&ArrayD::<f64>::zeros(vec![3, 0]), [2, 1]).unwrap();
    let y = from_ndarray(&ArrayD::<f64>::zeros(vec![0, 4]), [1, 3]).unwrap();
    for options in options() {
        assert_eq!(matmul(&x, &y).unwrap().compute_with(&options).unwrap(), ArrayD::<f64>::zeros(vec![3, 4]));
    }
    let v = from_ndarray(&ArrayD::<i64>::zeros(vec![0]), [1]).unwrap();
    assert_eq!(matmul(&v, &v).unwrap().compute().unwrap(), ndarray::arr0(0i64).into_dyn());
    assert_eq!(tensordot(&x, &y, 1).unwrap().compute().unwrap(), ArrayD::<f64>::zeros(vec![3, 4]));
    assert_eq!(matmul(&x.t(), &x).unwrap().compute().unwrap(), ArrayD::<f64>::zeros(vec![0, 0]));
}

#[test]
fn one_element_and_zero_d_operands() {
    let one = from_ndarray(&ndarray::array![[3.0]], [1, 1]).unwrap();
    assert_eq!(matmul(&one, &one.t()).unwrap().compute().unwrap(), ndarray::array![[9.0]].into_dyn());
    let scalar = from_ndarray(&ndarray::arr0(2.0), ChunkSpec::Whole).unwrap();
    assert_eq!(dot(&scalar, &one).unwrap().compute().unwrap(), ndarray::array![[6.0]].into_dyn());
    assert_eq!(tensordot(&scalar, &one, 0).unwrap().compute().unwrap(), ndarray::array![[6.0]].into_dyn());
    let e = matmul(&scalar, &one).unwrap_err().to_string();
    assert!(e.contains("[]") && e.contains("[1, 1]") && e.contains("0-d"), "{e}");
}

#[test]
fn dot_of_stacks_contracts_the_last_axis_with_the_second_to_last() {
    let a = f64_data(&[2, 3, 4], 1);
    let b = f64_data(&[3, 4, 2], 2);
    let v = f64_data(&[4], 3);
    let (x, y, w) =
        (from_ndarray(&a, [1, 2, 3]).unwrap(), from_ndarray(&b, [2, 2, 1]).unwrap(), from_ndarray(&v, [3]).unwrap());
    assert!(close(&dot(&x, &y).unwrap().compute().unwrap(), &tensordot_loops(&a, &b, &[2], &[1])));
    assert!(close(&x.dot(&w).unwrap().compute().unwrap(), &tensordot_loops(&a, &v, &[2], &[0])));
    assert!(close(&dot(&w, &y).unwrap().compute().unwrap(), &tensordot_loops(&v, &b, &[0], &[1])));
}

#[test]
fn a_symmetric_product_multiplies_only_the_upper_blocks_and_skips_the_transpose() {
    let a = f64_data(&[600, 50], 11);
    let x = from_ndarray(&a, [300, 25]).unwrap();
    let outer = x.matmul(&x.t()).unwrap();
    // The input's 4 blocks and the 4 output blocks: no transposed input blocks.
    assert_eq!(outer.task_count(), 4 + 4);
    let a2 = a.view().into_dimensionality::<ndarray::Ix2>().unwrap();
    let expected = a2.dot(&a2.t()).into_dyn();
    let result = outer.compute().unwrap();
    assert!(close(&result, &expected));
    assert_eq!(result, result.t(), "exactly symmetric");
    let plain = from_ndarray(&a.t().to_owned(), [25, 300]).unwrap();
    assert!(close(&result, &x.matmul(&plain).unwrap().compute().unwrap()));
}

#[test]
fn shape_mistakes_are_errors_naming_the_shapes() {
    let x = from_ndarray(&f64_data(&[2, 3], 1), [1, 1]).unwrap();
    let y = from_ndarray(&f64_data(&[4, 5], 2), [2, 2]).unwrap();
    let e = matmul(&x, &y).unwrap_err().to_string();
    assert!(e.contains("[2, 3]") && e.contains("[4, 5]") && e.contains("matmul"), "{e}");
    let s1 = from_ndarray(&f64_data(&[2, 3, 3], 1), [1, 3, 3]).unwrap();
    let s2 = from_ndarray(&f64_data(&[4, 3, 3], 1), [1, 3, 3]).unwrap();
    let e = matmul(&s1, &s2).unwrap_err().to_string();
    assert!(e.contains("[2, 3, 3]") && e.contains("[4, 3, 3]") && e.contains("batch"), "{e}");
    let e = tensordot(&x, &y, ([1], [0])).unwrap_err().to_string();
    assert!(e.contains("tensordot") && e.contains("[2, 3]") && e.contains("[4, 5]"), "{e}");
    let e = tensordot(&x, &y, 3).unwrap_err().to_string();
    assert!(e.contains("last 3 axes"), "{e}");
    let e = tensordot(&x, &y, ([2], [0])).unwrap_err().to_string();
    assert!(e.contains("axis 2") && e.contains("[2, 3]"), "{e}");
    let e = tensordot(&x, &x, ([0, 0], [0, 1])).unwrap_err().to_string();
    assert!(e.contains("repeated"), "{e}");
    let e = tensordot(&x, &x, (vec![0], vec![0, 1])).unwrap_err().to_string();
    assert!(e.contains("pairs"), "{e}");
    assert!(matmul_with(&x, &x.t(), 1).unwrap_err().to_string().contains("split_every"));
    let e = x.transpose(Some(&[0])).unwrap_err().to_string();
    assert!(e.contains("[0]") && e.contains("[2, 3]"), "{e}");
    let e = x.swapaxes(0, -3).unwrap_err().to_string();
    assert!(e.contains("-3") && e.contains("[2, 3]"), "{e}");
    let broken = &x + &y;
    assert!(broken.t().error().is_some());
    assert!(matmul(&broken, &x).is_err());
}

/// A user's registered op: doubles a float64 block.
#[derive(Debug, Serialize, Deserialize)]
struct Double;

#[typetag::serde(name = "test.linalg.double")]
impl Op for Double {
    fn name(&self) -> &str {
        "double"
    }
    fn call(&self, args: Args) -> Result<Value, OpError> {
        match args.first() {
            Some(Value::Array(chunk)) => match f64::unwrap(chunk) {
                Some(b) => Ok(Value::Array(f64::wrap(Arc::new(b.mapv(|v| 2.0 * v))))),
                None => Err(OpError::new("double takes float64 blocks")),
            },
            _ => Err(OpError::new("double takes one block")),
        }
    }
}

#[test]
fn map_blocks_with_a_registered_op_is_portable_and_deterministic() {
    let a = f64_data(&[5, 4], 9);
    let x = from_ndarray(&a, [2, 3]).unwrap();
    let y = x.map_blocks_op::<f64>(Arc::new(Double), None).unwrap();
    for options in options() {
        assert_eq!(y.compute_with(&options).unwrap(), a.mapv(|v| 2.0 * v));
    }
    assert_eq!(y.block_key(&[0, 0]), x.map_blocks_op::<f64>(Arc::new(Double), None).unwrap().block_key(&[0, 0]));
    let wrapped = MapBlock { op: Arc::new(Double), shape: vec![1], dtype: rask_graph::DType::F64 };
    let back = decode_op(&encode_op(&wrapped).unwrap()).unwrap();
    let block = Value::Array(ArrayChunk::F64(Arc::new(ndarray::array![1.5].into_dyn())));
    assert_eq!(
        back.call(rask_graph::args![block]).unwrap(),
        Value::Array(f64::wrap(Arc::new(ndarray::array![3.0].into_dyn())))
    );
    let abs = Elementwise { name: "abs".into(), expr: Expr::Unary(UnaryFn::Abs, Box::new(Expr::Input(0))) };
    let z = x.map_blocks_op::<i64>(Arc::new(abs), None).unwrap();
    let e = z.compute().unwrap_err().to_string();
    // Every block is float64, so whichever fails first is named.
    let names_a_block = (0..3).any(|i| (0..2).any(|j| e.contains(&z.block_key(&[i, j]).to_string())));
    assert!(names_a_block && e.contains("float64") && e.contains("int64"), "{e}");
}

#[test]
fn map_blocks_errors_name_the_block_or_the_chunks() {
    let x = from_ndarray(&f64_data(&[5], 1), [2]).unwrap();
    let short = x.map_blocks("short", |b| b.slice(ndarray::s![..1]).to_owned().into_dyn(), None).unwrap();
    let downstream = &short + 1.0;
    for options in options() {
        // Blocks 0 and 1 (length 2) both come back short; whichever fails first is named.
        let e = downstream.compute_with(&options).unwrap_err().to_string();
        let names_a_short_block = [0, 1].iter().any(|&i| e.contains(&short.block_key(&[i]).to_string()));
        assert!(names_a_short_block && e.contains("[2]") && !e.contains(&short.block_key(&[2]).to_string()), "{e}");
    }
    let panicky = x.map_blocks("panicky", |b: &ArrayD<f64>| -> ArrayD<f64> { panic!("no {}", b.len()) }, None).unwrap();
    let e = panicky.compute().unwrap_err().to_string();
    assert!(e.contains("panicked") && e.contains("no "), "{e}");
    let e = x.map_blocks("f", |b| b.clone(), Some(ChunkSpec::explicit(vec![vec![5]]))).unwrap_err().to_string();
    assert!(e.contains("[[5]]") && e.contains("[2, 2, 1]"), "{e}");
    assert!(x.map_blocks("f", |b| b.clone(), Some(ChunkSpec::Whole)).is_err());
    assert!(x.map_blocks("f", |b| b.clone(), Some(ChunkSpec::uniform(&[1, 1]))).is_err());
}

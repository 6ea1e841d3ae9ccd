//! Unknown chunk sizes and lazy boolean masks: `extract` against numpy's `x[m]` done
//! eagerly (the elements where the mask is true, in C order) over random shapes,
//! chunkings and masks (0-d, empty, all-false included) on every scheduler; then
//! `compute_chunk_sizes` and the operations an array of unknown sizes allows (reductions,
//! elementwise with scalars, 0-d arrays and arrays of its own structure), and the errors
//! of every other operation, which must ask for `compute_chunk_sizes()` and never panic.

use ndarray::{ArrayD, s};
use proptest::prelude::*;
use rask_collections::array::{
    self, Array, ChunkSpec, concatenate, dot, from_blocks, from_ndarray, matmul, stack, tensordot, where_,
};

mod common;
use common::{chunks_for, f64_data, options, shape_and_chunks};

/// A mask of `shape` from a seed: true with probability `density / 4` (0: all false).
fn mask_data(shape: &[usize], seed: u64, density: u64) -> ArrayD<bool> {
    let values = f64_data(shape, seed);
    values.mapv(|v| ((v * 4.0) as i64).rem_euclid(4) < density as i64)
}

/// numpy's `a[m]`: the elements where `m` is true, in C order.
fn eager_extract(a: &ArrayD<f64>, m: &ArrayD<bool>) -> Vec<f64> {
    a.iter().zip(m.iter()).filter(|&(_, &keep)| keep).map(|(&v, _)| v).collect()
}

fn vector(values: Vec<f64>) -> ArrayD<f64> {
    ndarray::Array1::from(values).into_dyn()
}

/// The one element of a 0-d result.
fn scalar(r: ArrayD<f64>) -> f64 {
    r.first().copied().expect("a 0-d result")
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-12 * a.abs().max(1.0)
}

/// An array, a mask of its shape with chunks of its own, and the mask's density.
fn masked_array() -> impl Strategy<Value = (ArrayD<f64>, ChunkSpec, ArrayD<bool>, ChunkSpec)> {
    (shape_and_chunks(), any::<u64>(), 0u64..=4).prop_flat_map(|((shape, chunks), seed, density)| {
        let (a, m) = (f64_data(&shape, seed), mask_data(&shape, seed.rotate_left(17), density));
        (Just(a), Just(chunks.clone()), Just(m), prop_oneof![Just(chunks), chunks_for(shape)])
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn extract_selects_like_numpy_and_learns_its_chunk_sizes((a, chunks, m, mask_chunks) in masked_array()) {
        let x = from_ndarray(&a, chunks).unwrap();
        let mask = from_ndarray(&m, mask_chunks).unwrap();
        let y = x.extract(&mask).unwrap();
        let expected = vector(eager_extract(&a, &m));
        prop_assert_eq!(y.known_shape(), vec![None]);
        prop_assert!(!y.chunk_sizes_known());
        for options in options() {
            prop_assert_eq!(&y.compute_with(&options).unwrap(), &expected);
            let known = y.compute_chunk_sizes_with(&options).unwrap();
            prop_assert!(known.chunk_sizes_known());
            prop_assert_eq!(known.shape(), &[expected.len()]);
            prop_assert_eq!(known.numblocks(), y.numblocks());
            prop_assert_eq!(known.task_count(), known.npartitions());
            prop_assert_eq!(&known.compute_with(&options).unwrap(), &expected);
        }
        if x.chunks() == mask.chunks() {
            // One output block per block of the raveled input: its count of true elements.
            let mut flags = m.iter();
            let counts: Vec<usize> = x.ravel().unwrap().chunks()[0]
                .iter()
                .map(|&n| flags.by_ref().take(n).filter(|&&keep| keep).count())
                .collect();
            prop_assert_eq!(y.compute_chunk_sizes().unwrap().chunks().to_vec(), vec![counts]);
        }
    }

    #[test]
    fn arrays_of_unknown_sizes_reduce_and_combine_like_numpy((a, chunks, _, _) in masked_array(), cut in -6i32..6) {
        let threshold = f64::from(cut) / 2.0;
        let x = from_ndarray(&a, chunks).unwrap();
        let y = x.extract(&x.greater(threshold).unwrap()).unwrap();
        let kept = eager_extract(&a, &a.mapv(|v| v > threshold));
        let n = kept.len();
        let sum: f64 = kept.iter().sum();
        let max = kept.iter().copied().reduce(f64::max);
        let min = kept.iter().copied().reduce(f64::min);
        let mean = sum / n as f64;
        // numpy's argmax/argmin: the first index of the extreme.
        let first_index = |best: Option<f64>| best.and_then(|b| kept.iter().position(|&v| v == b)).map(|i| i as i64);
        let var = kept.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
        for options in options() {
            prop_assert!(close(scalar(y.sum(..).unwrap().compute_with(&options).unwrap()), sum));
            prop_assert!(close(scalar(y.mean(..).unwrap().compute_with(&options).unwrap()), mean));
            let found = y.max(..).unwrap().compute_with(&options);
            match max {
                Some(max) => prop_assert_eq!(scalar(found.unwrap()), max),
                None => prop_assert!(found.unwrap_err().to_string().contains("zero-size array to reduction operation max")),
            }
        }
        prop_assert_eq!(y.min(0).unwrap().compute().ok().map(scalar), min);
        for options in options() {
            let argmax = y.argmax(..).unwrap().compute_with(&options).ok().and_then(|r| r.first().copied());
            prop_assert_eq!(argmax, first_index(max));
        }
        prop_assert_eq!(y.argmin(0).unwrap().compute().ok().and_then(|r| r.first().copied()), first_index(min));
        prop_assert_eq!(y.nanmax(..).unwrap().compute().ok().map(scalar), max);
        prop_assert!(close(y.var(..).unwrap().compute_scalar().unwrap(), var));
        prop_assert_eq!(y.any(..).unwrap().compute_scalar().unwrap(), kept.iter().any(|&v| v != 0.0));
        let kept_dims = y.sum_with(.., &array::ReduceOptions::new().keepdims(true)).unwrap();
        prop_assert_eq!(kept_dims.shape(), &[1]);
        prop_assert_eq!(kept_dims.compute().unwrap().len(), 1);
        // Elementwise with scalars, unary functions, astype, 0-d arrays and arrays of y's own structure.
        let scaled = (&y * 2.0 + 1.0).abs().unwrap();
        prop_assert_eq!(scaled.known_shape(), vec![None]);
        prop_assert_eq!(scaled.compute().unwrap(), vector(kept.iter().map(|v| (v * 2.0 + 1.0).abs()).collect()));
        let squares = &y + &(&y * &y);
        prop_assert_eq!(squares.compute().unwrap(), vector(kept.iter().map(|v| v + v * v).collect()));
        let ints: Array<i64> = y.astype().unwrap();
        prop_assert_eq!(ints.compute().unwrap(), ndarray::Array1::from_iter(kept.iter().map(|&v| v as i64)).into_dyn());
        let shifted = &y - &array::full(&[], ChunkSpec::Whole, 0.5).unwrap();
        prop_assert_eq!(shifted.compute().unwrap(), vector(kept.iter().map(|v| v - 0.5).collect()));
        let clipped = where_(&y.greater(1.0).unwrap(), &y, 1.0).unwrap();
        prop_assert_eq!(clipped.compute().unwrap(), vector(kept.iter().map(|&v| if v > 1.0 { v } else { 1.0 }).collect()));
        let positive = y.extract(&y.greater(0.0).unwrap()).unwrap();
        prop_assert_eq!(positive.compute().unwrap(), vector(kept.iter().copied().filter(|&v| v > 0.0).collect()));
        prop_assert!(close(positive.sum(..).unwrap().compute_scalar().unwrap(), kept.iter().filter(|&&v| v > 0.0).sum()));
    }
}

/// An array of unknown chunk sizes from a 2-d array: the positive elements of
/// `[[1, -2, 3], [-4, 5, -6]]` chunked by `[1, 2]`.
fn positives() -> (Array<f64>, Array<f64>) {
    let x = from_ndarray(&ndarray::array![[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]], [1, 2]).unwrap();
    let y = x.extract(&x.greater(0.0).unwrap()).unwrap();
    (x, y)
}

#[test]
fn every_operation_that_needs_chunk_sizes_asks_for_compute_chunk_sizes() {
    let (x, y) = positives();
    let known = array::ones::<f64>(&[3], [1]).unwrap();
    let ints = array::zeros::<i64>(&[3], [1]).unwrap();
    let file = std::env::temp_dir().join("rask-unknown-sizes.npy");
    let refusals: Vec<(&str, rask_collections::Result<()>)> = vec![
        ("rechunk", y.rechunk([2]).map(drop)),
        ("reshape", y.reshape(&[-1, 1]).map(drop)),
        ("ravel", y.ravel().map(drop)),
        ("slice", y.slice(s![1..]).map(drop)),
        ("blocks", y.blocks(s![0]).map(drop)),
        ("take", y.take(&[0], 0).map(drop)),
        ("compress", y.compress(&[true], 0).map(drop)),
        ("mask", y.mask(&ndarray::array![true]).map(drop)),
        ("transpose", y.transpose(None).map(drop)),
        ("t", y.t().error().cloned().map_or(Ok(()), Err)),
        ("swapaxes", y.swapaxes(0, 0).map(drop)),
        ("squeeze", y.squeeze(..).map(drop)),
        ("expand_dims", y.expand_dims(0).map(drop)),
        ("cumsum", y.cumsum(0).map(drop)),
        ("cumprod", y.cumprod(0).map(drop)),
        ("concatenate", concatenate(&[&y, &y], 0).map(drop)),
        ("stack", stack(&[&y, &y], 0).map(drop)),
        ("matmul", matmul(&y, &y).map(drop)),
        ("dot", dot(&y, &known).map(drop)),
        ("tensordot", tensordot(&y, &y, 1).map(drop)),
        ("from_blocks", from_blocks(std::slice::from_ref(&y), &[1]).map(drop)),
        ("map_blocks", y.map_blocks("copy", |b: &ArrayD<f64>| b.clone(), None).map(drop)),
        ("to_npy", y.to_npy(&file)),
        ("compute_scalar", y.compute_scalar().map(drop)),
        ("add a known array", y.try_add(&known).map(drop)),
        ("multiply a known array", (&ints * &y).error().cloned().map_or(Ok(()), Err)),
        ("where with a known condition", where_(&known.greater(0.0).unwrap(), &y, 0.0).map(drop)),
        ("extract by a known mask", y.extract(&known.greater(0.0).unwrap()).map(drop)),
        ("extract from a known array", x.extract(&y.greater(0.0).unwrap()).map(drop)),
        ("combine other structures", y.try_add(&known.extract(&known.greater(0.0).unwrap()).unwrap()).map(drop)),
    ];
    for (what, result) in refusals {
        let e = result.expect_err(what).to_string();
        assert!(e.contains("Arrays chunk sizes are unknown") && e.contains("x.compute_chunk_sizes()"), "{what}: {e}");
        assert!(e.contains("shape=(nan,)"), "{what}: {e}");
    }
    let e = y.rechunk([2]).unwrap_err().to_string();
    assert_eq!(
        e,
        "Arrays chunk sizes are unknown: shape=(nan,), chunks=((nan, nan, nan, nan),) (made by extract); this \
         operation needs them. A possible solution: x.compute_chunk_sizes() computes the array once and returns it \
         with known chunk sizes"
    );
    assert!(!file.exists());
}

#[test]
fn shapes_chunks_and_display_say_nan() {
    let (_, y) = positives();
    assert_eq!((y.known_shape(), y.known_chunks()), (vec![None], vec![None]));
    assert_eq!((y.numblocks(), y.npartitions(), y.ndim()), (vec![4], 4, 1));
    assert_eq!((y.shape(), y.size(), y.nbytes()), (&[0][..], 0, 0));
    let shown = y.to_string();
    assert!(shown.starts_with("rask.Array<extract, shape=(nan,), dtype=float64, chunksize=(nan,)"), "{shown}");
    assert!(shown.ends_with(&format!("tasks={}>", y.task_count())), "{shown}");
    let known = y.compute_chunk_sizes().unwrap();
    assert_eq!(known.chunks(), &[vec![1, 1, 1, 0]]);
    assert!(known.to_string().contains("shape=(3,), dtype=float64, chunksize=(1,)"), "{}", known);
    assert_eq!(known.compute().unwrap(), ndarray::array![1.0, 3.0, 5.0].into_dyn());
    let same_keys = (0..4).all(|i| known.block_key(&[i]) == y.block_key(&[i]));
    assert!(same_keys);
    assert_eq!(y.persist().unwrap().chunks(), known.chunks());
}

#[test]
fn masks_of_another_shape_are_errors_naming_both_shapes() {
    let x = array::ones::<i32>(&[2, 3], [1, 2]).unwrap();
    let m = array::ones::<bool>(&[3, 2], [1, 2]).unwrap();
    let e = x.extract(&m).unwrap_err().to_string();
    assert_eq!(e, "extract: a boolean condition of shape [3, 2] does not fit an array of shape [2, 3]");
    let broken = &x + &array::ones::<i32>(&[4], [1]).unwrap();
    assert!(broken.extract(&m).is_err() && x.extract(&(&m & &array::ones::<bool>(&[5], [1]).unwrap())).is_err());
}

#[test]
fn zero_d_and_empty_arrays_extract_like_numpy() {
    let scalar = array::full(&[], ChunkSpec::Whole, 7i64).unwrap();
    let yes = array::full(&[], ChunkSpec::Whole, true).unwrap();
    assert_eq!(scalar.extract(&yes).unwrap().compute().unwrap(), ndarray::array![7i64].into_dyn());
    let no = yes.logical_not().unwrap();
    assert_eq!(scalar.extract(&no).unwrap().compute().unwrap().shape(), &[0]);
    let empty = array::zeros::<f32>(&[0, 3], [2, 2]).unwrap();
    let picked = empty.extract(&empty.greater(0.0f64).unwrap()).unwrap();
    assert_eq!(picked.compute().unwrap().shape(), &[0]);
    assert_eq!(picked.sum(..).unwrap().compute_scalar().unwrap(), 0.0);
    assert!(picked.mean(..).unwrap().compute_scalar().unwrap().is_nan());
    assert!(picked.compute_chunk_sizes().unwrap().chunk_sizes_known());
}

#[test]
fn reductions_without_identity_of_nothing_fail_when_computed() {
    let x = from_ndarray(&f64_data(&[4, 5], 3), [2, 2]).unwrap();
    let none = x.extract(&x.greater(100.0).unwrap()).unwrap();
    for (what, result) in [
        ("max", none.max(..).unwrap().compute()),
        ("min", none.min(..).unwrap().compute()),
        ("nanmin", none.nanmin(0).unwrap().compute()),
        ("max", none.max_with(.., &array::ReduceOptions::new().keepdims(true)).unwrap().compute()),
    ] {
        let e = result.unwrap_err().to_string();
        assert!(e.contains(&format!("zero-size array to reduction operation {what} which has no identity")), "{e}");
    }
    for (what, result) in
        [("argmax", none.argmax(..).unwrap().compute()), ("argmin", none.argmin(0).unwrap().compute())]
    {
        let e = result.unwrap_err().to_string();
        assert!(e.contains(&format!("attempt to get {what} of an empty sequence")), "{e}");
    }
    assert_eq!(none.sum(..).unwrap().compute_scalar().unwrap(), 0.0);
    assert_eq!(none.prod(..).unwrap().compute_scalar().unwrap(), 1.0);
    assert!(!none.any(..).unwrap().compute_scalar().unwrap());
}

#[test]
fn blocks_of_one_structure_that_differ_when_computed_are_an_error() {
    let x = from_ndarray(&ndarray::array![1.0, 2.0, 3.0, 4.0], [2]).unwrap();
    let first = x.extract(&from_ndarray(&ndarray::array![true, true, false, true], [2]).unwrap()).unwrap();
    let second = x.extract(&from_ndarray(&ndarray::array![true, false, true, true], [2]).unwrap()).unwrap();
    let sum = first.try_add(&second).unwrap();
    for options in options() {
        let e = sum.compute_with(&options).unwrap_err().to_string();
        assert!(
            e.contains("add: blocks of shapes [2], [1] do not match") || e.contains("[1], [2] do not match"),
            "{e}"
        );
    }
    let third = x.extract(&x.greater(1.5).unwrap()).unwrap();
    let e = first.extract(&third.greater(0.0).unwrap()).unwrap().compute().unwrap_err().to_string();
    assert!(e.contains("does not fit a block"), "{e}");
    let equal_counts = x.extract(&from_ndarray(&ndarray::array![false, true, true, true], [2]).unwrap()).unwrap();
    let pairs = second.try_mul(&equal_counts).unwrap().compute().unwrap();
    assert_eq!(pairs, ndarray::array![2.0, 9.0, 16.0].into_dyn());
}

#[test]
fn argmin_and_argmax_index_the_selection_across_empty_blocks() {
    let x = from_ndarray(&ndarray::array![9.0, 0.0, 0.0, 9.0, 9.0, 1.0, f64::NAN, 2.0], [2]).unwrap();
    let picks = |mask: ndarray::Array1<bool>| x.extract(&from_ndarray(&mask, [2]).unwrap()).unwrap();
    let index = |a: Array<i64>| a.compute_scalar().unwrap();
    // Blocks of [9, 0], [0, 9], [9, 1], [nan, 2] keep [9], [], [9, 1], [].
    let y = picks(ndarray::array![true, false, false, false, true, true, false, false]);
    assert_eq!(y.compute_chunk_sizes().unwrap().chunks(), &[vec![1, 0, 2, 0]]);
    assert_eq!((index(y.argmax(..).unwrap()), index(y.argmin(0).unwrap())), (0, 2));
    // [], [9], [9, 1], [nan, 2]: the first block empty, ties go to the first, NaN wins.
    let z = picks(ndarray::array![false, false, false, true, true, true, true, true]);
    assert_eq!((index(z.argmax(..).unwrap()), index(z.argmin(..).unwrap())), (3, 3));
    let w = z.extract(&z.isnan().unwrap().logical_not().unwrap()).unwrap();
    assert_eq!((index(w.argmax(..).unwrap()), index(w.argmin(..).unwrap())), (0, 2));
    let kept = w.argmax_with(.., &array::ReduceOptions::new().keepdims(true).split_every(2)).unwrap();
    assert_eq!(kept.compute().unwrap(), ndarray::array![0i64].into_dyn());
}

//! Rechunk, reshape, squeeze, expand_dims, concatenate and stack against the same
//! operations done eagerly with ndarray, over random shapes and chunkings (irregular,
//! 0-d, one-element and empty arrays included) and random targets; the chunks a Dask user
//! expects; numpy's errors.

use std::sync::Arc;

use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use rask_collections::array::{self, Array, Assemble, ChunkSpec, Piece, Span, concatenate, from_ndarray, stack};
use rask_graph::{ArrayChunk, Op, Value, args};

mod common;
use common::{chunks_for, f64_array, f64_data, options, shape_and_chunks};

/// A small xorshift stream for deriving targets from a seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// A random shape of `size` elements (up to 4 axes, length-1 axes sprinkled in), and the
/// same written with a -1 where numpy could infer it.
fn target_shape(size: usize, seed: u64) -> (Vec<usize>, Vec<isize>) {
    let mut rng = Rng(seed | 1);
    let ndim = if size == 1 { rng.below(4) } else { 1 + rng.below(4) };
    let mut shape = vec![1usize; ndim];
    if size == 0 {
        shape.iter_mut().for_each(|n| *n = rng.below(4));
        shape[rng.below(ndim)] = 0;
    } else {
        let (mut rest, mut p) = (size, 2);
        while rest > 1 {
            while rest % p == 0 {
                shape[rng.below(ndim)] *= p;
                rest /= p;
            }
            p += 1;
        }
    }
    let mut written: Vec<isize> = shape.iter().map(|&n| n as isize).collect();
    if ndim > 0 && rng.below(2) == 0 {
        let a = rng.below(ndim);
        if shape.iter().enumerate().all(|(b, &n)| b == a || n > 0) {
            written[a] = -1;
        }
    }
    (shape, written)
}

/// The common refinement of the chunks of one axis, as Dask's `unify_chunks` gives.
fn refinement(chunkings: &[&Vec<usize>]) -> Vec<usize> {
    let mut bounds: Vec<usize> = vec![0];
    for c in chunkings {
        bounds.extend(c.iter().scan(0, |end, &n| {
            *end += n;
            Some(*end)
        }));
    }
    bounds.sort_unstable();
    bounds.dedup();
    let out: Vec<usize> = bounds.windows(2).map(|w| w[1] - w[0]).collect();
    if out.is_empty() { vec![0] } else { out }
}

fn assert_chunks_cover<T: rask_graph::Element>(x: &Array<T>) {
    for (a, c) in x.chunks().iter().enumerate() {
        assert_eq!(c.iter().sum::<usize>(), x.shape()[a], "chunks {:?} of shape {:?}", x.chunks(), x.shape());
    }
}

/// Arrays of up to 3 axes where length-1 axes are common, with their chunks.
fn with_unit_axes() -> impl Strategy<Value = (ArrayD<f64>, ChunkSpec)> {
    (proptest::collection::vec(prop_oneof![Just(1usize), 0usize..5], 0..4), any::<u64>())
        .prop_flat_map(|(shape, seed)| (Just(f64_data(&shape, seed)), chunks_for(shape)))
}

/// Inputs for `concatenate`: one shape but for the axis, each with its own chunks.
fn concat_inputs() -> impl Strategy<Value = (Vec<(ArrayD<f64>, ChunkSpec)>, usize)> {
    (
        proptest::collection::vec(0usize..5, 1..4),
        any::<prop::sample::Index>(),
        proptest::collection::vec(0usize..5, 1..4),
    )
        .prop_flat_map(|(shape, axis, lengths)| {
            let axis = axis.index(shape.len());
            let inputs: Vec<_> = lengths
                .into_iter()
                .enumerate()
                .map(|(i, n)| {
                    let mut own = shape.clone();
                    own[axis] = n;
                    (Just(f64_data(&own, i as u64 * 7 + 3)), chunks_for(own))
                })
                .collect();
            (inputs, Just(axis))
        })
}

/// Inputs for `stack`: 1 to 3 arrays of one shape, each with its own chunks.
fn stack_inputs() -> impl Strategy<Value = Vec<(ArrayD<f64>, ChunkSpec)>> {
    (proptest::collection::vec(0usize..5, 0..4), 1usize..4).prop_flat_map(|(shape, n)| {
        (0..n).map(|i| (Just(f64_data(&shape, i as u64 * 11 + 5)), chunks_for(shape.clone()))).collect::<Vec<_>>()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn rechunk_keeps_the_elements(((a, old), new) in f64_array().prop_flat_map(|(a, c)| {
        let shape = a.shape().to_vec();
        (Just((a, c)), chunks_for(shape))
    })) {
        let x = from_ndarray(&a, old).unwrap();
        let y = x.rechunk(new.clone()).unwrap();
        prop_assert_eq!(y.chunks().to_vec(), new.resolve(a.shape()).unwrap());
        for options in options() {
            prop_assert_eq!(&y.compute_with(&options).unwrap(), &a);
        }
    }

    #[test]
    fn reshape_matches_ndarray((shape, chunks) in shape_and_chunks(), seed in any::<u64>()) {
        let a = f64_data(&shape, seed);
        let (target, written) = target_shape(a.len(), seed.rotate_left(17));
        let x = from_ndarray(&a, chunks).unwrap();
        let y = x.reshape(&written).unwrap();
        prop_assert_eq!(y.shape(), target.as_slice());
        assert_chunks_cover(&y);
        // One task per output block, whatever the rechunking.
        let added = if target == shape { 0 } else { y.npartitions() };
        prop_assert_eq!(y.task_count(), x.task_count() + added);
        let expected = a.clone().into_shape_with_order(IxDyn(&target)).unwrap();
        for options in options() {
            prop_assert_eq!(&y.compute_with(&options).unwrap(), &expected);
        }
        let original: Vec<isize> = shape.iter().map(|&n| n as isize).collect();
        prop_assert_eq!(y.reshape(&original).unwrap().compute().unwrap(), a.clone());
        prop_assert_eq!(x.ravel().unwrap().compute().unwrap(), a.iter().copied().collect::<ndarray::Array1<_>>().into_dyn());
    }

    #[test]
    fn squeeze_and_expand_dims_match_ndarray((a, chunks) in with_unit_axes(), pick in any::<prop::sample::Index>(), negative in any::<bool>()) {
        let x = from_ndarray(&a, chunks).unwrap();
        let units: Vec<usize> = (0..a.ndim()).filter(|&i| a.shape()[i] == 1).collect();
        let all = units.iter().rev().fold(a.clone(), |b, &i| b.remove_axis(Axis(i)));
        let squeezed = x.squeeze(..).unwrap();
        assert_chunks_cover(&squeezed);
        for options in options() {
            prop_assert_eq!(&squeezed.compute_with(&options).unwrap(), &all);
        }
        if !units.is_empty() {
            let axis = units[pick.index(units.len())];
            let named = if negative { axis as isize - a.ndim() as isize } else { axis as isize };
            prop_assert_eq!(x.squeeze(named).unwrap().compute().unwrap(), a.clone().remove_axis(Axis(axis)));
        }
        let axis = pick.index(a.ndim() + 1);
        let named = if negative { axis as isize - a.ndim() as isize - 1 } else { axis as isize };
        let expanded = x.expand_dims(named).unwrap();
        prop_assert_eq!(expanded.chunks()[axis].clone(), vec![1]);
        for options in options() {
            prop_assert_eq!(&expanded.compute_with(&options).unwrap(), &a.clone().insert_axis(Axis(axis)));
        }
    }

    #[test]
    fn concatenate_matches_ndarray((inputs, axis) in concat_inputs(), negative in any::<bool>()) {
        let arrays: Vec<Array<f64>> = inputs.iter().map(|(a, c)| from_ndarray(a, c.clone()).unwrap()).collect();
        let refs: Vec<&Array<f64>> = arrays.iter().collect();
        let ndim = inputs[0].0.ndim();
        let named = if negative { axis as isize - ndim as isize } else { axis as isize };
        let z = concatenate(&refs, named).unwrap();
        let views: Vec<_> = inputs.iter().map(|(a, _)| a.view()).collect();
        let expected = ndarray::concatenate(Axis(axis), &views).unwrap();
        // Like Dask, inputs of length 0 along the axis are left out (one kept if all are).
        let mut kept: Vec<&Array<f64>> = refs.iter().copied().filter(|x| x.shape()[axis] > 0).collect();
        if kept.is_empty() {
            kept.push(refs[0]);
        }
        let along: Vec<usize> = kept.iter().flat_map(|x| x.chunks()[axis].clone()).collect();
        prop_assert_eq!(&z.chunks()[axis], &along);
        for other in (0..ndim).filter(|&b| b != axis) {
            let chunkings: Vec<&Vec<usize>> = kept.iter().map(|x| &x.chunks()[other]).collect();
            prop_assert_eq!(&z.chunks()[other], &refinement(&chunkings));
        }
        for options in options() {
            prop_assert_eq!(&z.compute_with(&options).unwrap(), &expected);
        }
    }

    #[test]
    fn stack_matches_ndarray(inputs in stack_inputs(), pick in any::<prop::sample::Index>(), negative in any::<bool>()) {
        let arrays: Vec<Array<f64>> = inputs.iter().map(|(a, c)| from_ndarray(a, c.clone()).unwrap()).collect();
        let refs: Vec<&Array<f64>> = arrays.iter().collect();
        let ndim = inputs[0].0.ndim();
        let axis = pick.index(ndim + 1);
        let named = if negative { axis as isize - ndim as isize - 1 } else { axis as isize };
        let z = stack(&refs, named).unwrap();
        let views: Vec<_> = inputs.iter().map(|(a, _)| a.view()).collect();
        let expected = ndarray::stack(Axis(axis), &views).unwrap();
        prop_assert_eq!(&z.chunks()[axis], &vec![1; inputs.len()]);
        assert_chunks_cover(&z);
        for options in options() {
            prop_assert_eq!(&z.compute_with(&options).unwrap(), &expected);
        }
    }
}

fn iota(shape: &[usize], chunks: impl Into<ChunkSpec>) -> (ArrayD<i64>, Array<i64>) {
    let n: usize = shape.iter().product();
    let a = ArrayD::from_shape_vec(IxDyn(shape), (0..n as i64).collect()).unwrap();
    let x = from_ndarray(&a, chunks).unwrap();
    (a, x)
}

#[test]
fn reshape_chunks_are_what_dask_gives() {
    let (_, x) = iota(&[6, 4], [2, 4]);
    assert_eq!(x.reshape(&[24]).unwrap().chunks(), &[vec![8, 8, 8]]);
    assert_eq!(x.reshape(&[3, 8]).unwrap().chunks(), &[vec![1, 1, 1], vec![8]]);
    // Split inner input axes are made whole and the outer axis cut finer.
    let (_, x) = iota(&[6, 4], [2, 2]);
    assert_eq!(x.reshape(&[24]).unwrap().chunks(), &[vec![4; 6]]);
    // Splitting an axis cuts the outer output axis, keeping the inner one whole.
    let (_, x) = iota(&[24], [8]);
    assert_eq!(x.reshape(&[6, 4]).unwrap().chunks(), &[vec![2, 2, 2], vec![4]]);
    let (_, x) = iota(&[24], [5]);
    assert_eq!(x.reshape(&[-1, 4]).unwrap().chunks(), &[vec![1, 1, 1, 2, 1], vec![4]]);
    // Blocks of single rows are moved, not rechunked: 16 tasks over the 16 input blocks.
    let (a, x) = iota(&[4, 4, 4], [1, 1, 4]);
    let flat = x.reshape(&[64]).unwrap();
    assert_eq!(flat.chunks(), &[vec![4; 16]]);
    assert_eq!(flat.task_count(), 32);
    assert_eq!(flat.compute().unwrap(), a.into_shape_with_order(IxDyn(&[64])).unwrap());
    // One block stays one block; length-1 axes are blocks of 1.
    let (_, x) = iota(&[2, 3], ChunkSpec::Whole);
    assert_eq!(x.reshape(&[3, 1, 2]).unwrap().chunks(), &[vec![3], vec![1], vec![2]]);
    let (_, x) = iota(&[3, 0], [2, 1]);
    assert_eq!(x.reshape(&[0, 5, 2]).unwrap().chunks(), &[vec![0], vec![5], vec![2]]);
}

#[test]
fn reshape_errors_name_both_shapes() {
    let (_, x) = iota(&[2, 3], [1, 3]);
    for (target, why) in [
        (&[4, 2][..], "[4, 2]"),
        (&[4, -1], "[4, -1]"),
        (&[-1, -1], "only one length can be -1"),
        (&[-3, 2], "negative length -3"),
    ] {
        let e = x.reshape(target).unwrap_err().to_string();
        assert!(e.contains("[2, 3]") && e.contains(why), "{e}");
    }
    let (_, empty) = iota(&[0, 3], [1, 1]);
    let e = empty.reshape(&[0, -1]).unwrap_err().to_string();
    assert!(e.contains("[0, 3]") && e.contains("ambiguous"), "{e}");
    assert_eq!(empty.reshape(&[-1]).unwrap().shape(), &[0]);
    let (_, scalar) = iota(&[], ChunkSpec::Whole);
    assert_eq!(scalar.reshape(&[1, -1]).unwrap().compute().unwrap(), ndarray::array![[0i64]].into_dyn());
    let broken = &array::zeros::<f64>(&[2], [1]).unwrap() + &array::zeros::<f64>(&[3], [1]).unwrap();
    assert!(broken.reshape(&[-1]).unwrap_err().to_string().contains("[2], [3]"));
}

#[test]
fn squeeze_and_expand_dims_errors_name_the_axis_and_shape() {
    let x = array::zeros::<bool>(&[1, 3, 1], [1, 2, 1]).unwrap();
    for (axes, why) in [
        (array::Axes::from(1), "squeeze: axis 1 of shape [1, 3, 1] has length 3"),
        ([0, -3].into(), "squeeze: repeated axis 0 in [0, -3] for an array of shape [1, 3, 1]"),
        ([3].into(), "squeeze: axis 3 is out of bounds for an array of shape [1, 3, 1]"),
        ((&[-4isize][..]).into(), "axis -4 is out of bounds"),
    ] {
        let e = x.squeeze(axes).unwrap_err().to_string();
        assert!(e.contains(why) && e.contains("[1, 3, 1]"), "{e}");
    }
    assert_eq!(x.squeeze(vec![0, 2]).unwrap().compute().unwrap(), ArrayD::from_elem(IxDyn(&[3]), false));
    assert_eq!(x.squeeze(..).unwrap().squeeze(..).unwrap().shape(), &[3]);
    let e = x.expand_dims(-5).unwrap_err().to_string();
    assert_eq!(
        e,
        "expand_dims: axis -5 is out of bounds for the 4 axes of the result (an array of shape [1, 3, 1] and a new axis)"
    );
    let scalar = array::full(&[], ChunkSpec::Whole, 7i32).unwrap();
    let lifted = scalar.expand_dims(-1).unwrap();
    assert_eq!(lifted.compute().unwrap(), ndarray::array![7].into_dyn());
    assert_eq!(lifted.squeeze(..).unwrap().compute().unwrap(), ndarray::arr0(7).into_dyn());
}

#[test]
fn concatenate_and_stack_errors_follow_numpy() {
    let x = array::zeros::<f32>(&[2, 3], [1, 3]).unwrap();
    let y = array::zeros::<f32>(&[2, 4], [2, 2]).unwrap();
    let v = array::zeros::<f32>(&[3], [3]).unwrap();
    let s = array::zeros::<f32>(&[], ChunkSpec::Whole).unwrap();
    let cases = [
        (concatenate::<f32>(&[], 0), "concatenate needs at least one array"),
        (concatenate(&[&x, &y], 0), "shapes [2, 3], [2, 4] must match except on axis 0"),
        (concatenate(&[&x, &v], 0), "shapes [2, 3], [3] must match"),
        (concatenate(&[&x, &y], 2), "concatenate: axis 2 is out of bounds for arrays of shapes [2, 3], [2, 4]"),
        (concatenate(&[&s, &s], 0), "zero-dimensional arrays cannot be concatenated (shapes [], [])"),
        (stack::<f32>(&[], 0), "stack needs at least one array"),
        (stack(&[&x, &y], 0), "same shape, got [2, 3], [2, 4]"),
        (
            stack(&[&x, &x], -4),
            "stack: axis -4 is out of bounds for the 3 axes of the result (arrays of shapes [2, 3], [2, 3] and a new axis)",
        ),
    ];
    for (result, why) in cases {
        let e = result.unwrap_err().to_string();
        assert!(e.contains(why), "{e}");
    }
    assert_eq!(concatenate(&[&x, &y], -1).unwrap().shape(), &[2, 7]);
    assert_eq!(stack(&[&s, &s, &s], 0).unwrap().compute().unwrap(), ArrayD::<f32>::zeros(IxDyn(&[3])));
}

#[test]
fn concatenate_passes_blocks_through_and_unifies_other_axes() {
    let (a, x) = iota(&[2, 6], [1, 3]);
    let (b, y) = iota(&[3, 6], [3, 2]);
    let z = concatenate(&[&x, &y], 0).unwrap();
    assert_eq!(z.chunks(), &[vec![1, 1, 3], vec![2, 1, 1, 2]]);
    assert_eq!(z.task_count(), x.task_count() + y.task_count() + z.npartitions());
    assert_eq!(z.compute().unwrap(), ndarray::concatenate(Axis(0), &[a.view(), b.view()]).unwrap());
    // Equal chunks elsewhere: one pass-through task per input block.
    let w = concatenate(&[&x, &x, &x], 1).unwrap();
    assert_eq!(w.chunks(), &[vec![1, 1], vec![3; 6]]);
    assert_eq!(w.task_count(), x.task_count() + 12);
    // Empty inputs add no blocks.
    let (_, e) = iota(&[0, 6], [1, 1]);
    assert_eq!(concatenate(&[&e, &x, &e], 0).unwrap().chunks(), &[vec![1, 1], vec![3, 3]]);
    let s = stack(&[&x, &x], 1).unwrap();
    assert_eq!(s.chunks(), &[vec![1, 1], vec![1, 1], vec![3, 3]]);
    assert_eq!(s.compute().unwrap(), ndarray::stack(Axis(1), &[a.view(), a.view()]).unwrap());
}

#[test]
fn rechunk_keeps_axes_whole_with_dask_minus_one() {
    let (a, x) = iota(&[5, 7], [2, 3]);
    let y = x.rechunk([ChunkSpec::WHOLE_AXIS, 4]).unwrap();
    assert_eq!(y.chunks(), &[vec![5], vec![4, 3]]);
    assert_eq!(y.compute().unwrap(), a);
    assert_eq!(x.rechunk(x.chunks().to_vec()).unwrap().task_count(), x.task_count());
    assert!(x.rechunk([0, 1]).unwrap_err().to_string().contains("chunk size 0"));
    let bools = from_ndarray(&ndarray::array![[true, false], [false, true]], [1, 1]).unwrap();
    assert_eq!(bools.ravel().unwrap().compute().unwrap(), ndarray::array![true, false, false, true].into_dyn());
}

/// Calls `op` on one f64 block, returning the output block.
fn call(op: &Assemble, block: Arc<ArrayD<f64>>) -> Arc<ArrayD<f64>> {
    match op.call(args![Value::Array(ArrayChunk::F64(block))]).unwrap() {
        Value::Array(ArrayChunk::F64(out)) => out,
        other => panic!("not an f64 block: {other:?}"),
    }
}

#[test]
fn a_block_held_by_no_one_else_is_reshaped_without_a_copy() {
    let block = Arc::new(ArrayD::from_shape_fn(IxDyn(&[2, 3]), |i| (i[0] * 3 + i[1]) as f64));
    let pass = Piece { arg: 0, src: vec![Span::range(0, 2), Span::range(0, 3)], dst: vec![0, 0] };
    let op = Assemble { shape: vec![2, 3], pieces: vec![pass], reshape: Some(vec![3, 1, 2]) };
    let data = block.as_ptr();
    let out = call(&op, block);
    assert_eq!(out.as_ptr(), data);
    assert_eq!(out.shape(), &[3, 1, 2]);
    // A shared block is copied, and left as it was.
    let shared = Arc::new(ArrayD::from_shape_fn(IxDyn(&[2, 3]), |i| (i[0] * 3 + i[1]) as f64));
    let out = call(&op, shared.clone());
    assert_ne!(out.as_ptr(), shared.as_ptr());
    assert_eq!(out.iter().copied().collect::<Vec<_>>(), shared.iter().copied().collect::<Vec<_>>());
    assert_eq!(shared.shape(), &[2, 3]);
    let bad = Assemble { reshape: Some(vec![4]), ..op };
    let e = bad.call(args![Value::Array(ArrayChunk::F64(shared))]).unwrap_err();
    assert!(e.to_string().contains("[2, 3] to [4]"), "{e}");
}

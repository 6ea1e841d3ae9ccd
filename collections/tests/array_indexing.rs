//! Indexing against ndarray and against selections computed by hand: slices (ndarray's
//! step meaning, numpy's clamped bounds), `take`, boolean masks, `compress` and block
//! selection, over random shapes and chunkings on every scheduler; the rules and error
//! messages pinned by unit tests.

use ndarray::{ArrayD, Axis, IxDyn, NewAxis, SliceInfoElem, s};
use proptest::prelude::*;
use rask_collections::array::{Array, ChunkSpec, from_ndarray, zeros};

mod common;
use common::{f64_data, options, shape_and_chunks};

/// One random selection entry, resolved against an axis only when used.
#[derive(Clone, Debug)]
enum Entry {
    Range(Option<isize>, Option<isize>, isize),
    Index(isize),
}

/// Entries for the axes of `shape`: slice bounds within `-n - spill..=n + spill` (so
/// `spill = 0` keeps them in range), steps of -3..=3 but 0, in-range integer indices.
fn entries(shape: &[usize], spill: isize) -> impl Strategy<Value = Vec<Entry>> + use<> {
    shape
        .iter()
        .map(|&n| {
            let (n, bound) = (n as isize, n as isize + spill);
            let bounds = proptest::option::of(-bound..=bound);
            let step = prop_oneof![1isize..4, -3isize..0];
            let range = (bounds.clone(), bounds, step).prop_map(|(a, b, s)| Entry::Range(a, b, s));
            if n == 0 { range.boxed() } else { prop_oneof![3 => range, 1 => (-n..n).prop_map(Entry::Index)].boxed() }
        })
        .collect::<Vec<_>>()
}

/// A random `s![..]`: `entries` cut to their first `keep`, with new axes at `new_axes`.
fn selection(entries: &[Entry], keep: usize, new_axes: &[usize]) -> Vec<SliceInfoElem> {
    let mut info: Vec<SliceInfoElem> = entries[..keep.min(entries.len())]
        .iter()
        .map(|e| match *e {
            Entry::Range(start, end, step) => SliceInfoElem::Slice { start: start.unwrap_or(0), end, step },
            Entry::Index(i) => SliceInfoElem::Index(i),
        })
        .collect();
    for &at in new_axes {
        info.insert(at.min(info.len()), SliceInfoElem::NewAxis);
    }
    info
}

/// An array with its data and a random selection of it.
fn sliced_array(spill: isize) -> impl Strategy<Value = (ArrayD<f64>, ChunkSpec, Vec<SliceInfoElem>)> {
    (shape_and_chunks(), any::<u64>()).prop_flat_map(move |((shape, chunks), seed)| {
        let ndim = shape.len();
        (entries(&shape, spill), 0..=ndim, proptest::collection::vec(0..=ndim, 0..3)).prop_map(
            move |(entries, keep, new_axes)| {
                (f64_data(&shape, seed), chunks.clone(), selection(&entries, keep, &new_axes))
            },
        )
    })
}

/// The indices of an axis of length `n` that a slice selects, worked out by hand:
/// bounds clamped into the axis, a negative step walking the range from its end.
fn selected(n: usize, start: isize, end: Option<isize>, step: isize) -> Vec<usize> {
    let clamp = |b: isize| if b < 0 { (n as isize + b).max(0) as usize } else { (b as usize).min(n) };
    let (start, end) = (clamp(start), end.map_or(n, clamp));
    let range = start..end.max(start);
    if step > 0 { range.step_by(step as usize).collect() } else { range.rev().step_by(step.unsigned_abs()).collect() }
}

/// `i` resolved against an axis of length `n` (negative counts from the end).
fn resolve(i: isize, n: usize) -> usize {
    if i < 0 { (n as isize + i) as usize } else { i as usize }
}

/// What a selection does, entry by entry, worked out by hand.
enum Step {
    /// A new axis.
    New,
    /// The indices of `axis` it picks; `kept` is false for an integer index.
    Pick { axis: usize, indices: Vec<usize>, kept: bool },
}

/// The steps of `info` over an array of `shape`, with the axes it leaves out whole.
fn steps(shape: &[usize], info: &[SliceInfoElem]) -> Vec<Step> {
    let (mut out, mut axis) = (Vec::new(), 0);
    for elem in info.iter().copied().chain(std::iter::repeat_n(SliceInfoElem::from(..), shape.len())) {
        let (indices, kept) = match elem {
            SliceInfoElem::NewAxis => {
                out.push(Step::New);
                continue;
            }
            _ if axis == shape.len() => break,
            SliceInfoElem::Index(i) => (vec![resolve(i, shape[axis])], false),
            SliceInfoElem::Slice { start, end, step } => (selected(shape[axis], start, end, step), true),
        };
        out.push(Step::Pick { axis, indices, kept });
        axis += 1;
    }
    out
}

/// What `info` selects from `a`, by hand: the indices of every axis gathered with
/// `select`, integer-indexed axes dropped and new axes added.
fn by_hand(a: &ArrayD<f64>, info: &[SliceInfoElem]) -> ArrayD<f64> {
    let (mut out, mut shape) = (a.clone(), Vec::new());
    for step in steps(a.shape(), info) {
        match step {
            Step::New => shape.push(1),
            Step::Pick { axis, indices, kept } => {
                out = out.select(Axis(axis), &indices);
                shape.extend(kept.then_some(indices.len()));
            }
        }
    }
    out.as_standard_layout().into_owned().into_shape_with_order(IxDyn(&shape)).unwrap()
}

/// The block of each index of an axis cut into `sizes`.
fn block_of(sizes: &[usize]) -> Vec<usize> {
    sizes.iter().enumerate().flat_map(|(k, &n)| std::iter::repeat_n(k, n)).collect()
}

/// `sizes`, or `[0]` when there are none (an empty axis still has one block).
fn or_empty(sizes: Vec<usize>) -> Vec<usize> {
    if sizes.is_empty() { vec![0] } else { sizes }
}

/// The chunks a slice should have, by hand: along each kept axis, one block per
/// stretch of selected indices in one input block; 1 for a new axis.
fn chunks_by_hand(shape: &[usize], input_chunks: &[Vec<usize>], info: &[SliceInfoElem]) -> Vec<Vec<usize>> {
    let sizes = |step: Step| match step {
        Step::New => Some(vec![1]),
        Step::Pick { kept: false, .. } => None,
        Step::Pick { axis, indices, .. } => {
            let blocks = block_of(&input_chunks[axis]);
            let picked: Vec<usize> = indices.iter().map(|&i| blocks[i]).collect();
            Some(or_empty(picked.chunk_by(|a, b| a == b).map(<[_]>::len).collect()))
        }
    };
    steps(shape, info).into_iter().filter_map(sizes).collect()
}

/// `x` computed on every scheduler, each result checked against `expected`.
fn check_everywhere(x: &Array<f64>, expected: &ArrayD<f64>) -> Result<(), TestCaseError> {
    for options in options() {
        prop_assert_eq!(&x.compute_with(&options).unwrap(), expected);
    }
    Ok(())
}

/// `total` cut into blocks of `size` (the last one shorter), or `[0]` when empty.
fn uniform(total: usize, size: usize) -> Vec<usize> {
    or_empty((0..total).step_by(size.max(1)).map(|s| size.min(total - s)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn in_range_slices_match_ndarray((a, chunks, info) in sliced_array(0)) {
        let x = from_ndarray(&a, chunks).unwrap();
        let y = x.slice(&info).unwrap();
        let mut full = info.clone();
        full.extend(std::iter::repeat_n(SliceInfoElem::from(..), a.ndim() - info.iter().filter(|e| !e.is_new_axis()).count()));
        let expected = a.slice(full.as_slice()).to_owned();
        prop_assert_eq!(&by_hand(&a, &info), &expected);
        check_everywhere(&y, &expected)?;
        prop_assert_eq!(y.chunks().to_vec(), chunks_by_hand(a.shape(), x.chunks(), &info));
        if y.task_count() != x.task_count() {
            prop_assert_eq!(y.task_count(), x.task_count() + y.npartitions(), "one task per output block");
        }
    }

    #[test]
    fn out_of_range_slice_bounds_clamp((a, chunks, info) in sliced_array(4)) {
        let x = from_ndarray(&a, chunks).unwrap();
        let y = x.slice(&info).unwrap();
        check_everywhere(&y, &by_hand(&a, &info))?;
        prop_assert_eq!(y.chunks().to_vec(), chunks_by_hand(a.shape(), x.chunks(), &info));
    }

    #[test]
    fn take_matches_select(((shape, chunks), seed) in (shape_and_chunks(), any::<u64>()), picks in proptest::collection::vec((any::<u16>(), any::<bool>()), 0..9), axis in 0usize..3) {
        prop_assume!(!shape.is_empty());
        let (a, axis) = (f64_data(&shape, seed), axis % shape.len());
        let n = shape[axis];
        let indices: Vec<isize> = if n == 0 { vec![] } else {
            picks.iter().map(|&(i, from_end)| { let i = i as usize % n; if from_end { i as isize - n as isize } else { i as isize } }).collect()
        };
        let x = from_ndarray(&a, chunks).unwrap();
        let t = x.take(&indices, axis as isize).unwrap();
        let resolved: Vec<usize> = indices.iter().map(|&i| resolve(i, n)).collect();
        check_everywhere(&t, &a.select(Axis(axis), &resolved))?;
        prop_assert_eq!(&t.chunks()[axis], &uniform(indices.len(), x.chunksize()[axis]));
    }

    #[test]
    fn masks_select_in_c_order(((shape, chunks), seed) in (shape_and_chunks(), any::<u64>()), bits in any::<u64>()) {
        let a = f64_data(&shape, seed);
        let mask = f64_data(&shape, bits).mapv(|v| v > 0.0);
        let x = from_ndarray(&a, chunks).unwrap();
        let m = x.mask(&mask).unwrap();
        let expected: Vec<f64> = a.iter().zip(&mask).filter(|(_, m)| **m).map(|(v, _)| *v).collect();
        let per_block = x.chunksize().iter().product::<usize>();
        prop_assert_eq!(m.chunks(), &[uniform(expected.len(), per_block)]);
        check_everywhere(&m, &ndarray::Array1::from(expected).into_dyn())?;
    }

    #[test]
    fn compress_matches_select(((shape, chunks), seed) in (shape_and_chunks(), any::<u64>()), bits in any::<u64>(), axis in 0usize..3) {
        prop_assume!(!shape.is_empty());
        let (a, axis) = (f64_data(&shape, seed), axis % shape.len());
        let condition: Vec<bool> = (0..shape[axis]).map(|i| bits >> (i % 64) & 1 == 1).collect();
        let kept: Vec<usize> = (0..shape[axis]).filter(|&i| condition[i]).collect();
        let x = from_ndarray(&a, chunks).unwrap();
        check_everywhere(&x.compress(&condition, axis as isize).unwrap(), &a.select(Axis(axis), &kept))?;
    }

    #[test]
    fn blocks_select_whole_blocks(((shape, chunks), seed) in (shape_and_chunks(), any::<u64>()), raw in proptest::collection::vec((any::<i8>(), any::<i8>(), 1isize..3, any::<bool>(), any::<bool>()), 3), keep in 0usize..4) {
        let a = f64_data(&shape, seed);
        let x = from_ndarray(&a, chunks).unwrap();
        let grid = x.numblocks();
        let info: Vec<SliceInfoElem> = grid.iter().zip(&raw).take(keep).map(|(&n, &(p, q, step, back, index))| {
            let n = n as isize;
            if index { SliceInfoElem::Index(p as isize % n) }
            else { SliceInfoElem::Slice { start: p as isize % (n + 2), end: Some(q as isize % (n + 2)), step: if back { -step } else { step } } }
        }).collect();
        let b = x.blocks(&info).unwrap();
        let (mut expected, mut expected_chunks) = (a.clone(), Vec::new());
        for step in steps(&grid, &info) {
            let Step::Pick { axis, indices: picked, .. } = step else { unreachable!("no new axes") };
            let sizes = &x.chunks()[axis];
            let blocks = block_of(sizes);
            let blocks = &blocks;
            let in_block = |k: usize| (0..blocks.len()).filter(move |&i| blocks[i] == k);
            expected = expected.select(Axis(axis), &picked.iter().flat_map(|&k| in_block(k)).collect::<Vec<_>>());
            expected_chunks.push(or_empty(picked.iter().map(|&k| sizes[k]).collect()));
        }
        prop_assert_eq!(b.chunks(), expected_chunks.as_slice());
        check_everywhere(&b, &expected)?;
    }
}

fn arange(shape: &[usize], chunks: impl Into<ChunkSpec>) -> (ArrayD<f64>, Array<f64>) {
    let n = shape.iter().product::<usize>();
    let a = ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|v| v as f64).collect()).unwrap();
    let x = from_ndarray(&a, chunks).unwrap();
    (a, x)
}

#[test]
#[allow(clippy::reversed_empty_ranges)] // a start after the end is what is tested
fn negative_steps_mean_what_they_mean_in_ndarray() {
    let (_, x) = arange(&[10], [3]);
    let v = |y: Array<f64>| y.compute().unwrap().into_raw_vec_and_offset().0;
    assert_eq!(v(x.slice(s![1..4;-1]).unwrap()), vec![3.0, 2.0, 1.0]);
    assert_eq!(v(x.slice(s![..;-3]).unwrap()), vec![9.0, 6.0, 3.0, 0.0]);
    assert_eq!(v(x.slice(s![-4..;-2]).unwrap()), vec![9.0, 7.0]);
    assert_eq!(x.slice(s![..;-3]).unwrap().chunks(), &[vec![1, 1, 1, 1]]);
    assert_eq!(v(x.slice(s![-100..100;4]).unwrap()), vec![0.0, 4.0, 8.0]);
    assert_eq!(x.slice(s![7..2]).unwrap().shape(), &[0]);
    assert_eq!(x.slice(s![20..]).unwrap().chunks(), &[vec![0]]);
}

#[test]
fn empty_zero_d_and_single_element_arrays_index() {
    let (_, empty) = arange(&[0, 3], [2, 2]);
    assert_eq!(empty.slice(s![.., 1]).unwrap().compute().unwrap().shape(), &[0]);
    assert_eq!(empty.take(&[], 0).unwrap().shape(), &[0, 3]);
    assert_eq!(empty.take(&[-1, 0], 1).unwrap().compute().unwrap().shape(), &[0, 2]);
    assert_eq!(empty.mask(&ndarray::Array2::<bool>::default((0, 3))).unwrap().compute().unwrap().shape(), &[0]);
    let scalar = from_ndarray(&ndarray::arr0(5.0), ChunkSpec::Whole).unwrap();
    assert_eq!(scalar.slice(s![NewAxis]).unwrap().compute().unwrap(), ndarray::array![5.0].into_dyn());
    assert_eq!(scalar.mask(&ndarray::arr0(true)).unwrap().compute().unwrap(), ndarray::array![5.0].into_dyn());
    assert_eq!(scalar.mask(&ndarray::arr0(false)).unwrap().shape(), &[0]);
    assert_eq!(scalar.blocks(s![]).unwrap().compute().unwrap(), ndarray::arr0(5.0).into_dyn());
    let (_, one) = arange(&[1], [1]);
    assert_eq!(one.slice(s![0]).unwrap().compute().unwrap(), ndarray::arr0(0.0).into_dyn());
    assert_eq!(one.take(&[0, -1, 0], 0).unwrap().compute().unwrap(), ndarray::array![0.0, 0.0, 0.0].into_dyn());
}

#[test]
fn take_gathers_unsorted_repeated_and_negative_indices_across_blocks() {
    let (a, x) = arange(&[5, 4], [2, 3]);
    let t = x.take(&[4, -5, 3, 3, 1, -1], 0).unwrap();
    assert_eq!(t.compute().unwrap(), a.select(Axis(0), &[4, 0, 3, 3, 1, 4]));
    assert_eq!(t.chunks(), &[vec![2, 2, 2], vec![3, 1]]);
    assert_eq!(t.task_count(), x.task_count() + 6);
}

#[test]
fn full_selections_give_back_the_same_array() {
    let (_, x) = arange(&[4, 4], [2, 2]);
    assert_eq!(x.slice(s![.., -100..100]).unwrap().block_key(&[0, 0]), x.block_key(&[0, 0]));
    assert_eq!(x.blocks(s![..]).unwrap().block_key(&[1, 1]), x.block_key(&[1, 1]));
    assert_eq!(x.slice(s![1..]).unwrap().block_key(&[0, 0]), x.slice(s![1..]).unwrap().block_key(&[0, 0]));
}

#[test]
fn mistakes_are_errors_naming_index_axis_and_shape() {
    let x = zeros::<f64>(&[3, 4], [2, 2]).unwrap();
    let e = |r: rask_collections::Result<Array<f64>>| r.unwrap_err().to_string();
    assert_eq!(e(x.slice(s![.., 4])), "slice: index 4 is out of bounds for axis 1 with size 4 (shape [3, 4])");
    assert_eq!(e(x.slice(s![-4, ..])), "slice: index -4 is out of bounds for axis 0 with size 3 (shape [3, 4])");
    let zero_step = [SliceInfoElem::Slice { start: 0, end: None, step: 0 }];
    assert_eq!(e(x.slice(zero_step)), "slice: slice step cannot be zero (axis 0)");
    assert_eq!(e(x.slice(s![0, 0, 0])), "slice: 3 indices for 2 axes (shape [3, 4])");
    assert_eq!(e(x.take(&[0, 3], 0)), "take: index 3 is out of bounds for axis 0 with size 3 (shape [3, 4])");
    assert_eq!(e(x.take(&[0], 2)), "take: axis 2 is out of bounds for an array of shape [3, 4]");
    assert_eq!(e(x.compress(&[true; 3], 1)), "compress: a condition of length 3 for axis 1 of length 4 (shape [3, 4])");
    assert!(e(x.compress(&[true], 2)).contains("axis 2 is out of bounds"));
    let wrong = ndarray::Array2::<bool>::default((4, 3));
    assert_eq!(e(x.mask(&wrong)), "mask: a boolean mask of shape [4, 3] does not fit an array of shape [3, 4]");
    assert_eq!(e(x.blocks(s![2, ..])), "blocks: index 2 is out of bounds for axis 0 with size 2 (block grid [2, 2])");
    assert_eq!(e(x.blocks(s![NewAxis])), "blocks: a new axis (NewAxis) does not select blocks");
    let broken = &x + &zeros::<f64>(&[5], [5]).unwrap();
    assert!(e(broken.slice(s![0])).contains("do not broadcast"));
    assert!(broken.take(&[0], 0).is_err() && broken.mask(&wrong).is_err() && broken.blocks(s![0]).is_err());
}

//! arange, linspace, eye, random arrays, from_delayed, from_blocks and persist against
//! ndarray (or the same values computed eagerly) over random shapes and chunkings, on
//! every scheduler; numpy's counting rules and the error messages pinned by hand.

use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{Array1, Array2, ArrayD, IxDyn, Slice};
use proptest::prelude::*;
use rask_collections::ComputeOptions;
use rask_collections::array::{
    self, Array, ChunkSpec, arange, eye, from_blocks, from_delayed, from_ndarray, linspace, random,
};
use rask_collections::delayed::{delayed, delayed_fn};
use rask_scheduler::{SyncScheduler, ThreadsScheduler};

mod common;
use common::{chunks_for, f64_data, options, shape_and_chunks};

/// Computes `x` on every scheduler of [`options`] and checks each result with `check`.
fn on_every_scheduler<T: rask_graph::Element>(x: &Array<T>, check: impl Fn(&ArrayD<T>) -> bool) -> bool {
    options().iter().all(|o| check(&x.compute_with(o).unwrap()))
}

/// numpy's float arange, eagerly: `ceil((stop - start) / step)` elements of `start + i * step`.
fn eager_arange(start: f64, stop: f64, step: f64) -> Array1<f64> {
    let n = ((stop - start) / step).ceil().max(0.0) as usize;
    Array1::from_iter((0..n).map(|i| start + i as f64 * step))
}

/// A float arange's arguments (multiples of 1/4, so every element is exact) and chunks.
fn float_range() -> impl Strategy<Value = ((f64, f64, f64), ChunkSpec)> {
    let quarter = |r: std::ops::Range<i32>| r.prop_map(|q| f64::from(q) / 4.0);
    let step = prop_oneof![quarter(1..13), quarter(-12..0)];
    (quarter(-40..40), quarter(-40..40), step).prop_flat_map(|(start, stop, step)| {
        let n = eager_arange(start, stop, step).len();
        (Just((start, stop, step)), chunks_for(vec![n]))
    })
}

/// An integer arange's arguments and chunks.
fn int_range() -> impl Strategy<Value = ((i64, i64, i64), ChunkSpec)> {
    let step = prop_oneof![1i64..6, -5i64..0];
    (-20i64..20, -20i64..20, step).prop_flat_map(|(start, stop, step)| {
        let n = eager_int_arange(start, stop, step).len();
        (Just((start, stop, step)), chunks_for(vec![n]))
    })
}

fn eager_int_arange(start: i64, stop: i64, step: i64) -> Vec<i64> {
    let mut out = vec![];
    let mut v = start;
    while (step > 0 && v < stop) || (step < 0 && v > stop) {
        out.push(v);
        v += step;
    }
    out
}

/// An eye's arguments and chunks.
fn eye_args() -> impl Strategy<Value = ((usize, usize, isize), ChunkSpec)> {
    (0usize..7, 0usize..7, -8isize..8).prop_flat_map(|(n, m, k)| (Just((n, m, k)), chunks_for(vec![n, m])))
}

fn eager_eye(n: usize, m: usize, k: isize) -> Array2<f64> {
    Array2::from_shape_fn((n, m), |(i, j)| if j as isize - i as isize == k { 1.0 } else { 0.0 })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn float_arange_matches_ndarray_range(((start, stop, step), chunks) in float_range()) {
        let x = arange(start, stop, step, chunks).unwrap();
        // ndarray's range refuses a step pointing away from stop; numpy gives nothing.
        let towards = (stop - start) * step > 0.0;
        let expected = if towards { Array1::range(start, stop, step) } else { Array1::zeros(0) }.into_dyn();
        prop_assert_eq!(&expected, &eager_arange(start, stop, step).into_dyn());
        prop_assert!(on_every_scheduler(&x, |got| got == expected));
    }

    #[test]
    fn int_arange_counts_like_numpy(((start, stop, step), chunks) in int_range()) {
        let x = arange(start, stop, step, chunks.clone()).unwrap();
        let expected = Array1::from(eager_int_arange(start, stop, step)).into_dyn();
        prop_assert!(on_every_scheduler(&x, |got| got == expected));
        let narrow = arange(start as i32, stop as i32, step as i32, chunks).unwrap();
        prop_assert_eq!(narrow.compute().unwrap(), expected.mapv(|v| v as i32));
    }

    #[test]
    fn linspace_matches_ndarray_with_an_exact_endpoint((start, stop) in (-50.0f64..50.0, -50.0f64..50.0), num in 0usize..12, seed in any::<u64>()) {
        let chunks = (seed % 4 + 1) as usize;
        let got = linspace(start, stop, num, [chunks]).unwrap();
        let expected = Array1::linspace(start, stop, num);
        let close = |got: &ArrayD<f64>| {
            got.len() == num && got.iter().zip(&expected).all(|(a, b)| (a - b).abs() <= 1e-12 * b.abs().max(1.0))
        };
        prop_assert!(on_every_scheduler(&got, close));
        if num > 1 {
            prop_assert_eq!(got.compute().unwrap()[num - 1], stop);
        }
    }

    #[test]
    fn eye_matches_ndarray(((n, m, k), chunks) in eye_args()) {
        let expected = eager_eye(n, m, k).into_dyn();
        let x = eye::<f64>(n, m, k, chunks.clone()).unwrap();
        prop_assert!(on_every_scheduler(&x, |got| got == expected));
        prop_assert_eq!(eye::<bool>(n, m, k, chunks.clone()).unwrap().compute().unwrap(), expected.mapv(|v| v == 1.0));
        prop_assert_eq!(eye::<i32>(n, m, k, chunks).unwrap().compute().unwrap(), expected.mapv(|v| v as i32));
        if n == m && k == 0 {
            prop_assert_eq!(x.compute().unwrap(), Array2::<f64>::eye(n).into_dyn());
        }
    }

    #[test]
    fn random_arrays_have_the_shape_and_numbers_of_their_seed((shape, chunks) in shape_and_chunks(), seed in any::<u64>()) {
        let x = random::random(seed, &shape, chunks.clone()).unwrap();
        prop_assert_eq!(x.shape(), shape.as_slice());
        let first = x.compute_with(&ComputeOptions::default().scheduler(SyncScheduler)).unwrap();
        prop_assert_eq!(first.shape(), shape.as_slice());
        prop_assert!(first.iter().all(|v| (0.0..1.0).contains(v)));
        for threads in 1..=3 {
            let again = random::random(seed, &shape, chunks.clone()).unwrap();
            prop_assert_eq!(&again.compute_with(&ComputeOptions::default().scheduler(ThreadsScheduler::new(threads))).unwrap(), &first);
        }
        prop_assert!(on_every_scheduler(&x, |got| got == first));
        let normal = random::normal(seed, 1.0, 2.0, &shape, chunks.clone()).unwrap();
        prop_assert!(on_every_scheduler(&normal, |got| *got == normal.compute().unwrap()));
        let ints = random::integers(seed, -3, 4, &shape, chunks).unwrap().compute().unwrap();
        prop_assert!(ints.iter().all(|v| (-3..4).contains(v)));
    }

    #[test]
    fn from_blocks_matches_eager_assembly((grid, slabs, chunks) in block_grid(), seed in any::<u64>()) {
        let positions = grid_positions(&grid);
        let datas: Vec<ArrayD<f64>> = positions.iter().enumerate().map(|(b, p)| f64_data(&slab_shape(&slabs, p), seed ^ b as u64)).collect();
        let blocks: Vec<Array<f64>> = datas.iter().zip(chunks).map(|(d, c)| from_ndarray(d, c).unwrap()).collect();
        let x = from_blocks(&blocks, &grid).unwrap();
        let expected = eager_block(&datas, &positions, &slabs);
        prop_assert_eq!(x.shape(), expected.shape());
        prop_assert!(on_every_scheduler(&x, |got| *got == expected));
    }
}

/// A grid of up to 3 x 3 x 3 arrays: the grid, each axis's slab lengths (0 to 3) and
/// each array's chunks.
fn block_grid() -> impl Strategy<Value = (Vec<usize>, Vec<Vec<usize>>, Vec<ChunkSpec>)> {
    proptest::collection::vec(1usize..4, 1..4)
        .prop_flat_map(|grid| {
            let slabs: Vec<_> = grid.iter().map(|&g| proptest::collection::vec(0usize..4, g)).collect();
            (Just(grid), slabs)
        })
        .prop_flat_map(|(grid, slabs)| {
            let chunks: Vec<_> = grid_positions(&grid).iter().map(|p| chunks_for(slab_shape(&slabs, p))).collect();
            (Just(grid), Just(slabs), chunks)
        })
}

/// The shape of the array at grid position `p`.
fn slab_shape(slabs: &[Vec<usize>], p: &[usize]) -> Vec<usize> {
    p.iter().enumerate().map(|(a, &s)| slabs[a][s]).collect()
}

/// Every grid position, in C order.
fn grid_positions(grid: &[usize]) -> Vec<Vec<usize>> {
    let total: usize = grid.iter().product();
    (0..total)
        .map(|mut n| {
            let mut p = vec![0; grid.len()];
            for a in (0..grid.len()).rev() {
                p[a] = n % grid[a];
                n /= grid[a];
            }
            p
        })
        .collect()
}

/// The arrays placed in one array by slicing, eagerly.
fn eager_block(datas: &[ArrayD<f64>], positions: &[Vec<usize>], slabs: &[Vec<usize>]) -> ArrayD<f64> {
    let starts: Vec<Vec<usize>> =
        slabs.iter().map(|s| s.iter().scan(0, |acc, &n| Some(std::mem::replace(acc, *acc + n))).collect()).collect();
    let shape: Vec<usize> = slabs.iter().map(|s| s.iter().sum()).collect();
    let mut out = ArrayD::zeros(IxDyn(&shape));
    for (data, p) in datas.iter().zip(positions) {
        out.slice_each_axis_mut(|ax| {
            let a = ax.axis.index();
            Slice::from(starts[a][p[a]]..starts[a][p[a]] + slabs[a][p[a]])
        })
        .assign(data);
    }
    out
}

#[test]
fn arange_counts_elements_as_numpy_does() {
    let len = |start: f64, stop: f64, step: f64| arange(start, stop, step, [4]).unwrap().size();
    assert_eq!(len(0.0, 1.0, 0.1), 10);
    // (1.3 - 1) / 0.1 is 3.0000000000000004: numpy gives four elements, the last 1.3.
    assert_eq!(len(1.0, 1.3, 0.1), 4);
    assert_eq!(len(-1.0, 1.0, 0.3), 7);
    assert_eq!(len(1.0, 0.0, 0.5), 0);
    assert_eq!(len(0.0, 10.0, -1.0), 0);
    assert_eq!(len(0.0, 0.0, 1.0), 0);
    // A quotient that underflows to zero still counts one element.
    assert_eq!(len(0.0, 1e-300, 1e300), 1);
    let x = arange(0.0, 1.0, 0.1, [3]).unwrap().compute().unwrap();
    assert_eq!(x[3], 0.30000000000000004);
    assert_eq!(x[9], 0.9);
    assert_eq!(
        arange(10i64, 0, -3, [2]).unwrap().compute().unwrap().iter().copied().collect::<Vec<_>>(),
        vec![10, 7, 4, 1]
    );
    assert_eq!(
        arange(0i64, i64::MAX, i64::MAX / 2, [2]).unwrap().compute().unwrap().iter().copied().collect::<Vec<_>>(),
        vec![0, i64::MAX / 2, i64::MAX - 1]
    );
    assert_eq!(
        arange(2.5f32, 4.0, 0.5, [2]).unwrap().compute().unwrap().iter().copied().collect::<Vec<_>>(),
        vec![2.5, 3.0, 3.5]
    );
}

#[test]
fn arange_rejects_zero_and_undefined_steps() {
    let err = arange(0.0, 1.0, 0.0, [4]).unwrap_err().to_string();
    assert!(err.contains("arange(0.0, 1.0, 0.0)") && err.contains("step is zero"), "{err}");
    assert!(arange(0i64, 5, 0, [4]).unwrap_err().to_string().contains("step is zero"));
    let err = arange(0.0, f64::NAN, 1.0, [4]).unwrap_err().to_string();
    assert!(err.contains("cannot count"), "{err}");
    assert!(arange(0.0, f64::INFINITY, 1.0, [4]).is_err());
    assert!(arange(i64::MIN, i64::MAX, 1, [4]).unwrap_err().to_string().contains("too many"));
    let err = arange(0i32, 10, 1, [2, 2]).unwrap_err().to_string();
    assert!(err.contains("[10]"), "{err}");
}

#[test]
fn linspace_follows_numpy() {
    let values = |start, stop, num| {
        linspace(start, stop, num, [2]).unwrap().compute().unwrap().iter().copied().collect::<Vec<_>>()
    };
    assert_eq!(values(0.0, 1.0, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    assert_eq!(values(1.0, 0.0, 3), vec![1.0, 0.5, 0.0]);
    assert_eq!(values(2.0, 5.0, 1), vec![2.0]);
    assert_eq!(values(2.0, 5.0, 0), Vec::<f64>::new());
    assert_eq!(values(0.0, 1.0, 10)[3], 1.0 / 9.0 * 3.0);
    assert_eq!(values(0.1, 0.7, 7).last(), Some(&0.7));
}

#[test]
fn eye_puts_ones_on_the_kth_diagonal() {
    let eye_of = |n, m, k| eye::<i64>(n, m, k, [2, 3]).unwrap().compute().unwrap();
    assert_eq!(eye_of(3, 4, 1), ndarray::array![[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]].into_dyn());
    assert_eq!(eye_of(3, 2, -1), ndarray::array![[0, 0], [1, 0], [0, 1]].into_dyn());
    assert_eq!(eye_of(2, 2, 5), ArrayD::<i64>::zeros(IxDyn(&[2, 2])));
    assert_eq!(eye_of(0, 3, 0).shape(), &[0, 3]);
    assert!(eye::<f64>(3, 3, 0, [3]).unwrap_err().to_string().contains("[3, 3]"));
    assert_eq!(
        eye::<f64>(4, 4, 0, [2, 2]).unwrap().to_string(),
        "rask.Array<eye, shape=(4, 4), dtype=float64, chunksize=(2, 2), chunktype=ndarray, tasks=4>"
    );
}

#[test]
fn random_numbers_follow_their_distribution() {
    let shape = [400, 500];
    let stats = |x: &ArrayD<f64>| {
        let mean = x.mean().unwrap();
        (mean, x.mapv(|v| (v - mean).powi(2)).mean().unwrap())
    };
    let (mean, var) = stats(&random::uniform(11, -1.0, 3.0, &shape, [128, 100]).unwrap().compute().unwrap());
    assert!((mean - 1.0).abs() < 0.01 && (var - 16.0 / 12.0).abs() < 0.01, "uniform: {mean} {var}");
    let (mean, var) = stats(&random::normal(12, 3.0, 2.0, &shape, [100, 500]).unwrap().compute().unwrap());
    assert!((mean - 3.0).abs() < 0.02 && (var - 4.0).abs() < 0.05, "normal: {mean} {var}");
    let (mean, var) = stats(&random::standard_normal(13, &shape, [400, 50]).unwrap().compute().unwrap());
    assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.01, "standard normal: {mean} {var}");
    let ints = random::integers(14, 0, 10, &shape, [200, 200]).unwrap().compute().unwrap();
    let counts = (0..10).map(|d| ints.iter().filter(|&&v| v == d).count()).collect::<Vec<_>>();
    assert!(counts.iter().all(|&c| (19_000..21_000).contains(&c)), "{counts:?}");
}

#[test]
fn seeds_and_blocks_draw_different_streams() {
    let x = random::random(1, &[4, 1000], [1, 1000]).unwrap().compute().unwrap();
    let y = random::random(2, &[4, 1000], [1, 1000]).unwrap().compute().unwrap();
    assert_ne!(x, y);
    for (a, b) in [(0, 1), (1, 2), (0, 3)] {
        assert_ne!(x.index_axis(ndarray::Axis(0), a), x.index_axis(ndarray::Axis(0), b), "blocks {a} and {b}");
    }
    let same = random::random(1, &[4, 1000], [1, 1000]).unwrap();
    assert_eq!(same.block_key(&[2, 0]), random::random(1, &[4, 1000], [1, 1000]).unwrap().block_key(&[2, 0]));
    assert_ne!(same.block_key(&[0, 0]), random::random(2, &[4, 1000], [1, 1000]).unwrap().block_key(&[0, 0]));
    assert_ne!(
        same.block_key(&[0, 0]),
        random::uniform(1, 0.0, 2.0, &[4, 1000], [1, 1000]).unwrap().block_key(&[0, 0])
    );
    // The numbers depend on the chunking (one stream per block), the shape does not.
    let rechunked = random::random(1, &[4, 1000], [2, 500]).unwrap();
    assert_eq!(rechunked.shape(), &[4, 1000]);
    assert_ne!(rechunked.compute().unwrap(), x);
}

#[test]
fn bad_random_parameters_are_errors() {
    let err = random::normal(1, 0.0, -0.5, &[3], [3]).unwrap_err().to_string();
    assert!(err.contains("-0.5") && err.contains("std"), "{err}");
    assert!(random::normal(1, 0.0, f64::NAN, &[3], [3]).is_err());
    let err = random::integers(1, 5, 2, &[3], [3]).unwrap_err().to_string();
    assert!(err.contains("[5, 2)"), "{err}");
    let err = random::random(1, &[3, 3], [3]).unwrap_err().to_string();
    assert!(err.contains("[3, 3]"), "{err}");
}

#[test]
fn from_delayed_checks_the_promised_shape_when_computed() {
    let make =
        delayed_fn("make", |n: i64| ArrayD::from_shape_fn(IxDyn(&[n as usize, 3]), |i| (i[0] * 3 + i[1]) as f64));
    let x = from_delayed(&make.call(2), &[2, 3]).unwrap();
    let expected = ArrayD::from_shape_fn(IxDyn(&[2, 3]), |i| (i[0] * 3 + i[1]) as f64);
    assert!(on_every_scheduler(&x, |got| *got == expected));
    assert_eq!((&x * 2.0).compute().unwrap(), expected.mapv(|v| v * 2.0));
    assert_eq!(x.chunks(), &[vec![2], vec![3]]);
    let literal = from_delayed(&delayed(expected.clone()), &[2, 3]).unwrap();
    assert_eq!(literal.compute().unwrap(), expected);
    let wrong = from_delayed(&make.call(5), &[2, 3]).unwrap();
    let err = (&wrong + 1.0).compute().unwrap_err().to_string();
    assert!(err.contains("[5, 3]") && err.contains("[2, 3]"), "{err}");
    let scalar = from_delayed(&delayed(ndarray::arr0(4i32).into_dyn()), &[]).unwrap();
    assert_eq!(scalar.compute().unwrap(), ndarray::arr0(4).into_dyn());
}

#[test]
fn from_blocks_promotes_lower_dimensional_arrays_and_reuses_blocks() {
    let row = from_ndarray(&ndarray::array![1.0, 2.0, 3.0], [2]).unwrap();
    let square = from_ndarray(&ndarray::array![[4.0, 5.0], [6.0, 7.0]], [1, 1]).unwrap();
    let column = from_ndarray(&ndarray::array![[8.0], [9.0]], [2, 1]).unwrap();
    // numpy.block([[row], [square, column]]) on a grid of 2 x 1 rows: here the grid is
    // [[row], [square | column]] done in two steps.
    let bottom = from_blocks(&[square, column], &[1, 2]).unwrap();
    assert_eq!(bottom.chunks(), &[vec![1, 1], vec![1, 1, 1]]);
    let x = from_blocks(&[row.clone(), bottom], &[2, 1]).unwrap();
    let expected = ndarray::array![[1.0, 2.0, 3.0], [4.0, 5.0, 8.0], [6.0, 7.0, 9.0]].into_dyn();
    assert!(on_every_scheduler(&x, |got| *got == expected));
    // A 1-d grid of 1-d arrays concatenates; blocks stay the inputs' (no copy tasks).
    let twice = from_blocks(&[row.clone(), row.clone()], &[2]).unwrap();
    assert_eq!(twice.chunks(), &[vec![2, 1, 2, 1]]);
    assert_eq!(twice.task_count(), row.task_count() + 4);
    assert_eq!(twice.compute().unwrap().iter().copied().collect::<Vec<_>>(), vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    // An empty grid dimension is an error; a single array is itself.
    assert!(from_blocks::<f64>(&[], &[0]).is_err());
    assert_eq!(from_blocks(std::slice::from_ref(&row), &[]).unwrap().compute().unwrap(), row.compute().unwrap());
}

#[test]
fn from_blocks_names_the_shapes_that_do_not_line_up() {
    let a = array::zeros::<f64>(&[2, 3], [2, 3]).unwrap();
    let b = array::zeros::<f64>(&[2, 4], [2, 4]).unwrap();
    let err = from_blocks(&[a.clone(), b.clone()], &[2, 1]).unwrap_err().to_string();
    assert!(err.contains("[2, 3]") && err.contains("[2, 4]") && err.contains("axis 1"), "{err}");
    let err = from_blocks(&[a.clone(), b.clone(), a.clone()], &[2, 2]).unwrap_err().to_string();
    assert!(err.contains("[2, 2]") && err.contains("4 arrays") && err.contains("3"), "{err}");
    let broken = &a + &b;
    assert!(from_blocks(&[a, broken], &[1, 2]).is_err());
}

static LOADS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn persist_computes_once_and_keeps_keys_and_chunks() {
    let load = delayed_fn("load", |n: i64| {
        LOADS.fetch_add(1, Ordering::SeqCst);
        ArrayD::from_shape_fn(IxDyn(&[n as usize]), |i| i[0] as f64)
    });
    let x = from_delayed(&load.call(6), &[6]).unwrap();
    let y = array::from_blocks(&[x.clone(), x], &[2]).unwrap();
    let before = LOADS.load(Ordering::SeqCst);
    for options in options() {
        let kept = y.persist_with(&options).unwrap();
        assert_eq!(kept.chunks(), y.chunks());
        assert_eq!(kept.block_key(&[1]), y.block_key(&[1]));
        assert_eq!(kept.task_count(), 2);
        let loads = LOADS.load(Ordering::SeqCst);
        let expected = ArrayD::from_shape_fn(IxDyn(&[12]), |i| (i[0] % 6) as f64);
        assert_eq!(kept.compute().unwrap(), expected);
        assert_eq!((&kept + 1.0).compute().unwrap(), expected.mapv(|v| v + 1.0));
        assert_eq!(LOADS.load(Ordering::SeqCst), loads, "persisted blocks are not computed again");
    }
    assert_eq!(LOADS.load(Ordering::SeqCst), before + options().len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn persisted_arrays_equal_their_computation((shape, chunks) in shape_and_chunks(), seed in any::<u64>()) {
        let data = f64_data(&shape, seed);
        let x = &from_ndarray(&data, chunks).unwrap() * 3.0;
        let kept = x.persist().unwrap();
        prop_assert_eq!(kept.npartitions(), x.npartitions());
        prop_assert_eq!(kept.task_count(), x.npartitions());
        prop_assert!(on_every_scheduler(&kept, |got| *got == data.mapv(|v| v * 3.0)));
    }
}

/// Not a test: measures random generation in release, single-threaded, one block of
/// 10^6 at a time as a task makes it (run with `cargo test --release -p
/// rask-collections --test array_creation_more -- --ignored --nocapture`).
#[test]
#[ignore]
fn measure_random_generation() {
    use rask_graph::{Op, Value};
    let (blocks, n) = (50, 1_000_000usize);
    for distribution in [
        random::Distribution::Uniform { low: 0.0, high: 1.0 },
        random::Distribution::Uniform { low: 0.0, high: 1.0 },
        random::Distribution::Normal { mean: 0.0, std: 1.0 },
        random::Distribution::Integers { low: 0, high: 1000 },
    ] {
        let start = std::time::Instant::now();
        let mut checksum = 0usize;
        for stream in 0..blocks {
            let op = random::RandomBlock { seed: 1, stream, shape: vec![n], distribution };
            if let Value::Array(chunk) = op.call(rask_graph::args![]).unwrap() {
                checksum += chunk.shape()[0];
            }
        }
        let ns = start.elapsed().as_nanos() as f64 / (blocks as usize * n) as f64;
        println!("{distribution:?}: {ns:.2} ns per element, {:.2} GB/s ({checksum})", 8.0 / ns);
    }
    // W2's generation: 10^8 uniform floats in 100 blocks on 2 threads, each block
    // dropped when made (as a reduction consumes it).
    let start = std::time::Instant::now();
    std::thread::scope(|scope| {
        for half in 0..2u64 {
            scope.spawn(move || {
                for stream in (half * 50)..(half * 50 + 50) {
                    let op = random::RandomBlock {
                        seed: 2,
                        stream,
                        shape: vec![1000, 1000],
                        distribution: random::Distribution::Uniform { low: 0.0, high: 1.0 },
                    };
                    op.call(rask_graph::args![]).unwrap();
                }
            });
        }
    });
    println!("1e8 uniform in 100 blocks on 2 threads: {:.3} s", start.elapsed().as_secs_f64());
}

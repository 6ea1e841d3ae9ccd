//! Array creation and compute against the same arrays built eagerly with ndarray, over
//! random shapes and chunkings (irregular, 0-d, one-element and empty arrays included).

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use rask_collections::array::{self, ChunkSpec};

mod common;
use common::{options, shape_and_chunks};

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn from_ndarray_round_trips((shape, chunks) in shape_and_chunks(), seed in any::<i64>()) {
        let n: usize = shape.iter().product();
        let data = ArrayD::from_shape_vec(IxDyn(&shape), (0..n as i64).map(|i| i.wrapping_mul(seed) % 1000).collect()).unwrap();
        let x = array::from_ndarray(&data, chunks.clone()).unwrap();
        prop_assert_eq!(x.shape(), shape.as_slice());
        prop_assert_eq!(x.chunks().to_vec(), chunks.resolve(&shape).unwrap());
        prop_assert_eq!(x.npartitions(), x.chunks().iter().map(Vec::len).product::<usize>());
        for options in options() {
            prop_assert_eq!(&x.compute_with(&options).unwrap(), &data);
        }
        let f = data.mapv(|v| v as f64 / 7.0);
        prop_assert_eq!(array::from_ndarray(&f, chunks).unwrap().compute().unwrap(), f);
    }

    #[test]
    fn filled_arrays_match_ndarray((shape, chunks) in shape_and_chunks(), value in -5i32..5) {
        let full = array::full(&shape, chunks.clone(), value).unwrap();
        prop_assert_eq!(full.compute().unwrap(), ArrayD::from_elem(IxDyn(&shape), value));
        let zeros = array::zeros::<f64>(&shape, chunks.clone()).unwrap();
        prop_assert_eq!(zeros.compute().unwrap(), ArrayD::<f64>::zeros(IxDyn(&shape)));
        let ones = array::ones::<bool>(&shape, chunks).unwrap();
        for options in options() {
            prop_assert_eq!(ones.compute_with(&options).unwrap(), ArrayD::from_elem(IxDyn(&shape), true));
        }
    }
}

#[test]
fn metadata_and_display_describe_the_array() {
    let x = array::zeros::<f64>(&[10_000, 10_000], [1000, 1000]).unwrap();
    assert_eq!(x.ndim(), 2);
    assert_eq!(x.nbytes(), 800_000_000);
    assert_eq!(x.npartitions(), 100);
    assert_eq!(x.chunksize(), vec![1000, 1000]);
    assert_eq!(
        x.to_string(),
        "rask.Array<zeros, shape=(10000, 10000), dtype=float64, chunksize=(1000, 1000), chunktype=ndarray, tasks=100>"
    );
    let scalar = array::full(&[], ChunkSpec::Whole, 2.5f32).unwrap();
    assert_eq!(scalar.compute().unwrap(), ndarray::arr0(2.5f32).into_dyn());
    assert_eq!(scalar.npartitions(), 1);
}

#[test]
fn equal_inputs_give_equal_keys_and_different_data_different_ones() {
    let a = ndarray::Array2::from_shape_fn((4, 4), |(i, j)| (i * 4 + j) as f64);
    let x = array::from_ndarray(&a, [2, 2]).unwrap();
    let y = array::from_ndarray(&a, [2, 2]).unwrap();
    assert_eq!(x.block_key(&[1, 1]), y.block_key(&[1, 1]));
    let mut b = a.clone();
    b[(3, 3)] = -1.0;
    assert_ne!(array::from_ndarray(&b, [2, 2]).unwrap().block_key(&[0, 0]), x.block_key(&[0, 0]));
    assert_ne!(array::from_ndarray(&a, [2, 4]).unwrap().block_key(&[0, 0]), x.block_key(&[0, 0]));
    assert_ne!(
        array::zeros::<f64>(&[4], [2]).unwrap().block_key(&[0]),
        array::zeros::<f32>(&[4], [2]).unwrap().block_key(&[0])
    );
}

#[test]
fn chunks_that_do_not_fit_are_errors_at_build_time() {
    let a = ndarray::Array2::<f64>::zeros((3, 4));
    let err = array::from_ndarray(&a, ChunkSpec::explicit(vec![vec![1, 1], vec![4]])).unwrap_err().to_string();
    assert!(err.contains("[3, 4]") && err.contains("sum to 2"), "{err}");
    let err = array::zeros::<i64>(&[3, 4], [2]).unwrap_err().to_string();
    assert!(err.contains("1 axes") && err.contains("[3, 4]"), "{err}");
    let err = array::ones::<i32>(&[3], [0]).unwrap_err().to_string();
    assert!(err.contains("chunk size 0"), "{err}");
}

#[test]
fn chunkings_of_too_many_blocks_are_errors_not_allocations() {
    // Counted before anything is built: these would need terabytes of block indices.
    let cases: Vec<(Vec<usize>, ChunkSpec)> = vec![
        (vec![usize::MAX, 2], ChunkSpec::uniform(&[10, 2])),
        (vec![1 << 40], ChunkSpec::uniform(&[1])),
        (vec![1 << 20, 1 << 20], ChunkSpec::uniform(&[64, 64])),
    ];
    for (shape, chunks) in cases {
        let e = array::zeros::<f64>(&shape, chunks.clone()).unwrap_err().to_string();
        assert!(e.contains("blocks") && e.contains(&array::MAX_BLOCKS.to_string()), "{e}");
        assert!(array::random::random(1, &shape, chunks).is_err());
    }
    // Explicit sizes whose sum overflows are a mismatch, not a panic.
    let e = array::zeros::<f64>(&[10], ChunkSpec::explicit(vec![vec![usize::MAX, 11]])).unwrap_err().to_string();
    assert!(e.contains("sum to more than 2^64"), "{e}");
    // Just under the limit is fine (nothing is computed).
    assert_eq!(array::zeros::<f64>(&[10_000, 10_000], [1, 100]).unwrap().numblocks(), vec![10_000, 100]);
}

#[test]
fn a_graph_too_large_for_the_memory_available_is_an_error_not_an_abort() {
    // 10^8 blocks, exactly MAX_BLOCKS: about 21.6 GB of graph. Where that much memory is
    // available the graph may be built (and the check's own test covers the refusal);
    // on smaller machines, such as this project's CI, it must be an error, not an abort.
    let needed = array::MAX_BLOCKS as u64 * array::GRAPH_BYTES_PER_BLOCK;
    if rask_graph::memory::available().is_some_and(|a| a < needed) {
        let e = array::zeros::<f64>(&[10_000, 10_000], [1, 1]).unwrap_err().to_string();
        assert!(e.contains("100000000 blocks") && e.contains("memory available"), "{e}");
    }
}

//! Shared strategies and scheduler settings for the array tests: random shapes, chunkings
//! (uniform, irregular, whole), data, and the schedulers every result is checked on; the
//! partitionings dataframe tests run over.
#![allow(dead_code)]

use arrow::array::{ArrayRef, RecordBatch};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use rask_collections::ComputeOptions;
use rask_collections::array::ChunkSpec;
use rask_collections::dataframe::{DataFrame, from_arrays, from_batches};
use rask_scheduler::{SyncScheduler, ThreadsScheduler};

/// Sync, threads, and threads without optimization.
pub fn options() -> Vec<ComputeOptions> {
    vec![
        ComputeOptions::default().scheduler(SyncScheduler),
        ComputeOptions::default().scheduler(ThreadsScheduler::new(3)),
        ComputeOptions::default().scheduler(ThreadsScheduler::new(2)).optimize(false),
    ]
}

/// Chunks for `shape`: uniform, explicit (irregular) or whole.
pub fn chunks_for(shape: Vec<usize>) -> impl Strategy<Value = ChunkSpec> {
    let uniform = proptest::collection::vec(1usize..5, shape.len()).prop_map(ChunkSpec::Uniform);
    let explicit = shape
        .iter()
        .map(|&n| {
            proptest::collection::vec(any::<bool>(), n.saturating_sub(1)).prop_map(move |cuts| {
                if n == 0 {
                    return vec![0];
                }
                let mut sizes = vec![1];
                for cut in cuts {
                    if cut { sizes.push(1) } else { *sizes.last_mut().unwrap() += 1 }
                }
                sizes
            })
        })
        .collect::<Vec<_>>()
        .prop_map(ChunkSpec::Explicit);
    prop_oneof![uniform, explicit, Just(ChunkSpec::Whole)]
}

/// A shape of up to 3 axes (lengths 0..7) and chunk sizes: uniform, explicit or whole.
pub fn shape_and_chunks() -> impl Strategy<Value = (Vec<usize>, ChunkSpec)> {
    proptest::collection::vec(0usize..7, 0..4).prop_flat_map(|shape| (Just(shape.clone()), chunks_for(shape)))
}

/// Data of `shape` from a seed: small floats with some negatives, zeros and repeats.
pub fn f64_data(shape: &[usize], seed: u64) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    let mut state = seed | 1;
    let values = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state % 41) as f64 - 20.0) / 4.0
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), values).unwrap()
}

/// A random array of `shape` chunked by `chunks`, as (ndarray, chunk spec).
pub fn f64_array() -> impl Strategy<Value = (ArrayD<f64>, ChunkSpec)> {
    (shape_and_chunks(), any::<u64>()).prop_map(|((shape, chunks), seed)| (f64_data(&shape, seed), chunks))
}

/// Two shapes that broadcast together (the second a suffix of the first with some axes
/// set to 1, or the other way around), each with its own chunks.
pub fn broadcast_pair() -> impl Strategy<Value = ((Vec<usize>, ChunkSpec), (Vec<usize>, ChunkSpec))> {
    (proptest::collection::vec(0usize..6, 0..4), any::<u8>(), any::<u8>(), any::<bool>()).prop_flat_map(
        |(shape, drop, ones, swap)| {
            let keep = shape.len() - (drop as usize % (shape.len() + 1));
            let other: Vec<usize> = shape[shape.len() - keep..]
                .iter()
                .enumerate()
                .map(|(i, &n)| if ones >> (i % 8) & 1 == 1 { 1 } else { n })
                .collect();
            let (a, b) = if swap { (other, shape) } else { (shape, other) };
            ((Just(a.clone()), chunks_for(a)), (Just(b.clone()), chunks_for(b)))
        },
    )
}

/// `batch` (of at least 2 rows) as dataframes of 1, 3 and 8 partitions, and cut with empty
/// partitions first, in the middle and last (2 rows, then the rest).
pub fn frames_of(batch: &RecordBatch) -> Vec<DataFrame> {
    let columns: Vec<(String, ArrayRef)> =
        batch.schema().fields().iter().zip(batch.columns()).map(|(f, c)| (f.name().clone(), c.clone())).collect();
    let mut out: Vec<DataFrame> =
        [1usize, 3, 8].into_iter().map(|parts| from_arrays(columns.clone(), parts).unwrap()).collect();
    let rows = batch.num_rows();
    let cuts = [(0, 0), (0, 2), (2, 0), (2, rows - 2), (rows, 0)];
    out.push(from_batches(cuts.iter().map(|&(start, len)| batch.slice(start, len)).collect()).unwrap());
    out
}

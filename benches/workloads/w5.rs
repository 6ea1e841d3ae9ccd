//! W5, the distributed client: two workers with one thread each.
//!
//! - `transfer_100mb`: scatter a 100 MB float64 array to worker A (`scatter_s`), sum it on
//!   A, then sum it on B, which fetches it from A; `transfer_s` is B's time minus A's, on
//!   workers that never held such a block (`transfer_again_s`: the same once more).
//! - `map_10k`: `map(inc, 0..n)` (10,000 by default) then `gather`, in µs per task.
//!
//! Each sum is an impure call placed on its worker by name (`workers=[..]`), so the two
//! are different tasks; the results are checked against the array's known sum.

use std::sync::Arc;
use std::time::Instant;

use rask::array::{ReduceBlock, Reducer};
use rask::graph::{ArrayChunk, Value, ops};
use rask::scheduler::{CallArg, Client, SubmitOptions};
use serde_json::{Value as Json, json};

/// Bytes of the array W5 moves.
const TRANSFER_BYTES: usize = 100_000_000;

/// Runs `case` through `client` (a cluster of at least two workers).
pub fn run(case: &str, n: Option<usize>, client: &Client) -> Json {
    match case {
        "transfer_100mb" => transfer(client),
        "map_10k" => map(client, n.unwrap_or(10_000)),
        other => panic!("no case w5/{other}"),
    }
}

fn transfer(client: &Client) -> Json {
    let workers = client.scheduler_info().expect("the cluster's workers").workers;
    assert!(workers.len() >= 2, "w5 needs two workers, the cluster has {}", workers.len());
    let on = |i: usize| SubmitOptions { workers: vec![workers[i].name.clone()], pure: false, ..Default::default() };
    let elements = TRANSFER_BYTES / 8;
    let array = ndarray::Array1::from_iter((0..elements).map(|i| (i % 1000) as f64)).into_dyn();
    let expected: f64 = (0..elements).map(|i| (i % 1000) as f64).sum();
    let value = Value::Array(ArrayChunk::F64(Arc::new(array)));

    let started = Instant::now();
    let data = client.scatter_with([value], &on(0)).expect("scatter").remove(0);
    rask::scheduler::wait(std::slice::from_ref(&data), rask::scheduler::WaitFor::All, None);
    let scatter_s = started.elapsed().as_secs_f64();

    let sum = ReduceBlock { reducer: Reducer::Sum, axes: vec![0] };
    let sum_on = |i: usize| {
        let started = Instant::now();
        let total = client.submit_with(&sum, [CallArg::from(&data)], &on(i)).expect("submit").result();
        let elapsed = started.elapsed().as_secs_f64();
        let Ok(Value::Array(ArrayChunk::F64(total))) = total else { panic!("sum on worker {i}: {total:?}") };
        assert_eq!(total.iter().copied().sum::<f64>(), expected, "sum on worker {i}");
        elapsed
    };
    let on_a = sum_on(0);
    let on_b = sum_on(1);
    // Once more: B's memory for the copy is now warm (freed blocks are reused).
    let again = sum_on(1) - sum_on(0);
    json!({
        "transfer_again_s": again,
        "transfer_100mb": on_b - on_a,
        "transfer_s": on_b - on_a,
        "scatter_s": scatter_s,
        "sum_on_holder_s": on_a,
        "sum_elsewhere_s": on_b,
        "gb_per_s": TRANSFER_BYTES as f64 / 1e9 / (on_b - on_a),
    })
}

fn map(client: &Client, n: usize) -> Json {
    let started = Instant::now();
    let futures = client.map(&ops::Inc, (0..n as i64).map(|i| [CallArg::Value(Value::I64(i))])).expect("map");
    let submit_s = started.elapsed().as_secs_f64();
    let values = client.gather(&futures).expect("gather");
    let elapsed = started.elapsed().as_secs_f64();
    assert!(values.iter().enumerate().all(|(i, v)| *v == Value::I64(i as i64 + 1)), "gathered values");
    drop(futures);
    json!({ "map_10k": elapsed, "n": n, "submit_s": submit_s, "us_per_task": elapsed * 1e6 / n as f64 })
}

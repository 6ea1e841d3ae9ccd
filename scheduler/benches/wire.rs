//! Wire throughput (BENCHMARKS.md W5): a 100 MB float64 block and a 100 MB record batch
//! sent between two threads over a Unix socket and TCP loopback, and the rate of
//! `Compute` batches of 10,000 small `inc` tasks. Run with
//! `cargo bench -p rask-scheduler --bench wire`; it prints a table, it asserts nothing.
//! With `RASK_BENCH_KEEP_FREED=1` glibc keeps freed large blocks, so receivers reuse
//! memory already faulted in (page faults of fresh memory otherwise dominate).

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use arrow_array::{Float64Array, Int64Array, RecordBatch};
use ndarray::{ArrayD, IxDyn};
use rask_graph::ops::Inc;
use rask_graph::{ArrayChunk, Batch, Group, Key, Token, Value};
use rask_scheduler::wire::{
    Address, Connection, EncodedOp, Listener, MAX_FRAME_BYTES, TaskMsg, ToWorker, WireArg, read_message, write_message,
};

fn block(bytes: usize) -> Value {
    let n = bytes / 8;
    Value::Array(ArrayChunk::F64(Arc::new(ArrayD::from_shape_fn(IxDyn(&[n / 1000, 1000]), |i| (i[0] + i[1]) as f64))))
}

fn batch(bytes: usize) -> Value {
    let rows = bytes / 16;
    let x: Float64Array = (0..rows).map(|i| i as f64 * 0.5).collect();
    let n: Int64Array = (0..rows as i64).collect();
    Value::Batch(Batch::new(RecordBatch::try_from_iter([("x", Arc::new(x) as _), ("n", Arc::new(n) as _)]).unwrap()))
}

fn compute(tasks: usize) -> ToWorker {
    ToWorker::Compute {
        ops: vec![EncodedOp::encode(&Inc).unwrap()],
        tasks: (0..tasks)
            .map(|i| TaskMsg {
                key: Key::new(Group::new("inc"), Token(7), &[i as u32]),
                op: 0,
                args: vec![WireArg::Value(Value::I64(i as i64))],
                priority: (i as u64).into(),
            })
            .collect(),
    }
}

/// Sends `make()` `reps` times from one thread to another over `address`; returns the
/// time of each transfer (encode, write, read, decode), the receiver starting each.
fn transfer<M, F>(address: &str, reps: usize, make: F) -> Vec<Duration>
where
    M: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    F: FnOnce() -> M + Send + 'static,
{
    let listener = Listener::bind(&address.parse::<Address>().unwrap()).unwrap();
    let address = listener.address().clone();
    let (go, ready) = mpsc::channel::<()>();
    let sender = std::thread::spawn(move || {
        let message = make();
        let mut conn = Connection::connect(&address).unwrap();
        while ready.recv().is_ok() {
            write_message(&mut conn, &message).unwrap();
        }
    });
    let mut conn = listener.accept().unwrap();
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        go.send(()).unwrap();
        let message: M = read_message(&mut conn, MAX_FRAME_BYTES).unwrap();
        times.push(start.elapsed());
        drop(message);
    }
    drop(go);
    sender.join().unwrap();
    times
}

/// The ceiling: the same bytes as one plain `write_all` / `read_exact` into memory that is
/// already faulted in (`warm`) or freshly allocated.
fn raw_transfer(address: &str, reps: usize, bytes: usize, warm: bool) -> Vec<Duration> {
    use std::io::{Read, Write};
    let listener = Listener::bind(&address.parse::<Address>().unwrap()).unwrap();
    let address = listener.address().clone();
    let (go, ready) = mpsc::channel::<()>();
    let sender = std::thread::spawn(move || {
        let data = vec![7u8; bytes];
        let mut conn = Connection::connect(&address).unwrap();
        while ready.recv().is_ok() {
            conn.write_all(&data).unwrap();
        }
    });
    let mut conn = listener.accept().unwrap();
    let mut buffer = vec![1u8; bytes];
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        go.send(()).unwrap();
        if warm {
            conn.read_exact(&mut buffer).unwrap();
        } else {
            let mut fresh = vec![0u8; bytes];
            conn.read_exact(&mut fresh).unwrap();
        }
        times.push(start.elapsed());
    }
    drop(go);
    sender.join().unwrap();
    times
}

fn summary(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    (times[0], times[times.len() / 2])
}

fn main() {
    if std::env::var_os("RASK_BENCH_KEEP_FREED").is_some() {
        // Freed large blocks stay in glibc's heap, so a received buffer reuses memory that
        // is already faulted in instead of fresh pages from the kernel.
        // SAFETY: mallopt only tunes glibc's allocator; called before any other thread runs.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        }
        println!("(freed blocks kept in the heap: RASK_BENCH_KEEP_FREED)");
    }
    let dir = std::env::temp_dir().join(format!("rask-wire-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let unix = format!("unix://{}", dir.join("bench.sock").display());
    let tcp = "tcp://127.0.0.1:0".to_string();
    let bytes = 100_000_000;

    println!("{:<34} {:>10} {:>10} {:>9}", "transfer (100 MB)", "best ms", "median ms", "GB/s");
    for (name, address) in [("unix", &unix), ("tcp", &tcp)] {
        let mut t = transfer(address, 15, move || block(bytes));
        let (best, median) = summary(&mut t);
        let gbs = bytes as f64 / median.as_secs_f64() / 1e9;
        println!("{:<34} {:>10.1} {:>10.1} {:>9.2}", format!("float64 block over {name}"), ms(best), ms(median), gbs);
        let mut t = transfer(address, 15, move || batch(bytes));
        let (best, median) = summary(&mut t);
        let gbs = bytes as f64 / median.as_secs_f64() / 1e9;
        println!("{:<34} {:>10.1} {:>10.1} {:>9.2}", format!("record batch over {name}"), ms(best), ms(median), gbs);
    }

    for (name, address) in [("unix", &unix), ("tcp", &tcp)] {
        for warm in [true, false] {
            let mut t = raw_transfer(address, 15, bytes, warm);
            let (best, median) = summary(&mut t);
            let what = if warm { "warm" } else { "fresh" };
            let gbs = bytes as f64 / median.as_secs_f64() / 1e9;
            println!(
                "{:<34} {:>10.1} {:>10.1} {:>9.2}",
                format!("raw bytes into {what} memory, {name}"),
                ms(best),
                ms(median),
                gbs
            );
        }
    }

    let value = block(bytes);
    let mut frame = Vec::with_capacity(bytes + 4096);
    let start = Instant::now();
    write_message(&mut frame, &value).unwrap();
    let encode = start.elapsed();
    let start = Instant::now();
    let back: Value = read_message(&mut frame.as_slice(), MAX_FRAME_BYTES).unwrap();
    let decode = start.elapsed();
    assert_eq!(back, value);
    println!(
        "float64 block in memory: encode into a Vec {:.1} ms, decode from a slice {:.1} ms",
        ms(encode),
        ms(decode)
    );
    drop((frame, back));

    let start = Instant::now();
    let plain = rmp_serde::to_vec(&value).unwrap();
    let back: Value = rmp_serde::from_slice(&plain).unwrap();
    let t = start.elapsed();
    assert_eq!(back, value);
    println!(
        "{:<34} {:>10.1} {:>10} {:>9.2}",
        "float64 block, plain serde (before)",
        ms(t),
        "",
        bytes as f64 / t.as_secs_f64() / 1e9
    );
    drop((plain, back, value));

    let n = 10_000;
    println!("\n{:<34} {:>10} {:>10} {:>9}", "Compute of 10,000 inc tasks", "best ms", "median ms", "us/task");
    for (name, address) in [("unix", &unix), ("tcp", &tcp)] {
        let mut t = transfer(address, 50, move || compute(n));
        let (best, median) = summary(&mut t);
        println!(
            "{:<34} {:>10.2} {:>10.2} {:>9.3}",
            format!("over {name}"),
            ms(best),
            ms(median),
            median.as_secs_f64() * 1e6 / n as f64
        );
    }
    let message = compute(n);
    let mut frame = Vec::new();
    let reps = 50;
    let start = Instant::now();
    for _ in 0..reps {
        frame.clear();
        write_message(&mut frame, &message).unwrap();
    }
    let encode = start.elapsed() / reps;
    let start = Instant::now();
    for _ in 0..reps {
        let _: ToWorker = read_message(&mut frame.as_slice(), MAX_FRAME_BYTES).unwrap();
    }
    let decode = start.elapsed() / reps;
    println!(
        "in memory: frame {} bytes ({:.1} per task), encode {:.3} us/task, decode {:.3} us/task, {:.0} Compute messages/s",
        frame.len(),
        frame.len() as f64 / n as f64,
        encode.as_secs_f64() * 1e6 / n as f64,
        decode.as_secs_f64() * 1e6 / n as f64,
        1.0 / (encode + decode).as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

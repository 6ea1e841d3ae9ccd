//! W6, the classic threads-vs-processes table: 64 tasks of CPU-bound, IO-bound or
//! network-bound work, then one sum of their results.
//!
//! - `cpu`: count the primes below 200,000 by trial division (17,984 each);
//! - `io`: write a 16 MiB file, fsync it, read it back and check it (16,777,216 bytes each);
//! - `net`: one HTTP GET to a server on 127.0.0.1 that answers after 100 ms (the body's
//!   length each).
//!
//! The ops are registered like any user's ops; on `processes` the harness binary is its
//! own worker (`rask::worker::main()`), so they are linked where they run.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask::graph::{Arg, Args, Group, Key, Op, OpError, TaskGraph, Token, Value, ops};
use rask::scheduler::Scheduler;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

/// Tasks per case.
const TASKS: u32 = 64;
/// Trial division runs up to this bound.
const PRIME_BOUND: u64 = 200_000;
/// Bytes each IO task writes and reads back.
const IO_BYTES: usize = 16 << 20;
/// How long the local HTTP server waits before it answers.
const NET_DELAY: Duration = Duration::from_millis(100);
const BODY: &[u8] = b"rask w6 says hello\n";

/// Counts the primes below `below` by trial division.
#[derive(Debug, Serialize, Deserialize)]
pub struct CountPrimes {
    below: u64,
}

#[typetag::serde(name = "rask.bench.count_primes")]
impl Op for CountPrimes {
    fn name(&self) -> &str {
        "count_primes"
    }
    fn call(&self, _: Args) -> Result<Value, OpError> {
        let is_prime = |n: u64| n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| !n.is_multiple_of(d));
        Ok(Value::I64((0..self.below).filter(|&n| is_prime(n)).count() as i64))
    }
}

/// Writes `bytes` to a file of its own under `dir`, fsyncs, reads it back, checks and
/// deletes it; returns the bytes read.
#[derive(Debug, Serialize, Deserialize)]
pub struct FileRoundTrip {
    dir: String,
    index: u32,
    bytes: usize,
}

#[typetag::serde(name = "rask.bench.file_round_trip")]
impl Op for FileRoundTrip {
    fn name(&self) -> &str {
        "file_round_trip"
    }
    fn call(&self, _: Args) -> Result<Value, OpError> {
        let path = std::path::Path::new(&self.dir).join(format!("w6-{}-{}.bin", std::process::id(), self.index));
        let fail = |what: &str, e: std::io::Error| OpError::new(format!("{what} {}: {e}", path.display()));
        let data: Vec<u8> = (0..self.bytes).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3]).collect();
        let mut file = std::fs::File::create(&path).map_err(|e| fail("cannot create", e))?;
        file.write_all(&data).map_err(|e| fail("cannot write", e))?;
        file.sync_all().map_err(|e| fail("cannot fsync", e))?;
        drop(file);
        let back = std::fs::read(&path).map_err(|e| fail("cannot read", e))?;
        std::fs::remove_file(&path).map_err(|e| fail("cannot remove", e))?;
        if back != data {
            return Err(OpError::new(format!("{} read back different bytes", path.display())));
        }
        Ok(Value::I64(back.len() as i64))
    }
}

/// One HTTP/1.1 GET of `/` from `address`; returns the body's length.
#[derive(Debug, Serialize, Deserialize)]
pub struct HttpGet {
    address: String,
}

#[typetag::serde(name = "rask.bench.http_get")]
impl Op for HttpGet {
    fn name(&self) -> &str {
        "http_get"
    }
    fn call(&self, _: Args) -> Result<Value, OpError> {
        let fail = |e: std::io::Error| OpError::new(format!("GET http://{}/: {e}", self.address));
        let mut stream = TcpStream::connect(&self.address).map_err(fail)?;
        write!(stream, "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.address).map_err(fail)?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).map_err(fail)?;
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| OpError::new(format!("GET http://{}/: no header end in the response", self.address)))?;
        if !head.starts_with("HTTP/1.1 200") {
            return Err(OpError::new(format!("GET http://{}/: {}", self.address, head.lines().next().unwrap_or(""))));
        }
        Ok(Value::I64(body.len() as i64))
    }
}

/// A server on 127.0.0.1 answering every request after [`NET_DELAY`], a thread per
/// connection; it lives as long as the process.
fn start_slow_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the W6 HTTP server");
    let address = listener.local_addr().expect("the server's address").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer_slowly(stream));
        }
    });
    address
}

fn answer_slowly(mut stream: TcpStream) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    std::thread::sleep(NET_DELAY);
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", BODY.len());
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(BODY));
}

/// Runs one W6 case on `scheduler`; `data` is the directory of the IO case's files.
pub fn run(case: &str, data: Option<&str>, scheduler: &dyn Scheduler) -> Json {
    let start = Instant::now();
    let dir = data.map_or_else(std::env::temp_dir, std::path::PathBuf::from).display().to_string();
    let server = (case == "net").then(start_slow_server);
    let task_op = |index: u32| -> Arc<dyn Op> {
        match (case, &server) {
            ("cpu", _) => Arc::new(CountPrimes { below: PRIME_BOUND }),
            ("io", _) => Arc::new(FileRoundTrip { dir: dir.clone(), index, bytes: IO_BYTES }),
            ("net", Some(address)) => Arc::new(HttpGet { address: address.clone() }),
            _ => panic!("w6 has no case {case:?} (cpu, io, net)"),
        }
    };
    let mut builder = TaskGraph::builder();
    let group = Group::new(case);
    let leaves: Vec<Arg> = (0..TASKS)
        .map(|i| Arg::Task(builder.add(Key::new(group, Token(6), &[i]), &task_op(i), []).expect("a W6 task")))
        .collect();
    let sum: Arc<dyn Op> = Arc::new(ops::Sum);
    let total = builder.add(Key::single(Group::new("sum"), Token(6)), &sum, leaves).expect("the W6 sum");
    let graph = builder.build().expect("the W6 graph");
    let build_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let values = scheduler.execute(&graph, &[total]).unwrap_or_else(|e| panic!("w6 {case}: {e}"));
    let compute_s = start.elapsed().as_secs_f64();
    let expected = match case {
        "cpu" => 17_984 * i64::from(TASKS),
        "io" => IO_BYTES as i64 * i64::from(TASKS),
        _ => BODY.len() as i64 * i64::from(TASKS),
    };
    let check = match &values[0] {
        Value::I64(v) => *v,
        other => panic!("w6 {case}: the sum is {other:?}"),
    };
    assert_eq!(check, expected, "w6 {case}: wrong result");
    json!({
        "n_tasks_raw": graph.len(),
        "n_tasks": graph.len(),
        "build_s": build_s,
        "compute_s": compute_s,
        "check": check,
    })
}

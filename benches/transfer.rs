//! W5's transfer between two workers on one host (BENCHMARKS.md): two real `rask-worker`
//! processes join a scheduler played by this bench; worker A makes a 100 MB float64 block,
//! then worker B runs a task reading it, fetched from A. The time from sending B's task
//! to B's `Finished` is the transfer (the op itself only wraps its input in a list).
//!
//! `cargo bench --bench transfer [-- --runs R --mb M --tcp]`; prints one JSON line per run
//! and the median, asserts nothing.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask::array::FullBlock;
use rask::graph::{Element, Group, Key, Token, ops};
use rask::scheduler::wire::{
    Address, Connection, EncodedOp, FromWorker, Listener, Role, TaskMsg, ToWorker, Welcome, WireArg, WorkerInfo,
    accept_handshake, read_message, write_message,
};

const WORKER: &str = env!("CARGO_BIN_EXE_rask-worker");
const TOKEN: &str = "transfer-bench";

struct Worker {
    child: Child,
    conn: Connection,
    info: WorkerInfo,
}

impl Worker {
    fn send(&mut self, message: &ToWorker) {
        write_message(&mut self.conn, message).unwrap();
    }

    /// Waits for `key` to finish (or fail, which ends the bench).
    fn finished(&mut self, key: Key) {
        loop {
            match read_message::<_, FromWorker>(&mut self.conn, u64::MAX).unwrap() {
                FromWorker::Finished(batch) if batch.iter().any(|f| f.key == key) => return,
                FromWorker::Failed(f) => panic!("{f:?}"),
                _ => {}
            }
        }
    }
}

fn start(listener: &Listener, name: &str, dir: &std::path::Path) -> Worker {
    let child = Command::new(WORKER)
        .args(["--scheduler", &listener.address().to_string(), "--nthreads", "1", "--name", name, "--local-dir"])
        .arg(dir)
        .env("RASK_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut conn = listener.accept().unwrap();
    let hello = accept_handshake(&mut conn, TOKEN, Welcome::new(1)).unwrap();
    let Role::Worker(info) = hello.role else { panic!("not a worker") };
    Worker { child, conn, info }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let runs: usize = flag("--runs").map_or(7, |r| r.parse().unwrap());
    let mb: usize = flag("--mb").map_or(100, |m| m.parse().unwrap());
    let tcp = args.iter().any(|a| a == "--tcp");
    let dir = std::env::temp_dir().join(format!("rask-transfer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let address: Address =
        if tcp { "tcp://127.0.0.1:0".parse().unwrap() } else { Address::Unix(dir.join("scheduler.sock")) };
    let listener = Listener::bind(&address).unwrap();
    let mut a = start(&listener, "a", &dir);
    let mut b = start(&listener, "b", &dir);
    let elements = mb * 1_000_000 / 8;
    let full = EncodedOp::encode(&FullBlock {
        shape: vec![elements],
        fill: f64::wrap(Arc::new(ndarray::arr0(1.5).into_dyn())),
    })
    .unwrap();
    let list = EncodedOp::encode(&ops::MakeList).unwrap();
    let mut times = Vec::new();
    for run in 0..runs {
        let made = Key::new(Group::new("made"), Token(run as u64), &[0]);
        let read = Key::new(Group::new("read"), Token(run as u64), &[0]);
        a.send(&ToWorker::Compute {
            ops: vec![full.clone()],
            tasks: vec![TaskMsg { key: made, op: 0, args: vec![], priority: 0 }],
        });
        a.finished(made);
        let remote = WireArg::Remote { key: made, from: a.info.data_address.clone() };
        let started = Instant::now();
        b.send(&ToWorker::Compute {
            ops: vec![list.clone()],
            tasks: vec![TaskMsg { key: read, op: 0, args: vec![remote], priority: 0 }],
        });
        b.finished(read);
        let elapsed = started.elapsed();
        a.send(&ToWorker::Release(vec![made]));
        b.send(&ToWorker::Release(vec![read]));
        println!(
            "{{\"bench\": \"transfer\", \"mb\": {mb}, \"transport\": \"{}\", \"transfer_s\": {:.6}, \"gb_per_s\": {:.3}}}",
            if tcp { "tcp" } else { "unix" },
            elapsed.as_secs_f64(),
            mb as f64 / 1000.0 / elapsed.as_secs_f64()
        );
        times.push(elapsed);
        std::thread::sleep(Duration::from_millis(50));
    }
    times.sort();
    println!("median transfer of {mb} MB: {:.1} ms", times[times.len() / 2].as_secs_f64() * 1000.0);
    for mut worker in [a, b] {
        worker.send(&ToWorker::Shutdown);
        let _ = worker.child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

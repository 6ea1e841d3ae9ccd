//! W5's transfer between two workers on one host (BENCHMARKS.md): two real `rask-worker`
//! processes join a scheduler played by this bench; worker A makes a 100 MB float64 block,
//! then worker B runs a task reading it, fetched from A. The time from sending B's task
//! to B's `Finished` is the transfer (the op itself only wraps its input in a list).
//!
//! `cargo bench --bench transfer [-- --runs R --mb M --tcp | --netns]`; prints one JSON
//! line per run and the median, asserts nothing. `--netns` puts each worker in a network
//! namespace of its own (two hosts joined by veth pairs on a bridge; needs root and
//! iproute2), so the value crosses a network stack.

#[path = "../tests/support/netns.rs"]
mod netns;

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
    child: Option<Child>,
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

/// Starts a worker (on host `host` of `net` if given) and takes its handshake.
fn start(listener: &Listener, name: &str, dir: &std::path::Path, net: Option<(&mut netns::Hosts, usize)>) -> Worker {
    let scheduler = listener.address().to_string();
    let dir = dir.to_string_lossy().into_owned();
    let args = ["--scheduler", &scheduler, "--nthreads", "1", "--name", name, "--local-dir", &dir];
    let child = match net {
        Some((net, host)) => {
            net.spawn(host, WORKER, &args, TOKEN);
            None
        }
        None => Some(Command::new(WORKER).args(args).env("RASK_TOKEN", TOKEN).stdin(Stdio::null()).spawn().unwrap()),
    };
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
    let mut net = args.iter().any(|a| a == "--netns").then(|| netns::Hosts::new(2));
    let dir = std::env::temp_dir().join(format!("rask-transfer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let address: Address = match &net {
        Some(net) => format!("tcp://10.77.{}.254:0", net.subnet).parse().unwrap(),
        None if tcp => "tcp://127.0.0.1:0".parse().unwrap(),
        None => Address::Unix(dir.join("scheduler.sock")),
    };
    let transport = if net.is_some() {
        "netns"
    } else if tcp {
        "tcp"
    } else {
        "unix"
    };
    let listener = Listener::bind(&address).unwrap();
    let mut a = start(&listener, "a", &dir, net.as_mut().map(|n| (n, 0)));
    let mut b = start(&listener, "b", &dir, net.as_mut().map(|n| (n, 1)));
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
            tasks: vec![TaskMsg { key: made, op: 0, args: vec![], priority: 0.into() }],
        });
        a.finished(made);
        let remote = WireArg::Remote { key: made, from: a.info.data_address.clone() };
        let started = Instant::now();
        b.send(&ToWorker::Compute {
            ops: vec![list.clone()],
            tasks: vec![TaskMsg { key: read, op: 0, args: vec![remote], priority: 0.into() }],
        });
        b.finished(read);
        let elapsed = started.elapsed();
        a.send(&ToWorker::Release(vec![made]));
        b.send(&ToWorker::Release(vec![read]));
        println!(
            "{{\"bench\": \"transfer\", \"mb\": {mb}, \"transport\": \"{transport}\", \"transfer_s\": {:.6}, \"gb_per_s\": {:.3}}}",
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
        if let Some(mut child) = worker.child.take() {
            let _ = child.wait();
        }
    }
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);
}

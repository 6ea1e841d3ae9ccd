//! The distributed scheduler across real network hosts on one machine: the scheduler and
//! each worker in a network namespace of its own, joined by veth pairs on a bridge (`ip
//! netns`, which needs root: CI runs as root, and `.ci/run` installs iproute2). The test
//! process, in the root namespace, is the client.
//!
//! Taking a worker's link down mid-run leaves its connection open but silent: the
//! scheduler gives the worker up once its heartbeats stop for the ttl, and the result is
//! still right.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask::array::{self, Array};
use rask::prelude::*;
use rask::scheduler::{Client, ClusterAddress, ThreadsScheduler};

const SCHEDULER: &str = env!("CARGO_BIN_EXE_rask-scheduler");
const WORKER: &str = env!("CARGO_BIN_EXE_rask-worker");

/// Namespaces `<tag>h0..` on a bridge in `<tag>br`, the root namespace on it too; all
/// removed on drop, with every process started in them.
struct Hosts {
    tag: String,
    subnet: u32,
    hosts: usize,
    children: Vec<Child>,
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("the ip command (Debian's iproute2)");
    assert!(output.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
}

impl Hosts {
    fn new(hosts: usize) -> Hosts {
        let pid = std::process::id();
        let tag = format!("rk{}", pid % 100_000);
        let subnet = 20 + pid % 200;
        let mut net = Hosts { tag, subnet, hosts: 0, children: Vec::new() };
        let bridge = net.bridge_ns();
        ip(&["netns", "add", &bridge]);
        ip(&["-n", &bridge, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &bridge, "link", "set", "br0", "up"]);
        for i in 0..hosts {
            let (ns, here, there) = (net.ns(i), format!("{}v{i}", net.tag), format!("{}b{i}", net.tag));
            ip(&["netns", "add", &ns]);
            net.hosts += 1;
            ip(&["link", "add", &here, "type", "veth", "peer", "name", &there]);
            ip(&["link", "set", &here, "netns", &ns]);
            ip(&["link", "set", &there, "netns", &bridge]);
            ip(&["-n", &bridge, "link", "set", &there, "master", "br0", "up"]);
            ip(&["-n", &ns, "addr", "add", &format!("{}/24", net.addr(i)), "dev", &here]);
            ip(&["-n", &ns, "link", "set", &here, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        let (root, there) = (format!("{}vr", net.tag), format!("{}br", net.tag));
        ip(&["link", "add", &root, "type", "veth", "peer", "name", &there]);
        ip(&["link", "set", &there, "netns", &bridge]);
        ip(&["-n", &bridge, "link", "set", &there, "master", "br0", "up"]);
        ip(&["addr", "add", &format!("10.77.{}.254/24", net.subnet), "dev", &root]);
        ip(&["link", "set", &root, "up"]);
        net
    }

    fn bridge_ns(&self) -> String {
        format!("{}-br", self.tag)
    }

    fn ns(&self, i: usize) -> String {
        format!("{}-h{i}", self.tag)
    }

    fn addr(&self, i: usize) -> String {
        format!("10.77.{}.{}", self.subnet, i + 1)
    }

    /// Starts `program` with `args` on host `i`.
    fn spawn(&mut self, i: usize, program: &str, args: &[&str], token: &str) -> u32 {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(i), program])
            .args(args)
            .env("RASK_TOKEN", token)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Takes host `i`'s link down: nothing reaches it, nothing leaves it, no connection
    /// closes.
    fn cut(&self, i: usize) {
        ip(&["-n", &self.ns(i), "link", "set", &format!("{}v{i}", self.tag), "down"]);
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip").args(["link", "del", &format!("{}vr", self.tag)]).output();
        for i in 0..self.hosts {
            let _ = Command::new("ip").args(["netns", "del", &self.ns(i)]).output();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.bridge_ns()]).output();
    }
}

#[test]
fn a_worker_whose_link_goes_down_mid_run_is_given_up_and_the_result_is_right() {
    let mut net = Hosts::new(3);
    let token = "netns-token";
    let scheduler = format!("tcp://{}:8786", net.addr(0));
    net.spawn(0, SCHEDULER, &["--host", &net.addr(0), "--port", "8786", "--worker-ttl", "3s"], token);
    for i in 1..3 {
        net.spawn(i, WORKER, &["--scheduler", &scheduler, "--nthreads", "1", "--death-timeout", "20s"], token);
    }
    let target: ClusterAddress = scheduler.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        match Client::connect_with_token(target.clone(), token) {
            Ok(client) if client.info().is_ok_and(|i| i.workers.len() == 2) => break Arc::new(client),
            _ => {
                assert!(Instant::now() < deadline, "the scheduler and both workers came up");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    // Workers on other hosts announce their own interface, not loopback.
    let info = client.info().unwrap();
    for w in &info.workers {
        assert!(w.data_address.to_string().contains(&format!("10.77.{}.", net.subnet)), "{}", w.data_address);
    }
    let x = array::random::random(11, &[2400, 2400], [100, 100]).unwrap();
    let total: Array<f64> = (&(&x + &x.t()) * 2.0).sum(..).unwrap();
    let want = total.compute_with(&ComputeOptions::default().scheduler(ThreadsScheduler::new(2))).unwrap();
    let run = {
        let (client, total) = (client.clone(), total.clone());
        std::thread::spawn(move || total.compute_with(&ComputeOptions::default().scheduler_arc(client)))
    };
    std::thread::sleep(Duration::from_millis(500));
    assert!(!run.is_finished(), "the link goes down mid-run");
    let cut = Instant::now();
    net.cut(2);
    let got = run.join().unwrap().unwrap();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
    assert!(close(got.sum(), want.sum()), "{} != {}", got.sum(), want.sum());
    let info = client.info().unwrap();
    assert_eq!((info.workers.len(), info.workers_lost), (1, 1), "the cut worker was given up");
    assert!(cut.elapsed() >= Duration::from_secs(2), "given up once silent for its ttl, not before");
}

//! The distributed scheduler across real network hosts on one machine: the scheduler and
//! each worker in a network namespace of its own, joined by veth pairs on a bridge (`ip
//! netns`, which needs root: CI runs as root, and `.ci/run` installs iproute2). The test
//! process, in the root namespace, is the client.
//!
//! Taking a worker's link down mid-run leaves its connection open but silent: the
//! scheduler gives the worker up once its heartbeats stop for the ttl, and the result is
//! still right.

#[path = "support/netns.rs"]
mod netns;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rask::array::{self, Array};
use rask::prelude::*;
use rask::scheduler::{Client, ClusterAddress, ThreadsScheduler};

const SCHEDULER: &str = env!("CARGO_BIN_EXE_rask-scheduler");
const WORKER: &str = env!("CARGO_BIN_EXE_rask-worker");

#[test]
fn a_worker_whose_link_goes_down_mid_run_is_given_up_and_the_result_is_right() {
    let mut net = netns::Hosts::new(3);
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

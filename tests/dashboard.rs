//! The dashboard's JSON API, `/metrics` and live stream, against a local run
//! (`rask::dashboard::serve` beside the threads scheduler) and against the real
//! `rask-scheduler` binary with two `rask-worker`s: counts are checked against the graph
//! computed here (its tasks per group) and the results against eager ones; and the pages
//! in a real headless Chromium (through ChromeDriver) while a computation runs, with
//! screenshots saved under `target/dashboard/`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rask::array;
use rask::graph::OptimizeOptions;
use rask::prelude::*;
use rask::scheduler::{Client, ClusterAddress, Scheduler};
use serde_json::Value as Json;

#[path = "support/settle.rs"]
mod settle;
#[path = "support/webdriver.rs"]
mod webdriver;

use settle::settles;

const SCHEDULER: &str = env!("CARGO_BIN_EXE_rask-scheduler");
const WORKER: &str = env!("CARGO_BIN_EXE_rask-worker");

/// One test at a time: the event bus is the process's.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `GET path` on `address`; the status code and the body.
fn get(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, body.to_string())
}

fn get_json(address: &str, path: &str) -> Json {
    let (status, body) = get(address, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Polls `path` until `done` holds of its JSON (at most 20 s); the last answer.
fn json_settles(address: &str, path: &str, done: impl Fn(&Json) -> bool) -> Json {
    settles(|| get_json(address, path), done)
}

/// Tasks per group of `array`'s optimized graph, as the scheduler receives it.
fn groups_of(array: &rask::array::Array<f64>) -> Vec<(String, u64)> {
    let mut targets = Vec::new();
    rask::Computable::targets(array, &mut targets);
    let (graph, _) = rask_collections::compute::build_graph(&targets, OptimizeOptions::default()).unwrap();
    let mut counts: Vec<(String, u64)> = Vec::new();
    for key in graph.keys() {
        let name = key.group().as_str().to_string();
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => counts.push((name, 1)),
        }
    }
    counts
}

fn group_counts(groups: &Json) -> Vec<(String, u64)> {
    let mut counts: Vec<(String, u64)> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap().to_string(), g["total"].as_u64().unwrap()))
        .collect();
    counts.sort();
    counts
}

/// The value of an unlabelled (or exactly labelled) Prometheus sample.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[test]
fn a_local_run_shows_its_groups_tasks_and_failures() {
    let _serial = serial();
    let dashboard = rask::dashboard::serve("127.0.0.1:0").unwrap();
    let address = dashboard.address().to_string();
    assert_eq!(get(&address, "/health"), (200, "ok".to_string()));
    let (status, page) = get(&address, "/status");
    assert_eq!(status, 200);
    assert!(page.contains("/assets/dashboard.js"), "the page loads its script from this server");
    assert!(!page.contains("http://") && !page.contains("https://"), "nothing from elsewhere");

    let x = array::random::random(4, &[600, 600], [100, 100]).unwrap();
    let eager = x.compute_with(&ComputeOptions::default().scheduler(SyncScheduler)).unwrap();
    let total = (&x + &x.t()).sum(..).unwrap();
    let threads = ComputeOptions::default().scheduler(ThreadsScheduler::new(2));
    let got = total.compute_with(&threads).unwrap();
    let want = (&eager + &eager.t()).sum();
    assert!((got[[]] - want).abs() < 1e-6 * want.abs());

    let mut expected = groups_of(&total);
    expected.sort();
    let tasks: u64 = expected.iter().map(|(_, n)| n).sum();
    let status = json_settles(&address, "/api/v1/status", |s| s["runs_finished"].as_u64() >= Some(2));
    assert_eq!(status["totals"]["tasks"].as_u64(), Some(tasks), "{status}");
    assert_eq!(status["totals"]["memory"].as_u64(), Some(tasks), "every task finished: {status}");
    assert_eq!(status["totals"]["erred"].as_u64(), Some(0));
    assert!(status["scheduler"].as_str().unwrap().starts_with("threads"));
    let groups = get_json(&address, "/api/v1/groups");
    assert_eq!(group_counts(&groups), expected, "tasks per group, as in the graph");
    let stream = get_json(&address, "/api/v1/tasks");
    let stream = stream.as_array().unwrap();
    let eager_tasks: u64 = groups_of(&x).iter().map(|(_, n)| n).sum();
    // Tasks are timed one by one from 20 µs on, else one in 64: a sample of both runs.
    assert!(!stream.is_empty() && stream.len() as u64 <= (eager_tasks + tasks).min(1000), "{}", stream.len());
    assert!(stream.iter().all(|t| t["duration_ms"].as_f64().unwrap() >= 0.0 && t["start_ms"].as_f64().unwrap() > 1e12));
    let workers = get_json(&address, "/api/v1/workers");
    let finished: u64 = workers.as_array().unwrap().iter().map(|w| w["finished"].as_u64().unwrap()).sum();
    assert_eq!(finished, eager_tasks + tasks, "the workers' counts span both runs");
    let edges = get_json(&address, "/api/v1/graph");
    assert!(!edges.as_array().unwrap().is_empty(), "the groups read each other");

    let metrics = get(&address, "/metrics").1;
    assert_eq!(metric(&metrics, "rask_tasks{state=\"memory\"}"), tasks as f64);
    assert_eq!(metric(&metrics, "rask_tasks_finished_total"), (eager_tasks + tasks) as f64);

    // A failing task shows on the failures API with its key and error.
    let bad = rask::delayed_fn("explode", |x: i64| -> i64 {
        if x > 0 { panic!("no positive numbers") } else { x }
    });
    let err = bad.call(5).compute_with(&threads).unwrap_err().to_string();
    let failures = json_settles(&address, "/api/v1/failures", |f| !f.as_array().unwrap().is_empty());
    let failure = &failures.as_array().unwrap()[0];
    assert_eq!(failure["group"], "explode");
    assert!(failure["error"].as_str().unwrap().contains("no positive numbers"), "{failure} / {err}");
    let status = get_json(&address, "/api/v1/status");
    assert_eq!(status["runs_failed"].as_u64(), Some(1));

    // The live stream sends a snapshot at once.
    let mut stream = TcpStream::connect(&address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET /api/v1/stream HTTP/1.1\r\nHost: {address}\r\n\r\n").unwrap();
    let mut lines = BufReader::new(stream).lines();
    let data = lines.find_map(|l| l.ok()?.strip_prefix("data: ").map(str::to_string)).unwrap();
    let snapshot: Json = serde_json::from_str(&data).unwrap();
    assert_eq!(snapshot["failures"].as_array().unwrap().len(), 1);

    drop(dashboard);
    assert!(TcpStream::connect(&address).is_err(), "stopped with its handle");
}

/// A process stopped (and reaped) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_scheduler_serves_the_cluster_view() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("rask-dashboard-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("scheduler.json");
    let mut scheduler = Process(
        Command::new(SCHEDULER)
            .args(["--port", "0", "--dashboard-address", "127.0.0.1:0", "--scheduler-file"])
            .arg(&file)
            .env_remove("RASK_TOKEN")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = BufReader::new(scheduler.0.stderr.take().unwrap());
    let url = stderr
        .lines()
        .find_map(|l| l.ok()?.split_once("dashboard at http://").map(|(_, rest)| rest.to_string()))
        .expect("the scheduler says where its dashboard is");
    let address = url.trim_end_matches("/status").to_string();
    let _workers: Vec<Process> = (0..2)
        .map(|i| {
            let name = format!("dash-{i}");
            Process(
                Command::new(WORKER)
                    .args(["--scheduler-file", file.to_str().unwrap(), "--name", &name])
                    .env_remove("RASK_TOKEN")
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    let workers = json_settles(&address, "/api/v1/workers", |w| w.as_array().unwrap().len() == 2);
    let mut names: Vec<&str> = workers.as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, vec!["dash-0", "dash-1"]);

    let client = Arc::new(Client::connect(ClusterAddress::File(file.clone())).unwrap());
    let x = array::random::random(9, &[400, 400], [100, 100]).unwrap();
    let total = (&x * 3.0).sum(..).unwrap();
    let on = ComputeOptions::default().scheduler_arc(client.clone() as Arc<dyn Scheduler>);
    let got = total.compute_with(&on).unwrap();
    assert!((got[[]] - 3.0 * x.compute().unwrap().sum()).abs() < 1e-6 * got[[]].abs());
    let mut expected = groups_of(&total);
    expected.sort();
    let tasks: u64 = expected.iter().map(|(_, n)| n).sum();
    let status = json_settles(&address, "/api/v1/status", |s| s["totals"]["memory"].as_u64() == Some(tasks));
    assert_eq!(status["totals"]["memory"].as_u64(), Some(tasks), "{status}");
    assert_eq!(status["scheduler"], "cluster");
    assert_eq!(group_counts(&get_json(&address, "/api/v1/groups")), expected);
    let finished: u64 =
        get_json(&address, "/api/v1/workers").as_array().unwrap().iter().map(|w| w["finished"].as_u64().unwrap()).sum();
    assert_eq!(finished, tasks, "the workers' tasks add up");
    let metrics = get(&address, "/metrics").1;
    let threads: u64 = workers.as_array().unwrap().iter().map(|w| w["nthreads"].as_u64().unwrap()).sum();
    assert_eq!(metric(&metrics, "rask_workers"), 2.0);
    assert_eq!(metric(&metrics, "rask_threads"), threads as f64);
    assert_eq!(metric(&metrics, "rask_tasks{state=\"memory\"}"), tasks as f64);
    // Memory comes with heartbeats: a held value shows.
    let held = client.scatter([rask::graph::Value::Bytes(vec![1u8; 4 << 20].into())]).unwrap();
    let metrics = {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = get(&address, "/metrics").1;
            if metric(&text, "rask_memory_bytes") >= (4 << 20) as f64 || Instant::now() > deadline {
                break text;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    assert!(metric(&metrics, "rask_memory_bytes") >= (4 << 20) as f64, "{metrics}");
    drop(held);
    drop(client);
    drop(scheduler);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dashboard_off_loopback_needs_a_token() {
    let options = rask::dashboard::DashboardOptions { address: "0.0.0.0:0".parse().unwrap(), token: None };
    let err = rask::dashboard::serve_with(options).unwrap_err().to_string();
    assert!(err.contains("off loopback"), "{err}");
    let options =
        rask::dashboard::DashboardOptions { address: "0.0.0.0:0".parse().unwrap(), token: Some("s3cret".into()) };
    let dashboard = rask::dashboard::serve_with(options).unwrap();
    let address = format!("127.0.0.1:{}", dashboard.address().port());
    assert_eq!(get(&address, "/api/v1/status").0, 401, "the data asks for the token");
    assert_eq!(get(&address, "/metrics").0, 401);
    assert_eq!(get(&address, "/api/v1/status?token=s3cret").0, 200);
    assert_eq!(get(&address, "/status").0, 200, "the page itself opens, and asks");
    assert_eq!(get(&address, "/health").0, 200);
    assert!(rask::dashboard::serve("not-an-address").is_err());
}

#[test]
fn the_pages_show_live_progress_in_a_real_browser() {
    let _serial = serial();
    let dashboard = rask::dashboard::serve("127.0.0.1:0").unwrap();
    let base = format!("http://{}", dashboard.address());
    let browser = webdriver::Browser::start();
    browser.open(&format!("{base}/status"));
    let connected = settles(|| browser.run("return window.rask && window.rask.updates"), |u| u.as_u64() >= Some(1));
    assert!(connected.as_u64() >= Some(1), "the page receives snapshots: {connected}");

    // A computation long enough for several updates: 400 tasks of 10 ms on two threads.
    let work = rask::delayed_fn("slow_inc", |x: i64| {
        std::thread::sleep(Duration::from_millis(10));
        x + 1
    });
    let add = rask::delayed_fn("add_all", |xs: Vec<i64>| xs.into_iter().sum::<i64>());
    let leaves: Vec<_> = (0..400).map(|i| work.call(i)).collect();
    let total = add.call_list(&leaves);
    let run = std::thread::spawn(move || {
        total.compute_with(&ComputeOptions::default().scheduler(ThreadsScheduler::new(2))).unwrap()
    });
    // The bars advance: a part done is seen before the whole.
    let done_of = |b: &webdriver::Browser| -> (u64, u64) {
        let seen = b.run(
            "const g = document.querySelector('.group[data-group=\"slow_inc\"]');\n\
             return g ? [Number(g.dataset.memory), Number(g.dataset.total)] : [0, 0];",
        );
        (seen[0].as_u64().unwrap_or(0), seen[1].as_u64().unwrap_or(0))
    };
    let partly = settles(|| done_of(&browser), |&(done, total)| done > 0 && done < total);
    assert!(partly.0 > 0 && partly.0 < 400, "a bar part way: {partly:?}");
    assert_eq!(run.join().unwrap(), (1..=400).sum::<i64>());
    let whole = settles(|| done_of(&browser), |&(done, _)| done == 400);
    assert_eq!(whole, (400, 400), "the bar completes");

    // What the page shows is what the API says.
    let api: Vec<(String, u64)> = group_counts(&get_json(&dashboard.address().to_string(), "/api/v1/groups"));
    let page = browser.run(
        "return [...document.querySelectorAll('.group')].map(g => [g.dataset.group, Number(g.dataset.total), Number(g.dataset.memory)]);",
    );
    let mut shown: Vec<(String, u64)> =
        page.as_array().unwrap().iter().map(|g| (g[0].as_str().unwrap().to_string(), g[1].as_u64().unwrap())).collect();
    shown.sort();
    assert_eq!(shown, api);
    assert!(page.as_array().unwrap().iter().all(|g| g[1] == g[2]), "every bar full: {page}");
    let lanes = browser.run("return window.rask.lastSnapshot.stream.length");
    assert_eq!(lanes.as_u64(), Some(401), "the task stream holds every task of the run");
    let slowest = browser.run("return window.rask.slowestApplyMs").as_f64().unwrap();
    assert!(slowest < 100.0, "each update applied in {slowest} ms at most");
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("dashboard");
    browser.screenshot(&shots.join("status.png"));

    // The graph page: a box per group.
    browser.open(&format!("{base}/graph"));
    let boxes = settles(
        || browser.run("return document.querySelectorAll('#graph g[data-group]').length"),
        |n| n.as_u64() == Some(api.len() as u64),
    );
    assert_eq!(boxes.as_u64(), Some(api.len() as u64));
    browser.screenshot(&shots.join("graph.png"));

    // The failures page: a failed task's key and error.
    let bad = rask::delayed_fn("refuse", |x: i64| -> i64 {
        if x > 0 { panic!("refused {x}") } else { x }
    });
    assert!(bad.call(3).compute_with(&ComputeOptions::default().scheduler(ThreadsScheduler::new(2))).is_err());
    browser.open(&format!("{base}/failures"));
    let rows = settles(
        || browser.run("return document.querySelector('#failures tbody').textContent"),
        |t| t.as_str().is_some_and(|t| t.contains("refused 3")),
    );
    assert!(rows.as_str().unwrap().contains("refuse"), "{rows}");
    browser.screenshot(&shots.join("failures.png"));
}

#[test]
fn a_local_cluster_says_where_its_dashboard_is() {
    let _serial = serial();
    let cluster = rask::LocalCluster::new(1).unwrap();
    let url = cluster.dashboard_url().expect("served by default").to_string();
    let address = url.trim_start_matches("http://").trim_end_matches("/status").to_string();
    let workers = json_settles(&address, "/api/v1/workers", |w| w.as_array().is_some_and(|w| w.len() == 1));
    assert_eq!(workers.as_array().unwrap().len(), 1, "{workers}");
    let options = rask::scheduler::LocalClusterOptions { workers: 1, dashboard: false, ..Default::default() };
    assert!(rask::LocalCluster::start(options).unwrap().dashboard_url().is_none());
}

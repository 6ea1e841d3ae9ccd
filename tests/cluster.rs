//! The distributed scheduler end to end, with the real `rask-scheduler` and `rask-worker`
//! binaries on loopback: the same answers as `threads` for raw graphs, arrays and
//! dataframes; two programs computing at once; a worker joining mid-run; a worker killed
//! mid-run; bad callers refused while other clients go on; SIGTERM; workers started before
//! their scheduler; no process left behind.
//!
//! The tests run one at a time (a lock): each starts a cluster on a small machine.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use rask::array::{self, Array};
use rask::dataframe::{DataFrame, Join, col, from_arrays, lit};
use rask::graph::{OptimizeOptions, TaskGraph, TaskId, Value, optimize};
use rask::prelude::*;
use rask::scheduler::wire::{Connection, Hello, MAX_FRAME_BYTES, Role, connect_handshake};
use rask::scheduler::{Client, ClusterAddress, LocalCluster, Scheduler, ThreadsScheduler};

const SCHEDULER: &str = env!("CARGO_BIN_EXE_rask-scheduler");
const WORKER: &str = env!("CARGO_BIN_EXE_rask-worker");

#[path = "support/settle.rs"]
mod settle;
use settle::{settles, table_settles_at};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn on(client: &Arc<Client>) -> ComputeOptions {
    ComputeOptions::default().scheduler_arc(client.clone())
}

fn threads() -> ComputeOptions {
    ComputeOptions::default().scheduler(ThreadsScheduler::new(2))
}

/// W1's shape: `n` inc leaves summed by a fan-in-8 tree, optimized as `compute` does.
fn tree(n: usize) -> (TaskGraph, Vec<TaskId>) {
    let (graph, root) = rask::graph::sample::inc_sum_tree(n, 8);
    optimize(graph, vec![root], OptimizeOptions::default())
}

fn process_is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie (exited, its parent not waiting yet) is gone too.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// CPU seconds process `pid` used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn close(a: &ndarray::ArrayD<f64>, b: &ndarray::ArrayD<f64>) -> bool {
    a.shape() == b.shape() && a.iter().zip(b).all(|(p, q)| (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1.0))
}

fn frame(parts: usize) -> DataFrame {
    let rows = 2000;
    let id = Int64Array::from_iter_values((0..rows).map(|i| i * 7 % 13));
    let x = Float64Array::from_iter_values((0..rows).map(|i| i as f64 / 8.0));
    let y = Float64Array::from_iter_values((0..rows).map(|i| ((i * 31) % 100) as f64 / 100.0));
    let s = StringArray::from_iter_values((0..rows).map(|i| format!("s{}", i % 5)));
    let columns: Vec<(&str, ArrayRef)> =
        vec![("id", Arc::new(id)), ("x", Arc::new(x)), ("y", Arc::new(y)), ("s", Arc::new(s))];
    from_arrays(columns, parts).unwrap()
}

#[test]
fn graphs_arrays_and_dataframes_give_the_answers_threads_give() {
    let _serial = serial();
    let cluster = LocalCluster::new(2).unwrap();
    let client = Arc::new(cluster.client().unwrap());
    // W1's shape, through the raw graph API.
    let (graph, outputs) = tree(5000);
    assert_eq!(client.execute(&graph, &outputs).unwrap(), vec![Value::I64(5000 * 5001 / 2)]);
    // W2's shapes.
    let x = array::random::random(1, &[240, 240], [60, 60]).unwrap();
    let y = array::random::random(2, &[120, 90], [40, 30]).unwrap();
    let cases: Vec<Array<f64>> = vec![
        (&x + &x.t()).sum(..).unwrap(),
        (&x - &x.mean(0).unwrap()).std(0).unwrap(),
        array::matmul(&y, &y.t()).unwrap().sum(..).unwrap(),
    ];
    for case in &cases {
        let (got, want) = (case.compute_with(&on(&client)).unwrap(), case.compute_with(&threads()).unwrap());
        assert!(close(&got, &want), "{got:?} != {want:?}");
    }
    // W3's shapes.
    let df = frame(6);
    let lookup_ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..13));
    let weights: ArrayRef = Arc::new(Float64Array::from_iter_values((0..13).map(|i| i as f64 / 13.0)));
    let lookup = from_arrays(vec![("id", lookup_ids), ("w", weights)], 1).unwrap();
    let frames: Vec<DataFrame> = vec![
        df.groupby(["id"]).agg([col("x").mean(), col("y").sum()]).unwrap(),
        df.filter(col("y").gt(lit(0.5))).unwrap().select([col("id"), col("x")]).unwrap().agg([col("x").sum()]).unwrap(),
        df.join(&lookup, Join::on(["id"])).unwrap().groupby(["s"]).agg([col("w").sum()]).unwrap(),
    ];
    for case in frames {
        let got: RecordBatch = case.compute_with(&on(&client)).unwrap();
        let want: RecordBatch = case.compute_with(&threads()).unwrap();
        assert_eq!(got, want);
    }
    let info = client.info().unwrap();
    assert_eq!(info.workers.len(), 2);
    assert_eq!(info.tasks, 0, "every run released what it wanted");
    assert!(info.workers.iter().all(|w| w.heartbeat.is_some()), "heartbeats arrived: {info:?}");
}

/// Set in the child process of [`two_programs_compute_at_once`]: the scheduler file.
const CHILD_VAR: &str = "RASK_TEST_CLUSTER_CHILD";

#[test]
fn two_programs_compute_at_once() {
    if std::env::var_os(CHILD_VAR).is_some() {
        // The other program: plain compute(), its scheduler named by RASK_SCHEDULER.
        let (graph, outputs) = tree(20_000);
        let got = rask::scheduler::default_scheduler().unwrap().execute(&graph, &outputs).unwrap();
        println!("child result {got:?}");
        return;
    }
    let _serial = serial();
    let cluster = LocalCluster::new(2).unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "two_programs_compute_at_once", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, "1")
        .env("RASK_SCHEDULER", format!("scheduler-file:{}", cluster.scheduler_file().display()))
        .env_remove("RASK_TOKEN")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Meanwhile, two clients of this program compute graphs that share keys.
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let client = cluster.client().unwrap();
            std::thread::spawn(move || {
                let (graph, outputs) = tree(20_000);
                (0..3).map(|_| client.execute(&graph, &outputs).unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();
    for handle in clients {
        for result in handle.join().unwrap() {
            assert_eq!(result, vec![Value::I64(20_000 * 20_001 / 2)]);
        }
    }
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains(&format!("child result [{}]", 20_000 * 20_001 / 2)), "{text}");
}

#[test]
fn a_worker_joining_mid_run_gets_work() {
    let _serial = serial();
    let mut cluster = LocalCluster::new(1).unwrap();
    let client = Arc::new(cluster.client().unwrap());
    let x = array::random::random(3, &[3000, 3000], [100, 100]).unwrap();
    let total: Array<f64> = (&(&x + &x.t()) * 2.0).sum(..).unwrap();
    let want = total.compute_with(&threads()).unwrap();
    let run = {
        let (client, total) = (client.clone(), total.clone());
        std::thread::spawn(move || total.compute_with(&on(&client)))
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(!run.is_finished(), "the run is still going when the newcomer joins");
    let newcomer = cluster.spawn_worker().unwrap();
    let got = run.join().unwrap().unwrap();
    assert!(close(&got, &want), "{got:?} != {want:?}");
    assert!(cpu_seconds(newcomer) > 0.05, "the newcomer ran tasks: {} s of CPU", cpu_seconds(newcomer));
}

#[test]
fn a_worker_killed_mid_run_costs_only_time() {
    let _serial = serial();
    let cluster = LocalCluster::new(2).unwrap();
    let client = Arc::new(cluster.client().unwrap());
    let x = array::random::random(5, &[2400, 2400], [100, 100]).unwrap();
    let total: Array<f64> = (&(&x + &x.t()) + &x).sum(..).unwrap();
    let want = total.compute_with(&threads()).unwrap();
    let victim = cluster.worker_pids()[1];
    let run = {
        let (client, total) = (client.clone(), total.clone());
        std::thread::spawn(move || total.compute_with(&on(&client)))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while cpu_seconds(victim) < 0.2 && Instant::now() < deadline && !run.is_finished() {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!run.is_finished(), "the kill happens mid-run");
    assert!(Command::new("kill").args(["-9", &victim.to_string()]).status().unwrap().success());
    let got = run.join().unwrap().unwrap();
    assert!(close(&got, &want), "{got:?} != {want:?}");
    let info = client.info().unwrap();
    assert_eq!((info.workers.len(), info.workers_lost), (1, 1));
}

#[test]
fn bad_callers_are_refused_while_other_clients_go_on() {
    let _serial = serial();
    let cluster = LocalCluster::new(2).unwrap();
    let client = Arc::new(cluster.client().unwrap());
    let address = cluster.address().clone();
    let steady = {
        let client = client.clone();
        std::thread::spawn(move || {
            let (graph, outputs) = tree(3000);
            (0..20).map(|_| client.execute(&graph, &outputs).unwrap()).collect::<Vec<_>>()
        })
    };
    // A wrong token, no token, and another protocol version.
    let mut conn = Connection::connect(&address).unwrap();
    let e = connect_handshake(&mut conn, &Hello::new("guess", Role::Client)).unwrap_err();
    assert!(e.to_string().contains("wrong token"), "{e}");
    let mut conn = Connection::connect(&address).unwrap();
    let e = connect_handshake(&mut conn, &Hello::new("", Role::Client)).unwrap_err();
    assert!(e.to_string().contains("RASK_TOKEN"), "{e}");
    // Garbage, a truncated frame, an oversized frame: each connection is closed.
    for bytes in [
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        [&100u64.to_le_bytes()[..], b"RASK"].concat(),
        u64::MAX.to_le_bytes().to_vec(),
    ] {
        let mut conn = Connection::connect(&address).unwrap();
        conn.write_all(&bytes).unwrap();
        conn.shutdown_write();
        conn.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut rest = Vec::new();
        if let Err(e) = conn.read_to_end(&mut rest) {
            assert!(!matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{e}");
        }
    }
    // A client that handshakes, then sends a frame over any limit: closed, nothing else.
    let mut conn = Connection::connect(&address).unwrap();
    connect_handshake(&mut conn, &Hello::new(cluster.token(), Role::Client)).unwrap();
    conn.write_all(&(MAX_FRAME_BYTES * 1024).to_le_bytes()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut rest = Vec::new();
    let _ = conn.read_to_end(&mut rest);
    // A truncated message after a good handshake.
    let mut conn = Connection::connect(&address).unwrap();
    connect_handshake(&mut conn, &Hello::new(cluster.token(), Role::Client)).unwrap();
    conn.write_all(&[&64u64.to_le_bytes()[..], &[1, 2, 3]].concat()).unwrap();
    drop(conn);
    for result in steady.join().unwrap() {
        assert_eq!(result, vec![Value::I64(3000 * 3001 / 2)]);
    }
    let info = client.info().unwrap();
    assert_eq!((info.workers.len(), info.workers_lost), (2, 0), "the workers are unharmed");
}

#[test]
fn sigterm_stops_the_scheduler_and_its_workers_leave_nothing_behind() {
    let _serial = serial();
    let cluster = LocalCluster::new(2).unwrap();
    let client = cluster.client().unwrap();
    let (graph, outputs) = tree(100);
    client.execute(&graph, &outputs).unwrap();
    let (scheduler, workers, file) =
        (cluster.scheduler_pid(), cluster.worker_pids(), cluster.scheduler_file().to_owned());
    assert!(file.exists());
    assert!(Command::new("kill").args(["-TERM", &scheduler.to_string()]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(process_is_gone(scheduler) && workers.iter().all(|&p| process_is_gone(p))) {
        assert!(Instant::now() < deadline, "scheduler or workers outlived SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!file.exists(), "the scheduler file is removed");
    // The client notices: its next compute is an error saying so, not a hang.
    let e = client.execute(&graph, &outputs).unwrap_err().to_string();
    assert!(e.contains("scheduler"), "{e}");
}

#[test]
fn workers_started_before_their_scheduler_wait_for_it() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("rask-cluster-early-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("scheduler.json");
    let mut worker = Command::new(WORKER)
        .arg("--scheduler-file")
        .arg(&file)
        .args(["--death-timeout", "30s", "--nthreads", "1", "--local-dir"])
        .arg(&dir)
        .env_remove("RASK_TOKEN")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut scheduler = Command::new(SCHEDULER)
        .args(["--port", "0", "--scheduler-file"])
        .arg(&file)
        .env("RASK_TOKEN", "early-token")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !file.exists() {
        assert!(Instant::now() < deadline, "the scheduler wrote its file");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The worker took the token from the file: it joins and computes.
    let client = Client::connect(ClusterAddress::File(file.clone())).unwrap();
    while client.info().unwrap().workers.is_empty() {
        assert!(Instant::now() < deadline, "the early worker joined");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (graph, outputs) = tree(500);
    assert_eq!(client.execute(&graph, &outputs).unwrap(), vec![Value::I64(500 * 501 / 2)]);
    drop(client);
    assert!(Command::new("kill").args(["-TERM", &scheduler.id().to_string()]).status().unwrap().success());
    assert!(scheduler.wait().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while worker.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the worker exits with its scheduler");
        std::thread::sleep(Duration::from_millis(20));
    }
    // With no scheduler at all, a worker gives up at its death timeout, saying why.
    let started = Instant::now();
    let output = Command::new(WORKER)
        .args(["--scheduler", "tcp://127.0.0.1:1", "--death-timeout", "1s"])
        .env("RASK_TOKEN", "t")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(started.elapsed() >= Duration::from_millis(900), "it kept trying until its death timeout");
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach the scheduler"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_scheduler_beyond_loopback_without_a_token_refuses_to_start() {
    let output =
        Command::new(SCHEDULER).args(["--host", "0.0.0.0", "--port", "0"]).env_remove("RASK_TOKEN").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("no token is set") && message.contains("RASK_TOKEN"), "{message}");
}

/// The bytes of values the workers hold, by their last heartbeats, once that reaches
/// `at_least` (at most 20 s); the last reading.
fn held_bytes_reach(client: &Client, at_least: u64) -> u64 {
    let held = || -> u64 {
        let workers = client.scheduler_info().unwrap().workers;
        workers.iter().map(|w| w.heartbeat.as_ref().map_or(0, |h| h.memory)).sum()
    };
    settles(held, |&bytes| bytes >= at_least)
}

#[test]
fn persisted_collections_stay_on_the_cluster_and_published_ones_outlive_their_client() {
    let _serial = serial();
    let cluster = LocalCluster::new(2).unwrap();
    let client = Arc::new(cluster.client().unwrap());
    let x = array::random::random(3, &[400, 300], [100, 100]).unwrap();
    let y = &(&x * 2.0) + 1.0;
    let want = y.compute_with(&threads()).unwrap();

    // Persisted: twelve blocks held by the workers, none brought here.
    let kept = y.persist_with(&on(&client)).unwrap();
    assert_eq!((kept.shape(), kept.chunks()), (y.shape(), y.chunks()));
    assert_eq!(client.info().unwrap().tasks, 12, "the table holds the blocks, and nothing else");
    let bytes = 400 * 300 * 8;
    assert!(held_bytes_reach(&client, bytes) >= bytes, "the workers hold the blocks");
    // Built on, on the cluster: the blocks are read in place, not computed again.
    let finished = client.info().unwrap().tasks_finished;
    let sum = kept.sum(..).unwrap();
    let total = sum.compute_with(&on(&client)).unwrap();
    let ran = client.info().unwrap().tasks_finished - finished;
    assert!((total[[]] - want.sum()).abs() < 1e-6 * want.sum().abs(), "{total} vs {}", want.sum());
    let summing = sum.task_count() as u64 - 12;
    assert!(ran <= summing, "the sum ran {ran} tasks, more than its {summing} own: blocks were recomputed");
    // Computed here, the blocks come through their futures.
    let local = kept.compute_with(&ComputeOptions::default().scheduler(rask::scheduler::SyncScheduler)).unwrap();
    assert_eq!(local, want);

    // Unknown chunk sizes are measured on the cluster: only the shapes travel.
    let big = x.extract(&x.greater(0.5).unwrap()).unwrap();
    let measured = big.persist_with(&on(&client)).unwrap();
    let reference = big.compute_chunk_sizes_with(&threads()).unwrap();
    assert!(measured.chunk_sizes_known());
    assert_eq!((measured.shape(), measured.chunks()), (reference.shape(), reference.chunks()));
    assert_eq!(measured.compute_with(&on(&client)).unwrap(), reference.compute_with(&threads()).unwrap());
    drop(measured);

    // Published, with a dataframe, then the publisher goes: the datasets stay.
    let rows = frame(4).filter(col("y").gt(lit(0.25))).unwrap();
    let want_rows: RecordBatch = rows.compute_with(&threads()).unwrap();
    kept.publish(&client, "doubled").unwrap();
    rows.publish(&client, "rows").unwrap();
    let plain = client.scatter([Value::I64(1)]).unwrap();
    client.publish("plain", &plain).unwrap();
    drop((kept, sum, plain));
    client.close();
    drop(client);

    let reader = cluster.client().unwrap();
    let again = Array::<f64>::from_dataset(&reader, "doubled").unwrap();
    assert_eq!((again.shape(), again.chunks()), (y.shape(), y.chunks()));
    assert_eq!(again.compute_with(&threads()).unwrap(), want, "fetched through the dataset's futures");
    let frame_again = DataFrame::from_dataset(&reader, "rows").unwrap();
    assert_eq!(frame_again.npartitions(), 4);
    let reader = Arc::new(reader);
    let got_rows: RecordBatch = frame_again.compute_with(&on(&reader)).unwrap();
    assert_eq!(got_rows, want_rows);

    // The wrong collection, element type or dataset is an error saying which.
    let wrong_type = Array::<i64>::from_dataset(&reader, "doubled").unwrap_err().to_string();
    assert!(wrong_type.contains("\"doubled\"") && wrong_type.contains("float64"), "{wrong_type}");
    let wrong_kind = Array::<f64>::from_dataset(&reader, "rows").unwrap_err().to_string();
    assert!(wrong_kind.contains("a dataframe, not an array"), "{wrong_kind}");
    let plain = DataFrame::from_dataset(&reader, "plain").unwrap_err().to_string();
    assert!(plain.contains("plain futures"), "{plain}");
    assert!(DataFrame::from_dataset(&reader, "nothing").unwrap_err().to_string().contains("no dataset named"));

    drop((again, frame_again));
    for name in ["doubled", "rows", "plain"] {
        reader.unpublish(name).unwrap();
    }
    assert_eq!(table_settles_at(&reader, 0), 0, "unpublished, nothing is held");
}

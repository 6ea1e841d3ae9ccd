//! The workload harness: W1 to W6 of BENCHMARKS.md, one JSON line per case (W5 needs
//! `--scheduler local-cluster:N` or `tcp://HOST:PORT`: it uses the futures API).
//!
//! `cargo bench --bench workloads -- <w1|w2|w3|w4|w5|w6> [--scheduler sync|threads|threads:N|processes|processes:N|local-cluster:N|tcp://HOST:PORT] [--memory-limit BYTES] [--n N] [--runs R] [--case C] [--data DIR] [--no-fuse] [--no-inline] [--dashboard]`
//!
//! With `processes`, `peak_rss_mb` is the harness's own peak RSS plus each worker's
//! (`VmHWM`, read before the pool shuts down); with `local-cluster:N` (a real
//! `rask-scheduler` and N one-thread workers on loopback, started before the clock),
//! the scheduler's and the workers' are added too. `tcp://HOST:PORT` uses a running
//! scheduler (token in `RASK_TOKEN`).
//!
//! Each case runs in a fresh process (this binary re-executes itself), as Dask's did.
//! `--no-fuse` and `--no-inline` turn those optimizer passes off (W1, W2, W3), to measure
//! what they buy.

#[path = "workloads/w5.rs"]
mod w5;
#[path = "workloads/w6.rs"]
mod w6;

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::Instant;

use rask::graph::{OptimizeOptions, TaskGraph, TaskId, Value, cull, fuse, inline, materialize, optimize, order};
use rask::prelude::*;
use rask::scheduler::{LocalCluster, LocalClusterOptions, ProcessesScheduler, Scheduler, SchedulerSpec};
use serde_json::{Value as Json, json};

/// Counts live heap bytes while `COUNTING` is on (W4's bytes per task).
struct CountingAlloc;
static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

struct Options {
    workload: String,
    scheduler: String,
    n: Option<usize>,
    runs: usize,
    case: Option<String>,
    data: Option<String>,
    /// The optimizer passes W1, W2 and W3 run.
    passes: OptimizeOptions,
    /// Each worker's memory limit (processes, local-cluster).
    memory_limit: Option<u64>,
    /// Serve the dashboard and keep a page's live stream open during the run (a local
    /// cluster's scheduler serves its own only with this flag).
    dashboard: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut options = Options {
        workload: String::new(),
        scheduler: "threads".into(),
        n: None,
        runs: 1,
        case: None,
        data: None,
        passes: OptimizeOptions::default(),
        memory_limit: None,
        dashboard: false,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--scheduler" => options.scheduler = value("--scheduler")?,
            "--n" => options.n = Some(value("--n")?.parse().map_err(|e| format!("--n: {e}"))?),
            "--case" => options.case = Some(value("--case")?),
            "--runs" => options.runs = value("--runs")?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--data" => options.data = Some(value("--data")?),
            "--no-fuse" => options.passes.fuse = false,
            "--no-inline" => options.passes.inline = false,
            "--dashboard" => options.dashboard = true,
            "--memory-limit" => {
                let text = value("--memory-limit")?;
                options.memory_limit =
                    Some(rask::worker::parse_bytes(&text).map_err(|e| format!("--memory-limit: {e}"))?);
            }
            w if !w.starts_with('-') && options.workload.is_empty() => options.workload = w.to_string(),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

fn cases(workload: &str) -> Result<&'static [&'static str], String> {
    match workload {
        "w1" => Ok(&["raw", "delayed"]),
        "w2" => Ok(&["sum_xxT", "std", "matmul"]),
        "w3" => Ok(&["groupby", "filter", "merge"]),
        "w4" => Ok(&["graph_1m"]),
        "w5" => Ok(&["transfer_100mb", "map_10k"]),
        "w6" => Ok(&["cpu", "io", "net"]),
        "" => Err("name a workload: w1, w2, w3, w4, w5 or w6".into()),
        other => Err(format!("workload {other:?} is not in this harness (w1, w2, w3, w4, w5, w6)")),
    }
}

/// Set in the environment of worker processes the harness starts: on `processes` the
/// harness is its own worker binary, so W6's ops are linked where they run.
const WORKER_MODE_VAR: &str = "RASK_BENCH_WORKER";

fn main() {
    if std::env::var_os(WORKER_MODE_VAR).is_some() {
        rask::worker::main();
        return;
    }
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "workloads: {e}\nusage: cargo bench --bench workloads -- <w1|w2|w3|w4|w5|w6> [--scheduler S] [--n N] [--runs R] [--case C]"
            );
            std::process::exit(2);
        }
    };
    if let Ok(case) = std::env::var("RASK_BENCH_CASE") {
        let _viewer = options.dashboard.then(watch_dashboard);
        let line = run_case(&options, &case);
        println!("{line}");
        return;
    }
    let cases = cases(&options.workload).unwrap_or_else(|e| {
        eprintln!("workloads: {e}");
        std::process::exit(2);
    });
    let exe = std::env::current_exe().expect("the harness's own path");
    for case in cases.iter().filter(|c| options.case.as_deref().is_none_or(|only| only == **c)) {
        for _ in 0..options.runs {
            let status = Command::new(&exe)
                .args(std::env::args().skip(1))
                .env("RASK_BENCH_CASE", case)
                .status()
                .expect("re-run the harness for one case");
            if !status.success() {
                eprintln!("workloads: case {case} failed ({status})");
                std::process::exit(1);
            }
        }
    }
}

/// Serves the dashboard and reads its live stream as an open page does, for as long as
/// the returned handle lives.
fn watch_dashboard() -> rask::dashboard::Dashboard {
    use std::io::{BufRead, Write};
    let dashboard = rask::dashboard::serve("127.0.0.1:0").expect("the dashboard starts");
    let address = dashboard.address();
    std::thread::spawn(move || {
        let Ok(mut stream) = std::net::TcpStream::connect(address) else { return };
        let _ = write!(stream, "GET /api/v1/stream HTTP/1.1\r\nHost: {address}\r\n\r\n");
        for line in std::io::BufReader::new(stream).lines() {
            if line.is_err() {
                break;
            }
        }
    });
    dashboard
}

/// The processes behind a scheduler, whose memory the harness reads.
enum Processes {
    Pool(Arc<ProcessesScheduler>),
    Cluster(Box<LocalCluster>),
}

impl Processes {
    /// The process ids of the workers (and the cluster's scheduler).
    fn pids(&self) -> Vec<u32> {
        match self {
            Processes::Pool(pool) => pool.worker_pids(),
            Processes::Cluster(cluster) => {
                std::iter::once(cluster.scheduler_pid()).chain(cluster.worker_pids()).collect()
            }
        }
    }
}

/// The scheduler named by `--scheduler`, and the processes behind it that this harness
/// started (a process pool, a local cluster).
/// The scheduler `spec` names; on a pool or a local cluster the workers are this harness
/// (its ops linked in) unless `product_workers`, which runs the `rask-worker` binary users
/// run (W5: only rask's ops, and the binary's own allocator).
fn scheduler(
    spec: &str,
    memory_limit: Option<u64>,
    product_workers: bool,
    dashboard: bool,
) -> (Arc<dyn Scheduler>, Option<Processes>) {
    // On a pool or a local cluster the harness is its own worker binary, so W6's ops are
    // linked where they run.
    let be_the_worker = || {
        let exe = std::env::current_exe().expect("the harness's own path");
        // SAFETY: set before any thread of this process starts; the workers inherit them.
        unsafe {
            std::env::set_var(WORKER_MODE_VAR, "1");
            std::env::set_var(rask::scheduler::WORKER_BIN_VAR, &exe);
        }
        exe
    };
    if let Some(n) = spec.strip_prefix("local-cluster:") {
        let n: usize = n.parse().unwrap_or_else(|e| panic!("--scheduler {spec}: {e}"));
        if !product_workers {
            be_the_worker();
        }
        let options =
            LocalClusterOptions { workers: n, threads_per_worker: 1, memory_limit, dashboard, ..Default::default() };
        let cluster = LocalCluster::start(options).unwrap_or_else(|e| panic!("--scheduler {spec}: {e}"));
        let client: Arc<dyn Scheduler> =
            Arc::new(cluster.client().unwrap_or_else(|e| panic!("--scheduler {spec}: {e}")));
        return (client, Some(Processes::Cluster(Box::new(cluster))));
    }
    match spec.parse::<SchedulerSpec>().unwrap_or_else(|e| panic!("--scheduler: {e}")) {
        SchedulerSpec::Processes(n) => {
            let exe = be_the_worker();
            let mut pool = n.map(ProcessesScheduler::new).unwrap_or_default().with_worker_binary(exe);
            if let Some(limit) = memory_limit {
                pool = pool.with_memory_limit(limit);
            }
            let pool = Arc::new(pool);
            (pool.clone(), Some(Processes::Pool(pool)))
        }
        other => (other.build(), None),
    }
}

/// A client for W5's futures: of the local cluster the harness started, or of the
/// scheduler at a `tcp://` address.
fn futures_client(spec: &str, processes: Option<&Processes>) -> rask::scheduler::Client {
    match processes {
        Some(Processes::Cluster(cluster)) => cluster.client().expect("a client of the local cluster"),
        _ if spec.starts_with("tcp://") || spec.starts_with("tls://") => {
            let address = spec.parse().unwrap_or_else(|e| panic!("--scheduler {spec}: {e}"));
            rask::scheduler::Client::connect(address).unwrap_or_else(|e| panic!("--scheduler {spec}: {e}"))
        }
        _ => panic!("w5 runs on a cluster: --scheduler local-cluster:N or tcp://HOST:PORT, not {spec}"),
    }
}

/// Peak resident memory (`VmHWM`) of a process, in MiB.
fn peak_rss_mb_of(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The peak RSS of each process behind the scheduler, in MiB (none without one).
fn workers_peak_rss_mb(processes: Option<&Processes>) -> Vec<f64> {
    processes.map_or_else(Vec::new, |p| p.pids().iter().map(|pid| peak_rss_mb_of(&pid.to_string())).collect())
}

fn run_case(options: &Options, case: &str) -> Json {
    let (scheduler, pool) =
        scheduler(&options.scheduler, options.memory_limit, options.workload == "w5", options.dashboard);
    if pool.is_some() && (options.workload.as_str(), case) == ("w1", "delayed") {
        return json!({
            "workload": options.workload, "case": case, "scheduler": scheduler.name(),
            "skipped": "rask's delayed functions are closures, which cannot run in worker processes; w1/raw runs the same graph of registered ops",
        });
    }
    let mut line = match (options.workload.as_str(), case) {
        ("w1", "raw") => w1_raw(options.n.unwrap_or(100_000), options.passes, scheduler.as_ref()),
        ("w1", "delayed") => w1_delayed(options.n.unwrap_or(100_000), options.passes, scheduler.as_ref()),
        ("w2", case) => w2(case, options.n, options.passes, scheduler.as_ref()),
        ("w3", case) => w3(case, options.data.as_deref(), options.n, options.passes, scheduler.clone()),
        ("w4", "graph_1m") => w4(options.n.unwrap_or(1_000_000), scheduler.as_ref()),
        ("w5", case) => w5::run(case, options.n, &futures_client(&options.scheduler, pool.as_ref())),
        ("w6", case) => w6::run(case, options.data.as_deref(), scheduler.as_ref()),
        (w, c) => panic!("no case {w}/{c}"),
    };
    line["workload"] = json!(options.workload);
    line["case"] = json!(case);
    line["scheduler"] = json!(scheduler.name());
    // This process's peak plus its workers' (for a process pool), each read once.
    let (own, workers) = (peak_rss_mb_of("self"), workers_peak_rss_mb(pool.as_ref()));
    line["peak_rss_mb"] = json!(own + workers.iter().sum::<f64>());
    if let Some(processes) = &pool {
        if let Processes::Pool(pool) = processes {
            line["workers_lost"] = json!(pool.workers_lost());
        }
        line["peak_rss_mb_own"] = json!(own);
        line["peak_rss_mb_workers"] = json!(workers);
    }
    line
}

/// The W1 shape through the raw graph API: `n` inc leaves and a fan-in-8 tree of sums.
fn build_tree(n: usize) -> (TaskGraph, TaskId) {
    rask::graph::sample::inc_sum_tree(n, 8)
}

fn expected(n: usize) -> i64 {
    (n as i64) * (n as i64 + 1) / 2
}

/// Optimizes and runs a built W1 graph; the timings and counts every W1 case reports.
fn run_w1(
    graph: TaskGraph,
    outputs: Vec<TaskId>,
    n: usize,
    build_s: f64,
    passes: OptimizeOptions,
    scheduler: &dyn Scheduler,
) -> Json {
    let n_tasks = graph.len();
    let t = Instant::now();
    let (graph, outputs) = optimize(graph, outputs, passes);
    let optimize_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let result = scheduler.execute(&graph, &outputs).expect("W1 runs");
    let compute_s = t.elapsed().as_secs_f64();
    assert_eq!(result[0], Value::I64(expected(n)), "W1 result");
    json!({
        "n_tasks_raw": n_tasks, "n_tasks": graph.len(),
        "build_s": build_s, "us_per_task_build": build_s / n_tasks as f64 * 1e6,
        "optimize_s": optimize_s, "compute_s": compute_s,
        "us_per_task": compute_s / graph.len() as f64 * 1e6,
        "check": expected(n),
    })
}

fn w1_raw(n: usize, passes: OptimizeOptions, scheduler: &dyn Scheduler) -> Json {
    let t = Instant::now();
    let (graph, root) = build_tree(n);
    run_w1(graph, vec![root], n, t.elapsed().as_secs_f64(), passes, scheduler)
}

fn w1_delayed(n: usize, passes: OptimizeOptions, scheduler: &dyn Scheduler) -> Json {
    let t = Instant::now();
    let inc = delayed_fn("inc", |x: i64| x + 1);
    let sum = delayed_fn("sum", |xs: Vec<i64>| xs.into_iter().sum::<i64>());
    let mut level: Vec<Delayed<i64>> = (0..n as i64).map(|i| inc.call(i)).collect();
    while level.len() > 1 {
        level = level.chunks(8).map(|c| sum.call_list(c)).collect();
    }
    let create_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let targets = vec![level[0].target().clone()];
    let (graph, ids) = rask_collections::compute::build_graph(&targets, OptimizeOptions::none()).expect("materialize");
    let materialize_s = t.elapsed().as_secs_f64();
    let mut line = run_w1(graph, ids, n, create_s + materialize_s, passes, scheduler);
    line["create_s"] = json!(create_s);
    line["materialize_s"] = json!(materialize_s);
    line
}

fn w4(n: usize, scheduler: &dyn Scheduler) -> Json {
    COUNTING.store(true, Ordering::SeqCst);
    let before = LIVE.load(Ordering::SeqCst);
    let t = Instant::now();
    let (graph, root) = build_tree(n);
    let build_s = t.elapsed().as_secs_f64();
    let bytes = LIVE.load(Ordering::SeqCst) - before;
    COUNTING.store(false, Ordering::SeqCst);
    let n_tasks = graph.len();
    let t = Instant::now();
    let (culled, outputs) = cull(graph, &[root]);
    let cull_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (inlined, outputs) = inline(culled, &outputs);
    let inline_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (fused, outputs) = fuse(inlined, &outputs);
    let fuse_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (ordered, outputs) = order(fused, &outputs);
    let order_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let result = scheduler.execute(&ordered, &outputs).expect("W4 runs");
    let compute_s = t.elapsed().as_secs_f64();
    assert_eq!(result[0], Value::I64(expected(n)), "W4 result");
    json!({
        "n_tasks_raw": n_tasks, "n_tasks": ordered.len(),
        "build_s": build_s, "us_per_task_build": build_s / n_tasks as f64 * 1e6,
        "bytes_per_task": bytes as f64 / n_tasks as f64,
        "graph_bytes_per_task": ordered.memory_bytes() as f64 / n_tasks as f64,
        "cull_s": cull_s, "inline_s": inline_s, "fuse_s": fuse_s, "order_s": order_s,
        "optimize_s": cull_s + inline_s + fuse_s + order_s,
        "us_per_task_optimize": (cull_s + inline_s + fuse_s + order_s) / n_tasks as f64 * 1e6,
        "compute_s": compute_s, "us_per_task": compute_s / n_tasks as f64 * 1e6,
        "check": expected(n),
    })
}

/// W2: random arrays in 1000x1000 blocks (generation inside the timed compute):
/// `(x + x.T).sum()` and `(x - x.mean(axis=0)).std(axis=0)` on 10000x10000, `(y @ y.T).sum()`
/// on 4000x4000. `n_tasks_raw` counts the graph as built, `n_tasks` after optimization.
fn w2(case: &str, n: Option<usize>, passes: OptimizeOptions, scheduler: &dyn Scheduler) -> Json {
    use rask::array::{self, Array};
    let block = 1000;
    let t = Instant::now();
    let (targets, finish): (Vec<rask_collections::Target>, Fingerprint) = match case {
        "sum_xxT" | "std" => {
            let n = n.unwrap_or(10_000);
            let x = array::random::random(1, &[n, n], [block, block]).expect("x");
            if case == "sum_xxT" {
                let total: Array<f64> = (&x + &x.t()).sum(..).expect("sum");
                (targets_of(&total), scalar as Fingerprint)
            } else {
                let centred = &x - &x.mean(0).expect("mean");
                let std = centred.std(0).expect("std");
                (targets_of(&std), sum_of_blocks)
            }
        }
        "matmul" => {
            let n = n.unwrap_or(4_000);
            let y = array::random::random(2, &[n, n], [block, block]).expect("y");
            let total = array::matmul(&y, &y.t()).expect("matmul").sum(..).expect("sum");
            (targets_of(&total), scalar as Fingerprint)
        }
        other => panic!("no W2 case {other}"),
    };
    let build_s = t.elapsed().as_secs_f64();
    let (n_tasks_raw, n_tasks, optimize_s) = counts(&targets, passes);
    let t = Instant::now();
    let (graph, outputs) = rask_collections::compute::build_graph(&targets, passes).expect("graph");
    let values = scheduler.execute(&graph, &outputs).expect("W2 runs");
    let compute_s = t.elapsed().as_secs_f64();
    json!({
        "n_tasks_raw": n_tasks_raw, "n_tasks": n_tasks,
        "build_s": build_s, "optimize_s": optimize_s, "compute_s": compute_s,
        "check": finish(values),
    })
}

/// The task counts of the graph behind `targets` as built and after `passes`, and the
/// seconds the passes took (`compute_s` includes them again: every compute optimizes).
fn counts(targets: &[rask_collections::Target], passes: OptimizeOptions) -> (usize, usize, f64) {
    let (layers, keys): (Vec<_>, Vec<_>) = targets
        .iter()
        .filter_map(|t| match t {
            rask_collections::Target::Task { key, layer } => Some((layer, *key)),
            rask_collections::Target::Literal(_) => None,
        })
        .unzip();
    let (graph, ids) = materialize(&layers, &keys).expect("materialize");
    let raw = graph.len();
    let t = Instant::now();
    let (optimized, _) = optimize(graph, ids, passes);
    (raw, optimized.len(), t.elapsed().as_secs_f64())
}

/// Reduces a case's output values to the number reported as `check`.
type Fingerprint = fn(Vec<Value>) -> f64;

fn targets_of(c: &impl rask::Computable) -> Vec<rask_collections::Target> {
    let mut targets = Vec::new();
    c.targets(&mut targets);
    targets
}

/// The value of a 0-d result block.
fn scalar(values: Vec<Value>) -> f64 {
    match &values[0] {
        Value::Array(rask::graph::ArrayChunk::F64(a)) => a.iter().sum(),
        other => panic!("a 0-d float64 block, not {other:?}"),
    }
}

/// A fingerprint of a vector result: the sum of its elements.
fn sum_of_blocks(values: Vec<Value>) -> f64 {
    values.iter().map(|v| scalar(vec![v.clone()])).sum()
}

/// W3: 10,000,000 rows in 8 parquet files (BENCHMARKS.md), generated (seeded) under
/// `target/w3-data` unless `--data DIR` names existing files; timed from the files to the
/// result.
fn w3(
    case: &str,
    data: Option<&str>,
    n: Option<usize>,
    passes: OptimizeOptions,
    scheduler: Arc<dyn Scheduler>,
) -> Json {
    use rask::dataframe::{Join, ParquetOptions, col, from_arrays, io::generate_w3, lit, read_parquet};
    let dir = match data {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            let rows = n.unwrap_or(10_000_000);
            let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/w3-data-{rows}"));
            if !dir.join("part-7.parquet").exists() {
                generate_w3(&dir, rows, 8, 3).expect("generate the W3 data");
            }
            dir
        }
    };
    let t = Instant::now();
    let scan = read_parquet(&dir, ParquetOptions::default()).expect("read_parquet");
    let result = match case {
        "groupby" => scan.groupby(["id"]).agg([col("x").mean(), col("y").sum()]).expect("groupby"),
        "filter" => scan
            .filter(col("y").gt(lit(0.5)))
            .and_then(|df| df.select([col("id"), col("x")]))
            .and_then(|df| df.agg([col("x").sum()]))
            .expect("filter"),
        "merge" => {
            let ids: Vec<i64> = (0..1000).collect();
            let lookup = from_arrays(
                vec![
                    ("id", Arc::new(arrow::array::Int64Array::from(ids.clone())) as arrow::array::ArrayRef),
                    (
                        "w",
                        Arc::new(arrow::array::Float64Array::from_iter_values(ids.iter().map(|&i| i as f64 / 1000.0)))
                            as _,
                    ),
                ],
                1,
            )
            .expect("lookup");
            scan.join(&lookup, Join::on(["id"]))
                .and_then(|df| df.groupby(["s"]).agg([col("id").size().alias("rows")]))
                .expect("merge")
        }
        other => panic!("no W3 case {other}"),
    };
    let build_s = t.elapsed().as_secs_f64();
    let targets = targets_of(&result);
    let (n_tasks_raw, n_tasks, optimize_s) = counts(&targets, passes);
    let t = Instant::now();
    let batch =
        result.compute_with(&ComputeOptions::default().scheduler_arc(scheduler).passes(passes)).expect("W3 runs");
    let compute_s = t.elapsed().as_secs_f64();
    json!({
        "n_tasks_raw": n_tasks_raw, "n_tasks": n_tasks,
        "build_s": build_s, "optimize_s": optimize_s, "compute_s": compute_s, "rows": batch.num_rows(),
        "check": fingerprint(&batch),
    })
}

/// A fingerprint of a result table: the sum of its numeric columns.
fn fingerprint(batch: &arrow::array::RecordBatch) -> f64 {
    batch
        .columns()
        .iter()
        .filter_map(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Float64).ok())
        .map(|c| {
            c.as_any().downcast_ref::<arrow::array::Float64Array>().map_or(0.0, |a| a.iter().flatten().sum::<f64>())
        })
        .sum()
}

//! A tour of what rask does today: `cargo run --example tour` (add `--release` for
//! realistic timings in the last section).
//!
//! 1. the delayed API (`dask.delayed`): lazy calls of your own functions;
//! 2. errors: a failing task names its key;
//! 3. schedulers: per call, set in code, or `RASK_SCHEDULER=sync|threads|threads:N`;
//! 4. a progress bar;
//! 5. the raw graph API (`dask.get`), timing a 10,000-leaf tree sum;
//! 6. the graph as DOT, for Graphviz;
//! 7. chunked arrays (`dask.array`): creation, arithmetic, reductions, linear algebra;
//! 8. dataframes (`dask.dataframe`) on Arrow: parquet, pushdown, groupby, join;
//! 9. worker processes (`processes(n)`), running an op of this file: the tour is its own
//!    worker binary, as any program with its own ops can be.

use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use rask::graph::{Arg, Group, Key, Op, TaskGraph, TaskId, Token, Value, ops};
use rask::prelude::*;

/// Set for the worker processes section 9 starts: they run this binary as `rask-worker`.
const WORKER_MODE_VAR: &str = "RASK_TOUR_WORKER";

fn main() -> Result<(), Box<dyn Error>> {
    if std::env::var_os(WORKER_MODE_VAR).is_some() {
        rask::worker::main(); // parses the worker's command line, serves, then exits
        return Ok(());
    }
    // --- 1. Delayed values and calls ---------------------------------------------------
    // `delayed_fn` wraps a function under a task-group name; `call` records a task and
    // returns a `Delayed<T>` without running anything.
    let inc = delayed_fn("inc", |x: i64| x + 1);
    let add = delayed_fn("add", |a: i64, b: i64| a + b);
    let total = delayed_fn("total", |xs: Vec<i64>| xs.into_iter().sum::<i64>());

    let x = inc.call(3); // plain values are accepted as arguments...
    let y = inc.call(&x); // ...and so are `&Delayed<T>` and `Delayed<T>`
    let z = add.call(&x, y);
    println!("[delayed] add(inc(3), inc(inc(3))) = {}", z.compute()?);

    // `call_list` passes a list of delayed values as one `Vec` argument.
    let leaves: Vec<Delayed<i64>> = (0..10).map(|i| inc.call(i)).collect();
    println!("[delayed] total(inc(0..10)) = {}", total.call_list(&leaves).compute()?);

    // `delayed(value).map(f)` applies a closure lazily; `collect` gathers a list.
    let doubled = delayed(5i64).map(|x| x * 2);
    let squares = rask::delayed::collect((1..=4i64).map(|i| delayed(i).map(|x| x * x)));
    println!("[delayed] 5 * 2 = {}, squares = {:?}", doubled.compute()?, squares.compute()?);

    // `rask::compute` computes several results on one graph: shared tasks run once.
    let a = doubled.map(|x| x + 1);
    let b = doubled.map(|x| x - 1);
    let (a, b) = rask::compute(&(&a, &b))?;
    println!("[delayed] computed together: a = {a}, b = {b}");

    // --- 2. Errors -------------------------------------------------------------------
    // A closure may return `Result<T, E>` for any `E: Display`; the error fails the
    // computation and names the task that failed.
    let div = delayed_fn("div", |a: i64, b: i64| if b == 0 { Err("division by zero") } else { Ok(a / b) });
    let bad = div.call(1, delayed(0i64));
    let err = bad.compute().expect_err("1 / 0 fails");
    let key = bad.key().expect("a call is a task");
    assert!(err.to_string().contains(&key.to_string()));
    println!("[errors] {err}");

    // --- 3. Schedulers ---------------------------------------------------------------
    // Per call, with options...
    let sum = total.call_list(&leaves);
    let sync = ComputeOptions::default().scheduler(SyncScheduler);
    let threads = ComputeOptions::default().scheduler(ThreadsScheduler::new(2));
    println!("[schedulers] sync: {}, threads(2): {}", sum.compute_with(&sync)?, sum.compute_with(&threads)?);

    // ...or as the default for every `compute()`. Without one set in code, the default
    // comes from RASK_SCHEDULER (sync, threads or threads:N), else threads, one per core.
    println!("[schedulers] default now: {}", rask::config::scheduler()?.name());
    for name in ["sync", "threads:2"] {
        rask::config::set_scheduler(name)?;
        println!("[schedulers] set_scheduler({name:?}): {} -> {}", rask::config::scheduler()?.name(), sum.compute()?);
    }
    rask::config::reset_scheduler();

    // --- 4. Progress bar -------------------------------------------------------------
    // Drawn on stderr when it is a terminal; `finish` returns (tasks done, tasks submitted).
    let many: Vec<Delayed<i64>> = (0..1_000).map(|i| inc.call(i)).collect();
    total.call_list(&many).compute_with(&ComputeOptions::default().progress(true))?;
    let bar = rask::diagnostics::ProgressBar::new();
    total.call_list(&many).compute()?;
    let (done, submitted) = bar.finish();
    println!("[progress] {done}/{submitted} tasks");

    // --- 5. Raw graphs, like dask.get --------------------------------------------------
    // Tasks are (key, op, args). `Arg::Task(id)` reads a task added earlier, `Arg::Key`
    // any key (even one added later), `Arg::Value` is a literal.
    let leaves = 10_000;
    let started = Instant::now();
    let (graph, root) = tree_sum(leaves, 8)?;
    let built = started.elapsed();
    let started = Instant::now();
    let values = rask::get(&graph, &[root])?;
    let computed = started.elapsed();
    assert_eq!(values, vec![Value::I64((1..=leaves as i64).sum())]);
    let per_task = |d: std::time::Duration| d.as_secs_f64() * 1e6 / graph.len() as f64;
    println!("[get] tree sum of {leaves} leaves, fan-in 8: {:?} from {} tasks", values[0], graph.len());
    println!("[get] built in {built:.1?} ({:.2} µs/task)", per_task(built));
    println!("[get] computed in {computed:.1?} ({:.2} µs/task)", per_task(computed));

    // --- 6. DOT ------------------------------------------------------------------------
    // The optimized graph behind a result; `visualize(path)` writes it to a file (SVG for
    // `.svg`, laid out in pure Rust; DOT for `.dot`), and `explain()` lists its layers.
    let dot = add.call(inc.call(1), inc.call(2)).to_dot()?;
    println!("[dot] {} bytes; it starts:", dot.len());
    for line in dot.lines().take(4) {
        println!("    {line}");
    }

    arrays()?;
    dataframes()?;
    processes()
}

/// Steps of the Collatz sequence from `start` down to 1: an op of this program, registered
/// under a stable name so that worker processes can decode and run it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct CollatzSteps;

#[typetag::serde(name = "tour.collatz_steps")]
impl Op for CollatzSteps {
    fn name(&self) -> &str {
        "collatz_steps"
    }
    fn call(&self, args: rask::graph::Args) -> Result<Value, rask::graph::OpError> {
        let Some(Value::I64(mut n)) = args.first().cloned() else {
            return Err(rask::graph::OpError::new("collatz_steps expects one i64"));
        };
        let mut steps = 0i64;
        while n > 1 {
            n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
            steps += 1;
        }
        Ok(Value::I64(steps))
    }
}

/// --- 9. Worker processes ---------------------------------------------------------------
fn processes() -> Result<(), Box<dyn Error>> {
    // `processes(n)` runs tasks in n worker processes. Workers must know every op of the
    // graph: this binary links its own `CollatzSteps`, so it serves as the worker binary
    // (`rask::worker::main()` above); `rask-worker` itself knows the built-in ops.
    // SAFETY: no other thread reads the environment while this is set.
    unsafe { std::env::set_var(WORKER_MODE_VAR, "1") };
    let pool = Arc::new(rask::scheduler::ProcessesScheduler::new(2).with_worker_binary(std::env::current_exe()?));
    let steps: Arc<dyn Op> = Arc::new(CollatzSteps);
    let most: Arc<dyn Op> = Arc::new(ops::Sum);
    let mut b = TaskGraph::builder();
    let counts: Vec<TaskId> = (1..=2000u32)
        .map(|i| b.add(Key::new(Group::new("collatz"), Token(9), &[i]), &steps, [Arg::Value(Value::I64(i.into()))]))
        .collect::<Result<_, _>>()?;
    let total = b.add_tree(&counts, 8, &most, Group::new("sum"), Token(10))?;
    let graph = b.build()?;
    let total = graph.key(total);
    let on_pool = ComputeOptions::default().scheduler_arc(pool.clone());
    let started = Instant::now();
    let on_workers = rask::get_with(&graph, &[total], &on_pool)?;
    let on_threads = rask::get(&graph, &[total])?;
    assert_eq!(on_workers, on_threads);
    println!(
        "[processes] Collatz steps of 1..=2000 summed on workers {:?}: {:?} in {:.1?}",
        pool.worker_pids(),
        on_workers[0],
        started.elapsed()
    );

    // Collections run there too: any `compute_with` takes the pool.
    let x = rask::array::random::random(7, &[400, 400], [100, 100])?;
    let norm = (&x * &x).sum(..)?.compute_with(&on_pool)?;
    println!("[processes] sum of squares of a 400x400 random array: {:.3}", norm.sum());
    Ok(())
}

/// --- 8. DataFrames, like dask.dataframe ----------------------------------------------
fn dataframes() -> Result<(), Box<dyn Error>> {
    use rask::dataframe::{Join, ParquetOptions, col, from_arrays, io::generate_w3, lit, read_parquet};
    // BENCHMARKS.md's W3 data, smaller: 400,000 rows in 4 parquet files.
    let dir = std::env::temp_dir().join(format!("rask-tour-{}", std::process::id()));
    generate_w3(&dir, 400_000, 4, 7)?;
    let df = read_parquet(&dir, ParquetOptions::default())?;
    println!("[dataframes] {df}");
    // Per-row steps after a scan go into the reader: it decodes id, x and y (for the
    // filter), not s, and skips row groups whose statistics rule the filter out. The
    // groupby below decodes only id, x and y too.
    let big = df.filter(col("y").gt(lit(0.5)))?.select([col("id"), col("x")])?;
    println!("[dataframes] pushdown: {:?}", big.scan_summary());
    let started = Instant::now();
    let means = df.groupby(["id"]).agg([col("x").mean(), col("y").sum()])?.compute()?;
    println!("[dataframes] groupby(id).agg(x: mean, y: sum): {} groups in {:.1?}", means.num_rows(), started.elapsed());
    // A small lookup table is broadcast to every partition of the big side.
    let ids: Vec<i64> = (0..1000).collect();
    let weights: Vec<f64> = ids.iter().map(|&i| i as f64 / 1000.0).collect();
    let lookup = from_arrays(
        vec![
            ("id", Arc::new(arrow::array::Int64Array::from(ids)) as _),
            ("w", Arc::new(arrow::array::Float64Array::from(weights)) as _),
        ],
        1,
    )?;
    let per_word =
        df.join(&lookup, Join::on(["id"]))?.groupby(["s"]).agg([col("w").mean(), col("id").size().alias("rows")])?;
    let head = per_word.head(3)?;
    println!("[dataframes] join + groupby(s), first rows:\n{}", arrow::util::pretty::pretty_format_batches(&[head])?);
    // A wrong column is an error when the expression is built, naming the schema.
    println!("[dataframes] {}", df.select([col("z")]).unwrap_err());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// --- 7. Arrays, like dask.array ------------------------------------------------------
fn arrays() -> Result<(), Box<dyn Error>> {
    use rask::array::{self, Array};
    // A lazy 4000x4000 array of seeded random numbers in 1000x1000 blocks: nothing runs yet.
    let x = array::random::random(42, &[4000, 4000], [1000, 1000])?;
    println!("[arrays] {x}");
    // numpy's rules: broadcasting, promotion, and reductions over axes.
    let centred = &x - &x.mean(0)?;
    let spread: Array<f64> = centred.std(0)?;
    let started = Instant::now();
    let spread = spread.compute()?;
    println!(
        "[arrays] (x - x.mean(0)).std(0): {} values near {:.4} in {:.1?}",
        spread.len(),
        spread[0],
        started.elapsed()
    );
    let started = Instant::now();
    let total = (&x + &x.t()).sum(..)?.compute_scalar()?;
    println!("[arrays] (x + x.T).sum() = {total:.1} in {:.1?}", started.elapsed());
    // Shape mistakes are errors when the expression is built, naming the shapes...
    let small = array::ones::<f64>(&[3], [3])?;
    println!("[arrays] x + ones(3): {}", x.try_add(&small).unwrap_err());
    // ...and an operator's mistake travels in the array to the next fallible call.
    let broken = &x + &small;
    println!("[arrays] (x + ones(3)).compute(): {}", broken.compute().unwrap_err());
    // Linear algebra: y @ y.T computes only the blocks on and above the diagonal.
    let y = x.slice(ndarray::s![..2000, ..])?;
    let started = Instant::now();
    let gram = array::matmul(&y, &y.t())?.sum(..)?.compute_scalar()?;
    println!("[arrays] (y @ y.T).sum() for y of shape (2000, 4000) = {gram:.3e} in {:.1?}", started.elapsed());
    // Integer arrays keep numpy's integer rules: floor division rounds toward -inf.
    let i = array::arange(-5i64, 5, 1, [4])?;
    println!("[arrays] arange(-5, 5) // 2 = {}", i.floor_div(2)?.compute()?);
    Ok(())
}

/// A graph summing `inc(i)` for `i` in `0..leaves`, `fan_in` inputs per `sum` task.
/// Returns the graph and the key of its root.
fn tree_sum(leaves: usize, fan_in: usize) -> Result<(TaskGraph, Key), Box<dyn Error>> {
    let inc: Arc<dyn Op> = Arc::new(ops::Inc);
    let sum: Arc<dyn Op> = Arc::new(ops::Sum);
    let mut b = TaskGraph::builder();
    let mut level: Vec<(TaskId, Key)> = Vec::with_capacity(leaves);
    for i in 0..leaves as u32 {
        let key = Key::new(Group::new("inc"), Token(1), &[i]);
        level.push((b.add(key, &inc, [Arg::Value(Value::I64(i as i64))])?, key));
    }
    let mut depth = 0u32;
    while level.len() > 1 {
        depth += 1;
        let mut next = Vec::with_capacity(level.len().div_ceil(fan_in));
        for (i, chunk) in level.chunks(fan_in).enumerate() {
            let key = Key::new(Group::new("sum"), Token(2), &[depth, i as u32]);
            next.push((b.add(key, &sum, chunk.iter().map(|&(id, _)| Arg::Task(id)))?, key));
        }
        level = next;
    }
    Ok((b.build()?, level[0].1))
}

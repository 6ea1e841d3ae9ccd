//! # rask
//!
//! A lazy task-graph library: build a computation as a graph of tasks, then `compute()`
//! it on a synchronous, threaded, multi-process or distributed scheduler, like Dask.
//!
//! - [`delayed`](mod@delayed): lazy values and calls of your own functions;
//! - [`get`]: run a raw task graph built with [`graph::TaskGraph::builder`], like `dask.get`;
//! - [`compute`]: compute several collections sharing one graph;
//! - [`config`]: the default scheduler
//!   (`RASK_SCHEDULER=sync|threads|threads:N|processes|processes:N`);
//! - [`diagnostics`]: a terminal progress bar fed by every scheduler's events;
//! - [`worker`]: the `rask-worker` process (`rask::worker::main()` for workers with
//!   your own ops);
//! - [`scheduler_cli`]: the `rask-scheduler` process, the distributed scheduler that
//!   workers on any machine join and clients compute through.
//!
//! ```
//! use rask::prelude::*;
//!
//! let inc = delayed_fn("inc", |x: i64| x + 1);
//! let total = delayed_fn("total", |xs: Vec<i64>| xs.into_iter().sum::<i64>());
//! let leaves: Vec<_> = (0..100).map(|i| inc.call(i)).collect();
//! let sum = total.call_list(&leaves);
//! assert_eq!(sum.compute()?, 5050);
//! # Ok::<(), rask::Error>(())
//! ```
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

pub use rask_collections::{Error, Result};

/// The task-graph core: keys, ops, values, graphs and optimizer passes.
pub mod graph {
    pub use rask_graph::*;
}

/// Schedulers and their events.
pub mod scheduler {
    pub use rask_scheduler::*;
}

/// Chunked n-dimensional arrays of ndarray blocks (`dask.array`).
pub mod array {
    pub use rask_collections::array::*;
}

/// Partitioned dataframes of Arrow record batches (`dask.dataframe`).
pub mod dataframe {
    pub use rask_collections::dataframe::*;
}

/// Lazy values and function calls (`dask.delayed`).
pub mod delayed {
    pub use rask_collections::delayed::*;
}

pub mod scheduler_cli;
pub mod worker;

pub use rask_collections::delayed::{Delayed, delayed, delayed_fn};
pub use rask_collections::explain::{Explain, LayerSummary, explain};
pub use rask_collections::visualize::visualize;
pub use rask_collections::{Computable, ComputeOptions};
pub use rask_scheduler::{Client, LocalCluster};

/// The default scheduler, set in code or by `RASK_SCHEDULER`.
///
/// ```
/// rask::config::set_scheduler("sync")?;
/// assert_eq!(rask::config::scheduler()?.name(), "sync");
/// rask::config::reset_scheduler();
/// assert!(rask::config::set_scheduler("bogus").is_err());
/// # Ok::<(), rask::Error>(())
/// ```
pub mod config {
    use std::sync::Arc;

    use rask_scheduler::{Scheduler, SchedulerSpec};

    /// Sets the default scheduler by name (`sync`, `threads`, `threads:N`, `processes`,
    /// `processes:N`); it takes precedence over `RASK_SCHEDULER`. A process pool starts
    /// its workers on its first compute and runs only graphs of registered ops.
    pub fn set_scheduler(name: &str) -> crate::Result<()> {
        let spec: SchedulerSpec = name.parse().map_err(crate::Error::from)?;
        rask_scheduler::set_default_scheduler(Some(spec.build()));
        Ok(())
    }

    /// Sets a scheduler instance as the default.
    pub fn set_scheduler_instance(scheduler: Arc<dyn Scheduler>) {
        rask_scheduler::set_default_scheduler(Some(scheduler));
    }

    /// Forgets the scheduler set in code: `RASK_SCHEDULER` or the default applies again.
    pub fn reset_scheduler() {
        rask_scheduler::set_default_scheduler(None);
    }

    /// The scheduler a `compute()` without options uses now.
    pub fn scheduler() -> crate::Result<Arc<dyn Scheduler>> {
        Ok(rask_scheduler::default_scheduler()?)
    }
}

/// Watching computations: a terminal progress bar, and the event bus behind it.
pub mod diagnostics {
    pub use rask_scheduler::events;
    pub use rask_scheduler::progress::ProgressBar;
}

/// The web dashboard for computations in this process (`rask-scheduler` serves its own):
/// live progress per task group, the task stream, workers, the graph and failures, JSON
/// at `/api/v1/` and Prometheus `/metrics`.
///
/// ```
/// let dashboard = rask::dashboard::serve("127.0.0.1:0")?;   // a free port
/// println!("open {}", dashboard.url());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod dashboard {
    pub use rask_dashboard::{
        Aggregate, Dashboard, DashboardError, DashboardOptions, Snapshot, render_metrics, serve as serve_with,
    };

    pub use rask_dashboard::{ENV_VAR, serve_from_env};

    /// Serves the dashboard on `address` (loopback; `serve_with` takes a token for other
    /// addresses) until the returned handle is dropped.
    pub fn serve(address: &str) -> Result<Dashboard, DashboardError> {
        rask_dashboard::serve_at(address)
    }
}

/// The names most programs use.
pub mod prelude {
    pub use crate::{ComputeOptions, Delayed, compute, delayed, delayed_fn};
    pub use rask_scheduler::{ProcessesScheduler, SyncScheduler, ThreadsScheduler};
}

/// Computes one or several collections sharing one graph: tasks they have in common run
/// once. Pass a collection, a tuple of references, or a `Vec`.
///
/// ```
/// use rask::prelude::*;
/// let a = delayed(2i64).map(|x| x * 10);
/// let b = a.map(|x| x + 1);
/// let (x, y) = rask::compute(&(&a, &b))?;
/// assert_eq!((x, y), (20, 21));
/// # Ok::<(), rask::Error>(())
/// ```
pub fn compute<C: Computable + ?Sized>(collections: &C) -> Result<C::Output> {
    rask_collections::compute(collections)
}

/// [`compute`] with options (scheduler, optimizer, progress bar).
pub fn compute_with<C: Computable + ?Sized>(collections: &C, options: &ComputeOptions) -> Result<C::Output> {
    rask_collections::compute_with(collections, options)
}

/// Runs a raw task graph and returns the values of `keys`, like `dask.get`: culled and
/// ordered first, then run on the default scheduler.
///
/// ```
/// use std::sync::Arc;
/// use rask::graph::{ops, Arg, Group, Key, Op, TaskGraph, Token, Value};
/// let add: Arc<dyn Op> = Arc::new(ops::Add);
/// let mut b = TaskGraph::builder();
/// let x = Key::single(Group::new("x"), Token(1));
/// let y = Key::single(Group::new("y"), Token(2));
/// b.add(y, &add, [Arg::Key(x), Arg::Value(Value::I64(10))])?; // may name a later key
/// b.add(x, &add, [Arg::Value(Value::I64(1)), Arg::Value(Value::I64(2))])?;
/// assert_eq!(rask::get(&b.build()?, &[y])?, vec![Value::I64(13)]);
/// # Ok::<(), rask::Error>(())
/// ```
pub fn get(graph: &graph::TaskGraph, keys: &[graph::Key]) -> Result<Vec<graph::Value>> {
    get_with(graph, keys, &ComputeOptions::default())
}

/// [`get`] with options.
pub fn get_with(graph: &graph::TaskGraph, keys: &[graph::Key], options: &ComputeOptions) -> Result<Vec<graph::Value>> {
    rask_dashboard::serve_from_env();
    let ids = graph.find(keys)?;
    let scheduler = options.resolve_scheduler()?;
    let passes = if options.optimizes() { graph::OptimizeOptions::default() } else { graph::OptimizeOptions::none() };
    let (graph, ids) = graph::optimize(graph.clone(), ids, passes);
    Ok(scheduler.execute(&graph, &ids)?)
}

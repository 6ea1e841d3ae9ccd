//! # rask-scheduler
//!
//! Where rask's task graphs run. One trait, [`Scheduler`], and its executors:
//!
//! - [`SyncScheduler`]: the calling thread, in priority order (for debugging);
//! - [`ThreadsScheduler`]: a work-stealing pool over the flat task arena (the default);
//! - [`ProcessesScheduler`]: `rask-worker` child processes on this machine, values kept
//!   in the worker that made them ([`wire`] is their protocol).
//!
//! Every executor frees intermediate values as soon as their last reader ran, stops at the
//! first failing task with an error naming its key and op (panics included), and reports
//! to the [`events`] bus that the [`progress`] bar and the dashboard read.
//! [`default_scheduler`] picks the scheduler: set in code, else `RASK_SCHEDULER`
//! (`sync`, `threads`, `threads:N`, `processes`, `processes:N`), else one thread per core.
//!
//! ```
//! use std::sync::Arc;
//! use rask_graph::{ops, Arg, Group, Key, Op, TaskGraph, Token, Value};
//! use rask_scheduler::{Scheduler, SyncScheduler, ThreadsScheduler};
//!
//! let add: Arc<dyn Op> = Arc::new(ops::Add);
//! let mut b = TaskGraph::builder();
//! let x = b.add(Key::single(Group::new("add"), Token(1)), &add, [Arg::Value(Value::I64(1)), Arg::Value(Value::I64(2))]).unwrap();
//! let graph = b.build().unwrap();
//! for scheduler in [&SyncScheduler as &dyn Scheduler, &ThreadsScheduler::new(2)] {
//!     assert_eq!(scheduler.execute(&graph, &[x]).unwrap(), vec![Value::I64(3)]);
//! }
//! ```
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

mod cleanup;
mod client;
mod cluster;
mod error;
pub mod events;
mod local_cluster;
mod net;
mod pool;
mod processes;
pub mod progress;
mod run;
mod scheduler;
mod service;
mod sync;
mod threads;
pub mod wire;
pub mod worker;

pub use client::{
    AsCompleted, Awaiting, CallArg, Client, ClusterAddress, Dataset, Future, FutureStatus, Held, Kept, SchedulerFile,
    SubmitOptions, Versions, WaitFor, as_completed, wait,
};
pub use cluster::submission;
pub use error::SchedulerError;
/// The trait [`AsCompleted`] implements for async code (re-exported, so that no version
/// has to be matched by hand).
pub use futures_core::Stream;
pub use local_cluster::{LocalCluster, LocalClusterOptions};
pub use processes::{ProcessesScheduler, SCHEDULER_BIN_VAR, WORKER_BIN_VAR};
pub use run::{call_op, call_recorded, call_task, panic_message, use_counts};
pub use scheduler::{Scheduler, SchedulerSpec, cores, default_scheduler, set_default_scheduler};
pub use service::{Server, ServerConfig};
pub use sync::SyncScheduler;
pub use threads::ThreadsScheduler;

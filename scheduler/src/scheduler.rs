//! The [`Scheduler`] trait, scheduler names, and the process-wide default.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use rask_graph::{TaskGraph, TaskId, Value};

use crate::client::{Client, ClusterAddress, Kept};
use crate::error::SchedulerError;
use crate::processes::ProcessesScheduler;
use crate::sync::SyncScheduler;
use crate::threads::ThreadsScheduler;

/// Runs a task graph and returns the values of the requested outputs.
///
/// Every implementation stops at the first failing task, starts nothing after it, and
/// returns an error naming the task's key and op; panics inside tasks are caught.
pub trait Scheduler: Send + Sync + fmt::Debug {
    /// A short description, such as `threads(4)`.
    fn name(&self) -> String;

    /// Runs every task of `graph` and returns the values of `outputs`, in order. Task ids
    /// are a topological order (every [`TaskGraph`] is), and lower ids are preferred. Cull
    /// the graph first ([`rask_graph::cull`]) to run only what the outputs need.
    fn execute(&self, graph: &TaskGraph, outputs: &[TaskId]) -> Result<Vec<Value>, SchedulerError>;

    /// Runs `graph` as [`execute`](Scheduler::execute) does and keeps the values of
    /// `outputs` where they were computed: a local scheduler hands them back
    /// ([`Kept::Value`], the default), a cluster's client keeps them there as futures
    /// ([`Kept::Future`]). Collections' `persist` calls it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rask_graph::{ops, Arg, Group, Key, Op, TaskGraph, Token, Value};
    /// use rask_scheduler::{Kept, Scheduler, SyncScheduler};
    /// let inc: Arc<dyn Op> = Arc::new(ops::Inc);
    /// let mut b = TaskGraph::builder();
    /// let t = b.add(Key::single(Group::new("inc"), Token(1)), &inc, [Arg::Value(Value::I64(1))]).unwrap();
    /// let kept = SyncScheduler.persist(&b.build().unwrap(), &[t]).unwrap();
    /// assert!(matches!(&kept[..], [Kept::Value(Value::I64(2))]));
    /// ```
    fn persist(&self, graph: &TaskGraph, outputs: &[TaskId]) -> Result<Vec<Kept>, SchedulerError> {
        Ok(self.execute(graph, outputs)?.into_iter().map(Kept::Value).collect())
    }
}

/// A scheduler named in text, as `RASK_SCHEDULER` takes it.
///
/// ```
/// use rask_scheduler::SchedulerSpec;
/// assert_eq!("sync".parse::<SchedulerSpec>().unwrap(), SchedulerSpec::Sync);
/// assert_eq!("threads:4".parse::<SchedulerSpec>().unwrap(), SchedulerSpec::Threads(Some(4)));
/// assert_eq!("threads".parse::<SchedulerSpec>().unwrap(), SchedulerSpec::Threads(None));
/// assert_eq!("processes:2".parse::<SchedulerSpec>().unwrap(), SchedulerSpec::Processes(Some(2)));
/// assert_eq!("processes".parse::<SchedulerSpec>().unwrap(), SchedulerSpec::Processes(None));
/// assert!("threads:0".parse::<SchedulerSpec>().is_err());
/// assert!("processes:0".parse::<SchedulerSpec>().is_err());
/// assert!("gpu".parse::<SchedulerSpec>().is_err());
/// assert!(matches!("tcp://10.0.0.1:8786".parse::<SchedulerSpec>().unwrap(), SchedulerSpec::Cluster(_)));
/// assert!(matches!("scheduler-file:/shared/s.json".parse::<SchedulerSpec>().unwrap(), SchedulerSpec::Cluster(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchedulerSpec {
    /// [`SyncScheduler`].
    Sync,
    /// [`ThreadsScheduler`] with this many threads (default: the number of cores).
    Threads(Option<usize>),
    /// [`ProcessesScheduler`] with this many worker processes (default: the number of
    /// cores), one thread each.
    Processes(Option<usize>),
    /// A [`Client`] of the `rask-scheduler` at this address (`tcp://host:port`,
    /// `tls://host:port`, `unix:///path`) or in this scheduler file (`scheduler-file:PATH`).
    Cluster(ClusterAddress),
}

impl FromStr for SchedulerSpec {
    type Err = SchedulerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || SchedulerError::InvalidSpec { value: s.to_string(), origin: "code".to_string() };
        let text = s.trim();
        match text.split_once(':') {
            None if text == "sync" || text == "synchronous" => Ok(SchedulerSpec::Sync),
            None if text == "threads" || text == "threading" => Ok(SchedulerSpec::Threads(None)),
            None if text == "processes" || text == "multiprocessing" => Ok(SchedulerSpec::Processes(None)),
            Some(("threads", n)) => match n.trim().parse::<usize>() {
                Ok(n) if n >= 1 => Ok(SchedulerSpec::Threads(Some(n))),
                _ => Err(invalid()),
            },
            Some(("processes", n)) => match n.trim().parse::<usize>() {
                Ok(n) if n >= 1 => Ok(SchedulerSpec::Processes(Some(n))),
                _ => Err(invalid()),
            },
            Some(("tcp" | "tls" | "unix" | "scheduler-file", _)) => {
                text.parse::<ClusterAddress>().map(SchedulerSpec::Cluster).map_err(|_| invalid())
            }
            _ => Err(invalid()),
        }
    }
}

impl SchedulerSpec {
    /// The scheduler this names. A process pool is built idle: its workers start on its
    /// first compute.
    pub fn build(&self) -> Arc<dyn Scheduler> {
        match self {
            SchedulerSpec::Sync => Arc::new(SyncScheduler),
            SchedulerSpec::Threads(n) => Arc::new(n.map(ThreadsScheduler::new).unwrap_or_default()),
            // The pool starts on the first compute, so building one costs nothing.
            SchedulerSpec::Processes(n) => Arc::new(n.map(ProcessesScheduler::new).unwrap_or_default()),
            // The client connects on the first compute.
            SchedulerSpec::Cluster(target) => Arc::new(Client::lazy(target.clone())),
        }
    }

    /// The spec in `RASK_SCHEDULER`, if set; a value rask does not know is an error naming
    /// the variable.
    pub fn from_env() -> Result<Option<SchedulerSpec>, SchedulerError> {
        match std::env::var("RASK_SCHEDULER") {
            Ok(v) if v.trim().is_empty() => Ok(None),
            Ok(v) => v.parse().map(Some).map_err(|_| SchedulerError::InvalidSpec {
                value: v,
                origin: "the RASK_SCHEDULER environment variable".to_string(),
            }),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(v)) => Err(SchedulerError::InvalidSpec {
                value: v.to_string_lossy().into_owned(),
                origin: "the RASK_SCHEDULER environment variable".to_string(),
            }),
        }
    }
}

/// The number of cores this process may use (at least one): the default size of thread
/// pools, process pools and a worker's task threads.
///
/// ```
/// assert!(rask_scheduler::cores() >= 1);
/// ```
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

static DEFAULT: RwLock<Option<Arc<dyn Scheduler>>> = RwLock::new(None);

/// Sets the scheduler `compute()` uses when a call names none (`None` restores the
/// default). Set in code, it takes precedence over `RASK_SCHEDULER`.
///
/// ```
/// use rask_scheduler::{default_scheduler, set_default_scheduler, SyncScheduler};
/// set_default_scheduler(Some(std::sync::Arc::new(SyncScheduler)));
/// assert_eq!(default_scheduler().unwrap().name(), "sync");
/// set_default_scheduler(None);
/// ```
pub fn set_default_scheduler(scheduler: Option<Arc<dyn Scheduler>>) {
    *DEFAULT.write().unwrap_or_else(|e| e.into_inner()) = scheduler;
}

/// The scheduler built from `RASK_SCHEDULER` (or the default spec), kept while the
/// variable names the same one: a process pool stays warm across computes instead of
/// starting its workers for each.
static FROM_ENV: std::sync::Mutex<Option<(SchedulerSpec, Arc<dyn Scheduler>)>> = std::sync::Mutex::new(None);

/// The scheduler to use when a call names none: the one set in code, else
/// `RASK_SCHEDULER`, else `threads` with one thread per core. The scheduler a spec names is
/// built once and reused while the spec stays the same, so `RASK_SCHEDULER=processes`
/// keeps one warm pool for the life of the process (its workers exit with it).
///
/// ```
/// use rask_scheduler::default_scheduler;
/// let a = default_scheduler().unwrap();
/// let b = default_scheduler().unwrap();
/// assert!(std::sync::Arc::ptr_eq(&a, &b), "built once, reused");
/// ```
pub fn default_scheduler() -> Result<Arc<dyn Scheduler>, SchedulerError> {
    if let Some(s) = DEFAULT.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return Ok(s.clone());
    }
    let spec = SchedulerSpec::from_env()?.unwrap_or(SchedulerSpec::Threads(None));
    let mut cached = FROM_ENV.lock().unwrap_or_else(|e| e.into_inner());
    match cached.as_ref() {
        Some((built_from, scheduler)) if *built_from == spec => Ok(scheduler.clone()),
        _ => {
            let scheduler = spec.build();
            *cached = Some((spec, scheduler.clone()));
            Ok(scheduler)
        }
    }
}

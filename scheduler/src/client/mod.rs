//! Computing on a cluster: [`Client`] connects to a `rask-scheduler` and runs graphs there
//! (it implements [`Scheduler`](crate::Scheduler), so `compute()` works unchanged), and
//! [`SchedulerFile`] is how a scheduler says where it is.
//!
//! Single calls run as futures ([`Client::submit`], [`Future`]), kept on the cluster
//! under a name as datasets ([`Client::publish`]); persisted collections keep their
//! values on the cluster as futures too ([`Client::persist_graph`], [`Held`]).
//!
//! Each computation is a *run* of the client: it submits the graph, waits for the values
//! (or the first error) of the keys it wants, and releases them; the scheduler forgets
//! what no run of any client wants any more.

mod completion;
mod datasets;
mod file;
mod future;
mod held;
mod remote;

use crossbeam_channel::Receiver;
use rask_graph::{Key, Value};
use rustc_hash::FxHashMap;

pub use self::completion::{AsCompleted, WaitFor, as_completed, wait};
pub use self::datasets::Dataset;
pub use self::file::SchedulerFile;
pub use self::future::{Awaiting, CallArg, Future, FutureStatus, SubmitOptions};
pub use self::held::{Held, Kept};
pub use self::remote::{Client, ClusterAddress, Versions};
use crate::error::SchedulerError;
use crate::wire::{FromScheduler, Lookup};

/// Waits for the news of one run until every key of `wanted` has a value; the first error
/// ends the wait. `gone` says why the news stopped, if they do.
pub(crate) fn await_results(
    news: &Receiver<FromScheduler>,
    wanted: &[Key],
    gone: impl Fn() -> String,
) -> Result<FxHashMap<Key, Value>, SchedulerError> {
    let mut values: FxHashMap<Key, Value> = FxHashMap::default();
    while values.len() < wanted.len() {
        let message = news.recv().map_err(|_| SchedulerError::Pool(gone()))?;
        match message {
            FromScheduler::Results(results) => {
                for (key, lookup) in results {
                    match lookup {
                        Lookup::Found(value) => {
                            values.insert(key, value);
                        }
                        Lookup::Refused(reason) => return Err(SchedulerError::Transfer { key, reason }),
                        Lookup::Missing => {}
                    }
                }
            }
            FromScheduler::Erred(errors) => {
                if let Some((_, error)) = errors.into_iter().next() {
                    return Err(error.into());
                }
            }
            FromScheduler::Refused { reason, .. } => return Err(SchedulerError::Pool(reason)),
            FromScheduler::Info(_)
            | FromScheduler::Ready(_)
            | FromScheduler::Done
            | FromScheduler::Dataset { .. }
            | FromScheduler::Datasets(_)
            | FromScheduler::Batch(_) => {}
        }
    }
    Ok(values)
}

/// The values of `outputs` (in order, repeats included) from values by key.
pub(crate) fn in_order(
    graph: &rask_graph::TaskGraph,
    outputs: &[rask_graph::TaskId],
    values: &FxHashMap<Key, Value>,
) -> Vec<Value> {
    outputs.iter().map(|&o| values.get(&graph.key(o)).cloned().unwrap_or(Value::Unit)).collect()
}

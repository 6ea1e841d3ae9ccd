//! Values kept on the cluster by a collection: [`Client::persist_graph`] (what
//! [`Scheduler::persist`](crate::Scheduler::persist) does on a cluster) runs a graph and
//! keeps its outputs there as futures, and [`Held`] is the op a persisted collection's
//! task becomes, standing for such a future under the future's own key.
//!
//! Computing a persisted collection on the same cluster reuses the values in place: the
//! scheduler shares keys it holds already, so a `Held` task is never run there. Computing
//! it anywhere else (the sync or threads scheduler) runs the op, which fetches the value
//! through its future.

use rask_graph::{Args, Key, Op, OpError, TaskGraph, TaskId, Value};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use super::future::Future;
use super::remote::Client;
use crate::error::SchedulerError;
use crate::wire::FromScheduler;

/// What a scheduler's [`persist`](crate::Scheduler::persist) keeps of one output: its
/// value, here, or a future of it on a cluster.
#[derive(Debug, Clone)]
pub enum Kept {
    /// The computed value (local schedulers).
    Value(Value),
    /// The value stays on the cluster, held by this future.
    Future(Future),
}

/// The op of a task whose value a cluster holds under the task's key, through `future`
/// (see the module docs). It is never merged into other tasks ([`Op::is_fusable`]), so the
/// task keeps the key; sent to a worker, it goes without its future, and running it there
/// (the key is gone: the cluster was restarted, or it is another cluster) is an error
/// naming the key.
///
/// ```no_run
/// use rask_graph::{ops, Op, Value};
/// use rask_scheduler::{Client, Held};
/// let client = Client::connect("tcp://127.0.0.1:8786".parse()?)?;
/// let future = client.submit(&ops::Inc, [Value::I64(1).into()])?;
/// let held = Held::new(future);
/// assert_eq!(held.call(rask_graph::Args::new()).unwrap(), Value::I64(2)); // fetched
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Held {
    key: Key,
    #[serde(skip)]
    future: Option<Future>,
}

impl Held {
    /// The op standing for `future`'s value.
    pub fn new(future: Future) -> Held {
        Held { key: future.key(), future: Some(future) }
    }

    /// The key whose value it stands for.
    pub fn key(&self) -> Key {
        self.key
    }

    /// The future holding the value; `None` in a copy sent to another process.
    pub fn future(&self) -> Option<&Future> {
        self.future.as_ref()
    }
}

#[typetag::serde(name = "rask.held")]
impl Op for Held {
    fn name(&self) -> &str {
        "held"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        if !args.is_empty() {
            return Err(OpError::new(format!("the held value {} takes no arguments, got {}", self.key, args.len())));
        }
        match &self.future {
            Some(future) => future.result().map_err(|e| OpError::new(e.to_string())),
            None => Err(OpError::new(format!(
                "{} was persisted on a rask cluster that no longer holds it (restarted, or another \
                 cluster): compute it with the client that persisted it",
                self.key
            ))),
        }
    }

    fn is_fusable(&self) -> bool {
        false
    }
}

impl Client {
    /// Runs `graph` on the cluster and keeps the values of `outputs` there: one future per
    /// output, in order, once every one is ready (the first error fails the call). The
    /// values never travel to the client.
    ///
    /// ```no_run
    /// use rask_graph::{ops, Arg, Group, Key, Op, TaskGraph, Token, Value};
    /// use std::sync::Arc;
    /// let client = rask_scheduler::Client::connect("tcp://127.0.0.1:8786".parse()?)?;
    /// let inc: Arc<dyn Op> = Arc::new(ops::Inc);
    /// let mut b = TaskGraph::builder();
    /// let t = b.add(Key::single(Group::new("inc"), Token(7)), &inc, [Arg::Value(Value::I64(1))])?;
    /// let futures = client.persist_graph(&b.build()?, &[t])?;
    /// assert_eq!(futures[0].result()?, Value::I64(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn persist_graph(&self, graph: &TaskGraph, outputs: &[TaskId]) -> Result<Vec<Future>, SchedulerError> {
        let mut submission = crate::cluster::submission(graph, outputs, self.next_run())?;
        let keys = std::mem::take(&mut submission.wanted);
        submission.held = keys.clone();
        let futures = self.run_submission(submission, |news, session| {
            await_ready(news, &keys, || {
                format!("the connection to the scheduler at {} was lost during the persist", session.address)
            })?;
            // The futures hold the keys before the run lets them go (messages keep their order).
            self.hold_all(&keys)
        })?;
        let by_key: FxHashMap<Key, Future> = keys.into_iter().zip(futures).collect();
        Ok(outputs.iter().map(|&o| by_key[&graph.key(o)].clone()).collect())
    }
}

/// Waits for the news of one run until every key of `held` is ready on the cluster; the
/// first error ends the wait.
fn await_ready(
    news: &crossbeam_channel::Receiver<FromScheduler>,
    held: &[Key],
    gone: impl Fn() -> String,
) -> Result<(), SchedulerError> {
    let mut pending: FxHashSet<Key> = held.iter().copied().collect();
    while !pending.is_empty() {
        match news.recv().map_err(|_| SchedulerError::Pool(gone()))? {
            FromScheduler::Ready(keys) => {
                for key in keys {
                    pending.remove(&key);
                }
            }
            FromScheduler::Erred(errors) => {
                if let Some((_, error)) = errors.into_iter().next() {
                    return Err(error.into());
                }
            }
            FromScheduler::Refused { reason, .. } => return Err(SchedulerError::Pool(reason)),
            _ => {}
        }
    }
    Ok(())
}

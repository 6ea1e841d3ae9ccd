//! The messages between a client (a program computing on the cluster, or the process
//! pool's driver) and a scheduler.
//!
//! A client sends its graph as a [`Submission`]: tasks in topological order, each with its
//! op (from the submission's op table, encoded once), its arguments (literal values, or the
//! key of another task: of this submission, or already on the cluster) and its place in
//! the graph's order; and the keys it wants. The scheduler merges it into its task table
//! (a key already there is shared, not recomputed), and sends back each wanted key's value
//! ([`FromScheduler::Results`]) or error ([`FromScheduler::Erred`]) as it completes. The
//! client releases keys it no longer wants ([`ToScheduler::Release`]); the scheduler
//! forgets whatever nobody wants any more.
//!
//! A client names each submission with a run number of its own; what it wants is counted
//! per run, so that two computations of one client wanting the same key do not release it
//! for each other, and the scheduler's news come tagged with their run ([`ToClient`]).

use rask_graph::{Key, Value};
use serde::{Deserialize, Serialize};

use super::{Address, EncodedOp, Lookup};

/// From a client to its scheduler.
#[derive(Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ToScheduler {
    /// Compute a graph.
    Submit(Submission),
    /// Run `run` no longer wants these keys (it has their results, or gave up on them).
    Release {
        /// The run that wanted them.
        run: u64,
        /// The keys.
        keys: Vec<Key>,
    },
    /// Asks for the cluster's state, answered with [`FromScheduler::Info`] for `run`.
    Info {
        /// The run the answer is for.
        run: u64,
    },
    /// Run `run` now wants the values of these keys it holds ([`Submission::held`]).
    Fetch {
        /// The run that holds them.
        run: u64,
        /// The keys.
        keys: Vec<Key>,
    },
    /// Keeps `keys` (on the cluster) under `name` until unpublished, whoever else
    /// releases them; answered [`FromScheduler::Done`] or [`FromScheduler::Refused`].
    Publish {
        /// The run the answer is for.
        run: u64,
        /// The dataset's name.
        name: String,
        /// Its keys, which must be on the cluster.
        keys: Vec<Key>,
        /// What the keys make up, for whoever reads the dataset (a persisted collection
        /// describes itself here: see `collections/src/published.rs`); at most
        /// 1 MiB, and empty for plain futures.
        #[serde(default)]
        metadata: Vec<u8>,
    },
    /// Drops the dataset `name`; answered `Done` or `Refused`.
    Unpublish {
        /// The run the answer is for.
        run: u64,
        /// The dataset's name.
        name: String,
    },
    /// Asks for the keys of dataset `name`; answered [`FromScheduler::Dataset`] or `Refused`.
    GetDataset {
        /// The run the answer is for.
        run: u64,
        /// The dataset's name.
        name: String,
    },
    /// Keeps these keys' tasks running until done, with no run holding them; not
    /// answered.
    FireAndForget {
        /// Unused (every message names a run).
        run: u64,
        /// The keys, which must be on the cluster.
        keys: Vec<Key>,
    },
    /// Asks for the datasets' names; answered [`FromScheduler::Datasets`].
    ListDatasets {
        /// The run the answer is for.
        run: u64,
    },
    /// Several messages in one frame, handled in order (a burst of futures' calls,
    /// fetches or releases); never nested.
    Batch(Vec<ToScheduler>),
    /// Forgets every task and dataset (clients hear their keys were restarted away) and
    /// restarts every worker's process; answered [`FromScheduler::Done`] once as many
    /// workers are back, or `Refused` after `timeout_ms`.
    Restart {
        /// The run the answer is for.
        run: u64,
        /// How long to wait for the workers, in milliseconds.
        timeout_ms: u64,
    },
    /// Copies the values of these keys (those in memory) to other workers until each is
    /// on `copies` of them (every running worker with `None`); not answered.
    Replicate {
        /// Unused (every message names a run).
        run: u64,
        /// The keys.
        keys: Vec<Key>,
        /// Workers each value should be on.
        copies: Option<u32>,
    },
}

impl ToScheduler {
    /// The run the message is about.
    pub fn run(&self) -> u64 {
        match self {
            ToScheduler::Submit(s) => s.run,
            ToScheduler::Release { run, .. }
            | ToScheduler::Info { run }
            | ToScheduler::Fetch { run, .. }
            | ToScheduler::Publish { run, .. }
            | ToScheduler::Unpublish { run, .. }
            | ToScheduler::GetDataset { run, .. }
            | ToScheduler::FireAndForget { run, .. }
            | ToScheduler::ListDatasets { run }
            | ToScheduler::Restart { run, .. }
            | ToScheduler::Replicate { run, .. } => *run,
            ToScheduler::Batch(_) => 0,
        }
    }
}

/// The cluster as its scheduler sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// The workers connected.
    pub workers: Vec<WorkerSummary>,
    /// Tasks in the scheduler's table.
    pub tasks: usize,
    /// Workers lost so far.
    pub workers_lost: usize,
    /// Tasks finished so far.
    #[serde(default)]
    pub tasks_finished: u64,
    /// The scheduler's rask version (its protocol is this client's: the handshake refuses
    /// another).
    #[serde(default)]
    pub version: String,
}

/// One worker of a [`ClusterInfo`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerSummary {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its process id.
    pub pid: u32,
    /// Its threads.
    pub nthreads: u32,
    /// Where its peers fetch its values.
    pub data_address: Address,
    /// Its last heartbeat (memory, CPU, tasks), if one came yet.
    pub heartbeat: Option<super::Heartbeat>,
}

/// What a scheduler sends a client: news of one of its runs.
#[derive(Debug, Serialize, Deserialize)]
pub struct ToClient {
    /// The run the news are about.
    pub run: u64,
    /// The news.
    pub news: FromScheduler,
}

/// A graph to compute; see the module docs.
#[derive(Debug, Serialize, Deserialize)]
pub struct Submission {
    /// Names the computation in events (the client's run id).
    pub run: u64,
    /// The ops its tasks index, each encoded once.
    pub ops: Vec<SubmitOp>,
    /// The tasks, each after the tasks it reads (packed on the wire: see
    /// `scheduler/src/wire/packed.rs`).
    #[serde(with = "super::packed")]
    pub tasks: Vec<SubmitTask>,
    /// The keys whose values the client wants back.
    pub wanted: Vec<Key>,
    /// Keys the client wants kept on the cluster, their values sent only when it asks
    /// ([`ToScheduler::Fetch`]); it hears when each is ready ([`FromScheduler::Ready`]).
    #[serde(default)]
    pub held: Vec<Key>,
    /// Where and how urgently its tasks run.
    #[serde(default)]
    pub placement: Placement,
}

/// Where and how urgently the tasks of a [`Submission`] run (Dask's `workers=`,
/// `allow_other_workers=` and `priority=`).
///
/// ```
/// use rask_scheduler::wire::Placement;
/// let anywhere = Placement::default();
/// assert!(anywhere.workers.is_empty() && anywhere.priority == 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// Higher runs sooner, before tasks submitted earlier.
    pub priority: i32,
    /// The workers its tasks may run on, each named by its name, its address or its
    /// host; empty: any worker.
    pub workers: Vec<String>,
    /// Whether another worker may run them while none of `workers` is connected (with
    /// false, they wait for one).
    pub allow_other_workers: bool,
}

impl Placement {
    /// Whether the tasks may run on any worker (no list of workers).
    pub fn is_unrestricted(&self) -> bool {
        self.workers.is_empty()
    }
}

/// One op of a [`Submission`]: encoded for the workers, and named for messages (the
/// scheduler does not decode ops, so it takes the name the client gives).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SubmitOp {
    /// The op's name ([`Op::name`](rask_graph::Op::name)).
    pub name: String,
    /// The op, encoded.
    pub op: EncodedOp,
}

/// One task of a [`Submission`].
#[derive(Debug, Serialize, Deserialize)]
pub struct SubmitTask {
    /// Its key.
    pub key: Key,
    /// Index into the submission's op table.
    pub op: u32,
    /// Its arguments, in order.
    pub args: Vec<SubmitArg>,
    /// Its place in the graph's order (lower runs first within the submission).
    pub order: u64,
    /// Times it is run again after its op fails, before it errs (Dask's `retries`).
    pub retries: u32,
}

/// One argument of a submitted task.
#[derive(Debug, Serialize, Deserialize)]
pub enum SubmitArg {
    /// A literal value.
    Value(Value),
    /// The output of the task with this key.
    Key(Key),
}

/// From a scheduler to a client.
#[derive(Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FromScheduler {
    /// Values of wanted keys, as they complete.
    Results(Vec<(Key, Lookup)>),
    /// Wanted keys that cannot be computed, and why.
    Erred(Vec<(Key, TaskError)>),
    /// The answer to [`ToScheduler::Info`].
    Info(ClusterInfo),
    /// Held keys whose values are now on the cluster.
    Ready(Vec<Key>),
    /// A request was carried out ([`ToScheduler::Publish`], [`ToScheduler::Unpublish`]).
    Done,
    /// The keys of a dataset ([`ToScheduler::GetDataset`]).
    Dataset {
        /// Its keys, in the order published.
        keys: Vec<Key>,
        /// What the publisher said they make up.
        metadata: Vec<u8>,
    },
    /// The names of the datasets ([`ToScheduler::ListDatasets`]), sorted.
    Datasets(Vec<String>),
    /// News of several runs in one frame (what one burst of the scheduler's work made,
    /// for many futures at once); never nested.
    Batch(Vec<ToClient>),
    /// A submission was refused as a whole (it names a key that is neither in it nor on
    /// the cluster, or lists a task before one it reads); nothing of it runs.
    Refused {
        /// The submission's run id.
        run: u64,
        /// Why.
        reason: String,
    },
}

/// Why a task could not be computed: the error of the task where it started (a wanted
/// key errs when any task it depends on does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TaskError {
    /// The task's op returned an error.
    Failed {
        /// The failing task.
        key: Key,
        /// Its op's name.
        op: String,
        /// The op's message.
        message: String,
    },
    /// The task's op panicked.
    Panicked {
        /// The panicking task.
        key: Key,
        /// Its op's name.
        op: String,
        /// The panic message.
        message: String,
    },
    /// The task was running on several workers that died.
    KilledWorker {
        /// The task.
        key: Key,
        /// Its op's name (as far as the scheduler knows it).
        op: String,
        /// How many workers died while running it.
        deaths: u32,
        /// Why the last one was lost.
        reason: String,
    },
    /// A value could not move between processes.
    Transfer {
        /// The task whose value was refused.
        key: Key,
        /// What was refused, and the limit.
        reason: String,
    },
    /// The cluster was restarted before it finished, or while its value was held.
    Restarted {
        /// The task.
        key: Key,
    },
    /// No worker is left to run it, and none is coming.
    NoWorkers {
        /// Workers lost so far.
        lost: usize,
        /// Why the last one was lost.
        reason: String,
        /// Tasks left unfinished.
        remaining: usize,
    },
}

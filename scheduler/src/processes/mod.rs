//! The `processes(n)` scheduler: tasks run in `n` `rask-worker` child processes.
//!
//! - [`state`]: the pure scheduling state machine (placement by input bytes, batching,
//!   chains, release, gathering, failure, worker loss), tested without sockets;
//! - [`pool`]: the warm pool of worker processes, their connections and their shutdown;
//! - [`locate`]: finding the worker binary, the token, the private directory;
//! - this file: [`ProcessesScheduler`] and the loop that joins the two.
//!
//! Values stay in the worker that computed them and move only when a task on another
//! worker needs them (worker to worker); only the requested outputs come back.

mod comm;
mod locate;
mod pool;
mod state;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use rask_graph::{Key, TaskGraph, TaskId, Value};

use self::comm::Comm;
use self::pool::{Incoming, Pool, Transport, WorkerArgs, WorkerProcess};
use self::state::Run;
use crate::error::SchedulerError;
use crate::events::{Event, EventBuffer, RunId, RunReport};
use crate::scheduler::Scheduler;
use crate::wire::{FromWorker, ToWorker};
use crate::worker::HEARTBEAT_EVERY;

pub use self::locate::WORKER_BIN_VAR;

/// How often the loop checks that worker processes are still running.
const EXIT_POLL: Duration = Duration::from_millis(50);
/// How long a worker may stay silent before it is taken for hung (Dask's `worker-ttl`).
const DEFAULT_WORKER_TTL: Duration = Duration::from_secs(300);
/// Messages handled before the loop sends what they made ready.
const MAX_DRAIN: usize = 4096;
/// The shortest worker ttl: two missed heartbeats.
const MIN_WORKER_TTL: Duration = Duration::from_secs(2 * HEARTBEAT_EVERY.as_secs());

/// Runs tasks in `n` `rask-worker` processes on this machine, like Dask's
/// `processes` scheduler, but keeping values in the workers: a task goes to the worker
/// holding most of its input bytes, values move between workers only when needed, and
/// only the outputs come back.
///
/// The pool starts on the first compute and stays warm across computes; dropping the
/// scheduler shuts the workers down (none outlives it, even on a panic). The worker binary
/// is found through `RASK_WORKER_BIN`, beside the current executable (or in its parent
/// directory), or on `PATH`; a project with ops of its own builds its own worker, a
/// one-line `main` calling `rask::worker::main()`. Only registered ops can run in a
/// worker: a graph holding a closure op is refused before anything starts, naming the task.
/// A worker lost mid-run (killed, crashed) costs only time: its tasks are requeued, the
/// values it held are recomputed on the others, and a replacement joins the run. A task
/// that was running on four workers that died is not tried again
/// ([`SchedulerError::KilledWorker`]).
///
/// ```no_run
/// use std::sync::Arc;
/// use rask_graph::{ops, Arg, Group, Key, Op, TaskGraph, Token, Value};
/// use rask_scheduler::{ProcessesScheduler, Scheduler};
/// let inc: Arc<dyn Op> = Arc::new(ops::Inc);
/// let mut b = TaskGraph::builder();
/// let x = b.add(Key::single(Group::new("inc"), Token(1)), &inc, [Arg::Value(Value::I64(1))]).unwrap();
/// let scheduler = ProcessesScheduler::new(2);
/// assert_eq!(scheduler.execute(&b.build().unwrap(), &[x]).unwrap(), vec![Value::I64(2)]);
/// ```
pub struct ProcessesScheduler {
    workers: usize,
    args: WorkerArgs,
    transport: Transport,
    binary: Option<PathBuf>,
    pool: Mutex<Option<Pool>>,
    pids: Arc<Mutex<Vec<u32>>>,
    lost: AtomicUsize,
    worker_ttl: Duration,
}

impl std::fmt::Debug for ProcessesScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessesScheduler")
            .field("workers", &self.workers)
            .field("threads_per_worker", &self.args.nthreads)
            .field("memory_limit", &self.args.memory_limit)
            .field("pids", &self.worker_pids())
            .finish()
    }
}

impl ProcessesScheduler {
    /// A pool of `workers` processes (at least one), one thread each.
    pub fn new(workers: usize) -> Self {
        ProcessesScheduler {
            workers: workers.max(1),
            args: WorkerArgs {
                nthreads: 1,
                memory_limit: None,
                local_dir: None,
                transfer_limit: crate::wire::transfer_limit(),
            },
            transport: Transport::Unix,
            binary: None,
            pool: Mutex::new(None),
            pids: Arc::new(Mutex::new(Vec::new())),
            lost: AtomicUsize::new(0),
            worker_ttl: DEFAULT_WORKER_TTL,
        }
    }

    /// Each worker runs tasks on `threads` threads (at least one).
    pub fn with_threads_per_worker(mut self, threads: usize) -> Self {
        self.args.nthreads = threads.max(1);
        self
    }

    /// Each worker keeps at most this many bytes of values in memory and spills the least
    /// recently used to disk beyond it (`rask-worker --memory-limit`; default: no limit).
    ///
    /// ```
    /// let pool = rask_scheduler::ProcessesScheduler::new(2).with_memory_limit(4 << 30);
    /// # let _ = pool;
    /// ```
    pub fn with_memory_limit(mut self, bytes: u64) -> Self {
        self.args.memory_limit = Some(bytes);
        self
    }

    /// Workers spill to directories they make in `dir` (`rask-worker --local-dir`;
    /// default: a private directory of the pool, under the system temp dir).
    pub fn with_local_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.args.local_dir = Some(dir.into());
        self
    }

    /// A worker silent this long during a compute (no heartbeat, which it sends every
    /// second even while busy) is taken for hung: it is killed, replaced, and its work
    /// redone elsewhere. Default: five minutes, as Dask's `worker-ttl`. A ttl shorter than
    /// two heartbeats (2 s) would give up on healthy workers: a compute with one is an
    /// error saying so.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = rask_scheduler::ProcessesScheduler::new(2).with_worker_ttl(Duration::from_secs(30));
    /// assert_eq!(pool.worker_ttl(), Duration::from_secs(30));
    /// ```
    pub fn with_worker_ttl(mut self, ttl: Duration) -> Self {
        self.worker_ttl = ttl;
        self
    }

    /// How long a worker may stay silent; see [`with_worker_ttl`](Self::with_worker_ttl).
    pub fn worker_ttl(&self) -> Duration {
        self.worker_ttl
    }

    /// The largest message, in bytes, any process of the pool takes: a value larger than
    /// this is not moved between workers nor gathered, and the compute fails with
    /// [`SchedulerError::Transfer`] naming its task. Default: the host's memory
    /// ([`transfer_limit`](crate::wire::transfer_limit)), so any value that fits in memory
    /// moves; set a lower one to keep a stray huge result from exhausting the driver (as
    /// Spark's `maxResultSize`).
    ///
    /// ```
    /// let pool = rask_scheduler::ProcessesScheduler::new(2).with_transfer_limit(1 << 30);
    /// # let _ = pool;
    /// ```
    pub fn with_transfer_limit(mut self, bytes: u64) -> Self {
        self.args.transfer_limit = bytes;
        self
    }

    /// Workers connect over TCP loopback instead of a Unix socket.
    pub fn with_tcp(mut self) -> Self {
        self.transport = Transport::Tcp;
        self
    }

    /// Starts this worker binary instead of looking for `rask-worker`.
    pub fn with_worker_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// The number of worker processes.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The process ids of the running workers (empty before the first compute), for
    /// measuring their memory.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.pids.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many workers were lost during computes so far (killed, crashed, disconnected);
    /// each is replaced at once, and the run goes on while its replacement starts.
    pub fn workers_lost(&self) -> usize {
        self.lost.load(Ordering::Relaxed)
    }

    /// The address the pool listens on for its workers (`None` before the first compute
    /// and after [`shutdown`](Self::shutdown)). Only holders of the pool's token may join.
    pub fn address(&self) -> Option<crate::wire::Address> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|p| p.address().clone())
    }

    /// Stops the workers now (the next compute starts new ones).
    pub fn shutdown(&self) {
        drop(self.pool.lock().unwrap_or_else(|e| e.into_inner()).take());
    }

    fn start_pool(&self) -> Result<Pool, SchedulerError> {
        let binary = match &self.binary {
            Some(b) if b.is_file() => b.clone(),
            Some(b) => {
                return Err(SchedulerError::WorkerNotFound { searched: format!("{} (no such file)", b.display()) });
            }
            None => locate::find_worker_binary()?,
        };
        Pool::new(binary, self.args.clone(), self.transport, self.pids.clone())
    }
}

impl Default for ProcessesScheduler {
    /// One worker per core.
    fn default() -> Self {
        ProcessesScheduler::new(crate::cores())
    }
}

impl Scheduler for ProcessesScheduler {
    fn name(&self) -> String {
        format!("processes({})", self.workers)
    }

    fn execute(&self, graph: &TaskGraph, outputs: &[TaskId]) -> Result<Vec<Value>, SchedulerError> {
        if self.worker_ttl < MIN_WORKER_TTL {
            return Err(SchedulerError::Config(format!(
                "a worker ttl of {:?} is shorter than two heartbeats ({MIN_WORKER_TTL:?}): healthy workers would be \
                 taken for hung; give with_worker_ttl at least {MIN_WORKER_TTL:?}",
                self.worker_ttl
            )));
        }
        graph.check_portable()?;
        if graph.is_empty() {
            return Run::new(graph, outputs, Vec::new()).map(|run| run.results());
        }
        let mut slot = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        let mut pool = match slot.take() {
            Some(p) => p,
            None => self.start_pool()?,
        };
        // A panic from here on drops `pool` while unwinding: its workers are shut down.
        pool.ensure(self.workers)?;
        let report = RunReport::begin(graph, &self.name());
        let events = report.listened().then(|| report.run());
        let result = drive(&mut pool, graph, outputs, events, self.worker_ttl, &self.lost);
        report.finish(result.is_ok());
        pool.publish_pids();
        if result.is_ok() {
            *slot = Some(pool);
        }
        // On an error, tasks may still be running in the workers: `pool` is dropped here
        // (shut down) and the next compute starts afresh.
        result
    }
}

/// Runs one graph on the pool's workers: the state machine fed by the workers' messages.
fn drive(
    pool: &mut Pool,
    graph: &TaskGraph,
    outputs: &[TaskId],
    events: Option<RunId>,
    ttl: Duration,
    lost: &AtomicUsize,
) -> Result<Vec<Value>, SchedulerError> {
    let specs = pool.workers.iter().map(WorkerProcess::spec).collect();
    let mut run = Run::new(graph, outputs, specs)?;
    if run.is_done() {
        return Ok(run.results());
    }
    let result = drive_run(pool, &mut run, events, ttl);
    lost.fetch_add(run.workers_lost(), Ordering::Relaxed);
    result
}

fn drive_run(
    pool: &mut Pool,
    run: &mut Run<'_>,
    events: Option<RunId>,
    ttl: Duration,
) -> Result<Vec<Value>, SchedulerError> {
    let mut ids: Vec<u64> = pool.workers.iter().map(|w| w.id).collect();
    let incoming = pool.incoming.clone();
    let events = events.map(|r| (r, EventBuffer::default()));
    let mut comm = ShellComm { pool, unsent: None, events };
    run.start(&mut comm)?;
    comm.check_sent()?;
    let mut last_poll = Instant::now();
    while !run.is_done() {
        match incoming.recv_timeout(EXIT_POLL) {
            Ok((id, message)) => {
                comm.dispatch(run, &ids, id, message)?;
                for _ in 0..MAX_DRAIN {
                    match incoming.try_recv() {
                        Ok((id, message)) => comm.dispatch(run, &ids, id, message)?,
                        Err(_) => break,
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(SchedulerError::Pool("the workers' message channel closed".into()));
            }
        }
        // Sends never block, so this runs every EXIT_POLL whatever the workers do.
        if last_poll.elapsed() >= EXIT_POLL {
            last_poll = Instant::now();
            for w in 0..comm.pool.workers.len() {
                if !comm.pool.workers[w].alive {
                    continue;
                }
                if let Some(reason) = comm.pool.workers[w].exited() {
                    comm.lose(run, w, &reason)?;
                } else if comm.pool.workers[w].silent_for() > ttl {
                    comm.lose(run, w, &format!("silent for {ttl:?}, no heartbeat: taken for hung"))?;
                }
            }
            if comm.pool.is_joining() {
                comm.welcome(run, &mut ids)?;
            }
        }
        run.flush(&mut comm)?;
        comm.check_sent()?;
    }
    // The last releases.
    run.flush(&mut comm)?;
    if let Some((_, buffer)) = comm.events.as_mut() {
        buffer.flush();
    }
    Ok(run.results())
}

/// The shell's [`Comm`]: queues messages on the workers' links, buffers events,
/// replaces lost workers.
struct ShellComm<'p> {
    pool: &'p mut Pool,
    /// A message that could not be sent (it cannot be encoded, or exceeds its worker's
    /// limit): the run ends with it.
    unsent: Option<SchedulerError>,
    events: Option<(RunId, EventBuffer)>,
}

impl ShellComm<'_> {
    fn dispatch(&mut self, run: &mut Run<'_>, ids: &[u64], id: u64, message: Incoming) -> Result<(), SchedulerError> {
        let Some(w) = ids.iter().position(|&i| i == id) else {
            return Ok(()); // A worker of an earlier run, since pruned.
        };
        match message {
            Incoming::Message(FromWorker::Heartbeat { memory, spilled }) => {
                if let Some((_, buffer)) = self.events.as_mut() {
                    buffer.push(Event::WorkerMemory { worker: id as u32, memory, spilled, at: Instant::now() });
                }
                Ok(())
            }
            Incoming::Message(m) => run.handle(w, m, self),
            Incoming::Closed(reason) => self.lose(run, w, &format!("connection closed: {reason}")),
        }
    }

    /// Gives worker `w` up, starts its replacement and lets the run recover.
    fn lose(&mut self, run: &mut Run<'_>, w: usize, reason: &str) -> Result<(), SchedulerError> {
        let worker = &mut self.pool.workers[w];
        if !worker.alive {
            return Ok(()); // Both its connection and its process told us.
        }
        let reason = format!("worker {} (pid {}): {reason}", worker.info.name, worker.info.pid);
        worker.kill();
        worker.left(&reason);
        match self.pool.spawn(1) {
            Ok(()) => run.expect_worker(),
            Err(e) => tracing::warn!("cannot replace {reason}: {e}"),
        }
        run.worker_lost(w, &reason)
    }

    /// Adds the replacements that connected to the run; gives up on those that failed.
    fn welcome(&mut self, run: &mut Run<'_>, ids: &mut Vec<u64>) -> Result<(), SchedulerError> {
        let joined = self.pool.poll_joined(Duration::ZERO)?;
        for i in joined.joined {
            let worker = &self.pool.workers[i];
            let index = run.add_worker(worker.spec());
            debug_assert_eq!(index, ids.len(), "the run and the pool number workers alike");
            ids.push(worker.id);
        }
        self.pool.publish_pids();
        for reason in joined.failed {
            tracing::warn!("a replacement worker did not join: {reason}");
            run.worker_not_coming(&reason)?;
        }
        Ok(())
    }

    /// Ends the run if a message could not be sent.
    fn check_sent(&mut self) -> Result<(), SchedulerError> {
        self.unsent.take().map_or(Ok(()), Err)
    }
}

impl Comm for ShellComm<'_> {
    fn send(&mut self, worker: usize, message: ToWorker) {
        let w = &self.pool.workers[worker];
        if !w.alive {
            return;
        }
        if let Err(e) = w.send(&message) {
            let what = match &message {
                ToWorker::Compute { tasks, .. } => format!("a batch of {} tasks", tasks.len()),
                _ => "a message".to_string(),
            };
            self.unsent.get_or_insert(SchedulerError::Pool(format!(
                "cannot send {what} to worker {} (pid {}): {e}",
                w.info.name, w.info.pid
            )));
        }
    }

    fn task_finished(&mut self, worker: usize, key: Key, duration_us: u64, nbytes: u64) {
        if let Some((run, buffer)) = self.events.as_mut() {
            let duration = Duration::from_micros(duration_us);
            let now = Instant::now();
            let start = now.checked_sub(duration).unwrap_or(now);
            let worker = self.pool.workers[worker].id as u32;
            buffer.push(Event::TaskStarted { run: *run, key, worker, at: start });
            buffer.push(Event::TaskFinished { run: *run, key, worker, start, duration, nbytes: nbytes as usize });
        }
    }

    fn task_failed(&mut self, worker: usize, key: Key, message: &str) {
        if let Some((run, buffer)) = self.events.as_mut() {
            let worker = self.pool.workers[worker].id as u32;
            buffer.push(Event::TaskFailed { run: *run, key, worker, message: message.to_string() });
            buffer.flush();
        }
    }
}

//! The threaded scheduler: a work-stealing pool over the flat task arena.
//!
//! Per task the executor touches only integers and atomics: a pending-dependency count
//! (a task is ready when it reaches zero), a remaining-readers count (its value is freed
//! when that reaches zero, so intermediates live only as long as needed), and one value
//! slot. Ready tasks go onto the finishing thread's own LIFO deque, so a run stays
//! depth-first; idle threads steal. Roots are fed from a shared FIFO injector in priority
//! order. Threads spin briefly, then park; a thread that makes work only wakes a parked one
//! when some thread is parked.
//!
//! The calling thread is one worker; the others are helper threads kept between computes
//! (`pool.rs`), so a compute of a tiny graph costs microseconds, not a thread start.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering, fence};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use rask_graph::{ArgView, Args, Csr, TaskGraph, TaskId, Value};

use crate::error::SchedulerError;
use crate::events::{RunId, RunReport, TaskRecorder};
use crate::pool;
use crate::run::{call_recorded, use_counts};
use crate::scheduler::Scheduler;

/// Runs tasks on `n` threads: the calling thread and `n - 1` helpers from a process-wide
/// pool. Helpers outlive the compute (idle, they block and use no CPU), so the next compute
/// starts no thread; concurrent and nested computes each get their own helpers. Building
/// one costs nothing.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::{ops, Arg, Group, Key, Op, TaskGraph, Token, Value};
/// use rask_scheduler::{Scheduler, ThreadsScheduler};
/// let inc: Arc<dyn Op> = Arc::new(ops::Inc);
/// let sum: Arc<dyn Op> = Arc::new(ops::Sum);
/// let mut b = TaskGraph::builder();
/// let leaves: Vec<Arg> = (0..100)
///     .map(|i| Arg::Task(b.add(Key::new(Group::new("inc"), Token(1), &[i]), &inc, [Arg::Value(Value::I64(i as i64))]).unwrap()))
///     .collect();
/// let total = b.add(Key::single(Group::new("sum"), Token(2)), &sum, leaves).unwrap();
/// let out = ThreadsScheduler::new(2).execute(&b.build().unwrap(), &[total]).unwrap();
/// assert_eq!(out, vec![Value::I64(5050)]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ThreadsScheduler {
    threads: usize,
}

impl ThreadsScheduler {
    /// A pool of `threads` threads (at least one).
    pub fn new(threads: usize) -> Self {
        ThreadsScheduler { threads: threads.max(1) }
    }

    /// The number of threads.
    pub fn threads(&self) -> usize {
        self.threads
    }
}

impl Default for ThreadsScheduler {
    /// One thread per core.
    fn default() -> Self {
        ThreadsScheduler::new(crate::cores())
    }
}

impl Scheduler for ThreadsScheduler {
    fn name(&self) -> String {
        format!("threads({})", self.threads)
    }

    fn execute(&self, graph: &TaskGraph, outputs: &[TaskId]) -> Result<Vec<Value>, SchedulerError> {
        let report = RunReport::begin(graph, &self.name());
        let result = run(graph, outputs, self.threads, report.listened().then_some(report.run()));
        report.finish(result.is_ok());
        result
    }
}

/// One task's output, written once by its task and read by its dependents. Access is
/// ordered by the atomics around it: the write happens before the dependents' pending
/// counts are decremented (release), a dependent reads only after it saw its count reach
/// zero (acquire), and the value is taken only by the reader that brought the
/// remaining-readers count to zero, after every other reader released it.
struct Slot(UnsafeCell<Option<Value>>);

// SAFETY: see the protocol above; every access goes through `Run`, which follows it.
unsafe impl Sync for Slot {}

struct Run<'g> {
    graph: &'g TaskGraph,
    dependents: Csr,
    pending: Vec<AtomicU32>,
    readers: Vec<AtomicU32>,
    slots: Vec<Slot>,
    /// Outputs and tasks nobody reads: every task is an ancestor of one, so the run is
    /// over when all of them finished. Only these touch the shared counter.
    is_final: Vec<bool>,
    finals_left: AtomicUsize,
    stop: AtomicBool,
    error: Mutex<Option<SchedulerError>>,
    injector: Injector<u32>,
    stealers: Vec<Stealer<u32>>,
    sleep: Sleep,
    events: Option<RunId>,
}

fn run(
    graph: &TaskGraph,
    outputs: &[TaskId],
    threads: usize,
    events: Option<RunId>,
) -> Result<Vec<Value>, SchedulerError> {
    let readers = use_counts(graph, outputs)?;
    if graph.is_empty() {
        return Ok(Vec::new());
    }
    let mut is_final: Vec<bool> = readers.iter().map(|&r| r == 0).collect();
    for o in outputs {
        is_final[o.index()] = true;
    }
    let workers: Vec<Worker<u32>> = (0..threads.min(graph.len()).max(1)).map(|_| Worker::new_lifo()).collect();
    let run = Run {
        graph,
        dependents: graph.dependents(),
        pending: graph.ids().map(|t| AtomicU32::new(graph.dependencies(t).count() as u32)).collect(),
        readers: readers.into_iter().map(AtomicU32::new).collect(),
        slots: graph.ids().map(|_| Slot(UnsafeCell::new(None))).collect(),
        finals_left: AtomicUsize::new(is_final.iter().filter(|f| **f).count()),
        is_final,
        stop: AtomicBool::new(false),
        error: Mutex::new(None),
        injector: Injector::new(),
        stealers: workers.iter().map(Worker::stealer).collect(),
        sleep: Sleep::default(),
        events,
    };
    for t in graph.ids() {
        if run.pending[t.index()].load(Ordering::Relaxed) == 0 {
            run.injector.push(t.0);
        }
    }
    let mut workers = workers.into_iter().enumerate();
    let (_, own) = workers.next().expect("at least one worker");
    let lent = &run;
    let helpers: Vec<Box<dyn FnOnce() + Send + '_>> = workers
        .map(|(index, local)| Box::new(move || lent.work(index, local)) as Box<dyn FnOnce() + Send + '_>)
        .collect();
    // Returns once every helper left the run (or never joined it: the caller alone can
    // finish the run, as any worker can).
    pool::scope(helpers, || run.work(0, own));
    if let Some(e) = run.error.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(e);
    }
    // SAFETY: every worker left the run; outputs were written and never taken.
    Ok(outputs
        .iter()
        .map(|o| unsafe { (*run.slots[o.index()].0.get()).clone() }.expect("every output was computed"))
        .collect())
}

impl Run<'_> {
    fn work(&self, me: usize, local: Worker<u32>) {
        let _stop = StopOnUnwind(self);
        let mut recorder = self.events.map(|run| TaskRecorder::new(run, me as u32));
        let mut idle_rounds = 0u32;
        while !self.stop.load(Ordering::Relaxed) {
            match local.pop().or_else(|| self.find_work(me)) {
                Some(t) => {
                    idle_rounds = 0;
                    self.execute(TaskId(t), &local, &mut recorder);
                }
                None => self.idle(&mut idle_rounds),
            }
        }
    }

    /// Work for an idle worker: first tasks other workers made ready (finishing what was
    /// started frees its inputs), then the next root in priority order. Roots are taken
    /// one at a time: a batch runs ahead of the others' unfinished work and, popped from a
    /// LIFO deque, in reverse priority order (W2's std held twice the memory). The price is
    /// W1's tiny tasks: 0.18 µs per task instead of 0.09.
    fn find_work(&self, me: usize) -> Option<u32> {
        loop {
            let mut retry = false;
            for (i, stealer) in self.stealers.iter().enumerate() {
                if i == me {
                    continue;
                }
                match stealer.steal() {
                    Steal::Success(t) => return Some(t),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            match self.injector.steal() {
                Steal::Success(t) => return Some(t),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            if !retry {
                return None;
            }
        }
    }

    fn has_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    fn idle(&self, rounds: &mut u32) {
        *rounds += 1;
        if *rounds < 32 {
            std::hint::spin_loop();
        } else if *rounds < 40 {
            std::thread::yield_now();
        } else {
            self.sleep.park(|| self.has_work() || self.stop.load(Ordering::SeqCst));
            *rounds = 0;
        }
    }

    #[inline]
    fn slot(&self, t: TaskId) -> *mut Option<Value> {
        self.slots[t.index()].0.get()
    }

    fn execute(&self, id: TaskId, local: &Worker<u32>, recorder: &mut Option<TaskRecorder>) {
        let graph = self.graph;
        let mut args = Args::with_capacity(graph.arg_count(id));
        for arg in graph.args(id) {
            args.push(match arg {
                ArgView::Literal(v) => v.clone(),
                // SAFETY: the dependency finished (our pending count reached zero) and its
                // value stays until every reader, us included, released it below.
                ArgView::Task(d) => unsafe { (*self.slot(d)).clone() }.expect("dependencies run first"),
            });
        }
        for d in graph.dependencies(id) {
            if self.readers[d.index()].fetch_sub(1, Ordering::AcqRel) == 1 {
                // SAFETY: we are the last reader; all others released (acquire above).
                drop(unsafe { (*self.slot(d)).take() });
            }
        }
        let result = call_recorded(recorder.as_mut(), graph, id, args);
        let value = match result {
            Ok(v) => v,
            Err(e) => return self.fail(e),
        };
        if self.readers[id.index()].load(Ordering::Relaxed) > 0 {
            // SAFETY: only this task writes its slot, before releasing its dependents.
            unsafe { *self.slot(id) = Some(value) };
        }
        let mut made_work = false;
        for &c in self.dependents.row(id.index()).iter().rev() {
            if self.pending[c as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                local.push(c);
                made_work = true;
            }
        }
        if made_work {
            self.sleep.wake_one();
        }
        if self.is_final[id.index()] && self.finals_left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.stop.store(true, Ordering::SeqCst);
            self.sleep.wake_all();
        }
    }

    fn fail(&self, error: SchedulerError) {
        let mut first = self.error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(error);
        }
        drop(first);
        self.stop.store(true, Ordering::SeqCst);
        self.sleep.wake_all();
    }
}

/// Stops the run if its worker unwinds (a bug: task panics are caught), so the other
/// workers leave it and the panic reaches the caller instead of a hang.
struct StopOnUnwind<'r, 'g>(&'r Run<'g>);

impl Drop for StopOnUnwind<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop.store(true, Ordering::SeqCst);
            self.0.sleep.wake_all();
        }
    }
}

/// Parking for idle workers, with no lost wake-ups: a sleeper registers, re-checks for
/// work under the lock, then waits; a waker publishes work, then (after a full fence)
/// looks for registered sleepers and notifies under the same lock.
#[derive(Default)]
struct Sleep {
    lock: Mutex<()>,
    cond: Condvar,
    sleepers: AtomicUsize,
}

impl Sleep {
    fn park(&self, ready: impl Fn() -> bool) {
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        if !ready() {
            // The timeout only bounds the damage of a bug; wake-ups do not rely on it.
            let _ = self.cond.wait_timeout(guard, Duration::from_millis(50));
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    #[inline]
    fn wake_one(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.cond.notify_one();
        }
    }

    fn wake_all(&self) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.cond.notify_all();
    }
}

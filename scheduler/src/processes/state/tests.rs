//! The state machine driven through a fake cluster: workers in memory that decode the
//! ops, run tasks in priority order, fetch `Remote` inputs from each other and answer as
//! `rask-worker` does. No sockets, no processes.

use std::collections::HashMap;
use std::sync::Arc;

use rask_graph::{Arg, Group, Key, Op, OptimizeOptions, TaskGraph, TaskId, Token, Value, ops, optimize};

use super::*;
use crate::wire::{ToWorker, WireArg};
use crate::{Scheduler, SyncScheduler};

#[derive(Default)]
struct Recorder {
    sent: Vec<(usize, ToWorker)>,
    finished: usize,
    failed: Vec<Key>,
}

impl Comm for Recorder {
    fn send(&mut self, worker: usize, message: ToWorker) {
        self.sent.push((worker, message));
    }
    fn task_finished(&mut self, _: usize, _: Key, _: u64, _: u64) {
        self.finished += 1;
    }
    fn task_failed(&mut self, _: usize, key: Key, _: &str) {
        self.failed.push(key);
    }
}

struct Queued {
    key: Key,
    op: Result<Arc<dyn Op>, String>,
    args: Vec<WireArg>,
    priority: u64,
}

struct FakeWorker {
    address: Address,
    alive: bool,
    store: HashMap<Key, Value>,
    queue: Vec<Queued>,
    out: Vec<FromWorker>,
    released: Vec<Key>,
}

/// Workers in memory; see the module docs.
struct Cluster {
    workers: Vec<FakeWorker>,
    /// Tasks each worker runs per step (its parallelism).
    per_step: usize,
    computes: usize,
    tasks_sent: usize,
}

impl Cluster {
    fn new(n: usize) -> Cluster {
        let mut cluster = Cluster { workers: Vec::new(), per_step: 3, computes: 0, tasks_sent: 0 };
        for _ in 0..n {
            cluster.add();
        }
        cluster
    }

    fn specs(&self) -> Vec<WorkerSpec> {
        self.workers
            .iter()
            .map(|w| WorkerSpec { nthreads: 1, data_address: w.address.clone(), limit: u64::MAX })
            .collect()
    }

    fn deliver(&mut self, sent: Vec<(usize, ToWorker)>) {
        for (w, message) in sent {
            let worker = &mut self.workers[w];
            if !worker.alive {
                continue;
            }
            match message {
                ToWorker::Compute { ops, tasks } => {
                    self.computes += 1;
                    self.tasks_sent += tasks.len();
                    let ops: Vec<_> = ops.iter().map(|o| o.decode().map_err(|e| e.to_string())).collect();
                    for t in tasks {
                        let op = ops[t.op as usize].clone();
                        worker.queue.push(Queued { key: t.key, op, args: t.args, priority: t.priority });
                    }
                }
                ToWorker::Gather(keys) => {
                    let values = keys.into_iter().map(|k| (k, worker.store.get(&k).cloned().into())).collect();
                    worker.out.push(FromWorker::Values(values));
                }
                ToWorker::Release(keys) => {
                    for k in keys {
                        worker.store.remove(&k);
                        worker.released.push(k);
                    }
                }
                ToWorker::Shutdown => worker.alive = false,
            }
        }
    }

    /// Runs up to `per_step` runnable tasks on worker `w`; returns its messages.
    fn step(&mut self, w: usize) -> Vec<FromWorker> {
        if !self.workers[w].alive {
            return Vec::new();
        }
        let mut finished = Vec::new();
        for _ in 0..self.per_step {
            let me = &self.workers[w];
            let queued_keys: Vec<Key> = me.queue.iter().map(|q| q.key).collect();
            // Drop tasks whose Held input is neither held nor queued here: Missing.
            let mut order: Vec<usize> = (0..me.queue.len()).collect();
            order.sort_by_key(|&i| me.queue[i].priority);
            let mut pick = None;
            for i in order {
                let q = &me.queue[i];
                let mut ready = true;
                for a in &q.args {
                    if let WireArg::Held(k) = a
                        && !me.store.contains_key(k)
                    {
                        ready = false;
                        if !queued_keys.contains(k) {
                            pick = Some((i, Some((*k, me.address.clone()))));
                            break;
                        }
                    }
                }
                if pick.is_some() {
                    break;
                }
                if ready {
                    pick = Some((i, None));
                    break;
                }
            }
            let Some((i, missing)) = pick else { break };
            let q = self.workers[w].queue.remove(i);
            if let Some((key, from)) = missing {
                self.workers[w].out.push(FromWorker::Missing { task: q.key, key, from });
                continue;
            }
            let mut args = rask_graph::Args::new();
            let mut missing = None;
            for a in q.args {
                match a {
                    WireArg::Value(v) => args.push(v),
                    WireArg::Held(k) => args.push(self.workers[w].store[&k].clone()),
                    WireArg::Remote { key, from } => {
                        let holder = self.workers.iter().find(|x| x.address == from && x.alive);
                        match holder.and_then(|h| h.store.get(&key)) {
                            Some(v) => args.push(v.clone()),
                            None => {
                                missing = Some((key, from));
                                break;
                            }
                        }
                    }
                }
            }
            if let Some((key, from)) = missing {
                self.workers[w].out.push(FromWorker::Missing { task: q.key, key, from });
                continue;
            }
            let op = match q.op {
                Ok(op) => op,
                Err(e) => {
                    let failure = TaskFailure { key: q.key, op: "?".into(), message: e, panicked: false };
                    self.workers[w].out.push(FromWorker::Failed(failure));
                    continue;
                }
            };
            match op.call(args) {
                Ok(v) => {
                    finished.push(Finished { key: q.key, nbytes: v.nbytes() as u64, duration_us: 1 });
                    self.workers[w].store.insert(q.key, v);
                }
                Err(e) => {
                    let failure =
                        TaskFailure { key: q.key, op: op.name().to_string(), message: e.to_string(), panicked: false };
                    self.workers[w].out.push(FromWorker::Failed(failure));
                }
            }
        }
        let mut out = std::mem::take(&mut self.workers[w].out);
        if !finished.is_empty() {
            out.insert(0, FromWorker::Finished(finished));
        }
        out
    }

    /// A new worker; returns its spec, for [`Run::add_worker`].
    fn add(&mut self) -> WorkerSpec {
        let i = self.workers.len();
        self.workers.push(FakeWorker {
            address: Address::Unix(format!("/fake/worker-{i}").into()),
            alive: true,
            store: HashMap::new(),
            queue: Vec::new(),
            out: Vec::new(),
            released: Vec::new(),
        });
        WorkerSpec { nthreads: 1, data_address: self.workers[i].address.clone(), limit: u64::MAX }
    }

    fn kill(&mut self, w: usize) {
        let worker = &mut self.workers[w];
        worker.alive = false;
        worker.store.clear();
        worker.queue.clear();
        worker.out.clear();
    }
}

/// Drives `run` on `cluster` to the end; `hook(step, run, cluster)` may interfere
/// between steps.
fn drive(
    run: &mut Run<'_>,
    cluster: &mut Cluster,
    comm: &mut Recorder,
    mut hook: impl FnMut(usize, &mut Run<'_>, &mut Cluster) -> Result<(), SchedulerError>,
) -> Result<Vec<Value>, SchedulerError> {
    run.start(comm)?;
    for step in 0..1_000_000 {
        cluster.deliver(std::mem::take(&mut comm.sent));
        if run.is_done() {
            return Ok(run.results());
        }
        hook(step, run, cluster)?;
        let mut any = false;
        for w in 0..cluster.workers.len() {
            for m in cluster.step(w) {
                any = true;
                run.handle(w, m, comm)?;
            }
        }
        run.flush(comm)?;
        assert!(any || !comm.sent.is_empty() || run.is_done(), "the run is stuck at step {step}");
    }
    panic!("the run did not end");
}

fn tree(n: usize) -> (TaskGraph, Vec<TaskId>) {
    let (graph, root) = rask_graph::sample::inc_sum_tree(n, 8);
    optimize(graph, vec![root], OptimizeOptions::default())
}

fn expected(graph: &TaskGraph, outputs: &[TaskId]) -> Vec<Value> {
    SyncScheduler.execute(graph, outputs).unwrap()
}

fn run_on(
    cluster: &mut Cluster,
    graph: &TaskGraph,
    outputs: &[TaskId],
) -> (Result<Vec<Value>, SchedulerError>, Recorder) {
    let mut comm = Recorder::default();
    let mut run = Run::new(graph, outputs, cluster.specs()).unwrap();
    let result = drive(&mut run, cluster, &mut comm, |_, _, _| Ok(()));
    (result, comm)
}

#[test]
fn a_tree_on_two_workers_matches_sync_and_frees_everything() {
    let (graph, outputs) = tree(2000);
    let mut cluster = Cluster::new(2);
    let (result, comm) = run_on(&mut cluster, &graph, &outputs);
    assert_eq!(result.unwrap(), expected(&graph, &outputs));
    assert_eq!(comm.finished, graph.len(), "each task ran once");
    for w in &cluster.workers {
        assert!(w.store.is_empty(), "a worker still holds {} values", w.store.len());
        assert!(!w.released.is_empty(), "both workers got work");
    }
}

#[test]
fn tasks_travel_in_batches() {
    let (graph, outputs) = tree(2000);
    let mut cluster = Cluster::new(2);
    // Each step stands for the ~2 ms between a busy worker's finished notices.
    cluster.per_step = 200;
    let (result, _) = run_on(&mut cluster, &graph, &outputs);
    result.unwrap();
    assert_eq!(cluster.tasks_sent, graph.len());
    assert!(cluster.computes * 20 < graph.len(), "{} Compute messages for {} tasks", cluster.computes, graph.len());
}

#[test]
fn a_batch_carries_each_op_once() {
    let (graph, outputs) = tree(64);
    let mut comm = Recorder::default();
    let mut specs = Cluster::new(1).specs();
    specs[0].nthreads = 8;
    let mut run = Run::new(&graph, &outputs, specs).unwrap();
    run.start(&mut comm).unwrap();
    let (_, ToWorker::Compute { ops, tasks }) = &comm.sent[0] else { panic!("a Compute first") };
    assert_eq!(tasks.len(), 16, "2 × 8 threads before any task is measured");
    let names: Vec<String> = ops.iter().map(|o| o.decode().unwrap().name().to_string()).collect();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names, unique, "each op once per batch");
    assert!(ops.len() <= 2, "inc and sum only: {names:?}");
}

#[test]
fn a_chain_is_sent_in_one_batch_with_held_inputs() {
    let inc: Arc<dyn Op> = Arc::new(ops::Inc);
    let mut b = TaskGraph::builder();
    let mut last = b.add(Key::new(Group::new("inc"), Token(1), &[0]), &inc, [Arg::Value(Value::I64(0))]).unwrap();
    for i in 1..50 {
        last = b.add(Key::new(Group::new("inc"), Token(1), &[i]), &inc, [Arg::Task(last)]).unwrap();
    }
    let graph = b.build().unwrap();
    let mut comm = Recorder::default();
    let mut run = Run::new(&graph, &[last], Cluster::new(2).specs()).unwrap();
    run.start(&mut comm).unwrap();
    assert_eq!(comm.sent.len(), 1, "one message");
    let (_, ToWorker::Compute { tasks, .. }) = &comm.sent[0] else { panic!("a Compute") };
    assert_eq!(tasks.len(), 50, "the whole chain at once");
    assert!(tasks[1..].iter().all(|t| matches!(t.args[0], WireArg::Held(_))));
    let mut cluster = Cluster::new(2);
    let mut comm = Recorder::default();
    let mut run = Run::new(&graph, &[last], cluster.specs()).unwrap();
    assert_eq!(drive(&mut run, &mut cluster, &mut comm, |_, _, _| Ok(())).unwrap(), vec![Value::I64(50)]);
}

/// Four roots (two land on each worker: the first batch is 2 × 1 thread) and a task
/// reading root 0 (worker 0) and root 2 (worker 1), whose sizes we report.
fn placement(bytes_0: u64, bytes_2: u64) -> (usize, Vec<WireArg>) {
    let identity: Arc<dyn Op> = Arc::new(ops::Identity);
    let list: Arc<dyn Op> = Arc::new(ops::MakeList);
    let mut b = TaskGraph::builder();
    let roots: Vec<TaskId> = (0..4)
        .map(|i| {
            b.add(Key::new(Group::new("r"), Token(1), &[i]), &identity, [Arg::Value(Value::I64(i as i64))]).unwrap()
        })
        .collect();
    let both =
        b.add(Key::single(Group::new("both"), Token(2)), &list, [Arg::Task(roots[0]), Arg::Task(roots[2])]).unwrap();
    let graph = b.build().unwrap();
    let cluster = Cluster::new(2);
    let mut comm = Recorder::default();
    let mut run = Run::new(&graph, &[both], cluster.specs()).unwrap();
    run.start(&mut comm).unwrap();
    let mut on = HashMap::new();
    for (w, m) in comm.sent.drain(..) {
        if let ToWorker::Compute { tasks, .. } = m {
            for t in tasks {
                on.insert(t.key, w);
            }
        }
    }
    assert_eq!(on[&graph.key(roots[0])], 0);
    assert_eq!(on[&graph.key(roots[2])], 1);
    for (i, r) in roots.iter().enumerate() {
        let nbytes = match i {
            0 => bytes_0,
            2 => bytes_2,
            _ => 8,
        };
        let f = Finished { key: graph.key(*r), nbytes, duration_us: 1_000_000 };
        run.handle(on[&graph.key(*r)], FromWorker::Finished(vec![f]), &mut comm).unwrap();
    }
    run.flush(&mut comm).unwrap();
    for (w, m) in comm.sent {
        if let ToWorker::Compute { tasks, .. } = m
            && let Some(t) = tasks.into_iter().find(|t| t.key == graph.key(both))
        {
            return (w, t.args);
        }
    }
    panic!("the task reading both was not sent");
}

#[test]
fn a_task_goes_where_most_of_its_input_bytes_are() {
    let (w, args) = placement(1_000_000, 8);
    assert_eq!(w, 0);
    assert!(matches!(args[0], WireArg::Held(_)));
    assert!(matches!(&args[1], WireArg::Remote { from, .. } if *from == Address::Unix("/fake/worker-1".into())));
    let (w, args) = placement(8, 1_000_000);
    assert_eq!(w, 1);
    assert!(matches!(&args[0], WireArg::Remote { from, .. } if *from == Address::Unix("/fake/worker-0".into())));
    assert!(matches!(args[1], WireArg::Held(_)));
}

#[test]
fn values_are_released_once_their_readers_finished_and_outputs_once_gathered() {
    let inc: Arc<dyn Op> = Arc::new(ops::Inc);
    let mut b = TaskGraph::builder();
    let a = b.add(Key::single(Group::new("a"), Token(1)), &inc, [Arg::Value(Value::I64(1))]).unwrap();
    let m = b.add(Key::single(Group::new("m"), Token(2)), &inc, [Arg::Task(a)]).unwrap();
    let z = b.add(Key::single(Group::new("z"), Token(3)), &inc, [Arg::Task(m)]).unwrap();
    let graph = b.build().unwrap();
    let mut comm = Recorder::default();
    let mut run = Run::new(&graph, &[m, z], Cluster::new(1).specs()).unwrap();
    run.start(&mut comm).unwrap();
    comm.sent.clear();
    let fin = |k| FromWorker::Finished(vec![Finished { key: graph.key(k), nbytes: 8, duration_us: 1 }]);
    run.handle(0, fin(a), &mut comm).unwrap();
    run.flush(&mut comm).unwrap();
    assert!(comm.sent.is_empty(), "a is read by m, still running: {:?}", comm.sent);
    run.handle(0, fin(m), &mut comm).unwrap();
    run.flush(&mut comm).unwrap();
    let sent: Vec<_> = comm.sent.drain(..).collect();
    assert!(matches!(&sent[0], (0, ToWorker::Release(k)) if *k == vec![graph.key(a)]), "{sent:?}");
    assert!(matches!(&sent[1], (0, ToWorker::Gather(k)) if *k == vec![graph.key(m)]), "{sent:?}");
    run.handle(0, FromWorker::Values(vec![(graph.key(m), Lookup::Found(Value::I64(3)))]), &mut comm).unwrap();
    run.flush(&mut comm).unwrap();
    assert!(comm.sent.is_empty(), "m is gathered but z still reads it: {:?}", comm.sent);
    run.handle(0, fin(z), &mut comm).unwrap();
    run.handle(0, FromWorker::Values(vec![(graph.key(z), Lookup::Found(Value::I64(4)))]), &mut comm).unwrap();
    run.flush(&mut comm).unwrap();
    let released: Vec<Key> = comm
        .sent
        .iter()
        .flat_map(|(_, m)| match m {
            ToWorker::Release(k) => k.clone(),
            _ => vec![],
        })
        .collect();
    assert!(released.contains(&graph.key(m)) && released.contains(&graph.key(z)), "{released:?}");
    assert!(run.is_done());
    assert_eq!(run.results(), vec![Value::I64(3), Value::I64(4)]);
}

#[test]
fn a_failed_task_ends_the_run_with_its_key_op_and_message() {
    let add: Arc<dyn Op> = Arc::new(ops::Add);
    let inc: Arc<dyn Op> = Arc::new(ops::Inc);
    let mut b = TaskGraph::builder();
    let ok: Vec<TaskId> = (0..30)
        .map(|i| b.add(Key::new(Group::new("inc"), Token(1), &[i]), &inc, [Arg::Value(Value::I64(i as i64))]).unwrap())
        .collect();
    let bad = b
        .add(Key::single(Group::new("bad"), Token(2)), &add, [Arg::Value(Value::Str("x".into())), Arg::Task(ok[0])])
        .unwrap();
    let graph = b.build().unwrap();
    let mut cluster = Cluster::new(2);
    let (result, comm) = run_on(&mut cluster, &graph, &[bad, ok[29]]);
    match result.unwrap_err() {
        SchedulerError::TaskFailed { key, op, message } => {
            assert_eq!(key, graph.key(bad));
            assert_eq!(op, "add");
            assert!(message.contains("cannot add"), "{message}");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(comm.failed, vec![graph.key(bad)]);
}

#[test]
fn a_panicking_task_is_reported_as_a_panic() {
    let (graph, outputs) = tree(8);
    let mut comm = Recorder::default();
    let mut run = Run::new(&graph, &outputs, Cluster::new(1).specs()).unwrap();
    run.start(&mut comm).unwrap();
    let failure = TaskFailure { key: graph.key(TaskId(0)), op: "inc".into(), message: "boom".into(), panicked: true };
    let e = run.handle(0, FromWorker::Failed(failure), &mut comm).unwrap_err();
    assert!(matches!(&e, SchedulerError::TaskPanicked { op, message, .. } if op == "inc" && message == "boom"), "{e}");
}

#[test]
fn a_lost_worker_costs_only_time() {
    let (graph, outputs) = tree(3000);
    for kill_at in [0, 3, 20, 60, 150] {
        let mut cluster = Cluster::new(3);
        let mut comm = Recorder::default();
        let mut run = Run::new(&graph, &outputs, cluster.specs()).unwrap();
        let result = drive(&mut run, &mut cluster, &mut comm, |step, run, cluster| {
            if step == kill_at {
                cluster.kill(1);
                run.worker_lost(1, "killed")?;
            }
            Ok(())
        });
        assert_eq!(result.unwrap(), expected(&graph, &outputs), "killed at step {kill_at}");
        assert_eq!(run.workers_lost(), 1);
        if kill_at > 0 {
            assert!(comm.finished > graph.len(), "values the dead worker held were recomputed (kill at {kill_at})");
        }
        for (i, w) in cluster.workers.iter().enumerate().filter(|(_, w)| w.alive) {
            assert!(w.store.is_empty(), "worker {i} still holds {} values", w.store.len());
        }
    }
}

#[test]
fn a_worker_lost_after_its_output_finished_recomputes_the_output() {
    let (graph, outputs) = tree(64);
    let mut comm = Recorder::default();
    let mut run = Run::new(&graph, &outputs, Cluster::new(2).specs()).unwrap();
    run.start(&mut comm).unwrap();
    let mut cluster = Cluster::new(2);
    // Run to the end but never answer the gather: lose the holder instead.
    let mut holder = None;
    for _ in 0..10_000 {
        for (w, m) in std::mem::take(&mut comm.sent) {
            if let ToWorker::Gather(_) = m {
                holder = Some(w);
            } else {
                cluster.deliver(vec![(w, m)]);
            }
        }
        if holder.is_some() {
            break;
        }
        for w in 0..2 {
            for m in cluster.step(w) {
                run.handle(w, m, &mut comm).unwrap();
            }
        }
        run.flush(&mut comm).unwrap();
    }
    let holder = holder.expect("the output finished");
    cluster.kill(holder);
    run.worker_lost(holder, "killed").unwrap();
    run.flush(&mut comm).unwrap();
    let result = drive(&mut run, &mut cluster, &mut comm, |_, _, _| Ok(()));
    assert_eq!(result.unwrap(), expected(&graph, &outputs));
}

#[test]
fn missing_values_are_recomputed() {
    let (graph, outputs) = tree(1500);
    for wipe_at in [2, 10, 40] {
        let mut cluster = Cluster::new(2);
        let mut comm = Recorder::default();
        let mut run = Run::new(&graph, &outputs, cluster.specs()).unwrap();
        // Worker 0 silently forgets everything it holds: its peers' fetches and its own
        // Held inputs come back Missing, and the values are recomputed.
        let result = drive(&mut run, &mut cluster, &mut comm, |step, _, cluster| {
            if step == wipe_at {
                cluster.workers[0].store.clear();
            }
            Ok(())
        });
        assert_eq!(result.unwrap(), expected(&graph, &outputs), "wiped at step {wipe_at}");
        assert_eq!(run.workers_lost(), 0);
    }
}

#[test]
fn losing_every_worker_is_an_error_saying_so() {
    let (graph, outputs) = tree(100);
    let mut comm = Recorder::default();
    let mut run = Run::new(&graph, &outputs, Cluster::new(2).specs()).unwrap();
    run.start(&mut comm).unwrap();
    run.worker_lost(0, "killed").unwrap();
    let e = run.worker_lost(1, "worker procs-1 (pid 7): connection closed").unwrap_err();
    assert!(matches!(e, SchedulerError::NoWorkersLeft { workers: 2, .. }));
    let text = e.to_string();
    assert!(text.contains("no worker is left") && text.contains("pid 7"), "{text}");
    assert!(Run::new(&graph, &outputs, Vec::new()).unwrap().start(&mut comm).is_err());
}

#[test]
fn a_replacement_joins_mid_run_and_gets_work() {
    let (graph, outputs) = tree(3000);
    let mut cluster = Cluster::new(2);
    let mut comm = Recorder::default();
    let mut run = Run::new(&graph, &outputs, cluster.specs()).unwrap();
    let result = drive(&mut run, &mut cluster, &mut comm, |step, run, cluster| {
        if step == 10 {
            cluster.kill(1);
            run.expect_worker();
            run.worker_lost(1, "killed")?;
        }
        if step == 14 {
            assert_eq!(run.add_worker(cluster.add()), 2, "the run numbers workers as the cluster does");
        }
        Ok(())
    });
    assert_eq!(result.unwrap(), expected(&graph, &outputs));
    assert!(!cluster.workers[2].released.is_empty(), "the replacement ran tasks (and freed their values)");
    assert!(cluster.workers[2].store.is_empty() && cluster.workers[0].store.is_empty());
}

#[test]
fn losing_every_worker_while_a_replacement_starts_waits_for_it() {
    let (graph, outputs) = tree(500);
    let mut cluster = Cluster::new(1);
    let mut comm = Recorder::default();
    let mut run = Run::new(&graph, &outputs, cluster.specs()).unwrap();
    let result = drive(&mut run, &mut cluster, &mut comm, |step, run, cluster| {
        if step == 5 {
            cluster.kill(0);
            run.expect_worker();
            run.worker_lost(0, "killed")?;
            // With nobody alive, recovering requeues everything and sends nothing.
            let mut idle = Recorder::default();
            run.flush(&mut idle)?;
            assert!(idle.sent.is_empty());
            run.add_worker(cluster.add());
        }
        Ok(())
    });
    assert_eq!(result.unwrap(), expected(&graph, &outputs));
    assert_eq!(run.workers_lost(), 1);

    // A replacement that never comes, with nobody left: the run ends saying so.
    let mut run = Run::new(&graph, &outputs, Cluster::new(1).specs()).unwrap();
    run.start(&mut comm).unwrap();
    run.expect_worker();
    run.worker_lost(0, "killed").unwrap();
    let e = run.worker_not_coming("worker exited (status 1) before connecting").unwrap_err();
    assert!(e.to_string().contains("before connecting"), "{e}");
}

#[test]
fn a_task_running_on_four_workers_that_died_is_not_tried_again() {
    // `crash` (an inc) is the only root with 1-thread workers; a slow sibling chain keeps
    // other tasks queued behind it on the same worker, which are not suspected.
    let inc: Arc<dyn Op> = Arc::new(ops::Inc);
    let mut b = TaskGraph::builder();
    let crash = b.add(Key::single(Group::new("crash"), Token(1)), &inc, [Arg::Value(Value::I64(0))]).unwrap();
    let after = b.add(Key::single(Group::new("after"), Token(2)), &inc, [Arg::Task(crash)]).unwrap();
    let graph = b.build().unwrap();
    let mut comm = Recorder::default();
    let mut cluster = Cluster::new(1);
    let mut run = Run::new(&graph, &[after], cluster.specs()).unwrap();
    run.start(&mut comm).unwrap();
    let mut w = 0;
    for death in 1..=4 {
        let sent: Vec<_> = std::mem::take(&mut comm.sent);
        let tasks: Vec<Key> = sent
            .iter()
            .filter(|(to, _)| *to == w)
            .flat_map(|(_, m)| match m {
                ToWorker::Compute { tasks, .. } => tasks.iter().map(|t| t.key).collect(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(tasks, vec![graph.key(crash), graph.key(after)], "attempt {death}: the chain is sent whole");
        cluster.kill(w);
        run.expect_worker();
        let result = run.worker_lost(w, &format!("worker {w} died (signal 9)"));
        if death <= ALLOWED_FAILURES {
            result.unwrap();
            w = run.add_worker(cluster.add());
            run.flush(&mut comm).unwrap();
        } else {
            let e = result.unwrap_err();
            assert!(
                matches!(&e, SchedulerError::KilledWorker { key, deaths: 4, .. } if *key == graph.key(crash)),
                "{e:?}"
            );
            let text = e.to_string();
            assert!(text.contains("crash") && text.contains("4 workers") && text.contains("signal 9"), "{text}");
        }
    }
}

#[test]
fn messages_from_a_lost_worker_are_ignored() {
    let (graph, outputs) = tree(16);
    let mut comm = Recorder::default();
    let mut run = Run::new(&graph, &outputs, Cluster::new(2).specs()).unwrap();
    run.start(&mut comm).unwrap();
    run.worker_lost(0, "killed").unwrap();
    let f = Finished { key: graph.key(TaskId(0)), nbytes: 8, duration_us: 1 };
    run.handle(0, FromWorker::Finished(vec![f]), &mut comm).unwrap();
    assert_eq!(comm.finished, 0);
}

#[test]
fn an_empty_graph_is_done_at_once_and_bad_outputs_are_errors() {
    let graph = TaskGraph::builder().build().unwrap();
    assert!(Run::new(&graph, &[], Vec::new()).unwrap().is_done());
    assert!(Run::new(&graph, &[TaskId(3)], Vec::new()).is_err());
}

/// `n` identity tasks, each holding a literal of `bytes` bytes.
fn literal_roots(n: usize, bytes: usize) -> (TaskGraph, Vec<TaskId>) {
    let identity: Arc<dyn Op> = Arc::new(ops::Identity);
    let mut b = TaskGraph::builder();
    let ids: Vec<TaskId> = (0..n)
        .map(|i| {
            let key = Key::new(Group::new("literal"), Token(5), &[i as u32]);
            b.add(key, &identity, [Arg::Value(Value::Bytes(vec![i as u8; bytes].into()))]).unwrap()
        })
        .collect();
    (b.build().unwrap(), ids)
}

#[test]
fn large_literals_travel_in_several_compute_messages() {
    // Six 30 MB literals for one worker: at most 64 MB of literals per message.
    let (graph, outputs) = literal_roots(6, 30 << 20);
    let mut cluster = Cluster::new(1);
    let mut comm = Recorder::default();
    let mut run = Run::new(&graph, &outputs, cluster.specs()).unwrap();
    run.mean_us = Some(1.0); // Measured: the whole backlog may go at once.
    run.start(&mut comm).unwrap();
    let batches: Vec<usize> = comm
        .sent
        .iter()
        .filter_map(|(_, m)| match m {
            ToWorker::Compute { tasks, .. } => Some(tasks.len()),
            _ => None,
        })
        .collect();
    assert_eq!(batches, vec![2, 2, 2], "two 30 MB literals per message");
    let result = drive(&mut run, &mut cluster, &mut comm, |_, _, _| Ok(())).unwrap();
    assert_eq!(result, expected(&graph, &outputs));
}

#[test]
fn a_literal_over_the_workers_limit_is_an_error_naming_its_task() {
    let (graph, outputs) = literal_roots(2, 5000);
    let mut specs = Cluster::new(1).specs();
    specs[0].limit = 4000;
    let mut run = Run::new(&graph, &outputs, specs).unwrap();
    let e = run.start(&mut Recorder::default()).unwrap_err();
    match e {
        SchedulerError::Transfer { key, reason } => {
            assert_eq!(key, graph.key(outputs[0]));
            assert!(reason.contains("5000 bytes") && reason.contains("4000 bytes"), "{reason}");
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn an_output_the_worker_cannot_send_ends_the_run_naming_it() {
    let (graph, outputs) = literal_roots(1, 10);
    let mut cluster = Cluster::new(1);
    let mut comm = Recorder::default();
    let mut run = Run::new(&graph, &outputs, cluster.specs()).unwrap();
    run.start(&mut comm).unwrap();
    cluster.deliver(std::mem::take(&mut comm.sent));
    for m in cluster.step(0) {
        run.handle(0, m, &mut comm).unwrap();
    }
    run.flush(&mut comm).unwrap();
    assert!(comm.sent.iter().any(|(_, m)| matches!(m, ToWorker::Gather(_))));
    let key = graph.key(outputs[0]);
    let refused = FromWorker::Values(vec![(key, Lookup::Refused("its message of 99 bytes exceeds".into()))]);
    match run.handle(0, refused, &mut comm).unwrap_err() {
        SchedulerError::Transfer { key: k, reason } => {
            assert_eq!(k, key);
            assert!(reason.contains("99 bytes"), "{reason}");
        }
        other => panic!("unexpected {other}"),
    }
}

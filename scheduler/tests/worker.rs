//! The worker against a fake scheduler written with the wire API: workers run in threads
//! of this test ([`run_worker`]); the test accepts their handshake, sends `ToWorker`
//! messages and reads `FromWorker` back.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rask_graph::{Args, ArrayChunk, Group, Key, Op, OpError, Token, Value, ops};
use rask_scheduler::wire::{
    Address, Connection, EncodedOp, Finished, FromWorker, Heartbeat, Hello, Listener, Lookup, MAX_FRAME_BYTES,
    PeerReply, PeerRequest, Role, TaskFailure, TaskMsg, ToWorker, Welcome, WireArg, WorkerInfo, accept_handshake,
    connect_handshake, read_message, write_message,
};
use rask_scheduler::worker::{Ended, WorkerConfig, WorkerError, run_worker};
use serde::{Deserialize, Serialize};

const TOKEN: &str = "worker-test-token";

/// An op that panics, registered only in this test binary.
#[derive(Debug, Serialize, Deserialize)]
struct Explode;

#[typetag::serde(name = "rask.test.explode")]
impl Op for Explode {
    fn name(&self) -> &str {
        "explode"
    }
    fn call(&self, _: Args) -> Result<Value, OpError> {
        panic!("boom from explode")
    }
}

/// A registered op whose value cannot leave its process.
#[derive(Debug, Serialize, Deserialize)]
struct MakeOpaque;

#[typetag::serde(name = "rask.test.make_opaque")]
impl Op for MakeOpaque {
    fn name(&self) -> &str {
        "make_opaque"
    }
    fn call(&self, _: Args) -> Result<Value, OpError> {
        Ok(Value::opaque(std::sync::Mutex::new(7u8)))
    }
}

fn key(group: &str, i: u32) -> Key {
    Key::new(Group::new(group), Token(77), &[i])
}

/// The local dir of the test `name` (not created: the worker makes it).
fn local_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("rask-worker-test-{}-{name}", std::process::id()))
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = local_dir(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A worker in a thread and the scheduler's end of its connection.
struct Session {
    conn: Connection,
    info: WorkerInfo,
    worker: Option<JoinHandle<Result<Ended, WorkerError>>>,
    local_dir: PathBuf,
    /// Messages read while waiting for something else.
    heartbeats: Vec<(u64, u64)>,
}

fn start(name: &str, unix: bool, memory_limit: Option<u64>) -> Session {
    start_with(name, unix, |config| config.memory_limit = memory_limit)
}

/// [`start`], with `configure` given the last word on the worker's configuration.
fn start_with(name: &str, unix: bool, configure: impl FnOnce(&mut WorkerConfig)) -> Session {
    let local_dir = scratch_dir(name);
    let address: Address = if unix {
        std::fs::create_dir_all(&local_dir).unwrap();
        Address::Unix(local_dir.join("scheduler.sock"))
    } else {
        "tcp://127.0.0.1:0".parse().unwrap()
    };
    let listener = Listener::bind(&address).unwrap();
    let mut config = WorkerConfig::new(listener.address().clone(), TOKEN);
    config.nthreads = 2;
    config.local_dir = local_dir.clone();
    config.name = name.to_string();
    configure(&mut config);
    let worker = std::thread::spawn(move || run_worker(config));
    let mut conn = listener.accept().unwrap();
    let hello = accept_handshake(&mut conn, TOKEN, Welcome::new(1)).unwrap();
    let Role::Worker(info) = hello.role else { panic!("not a worker: {:?}", hello.role) };
    conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    Session { conn, info, worker: Some(worker), local_dir, heartbeats: Vec::new() }
}

impl Session {
    fn send(&mut self, message: &ToWorker) {
        write_message(&mut self.conn, message).unwrap();
    }

    /// The next message that is not a heartbeat.
    fn recv(&mut self) -> FromWorker {
        loop {
            match read_message(&mut self.conn, MAX_FRAME_BYTES).unwrap() {
                FromWorker::Heartbeat(beat) => self.heartbeats.push((beat.memory, beat.spilled)),
                other => return other,
            }
        }
    }

    fn compute(&mut self, ops: &[&dyn Op], tasks: Vec<TaskMsg>) {
        let ops = ops.iter().map(|op| EncodedOp::encode(*op).unwrap()).collect();
        self.send(&ToWorker::Compute { ops, tasks });
    }

    /// Reads until every key in `keys` finished; returns the other messages seen.
    fn finish(&mut self, keys: &[Key]) -> (Vec<Finished>, Vec<FromWorker>) {
        let mut done = Vec::new();
        let mut other = Vec::new();
        while !keys.iter().all(|k| done.iter().any(|f: &Finished| f.key == *k)) {
            match self.recv() {
                FromWorker::Finished(batch) => done.extend(batch),
                message => other.push(message),
            }
        }
        (done, other)
    }

    /// The answers to a gather of `keys`, in order (they may come in several messages).
    fn gather_answers(&mut self, keys: &[Key]) -> Vec<Lookup> {
        self.send(&ToWorker::Gather(keys.to_vec()));
        let mut answers = std::collections::HashMap::new();
        while answers.len() < keys.len() {
            match self.recv() {
                FromWorker::Values(values) => {
                    for (k, v) in values {
                        assert!(keys.contains(&k) && answers.insert(k, v).is_none(), "{k} answered once");
                    }
                }
                other => panic!("expected values, got {other:?}"),
            }
        }
        keys.iter().map(|k| answers.remove(k).unwrap()).collect()
    }

    fn gather(&mut self, keys: &[Key]) -> Vec<Option<Value>> {
        self.gather_answers(keys).into_iter().map(found).collect()
    }

    /// Closes the connection and waits for the worker to return.
    fn close(mut self) -> (Duration, Result<Ended, WorkerError>) {
        self.conn.shutdown();
        self.join()
    }

    fn join(&mut self) -> (Duration, Result<Ended, WorkerError>) {
        let start = Instant::now();
        let worker = self.worker.take().unwrap();
        while !worker.is_finished() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(worker.is_finished(), "the worker did not exit");
        let elapsed = start.elapsed();
        let result = worker.join().unwrap();
        // The worker removed its own directory; only the test's parent is left.
        let _ = std::fs::remove_dir_all(&self.local_dir);
        (elapsed, result)
    }
}

fn task(key: Key, op: u32, args: Vec<WireArg>, priority: u64) -> TaskMsg {
    TaskMsg { key, op, args, priority: priority.into() }
}

fn block(values: Vec<f64>) -> Value {
    Value::Array(ArrayChunk::F64(Arc::new(ndarray::Array1::from(values).into_dyn())))
}

fn files_named(dir: &Path, suffix: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() { files_named(&path, suffix) } else { path.to_string_lossy().ends_with(suffix) as usize }
        })
        .sum()
}

#[test]
fn chained_tasks_wait_for_held_inputs_within_and_across_batches() {
    let mut s = start("chain", false, None);
    assert_eq!(s.info.nthreads, 2);
    assert!(matches!(s.info.data_address, Address::Tcp(_)));
    // inc chain of 40, the first batch listed backwards so each task arrives before its input.
    let k = |i| key("inc-chain", i);
    let mut first: Vec<TaskMsg> = (1..20).map(|i| task(k(i), 0, vec![WireArg::Held(k(i - 1))], i as u64)).collect();
    first.push(task(k(0), 0, vec![WireArg::Value(Value::I64(100))], 0));
    first.reverse();
    first.rotate_left(7);
    s.compute(&[&ops::Inc], first);
    let second = (20..40).map(|i| task(k(i), 0, vec![WireArg::Held(k(i - 1))], i as u64)).collect();
    s.compute(&[&ops::Inc], second);
    // And a sum over a fan-in of them, held inputs only.
    s.compute(&[&ops::Sum], vec![task(key("sum", 0), 0, (0..40).map(|i| WireArg::Held(k(i))).collect(), 99)]);
    let (finished, other) = s.finish(&(0..40).map(k).chain([key("sum", 0)]).collect::<Vec<_>>());
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(finished.len(), 41);
    assert!(finished.iter().all(|f| f.nbytes == 8));
    let values = s.gather(&[k(0), k(39), key("sum", 0), key("never", 0)]);
    let sum: i64 = (101..141).sum();
    assert_eq!(values, vec![Some(Value::I64(101)), Some(Value::I64(140)), Some(Value::I64(sum)), None]);
    let (elapsed, result) = s.close();
    result.unwrap();
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}

#[test]
fn finished_notices_are_batched() {
    let mut s = start("batched", false, None);
    let n = 2000;
    let tasks = (0..n).map(|i| task(key("many", i), 0, vec![WireArg::Value(Value::I64(i as i64))], i as u64)).collect();
    s.compute(&[&ops::Inc], tasks);
    let mut frames = 0;
    let mut seen = 0;
    while seen < n as usize {
        match s.recv() {
            FromWorker::Finished(batch) => {
                frames += 1;
                seen += batch.len();
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(frames < n as usize / 4, "{frames} frames for {n} tasks");
    s.close().1.unwrap();
}

#[test]
fn a_value_that_cannot_leave_the_worker_fails_its_task_instead_of_hanging_a_gather() {
    let mut s = start("opaque", false, None);
    s.compute(&[&MakeOpaque], vec![task(key("opaque", 0), 0, vec![], 0)]);
    match s.recv() {
        FromWorker::Failed(f) => {
            assert_eq!((f.key, f.op.as_str(), f.panicked), (key("opaque", 0), "make_opaque", false));
            assert!(f.message.contains("cannot leave its process"), "{}", f.message);
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(s.gather(&[key("opaque", 0)]), vec![None]);
    s.close().1.unwrap();
}

#[test]
fn failing_and_panicking_tasks_are_reported_and_the_worker_goes_on() {
    let mut s = start("failures", false, None);
    s.compute(
        &[&ops::Inc, &Explode],
        vec![
            task(key("bad-inc", 0), 0, vec![WireArg::Value(Value::Str("text".into()))], 0),
            task(key("explode", 0), 1, vec![], 1),
            // Waits for the failing task: dropped silently with it.
            task(key("after-bad", 0), 0, vec![WireArg::Held(key("bad-inc", 0))], 2),
        ],
    );
    let mut failures: Vec<TaskFailure> = (0..2)
        .map(|_| match s.recv() {
            FromWorker::Failed(f) => f,
            other => panic!("expected a failure, got {other:?}"),
        })
        .collect();
    failures.sort_by_key(|f| f.op.clone());
    assert_eq!(failures[0].key, key("explode", 0));
    assert_eq!(failures[0].op, "explode");
    assert!(failures[0].panicked);
    assert!(failures[0].message.contains("boom from explode"));
    assert_eq!(failures[1].key, key("bad-inc", 0));
    assert_eq!(failures[1].op, "inc");
    assert!(!failures[1].panicked);
    assert!(failures[1].message.contains("cannot add str"), "{}", failures[1].message);
    // Still working.
    s.compute(&[&ops::Inc], vec![task(key("good", 0), 0, vec![WireArg::Value(Value::I64(1))], 0)]);
    let (_, other) = s.finish(&[key("good", 0)]);
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(s.gather(&[key("good", 0), key("after-bad", 0)]), vec![Some(Value::I64(2)), None]);
    s.close().1.unwrap();
}

#[test]
fn an_unknown_op_fails_only_its_tasks_and_names_the_op() {
    let mut s = start("unknown-op", false, None);
    let mut bytes = EncodedOp::encode(&ops::Inc).unwrap().0;
    let at = bytes.windows(8).position(|w| w == b"rask.inc").unwrap();
    bytes[at..at + 8].copy_from_slice(b"mine.inc");
    s.send(&ToWorker::Compute {
        ops: vec![EncodedOp(bytes), EncodedOp::encode(&ops::Inc).unwrap(), EncodedOp(vec![0xff, 0x00])],
        tasks: vec![
            task(key("unknown", 0), 0, vec![WireArg::Value(Value::I64(1))], 0),
            task(key("known", 0), 1, vec![WireArg::Value(Value::I64(1))], 0),
            task(key("garbage", 0), 2, vec![], 0),
            task(key("out-of-range", 0), 9, vec![], 0),
        ],
    });
    let mut failures = Vec::new();
    let (_, other) = s.finish(&[key("known", 0)]);
    failures.extend(other);
    while failures.len() < 3 {
        failures.push(s.recv());
    }
    let failure = |k: Key| {
        failures
            .iter()
            .find_map(|m| match m {
                FromWorker::Failed(f) if f.key == k => Some(f.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no failure for {k} in {failures:?}"))
    };
    let unknown = failure(key("unknown", 0));
    assert_eq!(unknown.op, "mine.inc");
    assert!(unknown.message.contains("'mine.inc' is not registered"), "{}", unknown.message);
    assert!(unknown.message.contains("rask::worker::main()"), "{}", unknown.message);
    assert!(failure(key("garbage", 0)).message.contains("cannot decode"));
    assert!(failure(key("out-of-range", 0)).message.contains("out of range"));
    assert_eq!(s.gather(&[key("known", 0)]), vec![Some(Value::I64(2))]);
    s.close().1.unwrap();
}

#[test]
fn released_values_are_gone_and_missing_held_inputs_are_reported() {
    let mut s = start("release", false, None);
    s.compute(
        &[&ops::Inc],
        (0..3).map(|i| task(key("r", i), 0, vec![WireArg::Value(Value::I64(i as i64))], 0)).collect(),
    );
    s.finish(&[key("r", 0), key("r", 1), key("r", 2)]);
    s.send(&ToWorker::Release(vec![key("r", 0), key("r", 2)]));
    assert_eq!(s.gather(&[key("r", 0), key("r", 1), key("r", 2)]), vec![None, Some(Value::I64(2)), None]);
    // A held input neither held nor queued: Missing from the worker's own address.
    s.compute(&[&ops::Inc], vec![task(key("needs-r0", 0), 0, vec![WireArg::Held(key("r", 0))], 0)]);
    match s.recv() {
        FromWorker::Missing { task, key: k, from } => {
            assert_eq!((task, k), (key("needs-r0", 0), key("r", 0)));
            assert_eq!(from, s.info.data_address);
        }
        other => panic!("expected missing, got {other:?}"),
    }
    s.close().1.unwrap();
}

#[test]
fn beyond_the_memory_limit_values_spill_and_come_back_exactly() {
    let limit = 64 * 1024;
    let mut s = start("spill", true, Some(limit));
    let local_dir = local_dir("spill");
    assert_eq!(s.info.memory_limit, Some(limit));
    // 16 blocks of 100 KB each: 1.6 MB against a 64 KiB limit.
    let blocks: Vec<Value> =
        (0..16).map(|b| block((0..12_500).map(|i| (b * 100_000 + i) as f64 * 0.5).collect())).collect();
    let keys: Vec<Key> = (0..16).map(|i| key("spill-block", i)).collect();
    let tasks = keys.iter().zip(&blocks).map(|(k, v)| task(*k, 0, vec![WireArg::Value(v.clone())], 0)).collect();
    s.compute(&[&ops::Identity], tasks);
    let (finished, _) = s.finish(&keys);
    assert!(finished.iter().all(|f| f.nbytes == 100_000));
    let spill_files = files_named(&local_dir, ".spill");
    assert!(spill_files >= 14, "{spill_files} spill files");
    // A heartbeat within about a second reports the spilled bytes.
    let deadline = Instant::now() + Duration::from_secs(3);
    while s.heartbeats.iter().all(|(_, spilled)| *spilled == 0) && Instant::now() < deadline {
        s.send(&ToWorker::Release(vec![]));
        s.conn.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        if let Ok(FromWorker::Heartbeat(Heartbeat { memory, spilled, .. })) = read_message(&mut s.conn, MAX_FRAME_BYTES)
        {
            s.heartbeats.push((memory, spilled));
        }
    }
    s.conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let (memory, spilled) =
        *s.heartbeats.iter().find(|(_, spilled)| *spilled > 0).expect("a heartbeat with spilled bytes");
    assert!(memory <= limit, "{memory} bytes in memory");
    assert!(spilled >= 1_400_000, "{spilled} bytes spilled");
    // A task reading spilled inputs, and a gather of all of them.
    s.compute(&[&ops::MakeList], vec![task(key("all", 0), 0, keys.iter().map(|k| WireArg::Held(*k)).collect(), 0)]);
    s.finish(&[key("all", 0)]);
    let gathered = s.gather(&keys);
    assert_eq!(gathered, blocks.iter().cloned().map(Some).collect::<Vec<_>>());
    assert_eq!(s.gather(&[key("all", 0)]), vec![Some(Value::List(blocks.clone().into()))]);
    // Released spilled values leave no file behind; the worker's dir goes at exit.
    s.send(&ToWorker::Release(keys.clone()));
    s.send(&ToWorker::Release(vec![key("all", 0)]));
    assert_eq!(s.gather(&keys[..1]), vec![None]);
    assert_eq!(files_named(&local_dir, ".spill"), 0);
    s.conn.shutdown();
    let worker = s.worker.take().unwrap();
    worker.join().unwrap().unwrap();
    let left: Vec<_> = std::fs::read_dir(&local_dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.iter().all(|name| !name.to_string_lossy().starts_with("rask-worker-")), "{left:?}");
    let _ = std::fs::remove_dir_all(&local_dir);
}

#[test]
fn a_remote_input_is_fetched_from_the_peer_and_a_gone_peer_makes_it_missing() {
    for unix in [false, true] {
        let mut a = start(&format!("peer-a-{unix}"), unix, None);
        let mut b = start(&format!("peer-b-{unix}"), unix, None);
        a.compute(&[&ops::Identity], vec![task(key("on-a", 0), 0, vec![WireArg::Value(block(vec![1.0, 2.0]))], 0)]);
        a.compute(&[&ops::Identity], vec![task(key("on-a", 1), 0, vec![WireArg::Value(Value::I64(41))], 0)]);
        a.finish(&[key("on-a", 0), key("on-a", 1)]);
        let from = a.info.data_address.clone();
        let remote = |i| WireArg::Remote { key: key("on-a", i), from: from.clone() };
        b.compute(
            &[&ops::Inc, &ops::MakeList],
            vec![
                task(key("on-b", 0), 0, vec![remote(1)], 0),
                task(key("on-b", 1), 1, vec![remote(0), remote(1), WireArg::Held(key("on-b", 0))], 1),
            ],
        );
        let (_, other) = b.finish(&[key("on-b", 0), key("on-b", 1)]);
        assert!(other.is_empty(), "{other:?}");
        assert_eq!(
            b.gather(&[key("on-b", 1)]),
            vec![Some(Value::List(vec![block(vec![1.0, 2.0]), Value::I64(41), Value::I64(42)].into()))]
        );
        // Fetched copies are not held by B.
        assert_eq!(b.gather(&[key("on-a", 1)]), vec![None]);
        // A key A does not hold: missing from A.
        b.compute(&[&ops::Inc], vec![task(key("on-b", 2), 0, vec![remote(7)], 0)]);
        match b.recv() {
            FromWorker::Missing { task, key: k, from: f } => {
                assert_eq!((task, k, &f), (key("on-b", 2), key("on-a", 7), &from));
            }
            other => panic!("expected missing, got {other:?}"),
        }
        // A gone: missing from A, and the task waiting for the dropped one too.
        a.close().1.unwrap();
        b.compute(
            &[&ops::Inc],
            vec![
                task(key("on-b", 3), 0, vec![remote(1)], 0),
                task(key("on-b", 4), 0, vec![WireArg::Held(key("on-b", 3))], 0),
            ],
        );
        let mut missing = vec![b.recv(), b.recv()];
        missing.sort_by_key(|m| format!("{m:?}"));
        let me = b.info.data_address.clone();
        let expected = [(key("on-b", 3), key("on-a", 1), from.clone()), (key("on-b", 4), key("on-b", 3), me)];
        for message in missing {
            let FromWorker::Missing { task, key, from } = message else { panic!("expected missing, got {message:?}") };
            assert!(expected.contains(&(task, key, from.clone())), "{task} {key} {from}");
        }
        // B still computes.
        b.compute(&[&ops::Inc], vec![task(key("on-b", 5), 0, vec![WireArg::Value(Value::I64(0))], 0)]);
        b.finish(&[key("on-b", 5)]);
        b.close().1.unwrap();
    }
}

#[test]
fn a_remote_input_over_the_fetchers_transfer_limit_fails_its_task_naming_the_input() {
    let mut a = start("limit-a", false, None);
    // B takes messages of at most 100 kB, and so gathers of small values still work.
    let mut b = start_with("limit-b", false, |c| c.transfer_limit = 100_000);
    a.compute(&[&ops::Identity], vec![task(key("big", 0), 0, vec![WireArg::Value(block(vec![0.5; 50_000]))], 0)]);
    a.finish(&[key("big", 0)]);
    let from = a.info.data_address.clone();
    b.compute(
        &[&ops::MakeList, &ops::Inc],
        vec![
            task(key("needs-big", 0), 0, vec![WireArg::Remote { key: key("big", 0), from: from.clone() }], 0),
            task(key("after", 0), 1, vec![WireArg::Held(key("needs-big", 0))], 1),
            task(key("free", 0), 1, vec![WireArg::Value(Value::I64(1))], 2),
        ],
    );
    // The independent task finishes; the one needing the big value fails (once, not in a
    // loop of fetches), and the one after it is dropped with it.
    let (done, mut other) = b.finish(&[key("free", 0)]);
    assert_eq!(done.iter().map(|f| f.key).collect::<Vec<_>>(), vec![key("free", 0)]);
    if other.is_empty() {
        other.push(b.recv());
    }
    let [FromWorker::Failed(failure)] = &other[..] else { panic!("one failure expected, got {other:?}") };
    assert_eq!((failure.key, failure.op.as_str()), (key("needs-big", 0), "list"));
    assert!(failure.message.contains(&key("big", 0).to_string()), "{}", failure.message);
    assert!(failure.message.contains("100000"), "the limit is named: {}", failure.message);
    assert_eq!(b.gather(&[key("needs-big", 0), key("after", 0)]), vec![None, None]);
    // A still serves the value to whoever takes it.
    assert!(matches!(&a.gather_answers(&[key("big", 0)])[..], [Lookup::Found(_)]));
    b.close().1.unwrap();
    a.close().1.unwrap();
}

#[test]
fn a_large_remote_input_from_a_worker_on_this_host_arrives_whole() {
    // Over 1 MB between workers on one host: copied from the holder's memory (a mapped
    // answer), over Unix sockets and TCP loopback alike.
    for unix in [true, false] {
        let mut a = start(&format!("mapped-a-{unix}"), unix, None);
        let mut b = start(&format!("mapped-b-{unix}"), unix, None);
        let values: Vec<f64> = (0..600_000).map(|i| i as f64 * 0.25).collect();
        a.compute(&[&ops::Identity], vec![task(key("big", 0), 0, vec![WireArg::Value(block(values.clone()))], 0)]);
        a.finish(&[key("big", 0)]);
        let remote = WireArg::Remote { key: key("big", 0), from: a.info.data_address.clone() };
        b.compute(&[&ops::MakeList], vec![task(key("got", 0), 0, vec![remote], 0)]);
        let (_, other) = b.finish(&[key("got", 0)]);
        assert!(other.is_empty(), "{other:?}");
        assert_eq!(b.gather(&[key("got", 0)]), vec![Some(Value::List(vec![block(values)].into()))]);
        b.close().1.unwrap();
        a.close().1.unwrap();
    }
}

#[test]
fn the_worker_exits_promptly_when_the_scheduler_goes_or_says_shutdown() {
    let s = start("exit-close", true, None);
    let (elapsed, result) = s.close();
    result.unwrap();
    // Every thread ended: nothing waited for the half-second join timeout.
    assert!(elapsed < Duration::from_millis(400), "{elapsed:?}");

    // Dropped without a word (as a killed scheduler), with tasks still queued.
    let mut s = start("exit-drop", false, None);
    s.compute(&[&ops::Inc], vec![task(key("orphan", 1), 0, vec![WireArg::Held(key("orphan", 0))], 0)]);
    let worker = s.worker.take().unwrap();
    drop(s);
    let since = Instant::now();
    while !worker.is_finished() && since.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(since.elapsed() < Duration::from_secs(1), "{:?}", since.elapsed());
    worker.join().unwrap().unwrap();
    let _ = std::fs::remove_dir_all(local_dir("exit-drop"));

    let mut s = start("exit-shutdown", false, None);
    s.send(&ToWorker::Shutdown);
    let (elapsed, result) = s.join();
    assert_eq!(result.unwrap(), Ended::Stopped);
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");

    // Told to restart: it stops the same way, asking its binary to start again.
    let mut s = start("exit-restart", false, None);
    s.send(&ToWorker::Restart);
    let (elapsed, result) = s.join();
    assert_eq!(result.unwrap(), Ended::Restart);
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}

#[test]
fn a_bad_peer_is_refused_and_good_peers_are_still_served() {
    use std::io::Write;
    let mut a = start("bad-peer", false, None);
    a.compute(&[&ops::Inc], vec![task(key("served", 0), 0, vec![WireArg::Value(Value::I64(9))], 0)]);
    a.finish(&[key("served", 0)]);
    let data = a.info.data_address.clone();
    // Garbage bytes.
    let mut garbage = Connection::connect(&data).unwrap();
    garbage.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    // A wrong token.
    let mut wrong = Connection::connect(&data).unwrap();
    let refused = connect_handshake(&mut wrong, &Hello::new("nope", Role::Peer));
    assert!(refused.unwrap_err().to_string().contains("wrong token"));
    // A truncated frame after a good handshake.
    let mut truncated = Connection::connect(&data).unwrap();
    connect_handshake(&mut truncated, &Hello::new(TOKEN, Role::Peer)).unwrap();
    truncated.write_all(&100u64.to_le_bytes()).unwrap();
    truncated.write_all(&[1, 2, 3]).unwrap();
    truncated.shutdown();
    // A good peer, asking twice on one connection.
    let mut good = peer(&data);
    for _ in 0..2 {
        let values = peer_get(&mut good, vec![key("served", 0), key("absent", 0)]);
        assert_eq!(values, vec![(key("served", 0), Some(Value::I64(10))), (key("absent", 0), None)]);
    }
    drop(garbage);
    // The worker itself is still fine.
    a.compute(&[&ops::Inc], vec![task(key("served", 1), 0, vec![WireArg::Held(key("served", 0))], 0)]);
    a.finish(&[key("served", 1)]);
    assert_eq!(a.gather(&[key("served", 1)]), vec![Some(Value::I64(11))]);
    let (elapsed, result) = a.close();
    result.unwrap();
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}

/// A peer connection to the data server at `data`.
fn peer(data: &Address) -> Connection {
    let mut conn = Connection::connect(data).unwrap();
    connect_handshake(&mut conn, &Hello::new(TOKEN, Role::Peer)).unwrap();
    conn
}

fn peer_get(conn: &mut Connection, keys: Vec<Key>) -> Vec<(Key, Option<Value>)> {
    write_message(conn, &PeerRequest::Get(keys)).unwrap();
    match read_message(conn, MAX_FRAME_BYTES).unwrap() {
        PeerReply::Values(values) => values.into_iter().map(|(k, v)| (k, found(v))).collect(),
        other => panic!("unexpected reply {other:?}"),
    }
}

/// A value found, `None` if missing; a refusal fails the test.
fn found(lookup: Lookup) -> Option<Value> {
    match lookup {
        Lookup::Found(v) => Some(v),
        Lookup::Missing => None,
        Lookup::Refused(why) => panic!("refused: {why}"),
    }
}

#[test]
fn the_data_server_listens_where_asked_and_announces_a_reachable_address() {
    // On every interface: the announced host is the interface that reached the scheduler.
    let mut a = start_with("listen-all", false, |c| c.listen = Some("tcp://0.0.0.0:0".parse().unwrap()));
    let Address::Tcp(hostport) = &a.info.data_address else { panic!("{}", a.info.data_address) };
    let announced: std::net::SocketAddr = hostport.parse().unwrap();
    assert!(announced.ip().is_loopback() && announced.port() != 0, "{announced}");
    a.compute(&[&ops::Inc], vec![task(key("everywhere", 0), 0, vec![WireArg::Value(Value::I64(1))], 0)]);
    a.finish(&[key("everywhere", 0)]);
    let data = a.info.data_address.clone();
    assert_eq!(
        peer_get(&mut peer(&data), vec![key("everywhere", 0)]),
        vec![(key("everywhere", 0), Some(Value::I64(2)))]
    );
    a.close().1.unwrap();

    // A contact address is announced as given.
    let contact: Address = "tcp://worker-7.example:9999".parse().unwrap();
    let b = start_with("contact", false, |c| c.contact = Some(contact.clone()));
    assert_eq!(b.info.data_address, contact);
    b.close().1.unwrap();

    // An address this machine does not have is an error naming it.
    let listener = Listener::bind(&"tcp://127.0.0.1:0".parse().unwrap()).unwrap();
    let mut config = WorkerConfig::new(listener.address().clone(), TOKEN);
    config.local_dir = scratch_dir("listen-elsewhere");
    config.listen = Some("tcp://192.0.2.1:0".parse().unwrap()); // TEST-NET-1: nobody's
    let err = run_worker(config).unwrap_err();
    assert!(matches!(err, WorkerError::DataServer(_)) && err.to_string().contains("192.0.2.1"), "{err}");
    let _ = std::fs::remove_dir_all(local_dir("listen-elsewhere"));
}

#[test]
fn an_unreachable_scheduler_or_a_wrong_token_is_an_error() {
    let config = WorkerConfig::new("tcp://127.0.0.1:1".parse().unwrap(), TOKEN);
    let err = run_worker(WorkerConfig { local_dir: scratch_dir("unreachable"), ..config }).unwrap_err();
    assert!(matches!(err, WorkerError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("cannot reach the scheduler: cannot connect to tcp://127.0.0.1:1"), "{err}");

    let listener = Listener::bind(&"tcp://127.0.0.1:0".parse().unwrap()).unwrap();
    let mut config = WorkerConfig::new(listener.address().clone(), "not-the-token");
    config.local_dir = scratch_dir("wrong-token");
    let worker = std::thread::spawn(move || run_worker(config));
    let refused = accept_handshake(&mut listener.accept().unwrap(), TOKEN, Welcome::new(1));
    assert!(refused.is_err());
    let err = worker.join().unwrap().unwrap_err();
    assert!(matches!(err, WorkerError::Handshake { .. }), "{err}");
    assert!(err.to_string().contains("wrong token"), "{err}");
    let _ = std::fs::remove_dir_all(local_dir("unreachable"));
    let _ = std::fs::remove_dir_all(local_dir("wrong-token"));
}

/// W1's shape on one worker (100,000 `inc` leaves, a tree sum of fan-in 8: 114,289 tasks)
/// sent as Compute batches of 10,000 tasks; prints µs per task from the first send to the
/// root's `Finished`. Run with `cargo test --release -p rask-scheduler --test worker
/// w1_throughput -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement; run in release"]
fn w1_throughput() {
    let n: u32 = 100_000;
    let mut s = start("w1", true, None);
    let mut tasks = Vec::new();
    let mut level: Vec<Key> = (0..n).map(|i| key("w1-inc", i)).collect();
    for (i, k) in level.iter().enumerate() {
        tasks.push(task(*k, 0, vec![WireArg::Value(Value::I64(i as i64))], i as u64));
    }
    let mut depth = 0;
    while level.len() > 1 {
        depth += 1;
        let group = format!("w1-sum-{depth}");
        level = level
            .chunks(8)
            .enumerate()
            .map(|(i, children)| {
                let k = key(&group, i as u32);
                tasks.push(task(k, 1, children.iter().map(|c| WireArg::Held(*c)).collect(), tasks.len() as u64));
                k
            })
            .collect();
    }
    let root = level[0];
    let total = tasks.len();
    let ops = vec![EncodedOp::encode(&ops::Inc).unwrap(), EncodedOp::encode(&ops::Sum).unwrap()];
    let start_at = Instant::now();
    let mut batches = Vec::new();
    while !tasks.is_empty() {
        let rest = tasks.split_off(tasks.len().min(10_000));
        batches.push(std::mem::replace(&mut tasks, rest));
    }
    let mut writer = s.conn.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        for batch in batches {
            write_message(&mut writer, &ToWorker::Compute { ops: ops.clone(), tasks: batch }).unwrap();
        }
    });
    let mut frames = 0;
    let mut seen = 0;
    loop {
        match s.recv() {
            FromWorker::Finished(batch) => {
                frames += 1;
                seen += batch.len();
                if batch.iter().any(|f| f.key == root) {
                    break;
                }
            }
            other => panic!("{other:?}"),
        }
    }
    let elapsed = start_at.elapsed();
    sender.join().unwrap();
    assert_eq!(seen, total);
    let expected = (n as i64) * (n as i64 + 1) / 2;
    assert_eq!(s.gather(&[root]), vec![Some(Value::I64(expected))]);
    println!(
        "w1 on one worker (2 threads): {total} tasks in {:.3} s, {:.2} us per task, {frames} Finished frames",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / total as f64
    );
    s.close().1.unwrap();
}

//! Futures on a real cluster (`rask-scheduler` and `rask-worker` binaries on loopback):
//! single calls, calls reading other futures on the cluster, pure keys, gather and map,
//! errors carried to dependents, keys released when futures are dropped, and misuse as
//! typed errors rather than hangs.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rask::graph::{Value, ops};
use rask::scheduler::{
    CallArg, Client, ClusterAddress, FutureStatus, LocalCluster, LocalClusterOptions, SchedulerError, SubmitOptions,
    WaitFor, as_completed,
};

#[path = "support/settle.rs"]
mod settle;
use settle::{settles, table_settles_at};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn calls_read_other_futures_on_the_cluster_and_keys_are_pure() {
    let _serial = serial();
    let cluster = LocalCluster::new(2).unwrap();
    let client = cluster.client().unwrap();

    let a = client.submit(&ops::Inc, [Value::I64(41).into()]).unwrap();
    assert_eq!(a.result().unwrap(), Value::I64(42));
    assert_eq!(a.status(), FutureStatus::Finished);

    // A chain whose first link is dropped before anything is asked of it.
    let first = client.submit(&ops::Inc, [Value::I64(0).into()]).unwrap();
    let second = client.submit(&ops::Inc, [CallArg::from(&first)]).unwrap();
    drop(first);
    let third = client.submit(&ops::Add, [CallArg::from(&second), CallArg::from(&a)]).unwrap();
    assert_eq!(third.result().unwrap(), Value::I64(2 + 42));
    assert_eq!(second.result().unwrap(), Value::I64(2));

    // Pure: equal calls share a key, other arguments make another.
    let again = client.submit(&ops::Inc, [Value::I64(41).into()]).unwrap();
    assert_eq!(again.key(), a.key());
    assert_eq!(again.result().unwrap(), Value::I64(42));
    let other = client.submit(&ops::Inc, [Value::I64(40).into()]).unwrap();
    assert_ne!(other.key(), a.key());

    // map and gather, against the values computed here.
    let futures = client.map(&ops::Inc, (0..50).map(|i| [CallArg::Value(Value::I64(i * 3))])).unwrap();
    let values = client.gather(&futures).unwrap();
    let expected: Vec<Value> = (0..50).map(|i| Value::I64(i * 3 + 1)).collect();
    assert_eq!(values, expected);

    // Dropping every future releases every key.
    drop((a, second, third, again, other, futures));
    assert_eq!(table_settles_at(&client, 0), 0, "the scheduler forgot the released keys");
}

#[test]
fn an_error_reaches_dependents_and_misuse_is_a_typed_error() {
    let _serial = serial();
    let cluster = LocalCluster::new(1).unwrap();
    let client = cluster.client().unwrap();

    let bad = client.submit(&ops::Inc, [Value::Str("not a number".into()).into()]).unwrap();
    let after = client.submit(&ops::Inc, [CallArg::from(&bad)]).unwrap();
    let error = bad.result().unwrap_err();
    match &error {
        SchedulerError::TaskFailed { key, .. } => assert_eq!(*key, bad.key()),
        other => panic!("expected the task's failure, got {other:?}"),
    }
    assert_eq!(bad.status(), FutureStatus::Error);
    let downstream = after.result().unwrap_err();
    assert_eq!(downstream, error, "a dependent carries the original error and key");
    // Retries spent on a call that always fails end in its error, not a loop.
    let options = SubmitOptions { retries: 2, ..Default::default() };
    let stubborn = client.submit_with(&ops::Inc, [Value::Str("still not".into()).into()], &options).unwrap();
    assert!(matches!(stubborn.result(), Err(SchedulerError::TaskFailed { key, .. }) if key == stubborn.key()));
    // Impure calls get keys of their own; a key may be given.
    let impure = SubmitOptions { pure: false, ..Default::default() };
    let once = client.submit_with(&ops::Inc, [Value::I64(3).into()], &impure).unwrap();
    let twice = client.submit_with(&ops::Inc, [Value::I64(3).into()], &impure).unwrap();
    assert_ne!(once.key(), twice.key());
    let named = rask::graph::Key::single(rask::graph::Group::new("mine"), rask::graph::Token(7));
    let given = SubmitOptions { key: Some(named), ..Default::default() };
    let mine = client.submit_with(&ops::Inc, [Value::I64(3).into()], &given).unwrap();
    assert_eq!(mine.key(), named);
    assert_eq!(client.gather(&[once, twice, mine]).unwrap(), vec![Value::I64(4); 3]);
    // Independent work goes on.
    let fine = client.submit(&ops::Inc, [Value::I64(1).into()]).unwrap();
    assert_eq!(fine.result().unwrap(), Value::I64(2));

    // A closure is refused before anything is sent.
    let closure = rask::graph::FnOp::new("local", |_| Ok(Value::Unit));
    let e = client.submit(&closure, []).unwrap_err().to_string();
    assert!(e.contains("local"), "{e}");

    // A future of another client is refused, naming it.
    let other_client = cluster.client().unwrap();
    let theirs = other_client.submit(&ops::Inc, [Value::I64(5).into()]).unwrap();
    let e = client.submit(&ops::Inc, [CallArg::from(&theirs)]).unwrap_err().to_string();
    assert!(e.contains("another client"), "{e}");
    let foreign = client.submit(&ops::Inc, [CallArg::from(&theirs)]).unwrap_err();
    assert_eq!(foreign, SchedulerError::ForeignFuture { key: theirs.key() });
    assert_eq!(theirs.result().unwrap(), Value::I64(6), "the other client is unaffected");

    // Once the cluster is gone, a future still pending errs instead of hanging.
    let last = client.submit(&ops::Inc, [Value::I64(7).into()]).unwrap();
    drop(cluster);
    let started = Instant::now();
    let (done, pending) = rask::scheduler::wait(&[last], rask::scheduler::WaitFor::All, Some(Duration::from_secs(20)));
    assert_eq!((done.len(), pending.len()), (1, 0), "a lost connection settles the future");
    assert!(started.elapsed() < Duration::from_secs(20));
    let orphan = client.submit(&ops::Inc, [Value::I64(8).into()]);
    let started = Instant::now();
    if let Ok(orphan) = orphan {
        assert!(orphan.result().is_err(), "no scheduler, no value");
    }
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn scatter_wait_as_completed_and_cancel() {
    let _serial = serial();
    let cluster = LocalCluster::new(2).unwrap();
    let client = cluster.client().unwrap();

    // Scattered values feed calls without travelling again; equal values share a key.
    let data = client.scatter((1..=4).map(Value::I64)).unwrap();
    let twice = client.scatter([Value::I64(1)]).unwrap();
    assert_eq!(twice[0].key(), data[0].key());
    let total = client.submit(&ops::Sum, [CallArg::Value(Value::List(Vec::new().into()))]).unwrap();
    assert_eq!(total.result().unwrap(), Value::I64(0));
    let pair = client.submit(&ops::Add, [CallArg::from(&data[1]), CallArg::from(&data[3])]).unwrap();
    assert_eq!(pair.result().unwrap(), Value::I64(2 + 4));

    // wait: all, then the first of a fresh batch.
    let batch = client.map(&ops::Inc, (100..120).map(|i| [CallArg::Value(Value::I64(i))])).unwrap();
    let (done, pending) = rask::scheduler::wait(&batch, WaitFor::All, Some(Duration::from_secs(60)));
    assert_eq!((done.len(), pending.len()), (20, 0));
    let fresh = client.map(&ops::Inc, (200..210).map(|i| [CallArg::Value(Value::I64(i))])).unwrap();
    let (done, _) = rask::scheduler::wait(&fresh, WaitFor::First, Some(Duration::from_secs(60)));
    assert!(!done.is_empty());

    // as_completed yields every future once, whatever the order.
    let more = client.map(&ops::Inc, (300..330).map(|i| [CallArg::Value(Value::I64(i))])).unwrap();
    let mut seen: Vec<i64> = as_completed(more)
        .map(|f| match f.result().unwrap() {
            Value::I64(v) => v,
            other => panic!("{other:?}"),
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (301..331).collect::<Vec<_>>());

    // Cancelling one client's call leaves another client's equal call alone.
    let other = cluster.client().unwrap();
    let mine = client.submit(&ops::Inc, [Value::I64(999).into()]).unwrap();
    let theirs = other.submit(&ops::Inc, [Value::I64(999).into()]).unwrap();
    assert_eq!(mine.key(), theirs.key());
    mine.cancel();
    assert_eq!(mine.result().unwrap_err(), SchedulerError::Cancelled { key: mine.key() });
    assert_eq!(mine.status(), FutureStatus::Error);
    assert_eq!(theirs.result().unwrap(), Value::I64(1000));

    drop((data, twice, total, pair, batch, fresh, mine, theirs));
    assert_eq!(table_settles_at(&client, 0), 0);
}

const CHILD_VAR: &str = "RASK_FUTURES_TEST_CHILD";

#[test]
fn a_killed_clients_keys_outlive_it_for_the_grace_period_only() {
    if let Some(file) = std::env::var_os(CHILD_VAR) {
        // The other program: holds five futures, says so, and waits to be killed.
        let client = Client::connect(ClusterAddress::File(file.into())).unwrap();
        let held = client.map(&ops::Inc, (0..5).map(|i| [CallArg::Value(Value::I64(i))])).unwrap();
        client.gather(&held).unwrap();
        println!("ready");
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let _serial = serial();
    let grace = Duration::from_secs(2);
    let options = LocalClusterOptions { workers: 1, client_grace: grace, ..Default::default() };
    let cluster = LocalCluster::start(options).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_killed_clients_keys_outlive_it_for_the_grace_period_only", "--nocapture"])
        .env(CHILD_VAR, cluster.scheduler_file())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.is_ok_and(|l| l.contains("ready"))), "the child got its values");
    let client = cluster.client().unwrap();
    assert_eq!(client.info().unwrap().tasks, 5, "the child's five keys are held");
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    std::thread::sleep(grace / 4);
    assert_eq!(client.info().unwrap().tasks, 5, "still held within the grace period");
    assert_eq!(table_settles_at(&client, 0), 0, "released after it");
    assert!(killed.elapsed() >= grace);
}

#[test]
fn datasets_outlive_their_publisher_and_values_stay_on_the_cluster_until_asked() {
    let _serial = serial();
    let cluster = LocalCluster::new(2).unwrap();
    let publisher = cluster.client().unwrap();
    let data = publisher.scatter((10..13).map(Value::I64)).unwrap();
    let doubled: Vec<_> =
        data.iter().map(|d| publisher.submit(&ops::Add, [CallArg::from(d), CallArg::from(d)]).unwrap()).collect();
    // Held futures report ready without their values travelling.
    let (done, _) = rask::scheduler::wait(&doubled, WaitFor::All, Some(Duration::from_secs(60)));
    assert_eq!(done.len(), 3);
    assert!(doubled.iter().all(|f| f.status() == FutureStatus::Finished));
    publisher.publish("doubled", &doubled).unwrap();
    let e = publisher.publish("doubled", &data).unwrap_err().to_string();
    assert!(e.contains("already exists"), "{e}");
    let e = publisher.publish("", &data).unwrap_err().to_string();
    assert!(e.contains("1 to 256 bytes"), "{e}");
    assert_eq!(publisher.list_datasets().unwrap(), vec!["doubled".to_string()]);

    // The publisher goes; another client finds the values.
    drop((data, doubled, publisher));
    let reader = cluster.client().unwrap();
    let found = reader.get_dataset("doubled").unwrap();
    assert_eq!(reader.gather(&found).unwrap(), vec![Value::I64(20), Value::I64(22), Value::I64(24)]);
    let e = reader.get_dataset("missing").unwrap_err().to_string();
    assert!(e.contains("no dataset named \"missing\""), "{e}");

    // Unpublished and unheld, the values go.
    reader.unpublish("doubled").unwrap();
    assert!(reader.unpublish("doubled").is_err());
    assert_eq!(reader.list_datasets().unwrap(), Vec::<String>::new());
    drop(found);
    assert_eq!(table_settles_at(&reader, 0), 0);
}

#[test]
fn held_values_of_a_killed_worker_are_recomputed_and_a_local_client_serves_plain_compute() {
    let _serial = serial();
    let cluster = LocalCluster::new(2).unwrap();
    let client = cluster.client().unwrap();
    let futures = client.map(&ops::Inc, (0..16).map(|i| [CallArg::Value(Value::I64(i))])).unwrap();
    let (done, _) = rask::scheduler::wait(&futures, WaitFor::All, Some(Duration::from_secs(60)));
    assert_eq!(done.len(), 16, "all ready, their values spread over both workers");
    let victim = cluster.worker_pids()[0];
    assert!(Command::new("kill").args(["-9", &victim.to_string()]).status().unwrap().success());
    let values = client.gather(&futures).unwrap();
    assert_eq!(values, (0..16).map(|i| Value::I64(i + 1)).collect::<Vec<_>>());
    drop((futures, client, cluster));

    // A client of its own cluster, made the default: plain compute() runs there.
    let local = std::sync::Arc::new(Client::local(2).unwrap());
    assert_eq!(local.scheduler_info().unwrap().workers.len(), 2);
    local.set_as_default();
    let name = rask::scheduler::default_scheduler().unwrap().name();
    assert!(name.starts_with("cluster("), "{name}");
    let x = rask::array::random::random(7, &[300, 200], [100, 100]).unwrap();
    let total = (&x + &x).sum(..).unwrap();
    let got = total.compute().unwrap();
    rask::scheduler::set_default_scheduler(None);
    let want = total.compute_with(&rask::ComputeOptions::default().scheduler(rask::scheduler::SyncScheduler)).unwrap();
    assert!((got.sum() - want.sum()).abs() <= 1e-9 * want.sum().abs().max(1.0), "{got:?} != {want:?}");
    assert!(local.scheduler_info().unwrap().tasks == 0 || table_settles_at(&local, 0) == 0);
}

/// Runs `future` to completion on this thread, parking between polls (a minimal executor,
/// so that the test shows the router's wake-ups suffice).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        assert!(Instant::now() < deadline, "the future never woke");
        std::thread::park_timeout(Duration::from_secs(1));
    }
}

#[test]
fn futures_can_be_awaited_fired_and_forgotten_and_versions_agree() {
    let _serial = serial();
    let cluster = LocalCluster::new(1).unwrap();
    let client = cluster.client().unwrap();
    let a = client.submit(&ops::Inc, [Value::I64(1).into()]).unwrap();
    let b = client.submit(&ops::Inc, [CallArg::from(&a)]).unwrap();
    let bad = client.submit(&ops::Inc, [Value::Str("x".into()).into()]).unwrap();
    let (got_b, got_a, got_bad) = block_on(async { ((&b).await, (&a).await, bad.await) });
    assert_eq!((got_b.unwrap(), got_a.unwrap()), (Value::I64(3), Value::I64(2)));
    assert!(matches!(got_bad, Err(SchedulerError::TaskFailed { .. })), "{got_bad:?}");

    // Fired and forgotten: the call runs to the end with no handle left.
    let before = client.info().unwrap().tasks_finished;
    let fired = client.submit(&ops::Inc, [Value::I64(12_345).into()]).unwrap();
    client.fire_and_forget(std::slice::from_ref(&fired)).unwrap();
    drop(fired);
    drop((a, b));
    assert_eq!(table_settles_at(&client, 0), 0);
    assert!(client.info().unwrap().tasks_finished > before, "the fired call ran");

    let versions = client.get_versions().unwrap();
    assert!(!versions.scheduler.is_empty(), "the scheduler reported its version");
    assert_eq!(versions.client, versions.scheduler);
    assert_eq!(versions.protocol, rask::scheduler::wire::PROTOCOL_VERSION);
}

/// Waits until `check` holds for the bytes each worker holds (by name, from their
/// heartbeats); returns the last reading.
fn memory_settles(client: &Client, check: impl Fn(&dyn Fn(&str) -> u64) -> bool) -> Vec<(String, u64)> {
    let read = || -> Vec<(String, u64)> {
        let workers = client.scheduler_info().unwrap().workers;
        workers.into_iter().map(|w| (w.name, w.heartbeat.map_or(0, |h| h.memory))).collect()
    };
    settles(read, |reading| check(&|name: &str| reading.iter().find(|(n, _)| n == name).map_or(0, |(_, m)| *m)))
}

const MB: u64 = 1 << 20;

/// A local cluster of two workers, a client of it, and its workers as the scheduler lists
/// them.
fn two_workers() -> (LocalCluster, Client, Vec<rask::scheduler::wire::WorkerSummary>) {
    let cluster = LocalCluster::new(2).unwrap();
    let client = cluster.client().unwrap();
    let workers = client.scheduler_info().unwrap().workers;
    (cluster, client, workers)
}

#[test]
fn futures_go_where_placed_free_memory_when_dropped_and_restart_clears_the_cluster() {
    let _serial = serial();
    let (cluster, client, workers) = two_workers();
    let (a, b) = (workers[0].name.clone(), workers[1].name.clone());

    // 16 MB scattered to A (by name), copied by a call placed on B (by address).
    let on_a = SubmitOptions { workers: vec![a.clone()], ..Default::default() };
    let on_b = SubmitOptions { workers: vec![workers[1].data_address.to_string()], ..Default::default() };
    let bytes: std::sync::Arc<[u8]> = (0..16 * MB).map(|i| (i % 251) as u8).collect();
    let big = client.scatter_with([Value::Bytes(bytes.clone())], &on_a).unwrap().remove(0);
    let reading = memory_settles(&client, |of: &dyn Fn(&str) -> u64| of(&a) >= 16 * MB);
    assert!(reading.iter().any(|(n, m)| *n == a && *m >= 16 * MB), "A holds the value: {reading:?}");
    assert!(reading.iter().any(|(n, m)| *n == b && *m < MB), "B holds nothing: {reading:?}");
    let copy = client.submit_with(&ops::Identity, [CallArg::from(&big)], &on_b).unwrap();
    assert_eq!(copy.result().unwrap(), Value::Bytes(bytes));
    let reading = memory_settles(&client, |of: &dyn Fn(&str) -> u64| of(&b) >= 16 * MB);
    assert!(reading.iter().any(|(n, m)| *n == b && *m >= 16 * MB), "B holds the copy: {reading:?}");
    // Dropping the futures frees both workers' memory.
    drop((big, copy));
    let reading = memory_settles(&client, |of: &dyn Fn(&str) -> u64| of(&a) < MB && of(&b) < MB);
    assert!(reading.iter().all(|(_, m)| *m < MB), "both freed: {reading:?}");

    // A call for a worker that is not there waits, unless others are allowed.
    let nowhere = SubmitOptions { workers: vec!["no-such-worker".into()], ..Default::default() };
    let waiting = client.submit_with(&ops::Inc, [Value::I64(1000).into()], &nowhere).unwrap();
    let (done, _) =
        rask::scheduler::wait(std::slice::from_ref(&waiting), WaitFor::All, Some(Duration::from_millis(500)));
    assert!(done.is_empty() && waiting.status() == FutureStatus::Pending);
    let loose = SubmitOptions { allow_other_workers: true, ..nowhere.clone() };
    let ran = client.submit_with(&ops::Inc, [Value::I64(2).into()], &loose).unwrap();
    assert_eq!(ran.result().unwrap(), Value::I64(3));
    let urgent = SubmitOptions { priority: 10, ..Default::default() };
    let many = client.map_with(&ops::Inc, (0..50).map(|i| [CallArg::Value(Value::I64(i))]), &urgent).unwrap();
    assert_eq!(client.gather(&many).unwrap(), (1..51).map(Value::I64).collect::<Vec<_>>());
    let given_key = SubmitOptions { key: Some(many[0].key()), ..Default::default() };
    assert!(client.map_with(&ops::Inc, [[CallArg::Value(Value::I64(0))]], &given_key).is_err());

    // Restart: every held key and dataset goes, the workers start again (same pids: they
    // exec themselves) and join anew; the cluster then works as before.
    let held = client.map(&ops::Inc, (500..504).map(|i| [CallArg::Value(Value::I64(i))])).unwrap();
    let (done, _) = rask::scheduler::wait(&held, WaitFor::All, Some(Duration::from_secs(60)));
    assert_eq!(done.len(), 4, "ready on the cluster, not fetched");
    client.publish("before-restart", &held).unwrap();
    let pids = cluster.worker_pids();
    let ids: Vec<u64> = client.scheduler_info().unwrap().workers.iter().map(|w| w.id).collect();
    client.restart().unwrap();
    assert_eq!(many[0].result().unwrap(), Value::I64(1), "a value fetched before stays");
    assert_eq!(held[1].status(), FutureStatus::Error);
    assert_eq!(held[1].result().unwrap_err(), SchedulerError::Restarted { key: held[1].key() });
    assert_eq!(waiting.result().unwrap_err(), SchedulerError::Restarted { key: waiting.key() });
    let info = client.scheduler_info().unwrap();
    assert_eq!((info.tasks, info.workers.len()), (0, 2));
    assert!(info.workers.iter().all(|w| !ids.contains(&w.id)), "new workers: {:?} after {ids:?}", info.workers);
    assert_eq!(cluster.worker_pids(), pids);
    assert!(client.list_datasets().unwrap().is_empty());
    assert_eq!(client.submit(&ops::Inc, [Value::I64(41).into()]).unwrap().result().unwrap(), Value::I64(42));

    // A closed client refuses every call with a typed error.
    client.close();
    let e = client.submit(&ops::Inc, [Value::I64(1).into()]).unwrap_err();
    assert!(matches!(e, SchedulerError::ClientClosed { .. }), "{e:?}");
    assert!(matches!(client.scheduler_info(), Err(SchedulerError::ClientClosed { .. })));
}

#[test]
fn as_completed_is_a_stream_for_async_code() {
    use rask::scheduler::Stream;
    let _serial = serial();
    let cluster = LocalCluster::new(2).unwrap();
    let client = cluster.client().unwrap();
    let futures = client.map(&ops::Inc, (0..40).map(|i| [CallArg::Value(Value::I64(i))])).unwrap();
    let keys: Vec<_> = futures.iter().map(|f| f.key()).collect();
    let mut stream = as_completed(futures);
    assert_eq!(Iterator::size_hint(&stream), (40, Some(40)));
    let mut seen = Vec::new();
    while let Some(future) = block_on(std::future::poll_fn(|cx| std::pin::Pin::new(&mut stream).poll_next(cx))) {
        seen.push((future.key(), future.result().unwrap()));
    }
    assert_eq!(seen.len(), 40, "each once");
    for (key, value) in seen {
        let i = keys.iter().position(|k| *k == key).expect("one of ours") as i64;
        assert_eq!(value, Value::I64(i + 1));
    }
}

#[test]
fn replicated_values_are_on_every_worker_and_outlive_their_holder() {
    let _serial = serial();
    let (_cluster, client, workers) = two_workers();
    let (a, b) = (workers[0].name.clone(), workers[1].name.clone());
    let bytes: std::sync::Arc<[u8]> = (0..16 * MB).map(|i| (i % 253) as u8).collect();

    // Broadcast: on both workers.
    let everywhere = client.broadcast([Value::Bytes(bytes.clone())]).unwrap();
    let reading = memory_settles(&client, |of: &dyn Fn(&str) -> u64| of(&a) >= 16 * MB && of(&b) >= 16 * MB);
    assert!(reading.iter().all(|(_, m)| *m >= 16 * MB), "a copy on each worker: {reading:?}");
    drop(everywhere);
    let reading = memory_settles(&client, |of: &dyn Fn(&str) -> u64| of(&a) < MB && of(&b) < MB);
    assert!(reading.iter().all(|(_, m)| *m < MB), "every copy released: {reading:?}");

    // Scattered to A, copied to B; A is killed: the value is served from B, not recomputed.
    let on_a = SubmitOptions { workers: vec![a.clone()], pure: false, ..Default::default() };
    let data = client.scatter_with([Value::Bytes(bytes.clone())], &on_a).unwrap().remove(0);
    rask::scheduler::wait(std::slice::from_ref(&data), WaitFor::All, Some(Duration::from_secs(60)));
    client.replicate(std::slice::from_ref(&data), None).unwrap();
    let reading = memory_settles(&client, |of: &dyn Fn(&str) -> u64| of(&b) >= 16 * MB);
    assert!(reading.iter().any(|(n, m)| *n == b && *m >= 16 * MB), "B holds a copy: {reading:?}");
    let finished = client.scheduler_info().unwrap().tasks_finished;
    let pid_a = workers[0].pid;
    assert!(Command::new("kill").args(["-9", &pid_a.to_string()]).status().unwrap().success());
    let lost = settles(|| client.scheduler_info().unwrap().workers_lost, |&lost| lost >= 1);
    assert_eq!(lost, 1, "the scheduler saw A go");
    assert_eq!(data.result().unwrap(), Value::Bytes(bytes));
    assert_eq!(client.scheduler_info().unwrap().tasks_finished, finished, "nothing was recomputed");
}

#[test]
fn a_value_over_the_clients_transfer_limit_is_an_error_naming_it() {
    let _serial = serial();
    let cluster = LocalCluster::new(1).unwrap();
    let file = ClusterAddress::File(cluster.scheduler_file().into());
    let client = Client::lazy(file).with_transfer_limit(1 << 20);
    let big = client.scatter([Value::Bytes(vec![3u8; 4 << 20].into())]).unwrap().remove(0);
    match big.result() {
        Err(SchedulerError::Transfer { key, reason }) => {
            assert_eq!(key, big.key());
            assert!(reason.contains("transfer limit"), "{reason}");
        }
        other => panic!("expected a transfer error, got {other:?}"),
    }
    // The value stays usable on the cluster, and small values still come back.
    let small = client.submit(&ops::Inc, [Value::I64(1).into()]).unwrap();
    assert_eq!(small.result().unwrap(), Value::I64(2));
    let copy = client.submit(&ops::Identity, [CallArg::from(&big)]).unwrap();
    assert!(matches!(client.gather(&[small, copy]), Err(SchedulerError::Transfer { .. })));
}

#[test]
fn a_restart_whose_workers_do_not_come_back_is_refused_with_the_count() {
    let _serial = serial();
    let cluster = LocalCluster::new(1).unwrap();
    let client = cluster.client().unwrap();
    // A second worker, run from a copy of the binary that is gone when it must restart.
    let dir = std::env::temp_dir().join(format!("rask-restart-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("rask-worker");
    std::fs::copy(env!("CARGO_BIN_EXE_rask-worker"), &copy).unwrap();
    let mut doomed = Command::new(&copy)
        .args(["--scheduler", &cluster.address().to_string(), "--nthreads", "1"])
        .env("RASK_TOKEN", cluster.token())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let joined = settles(|| client.scheduler_info().unwrap().workers.len(), |&n| n == 2);
    std::fs::remove_dir_all(&dir).unwrap();
    let held = client.submit(&ops::Inc, [Value::I64(1).into()]).unwrap();
    assert_eq!(settles(|| held.status(), |s| *s == FutureStatus::Finished), FutureStatus::Finished);

    let started = Instant::now();
    let refusal = client.restart_within(Duration::from_secs(3));
    let error = refusal.expect_err("one worker cannot come back").to_string();
    assert_eq!(joined, 2);
    assert!(error.contains("only 1 of the 2 workers came back"), "{error}");
    assert!(started.elapsed() >= Duration::from_secs(3), "the scheduler waited the whole timeout");
    // The doomed worker said why it ended; the cluster goes on with the other.
    let status = settles(|| doomed.try_wait().unwrap(), Option::is_some);
    assert!(status.is_some_and(|s| !s.success()), "the worker without a binary exits with an error");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut doomed.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("cannot restart"), "{stderr}");
    assert!(matches!(held.result(), Err(SchedulerError::Restarted { .. })), "{:?}", held.result());
    let after = client.submit(&ops::Inc, [Value::I64(41).into()]).unwrap();
    assert_eq!(after.result().unwrap(), Value::I64(42));
    assert_eq!(client.scheduler_info().unwrap().workers.len(), 1);
}

#[test]
fn a_higher_priority_call_runs_before_earlier_ones() {
    let _serial = serial();
    let options = LocalClusterOptions { workers: 0, ..Default::default() };
    let mut cluster = LocalCluster::start(options).unwrap();
    let client = cluster.client().unwrap();
    // With no worker yet, everything waits behind the gate.
    let gate = client.submit(&ops::Inc, [Value::I64(0).into()]).unwrap();
    let low = client.map(&ops::Add, (0..50).map(|i| [CallArg::from(&gate), Value::I64(i).into()])).unwrap();
    let urgent = SubmitOptions { priority: 10, ..Default::default() };
    let high = client.submit_with(&ops::Add, [CallArg::from(&gate), Value::I64(1000).into()], &urgent).unwrap();
    assert_eq!(high.status(), FutureStatus::Pending);
    // One single-threaded worker joins: the 51 calls become ready at once.
    cluster.spawn_worker().unwrap();
    let mut all = low.clone();
    all.push(high.clone());
    let order: Vec<_> = as_completed(all).map(|f| f.key()).collect();
    let position = order.iter().position(|k| *k == high.key()).unwrap();
    assert!(position < 3, "the urgent call finished {position}th of 51, though submitted last");
    assert_eq!(high.result().unwrap(), Value::I64(1001));
    assert_eq!(client.gather(&low).unwrap(), (0..50).map(|i| Value::I64(i + 1)).collect::<Vec<_>>());
}

//! The real `rask-worker` binary: clear one-line errors for a missing token, a bad
//! address or an unreachable scheduler; against a fake scheduler it connects, runs a task
//! of a collection op (linked through `rask::worker`), and exits when the scheduler
//! closes the connection.

use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask::array::FullBlock;
use rask::graph::{Element, Group, Key, Token, Value};
use rask::scheduler::wire::{
    Address, EncodedOp, FromWorker, Listener, Lookup, MAX_FRAME_BYTES, Role, TaskMsg, ToWorker, Welcome, WireArg,
    accept_handshake, read_message, write_message,
};

const WORKER: &str = env!("CARGO_BIN_EXE_rask-worker");

fn run(args: &[&str], token: Option<&str>) -> Output {
    let mut command = Command::new(WORKER);
    command.args(args).env_remove("RASK_TOKEN").env_remove("RASK_LOG");
    if let Some(token) = token {
        command.env("RASK_TOKEN", token);
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_missing_token_is_a_clear_error() {
    // A scheduler beyond loopback must have a token (one on loopback may go without).
    let output = run(&["--scheduler", "tcp://10.255.255.1:8786"], None);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("RASK_TOKEN is not set"), "{message}");
}

#[test]
fn a_bad_address_is_a_clear_error() {
    let output = run(&["--scheduler", "http://localhost:8786"], Some("t"));
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("--scheduler") && message.contains("http://localhost:8786"), "{message}");
    assert!(message.contains("tcp://host:port, tls://host:port or unix:///path"), "{message}");

    for option in ["--listen-address", "--contact-address"] {
        let output = run(&["--scheduler", "tcp://127.0.0.1:1", option, "0.0.0.0:9000"], Some("t"));
        assert_eq!(output.status.code(), Some(1));
        let message = stderr(&output);
        assert!(message.contains(option) && message.contains("0.0.0.0:9000"), "{message}");
    }

    let output = run(&["--scheduler", "tcp://127.0.0.1:1", "--memory-limit", "lots"], Some("t"));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--memory-limit \"lots\""), "{}", stderr(&output));
}

#[test]
fn an_unreachable_scheduler_is_a_clear_error() {
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("tcp://127.0.0.1:{port}");
    let output = run(&["--scheduler", &address, "--death-timeout", "200ms"], Some("t"));
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("cannot reach the scheduler") && message.contains(&address), "{message}");

    let output =
        run(&["--scheduler", "unix:///nonexistent-rask-dir/scheduler.sock", "--death-timeout", "200ms"], Some("t"));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("unix:///nonexistent-rask-dir/scheduler.sock"), "{}", stderr(&output));
}

#[test]
fn a_wrong_token_is_refused_with_a_clear_error() {
    let listener = Listener::bind(&"tcp://127.0.0.1:0".parse::<Address>().unwrap()).unwrap();
    let address = listener.address().to_string();
    let child = Command::new(WORKER)
        .args(["--scheduler", &address])
        .env("RASK_TOKEN", "wrong")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(accept_handshake(&mut listener.accept().unwrap(), "right", Welcome::new(1)).is_err());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("refused") && message.contains("wrong token"), "{message}");
}

#[test]
fn the_binary_runs_tasks_and_exits_when_the_scheduler_closes() {
    let dir = std::env::temp_dir().join(format!("rask-worker-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let listener = Listener::bind(&Address::Unix(dir.join("scheduler.sock"))).unwrap();
    let mut child = Command::new(WORKER)
        .args(["--scheduler", &listener.address().to_string(), "--nthreads", "2", "--name", "cli-test"])
        .args(["--memory-limit", "64MiB", "--local-dir"])
        .arg(&dir)
        .env("RASK_TOKEN", "cli-token")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut conn = listener.accept().unwrap();
    let hello = accept_handshake(&mut conn, "cli-token", Welcome::new(1)).unwrap();
    let Role::Worker(info) = hello.role else { panic!("{:?}", hello.role) };
    assert_eq!((info.name.as_str(), info.nthreads, info.memory_limit), ("cli-test", 2, Some(64 << 20)));
    assert_eq!(info.pid, child.id());
    assert!(matches!(&info.data_address, Address::Unix(p) if p.starts_with(&dir)));

    // A collection op: registered only if the binary links rask-collections.
    let full = FullBlock { shape: vec![5], fill: f64::wrap(Arc::new(ndarray::arr0(1.5).into_dyn())) };
    let op = EncodedOp::encode(&full).unwrap();
    let key = Key::new(Group::new("cli"), Token(1), &[0]);
    let sum_key = Key::new(Group::new("cli-sum"), Token(1), &[0]);
    let tasks = vec![
        TaskMsg { key, op: 0, args: vec![], priority: 0.into() },
        TaskMsg {
            key: sum_key,
            op: 1,
            args: vec![WireArg::Value(Value::I64(2)), WireArg::Value(Value::I64(3))],
            priority: 1.into(),
        },
    ];
    write_message(
        &mut conn,
        &ToWorker::Compute { ops: vec![op, EncodedOp::encode(&rask::graph::ops::Add).unwrap()], tasks },
    )
    .unwrap();
    let mut finished = 0;
    while finished < 2 {
        match read_message(&mut conn, MAX_FRAME_BYTES).unwrap() {
            FromWorker::Finished(batch) => finished += batch.len(),
            FromWorker::Heartbeat { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    write_message(&mut conn, &ToWorker::Gather(vec![key, sum_key])).unwrap();
    let values = loop {
        match read_message(&mut conn, MAX_FRAME_BYTES).unwrap() {
            FromWorker::Values(values) => break values,
            FromWorker::Heartbeat { .. } => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(values[1], (sum_key, Lookup::Found(Value::I64(5))));
    let expected = Value::Array(f64::wrap(Arc::new(ndarray::Array1::from_elem(5, 1.5).into_dyn())));
    assert_eq!(values[0], (key, Lookup::Found(expected)));

    // The scheduler goes away: the worker exits with 0 and removes its directory.
    drop(conn);
    drop(listener);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "the worker did not exit");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
    assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Threads of process `pid`.
fn threads_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn idle_peers_and_wrong_tokens_cannot_grow_the_data_server_without_bound() {
    use rask::scheduler::wire::{Connection, Hello, PeerReply, PeerRequest, connect_handshake};

    let listener = Listener::bind(&"tcp://127.0.0.1:0".parse::<Address>().unwrap()).unwrap();
    let mut child = Command::new(WORKER)
        .args(["--scheduler", &listener.address().to_string(), "--nthreads", "1"])
        .env("RASK_TOKEN", "cap-token")
        .spawn()
        .unwrap();
    let mut conn = listener.accept().unwrap();
    let hello = accept_handshake(&mut conn, "cap-token", Welcome::new(1)).unwrap();
    let Role::Worker(info) = hello.role else { panic!("{:?}", hello.role) };
    let before = threads_of(child.id());

    // 2,000 wrong tokens: each refused, nothing kept.
    for _ in 0..2000 {
        let mut c = Connection::connect(&info.data_address).unwrap();
        assert!(connect_handshake(&mut c, &Hello::new("guess", Role::Peer)).is_err());
    }
    // 600 peers that handshake and then sit idle: at most 256 stay open.
    let idle: Vec<Connection> = (0..600)
        .map(|_| {
            let mut c = Connection::connect(&info.data_address).unwrap();
            connect_handshake(&mut c, &Hello::new("cap-token", Role::Peer)).unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let during = threads_of(child.id());
    assert!(during <= before + 256 + 8, "{during} threads with 600 idle peers (started with {before})");
    // A new peer is still served.
    let mut fresh = Connection::connect(&info.data_address).unwrap();
    connect_handshake(&mut fresh, &Hello::new("cap-token", Role::Peer)).unwrap();
    let absent = Key::new(Group::new("cap"), Token(1), &[0]);
    write_message(&mut fresh, &PeerRequest::Get(vec![absent])).unwrap();
    let PeerReply::Values(values) = read_message(&mut fresh, MAX_FRAME_BYTES).unwrap() else { panic!() };
    assert_eq!(values, vec![(absent, Lookup::Missing)]);
    drop(idle);
    drop(conn);
    assert!(child.wait().unwrap().success());
}

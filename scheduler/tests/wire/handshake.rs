//! The handshake refuses wrong tokens, versions, magic, garbage and silence, with a
//! message on both sides, and the listener goes on to accept the next good caller.

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use rask_scheduler::wire::frame::{read_frame, write_frame};
use rask_scheduler::wire::{
    Address, Connection, Hello, Listener, PROTOCOL_VERSION, Role, Welcome, WireError, accept_handshake_within,
    connect_handshake,
};
use serde::Deserialize;

const TOKEN: &str = "s3cret";
const PATIENCE: Duration = Duration::from_millis(300);

/// The listener's answer, as a caller of any version reads it.
#[derive(Debug, Deserialize)]
enum Reply {
    #[allow(dead_code)]
    Welcome(Welcome),
    Refused {
        reason: String,
    },
}

fn hello(token: &str) -> Hello {
    Hello::new(token, Role::Client)
}

/// Sends a raw first frame and returns the listener's refusal reason.
fn refusal_for(address: &Address, frame: &[u8]) -> String {
    let mut conn = Connection::connect(address).unwrap();
    write_frame(&mut conn, frame).unwrap();
    let reply: Reply = rmp_serde::from_slice(&read_frame(&mut conn, 1 << 16).unwrap()).unwrap();
    match reply {
        Reply::Refused { reason } => reason,
        other => panic!("{other:?}"),
    }
}

fn hello_frame(magic: &[u8], version: u32, token: &str) -> Vec<u8> {
    [magic, &version.to_le_bytes(), &rmp_serde::to_vec(&hello(token)).unwrap()].concat()
}

/// Runs every bad caller, then a good one, against one listener accepting in a loop.
fn refuse_then_accept(address: &str) {
    let listener = Listener::bind(&address.parse().unwrap()).unwrap();
    let address = listener.address().clone();
    let (tx, rx) = mpsc::channel();
    let server = std::thread::spawn(move || {
        for id in 0..8 {
            let mut conn = listener.accept().unwrap();
            let outcome = accept_handshake_within(&mut conn, TOKEN, Welcome { id, limit: 12345 }, PATIENCE);
            let done = outcome.is_ok();
            tx.send(outcome).unwrap();
            if done {
                return;
            }
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let refused = |outcome: Result<Hello, WireError>, says: &str| match outcome {
        Err(WireError::Refused(why)) => assert!(why.contains(says), "{why:?} should say {says:?}"),
        other => panic!("expected a refusal saying {says:?}, got {other:?}"),
    };

    let mut conn = Connection::connect(&address).unwrap();
    let err = connect_handshake(&mut conn, &hello("wrong")).unwrap_err();
    assert!(matches!(&err, WireError::Refused(why) if why.contains("wrong token")), "{err}");
    refused(next(), "wrong token");

    let why = refusal_for(&address, &hello_frame(b"RASK", PROTOCOL_VERSION + 1, TOKEN));
    assert_eq!(why, format!("protocol version {}, this side speaks {PROTOCOL_VERSION}", PROTOCOL_VERSION + 1));
    refused(next(), "protocol version");

    let why = refusal_for(&address, &hello_frame(b"HTTP", PROTOCOL_VERSION, TOKEN));
    assert!(why.contains("bad magic"), "{why}");
    refused(next(), "bad magic");

    let mut conn = Connection::connect(&address).unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nHost: rask\r\n\r\n").unwrap();
    let reply: Reply = rmp_serde::from_slice(&read_frame(&mut conn, 1 << 16).unwrap()).unwrap();
    assert!(matches!(&reply, Reply::Refused { reason } if reason.contains("not a rask peer")), "{reply:?}");
    refused(next(), "not a rask peer");

    let mut silent = Connection::connect(&address).unwrap();
    refused(next(), "no hello within");
    let reply: Reply = rmp_serde::from_slice(&read_frame(&mut silent, 1 << 16).unwrap()).unwrap();
    assert!(matches!(&reply, Reply::Refused { reason } if reason.contains("no hello within")), "{reply:?}");

    let mut half = Connection::connect(&address).unwrap();
    half.write_all(&100u64.to_le_bytes()).unwrap();
    half.write_all(b"RASK").unwrap();
    half.shutdown();
    refused(next(), "no complete hello");
    let mut rest = Vec::new();
    let _ = half.read_to_end(&mut rest);

    // A hello trickled a byte at a time, each byte well within the patience: the deadline
    // is for the whole handshake, not for each read.
    let mut trickle = Connection::connect(&address).unwrap();
    let frame = [&(8 + 60_000u64).to_le_bytes()[..], b"RASK"].concat();
    let started = std::time::Instant::now();
    for byte in frame {
        if trickle.write_all(&[byte]).is_err() {
            break;
        }
        std::thread::sleep(PATIENCE / 4);
    }
    refused(next(), "no hello within");
    assert!(started.elapsed() < PATIENCE * 4, "refused at its deadline: {:?}", started.elapsed());

    let mut good = Connection::connect(&address).unwrap();
    let welcome = connect_handshake(&mut good, &Hello { limit: 777, ..Hello::new(TOKEN, Role::Peer) }).unwrap();
    assert_eq!(welcome, Welcome { id: 7, limit: 12345 });
    let hello = next().unwrap();
    assert_eq!((hello.role, hello.limit), (Role::Peer, 777));
    server.join().unwrap();
}

#[test]
fn bad_callers_are_refused_and_the_next_good_one_accepted_over_tcp() {
    refuse_then_accept("tcp://127.0.0.1:0");
}

#[test]
fn bad_callers_are_refused_and_the_next_good_one_accepted_over_unix() {
    let dir = std::env::temp_dir().join(format!("rask-wire-handshake-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    refuse_then_accept(&format!("unix://{}", dir.join("hs.sock").display()));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_listener_that_is_not_rask_is_reported_by_the_caller() {
    let listener = Listener::bind(&"tcp://127.0.0.1:0".parse().unwrap()).unwrap();
    let address = listener.address().clone();
    let server = std::thread::spawn(move || {
        let mut conn = listener.accept().unwrap();
        let _ = read_frame(&mut conn, 1 << 16);
        conn.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").unwrap();
        let mut conn = listener.accept().unwrap();
        let _ = read_frame(&mut conn, 1 << 16);
        write_frame(&mut conn, b"\xc1garbage").unwrap();
    });
    for _ in 0..2 {
        let mut conn = Connection::connect(&address).unwrap();
        let err = connect_handshake(&mut conn, &hello(TOKEN)).unwrap_err();
        assert!(err.to_string().contains("is not a rask peer"), "{err}");
    }
    server.join().unwrap();
}

//! The first exchange on every connection: who is calling, in which protocol version,
//! with which shared secret.
//!
//! The caller sends one frame: the magic bytes `RASK`, the protocol version as a
//! little-endian `u32`, then a MessagePack [`Hello`] body (token and role). Magic and
//! version come first, outside MessagePack, so a peer of any other version can still read
//! them and answer with a clear refusal. The listener answers with a welcome carrying the
//! id it assigns, or a refusal saying why; both sides then return an error naming the
//! reason ("protocol version 2, this side speaks 1", "wrong token").

use std::io::{ErrorKind, Write};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::frame::{read_frame, write_frame};
use super::{Address, Connection, WireError};

/// The protocol version this build speaks. Peers of another version are refused.
pub const PROTOCOL_VERSION: u32 = 1;

const MAGIC: &[u8; 4] = b"RASK";
/// A handshake frame is small; anything larger is not one.
const MAX_HANDSHAKE_BYTES: u64 = 64 * 1024;
/// How long a listener waits for the caller's hello before giving up on it.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a caller says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The shared secret.
    pub token: String,
    /// What the caller is.
    pub role: Role,
}

/// The kinds of caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Role {
    /// A worker joining a scheduler.
    Worker(WorkerInfo),
    /// A worker fetching data from another worker's data server.
    Peer,
    /// A client submitting graphs.
    Client,
}

/// A worker's description of itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// A human-readable name (host and pid by default).
    pub name: String,
    /// Threads running tasks.
    pub nthreads: u32,
    /// Bytes of values kept in memory before spilling to disk (`None`: no limit).
    pub memory_limit: Option<u64>,
    /// The worker's process id.
    pub pid: u32,
    /// Where peers fetch the values this worker holds.
    pub data_address: Address,
}

#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    Welcome { id: u64 },
    Refused { reason: String },
}

/// Sends `hello` on a fresh connection and waits for the answer; returns the id the
/// listener assigned.
///
/// ```
/// use rask_scheduler::wire::{accept_handshake, connect_handshake, Address, Connection, Hello, Listener, Role};
/// let listener = Listener::bind(&"tcp://127.0.0.1:0".parse::<Address>()?)?;
/// let address = listener.address().clone();
/// let caller = std::thread::spawn(move || {
///     let mut conn = Connection::connect(&address)?;
///     connect_handshake(&mut conn, &Hello { token: "wrong".into(), role: Role::Client })
/// });
/// let refused = accept_handshake(&mut listener.accept()?, "secret", 7);
/// assert!(refused.unwrap_err().to_string().contains("wrong token"));
/// assert!(caller.join().unwrap().unwrap_err().to_string().contains("wrong token"));
/// # Ok::<(), rask_scheduler::wire::WireError>(())
/// ```
pub fn connect_handshake(conn: &mut Connection, hello: &Hello) -> Result<u64, WireError> {
    let body = rmp_serde::to_vec(hello).map_err(|e| WireError::Encode(e.to_string()))?;
    let mut frame = Vec::with_capacity(8 + body.len());
    frame.extend_from_slice(MAGIC);
    frame.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    frame.extend_from_slice(&body);
    write_frame(conn, &frame)?;
    conn.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let reply = read_frame(conn, MAX_HANDSHAKE_BYTES);
    conn.set_read_timeout(None)?;
    let reply = match reply {
        Ok(reply) => decode_reply(&reply, conn.peer())?,
        Err(e) if is_timeout(&e) => {
            return Err(WireError::Refused(format!(
                "{} did not answer our hello within {HANDSHAKE_TIMEOUT:?}",
                conn.peer()
            )));
        }
        Err(WireError::Oversized { len, .. }) => {
            return Err(WireError::Malformed(format!(
                "{} is not a rask peer: its answer starts with a frame of {len} bytes",
                conn.peer()
            )));
        }
        Err(e) => return Err(e),
    };
    match reply {
        Reply::Welcome { id } => Ok(id),
        Reply::Refused { reason } => Err(WireError::Refused(format!("{} refused us: {reason}", conn.peer()))),
    }
}

/// Reads a caller's hello on a freshly accepted connection and checks magic, version and
/// token; answers with a welcome carrying `id`, or with a refusal (and returns the error).
/// A caller that sends nothing is refused after 10 seconds.
pub fn accept_handshake(conn: &mut Connection, token: &str, id: u64) -> Result<Hello, WireError> {
    accept_handshake_within(conn, token, id, HANDSHAKE_TIMEOUT)
}

/// [`accept_handshake`] waiting at most `timeout` for the hello. Whatever goes wrong
/// (silence, garbage, a truncated hello, wrong magic, version or token), the caller is sent
/// a refusal saying why, as far as it still listens, and the error returned says the same.
pub fn accept_handshake_within(
    conn: &mut Connection,
    token: &str,
    id: u64,
    timeout: Duration,
) -> Result<Hello, WireError> {
    conn.set_read_timeout(Some(timeout))?;
    let frame = read_frame(conn, MAX_HANDSHAKE_BYTES);
    conn.set_read_timeout(None)?;
    let checked = match frame {
        Ok(frame) => check_hello(&frame, token),
        Err(WireError::Closed) => {
            return Err(WireError::Refused(format!("{} closed the connection before its hello", conn.peer())));
        }
        Err(e) if is_timeout(&e) => Err(format!("no hello within {timeout:?}")),
        Err(WireError::Oversized { len, .. }) => Err(format!("not a rask peer (a first frame of {len} bytes)")),
        Err(e) => Err(format!("no complete hello ({e})")),
    };
    match checked {
        Ok(hello) => {
            send_reply(conn, &Reply::Welcome { id })?;
            Ok(hello)
        }
        Err(reason) => {
            // Best effort: the caller may not be a rask peer at all.
            let _ = send_reply(conn, &Reply::Refused { reason: reason.clone() });
            Err(WireError::Refused(format!("refused {}: {reason}", conn.peer())))
        }
    }
}

/// Whether a read failed because its timeout expired.
fn is_timeout(e: &WireError) -> bool {
    matches!(e, WireError::Io { source, .. } if matches!(source.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

fn check_hello(frame: &[u8], token: &str) -> Result<Hello, String> {
    if frame.len() < 8 || &frame[..4] != MAGIC {
        return Err("not a rask peer (bad magic bytes)".to_string());
    }
    let version = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
    if version != PROTOCOL_VERSION {
        return Err(format!("protocol version {version}, this side speaks {PROTOCOL_VERSION}"));
    }
    let hello: Hello = rmp_serde::from_slice(&frame[8..]).map_err(|e| format!("malformed hello: {e}"))?;
    if !constant_time_eq(hello.token.as_bytes(), token.as_bytes()) {
        return Err("wrong token".to_string());
    }
    Ok(hello)
}

fn send_reply<W: Write>(conn: &mut W, reply: &Reply) -> Result<(), WireError> {
    let body = rmp_serde::to_vec(reply).map_err(|e| WireError::Encode(e.to_string()))?;
    write_frame(conn, &body)
}

fn decode_reply(frame: &[u8], peer: &str) -> Result<Reply, WireError> {
    rmp_serde::from_slice(frame).map_err(|e| {
        WireError::Malformed(format!("{peer} is not a rask peer: its handshake reply does not decode ({e})"))
    })
}

/// Compares secrets without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

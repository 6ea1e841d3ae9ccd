//! The first exchange on every connection: who is calling, in which protocol version,
//! with which shared secret.
//!
//! The caller sends one frame: the magic bytes `RASK`, the protocol version as a
//! little-endian `u32`, then a MessagePack [`Hello`] body (token and role). Magic and
//! version come first, outside MessagePack, so a peer of any other version can still read
//! them and answer with a clear refusal. The listener answers with a [`Welcome`] carrying
//! the id it assigns, or a refusal saying why; both sides then return an error naming the
//! reason ("protocol version 1, this side speaks 2", "wrong token").
//!
//! Each side also says the largest message it takes (its [`transfer_limit`]), so a sender
//! refuses a message the receiver would not take, as an error of that message, instead of
//! the receiver closing the connection on it.
//!
//! A handshake has one deadline for the whole exchange, not one per read: a caller that
//! trickles its hello a byte at a time is refused when the deadline passes.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::frame::{read_frame, write_frame};
use super::{Address, Connection, WireError, transfer_limit};

/// The protocol version this build speaks. Peers of another version are refused.
/// Version 2 added the transfer limits to the handshake; version 3 packs a submission's
/// tasks (`scheduler/src/wire/packed.rs`).
pub const PROTOCOL_VERSION: u32 = 4;

const MAGIC: &[u8; 4] = b"RASK";
/// A handshake frame is small; anything larger is not one.
const MAX_HANDSHAKE_BYTES: u64 = 64 * 1024;
/// How long a handshake may take in all, on either side.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a listener may take to send its answer, once the hello is read or given up on.
const REPLY_GRACE: Duration = Duration::from_secs(1);

/// What a caller says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The shared secret.
    pub token: String,
    /// What the caller is.
    pub role: Role,
    /// The largest message, in bytes, the caller takes on this connection.
    pub limit: u64,
}

impl Hello {
    /// A hello taking messages up to this host's [`transfer_limit`].
    ///
    /// ```
    /// use rask_scheduler::wire::{transfer_limit, Hello, Role};
    /// let hello = Hello::new("secret", Role::Peer);
    /// assert_eq!(hello.limit, transfer_limit());
    /// ```
    pub fn new(token: impl Into<String>, role: Role) -> Hello {
        Hello { token: token.into(), role, limit: transfer_limit() }
    }
}

/// A listener's answer to an accepted hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The id the listener gives the connection.
    pub id: u64,
    /// The largest message, in bytes, the listener takes on this connection.
    pub limit: u64,
}

impl Welcome {
    /// A welcome with id `id`, taking messages up to this host's [`transfer_limit`].
    pub fn new(id: u64) -> Welcome {
        Welcome { id, limit: transfer_limit() }
    }
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
    Welcome(Welcome),
    Refused { reason: String },
}

/// Sends `hello` on a fresh connection and waits for the answer, [`HANDSHAKE_TIMEOUT`] in
/// all; returns the listener's [`Welcome`] (the id it assigned, the limit it takes).
///
/// ```
/// use rask_scheduler::wire::{accept_handshake, connect_handshake, Address, Connection, Hello, Listener, Role, Welcome};
/// let listener = Listener::bind(&"tcp://127.0.0.1:0".parse::<Address>()?)?;
/// let address = listener.address().clone();
/// let caller = std::thread::spawn(move || {
///     let mut conn = Connection::connect(&address)?;
///     connect_handshake(&mut conn, &Hello::new("wrong", Role::Client))
/// });
/// let refused = accept_handshake(&mut listener.accept()?, "secret", Welcome::new(7));
/// assert!(refused.unwrap_err().to_string().contains("wrong token"));
/// assert!(caller.join().unwrap().unwrap_err().to_string().contains("wrong token"));
/// # Ok::<(), rask_scheduler::wire::WireError>(())
/// ```
pub fn connect_handshake(conn: &mut Connection, hello: &Hello) -> Result<Welcome, WireError> {
    let body = rmp_serde::to_vec(hello).map_err(|e| WireError::Encode(e.to_string()))?;
    let mut frame = Vec::with_capacity(8 + body.len());
    frame.extend_from_slice(MAGIC);
    frame.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    frame.extend_from_slice(&body);
    let mut within = Within::new(conn, HANDSHAKE_TIMEOUT);
    let reply = write_frame(&mut within, &frame).and_then(|()| read_frame(&mut within, MAX_HANDSHAKE_BYTES));
    within.done()?;
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
        Reply::Welcome(welcome) => Ok(welcome),
        Reply::Refused { reason } => Err(WireError::Refused(format!("{} refused us: {reason}", conn.peer()))),
    }
}

/// Reads a caller's hello on a freshly accepted connection and checks magic, version and
/// token; answers with `welcome`, or with a refusal (and returns the error). The whole
/// exchange may take [`HANDSHAKE_TIMEOUT`].
pub fn accept_handshake(conn: &mut Connection, token: &str, welcome: Welcome) -> Result<Hello, WireError> {
    accept_handshake_within(conn, token, welcome, HANDSHAKE_TIMEOUT)
}

/// [`accept_handshake`] within `timeout` in all. Whatever goes wrong (silence, garbage, a
/// hello trickled too slowly or cut short, wrong magic, version or token), the caller is
/// sent a refusal saying why, as far as it still listens, and the error returned says the
/// same.
pub fn accept_handshake_within(
    conn: &mut Connection,
    token: &str,
    welcome: Welcome,
    timeout: Duration,
) -> Result<Hello, WireError> {
    let mut within = Within::new(conn, timeout);
    let frame = read_frame(&mut within, MAX_HANDSHAKE_BYTES);
    let checked = match frame {
        Ok(frame) => check_hello(&frame, token),
        Err(WireError::Closed) => {
            return Err(WireError::Refused(format!("{} closed the connection before its hello", conn.peer())));
        }
        Err(e) if is_timeout(&e) => Err(format!("no hello within {timeout:?}")),
        Err(WireError::Oversized { len, .. }) => Err(format!("not a rask peer (a first frame of {len} bytes)")),
        Err(e) => Err(format!("no complete hello ({e})")),
    };
    let peer = within.conn.peer().to_string();
    // The answer may take a moment even when the hello used up the time (a refusal of a
    // silent caller says why).
    within.deadline = within.deadline.max(Instant::now() + REPLY_GRACE);
    let outcome = match checked {
        Ok(hello) => send_reply(&mut within, &Reply::Welcome(welcome)).map(|()| hello),
        Err(reason) => {
            // Best effort: the caller may not be a rask peer at all.
            let _ = send_reply(&mut within, &Reply::Refused { reason: reason.clone() });
            Err(WireError::Refused(format!("refused {peer}: {reason}")))
        }
    };
    within.done()?;
    outcome
}

/// A connection whose reads and writes all end by one deadline; [`Within::done`] lifts it.
struct Within<'c> {
    conn: &'c mut Connection,
    deadline: Instant,
}

impl<'c> Within<'c> {
    fn new(conn: &'c mut Connection, timeout: Duration) -> Within<'c> {
        Within { conn, deadline: Instant::now() + timeout }
    }

    /// The time left, or a timeout error once it is gone.
    fn left(&self) -> std::io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() { Err(ErrorKind::TimedOut.into()) } else { Ok(left) }
    }

    /// Clears the timeouts set on the connection.
    fn done(self) -> Result<(), WireError> {
        self.conn.set_read_timeout(None)?;
        self.conn.set_write_timeout(None)
    }
}

impl Read for Within<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.left()?;
        self.conn.set_read_timeout(Some(left)).map_err(std::io::Error::other)?;
        self.conn.read(buf)
    }
}

impl Write for Within<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let left = self.left()?;
        self.conn.set_write_timeout(Some(left)).map_err(std::io::Error::other)?;
        self.conn.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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
        if hello.token.is_empty() {
            return Err("wrong token: none was given (set RASK_TOKEN)".to_string());
        }
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

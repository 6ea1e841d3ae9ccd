//! One peer's connection as a pair of threads: see [`Link`].
//!
//! Sending takes the fast way when it can: if nothing is queued and the socket takes the
//! whole frame at once (the common case: the peer reads), the owner's thread writes it
//! without waiting (`MSG_DONTWAIT`), sparing a thread hop per message. Otherwise the frame
//! (or what the socket did not take of it) goes to the writer thread, in order.

use std::io::Read;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::wire::{Connection, Encoded, ReadUninit, WireError, encode_message, read_message_uninit};

/// A write that can send nothing for this long ends the connection: the peer stopped
/// reading. The owner's own liveness checks (a worker's ttl) usually act first.
const WRITE_STALL: Duration = Duration::from_secs(120);
/// Stack of a link's threads: they only frame and decode messages.
const STACK: usize = 256 << 10;

/// What a link's reader reports on its owner's channel, tagged with the link's id.
#[derive(Debug)]
pub(crate) enum Incoming<M> {
    /// A message.
    Message(M),
    /// The connection closed or failed (in either direction); the reason. Reported at
    /// most twice (once by each thread), so the owner handles the first and ignores the
    /// rest.
    Closed(String),
}

/// One peer's connection; see the [module docs](super).
///
/// Dropping the link lets its writer send what is queued, then both threads end when the
/// peer closes; [`Link::close`] ends them at once.
#[derive(Debug)]
pub(crate) struct Link {
    control: Connection,
    queue: Sender<Job>,
    /// Held while bytes are written, by the owner's fast path or the writer thread.
    writing: Arc<Mutex<()>>,
    /// Frames queued or being written by the writer thread.
    pending: Arc<AtomicUsize>,
    /// The largest message the peer takes.
    limit: u64,
    /// Milliseconds after `born` at which bytes last arrived.
    heard: Arc<AtomicU64>,
    born: Instant,
}

impl Link {
    /// Starts the reader and writer threads of `conn`. Messages read (each at most
    /// `receive_limit` bytes) go to `incoming` as `wrap(id, message)`; messages sent must
    /// fit `send_limit`, the peer's limit from the handshake.
    pub fn start<M: DeserializeOwned + Send + 'static, T: Send + 'static>(
        conn: Connection,
        id: u64,
        send_limit: u64,
        receive_limit: u64,
        incoming: Sender<T>,
        wrap: fn(u64, Incoming<M>) -> T,
    ) -> Result<Link, WireError> {
        let reader = conn.try_clone()?;
        let mut writer = conn.try_clone()?;
        writer.set_write_timeout(Some(WRITE_STALL))?;
        let (queue, jobs) = crossbeam_channel::unbounded::<Job>();
        let writing = Arc::new(Mutex::new(()));
        let pending = Arc::new(AtomicUsize::new(0));
        let born = Instant::now();
        let heard = Arc::new(AtomicU64::new(0));
        let peer = conn.peer().to_string();
        {
            let (heard, incoming) = (heard.clone(), incoming.clone());
            let mut reader = Heard { conn: reader, heard, born };
            spawn(format!("rask-read-{id}"), move || {
                loop {
                    match read_message_uninit::<_, M>(&mut reader, receive_limit) {
                        Ok(message) => {
                            if incoming.send(wrap(id, Incoming::Message(message))).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            reader.conn.shutdown();
                            let _ = incoming.send(wrap(id, Incoming::Closed(e.to_string())));
                            return;
                        }
                    }
                }
            })?;
        }
        {
            let (writing, pending) = (writing.clone(), pending.clone());
            spawn(format!("rask-write-{id}"), move || {
                for Job { frame, sent } in jobs {
                    let written = {
                        let _writing = writing.lock().unwrap_or_else(|e| e.into_inner());
                        frame.write_rest(&mut writer, sent)
                    };
                    pending.fetch_sub(1, Ordering::SeqCst);
                    if let Err(e) = written {
                        writer.shutdown();
                        let _ = incoming.send(wrap(id, Incoming::Closed(format!("cannot send to {peer}: {e}"))));
                        return;
                    }
                }
            })
            .inspect_err(|_| conn.shutdown())?;
        }
        Ok(Link { control: conn, queue, writing, pending, limit: send_limit, heard, born })
    }

    /// Encodes `message` and queues it; never waits for the peer. An `Err` is an error of
    /// this message only (it cannot be encoded, or exceeds the peer's limit); a failure to
    /// send comes later as [`Incoming::Closed`].
    pub fn send<M: Serialize + ?Sized>(&self, message: &M) -> Result<(), WireError> {
        self.send_encoded(encode_message(message, self.limit)?);
        Ok(())
    }

    /// Sends a frame already encoded (within [`Link::limit`]): at once if nothing is
    /// queued and the socket takes it whole, else through the writer thread.
    pub fn send_encoded(&self, frame: Encoded) {
        let sent = match self.writing.try_lock() {
            // Nothing queued nor being written: these bytes come next on the wire.
            Ok(_writing) if self.pending.load(Ordering::SeqCst) == 0 => match frame.send_now(&self.control) {
                Ok(sent) if sent == frame.len() => return,
                Ok(sent) => sent,
                // The writer thread meets the same error and reports it.
                Err(_) => 0,
            },
            _ => 0,
        };
        self.pending.fetch_add(1, Ordering::SeqCst);
        // A writer that ended has reported why; the frame has nowhere to go.
        let _ = self.queue.send(Job { frame, sent });
    }

    /// How long since bytes last arrived from the peer (or since the link started).
    pub fn silent_for(&self) -> Duration {
        let heard = Duration::from_millis(self.heard.load(Ordering::Relaxed));
        self.born.elapsed().saturating_sub(heard)
    }

    /// Closes the connection in both directions; both threads end. Frames still queued
    /// for the writer thread are dropped: see [`Link::close_after_flush`].
    pub fn close(&self) {
        self.control.shutdown();
    }

    /// Closes the connection once the frames queued for the writer thread are out,
    /// waiting at most `timeout` (a peer that reads nothing does not hold the caller), as
    /// a client that says goodbye does.
    pub fn close_after_flush(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.pending.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.close();
    }
}

/// A frame for the writer thread, of which the first `sent` bytes went out already.
#[derive(Debug)]
struct Job {
    frame: Encoded,
    sent: u64,
}

fn spawn(name: String, body: impl FnOnce() + Send + 'static) -> Result<(), WireError> {
    std::thread::Builder::new()
        .name(name)
        .stack_size(STACK)
        .spawn(body)
        .map(drop)
        .map_err(|e| WireError::io("cannot start a connection thread", e))
}

/// A reader that notes when bytes last arrived.
struct Heard {
    conn: Connection,
    heard: Arc<AtomicU64>,
    born: Instant,
}

impl Heard {
    fn note(&self, n: usize) {
        if n > 0 {
            self.heard.store(self.born.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
    }
}

impl Read for Heard {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.conn.read(buf)?;
        self.note(n);
        Ok(n)
    }
}

impl ReadUninit for Heard {
    fn read_uninit<'a>(&mut self, buf: &'a mut [std::mem::MaybeUninit<u8>]) -> std::io::Result<&'a mut [u8]> {
        let read = self.conn.read_uninit(buf)?;
        self.note(read.len());
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Address, Listener, ToWorker, read_message};

    fn pair() -> (Connection, Connection) {
        let listener = Listener::bind(&"tcp://127.0.0.1:0".parse::<Address>().unwrap()).unwrap();
        let a = Connection::connect(listener.address()).unwrap();
        (a, listener.accept().unwrap())
    }

    #[test]
    fn sending_to_a_peer_that_never_reads_does_not_block() {
        let (ours, theirs) = pair();
        let (tx, rx) = crossbeam_channel::unbounded::<(u64, Incoming<ToWorker>)>();
        let link = Link::start(ours, 7, u64::MAX, u64::MAX, tx, |id, m| (id, m)).unwrap();
        let big = rask_graph::Value::Bytes(vec![0u8; 4 << 20].into());
        let started = Instant::now();
        for _ in 0..64 {
            link.send(&big).unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(5), "256 MB queued without waiting for the peer");
        assert!(link.silent_for() < Duration::from_secs(5));
        link.close();
        let (id, closed) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(id, 7);
        assert!(matches!(closed, Incoming::Closed(_)));
        drop(theirs);
    }

    #[test]
    fn a_message_over_the_peers_limit_is_an_error_of_that_message() {
        let (ours, mut theirs) = pair();
        let (tx, _rx) = crossbeam_channel::unbounded::<(u64, Incoming<ToWorker>)>();
        let link = Link::start(ours, 1, 1000, u64::MAX, tx, |id, m| (id, m)).unwrap();
        let e = link.send(&rask_graph::Value::Bytes(vec![0u8; 5000].into())).unwrap_err();
        assert!(matches!(e, WireError::Oversized { max: 1000, .. }), "{e}");
        link.send(&ToWorker::Release(vec![])).unwrap();
        let m: ToWorker = read_message(&mut theirs, 1 << 20).unwrap();
        assert!(matches!(m, ToWorker::Release(k) if k.is_empty()), "the link still works");
    }
}

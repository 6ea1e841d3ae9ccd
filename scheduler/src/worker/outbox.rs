//! The only writer of the scheduler connection. `Finished` notices are batched: they are
//! flushed when the worker has no ready or running task left (and nothing else queued for
//! the outbox), or when the oldest has waited [`FLUSH_EVERY`], so a busy worker sends one
//! frame per batch, never one per task. Other messages flush the batch first, keeping
//! the order the scheduler sees. A `Heartbeat` goes out every [`HEARTBEAT_EVERY`].

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::Shared;
use crate::wire::{Connection, Finished, FromWorker, WireError, write_message};

/// The longest a `Finished` notice waits for companions.
pub(super) const FLUSH_EVERY: Duration = Duration::from_millis(2);
/// How often memory use is reported.
pub(super) const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// What the other threads hand the outbox.
#[derive(Debug)]
pub(super) enum Out {
    /// A task finished; batched.
    Finished(Finished),
    /// Any other message; sent at once (after the pending batch).
    Message(FromWorker),
    /// Flush and exit.
    Stop,
}

/// The outbox thread's loop.
pub(super) fn run(conn: Connection, messages: Receiver<Out>, shared: &Shared) {
    let mut outbox = Outbox { conn, batch: Vec::new(), oldest: None, broken: false };
    let mut next_heartbeat = Instant::now() + HEARTBEAT_EVERY;
    loop {
        let deadline = outbox.oldest.map_or(next_heartbeat, |t| (t + FLUSH_EVERY).min(next_heartbeat));
        match messages.recv_deadline(deadline) {
            Ok(Out::Finished(finished)) => {
                outbox.oldest.get_or_insert_with(Instant::now);
                outbox.batch.push(finished);
            }
            Ok(Out::Message(message)) => {
                outbox.flush();
                outbox.send(&message);
            }
            Ok(Out::Stop) | Err(RecvTimeoutError::Disconnected) => {
                outbox.flush();
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        let idle = messages.is_empty() && shared.active.load(Ordering::SeqCst) == 0;
        if outbox.oldest.is_some_and(|t| idle || t.elapsed() >= FLUSH_EVERY) {
            outbox.flush();
        }
        if Instant::now() >= next_heartbeat {
            let usage = shared.store.usage();
            outbox.send(&FromWorker::Heartbeat { memory: usage.memory, spilled: usage.spilled });
            next_heartbeat = Instant::now() + HEARTBEAT_EVERY;
        }
    }
}

struct Outbox {
    conn: Connection,
    batch: Vec<Finished>,
    oldest: Option<Instant>,
    broken: bool,
}

impl Outbox {
    fn flush(&mut self) {
        self.oldest = None;
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            self.send(&FromWorker::Finished(batch));
        }
    }

    fn send(&mut self, message: &FromWorker) {
        if self.broken {
            return;
        }
        if let Err(e) = write_message(&mut self.conn, message) {
            // The scheduler is gone: close the connection so the control loop ends too.
            if !matches!(e, WireError::Encode(_)) {
                tracing::info!(error = %e, "cannot write to the scheduler; stopping");
                self.broken = true;
                self.conn.shutdown();
            } else {
                tracing::error!(error = %e, "a message to the scheduler could not be encoded; dropped");
            }
        }
    }
}

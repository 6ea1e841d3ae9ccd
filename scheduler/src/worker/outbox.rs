//! The only writer of the scheduler connection. `Finished` notices are batched: they are
//! flushed when the worker has no ready or running task left (and nothing else queued for
//! the outbox), or when the oldest has waited [`FLUSH_EVERY`], so a busy worker sends one
//! frame per batch, never one per task. Other messages flush the batch first, keeping
//! the order the scheduler sees. A `Heartbeat` goes out every [`HEARTBEAT_EVERY`].
//!
//! A message that cannot be sent (it cannot be encoded, or exceeds the scheduler's
//! transfer limit) is an error of that message, logged and dropped; only a failing
//! socket means the scheduler is gone. Answers to `Gather` come already encoded within
//! the limit ([`answer`](super::answer)).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::Shared;
use crate::wire::{Connection, Encoded, Finished, FromWorker, Heartbeat, encode_message};

/// The longest a `Finished` notice waits for companions.
pub(super) const FLUSH_EVERY: Duration = Duration::from_millis(2);
/// How often memory use is reported (a scheduler's ttl for its workers is a multiple).
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// What the other threads hand the outbox.
#[derive(Debug)]
pub(super) enum Out {
    /// A task finished; batched.
    Finished(Finished),
    /// Any other message; sent at once (after the pending batch).
    Message(FromWorker),
    /// A message encoded already; sent at once (after the pending batch).
    Frame(Encoded),
    /// Flush and exit.
    Stop,
}

/// The outbox thread's loop.
pub(super) fn run(conn: Connection, messages: Receiver<Out>, shared: &Shared) {
    let mut outbox = Outbox { conn, limit: shared.scheduler_limit, batch: Vec::new(), oldest: None, broken: false };
    // The first at once: the scheduler knows how the worker is doing from the start.
    let mut next_heartbeat = Instant::now();
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
            Ok(Out::Frame(frame)) => {
                outbox.flush();
                outbox.write(&frame);
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
            rask_graph::alloc::trim(rask_graph::alloc::KEEP);
            outbox.send(&FromWorker::Heartbeat(heartbeat(shared)));
            next_heartbeat = Instant::now() + HEARTBEAT_EVERY;
        }
    }
}

/// The worker's report: memory (values, spilled, the process's), CPU, tasks.
fn heartbeat(shared: &Shared) -> Heartbeat {
    let usage = shared.store.usage();
    let (executing, queued) = {
        let tasks = shared.lock_tasks();
        (tasks.running() as u32, tasks.queued() as u32)
    };
    Heartbeat {
        memory: usage.memory,
        spilled: usage.spilled,
        rss: super::monitor::rss().unwrap_or(0),
        cpu_percent: shared.monitor.cpu_percent(),
        executing,
        queued,
        paused: shared.monitor.paused(),
    }
}

struct Outbox {
    conn: Connection,
    /// The largest message the scheduler takes.
    limit: u64,
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
        match encode_message(message, self.limit) {
            Ok(frame) => self.write(&frame),
            Err(e) => tracing::error!(error = %e, "a message to the scheduler cannot be sent; dropped"),
        }
    }

    fn write(&mut self, frame: &Encoded) {
        if self.broken {
            return;
        }
        if let Err(e) = frame.write_to(&mut self.conn) {
            // The scheduler is gone: close the connection so the control loop ends too.
            tracing::info!(error = %e, "cannot write to the scheduler; stopping");
            self.broken = true;
            self.conn.shutdown();
        }
    }
}

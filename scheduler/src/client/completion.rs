//! Waiting on many futures at once: [`wait`] (all, or the first), [`as_completed`] (each
//! as it finishes, as an iterator or a `Stream`), and the wakers behind them and behind
//! `.await`.
//!
//! Each future keeps a list of wakers ([`WakeList`]) that the client's router wakes when
//! news of it arrive (or the connection ends), and that the future wakes when it settles
//! on its own (cancelled). A wait over many futures registers on each a waker that sends
//! the future's index to one channel ([`Watch`]), so finding the next finished future
//! costs the news it got, not a look at every pending one.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::future::{Future, FutureStatus};

/// The tasks to wake when a future has news.
#[derive(Debug, Default)]
pub(crate) struct WakeList(Mutex<Vec<Waker>>);

impl WakeList {
    /// Adds `waker` unless it would wake the same task as one already there.
    pub fn register(&self, waker: &Waker) {
        let mut wakers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }

    /// Wakes (and forgets) every waker registered.
    pub fn wake_all(&self) {
        let wakers = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// Sends one future's index to its watch's channel, and wakes the task polling the watch.
struct Hit {
    index: usize,
    hits: Sender<usize>,
    outer: Arc<Mutex<Option<Waker>>>,
}

impl Wake for Hit {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let _ = self.hits.send(self.index);
        if let Some(outer) = self.outer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            outer.wake();
        }
    }
}

/// Which of a list of futures may have news: see the module docs.
#[derive(Debug)]
struct Watch {
    hits: Receiver<usize>,
    wakers: Vec<Waker>,
    outer: Arc<Mutex<Option<Waker>>>,
}

impl Watch {
    /// A watch over `n` futures, each due for a first look.
    fn new(n: usize) -> Watch {
        let (sender, hits) = crossbeam_channel::unbounded();
        let outer = Arc::new(Mutex::new(None));
        let wakers = (0..n)
            .map(|index| {
                let _ = sender.send(index);
                Waker::from(Arc::new(Hit { index, hits: sender.clone(), outer: outer.clone() }))
            })
            .collect();
        Watch { hits, wakers, outer }
    }

    /// Whether `future` (the `index`-th) is done; if not, its next news will be a hit.
    fn is_done(&self, index: usize, future: &Future) -> bool {
        // The waker first, then the news: news coming between the two still hit.
        future.wakers().register(&self.wakers[index]);
        future.status() != FutureStatus::Pending
    }
}

/// Which futures [`wait`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// Every one finished (or failed).
    All,
    /// The first one finished (or failed).
    First,
}

/// Waits until all (or the first) of `futures` have an outcome, at most `timeout`;
/// returns the indices of those done and of those not done, in order. Failed futures
/// count as done; their errors are theirs to [`Future::result`].
///
/// ```no_run
/// use rask_graph::{ops, Value};
/// use rask_scheduler::{wait, Client, WaitFor};
/// let client = Client::connect("tcp://127.0.0.1:8786".parse()?)?;
/// let futures = client.map(&ops::Inc, (0..4).map(|i| [Value::I64(i).into()]))?;
/// let (done, pending) = wait(&futures, WaitFor::All, None);
/// assert_eq!((done.len(), pending.len()), (4, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn wait(futures: &[Future], until: WaitFor, timeout: Option<Duration>) -> (Vec<usize>, Vec<usize>) {
    let deadline = timeout.map(|t| Instant::now() + t);
    let watch = Watch::new(futures.len());
    let mut done = vec![false; futures.len()];
    let mut finished = 0;
    let enough = |finished: usize| match until {
        WaitFor::All => finished == futures.len(),
        WaitFor::First => finished > 0 || futures.is_empty(),
    };
    while !enough(finished) {
        let hit = match deadline {
            Some(deadline) => watch.hits.recv_deadline(deadline).ok(),
            None => watch.hits.recv().ok(),
        };
        let Some(i) = hit else { break };
        if !done[i] && watch.is_done(i, &futures[i]) {
            done[i] = true;
            finished += 1;
        }
    }
    (0..futures.len()).partition(|&i| done[i])
}

/// The futures as they finish (or fail), each once: an iterator that blocks for the next,
/// and a `futures_core::Stream` for async code.
///
/// ```no_run
/// use rask_graph::{ops, Value};
/// let client = rask_scheduler::Client::connect("tcp://127.0.0.1:8786".parse()?)?;
/// let futures = client.map(&ops::Inc, (0..4).map(|i| [Value::I64(i).into()]))?;
/// for future in rask_scheduler::as_completed(futures) {
///     println!("{} = {:?}", future.key(), future.result());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn as_completed(futures: impl IntoIterator<Item = Future>) -> AsCompleted {
    let pending: Vec<Option<Future>> = futures.into_iter().map(Some).collect();
    let watch = Watch::new(pending.len());
    AsCompleted { left: pending.len(), pending, watch }
}

/// See [`as_completed`].
#[derive(Debug)]
pub struct AsCompleted {
    pending: Vec<Option<Future>>,
    left: usize,
    watch: Watch,
}

impl AsCompleted {
    /// The future of hit `index`, if it is done (it then leaves the pending ones).
    fn take_if_done(&mut self, index: usize) -> Option<Future> {
        let future = self.pending.get(index)?.as_ref()?;
        if !self.watch.is_done(index, future) {
            return None;
        }
        self.left -= 1;
        self.pending[index].take()
    }
}

impl Iterator for AsCompleted {
    type Item = Future;

    fn next(&mut self) -> Option<Future> {
        while self.left > 0 {
            // The watch holds a sender of its own channel: this waits for a hit.
            let index = self.watch.hits.recv().ok()?;
            if let Some(future) = self.take_if_done(index) {
                return Some(future);
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl futures_core::Stream for AsCompleted {
    type Item = Future;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Future>> {
        loop {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            match self.watch.hits.try_recv() {
                Ok(index) => {
                    if let Some(future) = self.take_if_done(index) {
                        return Poll::Ready(Some(future));
                    }
                }
                Err(_) => {
                    *self.watch.outer.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
                    // A hit between the look and the waker's registration is not missed.
                    if self.watch.hits.is_empty() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

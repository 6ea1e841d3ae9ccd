//! Futures: single calls run on the cluster as the program decides ([`Client::submit`]),
//! their values fetched when wanted ([`Future::result`], [`Client::gather`]).
//!
//! A future is a run of its client holding one key: the scheduler keeps the key's value
//! on the cluster while the run holds it, tells the client when it is ready, and sends the
//! value only when asked ([`Future::result`]). Dropping the last handle of a future releases the key (the
//! scheduler forgets it once no other run, of this client or another, wants it). A
//! future passed as an argument is resolved on the cluster, the value never coming back
//! through the client; the new future holds its inputs until it has its own outcome.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crossbeam_channel::Receiver;
use rask_graph::{Group, Key, Op, Token, TokenHasher, Value, op_token};

use super::completion::{WaitFor, WakeList, wait};
use super::remote::{Client, Route, Session};
use crate::error::SchedulerError;
use crate::wire::{
    EncodedOp, FromScheduler, Lookup, Placement, Submission, SubmitArg, SubmitOp, SubmitTask, ToScheduler,
};

/// An argument of a submitted call: a value, or another future's value.
///
/// ```
/// use rask_graph::Value;
/// use rask_scheduler::CallArg;
/// let arg: CallArg = Value::I64(1).into();
/// assert!(matches!(arg, CallArg::Value(Value::I64(1))));
/// ```
#[derive(Debug, Clone)]
pub enum CallArg {
    /// A literal.
    Value(Value),
    /// The value of a future of the same client, read on the cluster.
    Future(Future),
}

impl From<Value> for CallArg {
    fn from(value: Value) -> CallArg {
        CallArg::Value(value)
    }
}

impl From<Future> for CallArg {
    fn from(future: Future) -> CallArg {
        CallArg::Future(future)
    }
}

impl From<&Future> for CallArg {
    fn from(future: &Future) -> CallArg {
        CallArg::Future(future.clone())
    }
}

/// How [`Client::submit_with`] submits a call (and [`Client::map_with`] each call).
///
/// ```
/// use rask_scheduler::SubmitOptions;
/// let urgent_on_a = SubmitOptions { priority: 10, workers: vec!["a".into()], ..Default::default() };
/// assert!(urgent_on_a.pure && !urgent_on_a.allow_other_workers);
/// ```
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// Times the call runs again after its op fails, before it errs (Dask's `retries`).
    pub retries: u32,
    /// Whether equal calls share a key (true, Dask's `pure=True`); false gives the call a
    /// key of its own, so it runs again even when an equal call is held.
    pub pure: bool,
    /// The call's key, instead of one made from the op and arguments (for one call).
    pub key: Option<Key>,
    /// Higher runs sooner, ahead of calls submitted earlier (Dask's `priority`).
    pub priority: i32,
    /// The workers the call may run on, by name, address or host; empty: any (Dask's
    /// `workers`). Names are listed by [`Client::scheduler_info`].
    pub workers: Vec<String>,
    /// Whether another worker may run it while none of `workers` is connected (Dask's
    /// `allow_other_workers`); without, the call waits for one of them.
    pub allow_other_workers: bool,
}

impl Default for SubmitOptions {
    fn default() -> SubmitOptions {
        SubmitOptions {
            retries: 0,
            pure: true,
            key: None,
            priority: 0,
            workers: Vec::new(),
            allow_other_workers: false,
        }
    }
}

impl SubmitOptions {
    fn placement(&self) -> Placement {
        Placement {
            priority: self.priority,
            workers: self.workers.clone(),
            allow_other_workers: self.allow_other_workers,
        }
    }
}

/// Where a future stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FutureStatus {
    /// Not finished yet (or not heard of yet).
    Pending,
    /// Its value is on the cluster.
    Finished,
    /// It failed (or could not be computed or fetched).
    Error,
}

/// A call running on the cluster, and then its value kept there: see the module docs.
/// Clones share the call; the key is released when the last is dropped.
///
/// ```no_run
/// use rask_graph::{ops, Value};
/// use rask_scheduler::{CallArg, Client};
/// let client = Client::connect("tcp://127.0.0.1:8786".parse()?)?;
/// let one = client.submit(&ops::Inc, [Value::I64(0).into()])?;
/// let two = client.submit(&ops::Inc, [CallArg::from(&one)])?; // read on the cluster
/// assert_eq!(two.result()?, Value::I64(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Future(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    key: Key,
    run: u64,
    session: Arc<Session>,
    news: Receiver<FromScheduler>,
    outcome: OnceLock<Result<Value, SchedulerError>>,
    /// Whether the scheduler said the value is ready on the cluster.
    ready: AtomicBool,
    /// Whether the value was asked for.
    fetched: AtomicBool,
    /// The async task awaiting the value, woken by the client's router.
    wakers: Arc<WakeList>,
    /// Held while waiting for the news, so one thread reads them.
    waiting: Mutex<()>,
    /// The futures it reads, kept until it has an outcome.
    inputs: Mutex<Vec<Future>>,
}

impl Future {
    /// The key of the call's value on the cluster.
    pub fn key(&self) -> Key {
        self.0.key
    }

    /// Waits for the call and fetches its value; an error of the call (or of a call it
    /// reads) is the task's error, naming its key.
    pub fn result(&self) -> Result<Value, SchedulerError> {
        if let Some(outcome) = self.0.outcome.get() {
            return outcome.clone();
        }
        let _waiting = self.0.waiting.lock().unwrap_or_else(|e| e.into_inner());
        self.fetch();
        while self.0.outcome.get().is_none() {
            let news = self.0.news.recv().map_err(|_| crossbeam_channel::TryRecvError::Disconnected);
            self.take(news);
        }
        self.0.outcome.get().expect("set above").clone()
    }

    /// Takes one piece of news (or the end of them); false when there was none to take.
    fn take(&self, news: Result<FromScheduler, crossbeam_channel::TryRecvError>) -> bool {
        let outcome = match news {
            Ok(news) => self.outcome_of(news),
            Err(crossbeam_channel::TryRecvError::Empty) => return false,
            Err(crossbeam_channel::TryRecvError::Disconnected) => Some(Err(self.lost())),
        };
        if let Some(outcome) = outcome {
            self.settle(outcome);
        }
        true
    }

    /// Asks the scheduler for the value, once.
    fn fetch(&self) {
        if let Some(fetch) = self.fetch_message()
            && let Err(e) = self.0.session.link.send(&fetch)
        {
            self.fetch_failed(&e);
        }
    }

    /// The message asking for the value, unless it was asked for (or is known) already.
    fn fetch_message(&self) -> Option<ToScheduler> {
        let due = self.0.outcome.get().is_none() && !self.0.fetched.swap(true, Ordering::SeqCst);
        due.then(|| ToScheduler::Fetch { run: self.0.run, keys: vec![self.0.key] })
    }

    fn fetch_failed(&self, error: &crate::wire::WireError) {
        self.settle(Err(SchedulerError::Pool(format!("cannot ask for {}: {error}", self.0.key))));
    }

    /// Where the call stands, without waiting.
    pub fn status(&self) -> FutureStatus {
        if let Ok(_waiting) = self.0.waiting.try_lock() {
            while self.0.outcome.get().is_none() && self.take(self.0.news.try_recv()) {}
        }
        match self.0.outcome.get() {
            None if self.0.ready.load(Ordering::SeqCst) => FutureStatus::Finished,
            None => FutureStatus::Pending,
            Some(Ok(_)) => FutureStatus::Finished,
            Some(Err(_)) => FutureStatus::Error,
        }
    }

    /// Gives up the call: its key is released now (the scheduler stops it unless another
    /// run wants it), and this future and its clones answer [`SchedulerError::Cancelled`].
    /// Other clients' equal calls are not affected.
    pub fn cancel(&self) {
        if self.0.outcome.get().is_none() {
            self.settle(Err(SchedulerError::Cancelled { key: self.0.key }));
            self.0.release();
        }
    }

    /// The tasks to wake when it has news.
    pub(super) fn wakers(&self) -> &WakeList {
        &self.0.wakers
    }

    fn lost(&self) -> SchedulerError {
        SchedulerError::Pool(format!(
            "the connection to the scheduler at {} was lost before {} finished",
            self.0.session.address, self.0.key
        ))
    }

    /// Records the outcome, lets the inputs go, and wakes a task awaiting it (which may
    /// have found the news taken by a thread in `result`).
    fn settle(&self, outcome: Result<Value, SchedulerError>) {
        let _ = self.0.outcome.set(outcome);
        self.0.inputs.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.0.wakers.wake_all();
    }

    fn outcome_of(&self, news: FromScheduler) -> Option<Result<Value, SchedulerError>> {
        match news {
            FromScheduler::Results(results) => {
                results.into_iter().find(|(k, _)| *k == self.0.key).and_then(|(key, lookup)| match lookup {
                    Lookup::Found(value) => Some(Ok(value)),
                    Lookup::Refused(reason) => Some(Err(SchedulerError::Transfer { key, reason })),
                    Lookup::Missing => None,
                })
            }
            FromScheduler::Erred(errors) => errors.into_iter().next().map(|(_, error)| Err(error.into())),
            FromScheduler::Refused { reason, .. } => Some(Err(SchedulerError::Pool(reason))),
            FromScheduler::Ready(keys) => {
                if keys.contains(&self.0.key) {
                    self.0.ready.store(true, Ordering::SeqCst);
                }
                None
            }
            FromScheduler::Info(_)
            | FromScheduler::Done
            | FromScheduler::Dataset { .. }
            | FromScheduler::Datasets(_)
            | FromScheduler::Batch(_) => None,
        }
    }
}

/// Awaiting a future (`future.await`, or `(&future).await`) gives its value, as
/// [`Future::result`] does, without blocking the async runtime's thread: the client's
/// router wakes the task when news come.
impl std::future::IntoFuture for Future {
    type Output = Result<Value, SchedulerError>;
    type IntoFuture = Awaiting;

    fn into_future(self) -> Awaiting {
        Awaiting(self)
    }
}

impl std::future::IntoFuture for &Future {
    type Output = Result<Value, SchedulerError>;
    type IntoFuture = Awaiting;

    fn into_future(self) -> Awaiting {
        Awaiting(self.clone())
    }
}

/// A [`Future`] being awaited.
#[derive(Debug)]
pub struct Awaiting(Future);

impl std::future::Future for Awaiting {
    type Output = Result<Value, SchedulerError>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let future = &self.0;
        future.fetch();
        // The waker first, then the news: news coming between the two still wake us.
        future.0.wakers.register(cx.waker());
        future.status();
        match future.0.outcome.get() {
            Some(outcome) => std::task::Poll::Ready(outcome.clone()),
            None => std::task::Poll::Pending,
        }
    }
}

impl Inner {
    /// Releases the key on the scheduler (once) and stops routing its news here.
    fn release(&self) {
        if self.session.routes.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.run).is_some() {
            self.session.release_soon(self.run, self.key);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.release();
    }
}

impl Client {
    /// Runs `op` on `args` on the cluster and returns its future at once. Calls are pure:
    /// equal calls (the same op and arguments) share a key, and so run once while either
    /// is held. `op` must be a registered op the workers know; a closure is an error.
    ///
    /// ```no_run
    /// use rask_graph::{ops, Value};
    /// let client = rask_scheduler::Client::connect("tcp://127.0.0.1:8786".parse()?)?;
    /// let future = client.submit(&ops::Inc, [Value::I64(41).into()])?;
    /// assert_eq!(future.result()?, Value::I64(42));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit(&self, op: &dyn Op, args: impl IntoIterator<Item = CallArg>) -> Result<Future, SchedulerError> {
        self.submit_with(op, args, &SubmitOptions::default())
    }

    /// [`submit`](Client::submit) with options: retries, an impure call, a key of one's own.
    ///
    /// ```no_run
    /// use rask_graph::{ops, Value};
    /// use rask_scheduler::SubmitOptions;
    /// let client = rask_scheduler::Client::connect("tcp://127.0.0.1:8786".parse()?)?;
    /// let options = SubmitOptions { retries: 2, pure: false, ..Default::default() };
    /// let future = client.submit_with(&ops::Inc, [Value::I64(1).into()], &options)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit_with(
        &self,
        op: &dyn Op,
        args: impl IntoIterator<Item = CallArg>,
        options: &SubmitOptions,
    ) -> Result<Future, SchedulerError> {
        let session = self.session()?;
        let call = Call::new(&session, &CallOp::new(op)?, args, options)?;
        Ok(self.start_runs(&session, vec![call])?.remove(0))
    }

    /// Places `values` on the cluster and returns their futures, to pass to later calls
    /// without sending the data again. Keys are pure: equal values share one.
    ///
    /// ```no_run
    /// use rask_graph::{ops, Value};
    /// use rask_scheduler::CallArg;
    /// let client = rask_scheduler::Client::connect("tcp://127.0.0.1:8786".parse()?)?;
    /// let data = client.scatter([Value::I64(1), Value::I64(2)])?;
    /// let sum = client.submit(&ops::Add, data.iter().map(CallArg::from))?;
    /// assert_eq!(sum.result()?, Value::I64(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scatter(&self, values: impl IntoIterator<Item = Value>) -> Result<Vec<Future>, SchedulerError> {
        self.scatter_with(values, &SubmitOptions::default())
    }

    /// [`scatter`](Client::scatter) onto the workers `options` names (Dask's
    /// `scatter(.., workers=)`); with `pure: false`, equal values get keys of their own.
    ///
    /// ```no_run
    /// use rask_graph::Value;
    /// use rask_scheduler::SubmitOptions;
    /// let client = rask_scheduler::Client::connect("tcp://127.0.0.1:8786".parse()?)?;
    /// let name = client.scheduler_info()?.workers[0].name.clone();
    /// let on_first = SubmitOptions { workers: vec![name], ..Default::default() };
    /// let data = client.scatter_with([Value::I64(1)], &on_first)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scatter_with(
        &self,
        values: impl IntoIterator<Item = Value>,
        options: &SubmitOptions,
    ) -> Result<Vec<Future>, SchedulerError> {
        self.map_with(&rask_graph::ops::Identity, values.into_iter().map(|v| [CallArg::Value(v)]), options)
    }

    /// Places `values` on every worker (Dask's `scatter(.., broadcast=True)`): scattered,
    /// then copied to the other workers once on the cluster, so that calls reading them
    /// anywhere read a local copy. Returns once the values are on the cluster; the copies
    /// follow in the background (a call placed meanwhile fetches its input as usual).
    ///
    /// ```no_run
    /// use rask_graph::Value;
    /// let client = rask_scheduler::Client::connect("tcp://127.0.0.1:8786".parse()?)?;
    /// let lookup_table = client.broadcast([Value::I64(42)])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn broadcast(&self, values: impl IntoIterator<Item = Value>) -> Result<Vec<Future>, SchedulerError> {
        let futures = self.scatter(values)?;
        wait(&futures, WaitFor::All, None);
        self.replicate(&futures, None)?;
        Ok(futures)
    }

    /// Copies the values of `futures` (those finished) to other workers until each is on
    /// `copies` of them, every worker with `None` (Dask's `replicate`); the copies are
    /// made in the background. A copy is dropped with the value; a worker lost holding
    /// one costs nothing while another copy remains.
    pub fn replicate(&self, futures: &[Future], copies: Option<usize>) -> Result<(), SchedulerError> {
        let keys = futures.iter().map(Future::key).collect();
        let copies = copies.map(|c| c.min(u32::MAX as usize) as u32);
        self.tell(&ToScheduler::Replicate { run: 0, keys, copies })
    }

    /// Keeps the calls of `futures` running until they are done, even once every handle
    /// is dropped (Dask's `fire_and_forget`): for calls run for their effect. Their values
    /// go once done unless something else holds them.
    pub fn fire_and_forget(&self, futures: &[Future]) -> Result<(), SchedulerError> {
        let keys = futures.iter().map(Future::key).collect();
        self.tell(&ToScheduler::FireAndForget { run: 0, keys })
    }

    /// [`submit`](Client::submit) for each argument list, in order.
    pub fn map<A: IntoIterator<Item = CallArg>>(
        &self,
        op: &dyn Op,
        calls: impl IntoIterator<Item = A>,
    ) -> Result<Vec<Future>, SchedulerError> {
        self.map_with(op, calls, &SubmitOptions::default())
    }

    /// [`submit_with`](Client::submit_with) for each argument list, in order; a `key` in
    /// the options is refused (the calls would share it).
    ///
    /// ```no_run
    /// use rask_graph::{ops, Value};
    /// use rask_scheduler::SubmitOptions;
    /// let client = rask_scheduler::Client::connect("tcp://127.0.0.1:8786".parse()?)?;
    /// let low = SubmitOptions { priority: -1, ..Default::default() };
    /// let futures = client.map_with(&ops::Inc, (0..4).map(|i| [Value::I64(i).into()]), &low)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_with<A: IntoIterator<Item = CallArg>>(
        &self,
        op: &dyn Op,
        calls: impl IntoIterator<Item = A>,
        options: &SubmitOptions,
    ) -> Result<Vec<Future>, SchedulerError> {
        if let Some(key) = options.key {
            return Err(SchedulerError::Pool(format!("map cannot give every call the one key {key}")));
        }
        let session = self.session()?;
        let op = CallOp::new(op)?;
        let calls = calls.into_iter().map(|args| Call::new(&session, &op, args, options)).collect::<Result<_, _>>()?;
        self.start_runs(&session, calls)
    }

    /// The values of `futures`, in order; the first error ends the wait.
    pub fn gather(&self, futures: &[Future]) -> Result<Vec<Value>, SchedulerError> {
        // Every value asked for first, in one frame, so that they travel together, not one
        // round trip each.
        if let Some(session) = futures.first().map(|f| f.0.session.clone()) {
            let (mine, others): (Vec<&Future>, Vec<&Future>) =
                futures.iter().partition(|f| Arc::ptr_eq(&f.0.session, &session));
            let (asking, messages): (Vec<&Future>, Vec<ToScheduler>) =
                mine.into_iter().filter_map(|f| f.fetch_message().map(|m| (f, m))).unzip();
            if let Err(e) = session.send_all(messages) {
                asking.iter().for_each(|f| f.fetch_failed(&e));
            }
            others.into_iter().for_each(Future::fetch);
        }
        futures.iter().map(Future::result).collect()
    }

    /// Futures of `keys`, already on the cluster (sent together).
    pub(super) fn hold_all(&self, keys: &[Key]) -> Result<Vec<Future>, SchedulerError> {
        let session = self.session()?;
        let calls = keys
            .iter()
            .map(|&key| {
                let submission = Submission {
                    run: 0,
                    ops: vec![],
                    tasks: vec![],
                    wanted: vec![],
                    held: vec![key],
                    placement: Placement::default(),
                };
                Call { submission, inputs: Vec::new() }
            })
            .collect();
        self.start_runs(&session, calls)
    }

    /// Sends each call as a new run (all in as few frames as fit); their futures.
    fn start_runs(&self, session: &Arc<Session>, calls: Vec<Call>) -> Result<Vec<Future>, SchedulerError> {
        let mut futures = Vec::with_capacity(calls.len());
        let mut messages = Vec::with_capacity(calls.len());
        {
            let mut routes = session.routes.lock().unwrap_or_else(|e| e.into_inner());
            for Call { mut submission, inputs } in calls {
                let run = self.next_run();
                submission.run = run;
                let (route, news) = crossbeam_channel::unbounded();
                let wakers = Arc::new(WakeList::default());
                routes.insert(run, Route::waking(route, wakers.clone()));
                futures.push(Future(Arc::new(Inner {
                    key: submission.held[0],
                    run,
                    session: session.clone(),
                    news,
                    outcome: OnceLock::new(),
                    ready: AtomicBool::new(false),
                    fetched: AtomicBool::new(false),
                    wakers,
                    waiting: Mutex::new(()),
                    inputs: Mutex::new(inputs),
                })));
                messages.push(ToScheduler::Submit(submission));
            }
        }
        session.send_all(messages).map_err(|e| {
            SchedulerError::Pool(format!("cannot send the calls to the scheduler at {}: {e}", session.address))
        })?;
        Ok(futures)
    }
}

/// An op ready to be called many times: its name, its encoding and its token, made once.
struct CallOp {
    name: String,
    encoded: EncodedOp,
    token: Token,
}

impl CallOp {
    fn new(op: &dyn Op) -> Result<CallOp, SchedulerError> {
        let encoded = EncodedOp::encode(op).map_err(|e| SchedulerError::Pool(format!("cannot submit: {e}")))?;
        Ok(CallOp { name: op.name().to_string(), encoded, token: op_token(op) })
    }
}

/// One call, ready to send: a submission of one held key, and the futures it reads.
struct Call {
    submission: Submission,
    inputs: Vec<Future>,
}

impl Call {
    /// The call of `op` on `args`; futures among the arguments must be of `session`.
    fn new(
        session: &Arc<Session>,
        op: &CallOp,
        args: impl IntoIterator<Item = CallArg>,
        options: &SubmitOptions,
    ) -> Result<Call, SchedulerError> {
        let mut token = TokenHasher::new();
        std::hash::Hash::hash(&op.token.0, &mut token);
        let mut inputs = Vec::new();
        let mut submitted = Vec::new();
        for arg in args {
            match arg {
                CallArg::Value(value) => {
                    if options.pure {
                        std::hash::Hash::hash(&0u8, &mut token);
                        value.hash_token(&mut token);
                    }
                    submitted.push(SubmitArg::Value(value));
                }
                CallArg::Future(future) => {
                    if !Arc::ptr_eq(&future.0.session, session) {
                        return Err(SchedulerError::ForeignFuture { key: future.key() });
                    }
                    std::hash::Hash::hash(&(1u8, future.key()), &mut token);
                    submitted.push(SubmitArg::Key(future.key()));
                    inputs.push(future);
                }
            }
        }
        let token = if options.pure { Token(std::hash::Hasher::finish(&token)) } else { Token::fresh() };
        let key = options.key.unwrap_or_else(|| Key::single(Group::new(&op.name), token));
        let task = SubmitTask { key, op: 0, args: submitted, order: 0, retries: options.retries };
        let submission = Submission {
            run: 0,
            ops: vec![SubmitOp { name: op.name.clone(), op: op.encoded.clone() }],
            tasks: vec![task],
            wanted: vec![],
            held: vec![key],
            placement: options.placement(),
        };
        Ok(Call { submission, inputs })
    }
}

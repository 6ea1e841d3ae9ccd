//! A client in the service's own process: the process pool's driver submits through it.
//! Messages cross a channel as they are, never encoded.

use crossbeam_channel::{Receiver, Sender};
use rask_graph::{Key, Value};
use rustc_hash::FxHashMap;

use super::Input;
use crate::client::await_results;
use crate::error::SchedulerError;
use crate::net::Incoming;
use crate::wire::{FromScheduler, Submission, ToScheduler};

/// An in-process client of a [`Service`](super::Service), for one computation at a time;
/// dropping it releases all it wanted.
#[derive(Debug)]
pub(crate) struct LocalClient {
    id: u64,
    inputs: Sender<Input>,
    news: Receiver<FromScheduler>,
}

impl LocalClient {
    pub(super) fn new(id: u64, inputs: Sender<Input>) -> LocalClient {
        let (sender, news) = crossbeam_channel::unbounded();
        let _ = inputs.send(Input::Local(id, sender));
        LocalClient { id, inputs, news }
    }

    fn send(&self, message: ToScheduler) -> Result<(), SchedulerError> {
        self.inputs
            .send(Input::Client(self.id, Incoming::Message(message)))
            .map_err(|_| SchedulerError::Pool("the scheduler thread stopped".into()))
    }

    /// Submits `submission` and waits for its wanted keys: their values by key, or the
    /// first error. The keys are released either way.
    pub fn compute(&self, submission: Submission) -> Result<FxHashMap<Key, Value>, SchedulerError> {
        let (run, wanted) = (submission.run, submission.wanted.clone());
        self.send(ToScheduler::Submit(submission))?;
        let result = await_results(&self.news, &wanted, || "the scheduler thread stopped".to_string());
        self.send(ToScheduler::Release { run, keys: wanted })?;
        result
    }
}

impl Drop for LocalClient {
    fn drop(&mut self) {
        let _ = self.inputs.send(Input::Client(self.id, Incoming::Closed("dropped".into())));
    }
}

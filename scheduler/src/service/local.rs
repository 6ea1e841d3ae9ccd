//! A client in the service's own process: the process pool's driver submits through it.
//! Messages cross a channel as they are, never encoded.

use crossbeam_channel::{Receiver, Sender};
use rask_graph::{Key, Value};
use rustc_hash::FxHashMap;

use super::Input;
use crate::error::SchedulerError;
use crate::net::Incoming;
use crate::wire::{FromScheduler, Lookup, Submission, ToScheduler};

/// An in-process client of a [`Service`](super::Service); dropping it releases all it
/// wanted.
#[derive(Debug)]
pub(crate) struct LocalClient {
    id: u64,
    inputs: Sender<Input>,
    results: Receiver<FromScheduler>,
}

impl LocalClient {
    pub(super) fn new(id: u64, inputs: Sender<Input>) -> LocalClient {
        let (sender, results) = crossbeam_channel::unbounded();
        let _ = inputs.send(Input::Local(id, sender));
        LocalClient { id, inputs, results }
    }

    fn send(&self, message: ToScheduler) -> Result<(), SchedulerError> {
        self.inputs
            .send(Input::Client(self.id, Incoming::Message(message)))
            .map_err(|_| SchedulerError::Pool("the scheduler thread stopped".into()))
    }

    /// Submits `submission` and waits for its wanted keys: their values by key, or the
    /// first error. The keys are released either way.
    pub fn compute(&self, submission: Submission) -> Result<FxHashMap<Key, Value>, SchedulerError> {
        let wanted = submission.wanted.clone();
        self.send(ToScheduler::Submit(submission))?;
        let result = self.wait(&wanted);
        self.send(ToScheduler::Release(wanted))?;
        result
    }

    fn wait(&self, wanted: &[Key]) -> Result<FxHashMap<Key, Value>, SchedulerError> {
        let mut values: FxHashMap<Key, Value> = FxHashMap::default();
        while values.len() < wanted.len() {
            let message =
                self.results.recv().map_err(|_| SchedulerError::Pool("the scheduler thread stopped".into()))?;
            match message {
                FromScheduler::Results(results) => {
                    for (key, lookup) in results {
                        match lookup {
                            Lookup::Found(value) => {
                                values.insert(key, value);
                            }
                            Lookup::Refused(reason) => return Err(SchedulerError::Transfer { key, reason }),
                            Lookup::Missing => {}
                        }
                    }
                }
                FromScheduler::Erred(errors) => {
                    if let Some((_, error)) = errors.into_iter().next() {
                        return Err(error.into());
                    }
                }
                FromScheduler::Refused { reason, .. } => return Err(SchedulerError::Pool(reason)),
            }
        }
        Ok(values)
    }
}

impl Drop for LocalClient {
    fn drop(&mut self) {
        let _ = self.inputs.send(Input::Client(self.id, Incoming::Closed("dropped".into())));
    }
}

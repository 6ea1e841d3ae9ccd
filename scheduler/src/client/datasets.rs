//! Datasets: futures kept on the cluster under a name ([`Client::publish`]), for this
//! client later or any other ([`Client::get_dataset`]); a dataset outlives the client
//! that published it, until [`Client::unpublish`].

use super::future::Future;
use super::remote::Client;
use crate::error::SchedulerError;
use crate::wire::{FromScheduler, ToScheduler};

/// A dataset: futures of values kept on the cluster, and what they make up (free bytes
/// for the readers; empty for plain futures).
///
/// ```
/// let plain = rask_scheduler::Dataset::default();
/// assert!(plain.futures.is_empty() && plain.metadata.is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// The values, in order.
    pub futures: Vec<Future>,
    /// What they make up.
    pub metadata: Vec<u8>,
}

impl Client {
    /// Keeps the values of `futures` on the cluster under `name`. An error if the name is
    /// taken (or empty, or over 256 bytes).
    ///
    /// ```no_run
    /// use rask_graph::{ops, Value};
    /// let client = rask_scheduler::Client::connect("tcp://127.0.0.1:8786".parse()?)?;
    /// let data = client.scatter([Value::I64(1), Value::I64(2)])?;
    /// client.publish("inputs", &data)?;
    /// drop(data);                                   // still on the cluster
    /// let again = client.get_dataset("inputs")?;   // in any client
    /// assert_eq!(client.gather(&again)?, vec![Value::I64(1), Value::I64(2)]);
    /// client.unpublish("inputs")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish(&self, name: &str, futures: &[Future]) -> Result<(), SchedulerError> {
        self.publish_dataset(name, &Dataset { futures: futures.to_vec(), metadata: Vec::new() })
    }

    /// [`Client::publish`] with metadata: what the futures make up, for the readers of the
    /// dataset (a persisted collection's shape and types; at most 1 MiB).
    pub fn publish_dataset(&self, name: &str, dataset: &Dataset) -> Result<(), SchedulerError> {
        let keys = dataset.futures.iter().map(Future::key).collect();
        let metadata = dataset.metadata.clone();
        self.expect_done(name, |run| ToScheduler::Publish { run, name: name.to_string(), keys, metadata })
    }

    /// Drops dataset `name` (its values go once nothing else holds them). An error if there
    /// is none.
    pub fn unpublish(&self, name: &str) -> Result<(), SchedulerError> {
        self.expect_done(name, |run| ToScheduler::Unpublish { run, name: name.to_string() })
    }

    /// Futures of dataset `name`'s values, in the order published. An error if there is
    /// none.
    pub fn get_dataset(&self, name: &str) -> Result<Vec<Future>, SchedulerError> {
        Ok(self.dataset(name)?.futures)
    }

    /// Dataset `name`: futures of its values, in the order published, and its metadata.
    /// An error if there is none.
    pub fn dataset(&self, name: &str) -> Result<Dataset, SchedulerError> {
        match self.ask(|run| ToScheduler::GetDataset { run, name: name.to_string() })? {
            FromScheduler::Dataset { keys, metadata } => Ok(Dataset { futures: self.hold_all(&keys)?, metadata }),
            other => Err(unexpected(name, &other)),
        }
    }

    /// The datasets' names, sorted.
    pub fn list_datasets(&self) -> Result<Vec<String>, SchedulerError> {
        match self.ask(|run| ToScheduler::ListDatasets { run })? {
            FromScheduler::Datasets(names) => Ok(names),
            other => Err(unexpected("", &other)),
        }
    }

    fn expect_done(&self, name: &str, make: impl FnOnce(u64) -> ToScheduler) -> Result<(), SchedulerError> {
        match self.ask(make)? {
            FromScheduler::Done => Ok(()),
            other => Err(unexpected(name, &other)),
        }
    }
}

fn unexpected(name: &str, answer: &FromScheduler) -> SchedulerError {
    SchedulerError::Pool(format!("unexpected answer about dataset {name:?}: {answer:?}"))
}

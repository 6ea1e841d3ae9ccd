//! Published datasets: keys kept on the cluster under a name, whoever else releases them,
//! until unpublished. Each dataset is a client of the state machine of its own (under
//! [`CONNECTION`]) that holds its keys; the names and their number are bounded, so no
//! client grows the scheduler's memory without end.

use std::collections::BTreeMap;

use rask_graph::Key;

use crate::cluster::ClientId;

/// The connection id the datasets' clients stand under (no real connection has it).
pub(super) const CONNECTION: u64 = u64::MAX;
/// Bytes of a dataset's name, at most.
pub(super) const MAX_NAME: usize = 256;
/// Datasets at most.
pub(super) const MAX_DATASETS: usize = 10_000;

/// The datasets, by name.
#[derive(Debug, Default)]
pub(super) struct Datasets {
    by_name: BTreeMap<String, (ClientId, Vec<Key>)>,
    next: u64,
}

impl Datasets {
    /// Whether `name` may be published with `keys` (every one `known` to the scheduler).
    pub fn check_new(&self, name: &str, keys: &[Key], known: impl Fn(&Key) -> bool) -> Result<(), String> {
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(format!("a dataset's name must have 1 to {MAX_NAME} bytes, not {}", name.len()));
        }
        if self.by_name.contains_key(name) {
            return Err(format!("a dataset named {name:?} already exists"));
        }
        if self.by_name.len() >= MAX_DATASETS {
            return Err(format!("the scheduler holds {MAX_DATASETS} datasets already"));
        }
        match keys.iter().find(|k| !known(k)) {
            Some(k) => Err(format!("dataset {name:?}: key {k} is not on the cluster")),
            None => Ok(()),
        }
    }

    /// A new run number for a dataset's client.
    pub fn next_id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    pub fn insert(&mut self, name: String, scope: ClientId, keys: Vec<Key>) {
        self.by_name.insert(name, (scope, keys));
    }

    /// Drops dataset `name`; its client, to end.
    pub fn remove(&mut self, name: &str) -> Option<ClientId> {
        self.by_name.remove(name).map(|(scope, _)| scope)
    }

    /// Drops every dataset; their clients, to end.
    pub fn clear(&mut self) -> Vec<ClientId> {
        std::mem::take(&mut self.by_name).into_values().map(|(scope, _)| scope).collect()
    }

    pub fn keys(&self, name: &str) -> Option<&[Key]> {
        self.by_name.get(name).map(|(_, keys)| keys.as_slice())
    }

    /// The names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }
}

/// The refusal for a name no dataset has.
pub(super) fn unknown(name: &str) -> String {
    format!("no dataset named {name:?}")
}

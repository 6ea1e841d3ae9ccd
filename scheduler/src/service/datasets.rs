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
/// Bytes of a dataset's metadata, at most.
pub(super) const MAX_METADATA: usize = 1 << 20;

/// The datasets, by name.
#[derive(Debug, Default)]
pub(super) struct Datasets {
    by_name: BTreeMap<String, Dataset>,
    next: u64,
}

impl Datasets {
    /// Whether `name` may be published with `keys` (every one `known` to the scheduler) and
    /// `metadata`.
    pub fn check_new(
        &self,
        name: &str,
        keys: &[Key],
        metadata: &[u8],
        known: impl Fn(&Key) -> bool,
    ) -> Result<(), String> {
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(format!("a dataset's name must have 1 to {MAX_NAME} bytes, not {}", name.len()));
        }
        if self.by_name.contains_key(name) {
            return Err(format!("a dataset named {name:?} already exists"));
        }
        if metadata.len() > MAX_METADATA {
            return Err(format!(
                "dataset {name:?}: {} bytes of metadata, over the {MAX_METADATA} allowed",
                metadata.len()
            ));
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

    pub fn insert(&mut self, name: String, scope: ClientId, keys: Vec<Key>, metadata: Vec<u8>) {
        self.by_name.insert(name, Dataset { scope, keys, metadata });
    }

    /// Drops dataset `name`; its client, to end.
    pub fn remove(&mut self, name: &str) -> Option<ClientId> {
        self.by_name.remove(name).map(|d| d.scope)
    }

    /// Drops every dataset; their clients, to end.
    pub fn clear(&mut self) -> Vec<ClientId> {
        std::mem::take(&mut self.by_name).into_values().map(|d| d.scope).collect()
    }

    /// The keys and metadata of dataset `name`.
    pub fn get(&self, name: &str) -> Option<(&[Key], &[u8])> {
        self.by_name.get(name).map(|d| (d.keys.as_slice(), d.metadata.as_slice()))
    }

    /// The names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }
}

/// One dataset: the client of the state machine holding its keys, the keys, and what the
/// publisher said they make up.
#[derive(Debug)]
struct Dataset {
    scope: ClientId,
    keys: Vec<Key>,
    metadata: Vec<u8>,
}

/// The refusal for a name no dataset has.
pub(super) fn unknown(name: &str) -> String {
    format!("no dataset named {name:?}")
}

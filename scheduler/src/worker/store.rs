//! The values a worker holds, by key, with byte accounting ([`Value::nbytes`]) and
//! spilling: with a memory limit, when the bytes in memory exceed it, the least recently
//! used values are written to files in the worker's directory and read back on their next
//! use (a task input, a `Gather`, a peer's `Get`).
//!
//! File I/O happens outside the lock: a value being spilled stays readable in memory
//! until its file is complete, and a value released or replaced meanwhile has its file
//! deleted instead. A value whose file cannot be written stays in memory (logged, and not
//! tried again): a value still needed is never lost.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rask_graph::{Key, Value};
use rustc_hash::FxHashMap as HashMap;

use super::spill::{read_value, write_value};

#[derive(Debug)]
enum Entry {
    Memory {
        value: Value,
        nbytes: u64,
        /// Position in the LRU order; `None` while being spilled or after a failed spill.
        tick: Option<u64>,
        /// Set while a file for it is being written (the file's number).
        spilling: Option<u64>,
    },
    Disk {
        path: PathBuf,
        nbytes: u64,
    },
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Spillable in-memory values by last use, oldest first.
    lru: BTreeMap<u64, Key>,
    tick: u64,
    memory: u64,
    /// Bytes in memory with a spill file being written (counted in `memory` until done).
    spilling: u64,
    spilled: u64,
    next_file: u64,
}

impl Inner {
    fn touch(&mut self, key: Key) -> u64 {
        self.tick += 1;
        self.lru.insert(self.tick, key);
        self.tick
    }

    /// Removes `key`'s accounting; returns its spill file to delete, if any.
    fn forget(&mut self, key: &Key) -> Option<PathBuf> {
        match self.entries.remove(key)? {
            Entry::Memory { nbytes, tick, spilling, .. } => {
                self.memory -= nbytes;
                if spilling.is_some() {
                    self.spilling -= nbytes;
                }
                if let Some(t) = tick {
                    self.lru.remove(&t);
                }
                None
            }
            Entry::Disk { path, nbytes } => {
                self.spilled -= nbytes;
                Some(path)
            }
        }
    }
}

/// Memory use, as a heartbeat reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Usage {
    /// Bytes of values in memory.
    pub memory: u64,
    /// Bytes of values in spill files.
    pub spilled: u64,
}

/// The store; shared by the task threads, the control loop and the data server.
#[derive(Debug)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
    limit: Option<u64>,
    dir: PathBuf,
}

impl Store {
    /// A store spilling to `dir` beyond `limit` bytes in memory (`None`: never).
    pub fn new(limit: Option<u64>, dir: &Path) -> Store {
        Store { inner: Mutex::new(Inner::default()), limit, dir: dir.to_path_buf() }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `value` under `key` (replacing any older value); returns its bytes.
    pub fn put(&self, key: Key, value: Value) -> u64 {
        let nbytes = value.nbytes() as u64;
        let stale = {
            let mut inner = self.lock();
            let stale = inner.forget(&key);
            // Without a limit nothing spills: no use order to keep.
            let tick = self.limit.is_some().then(|| inner.touch(key));
            inner.entries.insert(key, Entry::Memory { value, nbytes, tick, spilling: None });
            inner.memory += nbytes;
            stale
        };
        remove_file(stale);
        self.spill_over_limit();
        nbytes
    }

    /// Whether a value is held under `key` (in memory or on disk).
    pub fn contains(&self, key: &Key) -> bool {
        self.lock().entries.contains_key(key)
    }

    /// The value under `key`, read back into memory if it was spilled.
    pub fn get(&self, key: &Key) -> Option<Value> {
        let path = {
            let mut inner = self.lock();
            match inner.entries.get(key)? {
                Entry::Memory { value, tick, .. } => {
                    let value = value.clone();
                    if let Some(old) = *tick {
                        inner.lru.remove(&old);
                        let new = inner.touch(*key);
                        if let Some(Entry::Memory { tick, .. }) = inner.entries.get_mut(key) {
                            *tick = Some(new);
                        }
                    }
                    return Some(value);
                }
                Entry::Disk { path, .. } => path.clone(),
            }
        };
        let value = match read_value(&path) {
            Ok(value) => value,
            Err(e) => {
                // Released meanwhile (its file deleted), or the disk failed.
                if self.lock().entries.contains_key(key) {
                    tracing::error!(%key, error = %e, "cannot read a spilled value back");
                }
                return None;
            }
        };
        {
            let mut inner = self.lock();
            match inner.entries.get(key) {
                Some(Entry::Disk { path: p, nbytes }) if *p == path => {
                    let nbytes = *nbytes;
                    inner.spilled -= nbytes;
                    inner.memory += nbytes;
                    let tick = inner.touch(*key);
                    inner
                        .entries
                        .insert(*key, Entry::Memory { value: value.clone(), nbytes, tick: Some(tick), spilling: None });
                }
                // Another reader loaded it first, or a task replaced it: that one is current.
                Some(Entry::Memory { value: current, .. }) => return Some(current.clone()),
                // Spilled again by now (the same bytes in another file).
                Some(Entry::Disk { .. }) => return Some(value),
                // Released meanwhile.
                None => return None,
            }
        }
        remove_file(Some(path));
        self.spill_over_limit();
        Some(value)
    }

    /// Forgets the values under `keys`, in memory or on disk.
    pub fn release(&self, keys: &[Key]) {
        let files: Vec<PathBuf> = {
            let mut inner = self.lock();
            keys.iter().filter_map(|k| inner.forget(k)).collect()
        };
        files.into_iter().for_each(|f| remove_file(Some(f)));
    }

    /// Bytes in memory and on disk.
    pub fn usage(&self) -> Usage {
        let inner = self.lock();
        Usage { memory: inner.memory, spilled: inner.spilled }
    }

    /// Spills least recently used values until the bytes in memory (not counting those
    /// already being written) are within the limit.
    fn spill_over_limit(&self) {
        let Some(limit) = self.limit else { return };
        loop {
            let (key, value, path, file) = {
                let mut inner = self.lock();
                if inner.memory - inner.spilling <= limit {
                    return;
                }
                let Some((_, key)) = inner.lru.pop_first() else { return };
                inner.next_file += 1;
                let file = inner.next_file;
                let Some(Entry::Memory { value, nbytes, tick, spilling }) = inner.entries.get_mut(&key) else {
                    unreachable!("the LRU order lists only values in memory")
                };
                *tick = None;
                *spilling = Some(file);
                let (value, nbytes) = (value.clone(), *nbytes);
                inner.spilling += nbytes;
                (key, value, self.dir.join(format!("{file}.spill")), file)
            };
            let written = write_value(&path, &value);
            let mut inner = self.lock();
            let current =
                matches!(inner.entries.get(&key), Some(Entry::Memory { spilling: Some(f), .. }) if *f == file);
            if !current {
                // Released or replaced while being written.
                drop(inner);
                remove_file(Some(path));
                continue;
            }
            let Some(Entry::Memory { nbytes, spilling, .. }) = inner.entries.get_mut(&key) else { unreachable!() };
            let nbytes = *nbytes;
            *spilling = None;
            inner.spilling -= nbytes;
            match written {
                Ok(()) => {
                    inner.memory -= nbytes;
                    inner.spilled += nbytes;
                    inner.entries.insert(key, Entry::Disk { path, nbytes });
                    tracing::debug!(%key, nbytes, "spilled to disk");
                }
                Err(e) => {
                    // Kept in memory, out of the LRU order: not tried again.
                    tracing::error!(%key, error = %e, "cannot spill a value; it stays in memory");
                }
            }
        }
    }
}

fn remove_file(path: Option<PathBuf>) {
    if let Some(path) = path
        && let Err(e) = std::fs::remove_file(&path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(file = %path.display(), error = %e, "cannot remove a spill file");
    }
}

#[cfg(test)]
mod tests {
    use rask_graph::{Group, Token};

    use super::super::spill::LocalDir;
    use super::*;

    fn key(i: u32) -> Key {
        Key::new(Group::new("store-test"), Token(9), &[i])
    }

    fn bytes(n: usize, fill: u8) -> Value {
        Value::Bytes(vec![fill; n].into())
    }

    fn files(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn without_a_limit_nothing_spills_and_release_forgets() {
        let dir = LocalDir::create(&std::env::temp_dir()).unwrap();
        let store = Store::new(None, dir.path());
        for i in 0..10 {
            assert_eq!(store.put(key(i), bytes(1000, i as u8)), 1000);
        }
        assert_eq!(store.usage(), Usage { memory: 10_000, spilled: 0 });
        store.release(&[key(0), key(1), key(99)]);
        assert_eq!(store.usage().memory, 8000);
        assert!(store.get(&key(0)).is_none());
        assert_eq!(store.get(&key(2)), Some(bytes(1000, 2)));
        assert_eq!(files(dir.path()), 0);
    }

    #[test]
    fn least_recently_used_values_spill_and_come_back_exactly() {
        let dir = LocalDir::create(&std::env::temp_dir()).unwrap();
        let store = Store::new(Some(2500), dir.path());
        for i in 0..4 {
            store.put(key(i), bytes(1000, i as u8));
            if i == 1 {
                // Key 0 becomes more recent than key 1.
                store.get(&key(0)).unwrap();
            }
        }
        // 4000 bytes, limit 2500: the two least recently used (1 then 0) went to disk.
        assert_eq!(store.usage(), Usage { memory: 2000, spilled: 2000 });
        assert_eq!(files(dir.path()), 2);
        assert_eq!(store.get(&key(1)), Some(bytes(1000, 1)));
        assert_eq!(store.usage(), Usage { memory: 2000, spilled: 2000 });
        for i in 0..4 {
            assert_eq!(store.get(&key(i)), Some(bytes(1000, i as u8)));
        }
        store.release(&(0..4).map(key).collect::<Vec<_>>());
        assert_eq!(store.usage(), Usage::default());
        assert_eq!(files(dir.path()), 0);
    }

    #[test]
    fn a_value_that_cannot_be_written_stays_in_memory() {
        let dir = LocalDir::create(&std::env::temp_dir()).unwrap();
        let store = Store::new(Some(1), dir.path());
        store.put(key(0), Value::opaque(7u32));
        assert!(store.get(&key(0)).unwrap().downcast::<u32>().is_some());
        assert_eq!(store.usage().spilled, 0);
        // A spill directory that vanished: values stay in memory.
        let gone = std::env::temp_dir().join("rask-store-test-no-such-dir");
        let store = Store::new(Some(10), &gone);
        store.put(key(1), bytes(100, 1));
        assert_eq!(store.get(&key(1)), Some(bytes(100, 1)));
        assert_eq!(store.usage(), Usage { memory: 100, spilled: 0 });
    }

    #[test]
    fn replacing_a_spilled_value_deletes_its_file() {
        let dir = LocalDir::create(&std::env::temp_dir()).unwrap();
        let store = Store::new(Some(10), dir.path());
        store.put(key(0), bytes(100, 1));
        store.put(key(1), bytes(5, 1));
        assert_eq!(files(dir.path()), 1);
        store.put(key(0), bytes(3, 2));
        assert_eq!(files(dir.path()), 0);
        assert_eq!(store.usage(), Usage { memory: 8, spilled: 0 });
        assert_eq!(store.get(&key(0)), Some(bytes(3, 2)));
    }
}

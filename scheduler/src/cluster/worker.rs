//! One worker as the cluster scheduler sees it: its resources, what it runs and holds,
//! and the messages assembled for it until the next flush.

use std::sync::Arc;

use rustc_hash::FxHashSet;
use smallvec::SmallVec;

use super::core::WorkerId;
use super::task::Slot;
use crate::wire::{Address, EncodedOp, SubmitOp, TaskMsg};

/// What a worker says about itself when it joins.
#[derive(Debug, Clone)]
pub(crate) struct WorkerSpec {
    /// Its name (host and pid unless given).
    pub name: String,
    /// Threads running tasks.
    pub nthreads: u32,
    /// Where its peers fetch its values.
    pub data_address: Address,
    /// The largest message it takes.
    pub limit: u64,
}

impl WorkerSpec {
    /// Whether `entry` of a submission's list of workers names this one: its name, its
    /// address, or its address's host (Dask's names, addresses and hostnames).
    pub fn is_named(&self, entry: &str) -> bool {
        if entry == self.name || entry == self.data_address.to_string() {
            return true;
        }
        match &self.data_address {
            Address::Tcp(hostport) | Address::Tls(hostport) => hostport
                .rsplit_once(':')
                .is_some_and(|(host, _)| host.trim_start_matches('[').trim_end_matches(']') == entry),
            Address::Unix(_) => false,
        }
    }
}

/// Literal bytes one `Compute` message carries at most: beyond, the batch continues in
/// another message, so a worker starts on the first tasks while the rest travel.
pub(crate) const MAX_BATCH_BYTES: u64 = 64 << 20;

/// One `Compute` message being assembled: its tasks, its op table (each op once, found by
/// the address of its `Arc`) and the literal bytes its tasks carry.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub tasks: Vec<TaskMsg>,
    pub ops: Vec<EncodedOp>,
    op_slots: SmallVec<[(usize, u32); 8]>,
    bytes: u64,
}

impl Batch {
    /// The index of `op` in this batch's op table, adding it if new.
    pub fn op_index(&mut self, op: &Arc<SubmitOp>) -> u32 {
        let ptr = Arc::as_ptr(op) as usize;
        if let Some(&(_, i)) = self.op_slots.iter().find(|(p, _)| *p == ptr) {
            return i;
        }
        let i = self.ops.len() as u32;
        self.ops.push(op.op.clone());
        self.op_slots.push((ptr, i));
        i
    }
}

/// Whether a worker takes new tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Takes tasks.
    Running,
    /// Over its memory's pause threshold: takes none until it says otherwise.
    Paused,
}

/// One worker; see the module docs.
#[derive(Debug)]
pub(crate) struct Worker {
    pub id: WorkerId,
    pub spec: WorkerSpec,
    pub status: Status,
    /// Tasks sent and not finished (in its queue or running).
    pub processing: FxHashSet<Slot>,
    /// Expected µs of work in `processing` (durations per task group).
    pub occupancy_us: f64,
    /// Values it holds.
    pub has_what: FxHashSet<Slot>,
    /// Bytes of those values.
    pub nbytes: u64,
    /// Messages for the next flush.
    pub batches: Vec<Batch>,
    pub release: Vec<rask_graph::Key>,
    pub gather: Vec<rask_graph::Key>,
    pub steal: Vec<rask_graph::Key>,
}

impl Worker {
    pub fn new(id: WorkerId, spec: WorkerSpec) -> Worker {
        Worker {
            id,
            spec,
            status: Status::Running,
            processing: FxHashSet::default(),
            occupancy_us: 0.0,
            has_what: FxHashSet::default(),
            nbytes: 0,
            batches: Vec::new(),
            release: Vec::new(),
            gather: Vec::new(),
            steal: Vec::new(),
        }
    }

    pub fn nthreads(&self) -> usize {
        self.spec.nthreads.max(1) as usize
    }

    /// Expected µs until a task sent now would start.
    pub fn start_time_us(&self) -> f64 {
        self.occupancy_us / self.nthreads() as f64
    }

    /// The open batch, a new one if the open one would exceed [`MAX_BATCH_BYTES`].
    pub fn batch_for(&mut self, literal_bytes: u64) -> &mut Batch {
        if self.batches.last().is_none_or(|b| !b.tasks.is_empty() && b.bytes + literal_bytes > MAX_BATCH_BYTES) {
            self.batches.push(Batch::default());
        }
        let batch = self.batches.last_mut().expect("a batch is open");
        batch.bytes += literal_bytes;
        batch
    }
}

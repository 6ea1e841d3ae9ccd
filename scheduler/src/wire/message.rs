//! The control messages, with the task values they carry.
//!
//! A scheduler sends [`ToWorker`] to each worker and reads [`FromWorker`] back on the same
//! connection; a worker fetching inputs from another worker's data server sends
//! [`PeerRequest`] and reads [`PeerReply`]. Messages batch: one `Compute` carries many
//! tasks, one `Finished` many results, so a task costs no round trip of its own.

use std::sync::Arc;

use rask_graph::{GraphError, Key, Op, Value, decode_op, encode_op};
use serde::{Deserialize, Serialize};

use super::{Address, WireError};

/// From a scheduler to a worker.
#[derive(Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ToWorker {
    /// Run these tasks as soon as their inputs are available, lower `priority` first.
    /// `ops` is a table the tasks index, so an op shared by many tasks travels once.
    Compute {
        /// The ops of this batch, each encoded on its own so that an op the worker does
        /// not know fails only the tasks that use it.
        ops: Vec<EncodedOp>,
        /// The tasks.
        tasks: Vec<TaskMsg>,
    },
    /// Send these held values to the scheduler, as one [`FromWorker::Values`].
    Gather(Vec<Key>),
    /// Forget these keys: values held (in memory or spilled) are dropped, tasks still
    /// queued are cancelled (a task already running finishes, and is then dropped when
    /// the scheduler hears of it).
    Release(Vec<Key>),
    /// Give these queued tasks up to another worker if they have not started; answered
    /// with one [`FromWorker::Stolen`].
    Steal(Vec<Key>),
    /// Start nothing more and exit.
    Shutdown,
    /// Start nothing more, drop every value, and start again as a new process with the
    /// same command line (Dask's nanny restart); the new process joins as a new worker.
    Restart,
}

/// An op in its registered, serialized form ([`encode_op`]); decoded by the worker.
///
/// ```
/// use rask_graph::ops::Inc;
/// use rask_scheduler::wire::EncodedOp;
/// let op = EncodedOp::encode(&Inc).unwrap();
/// assert_eq!(op.decode().unwrap().name(), "inc");
/// assert!(EncodedOp(vec![0xc0]).decode().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EncodedOp(#[serde(with = "serde_bytes_compat")] pub Vec<u8>);

impl EncodedOp {
    /// Encodes `op`; a closure op (not portable) is an error naming it.
    pub fn encode(op: &dyn Op) -> Result<EncodedOp, WireError> {
        if !op.is_portable() {
            return Err(WireError::Encode(format!(
                "op '{}' is a local closure and cannot leave its process",
                op.name()
            )));
        }
        encode_op(op).map(EncodedOp).map_err(|e| WireError::Encode(e.to_string()))
    }

    /// Decodes the op; an unregistered name is an error naming it.
    pub fn decode(&self) -> Result<Arc<dyn Op>, GraphError> {
        decode_op(&self.0)
    }

    /// The op's registered name, read without decoding the op (typetag writes a one-entry
    /// map `{name: body}`); `None` if the bytes are not such a map.
    ///
    /// ```
    /// use rask_scheduler::wire::EncodedOp;
    /// assert_eq!(EncodedOp::encode(&rask_graph::ops::Inc).unwrap().name().as_deref(), Some("rask.inc"));
    /// assert_eq!(EncodedOp(vec![0xc1]).name(), None);
    /// ```
    pub fn name(&self) -> Option<String> {
        let map: std::collections::BTreeMap<String, serde::de::IgnoredAny> = rmp_serde::from_slice(&self.0).ok()?;
        let mut names = map.into_keys();
        match (names.next(), names.next()) {
            (Some(name), None) => Some(name),
            _ => None,
        }
    }
}

/// Encodes a byte vector as one MessagePack binary, not an array of integers.
pub(super) mod serde_bytes_compat {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_byte_buf(Visitor)
    }
}

/// One task to run on a worker.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskMsg {
    /// The key its output is stored under.
    pub key: Key,
    /// Index into the batch's op table.
    pub op: u32,
    /// Its arguments, in order.
    pub args: Vec<WireArg>,
    /// Lower runs first.
    pub priority: Priority,
}

/// Which of two tasks runs first: the lower. A higher user priority (Dask's `priority=`)
/// comes first, then the earlier submission, then the graph's order within it.
///
/// ```
/// use rask_scheduler::wire::Priority;
/// assert!(Priority::new(1, 9) < Priority::new(0, 0)); // urgent first
/// assert!(Priority::new(0, 1) < Priority::new(0, 2)); // then in order
/// assert_eq!(Priority::from(3), Priority::new(0, 3));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Priority {
    /// The user's priority, negated, so that lower sorts first.
    rank: i32,
    /// The submission's sequence number and the task's place in it.
    order: u64,
}

impl Priority {
    /// A task of user priority `user` (higher is sooner) at `order` among equals.
    pub fn new(user: i32, order: u64) -> Priority {
        Priority { rank: user.saturating_neg(), order }
    }
}

impl From<u64> for Priority {
    /// A task of user priority 0 at `order`.
    fn from(order: u64) -> Priority {
        Priority::new(0, order)
    }
}

/// Where one argument of a task comes from.
#[derive(Debug, Serialize, Deserialize)]
pub enum WireArg {
    /// A literal value.
    Value(Value),
    /// The output of a task this worker ran or is to run.
    Held(Key),
    /// The output of a task held by another worker, fetched from its data server.
    Remote {
        /// The value's key.
        key: Key,
        /// The holder's data address.
        from: Address,
    },
}

/// From a worker to its scheduler.
#[derive(Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FromWorker {
    /// These tasks finished; their values are held by the worker.
    Finished(Vec<Finished>),
    /// A task failed or panicked.
    Failed(TaskFailure),
    /// The values asked for with [`ToWorker::Gather`], in one or several messages.
    Values(Vec<(Key, Lookup)>),
    /// An input of `task` could not be fetched from `from` (the holder is gone or lost it).
    Missing {
        /// The task that needed it.
        task: Key,
        /// The missing value.
        key: Key,
        /// Where it was looked for.
        from: Address,
    },
    /// The answer to a [`ToWorker::Steal`]: per key, whether the task was given up (it
    /// had not started, and is dropped here).
    Stolen(Vec<(Key, bool)>),
    /// How the worker is doing, about once a second.
    Heartbeat(Heartbeat),
}

/// A worker's periodic report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Bytes of values in memory.
    pub memory: u64,
    /// Bytes of values spilled to disk.
    pub spilled: u64,
    /// The process's resident memory, in bytes.
    pub rss: u64,
    /// CPU used since the last heartbeat, in percent of one core.
    pub cpu_percent: f32,
    /// Tasks running now.
    pub executing: u32,
    /// Tasks queued or waiting for inputs.
    pub queued: u32,
    /// Whether the worker starts no new task: its memory is over the pause threshold
    /// (80% of its limit, after spilling).
    pub paused: bool,
}

/// One finished task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finished {
    /// Its key.
    pub key: Key,
    /// Bytes of its output ([`Value::nbytes`]).
    pub nbytes: u64,
    /// How long its op ran, in microseconds.
    pub duration_us: u64,
}

/// A task that failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskFailure {
    /// The task (for a fused task, the step that failed).
    pub key: Key,
    /// Its op's name.
    pub op: String,
    /// The error or panic message.
    pub message: String,
    /// Whether it panicked rather than returned an error.
    pub panicked: bool,
}

/// From a worker to another worker's data server.
#[derive(Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PeerRequest {
    /// Send these values.
    Get(Vec<Key>),
    /// The same, from a worker on this host: the values may be answered [`PeerReply::Mapped`],
    /// for the asker to copy from the holder's memory itself.
    GetMapped(Vec<Key>),
    /// The asker copied what a [`PeerReply::Mapped`] lease described: its memory may go.
    Release(u64),
}

/// A data server's answer.
#[derive(Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PeerReply {
    /// The values asked for, in order.
    Values(Vec<(Key, Lookup)>),
    /// A [`PeerReply::Values`] message left in the holder's memory: its frame's head, and
    /// where the rest of its bytes lie in the holder's process, kept there until the asker
    /// sends [`PeerRequest::Release`] of the lease (or closes the connection).
    Mapped(super::mapped::MappedFrame),
}

/// What a worker answers for one value asked of it.
///
/// ```
/// use rask_graph::Value;
/// use rask_scheduler::wire::Lookup;
/// assert_eq!(Lookup::from(Some(Value::I64(1))), Lookup::Found(Value::I64(1)));
/// assert_eq!(Lookup::from(None), Lookup::Missing);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Lookup {
    /// The value.
    Found(Value),
    /// Not held (never computed here, released, or lost).
    Missing,
    /// Held, but it cannot be sent: why (its message would exceed the asker's transfer
    /// limit). Asking again would give the same answer.
    Refused(String),
}

impl From<Option<Value>> for Lookup {
    fn from(value: Option<Value>) -> Lookup {
        value.map_or(Lookup::Missing, Lookup::Found)
    }
}

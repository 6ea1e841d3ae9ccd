//! Errors of the graph crate.

use crate::key::Key;

/// A value did not have the type or shape a task expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The value was of another variant.
    #[error("expected a value of type {expected}, found {found}")]
    Type {
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: &'static str,
    },
    /// An integer did not fit the target type.
    #[error("value {value} is out of range for {target}")]
    OutOfRange {
        /// The value, printed.
        value: String,
        /// The target type.
        target: &'static str,
    },
    /// A list had the wrong number of elements.
    #[error("expected a list of {expected} elements, found {found}")]
    Length {
        /// Expected length.
        expected: usize,
        /// Actual length.
        found: usize,
    },
}

/// What an [`Op`](crate::Op) returns when it cannot compute its result.
///
/// ```
/// use rask_graph::OpError;
/// let e = OpError::new("division by zero");
/// assert_eq!(e.to_string(), "division by zero");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct OpError {
    message: String,
    origin: Option<Box<(Key, String)>>,
}

impl OpError {
    /// An error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        OpError { message: message.into(), origin: None }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error, raised by the task `key` running op `op` (a task fused into the
    /// one that ran): the scheduler names that task instead of the fused one.
    pub fn in_task(mut self, key: Key, op: impl Into<String>) -> Self {
        self.origin = Some(Box::new((key, op.into())));
        self
    }

    /// The task and op that raised the error, when it is not the task that ran.
    pub fn origin(&self) -> Option<(Key, &str)> {
        self.origin.as_deref().map(|(key, op)| (*key, op.as_str()))
    }
}

impl From<ValueError> for OpError {
    fn from(e: ValueError) -> Self {
        OpError::new(e.to_string())
    }
}

/// A graph could not be built, transformed or (de)serialized.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// Two tasks were given the same key.
    #[error("duplicate key {0}: two tasks were added under the same key")]
    DuplicateKey(Key),
    /// A task refers to a key that no task produces.
    #[error("task {task} depends on {missing}, which is not in the graph")]
    MissingDependency {
        /// The task with the dangling reference.
        task: Key,
        /// The key nothing produces.
        missing: Key,
    },
    /// A task id does not name a task of the graph (an id from another graph).
    #[error("task id {id} is not in the graph (it has {len} tasks){}", .referrer.map(|k| format!("; referred to by {k}")).unwrap_or_default())]
    UnknownTaskId {
        /// The id.
        id: u32,
        /// The number of tasks in the graph at that point.
        len: usize,
        /// The task whose argument it was, if any.
        referrer: Option<Key>,
    },
    /// A requested output is not in the graph.
    #[error("requested output {0} is not in the graph")]
    MissingOutput(Key),
    /// The dependencies form a cycle.
    #[error("the graph has a cycle through: {}", .0.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(" -> "))]
    Cycle(Vec<Key>),
    /// The graph is larger than an index-based graph can hold.
    #[error("graph too large: more than {0} tasks, literals or arguments")]
    TooLarge(u32),
    /// A task's op cannot leave this process (a closure op).
    #[error(
        "task {key} uses the closure op '{op}', which cannot be sent to another process; \
         implement `rask_graph::Op` on a serializable struct and register it with \
         `#[typetag::serde(name = \"...\")]`, or use a local scheduler (sync or threads)"
    )]
    NotPortable {
        /// The task.
        key: Key,
        /// The op's name.
        op: String,
    },
    /// An argument to a graph-building call was out of its domain.
    #[error("invalid graph construction: {0}")]
    Invalid(String),
    /// Encoding or decoding a task or value failed.
    #[error("serialization failed: {0}")]
    Serialization(String),
}

//! Ops: what a task does.
//!
//! An [`Op`] is a trait object called with the task's arguments. Built-in ops are plain
//! serializable structs registered by a stable name through `typetag`, so a task can be
//! shipped to a worker process and decoded there. [`FnOp`] wraps a Rust closure for local
//! use; it refuses serialization, and distributed schedulers reject graphs holding one
//! before anything runs ([`crate::TaskGraph::check_portable`]).
//!
//! # Registering your own op
//!
//! ```
//! use rask_graph::{Args, Op, OpError, Value};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Hash, Serialize, Deserialize)]
//! struct Scale { factor: i64 }
//!
//! #[typetag::serde(name = "myapp.scale")]
//! impl Op for Scale {
//!     fn name(&self) -> &str { "scale" }
//!     fn call(&self, args: Args) -> Result<Value, OpError> {
//!         match args.first() {
//!             Some(Value::I64(x)) => Ok(Value::I64(x * self.factor)),
//!             other => Err(OpError::new(format!("scale expects an i64, got {other:?}"))),
//!         }
//!     }
//! }
//! # let out = Scale { factor: 3 }.call(rask_graph::args![Value::I64(2)]).unwrap();
//! # assert_eq!(out, Value::I64(6));
//! ```
//!
//! A binary that decodes tasks (a worker) must link the crate that defines the op: name it
//! with `use my_ops_crate as _;` or its registration is dropped by the linker.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::error::OpError;
use crate::token::Token;
use crate::value::Value;

/// The arguments of one call: up to eight values live on the stack, more spill to the heap.
pub type Args = SmallVec<[Value; 8]>;

/// Builds [`Args`] like `vec!`.
#[macro_export]
macro_rules! args {
    ($($v:expr),* $(,)?) => { $crate::Args::from_iter([$($v),*]) };
}

/// What a task does with its arguments.
///
/// `Op: Any`, so an op can look at another one's concrete type (`let any: &dyn Any =
/// producer;` then `any.downcast_ref::<MyOp>()`), as [`Op::fuse_with`] implementations do.
#[typetag::serde]
pub trait Op: Any + Send + Sync + fmt::Debug + 'static {
    /// A short, stable name of the op kind, used as the default task group.
    fn name(&self) -> &str;

    /// Computes the task's output. Arguments are owned: a uniquely held `Arc` payload can
    /// be reused in place.
    fn call(&self, args: Args) -> Result<Value, OpError>;

    /// Whether the op can be serialized and run in another process.
    fn is_portable(&self) -> bool {
        true
    }

    /// Whether a call is trivial next to scheduling a task: a selection or packing of its
    /// arguments (`rask.getitem`, `rask.list`, `rask.identity`), not a computation. The
    /// inline pass ([`crate::inline`]) evaluates a cheap task whose arguments are all
    /// literals at optimize time, when its result is small. The default is `false`.
    ///
    /// ```
    /// use rask_graph::{ops, Op};
    /// assert!(ops::GetItem { index: 0 }.is_cheap());
    /// assert!(!ops::Inc.is_cheap());
    /// ```
    fn is_cheap(&self) -> bool {
        false
    }

    /// Whether the optimizer may merge this task into the task that reads it. An op that
    /// stands for a value held elsewhere under the task's own key (a cluster's future,
    /// see `rask_scheduler::Held`) says `false`: its task must keep its key. The default
    /// is `true`.
    ///
    /// ```
    /// use rask_graph::{ops, Op};
    /// assert!(ops::Inc.is_fusable());
    /// ```
    fn is_fusable(&self) -> bool {
        true
    }

    /// One op doing the work of `producer` and then of `self`, when `self` reads the
    /// producer's output as its argument `position` and that output is needed nowhere
    /// else; `None` (the default) if this op cannot absorb it.
    ///
    /// The fused op takes `self`'s arguments with the one at `position` replaced by the
    /// producer's `producer_args` arguments, in order. The optimizer's fusion pass
    /// ([`crate::fuse`]) asks this first and falls back to a generic fused program, so
    /// an implementation only pays off when the combination is cheaper than running the
    /// two ops in turn (one flat expression instead of an intermediate block).
    ///
    /// ```
    /// use std::any::Any;
    /// use std::sync::Arc;
    /// use rask_graph::{args, Args, Op, OpError, Value};
    /// use serde::{Deserialize, Serialize};
    ///
    /// /// `x * factor`: two in a row multiply their factors.
    /// #[derive(Debug, Serialize, Deserialize)]
    /// struct Scale { factor: i64 }
    ///
    /// #[typetag::serde(name = "doc.fuse_with.scale")]
    /// impl Op for Scale {
    ///     fn name(&self) -> &str { "scale" }
    ///     fn call(&self, args: Args) -> Result<Value, OpError> {
    ///         match args.as_slice() {
    ///             [Value::I64(x)] => Ok(Value::I64(x * self.factor)),
    ///             other => Err(OpError::new(format!("scale expects one i64, got {other:?}"))),
    ///         }
    ///     }
    ///     fn fuse_with(&self, _position: usize, producer: &dyn Op, _args: usize) -> Option<Arc<dyn Op>> {
    ///         let producer: &dyn Any = producer;
    ///         let inner = producer.downcast_ref::<Scale>()?;
    ///         Some(Arc::new(Scale { factor: inner.factor * self.factor }))
    ///     }
    /// }
    ///
    /// let fused = Scale { factor: 3 }.fuse_with(0, &Scale { factor: 2 }, 1).unwrap();
    /// assert_eq!(fused.call(args![Value::I64(5)]).unwrap(), Value::I64(30));
    /// assert!(Scale { factor: 3 }.fuse_with(0, &rask_graph::ops::Inc, 1).is_none());
    /// ```
    fn fuse_with(&self, position: usize, producer: &dyn Op, producer_args: usize) -> Option<Arc<dyn Op>> {
        let _ = (position, producer, producer_args);
        None
    }
}

/// Serializes a borrowed op (the trait object's `Serialize` needs a sized wrapper).
struct OpRef<'a>(&'a dyn Op);

impl serde::Serialize for OpRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(self.0, s)
    }
}

/// A token describing an op and its parameters, for deterministic task names: the hash
/// of its serialized form. Closure ops cannot be serialized and get a fresh token each time.
///
/// ```
/// use rask_graph::{op_token, ops::GetItem, FnOp, Value};
/// assert_eq!(op_token(&GetItem { index: 1 }), op_token(&GetItem { index: 1 }));
/// assert_ne!(op_token(&GetItem { index: 1 }), op_token(&GetItem { index: 2 }));
/// let f = FnOp::new("f", |_| Ok(Value::Unit));
/// assert_ne!(op_token(&f), op_token(&f));
/// ```
pub fn op_token(op: &dyn Op) -> Token {
    match op.is_portable().then(|| rmp_serde::to_vec(&OpRef(op))) {
        Some(Ok(bytes)) => Token::of(&bytes),
        _ => Token::fresh(),
    }
}

/// Encodes an op with its registered name (MessagePack), to ship it to another process.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::{decode_op, encode_op, ops::Inc, Op};
/// let bytes = encode_op(&Inc).unwrap();
/// let op: Arc<dyn Op> = decode_op(&bytes).unwrap();
/// assert_eq!(op.name(), "inc");
/// ```
pub fn encode_op(op: &dyn Op) -> Result<Vec<u8>, crate::GraphError> {
    rmp_serde::to_vec(&OpRef(op)).map_err(|e| crate::GraphError::Serialization(e.to_string()))
}

/// Decodes an op encoded by [`encode_op`]; an unknown name is an error naming it.
pub fn decode_op(bytes: &[u8]) -> Result<Arc<dyn Op>, crate::GraphError> {
    let op: Box<dyn Op> =
        rmp_serde::from_slice(bytes).map_err(|e| crate::GraphError::Serialization(format!("cannot decode op: {e}")))?;
    Ok(Arc::from(op))
}

type CallFn = dyn Fn(Args) -> Result<Value, OpError> + Send + Sync;

/// A closure as an op, for the local schedulers.
///
/// ```
/// use rask_graph::{args, FnOp, Op, Value};
/// let double = FnOp::new("double", |args| match &args[0] {
///     Value::I64(x) => Ok(Value::I64(2 * x)),
///     _ => Err(rask_graph::OpError::new("double expects an i64")),
/// });
/// assert_eq!(double.call(args![Value::I64(4)]).unwrap(), Value::I64(8));
/// assert!(!double.is_portable());
/// ```
pub struct FnOp {
    name: String,
    call: Box<CallFn>,
}

impl FnOp {
    /// Wraps `call` under the group name `name`.
    pub fn new(name: impl Into<String>, call: impl Fn(Args) -> Result<Value, OpError> + Send + Sync + 'static) -> Self {
        FnOp { name: name.into(), call: Box::new(call) }
    }
}

impl fmt::Debug for FnOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FnOp({:?})", self.name)
    }
}

impl serde::Serialize for FnOp {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(format!(
            "the closure op '{}' cannot be serialized; register a serializable Op instead",
            self.name
        )))
    }
}

impl<'de> serde::Deserialize<'de> for FnOp {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("closure ops cannot be deserialized"))
    }
}

#[typetag::serde(name = "rask.closure")]
impl Op for FnOp {
    fn name(&self) -> &str {
        &self.name
    }
    fn call(&self, args: Args) -> Result<Value, OpError> {
        (self.call)(args)
    }
    fn is_portable(&self) -> bool {
        false
    }
}

//! # rask-graph
//!
//! The task-graph core of rask: what a computation *is*, independent of where it runs.
//!
//! - [`ArrayChunk`] is one block of a chunked array, of an [`Element`] type ([`DType`]).
//! - [`Key`] names a task's output (task [`Group`], [`Token`], block index); [`Value`] is
//!   what tasks produce; [`Data`] converts Rust types to and from values.
//! - [`Op`] is what a task does: built-in ops ([`ops`]) are serializable and registered by
//!   name, [`FnOp`] wraps a closure for local use.
//! - [`Layer`] is the lazy, shared form collections build; [`materialize`] flattens layers
//!   into a [`TaskGraph`], the index-based arena that passes and schedulers use.
//! - [`oob`] lets a wire frame carry array blocks, record batches and byte strings as raw
//!   buffers beside its MessagePack header instead of inside it.
//! - Passes are pure functions graph -> graph: [`cull`], [`inline`], [`fuse`] and
//!   [`order`], run in turn by [`optimize`]; [`to_dot`] and [`to_svg`] (laid out in pure Rust) render any
//!   graph.
//!
//! ```
//! use std::sync::Arc;
//! use rask_graph::{cull, ops, order, Arg, Group, Key, Op, TaskGraph, Token, Value};
//!
//! let inc: Arc<dyn Op> = Arc::new(ops::Inc);
//! let sum: Arc<dyn Op> = Arc::new(ops::Sum);
//! let mut b = TaskGraph::builder();
//! let leaves: Vec<Arg> = (0..4)
//!     .map(|i| b.add(Key::new(Group::new("inc"), Token(1), &[i]), &inc, [Arg::Value(Value::I64(i as i64))]))
//!     .map(|id| Arg::Task(id.unwrap()))
//!     .collect();
//! let total = b.add(Key::single(Group::new("sum"), Token(2)), &sum, leaves).unwrap();
//! let graph = b.build().unwrap();
//! let (graph, outputs) = cull(graph, &[total]);
//! let (graph, outputs) = order(graph, &outputs);
//! assert_eq!(graph.len(), 5);
//! assert_eq!(graph.key(outputs[0]).group().as_str(), "sum");
//! ```
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

pub mod alloc;
mod batch;
mod chunk;
mod cull;
mod dot;
mod error;
mod fuse;
mod inline;
mod ipc_check;
mod key;
mod layer;
pub mod memory;
pub mod oob;
mod op;
pub mod ops;
mod optimize;
mod order;
pub mod sample;
mod svg;
mod task_graph;
mod token;
mod value;

pub use batch::Batch;
pub use chunk::{ArrayChunk, DType, Element};
pub use cull::cull;
pub use dot::{group_colour, to_dot};
pub use error::{GraphError, OpError, ValueError};
pub use fuse::fuse;
pub use inline::{INLINE_LIMIT, inline};
pub use key::{Group, Key, MAX_WIRE_GROUP_NAME, MAX_WIRE_GROUPS, MAX_WIRE_INDEX_LEN, MAX_WIRE_LONG_INDICES};
pub use layer::{ArgSpec, Layer, TaskSpec, count_tasks, materialize, reachable_layers};
pub use op::{Args, FnOp, Op, decode_op, encode_op, op_token};
pub use optimize::{OptimizeOptions, optimize};
pub use order::{order, priority_sequence};
pub use svg::{SVG_TASK_LIMIT, to_svg};
pub use task_graph::{Arg, ArgView, Csr, GraphBuilder, TaskGraph, TaskId};
pub use token::{Token, TokenHasher};
pub use value::{Data, TaskOutput, Value};

/// Re-exported so that downstream crates register ops with the same `typetag` version.
pub use typetag;

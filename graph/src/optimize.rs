//! The optimizer pipeline that runs before every compute: the passes in sequence.

use crate::cull::cull;
use crate::fuse::fuse;
use crate::inline::inline;
use crate::order::order;
use crate::task_graph::{TaskGraph, TaskId};

/// Which passes [`optimize`] runs.
///
/// ```
/// use rask_graph::OptimizeOptions;
/// let all = OptimizeOptions::default();
/// assert!(all.cull && all.inline && all.fuse && all.order);
/// assert!(!OptimizeOptions::none().cull);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptimizeOptions {
    /// Drop tasks the outputs do not need.
    pub cull: bool,
    /// Evaluate cheap tasks of literals now and hand their results to their readers
    /// ([`crate::inline`]).
    pub inline: bool,
    /// Merge chains of tasks and bypass identities ([`crate::fuse`]).
    pub fuse: bool,
    /// Renumber tasks in priority order.
    pub order: bool,
}

impl Default for OptimizeOptions {
    fn default() -> Self {
        OptimizeOptions { cull: true, inline: true, fuse: true, order: true }
    }
}

impl OptimizeOptions {
    /// No pass at all: the graph runs as built.
    pub fn none() -> Self {
        OptimizeOptions { cull: false, inline: false, fuse: false, order: false }
    }
}

/// Runs the enabled passes (cull, inline, fuse, order); returns the new graph and the
/// outputs' new ids.
pub fn optimize(graph: TaskGraph, outputs: Vec<TaskId>, options: OptimizeOptions) -> (TaskGraph, Vec<TaskId>) {
    let (graph, outputs) = if options.cull { cull(graph, &outputs) } else { (graph, outputs) };
    let (graph, outputs) = if options.inline { inline(graph, &outputs) } else { (graph, outputs) };
    let (graph, outputs) = if options.fuse { fuse(graph, &outputs) } else { (graph, outputs) };
    if options.order { order(graph, &outputs) } else { (graph, outputs) }
}

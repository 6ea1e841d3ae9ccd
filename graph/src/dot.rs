//! DOT rendering of task graphs, for Graphviz or any DOT viewer.

use std::fmt::Write;

use crate::key::Group;
use crate::task_graph::{ArgView, TaskGraph};

/// Fill colours cycled over task groups.
const PALETTE: [&str; 10] =
    ["#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd"];

/// The fill colour of a task group: stable for a given name.
pub fn group_colour(group: Group) -> &'static str {
    let hash = group.as_str().bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    PALETTE[hash as usize % PALETTE.len()]
}

/// The graph in DOT: one box per task labelled with its key, coloured by task group, and
/// an edge from each dependency to its dependent.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::{ops, to_dot, Arg, Group, Key, Op, TaskGraph, Token, Value};
/// let inc: Arc<dyn Op> = Arc::new(ops::Inc);
/// let mut b = TaskGraph::builder();
/// let a = b.add(Key::single(Group::new("inc"), Token(1)), &inc, [Arg::Value(Value::I64(1))]).unwrap();
/// b.add(Key::single(Group::new("inc"), Token(2)), &inc, [Arg::Task(a)]).unwrap();
/// let dot = to_dot(&b.build().unwrap());
/// assert!(dot.starts_with("digraph"));
/// assert!(dot.contains("t0 -> t1"));
/// ```
pub fn to_dot(graph: &TaskGraph) -> String {
    let mut out = String::from(
        "digraph rask {\n  rankdir=BT;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n",
    );
    for t in graph.ids() {
        let key = graph.key(t);
        let label = key.to_string().replace('"', "\\\"");
        let _ = writeln!(out, "  t{} [label=\"{label}\", fillcolor=\"{}\"];", t.0, group_colour(key.group()));
    }
    for t in graph.ids() {
        for arg in graph.args(t) {
            if let ArgView::Task(d) = arg {
                let _ = writeln!(out, "  t{} -> t{};", d.0, t.0);
            }
        }
    }
    out.push_str("}\n");
    out
}

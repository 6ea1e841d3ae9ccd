//! Layers: the lazy, shareable graph that collections build.
//!
//! Each collection operation adds one [`Layer`] (its tasks, keyed, with arguments naming
//! keys of earlier layers) that points at the layers it reads, like Dask's
//! `HighLevelGraph`. Collections hold an `Arc<Layer>`, so deriving a new collection never
//! copies the graph behind it. [`materialize`] walks the layers reachable from the
//! requested outputs and builds the flat [`TaskGraph`]; tasks with equal keys (the same
//! computation reached twice) become one task.

use std::sync::Arc;

use rustc_hash::FxHashSet;
use smallvec::SmallVec;

use crate::error::GraphError;
use crate::key::Key;
use crate::op::Op;
use crate::task_graph::{Arg, GraphBuilder, TaskGraph, TaskId};
use crate::value::Value;

/// One argument of a [`TaskSpec`].
#[derive(Clone, Debug)]
pub enum ArgSpec {
    /// The output of the task with this key (in this layer or a dependency).
    Key(Key),
    /// A literal.
    Value(Value),
}

/// One task of a layer.
#[derive(Clone, Debug)]
pub struct TaskSpec {
    /// The key of its output.
    pub key: Key,
    /// What it does.
    pub op: Arc<dyn Op>,
    /// Its arguments, in call order.
    pub args: SmallVec<[ArgSpec; 4]>,
}

/// The tasks one collection operation added, and the layers they read.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::{materialize, ops, ArgSpec, Group, Key, Layer, Op, TaskSpec, Token, Value};
/// let inc: Arc<dyn Op> = Arc::new(ops::Inc);
/// let a = Key::single(Group::new("inc"), Token(1));
/// let b = Key::single(Group::new("inc"), Token(2));
/// let first = Layer::new(vec![TaskSpec { key: a, op: inc.clone(), args: [ArgSpec::Value(Value::I64(1))].into_iter().collect() }], vec![]);
/// let second = Layer::new(vec![TaskSpec { key: b, op: inc, args: [ArgSpec::Key(a)].into_iter().collect() }], vec![first]);
/// let (graph, outputs) = materialize(&[&second], &[b]).unwrap();
/// assert_eq!(graph.len(), 2);
/// assert_eq!(graph.key(outputs[0]), b);
/// ```
#[derive(Debug, Default)]
pub struct Layer {
    tasks: Vec<TaskSpec>,
    dependencies: Vec<Arc<Layer>>,
}

impl Layer {
    /// A layer of `tasks` reading from `dependencies` (each kept once, by identity).
    pub fn new(tasks: Vec<TaskSpec>, mut dependencies: Vec<Arc<Layer>>) -> Arc<Layer> {
        // A hash set, not a scan: a collect of 100,000 delayed values has that many.
        let mut seen: FxHashSet<*const Layer> = FxHashSet::default();
        dependencies.retain(|l| seen.insert(Arc::as_ptr(l)));
        Arc::new(Layer { tasks, dependencies })
    }

    /// The layer's tasks.
    pub fn tasks(&self) -> &[TaskSpec] {
        &self.tasks
    }

    /// The layers this one reads.
    pub fn dependencies(&self) -> &[Arc<Layer>] {
        &self.dependencies
    }
}

impl Drop for Layer {
    /// Drops long chains of layers iteratively: a million chained delayed calls must not
    /// overflow the stack when the last handle goes.
    fn drop(&mut self) {
        let mut stack = std::mem::take(&mut self.dependencies);
        while let Some(layer) = stack.pop() {
            if let Ok(mut owned) = Arc::try_unwrap(layer) {
                stack.append(&mut owned.dependencies);
            }
        }
    }
}

/// Builds the flat graph of everything `roots` depend on and returns it with the ids of
/// `outputs`. Layers are visited dependencies first, each once; a task whose key is
/// already present is skipped (it computes the same thing).
pub fn materialize(roots: &[&Arc<Layer>], outputs: &[Key]) -> Result<(TaskGraph, Vec<TaskId>), GraphError> {
    let layers = layers_in_dependency_order(roots);
    let tasks: usize = layers.iter().map(|l| l.tasks.len()).sum();
    let mut builder = GraphBuilder::with_capacity(tasks, tasks * 2);
    for layer in &layers {
        for task in &layer.tasks {
            if builder.get(&task.key).is_some() {
                continue;
            }
            let args = task.args.iter().map(|a| match a {
                ArgSpec::Key(k) => Arg::Key(*k),
                ArgSpec::Value(v) => Arg::Value(v.clone()),
            });
            builder.add(task.key, &task.op, args)?;
        }
    }
    let graph = builder.build()?;
    let ids = graph.find(outputs)?;
    Ok((graph, ids))
}

/// The number of tasks in the layers reachable from `roots` (each layer counted once).
pub fn count_tasks(roots: &[&Arc<Layer>]) -> usize {
    layers_in_dependency_order(roots).iter().map(|l| l.tasks.len()).sum()
}

/// The layers reachable from `roots`, each once (by identity), every layer after the
/// layers it reads.
///
/// ```
/// use rask_graph::{reachable_layers, Layer};
/// let first = Layer::new(vec![], vec![]);
/// let second = Layer::new(vec![], vec![first.clone()]);
/// let layers = reachable_layers(&[&second, &first]);
/// assert_eq!(layers.len(), 2);
/// assert!(std::ptr::eq(layers[0], &*first));
/// ```
pub fn reachable_layers<'a>(roots: &[&'a Arc<Layer>]) -> Vec<&'a Layer> {
    layers_in_dependency_order(roots)
}

/// Post-order over the layer DAG (iterative; layers deduplicated by identity).
fn layers_in_dependency_order<'a>(roots: &[&'a Arc<Layer>]) -> Vec<&'a Layer> {
    let mut seen = FxHashSet::default();
    let mut order = Vec::new();
    let mut stack: Vec<(&'a Layer, usize)> = Vec::new();
    for root in roots {
        if !seen.insert(Arc::as_ptr(root) as usize) {
            continue;
        }
        stack.push((root, 0));
        while let Some((layer, next)) = stack.last_mut() {
            let layer: &'a Layer = layer;
            if let Some(dep) = layer.dependencies.get(*next) {
                *next += 1;
                if seen.insert(Arc::as_ptr(dep) as usize) {
                    stack.push((dep, 0));
                }
            } else {
                order.push(layer);
                stack.pop();
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Group, Token, ops};

    fn inc_layer(token: u64, input: Option<(Key, Arc<Layer>)>) -> (Key, Arc<Layer>) {
        let key = Key::single(Group::new("inc"), Token(token));
        let op: Arc<dyn Op> = Arc::new(ops::Inc);
        let (arg, deps) = match input {
            Some((k, l)) => (ArgSpec::Key(k), vec![l]),
            None => (ArgSpec::Value(Value::I64(0)), vec![]),
        };
        (key, Layer::new(vec![TaskSpec { key, op, args: smallvec::smallvec![arg] }], deps))
    }

    #[test]
    fn equal_keys_become_one_task() {
        let (a, la) = inc_layer(1, None);
        let (b1, lb1) = inc_layer(2, Some((a, la.clone())));
        let (b2, lb2) = inc_layer(2, Some((a, la)));
        assert_eq!(b1, b2);
        let (g, ids) = materialize(&[&lb1, &lb2], &[b1, b2]).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(ids[0], ids[1]);
    }

    #[test]
    fn long_chains_build_and_drop_without_recursion() {
        let mut node = inc_layer(0, None);
        for i in 1..200_000 {
            node = inc_layer(i, Some(node));
        }
        let (g, ids) = materialize(&[&node.1], &[node.0]).unwrap();
        assert_eq!(g.len(), 200_000);
        assert_eq!(ids, vec![TaskId(199_999)]);
        drop(node);
    }

    #[test]
    fn a_key_outside_the_layers_is_an_error() {
        let (a, _) = inc_layer(1, None);
        let (b, lb) = inc_layer(2, Some((a, Layer::new(vec![], vec![]))));
        let err = materialize(&[&lb], &[b]).unwrap_err();
        assert_eq!(err, GraphError::MissingDependency { task: b, missing: a });
    }
}

//! The flat, index-based task graph that optimizer passes and schedulers work on.
//!
//! Tasks live in parallel arrays indexed by [`TaskId`]: one key, one op id (into a table
//! of shared ops) and a CSR slice of arguments per task. An argument is a `u32` naming
//! either another task or a literal in a side table, so a task costs about 60 bytes and
//! building one allocates nothing of its own. Task ids are always a topological order:
//! every argument refers to a lower id.

use std::sync::Arc;

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::error::GraphError;
use crate::key::Key;
use crate::op::Op;
use crate::value::Value;

/// The position of a task in a [`TaskGraph`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u32);

impl TaskId {
    /// The id as an index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Bit 31 of an argument marks a literal; the rest is the task id or literal index.
const LITERAL_BIT: u32 = 1 << 31;
const MAX_ITEMS: u32 = LITERAL_BIT - 1;

/// A stored argument: a task id, or the index of a literal.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct ArgRef(u32);

/// One argument of a task, as read back from the graph.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum ArgView<'a> {
    /// The output of another task.
    Task(TaskId),
    /// A literal value.
    Literal(&'a Value),
}

/// One argument of a task being added to a [`GraphBuilder`].
#[derive(Clone, Debug)]
pub enum Arg {
    /// The output of a task already added, by id (the fast path).
    Task(TaskId),
    /// The output of the task with this key, which may be added later.
    Key(Key),
    /// A literal.
    Value(Value),
}

impl From<TaskId> for Arg {
    fn from(id: TaskId) -> Self {
        Arg::Task(id)
    }
}
impl From<Key> for Arg {
    fn from(key: Key) -> Self {
        Arg::Key(key)
    }
}
impl From<Value> for Arg {
    fn from(value: Value) -> Self {
        Arg::Value(value)
    }
}

/// Compressed rows of `u32`s: row `i` is `items[start[i]..start[i + 1]]`.
#[derive(Clone, Debug, Default)]
pub struct Csr {
    start: Vec<u32>,
    items: Vec<u32>,
}

impl Csr {
    /// Row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> &[u32] {
        &self.items[self.start[i] as usize..self.start[i + 1] as usize]
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.start.len().saturating_sub(1)
    }

    /// Heap bytes held.
    pub fn memory_bytes(&self) -> usize {
        (self.start.capacity() + self.items.capacity()) * 4
    }
}

/// A materialized task graph.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::{ops, Arg, Group, Key, Op, TaskGraph, Token, Value};
/// let inc: Arc<dyn Op> = Arc::new(ops::Inc);
/// let add: Arc<dyn Op> = Arc::new(ops::Add);
/// let mut b = TaskGraph::builder();
/// let x = b.add(Key::new(Group::new("inc"), Token(1), &[0]), &inc, [Arg::Value(Value::I64(1))]).unwrap();
/// let y = b.add(Key::new(Group::new("inc"), Token(1), &[1]), &inc, [Arg::Value(Value::I64(2))]).unwrap();
/// let z = b.add(Key::single(Group::new("add"), Token(2)), &add, [Arg::Task(x), Arg::Task(y)]).unwrap();
/// let graph = b.build().unwrap();
/// assert_eq!(graph.len(), 3);
/// assert_eq!(graph.dependencies(z).collect::<Vec<_>>(), vec![x, y]);
/// ```
#[derive(Clone, Default)]
pub struct TaskGraph {
    keys: Vec<Key>,
    op_of: Vec<u32>,
    ops: Vec<Arc<dyn Op>>,
    arg_start: Vec<u32>,
    args: Vec<ArgRef>,
    literals: Vec<Value>,
}

impl std::fmt::Debug for TaskGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskGraph").field("tasks", &self.len()).field("ops", &self.ops.len()).finish()
    }
}

impl TaskGraph {
    /// A builder for a new graph.
    pub fn builder() -> GraphBuilder {
        GraphBuilder::with_capacity(0, 0)
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the graph has no tasks.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// All task ids, in order.
    pub fn ids(&self) -> impl DoubleEndedIterator<Item = TaskId> + ExactSizeIterator + use<> {
        (0..self.len() as u32).map(TaskId)
    }

    /// The key of task `id`.
    #[inline]
    pub fn key(&self, id: TaskId) -> Key {
        self.keys[id.index()]
    }

    /// All keys, by task id.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The op of task `id`.
    #[inline]
    pub fn op(&self, id: TaskId) -> &Arc<dyn Op> {
        &self.ops[self.op_of[id.index()] as usize]
    }

    /// The index of task `id`'s op in the graph's table of shared ops.
    #[inline]
    pub(crate) fn op_index(&self, id: TaskId) -> usize {
        self.op_of[id.index()] as usize
    }

    /// The graph's table of shared ops.
    pub(crate) fn op_table(&self) -> &[Arc<dyn Op>] {
        &self.ops
    }

    /// Argument `i` of task `id`.
    #[inline]
    pub(crate) fn arg_at(&self, id: TaskId, i: usize) -> ArgView<'_> {
        self.view(self.arg_refs(id)[i])
    }

    /// The number of arguments of all tasks together.
    pub(crate) fn total_args(&self) -> usize {
        self.args.len()
    }

    /// The arguments of task `id`, in call order.
    #[inline]
    pub fn args(&self, id: TaskId) -> impl ExactSizeIterator<Item = ArgView<'_>> + '_ {
        self.arg_refs(id).iter().map(|a| self.view(*a))
    }

    /// The number of arguments of task `id`.
    #[inline]
    pub fn arg_count(&self, id: TaskId) -> usize {
        self.arg_refs(id).len()
    }

    /// The tasks whose outputs task `id` reads, in argument order (repeats included).
    #[inline]
    pub fn dependencies(&self, id: TaskId) -> impl Iterator<Item = TaskId> + '_ {
        self.arg_refs(id).iter().filter(|a| a.0 & LITERAL_BIT == 0).map(|a| TaskId(a.0))
    }

    #[inline]
    fn arg_refs(&self, id: TaskId) -> &[ArgRef] {
        let i = id.index();
        &self.args[self.arg_start[i] as usize..self.arg_start[i + 1] as usize]
    }

    #[inline]
    fn view(&self, a: ArgRef) -> ArgView<'_> {
        if a.0 & LITERAL_BIT == 0 {
            ArgView::Task(TaskId(a.0))
        } else {
            ArgView::Literal(&self.literals[(a.0 & !LITERAL_BIT) as usize])
        }
    }

    /// For each task, the tasks that read its output (one entry per reading argument).
    pub fn dependents(&self) -> Csr {
        let n = self.len();
        let mut start = vec![0u32; n + 1];
        for a in &self.args {
            if a.0 & LITERAL_BIT == 0 {
                start[a.0 as usize + 1] += 1;
            }
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut items = vec![0u32; start[n] as usize];
        for t in 0..n {
            for a in self.arg_refs(TaskId(t as u32)) {
                if a.0 & LITERAL_BIT == 0 {
                    let slot = &mut fill[a.0 as usize];
                    items[*slot as usize] = t as u32;
                    *slot += 1;
                }
            }
        }
        Csr { start, items }
    }

    /// The ids of `keys`, or an error naming the first key not in the graph.
    pub fn find(&self, keys: &[Key]) -> Result<Vec<TaskId>, GraphError> {
        if keys.len() <= 8 {
            return keys
                .iter()
                .map(|k| {
                    self.keys.iter().position(|x| x == k).map(|i| TaskId(i as u32)).ok_or(GraphError::MissingOutput(*k))
                })
                .collect();
        }
        let index: FxHashMap<Key, u32> = self.keys.iter().enumerate().map(|(i, k)| (*k, i as u32)).collect();
        keys.iter().map(|k| index.get(k).map(|&i| TaskId(i)).ok_or(GraphError::MissingOutput(*k))).collect()
    }

    /// Checks that every task can be sent to another process, naming the first that cannot
    /// (a closure op or an opaque literal).
    pub fn check_portable(&self) -> Result<(), GraphError> {
        for id in self.ids() {
            let op = self.op(id);
            if !op.is_portable() {
                return Err(GraphError::NotPortable { key: self.key(id), op: op.name().to_string() });
            }
            if self.args(id).any(|a| matches!(a, ArgView::Literal(v) if !v.is_portable())) {
                return Err(GraphError::NotPortable {
                    key: self.key(id),
                    op: format!("{} (opaque literal)", op.name()),
                });
            }
        }
        Ok(())
    }

    /// Heap bytes held by the graph's own arrays (not counting shared ops' and literals'
    /// payloads).
    pub fn memory_bytes(&self) -> usize {
        self.keys.capacity() * std::mem::size_of::<Key>()
            + self.op_of.capacity() * 4
            + self.ops.capacity() * std::mem::size_of::<Arc<dyn Op>>()
            + self.arg_start.capacity() * 4
            + self.args.capacity() * 4
            + self.literals.capacity() * std::mem::size_of::<Value>()
    }

    /// The same graph without spare capacity (large shrinks are an `mremap`, not a copy).
    fn shrunk(mut self) -> TaskGraph {
        self.keys.shrink_to_fit();
        self.op_of.shrink_to_fit();
        self.arg_start.shrink_to_fit();
        self.args.shrink_to_fit();
        self.literals.shrink_to_fit();
        self
    }

    /// A new graph holding the tasks of `order` (a topological order of a subset closed
    /// under dependencies), renumbered by their position in it. Returns the graph and the
    /// map from old ids to new ones (`None` for dropped tasks).
    pub fn select(&self, order: &[TaskId]) -> (TaskGraph, Vec<Option<TaskId>>) {
        const DROPPED: u32 = u32::MAX;
        let mut new_id = vec![DROPPED; self.len()];
        for (i, id) in order.iter().enumerate() {
            new_id[id.index()] = i as u32;
        }
        let mut out = TaskGraph {
            keys: Vec::with_capacity(order.len()),
            op_of: Vec::with_capacity(order.len()),
            ops: self.ops.clone(),
            arg_start: Vec::with_capacity(order.len() + 1),
            args: Vec::with_capacity(self.args.len().min(order.len() * 2)),
            literals: Vec::new(),
        };
        out.arg_start.push(0);
        for &id in order {
            out.keys.push(self.keys[id.index()]);
            out.op_of.push(self.op_of[id.index()]);
            for a in self.arg_refs(id) {
                let mapped = if a.0 & LITERAL_BIT == 0 {
                    let n = new_id[a.0 as usize];
                    assert!(n != DROPPED && n < out.keys.len() as u32, "select: order is not closed and topological");
                    ArgRef(n)
                } else {
                    out.literals.push(self.literals[(a.0 & !LITERAL_BIT) as usize].clone());
                    ArgRef((out.literals.len() as u32 - 1) | LITERAL_BIT)
                };
                out.args.push(mapped);
            }
            out.arg_start.push(out.args.len() as u32);
        }
        let map = new_id.into_iter().map(|n| (n != DROPPED).then_some(TaskId(n))).collect();
        (out, map)
    }
}

/// Adds tasks one at a time; see [`TaskGraph`].
///
/// Arguments given by id must name tasks already added; arguments given by key may name
/// tasks added later, and [`GraphBuilder::build`] then sorts the graph topologically
/// (reporting a cycle as an error).
#[derive(Debug)]
pub struct GraphBuilder {
    graph: TaskGraph,
    op_ids: OpIds,
    /// Task ids by key: the table stores only ids and compares keys in the arena, so an
    /// entry costs 4 bytes instead of a copy of the key.
    key_ids: HashTable<u32>,
    forward: Vec<(u32, Key)>,
}

#[inline]
fn key_hash(key: &Key) -> u64 {
    FxBuildHasher.hash_one(key)
}

impl GraphBuilder {
    /// A builder with room for `tasks` tasks and `args` arguments.
    pub fn with_capacity(tasks: usize, args: usize) -> Self {
        let Rebuild { graph, op_ids } = Rebuild::with_capacity(tasks, args);
        GraphBuilder { graph, op_ids, key_ids: HashTable::with_capacity(tasks), forward: Vec::new() }
    }

    /// The number of tasks added so far.
    pub fn len(&self) -> usize {
        self.graph.len()
    }

    /// Whether no task was added yet.
    pub fn is_empty(&self) -> bool {
        self.graph.is_empty()
    }

    /// The id of the task with `key`, if it was added.
    pub fn get(&self, key: &Key) -> Option<TaskId> {
        let keys = &self.graph.keys;
        // The task being added is in the table before its key is in the arena.
        self.key_ids.find(key_hash(key), |&i| keys.get(i as usize) == Some(key)).map(|&i| TaskId(i))
    }

    /// Adds a task. Fails on a duplicate key or an id that is not in the graph yet.
    pub fn add<I>(&mut self, key: Key, op: &Arc<dyn Op>, args: I) -> Result<TaskId, GraphError>
    where
        I: IntoIterator<Item = Arg>,
    {
        let id = self.graph.len() as u32;
        if id >= MAX_ITEMS {
            return Err(GraphError::TooLarge(MAX_ITEMS));
        }
        let keys = &self.graph.keys;
        let hash = key_hash(&key);
        match self.key_ids.entry(hash, |&i| keys[i as usize] == key, |&i| key_hash(&keys[i as usize])) {
            hashbrown::hash_table::Entry::Occupied(_) => return Err(GraphError::DuplicateKey(key)),
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(id);
            }
        }
        let op_id = self.op_ids.id(&mut self.graph.ops, op);
        let mark = (self.graph.args.len(), self.graph.literals.len(), self.forward.len());
        if let Err(e) = self.push_args(key, id, args) {
            self.graph.args.truncate(mark.0);
            self.graph.literals.truncate(mark.1);
            self.forward.truncate(mark.2);
            if let Ok(entry) = self.key_ids.find_entry(hash, |&i| i == id) {
                entry.remove();
            }
            return Err(e);
        }
        self.graph.keys.push(key);
        self.graph.op_of.push(op_id);
        self.graph.arg_start.push(self.graph.args.len() as u32);
        Ok(TaskId(id))
    }

    /// Adds a tree reduction over `inputs`: each task of level `d` applies `op` to up to
    /// `fan_in` tasks of level `d - 1`, until one task remains (Dask's `split_every`).
    /// Keys are `(group, token, [d, i])`. Returns the root, or the only input itself.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rask_graph::{ops, Arg, Group, Key, Op, TaskGraph, Token, Value};
    /// let sum: Arc<dyn Op> = Arc::new(ops::Sum);
    /// let mut b = TaskGraph::builder();
    /// let leaves: Vec<_> = (0..100)
    ///     .map(|i| b.add(Key::new(Group::new("x"), Token(1), &[i]), &sum, [Arg::Value(Value::I64(i as i64))]).unwrap())
    ///     .collect();
    /// let root = b.add_tree(&leaves, 8, &sum, Group::new("total"), Token(2)).unwrap();
    /// assert_eq!(b.len(), 100 + 13 + 2 + 1);
    /// assert_eq!(b.build().unwrap().key(root).index(), &[3, 0]);
    /// ```
    pub fn add_tree(
        &mut self,
        inputs: &[TaskId],
        fan_in: usize,
        op: &Arc<dyn Op>,
        group: crate::Group,
        token: crate::Token,
    ) -> Result<TaskId, GraphError> {
        if fan_in < 2 || inputs.is_empty() {
            return Err(GraphError::Invalid(format!(
                "a tree reduction needs a fan-in of at least 2 and at least one input (got fan-in {fan_in}, {} inputs)",
                inputs.len()
            )));
        }
        let mut level = inputs.to_vec();
        let mut depth = 0u32;
        while level.len() > 1 {
            depth += 1;
            let mut next = Vec::with_capacity(level.len().div_ceil(fan_in));
            for (i, group_of_inputs) in level.chunks(fan_in).enumerate() {
                let key = Key::new(group, token, &[depth, i as u32]);
                next.push(self.add(key, op, group_of_inputs.iter().map(|&t| Arg::Task(t)))?);
            }
            level = next;
        }
        Ok(level[0])
    }

    fn push_args<I>(&mut self, key: Key, id: u32, args: I) -> Result<(), GraphError>
    where
        I: IntoIterator<Item = Arg>,
    {
        for arg in args {
            let stored = match arg {
                Arg::Task(t) if t.0 < id => ArgRef(t.0),
                Arg::Task(t) => {
                    return Err(GraphError::UnknownTaskId { id: t.0, len: id as usize, referrer: Some(key) });
                }
                Arg::Key(k) => match self.get(&k) {
                    Some(t) if t.0 != id => ArgRef(t.0),
                    _ => {
                        self.forward.push((self.graph.args.len() as u32, k));
                        ArgRef(u32::MAX)
                    }
                },
                Arg::Value(v) => {
                    if self.graph.literals.len() as u32 >= MAX_ITEMS {
                        return Err(GraphError::TooLarge(MAX_ITEMS));
                    }
                    self.graph.literals.push(v);
                    ArgRef((self.graph.literals.len() as u32 - 1) | LITERAL_BIT)
                }
            };
            self.graph.args.push(stored);
        }
        if self.graph.args.len() as u64 >= MAX_ITEMS as u64 {
            return Err(GraphError::TooLarge(MAX_ITEMS));
        }
        Ok(())
    }

    /// Finishes the graph: resolves keys given as arguments and, if any pointed forward,
    /// sorts the tasks topologically.
    pub fn build(mut self) -> Result<TaskGraph, GraphError> {
        if self.forward.is_empty() {
            return Ok(self.graph.shrunk());
        }
        let mut arg_owner = 0usize;
        for &(pos, key) in &self.forward {
            while self.graph.arg_start[arg_owner + 1] <= pos {
                arg_owner += 1;
            }
            let task = self.graph.keys[arg_owner];
            let target = self.get(&key).ok_or(GraphError::MissingDependency { task, missing: key })?;
            self.graph.args[pos as usize] = ArgRef(target.0);
        }
        let order = topological_order(&self.graph)?;
        Ok(self.graph.select(&order).0)
    }
}

/// Interns ops by address into a graph's table of shared ops.
#[derive(Debug, Default)]
struct OpIds {
    ids: FxHashMap<usize, u32>,
    last: Option<(usize, u32)>,
}

impl OpIds {
    /// The index of `op` in `ops`, appending it if it is new.
    #[inline]
    fn id(&mut self, ops: &mut Vec<Arc<dyn Op>>, op: &Arc<dyn Op>) -> u32 {
        let ptr = Arc::as_ptr(op) as *const () as usize;
        if let Some((p, id)) = self.last
            && p == ptr
        {
            return id;
        }
        let id = *self.ids.entry(ptr).or_insert_with(|| {
            ops.push(op.clone());
            ops.len() as u32 - 1
        });
        self.last = Some((ptr, id));
        id
    }
}

/// Builds a graph out of another graph's tasks (some dropped, merged or rewritten) without
/// hashing keys: what the passes that change tasks use. Keys are unique because they come
/// from a graph where they were; ids stay a topological order because every argument names
/// a task already pushed.
pub(crate) struct Rebuild {
    graph: TaskGraph,
    op_ids: OpIds,
}

impl Rebuild {
    /// Room for `tasks` tasks and `args` arguments.
    pub(crate) fn with_capacity(tasks: usize, args: usize) -> Self {
        let mut graph = TaskGraph {
            keys: Vec::with_capacity(tasks),
            op_of: Vec::with_capacity(tasks),
            arg_start: Vec::with_capacity(tasks + 1),
            args: Vec::with_capacity(args),
            ..TaskGraph::default()
        };
        graph.arg_start.push(0);
        Rebuild { graph, op_ids: OpIds::default() }
    }

    /// Argument: the output of task `id` of the new graph, pushed before.
    #[inline]
    pub(crate) fn arg_task(&mut self, id: TaskId) {
        debug_assert!(id.index() < self.graph.len(), "rebuild: arguments name earlier tasks");
        self.graph.args.push(ArgRef(id.0));
    }

    /// Argument: a literal.
    #[inline]
    pub(crate) fn arg_value(&mut self, value: Value) {
        self.graph.literals.push(value);
        self.graph.args.push(ArgRef((self.graph.literals.len() as u32 - 1) | LITERAL_BIT));
    }

    /// Ends a task whose arguments were pushed since the last one ended; returns its id.
    #[inline]
    pub(crate) fn task(&mut self, key: Key, op: &Arc<dyn Op>) -> TaskId {
        let op_id = self.op_ids.id(&mut self.graph.ops, op);
        self.graph.keys.push(key);
        self.graph.op_of.push(op_id);
        self.graph.arg_start.push(self.graph.args.len() as u32);
        TaskId(self.graph.keys.len() as u32 - 1)
    }

    /// The graph, without spare capacity.
    pub(crate) fn finish(self) -> TaskGraph {
        self.graph.shrunk()
    }
}

/// Kahn's algorithm over arguments that may point forward. On a cycle, petgraph finds one
/// to report.
fn topological_order(graph: &TaskGraph) -> Result<Vec<TaskId>, GraphError> {
    let n = graph.len();
    let dependents = graph.dependents();
    let mut pending: Vec<u32> = graph.ids().map(|t| graph.dependencies(t).count() as u32).collect();
    let mut order: Vec<TaskId> = graph.ids().filter(|t| pending[t.index()] == 0).collect();
    let mut next = 0;
    while next < order.len() {
        let t = order[next];
        next += 1;
        for &d in dependents.row(t.index()) {
            pending[d as usize] -= 1;
            if pending[d as usize] == 0 {
                order.push(TaskId(d));
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    Err(GraphError::Cycle(find_cycle(graph, &pending)))
}

fn find_cycle(graph: &TaskGraph, pending: &[u32]) -> Vec<Key> {
    use petgraph::graphmap::DiGraphMap;
    let mut g = DiGraphMap::<u32, ()>::new();
    for t in graph.ids().filter(|t| pending[t.index()] > 0) {
        for d in graph.dependencies(t).filter(|d| pending[d.index()] > 0) {
            g.add_edge(d.0, t.0, ());
        }
    }
    let sccs = petgraph::algo::tarjan_scc(&g);
    let cycle = sccs.into_iter().find(|c| c.len() > 1 || g.contains_edge(c[0], c[0])).unwrap_or_default();
    cycle.into_iter().rev().map(|t| graph.key(TaskId(t))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Group, Token, ops};

    fn key(i: u32) -> Key {
        Key::new(Group::new("t"), Token(1), &[i])
    }

    #[test]
    fn forward_references_are_sorted() {
        let op: Arc<dyn Op> = Arc::new(ops::Sum);
        let mut b = TaskGraph::builder();
        b.add(key(2), &op, [Arg::Key(key(1)), Arg::Key(key(0))]).unwrap();
        b.add(key(1), &op, [Arg::Key(key(0))]).unwrap();
        b.add(key(0), &op, [Arg::Value(Value::I64(1))]).unwrap();
        let g = b.build().unwrap();
        assert_eq!(g.keys(), &[key(0), key(1), key(2)]);
        let deps: Vec<_> = g.dependencies(TaskId(2)).map(|t| g.key(t)).collect();
        assert_eq!(deps, vec![key(1), key(0)]);
    }

    #[test]
    fn cycles_and_missing_keys_are_errors() {
        let op: Arc<dyn Op> = Arc::new(ops::Sum);
        let mut b = TaskGraph::builder();
        b.add(key(0), &op, [Arg::Key(key(2))]).unwrap();
        b.add(key(1), &op, [Arg::Key(key(0))]).unwrap();
        b.add(key(2), &op, [Arg::Key(key(1))]).unwrap();
        b.add(key(3), &op, [Arg::Key(key(2))]).unwrap();
        match b.build() {
            Err(GraphError::Cycle(keys)) => {
                assert_eq!(keys.len(), 3);
                assert!(!keys.contains(&key(3)));
            }
            other => panic!("expected a cycle, got {other:?}"),
        }
        let mut b = TaskGraph::builder();
        b.add(key(0), &op, [Arg::Key(key(9))]).unwrap();
        let err = b.build().unwrap_err();
        assert_eq!(err, GraphError::MissingDependency { task: key(0), missing: key(9) });
        let mut b = TaskGraph::builder();
        b.add(key(0), &op, [Arg::Key(key(0))]).unwrap();
        assert!(matches!(b.build(), Err(GraphError::Cycle(_))));
    }

    #[test]
    fn duplicate_keys_and_foreign_ids_are_errors() {
        let op: Arc<dyn Op> = Arc::new(ops::Sum);
        let mut b = TaskGraph::builder();
        b.add(key(0), &op, []).unwrap();
        assert_eq!(b.add(key(0), &op, []).unwrap_err(), GraphError::DuplicateKey(key(0)));
        let err = b.add(key(1), &op, [Arg::Task(TaskId(5))]).unwrap_err();
        assert_eq!(err, GraphError::UnknownTaskId { id: 5, len: 1, referrer: Some(key(1)) });
        assert!(err.to_string().contains("task id 5"), "{err}");
        // The failed add left nothing behind.
        b.add(key(1), &op, [Arg::Task(TaskId(0))]).unwrap();
        assert_eq!(b.build().unwrap().len(), 2);
    }

    #[test]
    fn ops_are_shared_in_one_table() {
        let op: Arc<dyn Op> = Arc::new(ops::Inc);
        let other: Arc<dyn Op> = Arc::new(ops::Inc);
        let mut b = TaskGraph::builder();
        for i in 0..10 {
            b.add(key(i), if i % 2 == 0 { &op } else { &other }, []).unwrap();
        }
        let g = b.build().unwrap();
        assert_eq!(g.ops.len(), 2);
        assert!(Arc::ptr_eq(g.op(TaskId(4)), &op));
        assert!(Arc::ptr_eq(g.op(TaskId(5)), &other));
    }

    #[test]
    fn find_locates_keys_or_names_the_missing_one() {
        let op: Arc<dyn Op> = Arc::new(ops::Inc);
        let mut b = TaskGraph::builder();
        for i in 0..20 {
            b.add(key(i), &op, []).unwrap();
        }
        let g = b.build().unwrap();
        let wanted: Vec<Key> = (0..20).rev().map(key).collect();
        assert_eq!(g.find(&wanted).unwrap()[0], TaskId(19));
        assert_eq!(g.find(&[key(3)]).unwrap(), vec![TaskId(3)]);
        assert_eq!(g.find(&[key(30)]).unwrap_err(), GraphError::MissingOutput(key(30)));
        let mut many = wanted.clone();
        many.push(key(31));
        assert_eq!(g.find(&many).unwrap_err(), GraphError::MissingOutput(key(31)));
    }
}

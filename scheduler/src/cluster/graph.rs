//! A local task graph as a [`Submission`]: what the process pool's driver (and a client
//! computing a collection) sends the scheduler.

use std::sync::Arc;

use rask_graph::{ArgView, TaskGraph, TaskId};
use rustc_hash::FxHashMap;

use crate::error::SchedulerError;
use crate::wire::{EncodedOp, Submission, SubmitArg, SubmitOp, SubmitTask};

/// `graph`, wanting `outputs`, as a submission of run `run`: each op encoded once (a
/// closure op is an error naming its task), tasks in the graph's (topological) order,
/// which is also their priority.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::{ops, Arg, Group, Key, Op, TaskGraph, Token, Value};
/// let inc: Arc<dyn Op> = Arc::new(ops::Inc);
/// let mut b = TaskGraph::builder();
/// let x = b.add(Key::single(Group::new("inc"), Token(1)), &inc, [Arg::Value(Value::I64(1))]).unwrap();
/// let y = b.add(Key::single(Group::new("inc"), Token(2)), &inc, [Arg::Task(x)]).unwrap();
/// let graph = b.build().unwrap();
/// let s = rask_scheduler::submission(&graph, &[y], 7).unwrap();
/// assert_eq!((s.ops.len(), s.tasks.len(), s.wanted, s.run), (1, 2, vec![graph.key(y)], 7));
/// ```
pub fn submission(graph: &TaskGraph, outputs: &[TaskId], run: u64) -> Result<Submission, SchedulerError> {
    graph.check_portable()?;
    let mut ops: Vec<SubmitOp> = Vec::new();
    let mut op_index: FxHashMap<usize, u32> = FxHashMap::default();
    let mut tasks = Vec::with_capacity(graph.len());
    for id in graph.ids() {
        let op = graph.op(id);
        let ptr = Arc::as_ptr(op) as *const u8 as usize;
        let index = match op_index.get(&ptr) {
            Some(&i) => i,
            None => {
                let encoded = EncodedOp::encode(op.as_ref()).map_err(|e| SchedulerError::TaskFailed {
                    key: graph.key(id),
                    op: op.name().to_string(),
                    message: format!("cannot send the task to a worker: {e}"),
                })?;
                ops.push(SubmitOp { name: op.name().to_string(), op: encoded });
                op_index.insert(ptr, (ops.len() - 1) as u32);
                (ops.len() - 1) as u32
            }
        };
        let args = graph
            .args(id)
            .map(|arg| match arg {
                ArgView::Literal(v) => SubmitArg::Value(v.clone()),
                ArgView::Task(d) => SubmitArg::Key(graph.key(d)),
            })
            .collect();
        tasks.push(SubmitTask { key: graph.key(id), op: index, args, order: id.0 as u64, retries: 0 });
    }
    let mut wanted = Vec::with_capacity(outputs.len());
    let mut seen = rustc_hash::FxHashSet::default();
    for &o in outputs {
        if o.index() >= graph.len() {
            return Err(rask_graph::GraphError::UnknownTaskId { id: o.0, len: graph.len(), referrer: None }.into());
        }
        if seen.insert(o) {
            wanted.push(graph.key(o));
        }
    }
    Ok(Submission { run, ops, tasks, wanted, held: Vec::new(), placement: Default::default() })
}

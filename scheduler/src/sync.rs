//! The synchronous scheduler: every task on the calling thread, in priority order.

use rask_graph::{ArgView, Args, TaskGraph, TaskId, Value};

use crate::error::SchedulerError;
use crate::events::{RunReport, TaskRecorder};
use crate::run::{call_recorded, use_counts};
use crate::scheduler::Scheduler;

/// Runs tasks one after another on the calling thread, in task-id order (the priority
/// order after [`rask_graph::order`]), freeing each value when its last reader ran. Useful
/// for debugging: a panic's backtrace shows the task's own frames.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::{ops, Arg, Group, Key, Op, TaskGraph, Token, Value};
/// use rask_scheduler::{Scheduler, SyncScheduler};
/// let inc: Arc<dyn Op> = Arc::new(ops::Inc);
/// let mut b = TaskGraph::builder();
/// let one = b.add(Key::single(Group::new("inc"), Token(1)), &inc, [Arg::Value(Value::I64(0))]).unwrap();
/// let two = b.add(Key::single(Group::new("inc"), Token(2)), &inc, [Arg::Task(one)]).unwrap();
/// let out = SyncScheduler.execute(&b.build().unwrap(), &[two]).unwrap();
/// assert_eq!(out, vec![Value::I64(2)]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncScheduler;

impl Scheduler for SyncScheduler {
    fn name(&self) -> String {
        "sync".to_string()
    }

    fn execute(&self, graph: &TaskGraph, outputs: &[TaskId]) -> Result<Vec<Value>, SchedulerError> {
        let report = RunReport::begin(graph, "sync");
        let result = run(graph, outputs, report.listened().then(|| TaskRecorder::new(report.run(), 0)));
        report.finish(result.is_ok());
        result
    }
}

fn run(
    graph: &TaskGraph,
    outputs: &[TaskId],
    mut recorder: Option<TaskRecorder>,
) -> Result<Vec<Value>, SchedulerError> {
    let mut uses = use_counts(graph, outputs)?;
    let mut slots: Vec<Option<Value>> = vec![None; graph.len()];
    for id in graph.ids() {
        let mut args = Args::with_capacity(graph.arg_count(id));
        for arg in graph.args(id) {
            args.push(match arg {
                ArgView::Literal(v) => v.clone(),
                ArgView::Task(d) => {
                    let remaining = &mut uses[d.index()];
                    *remaining -= 1;
                    let slot = &mut slots[d.index()];
                    if *remaining == 0 { slot.take() } else { slot.clone() }.expect("dependencies run first")
                }
            });
        }
        let value = call_recorded(recorder.as_mut(), graph, id, args)?;
        if uses[id.index()] > 0 {
            slots[id.index()] = Some(value);
        }
    }
    Ok(outputs.iter().map(|o| slots[o.index()].clone().expect("outputs are kept")).collect())
}

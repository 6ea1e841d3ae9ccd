//! The compute pipeline shared by every collection: materialize the layers behind the
//! requested outputs, optimize, run on a scheduler, hand the values back.

use std::sync::Arc;

use rask_graph::{
    ArgSpec, Key, Layer, Op, OptimizeOptions, TaskGraph, TaskId, TaskSpec, Value, materialize, ops, optimize,
};
use rask_scheduler::progress::ProgressBar;
use rask_scheduler::{Held, Kept, Scheduler, SchedulerError, default_scheduler};

use crate::error::Result;

/// One output of a collection: a task's result, or a value known without computing.
#[derive(Clone, Debug)]
pub enum Target {
    /// The output of task `key`, found in `layer` or the layers it reads.
    Task {
        /// The output's key.
        key: Key,
        /// The layer that defines it.
        layer: Arc<Layer>,
    },
    /// A value known at build time.
    Literal(Value),
}

/// Something that can be computed: it names its outputs and turns their values into its
/// result. Implemented for collections, references to them, vectors and tuples of them,
/// so that several results share one graph (`rask::compute((&a, &b))`).
pub trait Computable {
    /// What computing it yields.
    type Output;
    /// Appends its outputs to `targets`.
    fn targets(&self, targets: &mut Vec<Target>);
    /// Builds the result from the values of its targets, in order.
    fn finish(&self, values: &mut dyn Iterator<Item = Value>) -> Result<Self::Output>;
}

impl<C: Computable + ?Sized> Computable for &C {
    type Output = C::Output;
    fn targets(&self, targets: &mut Vec<Target>) {
        (**self).targets(targets)
    }
    fn finish(&self, values: &mut dyn Iterator<Item = Value>) -> Result<Self::Output> {
        (**self).finish(values)
    }
}

impl<C: Computable> Computable for [C] {
    type Output = Vec<C::Output>;
    fn targets(&self, targets: &mut Vec<Target>) {
        self.iter().for_each(|c| c.targets(targets))
    }
    fn finish(&self, values: &mut dyn Iterator<Item = Value>) -> Result<Self::Output> {
        self.iter().map(|c| c.finish(values)).collect()
    }
}

impl<C: Computable> Computable for Vec<C> {
    type Output = Vec<C::Output>;
    fn targets(&self, targets: &mut Vec<Target>) {
        self.as_slice().targets(targets)
    }
    fn finish(&self, values: &mut dyn Iterator<Item = Value>) -> Result<Self::Output> {
        self.as_slice().finish(values)
    }
}

macro_rules! tuple_computable {
    ($($c:ident $i:tt),*) => {
        impl<$($c: Computable),*> Computable for ($($c,)*) {
            type Output = ($($c::Output,)*);
            fn targets(&self, targets: &mut Vec<Target>) {
                $(self.$i.targets(targets);)*
            }
            fn finish(&self, values: &mut dyn Iterator<Item = Value>) -> Result<Self::Output> {
                Ok(($(self.$i.finish(values)?,)*))
            }
        }
    };
}
tuple_computable!(A 0, B 1);
tuple_computable!(A 0, B 1, C 2);
tuple_computable!(A 0, B 1, C 2, D 3);
tuple_computable!(A 0, B 1, C 2, D 3, E 4);

/// How to compute: which scheduler, whether to optimize, whether to show progress.
///
/// ```
/// use rask_collections::ComputeOptions;
/// use rask_scheduler::SyncScheduler;
/// let options = ComputeOptions::default().scheduler(SyncScheduler).optimize(false).progress(true);
/// assert!(!options.optimizes());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ComputeOptions {
    scheduler: Option<Arc<dyn Scheduler>>,
    optimize: OptimizeOptions,
    progress: bool,
}

impl ComputeOptions {
    /// Runs on `scheduler` instead of the default one.
    pub fn scheduler(mut self, scheduler: impl Scheduler + 'static) -> Self {
        self.scheduler = Some(Arc::new(scheduler));
        self
    }

    /// Runs on a shared scheduler.
    pub fn scheduler_arc(mut self, scheduler: Arc<dyn Scheduler>) -> Self {
        self.scheduler = Some(scheduler);
        self
    }

    /// Turns the optimizer on (the default) or off.
    pub fn optimize(mut self, on: bool) -> Self {
        self.optimize = if on { OptimizeOptions::default() } else { OptimizeOptions::none() };
        self
    }

    /// Chooses optimizer passes one by one.
    pub fn passes(mut self, passes: OptimizeOptions) -> Self {
        self.optimize = passes;
        self
    }

    /// Whether any optimizer pass runs.
    pub fn optimizes(&self) -> bool {
        self.optimize != OptimizeOptions::none()
    }

    /// Shows a terminal progress bar while computing.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// The scheduler these options name, or the default one.
    pub fn resolve_scheduler(&self) -> Result<Arc<dyn Scheduler>> {
        Ok(match &self.scheduler {
            Some(s) => s.clone(),
            None => default_scheduler()?,
        })
    }
}

/// Computes `c` with default options.
pub fn compute<C: Computable + ?Sized>(c: &C) -> Result<C::Output> {
    compute_with(c, &ComputeOptions::default())
}

/// Computes `c` with `options`.
pub fn compute_with<C: Computable + ?Sized>(c: &C, options: &ComputeOptions) -> Result<C::Output> {
    let mut targets = Vec::new();
    c.targets(&mut targets);
    let values = compute_targets(&targets, options)?;
    c.finish(&mut values.into_iter())
}

/// The flat graph behind `targets` and the ids of their task outputs, optimized or not.
pub fn build_graph(targets: &[Target], passes: OptimizeOptions) -> Result<(TaskGraph, Vec<rask_graph::TaskId>)> {
    let (layers, keys) = task_targets(targets);
    let (graph, ids) = materialize(&layers, &keys)?;
    Ok(optimize(graph, ids, passes))
}

pub(crate) fn task_targets(targets: &[Target]) -> (Vec<&Arc<Layer>>, Vec<Key>) {
    targets
        .iter()
        .filter_map(|t| match t {
            Target::Task { key, layer } => Some((layer, *key)),
            Target::Literal(_) => None,
        })
        .unzip()
}

/// Computes the values of `targets`, in order.
pub fn compute_targets(targets: &[Target], options: &ComputeOptions) -> Result<Vec<Value>> {
    run_targets(targets, options, |scheduler, graph, ids| scheduler.execute(graph, ids), |v| v)
}

/// Computes `targets` and keeps their values where the scheduler computed them
/// ([`Scheduler::persist`]: here, or on a cluster as futures), in order; literals are
/// kept as they are.
pub fn persist_targets(targets: &[Target], options: &ComputeOptions) -> Result<Vec<Kept>> {
    run_targets(targets, options, |scheduler, graph, ids| scheduler.persist(graph, ids), Kept::Value)
}

/// The task that stands for `key`'s kept value from now on: the value as a literal, or
/// the cluster's future of it ([`Held`]).
pub(crate) fn kept_task(key: Key, kept: Kept) -> TaskSpec {
    match kept {
        Kept::Value(value) => {
            let identity: Arc<dyn Op> = Arc::new(ops::Identity);
            TaskSpec { key, op: identity, args: [ArgSpec::Value(value)].into_iter().collect() }
        }
        Kept::Future(future) => TaskSpec { key, op: Arc::new(Held::new(future)), args: Default::default() },
    }
}

/// Runs the task targets of `targets` with `run` on the scheduler the options name (once,
/// in one graph), and gives each target its result in order: literals become `literal`.
fn run_targets<V>(
    targets: &[Target],
    options: &ComputeOptions,
    run: impl FnOnce(&dyn Scheduler, &TaskGraph, &[TaskId]) -> std::result::Result<Vec<V>, SchedulerError>,
    literal: impl Fn(Value) -> V,
) -> Result<Vec<V>> {
    rask_dashboard::serve_from_env();
    let has_tasks = targets.iter().any(|t| matches!(t, Target::Task { .. }));
    let mut computed = if !has_tasks {
        Vec::new()
    } else {
        let scheduler = options.resolve_scheduler()?;
        let (graph, ids) = build_graph(targets, options.optimize)?;
        let bar = options.progress.then(ProgressBar::new);
        let values = run(scheduler.as_ref(), &graph, &ids);
        drop(bar);
        values?
    }
    .into_iter();
    Ok(targets
        .iter()
        .map(|t| match t {
            Target::Task { .. } => computed.next().expect("one value per task target"),
            Target::Literal(v) => literal(v.clone()),
        })
        .collect())
}

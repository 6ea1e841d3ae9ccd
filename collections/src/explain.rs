//! `explain`: what a computation is made of, before and after the optimizer.
//!
//! Like Dask's `HighLevelGraph` summaries and DataFusion's `EXPLAIN`: [`explain`] lists the
//! layers behind any [`Computable`] (one per collection operation, with its task groups,
//! task count and the layers it reads), then the task count and the tasks per group of
//! the graph the optimizer hands to the scheduler.

use std::fmt;
use std::sync::Arc;

use rask_graph::{Group, Layer, OptimizeOptions, TaskGraph, materialize, optimize, reachable_layers};
use rustc_hash::FxHashMap;

use crate::compute::{Computable, task_targets};
use crate::error::Result;

/// One layer behind a computation: what one collection operation added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSummary {
    /// The task groups of its tasks, in order of first appearance, joined by `", "`
    /// (`"(empty)"` for a layer without tasks).
    pub name: String,
    /// How many tasks it holds.
    pub tasks: usize,
    /// The layers it reads, as positions in [`Explain::layers`] (always earlier ones).
    pub dependencies: Vec<usize>,
}

/// The report [`explain`] returns; `Display` prints it as a table.
///
/// ```
/// use rask_collections::array::ones;
/// let x = ones::<f64>(&[8], [2])?;
/// let total = (&x + 1.0).sum(..)?;
/// let report = total.explain()?;
/// assert_eq!(report.layers[0].tasks, 4); // ones: one task per block
/// assert_eq!(report.layers[1].dependencies, vec![0]); // add reads ones
/// assert!(report.tasks_after <= report.tasks_before);
/// println!("{report}");
/// # Ok::<(), rask_collections::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explain {
    /// The layers, every one after the layers it reads.
    pub layers: Vec<LayerSummary>,
    /// Tasks in the graph before optimization. Tasks that two layers both define (equal
    /// keys) count once, so this can be less than the sum over [`Explain::layers`].
    pub tasks_before: usize,
    /// Tasks per group before optimization, in order of first appearance.
    pub groups_before: Vec<(String, usize)>,
    /// The passes that ran.
    pub passes: OptimizeOptions,
    /// Tasks in the graph the scheduler runs.
    pub tasks_after: usize,
    /// Tasks per group after optimization, in order of first appearance.
    pub groups_after: Vec<(String, usize)>,
}

/// The layers behind `c`, and its graph before and after the optimizer `passes`.
///
/// ```
/// use rask_collections::delayed::delayed;
/// use rask_collections::explain::explain;
/// use rask_graph::OptimizeOptions;
/// let a = delayed(1i64).map(|x| x + 1);
/// let b = a.map(|x| x * 2);
/// let report = explain(&(&a, &b), OptimizeOptions::default())?;
/// assert_eq!(report.tasks_before, 2); // the literal 1 is no task
/// assert_eq!(report.layers.len(), 2);
/// # Ok::<(), rask_collections::Error>(())
/// ```
pub fn explain<C: Computable + ?Sized>(c: &C, passes: OptimizeOptions) -> Result<Explain> {
    let mut targets = Vec::new();
    c.targets(&mut targets);
    let (roots, keys) = task_targets(&targets);
    let layers = summarize_layers(&roots);
    let (graph, ids) = materialize(&roots, &keys)?;
    let tasks_before = graph.len();
    let groups_before = group_counts(&graph);
    let (graph, _) = optimize(graph, ids, passes);
    Ok(Explain {
        layers,
        tasks_before,
        groups_before,
        passes,
        tasks_after: graph.len(),
        groups_after: group_counts(&graph),
    })
}

fn summarize_layers(roots: &[&Arc<Layer>]) -> Vec<LayerSummary> {
    let layers = reachable_layers(roots);
    let position: FxHashMap<*const Layer, usize> =
        layers.iter().enumerate().map(|(i, l)| (*l as *const Layer, i)).collect();
    layers
        .iter()
        .map(|layer| {
            let mut groups: Vec<Group> = Vec::new();
            for task in layer.tasks() {
                let g = task.key.group();
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
            let name = if groups.is_empty() {
                "(empty)".to_string()
            } else {
                groups.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")
            };
            let dependencies =
                layer.dependencies().iter().filter_map(|d| position.get(&Arc::as_ptr(d)).copied()).collect();
            LayerSummary { name, tasks: layer.tasks().len(), dependencies }
        })
        .collect()
}

fn group_counts(graph: &TaskGraph) -> Vec<(String, usize)> {
    let mut index: FxHashMap<Group, usize> = FxHashMap::default();
    let mut counts: Vec<(Group, usize)> = Vec::new();
    for &key in graph.keys() {
        let i = *index.entry(key.group()).or_insert_with(|| {
            counts.push((key.group(), 0));
            counts.len() - 1
        });
        counts[i].1 += 1;
    }
    counts.into_iter().map(|(g, n)| (g.as_str().to_string(), n)).collect()
}

impl Explain {
    fn passes_text(&self) -> String {
        let passes = &self.passes;
        let names: Vec<&str> =
            [(passes.cull, "cull"), (passes.inline, "inline"), (passes.fuse, "fuse"), (passes.order, "order")]
                .into_iter()
                .filter_map(|(on, name)| on.then_some(name))
                .collect();
        if names.is_empty() { "no passes".to_string() } else { names.join(", ") }
    }
}

impl fmt::Display for Explain {
    /// ```text
    /// Layers (before optimization): 3 layers, 9 tasks
    ///   #  layer                        tasks  reads
    ///   0  ones                             4  -
    ///   1  add                              4  0
    ///   2  sum-partial, sum-aggregate       1  1
    /// After optimization (cull, order): 9 tasks (was 9)
    ///   group                        before  after
    ///   ones                              4      4
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.layers.iter().map(|l| l.name.len()).chain([5]).max().unwrap_or(5);
        writeln!(
            f,
            "Layers (before optimization): {} layer{}, {} tasks",
            self.layers.len(),
            if self.layers.len() == 1 { "" } else { "s" },
            self.tasks_before
        )?;
        writeln!(f, "  {:>3}  {:<width$}  {:>8}  reads", "#", "layer", "tasks")?;
        for (i, layer) in self.layers.iter().enumerate() {
            let reads = if layer.dependencies.is_empty() {
                "-".to_string()
            } else {
                layer.dependencies.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            };
            writeln!(f, "  {i:>3}  {:<width$}  {:>8}  {reads}", layer.name, layer.tasks)?;
        }
        writeln!(
            f,
            "After optimization ({}): {} tasks (was {})",
            self.passes_text(),
            self.tasks_after,
            self.tasks_before
        )?;
        let mut rows: Vec<(&str, usize, usize)> = self.groups_before.iter().map(|(g, n)| (g.as_str(), *n, 0)).collect();
        for (g, n) in &self.groups_after {
            match rows.iter_mut().find(|r| r.0 == g) {
                Some(row) => row.2 = *n,
                None => rows.push((g, 0, *n)),
            }
        }
        let width = rows.iter().map(|r| r.0.len()).chain([5]).max().unwrap_or(5);
        writeln!(f, "  {:<width$}  {:>8}  {:>8}", "group", "before", "after")?;
        for (g, before, after) in rows {
            writeln!(f, "  {g:<width$}  {before:>8}  {after:>8}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array};
    use ndarray::s;

    use super::*;
    use crate::array::ones;
    use crate::dataframe::{col, from_arrays};
    use crate::delayed::delayed;

    fn tasks(report: &Explain) -> Vec<(&str, usize)> {
        report.layers.iter().map(|l| (l.name.as_str(), l.tasks)).collect()
    }

    fn owned(groups: &[(&str, usize)]) -> Vec<(String, usize)> {
        groups.iter().map(|&(g, n)| (g.to_string(), n)).collect()
    }

    #[test]
    fn an_array_sum_over_four_blocks_has_four_layers_of_thirteen_tasks() {
        let x = ones::<f64>(&[8], [2]).unwrap();
        let report = (&x + 1.0).sum(..).unwrap().explain().unwrap();
        assert_eq!(tasks(&report), [("ones", 4), ("add", 4), ("sum", 4), ("sum-aggregate", 1)]);
        let reads: Vec<_> = report.layers.iter().map(|l| l.dependencies.clone()).collect();
        assert_eq!(reads, [vec![], vec![0], vec![1], vec![2]]);
        // Fusion runs each block's ones -> add -> sum chain as one task, keyed as the sum.
        assert_eq!((report.tasks_before, report.tasks_after), (13, 5));
        assert_eq!(report.groups_before, owned(&[("ones", 4), ("add", 4), ("sum", 4), ("sum-aggregate", 1)]));
        assert_eq!(report.groups_after, owned(&[("sum", 4), ("sum-aggregate", 1)]));
    }

    #[test]
    fn culling_shows_in_the_counts_after_optimization() {
        let x = ones::<f64>(&[8], [2]).unwrap();
        let first = (&x + 1.0).slice(s![0..2]).unwrap();
        let report = first.explain().unwrap();
        assert_eq!(report.layers.len(), 3);
        assert_eq!(&tasks(&report)[..2], [("ones", 4), ("add", 4)]);
        assert_eq!(report.layers[2].tasks, 1);
        assert_eq!(report.tasks_before, 9);
        // Culled to the one block's chain of three, fused into one task.
        assert_eq!(report.tasks_after, 1);
        assert!(report.groups_after.iter().all(|(_, n)| *n == 1));
        let off = explain(&first, OptimizeOptions::none()).unwrap();
        assert_eq!(off.tasks_after, 9);
        assert!(off.to_string().contains("After optimization (no passes): 9 tasks (was 9)"));
    }

    #[test]
    fn dataframe_steps_are_layers_per_partition() {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..8));
        let df = from_arrays(vec![("id", ids)], 4).unwrap();
        let out = df.filter(col("id").gt(2)).unwrap().with_column((col("id") + 1).alias("next")).unwrap();
        let report = out.explain().unwrap();
        assert_eq!(report.layers.len(), 3);
        assert!(report.layers.iter().all(|l| l.tasks == 4));
        assert_eq!(report.layers[2].dependencies, [1]);
        assert_eq!(report.tasks_before, 12);
        assert_eq!(report.groups_after.iter().map(|(_, n)| n).sum::<usize>(), report.tasks_after);
    }

    #[test]
    fn shared_work_counts_once_and_several_outputs_share_one_report() {
        let a = delayed(1i64).map(|x| x + 1);
        let b = a.map(|x| x * 2);
        let c = a.map(|x| x * 3);
        let report = explain(&(&b, &c), OptimizeOptions::default()).unwrap();
        assert_eq!(report.layers.len(), 3);
        assert_eq!(report.layers[0].dependencies, Vec::<usize>::new());
        assert_eq!(report.layers[1].dependencies, [0]);
        assert_eq!(report.layers[2].dependencies, [0]);
        assert_eq!((report.tasks_before, report.tasks_after), (3, 3));
    }

    #[test]
    fn literals_alone_explain_to_nothing() {
        let report = delayed(5i64).explain().unwrap();
        assert!(report.layers.is_empty());
        assert_eq!((report.tasks_before, report.tasks_after), (0, 0));
        assert!(report.to_string().starts_with("Layers (before optimization): 0 layers, 0 tasks"));
    }

    #[test]
    fn an_array_carrying_an_error_reports_it() {
        let x = ones::<f64>(&[8], [2]).unwrap();
        let y = ones::<f64>(&[3], [3]).unwrap();
        let bad = &x + &y;
        assert!(bad.explain().is_err());
        assert!(bad.to_svg().is_err());
    }

    #[test]
    fn the_table_lists_every_layer_and_group() {
        let x = ones::<f64>(&[8], [2]).unwrap();
        let text = (&x + 1.0).sum(..).unwrap().explain().unwrap().to_string();
        assert!(text.starts_with("Layers (before optimization): 4 layers, 13 tasks\n"), "{text}");
        assert!(text.contains("After optimization (cull, inline, fuse, order): 5 tasks (was 13)"), "{text}");
        for line in ["1  add", "3  sum-aggregate"] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert_eq!(text.lines().count(), 1 + 1 + 4 + 1 + 1 + 4);
    }
}

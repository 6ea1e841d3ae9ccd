//! Pictures of the graph behind any [`Computable`]: DOT text, or SVG laid out in pure
//! Rust (no Graphviz install needed), as the optimizer hands it to the scheduler.

use std::path::Path;

use rask_graph::{OptimizeOptions, TaskGraph, materialize, optimize, to_dot, to_svg};

use crate::compute::{Computable, task_targets};
use crate::error::{Error, Result};

/// The graph behind `c`, culled and ordered but not inlined or fused: a picture shows the tasks as
/// the collection built them (Dask's `optimize_graph=False`); `explain()` reports what
/// fusion does to the counts.
fn optimized_graph<C: Computable + ?Sized>(c: &C) -> Result<TaskGraph> {
    let mut targets = Vec::new();
    c.targets(&mut targets);
    let (roots, keys) = task_targets(&targets);
    let (graph, ids) = materialize(&roots, &keys)?;
    Ok(optimize(graph, ids, OptimizeOptions { inline: false, fuse: false, ..OptimizeOptions::default() }).0)
}

/// The optimized graph behind `c` in DOT (see [`rask_graph::to_dot`]).
///
/// ```
/// use rask_collections::delayed::delayed;
/// let dot = rask_collections::visualize::dot(&delayed(1i64).map(|x| x + 1))?;
/// assert!(dot.starts_with("digraph"));
/// # Ok::<(), rask_collections::Error>(())
/// ```
pub fn dot<C: Computable + ?Sized>(c: &C) -> Result<String> {
    Ok(to_dot(&optimized_graph(c)?))
}

/// The optimized graph behind `c` as an SVG picture: one box per task, coloured by task
/// group, or one box per task group above [`rask_graph::SVG_TASK_LIMIT`] tasks (see
/// [`rask_graph::to_svg`]).
///
/// ```
/// use rask_collections::delayed::delayed;
/// let svg = rask_collections::visualize::svg(&delayed(1i64).map(|x| x + 1).map(|x| x * 2))?;
/// assert_eq!(svg.matches("class=\"task\"").count(), 2);
/// # Ok::<(), rask_collections::Error>(())
/// ```
pub fn svg<C: Computable + ?Sized>(c: &C) -> Result<String> {
    Ok(to_svg(&optimized_graph(c)?))
}

/// Writes a picture of the graph behind `c` to `path`: SVG if it ends in `.svg`, DOT if
/// it ends in `.dot` (either case). Any other ending is an [`Error::Io`] naming the path,
/// found before any work is done.
///
/// ```
/// use rask_collections::delayed::delayed;
/// use rask_collections::visualize::visualize;
/// let x = delayed(1i64).map(|x| x + 1);
/// let path = std::env::temp_dir().join("rask-visualize-doc.svg");
/// visualize(&x, &path)?;
/// assert!(std::fs::read_to_string(&path).unwrap().contains("<svg"));
/// assert!(visualize(&x, "graph.png").is_err());
/// # Ok::<(), rask_collections::Error>(())
/// ```
pub fn visualize<C: Computable + ?Sized>(c: &C, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let text = match extension.as_deref() {
        Some("svg") => svg(c)?,
        Some("dot") => dot(c)?,
        _ => {
            return Err(Error::Io {
                path: path.display().to_string(),
                message: "unknown picture format: the path must end in .svg or .dot".to_string(),
            });
        }
    };
    std::fs::write(path, text).map_err(|e| Error::Io { path: path.display().to_string(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use rask_graph::{Group, SVG_TASK_LIMIT, group_colour};

    use super::*;
    use crate::array::ones;
    use crate::delayed::delayed;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rask-visualize-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn an_array_picture_has_a_box_per_task_in_its_group_colour() {
        let x = ones::<f64>(&[8], [2]).unwrap();
        let svg = (&x + 1.0).sum(..).unwrap().to_svg().unwrap();
        assert!(svg.starts_with("<?xml"));
        assert_eq!(svg.matches("class=\"task\"").count(), 13);
        for (group, n) in [("ones", 4), ("add", 4), ("sum", 4), ("sum-aggregate", 1)] {
            assert_eq!(svg.matches(&format!("data-group=\"{group}\"")).count(), n);
            assert!(svg.contains(&format!("fill=\"{}ff\"", group_colour(Group::new(group)))));
        }
    }

    #[test]
    fn a_big_array_is_drawn_by_task_group() {
        let x = ones::<f64>(&[2 * SVG_TASK_LIMIT], [1]).unwrap();
        let svg = (&x + 1.0).to_svg().unwrap();
        assert_eq!(svg.matches("class=\"task\"").count(), 0);
        assert_eq!(svg.matches("class=\"group\"").count(), 2);
        assert!(svg.contains("2000 tasks (more than 500): drawn as 2 task groups"));
    }

    #[test]
    fn the_extension_picks_the_format() {
        let x = delayed(1i64).map(|x| x + 1);
        let svg = scratch("graph.svg");
        let dot = scratch("graph.DOT");
        x.visualize(&svg).unwrap();
        x.visualize(&dot).unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
        assert!(std::fs::read_to_string(&dot).unwrap().starts_with("digraph"));
        let df_path = scratch("frame.svg");
        let ids: arrow::array::ArrayRef = std::sync::Arc::new(arrow::array::Int64Array::from_iter_values(0..4));
        crate::dataframe::from_arrays(vec![("id", ids)], 2).unwrap().visualize(&df_path).unwrap();
        assert_eq!(std::fs::read_to_string(&df_path).unwrap().matches("class=\"task\"").count(), 2);
    }

    #[test]
    fn unknown_extensions_and_unwritable_paths_are_errors_naming_the_path() {
        let x = ones::<f64>(&[4], [2]).unwrap();
        for path in ["graph.png", "graph", "svg"] {
            match x.visualize(path) {
                Err(Error::Io { path: p, message }) => {
                    assert_eq!(p, path);
                    assert!(message.contains(".svg or .dot"), "{message}");
                }
                other => panic!("{path}: {other:?}"),
            }
            assert!(!Path::new(path).exists());
        }
        let missing = scratch("no-such-dir").join("graph.svg");
        match x.visualize(&missing) {
            Err(Error::Io { path, .. }) => assert_eq!(path, missing.display().to_string()),
            other => panic!("{other:?}"),
        }
    }
}

//! Prometheus metrics from a [`Snapshot`], in the text exposition format, every name
//! prefixed `rask_`.

use std::fmt::Write;

use crate::aggregate::Snapshot;

/// The metrics of `snapshot`.
///
/// ```
/// let text = rask_dashboard::render_metrics(&rask_dashboard::Snapshot::default());
/// assert!(text.contains("rask_workers 0\n"));
/// assert!(text.contains("rask_tasks{state=\"memory\"} 0\n"));
/// ```
pub fn render_metrics(snapshot: &Snapshot) -> String {
    let mut out = String::with_capacity(2048);
    let live: Vec<_> = snapshot.workers.iter().filter(|w| w.left.is_none()).collect();
    let t = &snapshot.totals;
    gauge(&mut out, "rask_workers", "Workers connected (threads of a local run).", &[("", live.len() as f64)]);
    gauge(
        &mut out,
        "rask_threads",
        "Task threads of the connected workers.",
        &[("", live.iter().map(|w| f64::from(w.nthreads)).sum())],
    );
    let states = [
        ("{state=\"waiting\"}", t.waiting as f64),
        ("{state=\"processing\"}", t.processing as f64),
        ("{state=\"memory\"}", t.memory as f64),
        ("{state=\"erred\"}", t.erred as f64),
    ];
    gauge(&mut out, "rask_tasks", "Tasks of the current computations, by state.", &states);
    gauge(
        &mut out,
        "rask_memory_bytes",
        "Bytes of values the workers hold in memory.",
        &[("", live.iter().map(|w| w.memory as f64).sum())],
    );
    gauge(
        &mut out,
        "rask_spilled_bytes",
        "Bytes of values the workers spilled to disk.",
        &[("", live.iter().map(|w| w.spilled as f64).sum())],
    );
    counter(&mut out, "rask_output_bytes_total", "Bytes of task results produced.", t.bytes as f64);
    counter(&mut out, "rask_tasks_finished_total", "Tasks finished by the workers.", {
        snapshot.workers.iter().map(|w| w.finished as f64).sum()
    });
    counter(&mut out, "rask_runs_finished_total", "Computations finished.", snapshot.runs_finished as f64);
    counter(&mut out, "rask_runs_failed_total", "Computations that ended with an error.", snapshot.runs_failed as f64);
    gauge(&mut out, "rask_runs_active", "Computations running.", &[("", snapshot.running as f64)]);
    out
}

fn gauge(out: &mut String, name: &str, help: &str, samples: &[(&str, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

fn counter(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
}

//! A terminal progress bar fed by the event bus.

use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar as Bar, ProgressDrawTarget, ProgressStyle};

use crate::events::{Event, EventBatch, bus};

/// Shows task counts, elapsed time and an ETA on the terminal for every computation while
/// it is alive, like `dask.diagnostics.ProgressBar`. Several runs add up on one bar.
///
/// ```
/// use rask_scheduler::progress::ProgressBar;
/// let bar = ProgressBar::hidden(); // `ProgressBar::new()` draws to stderr
/// // ... compute ...
/// let (done, total) = bar.finish();
/// assert_eq!((done, total), (0, 0));
/// ```
#[derive(Debug)]
pub struct ProgressBar {
    stop: crossbeam_channel::Sender<()>,
    thread: Option<JoinHandle<(u64, u64)>>,
}

impl ProgressBar {
    /// A bar drawn on standard error (hidden when it is not a terminal).
    pub fn new() -> Self {
        Self::with_target(ProgressDrawTarget::stderr())
    }

    /// A bar that counts but draws nothing (for tests and logs).
    pub fn hidden() -> Self {
        Self::with_target(ProgressDrawTarget::hidden())
    }

    fn with_target(target: ProgressDrawTarget) -> Self {
        let subscription = bus().subscribe();
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("rask-progress".into())
            .spawn(move || {
                let bar = Bar::with_draw_target(Some(0), target);
                bar.set_style(
                    ProgressStyle::with_template(
                        "[{elapsed_precise}] {wide_bar:.cyan/blue} {pos}/{len} tasks ({per_sec}, ETA {eta}) {msg}",
                    )
                    .expect("a valid template")
                    .progress_chars("##-"),
                );
                let mut failed = false;
                let mut apply = |batch: EventBatch| {
                    for event in batch.iter() {
                        match event {
                            Event::GraphSubmitted { tasks, .. } => bar.inc_length(*tasks as u64),
                            Event::TasksDone { groups, .. } => bar.inc(groups.iter().map(|g| g.1).sum()),
                            Event::TaskFailed { key, .. } => {
                                failed = true;
                                bar.set_message(format!("failed: {key}"));
                            }
                            _ => {}
                        }
                    }
                };
                loop {
                    crossbeam_channel::select! {
                        recv(subscription.receiver()) -> batch => match batch {
                            Ok(batch) => apply(batch),
                            Err(_) => break,
                        },
                        recv(stopped) -> _ => {
                            // Drain what is already published, then stop.
                            while let Ok(batch) = subscription.receiver().recv_timeout(Duration::from_millis(1)) {
                                apply(batch);
                            }
                            break;
                        }
                    }
                }
                let counts = (bar.position(), bar.length().unwrap_or(0));
                if failed {
                    bar.abandon()
                } else {
                    bar.finish()
                }
                counts
            })
            .expect("spawn the progress thread");
        ProgressBar { stop, thread: Some(thread) }
    }

    /// Stops the bar and returns (tasks finished, tasks submitted) while it was alive.
    pub fn finish(mut self) -> (u64, u64) {
        self.stop_thread()
    }

    fn stop_thread(&mut self) -> (u64, u64) {
        let _ = self.stop.try_send(());
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or((0, 0))
    }
}

impl Default for ProgressBar {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ProgressBar {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

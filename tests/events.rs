//! The event bus and the progress bar. One test: the bus is process-wide.

use std::collections::HashSet;

use rask::diagnostics::{ProgressBar, events};
use rask::prelude::*;

#[test]
fn every_scheduler_reports_each_task_and_the_progress_bar_counts_them() {
    let inc = delayed_fn("inc", |x: i64| x + 1);
    let total = delayed_fn("total", |xs: Vec<i64>| xs.into_iter().sum::<i64>());
    let leaves: Vec<_> = (0..3000).map(|i| inc.call(i)).collect();
    let sum = total.call_list(&leaves);
    let tasks = 3001;

    for options in [
        ComputeOptions::default().scheduler(SyncScheduler),
        ComputeOptions::default().scheduler(ThreadsScheduler::new(2)),
    ] {
        let subscription = events::bus().subscribe();
        sum.compute_with(&options).unwrap();
        let (mut timed, mut counted) = (HashSet::new(), 0u64);
        let (mut submitted, mut ended) = (None, None);
        while let Ok(batch) = subscription.receiver().recv_timeout(std::time::Duration::from_secs(5)) {
            for event in batch.iter() {
                match event {
                    events::Event::GraphSubmitted { tasks, groups, .. } => {
                        submitted = Some(*tasks);
                        let names: Vec<_> = groups.iter().map(|(g, n)| (g.as_str(), *n)).collect();
                        assert_eq!(names, vec![("inc", 3000), ("total", 1)]);
                    }
                    events::Event::TaskFinished { key, duration, .. } => {
                        assert!(timed.insert(*key), "{key} reported twice");
                        assert!(*duration < std::time::Duration::from_secs(5));
                    }
                    events::Event::TasksDone { groups, .. } => counted += groups.iter().map(|g| g.1).sum::<u64>(),
                    events::Event::RunFinished { ok, .. } => ended = Some(*ok),
                    _ => {}
                }
            }
            if ended.is_some() {
                break;
            }
        }
        assert_eq!(submitted, Some(tasks));
        assert_eq!(counted, tasks as u64, "every task counted once");
        // Tiny tasks are timed one in 64 (each of the first, until one is seen fast).
        assert!(!timed.is_empty() && timed.len() < tasks / 8, "a sample is timed: {}", timed.len());
        assert_eq!(ended, Some(true));
    }

    // A failing run reports the failure and ends with ok = false.
    let subscription = events::bus().subscribe();
    let bad = delayed(0i64).map(|x| if x == 0 { Err("zero") } else { Ok(x) });
    assert!(bad.compute_with(&ComputeOptions::default().scheduler(SyncScheduler)).is_err());
    let batches: Vec<_> = subscription.receiver().try_iter().collect();
    let events: Vec<_> = batches.iter().flat_map(|b| b.iter()).collect();
    assert!(events.iter().any(|e| matches!(e, events::Event::TaskFailed { message, .. } if message.contains("zero"))));
    assert!(events.iter().any(|e| matches!(e, events::Event::RunFinished { ok: false, .. })));
    drop(subscription);
    assert!(!events::bus().is_listened());

    // The progress bar counts finished and submitted tasks of every run while alive.
    let bar = ProgressBar::hidden();
    sum.compute().unwrap();
    sum.compute_with(&ComputeOptions::default().scheduler(SyncScheduler)).unwrap();
    assert_eq!(bar.finish(), (2 * tasks as u64, 2 * tasks as u64));
    // And the compute option drives one too.
    assert_eq!(sum.compute_with(&ComputeOptions::default().progress(true)).unwrap(), (1..=3000).sum::<i64>());
}

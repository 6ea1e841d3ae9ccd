//! `RASK_SCHEDULER` and the default scheduler. One test: the environment is process-wide.

use rask::prelude::*;

#[test]
fn rask_scheduler_selects_the_default_and_bad_values_are_errors() {
    let x = delayed(1i64).map(|x| x + 1);
    let set = |v: &str| unsafe { std::env::set_var("RASK_SCHEDULER", v) };

    unsafe { std::env::remove_var("RASK_SCHEDULER") };
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(rask::config::scheduler().unwrap().name(), format!("threads({cores})"));

    for (value, name) in [
        ("sync", "sync"),
        ("threads", &*format!("threads({cores})")),
        ("threads:3", "threads(3)"),
        (" threads:1 ", "threads(1)"),
    ] {
        set(value);
        assert_eq!(rask::config::scheduler().unwrap().name(), name, "RASK_SCHEDULER={value}");
        assert_eq!(x.compute().unwrap(), 2);
    }

    // A process pool is named without starting (its workers start on the first compute).
    for (value, name) in [("processes:2", "processes(2)"), ("processes", &*format!("processes({cores})"))] {
        set(value);
        assert_eq!(rask::config::scheduler().unwrap().name(), name, "RASK_SCHEDULER={value}");
    }

    // Chosen by the variable, a pool is built once and stays warm across computes.
    unsafe { std::env::set_var("RASK_WORKER_BIN", env!("CARGO_BIN_EXE_rask-worker")) };
    set("processes:2");
    let inc = std::sync::Arc::new(rask::graph::ops::Inc) as std::sync::Arc<dyn rask::graph::Op>;
    let mut b = rask::graph::TaskGraph::builder();
    let key = rask::graph::Key::single(rask::graph::Group::new("inc"), rask::graph::Token(5));
    b.add(key, &inc, [rask::graph::Arg::Value(rask::graph::Value::I64(41))]).unwrap();
    let graph = b.build().unwrap();
    let first = rask::config::scheduler().unwrap();
    assert_eq!(rask::get(&graph, &[key]).unwrap(), vec![rask::graph::Value::I64(42)]);
    assert_eq!(rask::get(&graph, &[key]).unwrap(), vec![rask::graph::Value::I64(42)]);
    assert!(std::sync::Arc::ptr_eq(&first, &rask::config::scheduler().unwrap()), "one pool for the same value");
    set("sync");
    assert!(!std::sync::Arc::ptr_eq(&first, &rask::config::scheduler().unwrap()), "another value, another scheduler");
    drop(first);
    unsafe { std::env::remove_var("RASK_WORKER_BIN") };

    for bad in ["gpu", "threads:0", "threads:many", "sync:2", "processes:x", "processes:0"] {
        set(bad);
        let err = x.compute().unwrap_err().to_string();
        assert!(err.contains(bad.trim()) && err.contains("RASK_SCHEDULER"), "RASK_SCHEDULER={bad}: {err}");
        // An explicit scheduler does not consult the variable.
        assert_eq!(x.compute_with(&ComputeOptions::default().scheduler(SyncScheduler)).unwrap(), 2);
    }

    // Set in code, the default wins over the variable.
    rask::config::set_scheduler("threads:2").unwrap();
    assert_eq!(rask::config::scheduler().unwrap().name(), "threads(2)");
    assert_eq!(x.compute().unwrap(), 2);
    rask::config::reset_scheduler();
    assert!(x.compute().is_err(), "the bad variable applies again");
    assert!(rask::config::set_scheduler("bogus").unwrap_err().to_string().contains("bogus"));
    unsafe { std::env::remove_var("RASK_SCHEDULER") };
}

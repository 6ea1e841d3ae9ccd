//! `rask::get` on raw graphs, like `dask.get`.

use std::sync::Arc;

use rask::graph::{Arg, FnOp, GraphError, Group, Key, Op, TaskGraph, Token, Value, ops};
use rask::prelude::*;

fn key(name: &str, i: u32) -> Key {
    Key::new(Group::new(name), Token(11), &[i])
}

#[test]
fn forward_references_culling_and_several_outputs() {
    let add: Arc<dyn Op> = Arc::new(ops::Add);
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let unused: Arc<dyn Op> = Arc::new(FnOp::new("unused", move |_| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Value::Unit)
    }));
    let mut b = TaskGraph::builder();
    b.add(key("z", 0), &add, [Arg::Key(key("y", 0)), Arg::Key(key("x", 0))]).unwrap();
    b.add(key("y", 0), &add, [Arg::Key(key("x", 0)), Arg::Value(Value::I64(10))]).unwrap();
    b.add(key("x", 0), &add, [Arg::Value(Value::I64(1)), Arg::Value(Value::I64(2))]).unwrap();
    b.add(key("w", 0), &unused, [Arg::Key(key("x", 0))]).unwrap();
    let graph = b.build().unwrap();
    let values = rask::get(&graph, &[key("z", 0), key("x", 0)]).unwrap();
    assert_eq!(values, vec![Value::I64(16), Value::I64(3)]);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0, "culled task did not run");
    let all = rask::get_with(&graph, &[key("z", 0)], &ComputeOptions::default().optimize(false)).unwrap();
    assert_eq!(all, vec![Value::I64(16)]);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1, "without culling every task runs");
}

#[test]
fn bad_graphs_and_keys_are_errors() {
    let add: Arc<dyn Op> = Arc::new(ops::Add);
    let mut b = TaskGraph::builder();
    b.add(key("a", 0), &add, [Arg::Value(Value::I64(1)), Arg::Value(Value::I64(2))]).unwrap();
    let graph = b.build().unwrap();
    match rask::get(&graph, &[key("nope", 0)]) {
        Err(rask::Error::Graph(GraphError::MissingOutput(k))) => assert_eq!(k, key("nope", 0)),
        other => panic!("expected a missing output, got {other:?}"),
    }
    let mut b = TaskGraph::builder();
    b.add(key("a", 0), &add, [Arg::Key(key("b", 0)), Arg::Value(Value::I64(0))]).unwrap();
    b.add(key("b", 0), &add, [Arg::Key(key("a", 0)), Arg::Value(Value::I64(0))]).unwrap();
    let err = b.build().unwrap_err();
    assert!(matches!(err, GraphError::Cycle(ref keys) if keys.len() == 2), "{err}");
    assert!(err.to_string().contains("cycle"));
    // A type error inside an op names the task.
    let mut b = TaskGraph::builder();
    b.add(key("s", 0), &add, [Arg::Value(Value::Str("a".into())), Arg::Value(Value::I64(1))]).unwrap();
    let err = rask::get(&b.build().unwrap(), &[key("s", 0)]).unwrap_err().to_string();
    assert!(err.contains("('s-") && err.contains("cannot add str and i64"), "{err}");
}

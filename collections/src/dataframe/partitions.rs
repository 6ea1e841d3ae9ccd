//! Building a dataframe's layer: one task per partition.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use rask_graph::{ArgSpec, Group, Key, Layer, Op, TaskSpec, Token};

use super::DataFrame;
use crate::error::{Error, Result};

/// The most partitions a dataframe built by an operation may have, and the most
/// partition-to-partition edges a shuffle may make: a graph of that many tasks already
/// takes gigabytes.
pub const MAX_PARTITIONS: usize = 10_000_000;

/// `n` partitions for `what`, or an error when there are none or too many (more than
/// [`MAX_PARTITIONS`]).
pub(crate) fn check_partitions(what: &str, n: usize) -> Result<usize> {
    match n {
        0 => Err(Error::Schema(format!("{what} needs at least one partition"))),
        n if n > MAX_PARTITIONS => Err(Error::Schema(format!(
            "{what}: {n} partitions are more than the {MAX_PARTITIONS} a dataframe may have"
        ))),
        n => Ok(n),
    }
}

/// A dataframe of `npartitions` partitions of `schema`, named `name` and keyed by
/// `token`: `task(i)` gives partition `i`'s op and arguments. The layer reads
/// `dependencies`.
pub(crate) fn layer_of_partitions(
    name: &str,
    token: Token,
    schema: SchemaRef,
    npartitions: usize,
    dependencies: Vec<Arc<Layer>>,
    mut task: impl FnMut(usize) -> (Arc<dyn Op>, Vec<ArgSpec>),
) -> DataFrame {
    let group = Group::new(name);
    let tasks = (0..npartitions)
        .map(|i| {
            let (op, args) = task(i);
            TaskSpec { key: Key::new(group, token, &[i as u32]), op, args: args.into_iter().collect() }
        })
        .collect();
    DataFrame::from_parts(schema, npartitions, group, token, Layer::new(tasks, dependencies))
}

/// A dataframe whose partition `i` is `op` applied to partition `i` of `input`.
pub(crate) fn map_partitions_with(
    name: &str,
    input: &DataFrame,
    op: Arc<dyn Op>,
    token: Token,
    schema: SchemaRef,
) -> DataFrame {
    let token = Token::of(&(name, token.0, input.token().0));
    layer_of_partitions(name, token, schema, input.npartitions(), vec![input.layer().clone()], |i| {
        (op.clone(), vec![ArgSpec::Key(input.partition_key(i))])
    })
}

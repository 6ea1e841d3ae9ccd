//! Dataframes from data already in memory: record batches or column arrays.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use rask_graph::{ArgSpec, Batch, Op, Token, TokenHasher, Value, ops};

use super::DataFrame;
use super::expr::describe_schema;
use super::partitions::layer_of_partitions;
use crate::dataframe::partitions::check_partitions;
use crate::error::{Error, Result};

/// A dataframe with one partition per batch, all of one schema (an error names the batch
/// whose schema differs). Equal data gives equal keys.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Int64Array, RecordBatch};
/// let a = RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1, 2])) as _)]).unwrap();
/// let b = RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![3])) as _)]).unwrap();
/// let df = rask_collections::dataframe::from_batches(vec![a, b]).unwrap();
/// assert_eq!(df.npartitions(), 2);
/// assert_eq!(df.compute().unwrap().num_rows(), 3);
/// ```
pub fn from_batches(batches: Vec<RecordBatch>) -> Result<DataFrame> {
    let Some(first) = batches.first() else {
        return Err(Error::Schema("from_batches needs at least one batch (the schema comes from it)".into()));
    };
    let schema = first.schema();
    for (i, b) in batches.iter().enumerate() {
        if b.schema().fields() != schema.fields() {
            return Err(Error::Schema(format!(
                "batch {i} has columns [{}], batch 0 has [{}]",
                describe_schema(&b.schema()),
                describe_schema(&schema)
            )));
        }
    }
    let values: Vec<Value> = batches.into_iter().map(|b| Value::Batch(Batch::new(b))).collect();
    let mut hasher = TokenHasher::new();
    values.iter().for_each(|v| v.hash_token(&mut hasher));
    let token = Token(std::hash::Hasher::finish(&hasher));
    Ok(from_values("from_batches", token, schema, values))
}

/// A dataframe of named columns (all of one length) cut into `npartitions` partitions of
/// nearly equal row counts.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::Float64Array;
/// let df = rask_collections::dataframe::from_arrays(vec![("x", Arc::new(Float64Array::from(vec![1.0; 10])) as _)], 3).unwrap();
/// assert_eq!(df.npartitions(), 3);
/// assert!(rask_collections::dataframe::from_arrays::<&str>(vec![], 1).is_err());
/// ```
pub fn from_arrays<S: Into<String>>(columns: Vec<(S, ArrayRef)>, npartitions: usize) -> Result<DataFrame> {
    if columns.is_empty() {
        return Err(Error::Schema("from_arrays needs at least one column".into()));
    }
    check_partitions("from_arrays", npartitions)?;
    let (names, arrays): (Vec<String>, Vec<ArrayRef>) = columns.into_iter().map(|(n, a)| (n.into(), a)).unzip();
    let fields: Vec<Field> =
        names.iter().zip(&arrays).map(|(n, a)| Field::new(n, a.data_type().clone(), true)).collect();
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| Error::Schema(e.to_string()))?;
    let rows = batch.num_rows();
    let batches = (0..npartitions)
        .map(|i| {
            let (start, end) = (rows * i / npartitions, rows * (i + 1) / npartitions);
            batch.slice(start, end - start)
        })
        .collect();
    from_batches(batches)
}

/// A dataframe whose partitions are the given literal values.
pub(crate) fn from_values(name: &str, token: Token, schema: SchemaRef, values: Vec<Value>) -> DataFrame {
    let identity: Arc<dyn Op> = Arc::new(ops::Identity);
    let n = values.len();
    let mut values = values.into_iter();
    layer_of_partitions(name, token, schema, n, vec![], |_| {
        (identity.clone(), vec![ArgSpec::Value(values.next().expect("one value per partition"))])
    })
}

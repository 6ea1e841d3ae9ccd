//! The plan of an aggregation, checked against the input schema when it is built: the
//! key columns, each aggregation's input type, result type and partial state, and the
//! schemas of the partial results and of the output.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use serde::{Deserialize, Serialize};

use super::{Agg, AggFn};
use crate::dataframe::describe_schema;
use crate::error::{Error, Result};

/// A checked aggregation: keys (none for a whole-frame aggregation), aggregations and
/// options. The ops of every stage carry it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggPlan {
    keys: Vec<Field>,
    aggs: Vec<Planned>,
    dropna: bool,
    sort: bool,
}

/// One aggregation with its output name and the type of its input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Planned {
    pub agg: Agg,
    pub name: String,
    pub input_type: DataType,
}

impl AggPlan {
    /// Checks `aggs` grouped by `keys` against `schema`: the keys exist and can be
    /// grouped, each aggregation applies to its input's type, and output names are
    /// unique. `dropna` drops rows whose key is null; `sort` sorts the groups by key.
    ///
    /// ```
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use rask_collections::dataframe::{AggPlan, col};
    /// let schema = Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("x", DataType::Int32, true)]);
    /// let plan = AggPlan::new(&schema, &["k".to_string()], vec![col("x").sum(), col("x").mean().alias("m")], true, true).unwrap();
    /// assert_eq!(plan.output_schema().field(1).data_type(), &DataType::Int64);
    /// let clash = AggPlan::new(&schema, &[], vec![col("x").sum(), col("x").mean()], true, true);
    /// assert!(clash.unwrap_err().to_string().contains("\"x\" twice"));
    /// ```
    pub fn new(schema: &Schema, keys: &[String], aggs: Vec<Agg>, dropna: bool, sort: bool) -> Result<AggPlan> {
        let missing = |c: &str| Error::Schema(format!("no column {c:?} in the schema [{}]", describe_schema(schema)));
        let keys = keys
            .iter()
            .map(|k| {
                let field = schema.field_with_name(k).map_err(|_| missing(k))?;
                if !orderable(field.data_type()) {
                    return Err(Error::Schema(format!(
                        "cannot group by column {k:?} of type {} (schema [{}])",
                        field.data_type(),
                        describe_schema(schema)
                    )));
                }
                Ok(Field::new(k, field.data_type().clone(), true))
            })
            .collect::<Result<Vec<_>>>()?;
        let aggs = aggs
            .into_iter()
            .map(|agg| {
                let input_type = agg.input.data_type(schema)?;
                output_type(agg.func, &input_type)
                    .map_err(|why| Error::Schema(format!("{agg}: {why} (schema [{}])", describe_schema(schema))))?;
                Ok(Planned { name: agg.output_name(), agg, input_type })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut names: Vec<&str> =
            keys.iter().map(|k| k.name().as_str()).chain(aggs.iter().map(|a| a.name.as_str())).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::Schema(format!(
                "the output would hold column {:?} twice: give the aggregations distinct names with .alias(...)",
                w[0]
            )));
        }
        Ok(AggPlan { keys, aggs, dropna, sort })
    }

    /// The number of key columns.
    pub fn nkeys(&self) -> usize {
        self.keys.len()
    }

    /// The key column names.
    pub fn key_names(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.name().clone()).collect()
    }

    pub(crate) fn keys(&self) -> &[Field] {
        &self.keys
    }

    pub(crate) fn aggs(&self) -> &[Planned] {
        &self.aggs
    }

    pub(crate) fn dropna(&self) -> bool {
        self.dropna
    }

    pub(crate) fn sort(&self) -> bool {
        self.sort
    }

    /// The schema of partial results: the keys, then each aggregation's state columns.
    pub fn partial_schema(&self) -> SchemaRef {
        let states = self.aggs.iter().flat_map(|a| {
            state_types(a.agg.func, &a.input_type)
                .into_iter()
                .map(move |(state, t)| Field::new(format!("{}:{state}", a.name), t, true))
        });
        Arc::new(Schema::new(self.keys.iter().cloned().chain(states).collect::<Vec<_>>()))
    }

    /// The schema of the result: the keys, then one column per aggregation.
    pub fn output_schema(&self) -> SchemaRef {
        let values = self
            .aggs
            .iter()
            .map(|a| Field::new(&a.name, output_type(a.agg.func, &a.input_type).expect("checked when planned"), true));
        Arc::new(Schema::new(self.keys.iter().cloned().chain(values).collect::<Vec<_>>()))
    }
}

/// Whether values of type `t` can be keys, ordered and hashed (Arrow's row format).
pub(crate) fn orderable(t: &DataType) -> bool {
    RowConverter::supports_fields(&[SortField::new(t.clone())])
}

/// The type sums accumulate in: `Int64` for booleans and signed integers, `UInt64` for
/// unsigned ones, `Float64` for floats (and for nothing else).
pub(crate) fn sum_type(t: &DataType) -> Option<DataType> {
    use DataType::*;
    Some(match t {
        Null | Boolean | Int8 | Int16 | Int32 | Int64 => Int64,
        UInt8 | UInt16 | UInt32 | UInt64 => UInt64,
        Float16 | Float32 | Float64 => Float64,
        _ => return None,
    })
}

/// The result type of `func` on values of type `t`, or why it does not apply.
pub(crate) fn output_type(func: AggFn, t: &DataType) -> std::result::Result<DataType, String> {
    let numeric = || sum_type(t).ok_or_else(|| format!("{} needs numbers or booleans, not {t}", func.name()));
    let ordered = |out: DataType| {
        if orderable(t) { Ok(out) } else { Err(format!("{} cannot order or hash values of type {t}", func.name())) }
    };
    match func {
        AggFn::Count | AggFn::Size => Ok(DataType::Int64),
        AggFn::NUnique => ordered(DataType::Int64),
        AggFn::Min | AggFn::Max => ordered(t.clone()),
        AggFn::First | AggFn::Last => Ok(t.clone()),
        AggFn::Sum { .. } => {
            numeric().map(|acc| if matches!(t, DataType::Float16 | DataType::Float32) { t.clone() } else { acc })
        }
        AggFn::Mean | AggFn::Var { .. } | AggFn::Std { .. } => numeric().map(|_| DataType::Float64),
    }
}

/// The partial state of `func` on values of type `t`: named columns.
pub(crate) fn state_types(func: AggFn, t: &DataType) -> Vec<(&'static str, DataType)> {
    use DataType::{Float64, Int64};
    match func {
        AggFn::Count | AggFn::Size => vec![("count", Int64)],
        AggFn::Sum { .. } => vec![("count", Int64), ("sum", sum_type(t).unwrap_or(Float64))],
        AggFn::Mean => vec![("count", Int64), ("sum", Float64)],
        AggFn::Var { .. } | AggFn::Std { .. } => vec![("count", Int64), ("mean", Float64), ("m2", Float64)],
        AggFn::Min | AggFn::Max | AggFn::First | AggFn::Last => vec![("value", t.clone())],
        AggFn::NUnique => vec![("values", DataType::List(Arc::new(Field::new_list_field(t.clone(), true))))],
    }
}

//! The plan of a join, derived from both schemas when the join is built: the key pairs,
//! the types both sides' keys are cast to before matching, and where every output column
//! comes from. Every mistake (a missing key, keys that cannot match, a clashing output
//! name) is an error here, naming the column and both schemas.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use super::{How, Join};
use crate::dataframe::describe_schema;
use crate::error::{Error, Result};

/// Where one output column of a join comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OutputColumn {
    /// A column of the left side, gathered by the left row of each output row.
    Left(String),
    /// A column of the right side, gathered by the right row of each output row.
    Right(String),
    /// A key named alike on both sides (`on`): the left value where the output row has
    /// a left row, else the right one (an outer join coalesces its key).
    Key {
        /// The key column of the left side.
        left: String,
        /// The key column of the right side.
        right: String,
    },
}

/// Everything a join task needs: serializable, shared by every partition's task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JoinPlan {
    /// Key columns of the left side.
    pub left_on: Vec<String>,
    /// Key columns of the right side, pairwise with `left_on`.
    pub right_on: Vec<String>,
    /// The type each key pair is cast to before matching (equal values hash equally).
    pub key_types: Vec<DataType>,
    /// Which rows survive.
    pub how: How,
    /// Whether null keys match each other (pandas) or nothing (SQL).
    pub nulls_equal: bool,
    /// Where each output column comes from, in output order.
    pub columns: Vec<OutputColumn>,
    /// The output schema, one field per entry of `columns`.
    pub schema: SchemaRef,
}

impl JoinPlan {
    /// The plan of `join` between a left side of schema `left` and a right side of schema
    /// `right` (what [`DataFrame::join`](crate::dataframe::DataFrame::join) checks).
    ///
    /// ```
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use rask_collections::dataframe::{Join, JoinPlan};
    /// let left = Schema::new(vec![Field::new("id", DataType::Int32, true), Field::new("v", DataType::Utf8, true)]);
    /// let right = Schema::new(vec![Field::new("id", DataType::Int64, true), Field::new("v", DataType::Utf8, true)]);
    /// let plan = JoinPlan::new(&left, &right, &Join::on(["id"])).unwrap();
    /// assert_eq!(plan.key_types, vec![DataType::Int64]);
    /// assert_eq!(plan.schema.field(2).name(), "v_right");
    /// ```
    pub fn new(left: &Schema, right: &Schema, join: &Join) -> Result<JoinPlan> {
        let both = || format!("left [{}], right [{}]", describe_schema(left), describe_schema(right));
        let (left_on, right_on) = (&join.left_on, &join.right_on);
        if left_on.is_empty() || left_on.len() != right_on.len() {
            return Err(Error::Schema(format!(
                "a join needs as many right keys as left keys, at least one: left_on {left_on:?}, right_on {right_on:?} ({})",
                both()
            )));
        }
        let mut key_types = Vec::with_capacity(left_on.len());
        for (l, r) in left_on.iter().zip(right_on) {
            let lt = key_field(left, l, "left", &both)?.data_type();
            let rt = key_field(right, r, "right", &both)?.data_type();
            key_types.push(unify_key_types(lt, rt).ok_or_else(|| {
                Error::Schema(format!("join keys {l:?} ({lt}) and {r:?} ({rt}) cannot match: {}", both()))
            })?);
        }
        let shared = |name: &str| left_on.iter().zip(right_on).position(|(l, r)| l == name && r == name);
        let mut columns = Vec::new();
        let mut fields = Vec::new();
        for field in left.fields() {
            let name = field.name();
            match shared(name) {
                Some(k) => {
                    columns.push(OutputColumn::Key { left: name.clone(), right: name.clone() });
                    fields.push(Field::new(name, key_types[k].clone(), true));
                }
                None => {
                    columns.push(OutputColumn::Left(name.clone()));
                    fields.push(Field::new(name, field.data_type().clone(), true));
                }
            }
        }
        for field in right.fields().iter().filter(|f| shared(f.name()).is_none()) {
            let name = field.name();
            let output = match left.field_with_name(name) {
                Ok(_) => format!("{name}{}", join.suffix),
                Err(_) => name.clone(),
            };
            columns.push(OutputColumn::Right(name.clone()));
            fields.push(Field::new(output, field.data_type().clone(), true));
        }
        check_unique_names(&fields, &both)?;
        Ok(JoinPlan {
            left_on: left_on.clone(),
            right_on: right_on.clone(),
            key_types,
            how: join.how,
            nulls_equal: join.nulls_equal,
            columns,
            schema: Arc::new(Schema::new(fields)),
        })
    }
}

/// The key column `name` of one side, or an error naming it and both schemas.
fn key_field<'a>(schema: &'a Schema, name: &str, side: &str, both: &dyn Fn() -> String) -> Result<&'a Field> {
    schema
        .field_with_name(name)
        .map_err(|_| Error::Schema(format!("join key {name:?} is not a column of the {side} side: {}", both())))
}

/// An error if two output columns share a name (a suffixed name that exists already).
fn check_unique_names(fields: &[Field], both: &dyn Fn() -> String) -> Result<()> {
    let mut names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
    names.sort_unstable();
    match names.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(Error::Schema(format!(
            "column {:?} would appear twice in the join's output (choose another suffix): {}",
            w[0],
            both()
        ))),
        None => Ok(()),
    }
}

/// The type two key columns are both cast to before matching, as pandas compares them:
/// equal types stay; integers widen to `Int64` (`UInt64` only with unsigned integers);
/// an integer with a float, or two floats, give `Float64`; strings of different Arrow
/// layouts give `LargeUtf8`; a column of nulls takes the other's type. `None` if the
/// values could never be equal (a string and a number).
pub(crate) fn unify_key_types(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    let is_string = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
    let is_unsigned = |t: &DataType| matches!(t, UInt8 | UInt16 | UInt32 | UInt64);
    let is_number = |t: &DataType| t.is_integer() || t.is_floating();
    match (a, b) {
        _ if a == b => Some(a.clone()),
        (Null, t) | (t, Null) => Some(t.clone()),
        (UInt64, t) | (t, UInt64) if t.is_integer() => is_unsigned(t).then_some(UInt64),
        _ if a.is_integer() && b.is_integer() => Some(Int64),
        _ if is_number(a) && is_number(b) => Some(Float64),
        _ if is_string(a) && is_string(b) => Some(LargeUtf8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_types_unify_as_pandas_compares_them() {
        use DataType::*;
        assert_eq!(unify_key_types(&Int32, &Int64), Some(Int64));
        assert_eq!(unify_key_types(&UInt8, &Int16), Some(Int64));
        assert_eq!(unify_key_types(&UInt64, &UInt32), Some(UInt64));
        assert_eq!(unify_key_types(&UInt64, &Int64), None);
        assert_eq!(unify_key_types(&Int64, &Float32), Some(Float64));
        assert_eq!(unify_key_types(&Utf8, &LargeUtf8), Some(LargeUtf8));
        assert_eq!(unify_key_types(&Null, &Utf8), Some(Utf8));
        assert_eq!(unify_key_types(&Utf8, &Int64), None);
        assert_eq!(unify_key_types(&Date32, &Int32), None);
    }
}

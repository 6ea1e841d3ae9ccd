//! Column expressions, Polars-style: `col("x") * lit(2) + col("y")`, `col("s").str_contains("a")`.
//!
//! An [`Expr`] is a serializable tree. [`Expr::data_type`] checks it against a schema when
//! the dataframe operation is built (a missing column or a type that does not fit is an
//! error naming the column and the schema), and [`Expr::evaluate`] runs it on one record
//! batch with Arrow's kernels. Nulls follow Arrow (and pandas on Arrow): arithmetic and
//! comparisons with a null give null, `&` and `|` use three-valued (Kleene) logic.
//!
//! Numeric operands of different types are promoted as pandas does: integers widen to
//! `Int64`, an integer with a float gives `Float64`, `Float32` with `Float64` gives
//! `Float64`, and `/` of integers is `Float64`. A literal takes the type of the column it
//! meets when it has the same kind (`col("i32") + lit(1)` stays `Int32`).

use std::fmt;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Datum, Float64Array, Int64Array, RecordBatch, Scalar as ArrowScalar, StringArray,
    new_null_array,
};
use arrow::compute::kernels::{boolean, cmp, numeric};
use arrow::compute::{cast, is_not_null, is_null};
use arrow::datatypes::{DataType, Schema};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A literal value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Scalar {
    /// A null (of no particular type).
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (`Int64`, or the integer type of the column it meets).
    Int(i64),
    /// A float (`Float64`, or the float type of the column it meets).
    Float(f64),
    /// A string (`Utf8`).
    Str(String),
}

/// A binary operator.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (true division: integers give `Float64`)
    Div,
    /// `%`
    Rem,
    /// `==`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `&` (Kleene)
    And,
    /// `|` (Kleene)
    Or,
}

impl BinaryOp {
    fn symbol(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Rem => "%",
            Eq => "==",
            NotEq => "!=",
            Lt => "<",
            LtEq => "<=",
            Gt => ">",
            GtEq => ">=",
            And => "&",
            Or => "|",
        }
    }

    fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | NotEq | Lt | LtEq | Gt | GtEq)
    }
}

/// A function of a string column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StrFn {
    /// Whether the string contains the pattern (a plain substring).
    Contains(String),
    /// Whether the string starts with the prefix.
    StartsWith(String),
    /// Whether the string ends with the suffix.
    EndsWith(String),
    /// The length in characters (not bytes), as `Int64`.
    Len,
    /// Lower case.
    Lower,
    /// Upper case.
    Upper,
}

/// A column expression; see the module docs.
///
/// ```
/// use rask_collections::dataframe::{col, lit};
/// let e = (col("x") * lit(2) + col("y")).alias("z");
/// assert_eq!(e.to_string(), "((x * 2) + y) AS z");
/// assert_eq!(e.output_name(), "z");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    /// A column by name.
    Column(String),
    /// A literal, broadcast to every row.
    Literal(Scalar),
    /// The expression under another name.
    Alias(Box<Expr>, String),
    /// `left op right`.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// Logical not (Kleene: not null is null).
    Not(Box<Expr>),
    /// Arithmetic negation.
    Negate(Box<Expr>),
    /// Whether each value is null.
    IsNull(Box<Expr>),
    /// Whether each value is not null.
    IsNotNull(Box<Expr>),
    /// A cast with Arrow's rules (a value that does not fit becomes an error).
    Cast(Box<Expr>, DataType),
    /// A string function.
    Str(StrFn, Box<Expr>),
}

/// The column named `name`.
pub fn col(name: impl Into<String>) -> Expr {
    Expr::Column(name.into())
}

/// A literal: `lit(1)`, `lit(2.5)`, `lit("a")`, `lit(true)`.
pub fn lit(value: impl Into<Scalar>) -> Expr {
    Expr::Literal(value.into())
}

macro_rules! scalar_from {
    ($($t:ty => $variant:ident $(as $cast:ty)?),*) => {$(
        impl From<$t> for Scalar {
            fn from(v: $t) -> Scalar {
                Scalar::$variant((v $(as $cast)?).into())
            }
        }
    )*};
}
scalar_from!(bool => Bool, i32 => Int as i64, i64 => Int, u32 => Int as i64, f32 => Float as f64, f64 => Float, &str => Str, String => Str);

impl Expr {
    /// The expression named `name` in the output.
    pub fn alias(self, name: impl Into<String>) -> Expr {
        Expr::Alias(Box::new(self), name.into())
    }

    fn binary(self, op: BinaryOp, other: Expr) -> Expr {
        Expr::Binary(op, Box::new(self), Box::new(other))
    }

    /// `self == other`.
    pub fn eq(self, other: impl Into<Expr>) -> Expr {
        self.binary(BinaryOp::Eq, other.into())
    }
    /// `self != other`.
    pub fn not_eq(self, other: impl Into<Expr>) -> Expr {
        self.binary(BinaryOp::NotEq, other.into())
    }
    /// `self < other`.
    pub fn lt(self, other: impl Into<Expr>) -> Expr {
        self.binary(BinaryOp::Lt, other.into())
    }
    /// `self <= other`.
    pub fn lt_eq(self, other: impl Into<Expr>) -> Expr {
        self.binary(BinaryOp::LtEq, other.into())
    }
    /// `self > other`.
    pub fn gt(self, other: impl Into<Expr>) -> Expr {
        self.binary(BinaryOp::Gt, other.into())
    }
    /// `self >= other`.
    pub fn gt_eq(self, other: impl Into<Expr>) -> Expr {
        self.binary(BinaryOp::GtEq, other.into())
    }
    /// Kleene `self & other`.
    pub fn and(self, other: impl Into<Expr>) -> Expr {
        self.binary(BinaryOp::And, other.into())
    }
    /// Kleene `self | other`.
    pub fn or(self, other: impl Into<Expr>) -> Expr {
        self.binary(BinaryOp::Or, other.into())
    }
    /// Whether each value is null.
    pub fn is_null(self) -> Expr {
        Expr::IsNull(Box::new(self))
    }
    /// Whether each value is not null.
    pub fn is_not_null(self) -> Expr {
        Expr::IsNotNull(Box::new(self))
    }
    /// The values cast to `to`.
    pub fn cast(self, to: DataType) -> Expr {
        Expr::Cast(Box::new(self), to)
    }
    /// Whether each string contains `pattern`.
    pub fn str_contains(self, pattern: impl Into<String>) -> Expr {
        Expr::Str(StrFn::Contains(pattern.into()), Box::new(self))
    }
    /// Whether each string starts with `prefix`.
    pub fn str_starts_with(self, prefix: impl Into<String>) -> Expr {
        Expr::Str(StrFn::StartsWith(prefix.into()), Box::new(self))
    }
    /// Whether each string ends with `suffix`.
    pub fn str_ends_with(self, suffix: impl Into<String>) -> Expr {
        Expr::Str(StrFn::EndsWith(suffix.into()), Box::new(self))
    }
    /// Each string's length in characters.
    pub fn str_len(self) -> Expr {
        Expr::Str(StrFn::Len, Box::new(self))
    }
    /// Each string in lower case.
    pub fn str_lower(self) -> Expr {
        Expr::Str(StrFn::Lower, Box::new(self))
    }
    /// Each string in upper case.
    pub fn str_upper(self) -> Expr {
        Expr::Str(StrFn::Upper, Box::new(self))
    }

    /// The name of the column this expression produces: its alias, else the column it
    /// reads first, else its text.
    pub fn output_name(&self) -> String {
        match self {
            Expr::Alias(_, name) | Expr::Column(name) => name.clone(),
            Expr::Binary(_, left, _) => left.output_name(),
            Expr::Not(e)
            | Expr::Negate(e)
            | Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::Cast(e, _)
            | Expr::Str(_, e) => e.output_name(),
            Expr::Literal(_) => self.to_string(),
        }
    }

    /// Every column the expression reads, in order of first use.
    pub fn columns(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.visit_columns(&mut |c| {
            if !out.iter().any(|o| o == c) {
                out.push(c.to_string())
            }
        });
        out
    }

    fn visit_columns(&self, f: &mut impl FnMut(&str)) {
        match self {
            Expr::Column(c) => f(c),
            Expr::Literal(_) => {}
            Expr::Binary(_, a, b) => {
                a.visit_columns(f);
                b.visit_columns(f);
            }
            Expr::Alias(e, _)
            | Expr::Not(e)
            | Expr::Negate(e)
            | Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::Cast(e, _)
            | Expr::Str(_, e) => e.visit_columns(f),
        }
    }

    /// The type of the expression's values over `schema`, or an error naming the column or
    /// operands that do not fit.
    pub fn data_type(&self, schema: &Schema) -> Result<DataType> {
        match self {
            Expr::Column(c) => schema
                .field_with_name(c)
                .map(|f| f.data_type().clone())
                .map_err(|_| Error::Schema(format!("no column {c:?} in the schema [{}]", describe_schema(schema)))),
            Expr::Literal(s) => Ok(s.data_type()),
            Expr::Alias(e, _) => e.data_type(schema),
            Expr::Binary(op, a, b) => {
                let (ta, tb) = (a.data_type(schema)?, b.data_type(schema)?);
                binary_type(*op, &literal_type(a, &ta, &tb), &literal_type(b, &tb, &ta))
                    .ok_or_else(|| Error::Schema(format!("{self}: cannot apply {} to {ta} and {tb}", op.symbol())))
            }
            Expr::Not(e) => match e.data_type(schema)? {
                DataType::Boolean | DataType::Null => Ok(DataType::Boolean),
                t => Err(Error::Schema(format!("{self}: logical not needs booleans, not {t}"))),
            },
            Expr::Negate(e) => match e.data_type(schema)? {
                t if t.is_numeric() => Ok(t),
                t => Err(Error::Schema(format!("{self}: negation needs numbers, not {t}"))),
            },
            Expr::IsNull(e) | Expr::IsNotNull(e) => e.data_type(schema).map(|_| DataType::Boolean),
            Expr::Cast(e, to) => {
                let from = e.data_type(schema)?;
                if arrow::compute::can_cast_types(&from, to) {
                    Ok(to.clone())
                } else {
                    Err(Error::Schema(format!("{self}: cannot cast {from} to {to}")))
                }
            }
            Expr::Str(f, e) => match e.data_type(schema)? {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => Ok(match f {
                    StrFn::Len => DataType::Int64,
                    StrFn::Lower | StrFn::Upper => DataType::Utf8,
                    _ => DataType::Boolean,
                }),
                t => Err(Error::Schema(format!("{self}: string functions need strings, not {t}"))),
            },
        }
    }

    /// The expression's values on `batch`, one per row.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<ArrayRef, String> {
        let rows = batch.num_rows();
        match self.eval(batch)? {
            Evaluated::Array(a) => Ok(a),
            Evaluated::Scalar(s) => s.to_array(rows, &s.data_type()),
        }
    }

    fn eval(&self, batch: &RecordBatch) -> Result<Evaluated, String> {
        let rows = batch.num_rows();
        Ok(match self {
            Expr::Column(c) => Evaluated::Array(
                batch.column_by_name(c).cloned().ok_or_else(|| format!("no column {c:?} in the partition"))?,
            ),
            Expr::Literal(s) => Evaluated::Scalar(s.clone()),
            Expr::Alias(e, _) => e.eval(batch)?,
            Expr::Binary(op, a, b) => {
                // The evaluated operands carry their types: no second walk over the schema.
                let (left, right) = (a.eval(batch)?, b.eval(batch)?);
                let (ta, tb) = (left.data_type(), right.data_type());
                let (ta, tb) = (literal_type(a, &ta, &tb), literal_type(b, &tb, &ta));
                let out = binary_type(*op, &ta, &tb)
                    .ok_or_else(|| format!("{self}: cannot apply {} to {ta} and {tb}", op.symbol()))?;
                let operand = if op.is_comparison() || matches!(op, BinaryOp::And | BinaryOp::Or) {
                    comparison_type(&ta, &tb)
                } else {
                    out.clone()
                };
                let left = left.datum(&operand, rows)?;
                let right = right.datum(&operand, rows)?;
                Evaluated::Array(apply_binary(*op, &*left, &*right).map_err(|e| format!("{self}: {e}"))?)
            }
            Expr::Not(e) => {
                let values = e.evaluate(batch)?;
                let values = cast(&values, &DataType::Boolean).map_err(|e| e.to_string())?;
                Evaluated::Array(Arc::new(boolean::not(as_bool(&values)?).map_err(|e| e.to_string())?))
            }
            Expr::Negate(e) => {
                Evaluated::Array(numeric::neg_wrapping(&e.evaluate(batch)?).map_err(|e| format!("{self}: {e}"))?)
            }
            Expr::IsNull(e) => Evaluated::Array(Arc::new(is_null(&e.evaluate(batch)?).map_err(|e| e.to_string())?)),
            Expr::IsNotNull(e) => {
                Evaluated::Array(Arc::new(is_not_null(&e.evaluate(batch)?).map_err(|e| e.to_string())?))
            }
            Expr::Cast(e, to) => Evaluated::Array(
                arrow::compute::cast_with_options(
                    &e.evaluate(batch)?,
                    to,
                    &arrow::compute::CastOptions { safe: false, ..Default::default() },
                )
                .map_err(|err| format!("{self}: {err}"))?,
            ),
            Expr::Str(f, e) => {
                Evaluated::Array(string_fn(f, &e.evaluate(batch)?).map_err(|err| format!("{self}: {err}"))?)
            }
        })
    }
}

fn as_bool(values: &ArrayRef) -> Result<&BooleanArray, String> {
    values
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| format!("expected booleans, got {}", values.data_type()))
}

fn string_fn(f: &StrFn, values: &ArrayRef) -> Result<ArrayRef, arrow::error::ArrowError> {
    use arrow::compute::kernels::comparison;
    let strings = cast(values, &DataType::Utf8)?;
    let strings = strings.as_any().downcast_ref::<StringArray>().expect("cast to Utf8 gives strings");
    let pattern = |p: &str| ArrowScalar::new(StringArray::from(vec![p.to_string()]));
    Ok(match f {
        StrFn::Contains(p) => Arc::new(comparison::contains(strings, &pattern(p))?),
        StrFn::StartsWith(p) => Arc::new(comparison::starts_with(strings, &pattern(p))?),
        StrFn::EndsWith(p) => Arc::new(comparison::ends_with(strings, &pattern(p))?),
        StrFn::Len => Arc::new(strings.iter().map(|s| s.map(|s| s.chars().count() as i64)).collect::<Int64Array>()),
        StrFn::Lower => Arc::new(strings.iter().map(|s| s.map(str::to_lowercase)).collect::<StringArray>()),
        StrFn::Upper => Arc::new(strings.iter().map(|s| s.map(str::to_uppercase)).collect::<StringArray>()),
    })
}

fn apply_binary(op: BinaryOp, a: &dyn Datum, b: &dyn Datum) -> Result<ArrayRef, arrow::error::ArrowError> {
    use BinaryOp::*;
    let boolean = |r: BooleanArray| -> ArrayRef { Arc::new(r) };
    Ok(match op {
        Add => numeric::add_wrapping(a, b)?,
        Sub => numeric::sub_wrapping(a, b)?,
        Mul => numeric::mul_wrapping(a, b)?,
        Div => numeric::div(a, b)?,
        Rem => numeric::rem(a, b)?,
        Eq => boolean(cmp::eq(a, b)?),
        NotEq => boolean(cmp::neq(a, b)?),
        Lt => boolean(cmp::lt(a, b)?),
        LtEq => boolean(cmp::lt_eq(a, b)?),
        Gt => boolean(cmp::gt(a, b)?),
        GtEq => boolean(cmp::gt_eq(a, b)?),
        And | Or => {
            let (a, b) = (datum_array(a), datum_array(b));
            let (a, b) = (
                as_bool(&a).map_err(arrow::error::ArrowError::CastError)?,
                as_bool(&b).map_err(arrow::error::ArrowError::CastError)?,
            );
            boolean(if op == And { boolean::and_kleene(a, b)? } else { boolean::or_kleene(a, b)? })
        }
    })
}

/// A datum's values as an array (a scalar datum is a one-row array, which the Kleene
/// kernels do not broadcast: callers pass full-length arrays for `&` and `|`).
fn datum_array(d: &dyn Datum) -> ArrayRef {
    let (array, _) = d.get();
    arrow::array::make_array(array.to_data())
}

/// An evaluated operand: a column, or a literal not yet broadcast.
enum Evaluated {
    Array(ArrayRef),
    Scalar(Scalar),
}

impl Evaluated {
    /// The operand's type: its array's, or the literal's own.
    fn data_type(&self) -> DataType {
        match self {
            Evaluated::Array(a) => a.data_type().clone(),
            Evaluated::Scalar(s) => s.data_type(),
        }
    }

    /// The operand as a kernel argument of type `to`.
    fn datum(self, to: &DataType, rows: usize) -> Result<Box<dyn Datum>, String> {
        match self {
            Evaluated::Array(a) if a.data_type() == to => Ok(Box::new(a)),
            Evaluated::Array(a) => Ok(Box::new(cast(&a, to).map_err(|e| e.to_string())?)),
            // Kleene kernels want full arrays; the others broadcast a one-row scalar.
            Evaluated::Scalar(s) if *to == DataType::Boolean => Ok(Box::new(s.to_array(rows, to)?)),
            Evaluated::Scalar(s) => Ok(Box::new(ArrowScalar::new(s.to_array(1, to)?))),
        }
    }
}

impl Scalar {
    /// The literal's own type: `Int64`, `Float64`, `Utf8`, `Boolean` or `Null`.
    pub fn data_type(&self) -> DataType {
        match self {
            Scalar::Null => DataType::Null,
            Scalar::Bool(_) => DataType::Boolean,
            Scalar::Int(_) => DataType::Int64,
            Scalar::Float(_) => DataType::Float64,
            Scalar::Str(_) => DataType::Utf8,
        }
    }

    /// `rows` copies of the literal as an array of type `to`.
    fn to_array(&self, rows: usize, to: &DataType) -> Result<ArrayRef, String> {
        let one: ArrayRef = match self {
            Scalar::Null => return Ok(new_null_array(to, rows)),
            Scalar::Bool(b) => Arc::new(BooleanArray::from(vec![*b; rows])),
            Scalar::Int(i) => Arc::new(Int64Array::from(vec![*i; rows])),
            Scalar::Float(x) => Arc::new(Float64Array::from(vec![*x; rows])),
            Scalar::Str(s) => Arc::new(StringArray::from(vec![s.as_str(); rows])),
        };
        if one.data_type() == to { Ok(one) } else { cast(&one, to).map_err(|e| e.to_string()) }
    }
}

/// A literal's type once it meets an operand of type `other`: a literal of the same kind
/// (integer with integer, float with float) takes the other operand's type.
fn literal_type(e: &Expr, own: &DataType, other: &DataType) -> DataType {
    match e {
        Expr::Literal(Scalar::Int(_)) if other.is_integer() => other.clone(),
        Expr::Literal(Scalar::Float(_)) if other.is_floating() => other.clone(),
        Expr::Literal(Scalar::Null) => other.clone(),
        _ => own.clone(),
    }
}

/// The common type of two numeric types (pandas' promotion): integers widen to the wider
/// signed type (`Int64` when signedness differs), an integer with a float gives `Float64`,
/// two floats the wider; a null takes the other type.
fn numeric_type(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    let width = |t: &DataType| t.primitive_width().unwrap_or(0);
    Some(match (a, b) {
        (Null, t) | (t, Null) if t.is_numeric() || *t == Null => t.clone(),
        _ if !a.is_numeric() || !b.is_numeric() => return None,
        _ if a == b => a.clone(),
        (Float32, Float32) => Float32,
        _ if a.is_floating() || b.is_floating() => Float64,
        _ if a.is_signed_integer() != b.is_signed_integer() => Int64,
        _ => {
            if width(a) >= width(b) {
                a.clone()
            } else {
                b.clone()
            }
        }
    })
}

/// The type both operands of a comparison are compared in.
fn comparison_type(a: &DataType, b: &DataType) -> DataType {
    if a == b {
        return a.clone();
    }
    if let Some(t) = numeric_type(a, b) {
        return t;
    }
    match (a, b) {
        (DataType::Null, t) | (t, DataType::Null) => t.clone(),
        (t, _) => t.clone(),
    }
}

/// The result type of `a op b`, if the operator applies.
fn binary_type(op: BinaryOp, a: &DataType, b: &DataType) -> Option<DataType> {
    use BinaryOp::*;
    let stringy = |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    match op {
        And | Or => {
            let ok = |t: &DataType| matches!(t, DataType::Boolean | DataType::Null);
            (ok(a) && ok(b)).then_some(DataType::Boolean)
        }
        Eq | NotEq | Lt | LtEq | Gt | GtEq => {
            let comparable = a == b
                || numeric_type(a, b).is_some()
                || (stringy(a) && stringy(b))
                || matches!(a, DataType::Null)
                || matches!(b, DataType::Null);
            comparable.then_some(DataType::Boolean)
        }
        Div => {
            let t = numeric_type(a, b)?;
            Some(if t.is_integer() { DataType::Float64 } else { t })
        }
        Add | Sub | Mul | Rem => numeric_type(a, b),
    }
}

/// `name type, name type, ...` of a schema, for error messages.
pub(crate) fn describe_schema(schema: &Schema) -> String {
    schema.fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Null => f.write_str("null"),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x:?}"),
            Scalar::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Column(c) => f.write_str(c),
            Expr::Literal(s) => write!(f, "{s}"),
            Expr::Alias(e, name) => write!(f, "{e} AS {name}"),
            Expr::Binary(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            Expr::Not(e) => write!(f, "~{e}"),
            Expr::Negate(e) => write!(f, "-{e}"),
            Expr::IsNull(e) => write!(f, "{e}.is_null()"),
            Expr::IsNotNull(e) => write!(f, "{e}.is_not_null()"),
            Expr::Cast(e, t) => write!(f, "{e}.cast({t})"),
            Expr::Str(func, e) => match func {
                StrFn::Contains(p) => write!(f, "{e}.str.contains({p:?})"),
                StrFn::StartsWith(p) => write!(f, "{e}.str.starts_with({p:?})"),
                StrFn::EndsWith(p) => write!(f, "{e}.str.ends_with({p:?})"),
                StrFn::Len => write!(f, "{e}.str.len()"),
                StrFn::Lower => write!(f, "{e}.str.lower()"),
                StrFn::Upper => write!(f, "{e}.str.upper()"),
            },
        }
    }
}

impl<S: Into<Scalar>> From<S> for Expr {
    fn from(value: S) -> Expr {
        Expr::Literal(value.into())
    }
}

macro_rules! expr_operator {
    ($trait:ident, $method:ident, $op:ident) => {
        impl<R: Into<Expr>> std::ops::$trait<R> for Expr {
            type Output = Expr;
            fn $method(self, rhs: R) -> Expr {
                self.binary(BinaryOp::$op, rhs.into())
            }
        }
    };
}
expr_operator!(Add, add, Add);
expr_operator!(Sub, sub, Sub);
expr_operator!(Mul, mul, Mul);
expr_operator!(Div, div, Div);
expr_operator!(Rem, rem, Rem);
expr_operator!(BitAnd, bitand, And);
expr_operator!(BitOr, bitor, Or);

impl std::ops::Not for Expr {
    type Output = Expr;
    fn not(self) -> Expr {
        Expr::Not(Box::new(self))
    }
}

impl std::ops::Neg for Expr {
    type Output = Expr;
    fn neg(self) -> Expr {
        Expr::Negate(Box::new(self))
    }
}

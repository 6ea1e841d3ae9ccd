//! Values: what flows between tasks.
//!
//! A [`Value`] is 24 bytes; everything bigger than a word sits behind an `Arc`, so handing
//! a value to several dependents never copies its payload. The collections crates add
//! their own payloads (array chunks, record batches) as variants of this enum.
//! [`Data`] converts between Rust types and values.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::batch::Batch;
use crate::chunk::{ArrayChunk, Element};
use crate::error::{OpError, ValueError};

/// One task's output.
///
/// ```
/// use rask_graph::Value;
/// let v = Value::List(vec![Value::I64(1), Value::Str("a".into())].into());
/// assert_eq!(v.type_name(), "list");
/// assert_eq!(v, Value::List(vec![Value::I64(1), Value::Str("a".into())].into()));
/// ```
#[derive(Clone, Default, Serialize, Deserialize)]
pub enum Value {
    /// No value (a task run for its effect).
    #[default]
    Unit,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// A float.
    F64(f64),
    /// A string.
    Str(Arc<str>),
    /// Raw bytes.
    Bytes(#[serde(with = "crate::oob::bytes_value")] Arc<[u8]>),
    /// An ordered list of values.
    List(#[serde(deserialize_with = "list_as_it_arrives")] Arc<[Value]>),
    /// One block of a chunked array.
    Array(ArrayChunk),
    /// One partition of a dataframe.
    Batch(Batch),
    /// A Rust value of any type, for local schedulers only: it cannot leave its process.
    #[serde(skip)]
    Opaque(Arc<dyn Any + Send + Sync>),
}

const _: () = assert!(std::mem::size_of::<Value>() == 24);

/// Reads a list growing with the elements that arrive: a length prefix that lies must
/// not reserve memory (nested lists would multiply it).
fn list_as_it_arrives<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Arc<[Value]>, D::Error> {
    struct Items;
    impl<'de> serde::de::Visitor<'de> for Items {
        type Value = Arc<[Value]>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of values")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Arc<[Value]>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<Value>()? {
                items.push(item);
            }
            Ok(items.into())
        }
    }
    d.deserialize_seq(Items)
}

impl Value {
    /// Wraps any Rust value; it can be read back with [`Value::downcast`].
    pub fn opaque<T: Any + Send + Sync>(value: T) -> Value {
        Value::Opaque(Arc::new(value))
    }

    /// The payload of an [`Value::Opaque`] as `T`, if it is one.
    pub fn downcast<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        match self {
            Value::Opaque(any) => any.clone().downcast::<T>().ok(),
            _ => None,
        }
    }

    /// A short name of the variant, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Unit => "unit",
            Value::Bool(_) => "bool",
            Value::I64(_) => "i64",
            Value::F64(_) => "f64",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Array(_) => "array",
            Value::Batch(_) => "batch",
            Value::Opaque(_) => "opaque",
        }
    }

    /// Approximate bytes held by this value (what the dashboard and spilling count).
    pub fn nbytes(&self) -> usize {
        match self {
            Value::Unit | Value::Bool(_) | Value::I64(_) | Value::F64(_) => 8,
            Value::Str(s) => s.len(),
            Value::Bytes(b) => b.len(),
            Value::List(items) => items.iter().map(Value::nbytes).sum::<usize>() + 8,
            Value::Array(chunk) => chunk.nbytes(),
            Value::Batch(batch) => batch.nbytes(),
            Value::Opaque(_) => std::mem::size_of::<usize>(),
        }
    }

    /// Feeds the value into a token hasher (floats by their bits, opaque values by
    /// identity), for deterministic task names of calls with literal arguments.
    pub fn hash_token<H: std::hash::Hasher>(&self, state: &mut H) {
        use std::hash::Hash;
        std::mem::discriminant(self).hash(state);
        match self {
            Value::Unit => {}
            Value::Bool(b) => b.hash(state),
            Value::I64(i) => i.hash(state),
            Value::F64(x) => x.to_bits().hash(state),
            Value::Str(s) => s.hash(state),
            Value::Bytes(b) => b.hash(state),
            Value::List(items) => {
                items.len().hash(state);
                items.iter().for_each(|v| v.hash_token(state));
            }
            Value::Array(chunk) => chunk.hash_token(state),
            Value::Batch(batch) => match batch.to_ipc() {
                Ok(bytes) => bytes.hash(state),
                Err(_) => (Arc::as_ptr(&batch.0) as usize).hash(state),
            },
            Value::Opaque(any) => (Arc::as_ptr(any) as *const () as usize).hash(state),
        }
    }

    /// Whether this value can be serialized for another process.
    pub fn is_portable(&self) -> bool {
        match self {
            Value::Opaque(_) => false,
            Value::List(items) => items.iter().all(Value::is_portable),
            _ => true,
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Unit, Value::Unit) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::I64(a), Value::I64(b)) => a == b,
            (Value::F64(a), Value::F64(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Batch(a), Value::Batch(b)) => a == b,
            (Value::Opaque(a), Value::Opaque(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unit => f.write_str("()"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::I64(i) => write!(f, "{i}"),
            Value::F64(x) => write!(f, "{x:?}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "<{} bytes>", b.len()),
            Value::List(items) => f.debug_list().entries(items.iter()).finish(),
            Value::Array(chunk) => write!(f, "<{} block {:?}>", chunk.dtype(), chunk.shape()),
            Value::Batch(batch) => write!(f, "{batch:?}"),
            Value::Opaque(_) => f.write_str("<opaque>"),
        }
    }
}

/// Rust types that travel through the graph as [`Value`]s.
///
/// Implemented for the scalar types, `String`, `Vec<T>`, tuples of up to four elements,
/// `Option<T>` and [`Value`] itself. For your own types, implement it by wrapping them in
/// [`Value::opaque`] (local schedulers only), or by mapping them onto the other variants
/// (shippable to worker processes).
///
/// ```
/// use rask_graph::{Data, Value};
/// let v = (1i64, String::from("x")).into_value();
/// assert_eq!(<(i64, String)>::from_value(v).unwrap(), (1, "x".to_string()));
/// assert!(i64::from_value(Value::Str("no".into())).is_err());
/// ```
pub trait Data: Sized + Send + Sync + 'static {
    /// Wraps `self` as a value.
    fn into_value(self) -> Value;
    /// Reads a value back, or says what it was instead.
    fn from_value(value: Value) -> Result<Self, ValueError>;
}

fn mismatch<T>(expected: &'static str, found: &Value) -> Result<T, ValueError> {
    Err(ValueError::Type { expected, found: found.type_name() })
}

impl Data for Value {
    fn into_value(self) -> Value {
        self
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        Ok(value)
    }
}

impl Data for () {
    fn into_value(self) -> Value {
        Value::Unit
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Unit => Ok(()),
            other => mismatch("unit", &other),
        }
    }
}

impl Data for bool {
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Bool(b) => Ok(b),
            other => mismatch("bool", &other),
        }
    }
}

macro_rules! integer_data {
    ($($t:ty),*) => {$(
        impl Data for $t {
            fn into_value(self) -> Value {
                Value::I64(i64::try_from(self).expect(concat!(stringify!($t), " fits in i64")))
            }
            fn from_value(value: Value) -> Result<Self, ValueError> {
                match value {
                    Value::I64(i) => <$t>::try_from(i).map_err(|_| ValueError::OutOfRange {
                        value: i.to_string(),
                        target: stringify!($t),
                    }),
                    other => mismatch("i64", &other),
                }
            }
        }
    )*};
}
integer_data!(i64, i32, i16, i8, u32, u16, u8);

impl Data for f64 {
    fn into_value(self) -> Value {
        Value::F64(self)
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::F64(x) => Ok(x),
            Value::I64(i) => Ok(i as f64),
            other => mismatch("f64", &other),
        }
    }
}

impl Data for f32 {
    fn into_value(self) -> Value {
        Value::F64(self as f64)
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        f64::from_value(value).map(|x| x as f32)
    }
}

impl Data for String {
    fn into_value(self) -> Value {
        Value::Str(self.into())
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Str(s) => Ok(s.to_string()),
            other => mismatch("str", &other),
        }
    }
}

impl Data for Arc<str> {
    fn into_value(self) -> Value {
        Value::Str(self)
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Str(s) => Ok(s),
            other => mismatch("str", &other),
        }
    }
}

impl Data for Arc<[u8]> {
    fn into_value(self) -> Value {
        Value::Bytes(self)
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Bytes(b) => Ok(b),
            other => mismatch("bytes", &other),
        }
    }
}

impl<T: Data> Data for Vec<T> {
    fn into_value(self) -> Value {
        Value::List(self.into_iter().map(Data::into_value).collect())
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::List(items) => items.iter().cloned().map(T::from_value).collect(),
            other => mismatch("list", &other),
        }
    }
}

impl<T: Data> Data for Option<T> {
    fn into_value(self) -> Value {
        match self {
            Some(v) => v.into_value(),
            None => Value::Unit,
        }
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Unit => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// An array block travels as [`Value::Array`]; reading it back takes the block without a
/// copy when this is its only reference.
///
/// ```
/// use rask_graph::{Data, Value};
/// let v = ndarray::ArrayD::<f64>::zeros(vec![2, 3]).into_value();
/// assert_eq!(v.type_name(), "array");
/// assert_eq!(ndarray::ArrayD::<f64>::from_value(v.clone()).unwrap().shape(), &[2, 3]);
/// let err = ndarray::ArrayD::<i32>::from_value(v).unwrap_err();
/// assert_eq!(err.to_string(), "expected a value of type int32, found float64");
/// ```
impl<T: Element> Data for ndarray::ArrayD<T> {
    fn into_value(self) -> Value {
        Value::Array(T::wrap(Arc::new(self)))
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        let Value::Array(chunk) = value else {
            return mismatch(T::DTYPE.name(), &value);
        };
        let found = chunk.dtype().name();
        let block = T::unwrap(&chunk).cloned();
        drop(chunk);
        block.map(Arc::unwrap_or_clone).ok_or(ValueError::Type { expected: T::DTYPE.name(), found })
    }
}

macro_rules! tuple_data {
    ($n:literal; $($t:ident $i:tt),*) => {
        impl<$($t: Data),*> Data for ($($t,)*) {
            fn into_value(self) -> Value {
                Value::List(vec![$(self.$i.into_value()),*].into())
            }
            fn from_value(value: Value) -> Result<Self, ValueError> {
                match value {
                    Value::List(items) if items.len() == $n => {
                        Ok(($($t::from_value(items[$i].clone())?,)*))
                    }
                    Value::List(items) => Err(ValueError::Length { expected: $n, found: items.len() }),
                    other => mismatch("list", &other),
                }
            }
        }
    };
}
tuple_data!(1; A 0);
tuple_data!(2; A 0, B 1);
tuple_data!(3; A 0, B 1, C 2);
tuple_data!(4; A 0, B 1, C 2, D 3);

/// What a task function may return: a [`Data`] value, or a `Result` whose error becomes
/// the task's error message.
///
/// ```
/// use rask_graph::{TaskOutput, Value};
/// assert_eq!(5i64.into_task_result().unwrap(), Value::I64(5));
/// let failed: Result<i64, String> = Err("no".into());
/// assert_eq!(failed.into_task_result().unwrap_err().message(), "no");
/// ```
pub trait TaskOutput: Send + 'static {
    /// The type of the successful value.
    type Data: Data;
    /// The value, or the error as an [`OpError`].
    fn into_task_result(self) -> Result<Value, OpError>;
}

impl<T: Data> TaskOutput for T {
    type Data = T;
    fn into_task_result(self) -> Result<Value, OpError> {
        Ok(self.into_value())
    }
}

impl<T: Data, E: fmt::Display + Send + 'static> TaskOutput for Result<T, E> {
    type Data = T;
    fn into_task_result(self) -> Result<Value, OpError> {
        self.map(Data::into_value).map_err(|e| OpError::new(e.to_string()))
    }
}

impl Data for arrow_array::RecordBatch {
    fn into_value(self) -> Value {
        Value::Batch(Batch::new(self))
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Batch(b) => Ok(Arc::try_unwrap(b.0).unwrap_or_else(|shared| (*shared).clone())),
            other => mismatch("batch", &other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip() {
        assert_eq!(i32::from_value(7i32.into_value()).unwrap(), 7);
        assert_eq!(Vec::<f64>::from_value(vec![1.5, 2.5].into_value()).unwrap(), vec![1.5, 2.5]);
        assert_eq!(Option::<i64>::from_value(Value::Unit).unwrap(), None);
        assert_eq!(<(bool, i64)>::from_value((true, 3i64).into_value()).unwrap(), (true, 3));
    }

    #[test]
    fn conversion_errors_say_what_was_found() {
        let err = i64::from_value(Value::F64(1.0)).unwrap_err();
        assert_eq!(err.to_string(), "expected a value of type i64, found f64");
        let err = u8::from_value(Value::I64(300)).unwrap_err();
        assert!(err.to_string().contains("300"), "{err}");
        let err = <(i64, i64)>::from_value(Value::List(vec![Value::I64(1)].into())).unwrap_err();
        assert!(err.to_string().contains("2"), "{err}");
    }

    #[test]
    fn opaque_values_downcast_and_are_not_portable() {
        let v = Value::opaque(vec![1u8, 2]);
        assert_eq!(*v.downcast::<Vec<u8>>().unwrap(), vec![1, 2]);
        assert!(v.downcast::<String>().is_none());
        assert!(!v.is_portable());
        assert!(!Value::List(vec![v].into()).is_portable());
        assert!(Value::I64(1).is_portable());
    }

    #[test]
    fn portable_values_round_trip_through_msgpack() {
        let v = Value::List(
            vec![
                Value::Unit,
                Value::Bool(true),
                Value::I64(-3),
                Value::F64(0.5),
                Value::Str("s".into()),
                Value::Bytes(vec![1, 2, 3].into()),
            ]
            .into(),
        );
        let back: Value = rmp_serde::from_slice(&rmp_serde::to_vec(&v).unwrap()).unwrap();
        assert_eq!(back, v);
    }
}

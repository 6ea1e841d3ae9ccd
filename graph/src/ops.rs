//! Built-in ops that any process can decode: the small vocabulary that generic graphs,
//! the delayed API and the benchmark workloads are built from.
//!
//! Numeric ops follow numpy's scalar rules: integers stay `i64` (an overflow is an error,
//! not a wrap-around), and any float operand makes the result `f64`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::error::OpError;
use crate::key::Key;
use crate::op::{Args, Op};
use crate::value::Value;

/// Returns its single argument unchanged (an alias for another task's output).
#[derive(Debug, Clone, Copy, Default, Hash, Serialize, Deserialize)]
pub struct Identity;

#[typetag::serde(name = "rask.identity")]
impl Op for Identity {
    fn name(&self) -> &str {
        "identity"
    }
    fn is_cheap(&self) -> bool {
        true
    }
    fn call(&self, mut args: Args) -> Result<Value, OpError> {
        match args.len() {
            1 => Ok(args.pop().expect("one argument")),
            n => Err(OpError::new(format!("identity takes 1 argument, got {n}"))),
        }
    }
}

/// `x + 1` for an integer or float `x`.
///
/// ```
/// use rask_graph::{args, ops::Inc, Op, Value};
/// assert_eq!(Inc.call(args![Value::I64(41)]).unwrap(), Value::I64(42));
/// ```
#[derive(Debug, Clone, Copy, Default, Hash, Serialize, Deserialize)]
pub struct Inc;

#[typetag::serde(name = "rask.inc")]
impl Op for Inc {
    fn name(&self) -> &str {
        "inc"
    }
    fn call(&self, args: Args) -> Result<Value, OpError> {
        match args.as_slice() {
            [x] => add_numbers(x, &Value::I64(1)),
            other => Err(OpError::new(format!("inc takes 1 argument, got {}", other.len()))),
        }
    }
}

/// `a + b` for two numbers.
#[derive(Debug, Clone, Copy, Default, Hash, Serialize, Deserialize)]
pub struct Add;

#[typetag::serde(name = "rask.add")]
impl Op for Add {
    fn name(&self) -> &str {
        "add"
    }
    fn call(&self, args: Args) -> Result<Value, OpError> {
        match args.as_slice() {
            [a, b] => add_numbers(a, b),
            other => Err(OpError::new(format!("add takes 2 arguments, got {}", other.len()))),
        }
    }
}

/// The sum of all arguments; list arguments are summed element by element. The sum of
/// nothing is the integer 0.
///
/// ```
/// use rask_graph::{args, ops::Sum, Op, Value};
/// let list = Value::List(vec![Value::I64(2), Value::I64(3)].into());
/// assert_eq!(Sum.call(args![Value::I64(1), list]).unwrap(), Value::I64(6));
/// assert_eq!(Sum.call(args![Value::I64(1), Value::F64(0.5)]).unwrap(), Value::F64(1.5));
/// ```
#[derive(Debug, Clone, Copy, Default, Hash, Serialize, Deserialize)]
pub struct Sum;

#[typetag::serde(name = "rask.sum")]
impl Op for Sum {
    fn name(&self) -> &str {
        "sum"
    }
    fn call(&self, args: Args) -> Result<Value, OpError> {
        let mut total = Value::I64(0);
        for arg in &args {
            total = sum_into(total, arg)?;
        }
        Ok(total)
    }
}

fn sum_into(total: Value, arg: &Value) -> Result<Value, OpError> {
    match arg {
        Value::List(items) => items.iter().try_fold(total, sum_into),
        x => add_numbers(&total, x),
    }
}

/// Adds two numeric values with numpy's promotion: i64 + i64 is a checked i64, anything
/// with a float is f64, booleans count as 0 or 1.
pub fn add_numbers(a: &Value, b: &Value) -> Result<Value, OpError> {
    match (a, b) {
        (Value::I64(x), Value::I64(y)) => x
            .checked_add(*y)
            .map(Value::I64)
            .ok_or_else(|| OpError::new(format!("integer overflow adding {x} and {y}"))),
        (Value::Bool(x), other) | (other, Value::Bool(x)) => add_numbers(&Value::I64(*x as i64), other),
        (Value::F64(x), Value::F64(y)) => Ok(Value::F64(x + y)),
        (Value::F64(x), Value::I64(y)) | (Value::I64(y), Value::F64(x)) => Ok(Value::F64(x + *y as f64)),
        (a, b) => Err(OpError::new(format!("cannot add {} and {}", a.type_name(), b.type_name()))),
    }
}

/// Packs its arguments into one list value (tuples and lists of delayed values).
#[derive(Debug, Clone, Copy, Default, Hash, Serialize, Deserialize)]
pub struct MakeList;

#[typetag::serde(name = "rask.list")]
impl Op for MakeList {
    fn name(&self) -> &str {
        "list"
    }
    fn is_cheap(&self) -> bool {
        true
    }
    fn call(&self, args: Args) -> Result<Value, OpError> {
        Ok(Value::List(args.into_iter().collect()))
    }
}

/// Element `index` of a list argument (negative counts from the end, as in Python).
#[derive(Debug, Clone, Copy, Default, Hash, Serialize, Deserialize)]
pub struct GetItem {
    /// The element's position.
    pub index: i64,
}

#[typetag::serde(name = "rask.getitem")]
impl Op for GetItem {
    fn name(&self) -> &str {
        "getitem"
    }
    fn is_cheap(&self) -> bool {
        true
    }
    fn call(&self, args: Args) -> Result<Value, OpError> {
        let list = match args.as_slice() {
            [Value::List(items)] => items,
            [other] => return Err(OpError::new(format!("getitem expects a list, got {}", other.type_name()))),
            other => return Err(OpError::new(format!("getitem takes 1 argument, got {}", other.len()))),
        };
        let len = list.len() as i64;
        let at = if self.index < 0 { self.index + len } else { self.index };
        if !(0..len).contains(&at) {
            return Err(OpError::new(format!("index {} out of range for a list of {len}", self.index)));
        }
        Ok(list[at as usize].clone())
    }
}

/// Where an argument of one step of a [`Fused`] program comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Source {
    /// Argument `i` of the fused task.
    Arg(u32),
    /// The output of an earlier step `i`.
    Step(u32),
}

/// One call of a [`Fused`] program.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FusedStep {
    /// The op to call.
    pub op: Arc<dyn Op>,
    /// Its arguments, in call order.
    pub args: Vec<Source>,
    /// The key of the task it was, named in its errors (the last step's is the fused
    /// task's own, which the scheduler names).
    #[serde(default)]
    pub key: Option<Key>,
}

/// Several tasks' ops run as one task: a small program of steps, each calling an op on
/// arguments of the fused task or outputs of earlier steps; the last step's output is the
/// task's. Each source is read once and moved, so a step may reuse an input in place.
/// Made by the fusion pass ([`crate::fuse`]) when no op knows a cheaper combination.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::ops::{Add, Fused, FusedStep, Inc, Source};
/// use rask_graph::{args, decode_op, encode_op, Op, Value};
/// // add(inc(a), b)
/// let fused = Fused {
///     steps: vec![
///         FusedStep { op: Arc::new(Inc), args: vec![Source::Arg(0)], key: None },
///         FusedStep { op: Arc::new(Add), args: vec![Source::Step(0), Source::Arg(1)], key: None },
///     ],
/// };
/// assert_eq!(fused.call(args![Value::I64(1), Value::I64(10)]).unwrap(), Value::I64(12));
/// let back = decode_op(&encode_op(&fused).unwrap()).unwrap();
/// assert_eq!(back.call(args![Value::I64(1), Value::I64(10)]).unwrap(), Value::I64(12));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fused {
    /// The calls, in order.
    pub steps: Vec<FusedStep>,
}

#[typetag::serde(name = "rask.fused")]
impl Op for Fused {
    fn name(&self) -> &str {
        self.steps.last().map_or("fused", |s| s.op.name())
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let mut inputs: SmallVec<[Option<Value>; 8]> = args.into_iter().map(Some).collect();
        let mut outputs: Vec<Option<Value>> = Vec::with_capacity(self.steps.len());
        for (i, step) in self.steps.iter().enumerate() {
            let mut step_args = Args::with_capacity(step.args.len());
            for source in &step.args {
                let slot = match *source {
                    Source::Arg(a) => inputs.get_mut(a as usize),
                    Source::Step(s) => outputs.get_mut(s as usize),
                };
                let value = slot.and_then(Option::take).ok_or_else(|| {
                    OpError::new(format!("fused: step {i} reads {source:?}, which does not exist or was read before"))
                })?;
                step_args.push(value);
            }
            let output = step.op.call(step_args).map_err(|e| match step.key {
                Some(key) if e.origin().is_none() => e.in_task(key, step.op.name()),
                _ => e,
            })?;
            outputs.push(Some(output));
        }
        outputs.pop().flatten().ok_or_else(|| OpError::new("fused: the program has no steps"))
    }

    fn is_portable(&self) -> bool {
        self.steps.iter().all(|s| s.op.is_portable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{decode_op, encode_op, op_token};
    use crate::{FnOp, args};

    fn builtins() -> Vec<Arc<dyn Op>> {
        vec![
            Arc::new(Identity),
            Arc::new(Inc),
            Arc::new(Add),
            Arc::new(Sum),
            Arc::new(MakeList),
            Arc::new(GetItem { index: -2 }),
        ]
    }

    /// Every built-in op decodes to an op that behaves the same on the same arguments.
    #[test]
    fn every_builtin_op_round_trips() {
        let inputs: Vec<Args> = vec![
            args![Value::I64(5)],
            args![Value::I64(2), Value::F64(0.25)],
            args![Value::List(vec![Value::I64(1), Value::I64(2), Value::I64(3)].into())],
            args![],
        ];
        for op in builtins() {
            let back = decode_op(&encode_op(op.as_ref()).unwrap()).unwrap();
            assert_eq!(back.name(), op.name());
            assert_eq!(op_token(back.as_ref()), op_token(op.as_ref()), "{op:?}");
            for args in &inputs {
                let (a, b) = (op.call(args.clone()), back.call(args.clone()));
                assert_eq!(a, b, "{op:?} on {args:?}");
            }
        }
    }

    #[test]
    fn ops_with_different_parameters_have_different_tokens() {
        assert_ne!(op_token(&GetItem { index: 1 }), op_token(&GetItem { index: 2 }));
        assert_eq!(op_token(&GetItem { index: 1 }), op_token(&GetItem { index: 1 }));
        assert_ne!(op_token(&Inc), op_token(&Add));
    }

    #[test]
    fn closure_ops_refuse_serialization_and_unknown_names_are_named() {
        let op = FnOp::new("mine", |_| Ok(Value::Unit));
        let err = encode_op(&op).unwrap_err();
        assert!(err.to_string().contains("mine"), "{err}");
        let bogus = rmp_serde::to_vec(&std::collections::BTreeMap::from([("no.such.op", ())])).unwrap();
        let err = decode_op(&bogus).unwrap_err();
        assert!(err.to_string().contains("no.such.op"), "{err}");
    }

    #[test]
    fn numeric_rules() {
        assert!(Add.call(args![Value::I64(i64::MAX), Value::I64(1)]).is_err());
        assert_eq!(Sum.call(args![]).unwrap(), Value::I64(0));
        assert_eq!(Add.call(args![Value::Bool(true), Value::I64(1)]).unwrap(), Value::I64(2));
        assert!(Add.call(args![Value::Str("a".into()), Value::I64(1)]).is_err());
        let list = Value::List(vec![Value::I64(1), Value::I64(2)].into());
        assert_eq!(GetItem { index: -1 }.call(args![list.clone()]).unwrap(), Value::I64(2));
        assert!(GetItem { index: 2 }.call(args![list]).is_err());
        assert!(Identity.call(args![]).is_err());
    }
}

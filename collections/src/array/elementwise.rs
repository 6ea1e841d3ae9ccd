//! Elementwise expressions over blocks: one registered op ([`Elementwise`]) evaluates a
//! small expression tree ([`Expr`]) on the blocks of its inputs, with numpy's
//! broadcasting between block shapes.
//!
//! The collection inserts every cast an expression needs when it builds it, so the
//! kernels only ever combine blocks of one type. A tree, rather than one op per function,
//! lets the optimizer fuse chains of elementwise layers by nesting their trees; inputs
//! used once are consumed, so a uniquely owned block is updated in place.

use std::any::Any;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Zip};
use rask_graph::{Args, ArrayChunk, DType, Element, Op, OpError, Value};
use serde::{Deserialize, Serialize};

use super::TransposeBlock;
use super::kernels::{Kernel, broadcast_shape, cast_chunk, map_same, zip_new, zip_same};
use super::raw::block_args;

/// A function of one block.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnaryFn {
    /// `-x` (numbers only).
    Neg,
    /// `|x|`.
    Abs,
    /// Square root (floats).
    Sqrt,
    /// `e^x` (floats).
    Exp,
    /// Natural logarithm (floats).
    Log,
    /// Sine (floats).
    Sin,
    /// Cosine (floats).
    Cos,
    /// Hyperbolic tangent (floats).
    Tanh,
    /// Whether each element is NaN (any type; `bool` result).
    IsNan,
    /// Logical not (`bool`).
    Not,
}

impl UnaryFn {
    /// The ufunc's numpy name.
    pub fn name(self) -> &'static str {
        match self {
            UnaryFn::Neg => "negative",
            UnaryFn::Abs => "absolute",
            UnaryFn::Sqrt => "sqrt",
            UnaryFn::Exp => "exp",
            UnaryFn::Log => "log",
            UnaryFn::Sin => "sin",
            UnaryFn::Cos => "cos",
            UnaryFn::Tanh => "tanh",
            UnaryFn::IsNan => "isnan",
            UnaryFn::Not => "logical_not",
        }
    }

    /// Whether it only takes floats (integers are cast to float64 first).
    pub(crate) fn wants_float(self) -> bool {
        matches!(self, UnaryFn::Sqrt | UnaryFn::Exp | UnaryFn::Log | UnaryFn::Sin | UnaryFn::Cos | UnaryFn::Tanh)
    }
}

/// A function of two blocks of one type.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinaryFn {
    /// `a + b` (`or` for bool).
    Add,
    /// `a - b`.
    Sub,
    /// `a * b` (`and` for bool).
    Mul,
    /// True division (floats).
    Div,
    /// Floor division (`//`).
    FloorDiv,
    /// Remainder with the divisor's sign (`%`).
    Rem,
    /// `a ** b`.
    Pow,
    /// The larger (NaN wins).
    Maximum,
    /// The smaller (NaN wins).
    Minimum,
    /// `a == b`.
    Equal,
    /// `a != b`.
    NotEqual,
    /// `a < b`.
    Less,
    /// `a <= b`.
    LessEqual,
    /// `a > b`.
    Greater,
    /// `a >= b`.
    GreaterEqual,
    /// Logical and (`bool`).
    And,
    /// Logical or (`bool`).
    Or,
    /// Logical exclusive or (`bool`).
    Xor,
}

impl BinaryFn {
    /// The ufunc's numpy name.
    pub fn name(self) -> &'static str {
        match self {
            BinaryFn::Add => "add",
            BinaryFn::Sub => "subtract",
            BinaryFn::Mul => "multiply",
            BinaryFn::Div => "true_divide",
            BinaryFn::FloorDiv => "floor_divide",
            BinaryFn::Rem => "remainder",
            BinaryFn::Pow => "power",
            BinaryFn::Maximum => "maximum",
            BinaryFn::Minimum => "minimum",
            BinaryFn::Equal => "equal",
            BinaryFn::NotEqual => "not_equal",
            BinaryFn::Less => "less",
            BinaryFn::LessEqual => "less_equal",
            BinaryFn::Greater => "greater",
            BinaryFn::GreaterEqual => "greater_equal",
            BinaryFn::And => "logical_and",
            BinaryFn::Or => "logical_or",
            BinaryFn::Xor => "logical_xor",
        }
    }

    /// Whether it returns `bool` whatever its operands' type.
    pub(crate) fn is_comparison(self) -> bool {
        use BinaryFn::*;
        matches!(self, Equal | NotEqual | Less | LessEqual | Greater | GreaterEqual)
    }

    /// Whether it is a logical function of `bool` operands.
    pub(crate) fn is_logical(self) -> bool {
        matches!(self, BinaryFn::And | BinaryFn::Or | BinaryFn::Xor)
    }
}

/// An elementwise expression over the op's input blocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    /// The block of input `i`.
    Input(u32),
    /// A 0-d block, broadcast against the rest.
    Scalar(ArrayChunk),
    /// A cast to another type.
    Cast(DType, Box<Expr>),
    /// A function of one operand.
    Unary(UnaryFn, Box<Expr>),
    /// A function of two operands of one type.
    Binary(BinaryFn, Box<Expr>, Box<Expr>),
    /// `where(condition, a, b)`: `a` where the `bool` condition holds, else `b`.
    Where(Box<Expr>, Box<Expr>, Box<Expr>),
    /// The operand with its axes permuted: axis `d` of the result is axis `axes[d]` of
    /// the operand (a transposed block, fused from [`super::TransposeBlock`]). A uniquely
    /// owned operand is permuted in place, by its strides, so `x + x.T` copies no block.
    Permute(Vec<usize>, Box<Expr>),
}

impl Expr {
    /// The result type, given the inputs' types, or why the expression is ill-typed.
    pub fn dtype(&self, inputs: &[DType]) -> Result<DType, String> {
        Ok(match self {
            Expr::Input(i) => {
                *inputs.get(*i as usize).ok_or_else(|| format!("input {i} of {} does not exist", inputs.len()))?
            }
            Expr::Scalar(s) => s.dtype(),
            Expr::Cast(to, e) => {
                e.dtype(inputs)?;
                *to
            }
            Expr::Unary(f, e) => {
                let t = e.dtype(inputs)?;
                match f {
                    UnaryFn::IsNan => DType::Bool,
                    UnaryFn::Not if t != DType::Bool => return Err(format!("logical_not needs bool, not {t}")),
                    UnaryFn::Neg if t == DType::Bool => {
                        return Err("negative of bool is not supported; use logical_not".into());
                    }
                    f if f.wants_float() && !t.is_float() => return Err(format!("{} needs floats, not {t}", f.name())),
                    _ => t,
                }
            }
            Expr::Binary(f, a, b) => {
                let (ta, tb) = (a.dtype(inputs)?, b.dtype(inputs)?);
                if ta != tb {
                    return Err(format!("{} of {ta} and {tb} needs a cast first", f.name()));
                }
                match f {
                    f if f.is_comparison() => DType::Bool,
                    f if f.is_logical() && ta != DType::Bool => {
                        return Err(format!("{} needs bool, not {ta}", f.name()));
                    }
                    BinaryFn::Div if !ta.is_float() => return Err(format!("true_divide needs floats, not {ta}")),
                    BinaryFn::Sub | BinaryFn::Pow | BinaryFn::FloorDiv | BinaryFn::Rem if ta == DType::Bool => {
                        return Err(format!("numpy does not support {} on bool; cast first", f.name()));
                    }
                    _ => ta,
                }
            }
            Expr::Permute(_, e) => e.dtype(inputs)?,
            Expr::Where(c, a, b) => {
                let (tc, ta, tb) = (c.dtype(inputs)?, a.dtype(inputs)?, b.dtype(inputs)?);
                if tc != DType::Bool || ta != tb {
                    return Err(format!(
                        "where needs a bool condition and two operands of one type, not {tc}, {ta}, {tb}"
                    ));
                }
                ta
            }
        })
    }

    /// Wraps the expression in a cast unless it already has type `to`.
    pub(crate) fn cast_to(self, from: DType, to: DType) -> Expr {
        if from == to { self } else { Expr::Cast(to, Box::new(self)) }
    }

    /// The expression with `Input(position)` replaced by `inner` (whose `width` inputs
    /// take that position's place) and later inputs renumbered; `None` if `inner` reads an
    /// input beyond its width.
    fn substitute(&self, position: u32, inner: &Expr, width: u32) -> Option<Expr> {
        let map = |e: &Expr| e.substitute(position, inner, width).map(Box::new);
        Some(match self {
            Expr::Input(i) if *i == position => inner.renumber(|j| (j < width).then(|| j + position))?,
            Expr::Input(i) if *i > position => Expr::Input((i - 1).checked_add(width)?),
            Expr::Input(i) => Expr::Input(*i),
            Expr::Scalar(s) => Expr::Scalar(s.clone()),
            Expr::Cast(t, e) => Expr::Cast(*t, map(e)?),
            Expr::Unary(f, e) => Expr::Unary(*f, map(e)?),
            Expr::Binary(f, a, b) => Expr::Binary(*f, map(a)?, map(b)?),
            Expr::Where(c, a, b) => Expr::Where(map(c)?, map(a)?, map(b)?),
            Expr::Permute(axes, e) => Expr::Permute(axes.clone(), map(e)?),
        })
    }

    /// The expression with each `Input(j)` replaced by `Input(f(j))`; `None` if `f` refuses.
    fn renumber(&self, f: impl Fn(u32) -> Option<u32> + Copy) -> Option<Expr> {
        let map = |e: &Expr| e.renumber(f).map(Box::new);
        Some(match self {
            Expr::Input(j) => Expr::Input(f(*j)?),
            Expr::Scalar(s) => Expr::Scalar(s.clone()),
            Expr::Cast(t, e) => Expr::Cast(*t, map(e)?),
            Expr::Unary(u, e) => Expr::Unary(*u, map(e)?),
            Expr::Binary(b, x, y) => Expr::Binary(*b, map(x)?, map(y)?),
            Expr::Where(c, a, b) => Expr::Where(map(c)?, map(a)?, map(b)?),
            Expr::Permute(axes, e) => Expr::Permute(axes.clone(), map(e)?),
        })
    }

    fn count_uses(&self, uses: &mut Vec<u32>) {
        match self {
            Expr::Input(i) => {
                let i = *i as usize;
                if uses.len() <= i {
                    uses.resize(i + 1, 0);
                }
                uses[i] += 1;
            }
            Expr::Scalar(_) => {}
            Expr::Cast(_, e) | Expr::Unary(_, e) | Expr::Permute(_, e) => e.count_uses(uses),
            Expr::Binary(_, a, b) => {
                a.count_uses(uses);
                b.count_uses(uses);
            }
            Expr::Where(c, a, b) => {
                c.count_uses(uses);
                a.count_uses(uses);
                b.count_uses(uses);
            }
        }
    }

    /// Evaluates the expression on `inputs`, consuming each input at its last use. The
    /// result is a C-order block.
    pub fn eval(&self, inputs: Vec<ArrayChunk>) -> Result<ArrayChunk, OpError> {
        let mut uses = Vec::new();
        self.count_uses(&mut uses);
        let mut slots: Vec<Option<ArrayChunk>> = inputs.into_iter().map(Some).collect();
        let out = self.eval_with(&mut slots, &mut uses)?;
        Ok(rask_graph::map_chunk!(out, a => standard_layout(a)))
    }

    fn eval_with(&self, inputs: &mut [Option<ArrayChunk>], uses: &mut [u32]) -> Result<ArrayChunk, OpError> {
        match self {
            Expr::Input(i) => {
                let i = *i as usize;
                let missing = || OpError::new(format!("elementwise: input {i} is missing"));
                let slot = inputs.get_mut(i).ok_or_else(missing)?;
                uses[i] -= 1;
                if uses[i] == 0 { slot.take() } else { slot.clone() }.ok_or_else(missing)
            }
            Expr::Scalar(s) => Ok(s.clone()),
            Expr::Cast(to, e) => Ok(cast_chunk(e.eval_with(inputs, uses)?, *to)),
            Expr::Unary(f, e) => unary(*f, e.eval_with(inputs, uses)?),
            Expr::Binary(f, a, b) => {
                let a = a.eval_with(inputs, uses)?;
                binary(*f, a, b.eval_with(inputs, uses)?)
            }
            Expr::Where(c, a, b) => {
                let c = c.eval_with(inputs, uses)?;
                let a = a.eval_with(inputs, uses)?;
                select(c, a, b.eval_with(inputs, uses)?)
            }
            Expr::Permute(axes, e) => permute(e.eval_with(inputs, uses)?, axes),
        }
    }
}

/// The block with its axes permuted: by strides alone when it is uniquely owned (the
/// result is then not in C order), else into a new C-order block.
fn permute(x: ArrayChunk, axes: &[usize]) -> Result<ArrayChunk, OpError> {
    let ndim = x.shape().len();
    let mut seen = vec![false; ndim];
    if axes.len() != ndim || !axes.iter().all(|&a| a < ndim && !std::mem::replace(&mut seen[a], true)) {
        return Err(OpError::new(format!(
            "transpose: axes {axes:?} are not a permutation of the axes of a block of shape {:?}",
            x.shape()
        )));
    }
    fn typed<T: Element>(a: Arc<ArrayD<T>>, axes: &[usize]) -> Arc<ArrayD<T>> {
        Arc::new(match Arc::try_unwrap(a) {
            Ok(owned) => owned.permuted_axes(axes),
            Err(shared) => shared.view().permuted_axes(axes).as_standard_layout().into_owned(),
        })
    }
    Ok(rask_graph::map_chunk!(x, a => typed(a, axes)))
}

/// The block in C order, copied only if it is not already.
fn standard_layout<T: Element>(a: Arc<ArrayD<T>>) -> Arc<ArrayD<T>> {
    if a.is_standard_layout() { a } else { Arc::new(a.as_standard_layout().into_owned()) }
}

fn unary(f: UnaryFn, x: ArrayChunk) -> Result<ArrayChunk, OpError> {
    fn float<T: Kernel + num_float::Float>(f: UnaryFn, a: Arc<ArrayD<T>>) -> Arc<ArrayD<T>> {
        match f {
            UnaryFn::Sqrt => map_same(a, T::sqrt),
            UnaryFn::Exp => map_same(a, T::exp),
            UnaryFn::Log => map_same(a, T::ln),
            UnaryFn::Sin => map_same(a, T::sin),
            UnaryFn::Cos => map_same(a, T::cos),
            _ => map_same(a, T::tanh),
        }
    }
    Ok(match (f, x) {
        (UnaryFn::IsNan, x) => ArrayChunk::Bool(Arc::new(rask_graph::each_chunk!(&x, a => a.mapv(Kernel::is_nan)))),
        (UnaryFn::Not, ArrayChunk::Bool(a)) => ArrayChunk::Bool(map_same(a, |v| !v)),
        (UnaryFn::Neg | UnaryFn::Abs, ArrayChunk::Bool(_)) | (UnaryFn::Not, _) => {
            return Err(OpError::new(format!("{} is not defined for this dtype", f.name())));
        }
        (UnaryFn::Neg, x) => rask_graph::map_chunk!(x, a => map_same(a, Kernel::neg)),
        (UnaryFn::Abs, x) => rask_graph::map_chunk!(x, a => map_same(a, Kernel::abs)),
        (f, ArrayChunk::F64(a)) => ArrayChunk::F64(float(f, a)),
        (f, ArrayChunk::F32(a)) => ArrayChunk::F32(float(f, a)),
        (f, x) => return Err(OpError::new(format!("{} needs floats, got {}", f.name(), x.dtype()))),
    })
}

fn binary(f: BinaryFn, a: ArrayChunk, b: ArrayChunk) -> Result<ArrayChunk, OpError> {
    use ArrayChunk as C;
    match (a, b) {
        (C::Bool(a), C::Bool(b)) => typed_binary(f, a, b),
        (C::I32(a), C::I32(b)) => typed_binary(f, a, b),
        (C::I64(a), C::I64(b)) => typed_binary(f, a, b),
        (C::F32(a), C::F32(b)) => typed_binary(f, a, b),
        (C::F64(a), C::F64(b)) => typed_binary(f, a, b),
        (a, b) => {
            Err(OpError::new(format!("{} of {} and {} blocks needs a cast first", f.name(), a.dtype(), b.dtype())))
        }
    }
}

fn typed_binary<T: Kernel>(f: BinaryFn, a: Arc<ArrayD<T>>, b: Arc<ArrayD<T>>) -> Result<ArrayChunk, OpError> {
    use BinaryFn::*;
    let defined = match f {
        Div => T::DTYPE.is_float(),
        And | Or | Xor => T::DTYPE == DType::Bool,
        Sub | Pow | FloorDiv | Rem => T::DTYPE != DType::Bool,
        _ => true,
    };
    if !defined {
        return Err(OpError::new(format!("{} is not defined for {} blocks", f.name(), T::DTYPE)));
    }
    if f == Pow && !T::DTYPE.is_float() && b.iter().any(|&e| e < T::default()) {
        return Err(OpError::new("integers to negative integer powers are not allowed"));
    }
    let compare = |cmp: fn(&T, &T) -> bool| -> Result<ArrayChunk, OpError> {
        let shape = broadcast_shape(a.shape(), b.shape()).map_err(OpError::new)?;
        Ok(ArrayChunk::Bool(zip_new(&a, &b, &shape, |x, y| cmp(&x, &y))?))
    };
    // One `zip_same` per function, so each loop calls its kernel inline (and vectorizes)
    // instead of through a function pointer per element.
    match f {
        Equal => compare(T::eq),
        NotEqual => compare(T::ne),
        Less => compare(T::lt),
        LessEqual => compare(T::le),
        Greater => compare(T::gt),
        GreaterEqual => compare(T::ge),
        Add | Or => zip_same(a, b, T::add).map(T::wrap),
        Sub | Xor => zip_same(a, b, T::sub).map(T::wrap),
        Mul | And => zip_same(a, b, T::mul).map(T::wrap),
        Div => zip_same(a, b, T::div).map(T::wrap),
        FloorDiv => zip_same(a, b, T::floor_div).map(T::wrap),
        Rem => zip_same(a, b, T::rem).map(T::wrap),
        Pow => zip_same(a, b, |x, y| T::pow(x, y).unwrap_or_default()).map(T::wrap),
        Maximum => zip_same(a, b, T::maximum).map(T::wrap),
        Minimum => zip_same(a, b, T::minimum).map(T::wrap),
    }
}

fn select(c: ArrayChunk, a: ArrayChunk, b: ArrayChunk) -> Result<ArrayChunk, OpError> {
    fn typed<T: Element>(c: &ArrayD<bool>, a: &ArrayD<T>, b: &ArrayD<T>) -> Result<Arc<ArrayD<T>>, OpError> {
        let shape = broadcast_shape(&broadcast_shape(c.shape(), a.shape()).map_err(OpError::new)?, b.shape())
            .map_err(OpError::new)?;
        let view = |s: &[usize]| OpError::new(format!("where: shape {s:?} does not broadcast to {shape:?}"));
        let (cv, av, bv) = (
            c.broadcast(IxDyn(&shape)).ok_or_else(|| view(c.shape()))?,
            a.broadcast(IxDyn(&shape)).ok_or_else(|| view(a.shape()))?,
            b.broadcast(IxDyn(&shape)).ok_or_else(|| view(b.shape()))?,
        );
        Ok(Arc::new(Zip::from(&cv).and(&av).and(&bv).map_collect(|&c, &x, &y| if c { x } else { y })))
    }
    use ArrayChunk as C;
    let C::Bool(c) = c else {
        return Err(OpError::new(format!("where needs a bool condition, got {}", c.dtype())));
    };
    Ok(match (a, b) {
        (C::Bool(a), C::Bool(b)) => C::Bool(typed(&c, &a, &b)?),
        (C::I32(a), C::I32(b)) => C::I32(typed(&c, &a, &b)?),
        (C::I64(a), C::I64(b)) => C::I64(typed(&c, &a, &b)?),
        (C::F32(a), C::F32(b)) => C::F32(typed(&c, &a, &b)?),
        (C::F64(a), C::F64(b)) => C::F64(typed(&c, &a, &b)?),
        (a, b) => {
            return Err(OpError::new(format!("where of {} and {} blocks needs a cast first", a.dtype(), b.dtype())));
        }
    })
}

/// Evaluates an [`Expr`] on its input blocks: the op behind every elementwise array
/// operation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Elementwise {
    /// The function's name, for errors and pictures.
    pub name: String,
    /// What to compute.
    pub expr: Expr,
}

#[typetag::serde(name = "rask.array.elementwise")]
impl Op for Elementwise {
    fn name(&self) -> &str {
        &self.name
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let blocks = block_args(&self.name, args)?;
        self.expr.eval(blocks).map(Value::Array)
    }

    /// Another elementwise op whose output this one reads once at `position` nests into
    /// one flat expression: its inputs take that position's place, so a chain of
    /// elementwise layers runs as one task with no intermediate blocks. A transposed block
    /// ([`super::TransposeBlock`]) nests as [`Expr::Permute`]: `x + x.T` reads the
    /// transposed operand by its strides instead of copying it first.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rask_collections::array::{BinaryFn, Elementwise, Expr, UnaryFn};
    /// use rask_graph::{args, ArrayChunk, Op, Value};
    /// let plus = Elementwise { name: "add".into(), expr: Expr::Binary(BinaryFn::Add, Box::new(Expr::Input(0)), Box::new(Expr::Input(1))) };
    /// let sqrt = Elementwise { name: "sqrt".into(), expr: Expr::Unary(UnaryFn::Sqrt, Box::new(Expr::Input(0))) };
    /// let fused = sqrt.fuse_with(0, &plus, 2).unwrap();
    /// let block = |x: f64| Value::Array(ArrayChunk::F64(Arc::new(ndarray::arr1(&[x]).into_dyn())));
    /// assert_eq!(fused.call(args![block(7.0), block(2.0)]).unwrap(), block(3.0));
    /// ```
    fn fuse_with(&self, position: usize, producer: &dyn Op, producer_args: usize) -> Option<Arc<dyn Op>> {
        let producer: &dyn Any = producer;
        let transposed;
        let inner = match producer.downcast_ref::<Elementwise>() {
            Some(inner) => inner,
            None => {
                let TransposeBlock { axes } = producer.downcast_ref::<TransposeBlock>()?;
                let expr = Expr::Permute(axes.clone(), Box::new(Expr::Input(0)));
                transposed = Elementwise { name: "transpose".into(), expr };
                &transposed
            }
        };
        let (position, width) = (u32::try_from(position).ok()?, u32::try_from(producer_args).ok()?);
        let mut uses = Vec::new();
        self.expr.count_uses(&mut uses);
        // Used twice, the producer's expression would be computed twice.
        if uses.get(position as usize) != Some(&1) {
            return None;
        }
        let expr = self.expr.substitute(position, &inner.expr, width)?;
        Some(Arc::new(Elementwise { name: self.name.clone(), expr }))
    }
}

/// The float math functions the unary kernels call.
mod num_float {
    pub(crate) trait Float: Copy {
        fn sqrt(self) -> Self;
        fn exp(self) -> Self;
        fn ln(self) -> Self;
        fn sin(self) -> Self;
        fn cos(self) -> Self;
        fn tanh(self) -> Self;
    }
    macro_rules! float {
        ($t:ty) => {
            impl Float for $t {
                fn sqrt(self) -> Self {
                    <$t>::sqrt(self)
                }
                fn exp(self) -> Self {
                    <$t>::exp(self)
                }
                fn ln(self) -> Self {
                    <$t>::ln(self)
                }
                fn sin(self) -> Self {
                    <$t>::sin(self)
                }
                fn cos(self) -> Self {
                    <$t>::cos(self)
                }
                fn tanh(self) -> Self {
                    <$t>::tanh(self)
                }
            }
        };
    }
    float!(f32);
    float!(f64);
}

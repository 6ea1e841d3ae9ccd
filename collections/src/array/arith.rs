//! Elementwise arithmetic, comparisons and math functions on arrays, with numpy 2's type
//! promotion (NEP 50) worked out at compile time.
//!
//! - Two arrays promote to the larger kind (bool < integer < float) and the wider type
//!   ([`Promote`]): `int32` with `float32` gives `float64`.
//! - A Rust scalar is *weak*, as a Python scalar is in numpy 2: it takes the array's type
//!   unless it is of a higher kind (`f32 array * 2.5` is `f32`; `i32 array + 0.5` is
//!   `f64`). A 0-d array is an array, not a weak scalar.
//! - True division of integers gives `float64`; `floor_div` and `%` round toward minus
//!   infinity; integer division by zero gives 0, float division by zero inf or NaN.
//!
//! Operators (`+ - * / %`, unary `-`, and `& | ^ !` on `bool` arrays) cannot return a
//! `Result`: when the operands do not fit, the resulting array carries the error
//! ([`Array::error`]) and the next fallible call or `compute()` returns it. The `try_*`
//! methods and the named functions return the error at once.
//!
//! ```
//! use rask_collections::array::{from_ndarray, Array};
//! let x = from_ndarray(&ndarray::array![[1i32, 2], [3, 4]], [1, 2]).unwrap();
//! let y = from_ndarray(&ndarray::array![0.5f32, 2.0], [2]).unwrap();
//! let z: Array<f64> = &x * &y + 1;        // int32 with float32 arrays: float64
//! assert_eq!(z.compute().unwrap(), ndarray::array![[1.5, 5.0], [2.5, 9.0]].into_dyn());
//! let half: Array<f32> = &y * 0.5;        // a scalar keeps the array's type
//! let q: Array<f64> = &x / 2;             // int / int is float64
//! assert_eq!(q.compute().unwrap()[[0, 0]], 0.5);
//! assert!(x.try_add(&from_ndarray(&ndarray::array![1i32, 2, 3], [3]).unwrap()).is_err());
//! ```

use std::ops;

use rask_graph::{ArrayChunk, DType, Element};

use super::Array;
use super::blockwise::elementwise;
use super::elementwise::{BinaryFn, Expr, UnaryFn};
use super::kernels::{cast_chunk, scalar_chunk};
use super::raw::RawArray;
use crate::error::{Error, Result};

/// The type arrays of `Self` and `U` promote to (numpy's `result_type`).
pub trait Promote<U: Element>: Element {
    /// The common type.
    type Output: Element;
}

macro_rules! promote {
    ($($a:ty, $b:ty => $out:ty;)*) => {$(impl Promote<$b> for $a { type Output = $out; })*};
}
promote! {
    bool, bool => bool; bool, i32 => i32; bool, i64 => i64; bool, f32 => f32; bool, f64 => f64;
    i32, bool => i32; i32, i32 => i32; i32, i64 => i64; i32, f32 => f64; i32, f64 => f64;
    i64, bool => i64; i64, i32 => i64; i64, i64 => i64; i64, f32 => f64; i64, f64 => f64;
    f32, bool => f32; f32, i32 => f64; f32, i64 => f64; f32, f32 => f32; f32, f64 => f64;
    f64, bool => f64; f64, i32 => f64; f64, i64 => f64; f64, f32 => f64; f64, f64 => f64;
}

/// The type an array of `Self` takes with a weak Rust scalar of type `S` (NEP 50).
///
/// Scalars are `bool`, `i64` and `f64`, the types of Python's scalars: being weak, they
/// take the array's type anyway, and one type per kind lets an unsuffixed literal
/// (`&x * 2`, `1.0 - &x`) infer its type.
pub trait WithScalar<S>: Element {
    /// The common type.
    type Output: Element;
}

macro_rules! with_scalar {
    ($($a:ty, $s:ty => $out:ty;)*) => {$(impl WithScalar<$s> for $a { type Output = $out; })*};
}
with_scalar! {
    bool, bool => bool; bool, i64 => i64; bool, f64 => f64;
    i32, bool => i32; i32, i64 => i32; i32, f64 => f64;
    i64, bool => i64; i64, i64 => i64; i64, f64 => f64;
    f32, bool => f32; f32, i64 => f32; f32, f64 => f32;
    f64, bool => f64; f64, i64 => f64; f64, f64 => f64;
}

/// The right-hand side of an elementwise operation with an array of `T`: another array
/// (by value or reference) or a Rust scalar.
pub trait Operand<T: Element> {
    /// The type both sides are computed in.
    type Common: Element;
    /// The operand's blocks or value (opaque).
    fn into_operand(self) -> Result<OperandValue>;
}

/// What an [`Operand`] contributes to an expression (opaque).
#[derive(Debug)]
pub struct OperandValue(Side);

#[derive(Debug)]
enum Side {
    Array(RawArray),
    Scalar(ArrayChunk),
}

impl<T: Element + Promote<U>, U: Element> Operand<T> for &Array<U> {
    type Common = <T as Promote<U>>::Output;
    fn into_operand(self) -> Result<OperandValue> {
        Ok(OperandValue(Side::Array(self.raw_allowing_unknown()?.clone())))
    }
}

impl<T: Element + Promote<U>, U: Element> Operand<T> for Array<U> {
    type Common = <T as Promote<U>>::Output;
    fn into_operand(self) -> Result<OperandValue> {
        <&Array<U> as Operand<T>>::into_operand(&self)
    }
}

macro_rules! scalar_operand {
    ($($s:ty),*) => {$(
        impl<T: Element + WithScalar<$s>> Operand<T> for $s {
            type Common = <T as WithScalar<$s>>::Output;
            fn into_operand(self) -> Result<OperandValue> {
                Ok(OperandValue(Side::Scalar(scalar_chunk(self))))
            }
        }
    )*};
}
scalar_operand!(bool, i64, f64);

/// `f(lhs, rhs)` (or `f(rhs, lhs)` when `reversed`) computed in `compute`, checked to
/// give blocks of `O`.
fn binary<O: Element>(
    lhs: &RawArray,
    rhs: OperandValue,
    f: BinaryFn,
    compute: DType,
    reversed: bool,
) -> Result<Array<O>> {
    let mut inputs = vec![lhs.clone()];
    let left = Expr::Input(0).cast_to(lhs.dtype, compute);
    let right = match rhs.0 {
        Side::Array(raw) => {
            let e = Expr::Input(1).cast_to(raw.dtype, compute);
            inputs.push(raw);
            e
        }
        Side::Scalar(s) => Expr::Scalar(cast_chunk(s, compute)),
    };
    let (a, b) = if reversed { (right, left) } else { (left, right) };
    typed(elementwise(f.name(), Expr::Binary(f, Box::new(a), Box::new(b)), &inputs)?)
}

/// The array of `raw`, checked to hold `O`.
fn typed<O: Element>(raw: RawArray) -> Result<Array<O>> {
    if raw.dtype != O::DTYPE {
        return Err(Error::DType(format!("expected {} blocks, the expression gives {}", O::DTYPE, raw.dtype)));
    }
    Ok(Array::from_raw(raw))
}

fn unary<O: Element>(x: &RawArray, f: UnaryFn, input: DType) -> Result<Array<O>> {
    let expr = Expr::Unary(f, Box::new(Expr::Input(0).cast_to(x.dtype, input)));
    typed(elementwise(f.name(), expr, std::slice::from_ref(x))?)
}

macro_rules! same_type_methods {
    ($($(#[$doc:meta])* $name:ident => $f:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name<R: Operand<T>>(&self, rhs: R) -> Result<Array<R::Common>> {
            binary(self.raw_allowing_unknown()?, rhs.into_operand()?, BinaryFn::$f, <R::Common as Element>::DTYPE, false)
        }
    )*};
}

macro_rules! bool_methods {
    ($($(#[$doc:meta])* $name:ident => $f:ident, $compute:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name<R: Operand<T>>(&self, rhs: R) -> Result<Array<bool>> {
            let compute: fn(DType) -> DType = $compute;
            binary(self.raw_allowing_unknown()?, rhs.into_operand()?, BinaryFn::$f, compute(<R::Common as Element>::DTYPE), false)
        }
    )*};
}

macro_rules! float_methods {
    ($($(#[$doc:meta])* $name:ident => $f:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(&self) -> Result<Array<T::Float>> {
            unary(self.raw_allowing_unknown()?, UnaryFn::$f, T::DTYPE.float())
        }
    )*};
}

impl<T: Element> Array<T> {
    same_type_methods! {
        /// `self + rhs` (logical or for two `bool` arrays), or an error naming the shapes
        /// that do not broadcast.
        try_add => Add;
        /// `self - rhs`; not defined for two `bool` operands (as in numpy).
        try_sub => Sub;
        /// `self * rhs` (logical and for two `bool` arrays).
        try_mul => Mul;
        /// numpy's `%`: the remainder with the divisor's sign.
        try_rem => Rem;
        /// numpy's `//`: division rounding toward minus infinity (`-7 // 2 == -4`).
        floor_div => FloorDiv;
        /// `self ** rhs`; negative integer powers of integers fail when computed.
        pow => Pow;
        /// The larger of each pair; NaN if either is NaN.
        maximum => Maximum;
        /// The smaller of each pair; NaN if either is NaN.
        minimum => Minimum;
    }

    bool_methods! {
        /// `self == rhs`, elementwise.
        equal => Equal, |t| t;
        /// `self != rhs`, elementwise.
        not_equal => NotEqual, |t| t;
        /// `self < rhs`, elementwise.
        less => Less, |t| t;
        /// `self <= rhs`, elementwise.
        less_equal => LessEqual, |t| t;
        /// `self > rhs`, elementwise.
        greater => Greater, |t| t;
        /// `self >= rhs`, elementwise.
        greater_equal => GreaterEqual, |t| t;
        /// Logical and of the operands' truth values.
        logical_and => And, |_| DType::Bool;
        /// Logical or of the operands' truth values.
        logical_or => Or, |_| DType::Bool;
        /// Logical exclusive or of the operands' truth values.
        logical_xor => Xor, |_| DType::Bool;
    }

    float_methods! {
        /// The square root (integers give float64).
        sqrt => Sqrt;
        /// `e` to the power of each element.
        exp => Exp;
        /// The natural logarithm.
        log => Log;
        /// The sine.
        sin => Sin;
        /// The cosine.
        cos => Cos;
        /// The hyperbolic tangent.
        tanh => Tanh;
    }

    /// True division: integers give float64, floats keep their type.
    pub fn try_div<R: Operand<T>>(&self, rhs: R) -> Result<Array<<R::Common as Element>::Float>> {
        let compute = <R::Common as Element>::DTYPE.float();
        binary(self.raw_allowing_unknown()?, rhs.into_operand()?, BinaryFn::Div, compute, false)
    }

    /// `-self`; an error for `bool` arrays (use [`logical_not`](Self::logical_not)).
    pub fn try_neg(&self) -> Result<Array<T>> {
        unary(self.raw_allowing_unknown()?, UnaryFn::Neg, T::DTYPE)
    }

    /// The absolute value.
    pub fn abs(&self) -> Result<Array<T>> {
        let raw = self.raw_allowing_unknown()?;
        if T::DTYPE == DType::Bool {
            return Ok(self.clone());
        }
        unary(raw, UnaryFn::Abs, T::DTYPE)
    }

    /// Whether each element is NaN (never, for integers and `bool`).
    pub fn isnan(&self) -> Result<Array<bool>> {
        unary(self.raw_allowing_unknown()?, UnaryFn::IsNan, T::DTYPE)
    }

    /// The logical not of each element's truth value.
    pub fn logical_not(&self) -> Result<Array<bool>> {
        unary(self.raw_allowing_unknown()?, UnaryFn::Not, DType::Bool)
    }

    /// Each element limited to `[min, max]` (NaN stays NaN).
    ///
    /// ```
    /// use rask_collections::array::from_ndarray;
    /// let x = from_ndarray(&ndarray::array![-2.0, 0.5, 3.0], [2]).unwrap();
    /// assert_eq!(x.clip(0.0, 1.0).unwrap().compute().unwrap(), ndarray::array![0.0, 0.5, 1.0].into_dyn());
    /// ```
    pub fn clip(&self, min: T, max: T) -> Result<Array<T>> {
        let raw = self.raw_allowing_unknown()?;
        let bound = |f, e, v| Expr::Binary(f, Box::new(e), Box::new(Expr::Scalar(scalar_chunk(v))));
        let expr = bound(BinaryFn::Maximum, bound(BinaryFn::Minimum, Expr::Input(0), max), min);
        typed(elementwise("clip", expr, std::slice::from_ref(raw))?)
    }

    /// The array converted to `U` with numpy's casting rules: floats truncate toward
    /// zero, integers wrap, anything non-zero (NaN included) is `true`.
    pub fn astype<U: Element>(&self) -> Result<Array<U>> {
        let raw = self.raw_allowing_unknown()?;
        if T::DTYPE == U::DTYPE {
            return typed(raw.clone());
        }
        typed(elementwise("astype", Expr::Input(0).cast_to(T::DTYPE, U::DTYPE), std::slice::from_ref(raw))?)
    }
}

/// `a` where `condition` holds, else `b` (numpy's `where`), broadcasting all three.
///
/// ```
/// use rask_collections::array::{from_ndarray, where_};
/// let x = from_ndarray(&ndarray::array![1.0, -2.0, 3.0], [2]).unwrap();
/// let positive = x.greater(0.0).unwrap();
/// let y = where_(&positive, &x, 0.0).unwrap();
/// assert_eq!(y.compute().unwrap(), ndarray::array![1.0, 0.0, 3.0].into_dyn());
/// ```
pub fn where_<T: Element, R: Operand<T>>(condition: &Array<bool>, a: &Array<T>, b: R) -> Result<Array<R::Common>> {
    let compute = <R::Common as Element>::DTYPE;
    let (c, a) = (condition.raw_allowing_unknown()?, a.raw_allowing_unknown()?);
    let mut inputs = vec![c.clone(), a.clone()];
    let then = Expr::Input(1).cast_to(a.dtype, compute);
    let otherwise = match b.into_operand()?.0 {
        Side::Array(raw) => {
            let e = Expr::Input(2).cast_to(raw.dtype, compute);
            inputs.push(raw);
            e
        }
        Side::Scalar(s) => Expr::Scalar(cast_chunk(s, compute)),
    };
    typed(elementwise("where", Expr::Where(Box::new(Expr::Input(0)), Box::new(then), Box::new(otherwise)), &inputs)?)
}

macro_rules! operator {
    ($trait:ident, $method:ident, $try:ident, $out:ty) => {
        impl<T: Element, R: Operand<T>> ops::$trait<R> for &Array<T> {
            type Output = Array<$out>;
            fn $method(self, rhs: R) -> Self::Output {
                self.$try(rhs).unwrap_or_else(Array::broken)
            }
        }
        impl<T: Element, R: Operand<T>> ops::$trait<R> for Array<T> {
            type Output = Array<$out>;
            fn $method(self, rhs: R) -> Self::Output {
                self.$try(rhs).unwrap_or_else(Array::broken)
            }
        }
    };
}
operator!(Add, add, try_add, R::Common);
operator!(Sub, sub, try_sub, R::Common);
operator!(Mul, mul, try_mul, R::Common);
operator!(Rem, rem, try_rem, R::Common);
operator!(Div, div, try_div, <R::Common as Element>::Float);

macro_rules! bool_operator {
    ($trait:ident, $method:ident, $named:ident) => {
        impl<R: Operand<bool>> ops::$trait<R> for &Array<bool> {
            type Output = Array<bool>;
            fn $method(self, rhs: R) -> Self::Output {
                self.$named(rhs).unwrap_or_else(Array::broken)
            }
        }
        impl<R: Operand<bool>> ops::$trait<R> for Array<bool> {
            type Output = Array<bool>;
            fn $method(self, rhs: R) -> Self::Output {
                self.$named(rhs).unwrap_or_else(Array::broken)
            }
        }
    };
}
bool_operator!(BitAnd, bitand, logical_and);
bool_operator!(BitOr, bitor, logical_or);
bool_operator!(BitXor, bitxor, logical_xor);

impl<T: Element> ops::Neg for &Array<T> {
    type Output = Array<T>;
    fn neg(self) -> Array<T> {
        self.try_neg().unwrap_or_else(Array::broken)
    }
}

impl<T: Element> ops::Neg for Array<T> {
    type Output = Array<T>;
    fn neg(self) -> Array<T> {
        -&self
    }
}

impl ops::Not for &Array<bool> {
    type Output = Array<bool>;
    fn not(self) -> Array<bool> {
        self.logical_not().unwrap_or_else(Array::broken)
    }
}

impl ops::Not for Array<bool> {
    type Output = Array<bool>;
    fn not(self) -> Array<bool> {
        !&self
    }
}

/// `scalar op array`: the scalar on the left.
fn reversed<T: Element, S: Operand<T>, O: Element>(
    scalar: S,
    array: &Array<T>,
    f: BinaryFn,
    compute: DType,
) -> Array<O> {
    let build = || binary(array.raw_allowing_unknown()?, scalar.into_operand()?, f, compute, true);
    build().unwrap_or_else(Array::broken)
}

macro_rules! scalar_left {
    ($($s:ty),*) => {$(
        impl<T: Element> ops::Add<&Array<T>> for $s where $s: Operand<T> {
            type Output = Array<<$s as Operand<T>>::Common>;
            fn add(self, rhs: &Array<T>) -> Self::Output {
                reversed(self, rhs, BinaryFn::Add, <Self::Output as HasDType>::DTYPE)
            }
        }
        impl<T: Element> ops::Sub<&Array<T>> for $s where $s: Operand<T> {
            type Output = Array<<$s as Operand<T>>::Common>;
            fn sub(self, rhs: &Array<T>) -> Self::Output {
                reversed(self, rhs, BinaryFn::Sub, <Self::Output as HasDType>::DTYPE)
            }
        }
        impl<T: Element> ops::Mul<&Array<T>> for $s where $s: Operand<T> {
            type Output = Array<<$s as Operand<T>>::Common>;
            fn mul(self, rhs: &Array<T>) -> Self::Output {
                reversed(self, rhs, BinaryFn::Mul, <Self::Output as HasDType>::DTYPE)
            }
        }
        impl<T: Element> ops::Rem<&Array<T>> for $s where $s: Operand<T> {
            type Output = Array<<$s as Operand<T>>::Common>;
            fn rem(self, rhs: &Array<T>) -> Self::Output {
                reversed(self, rhs, BinaryFn::Rem, <Self::Output as HasDType>::DTYPE)
            }
        }
        impl<T: Element> ops::Div<&Array<T>> for $s where $s: Operand<T> {
            type Output = Array<<<$s as Operand<T>>::Common as Element>::Float>;
            fn div(self, rhs: &Array<T>) -> Self::Output {
                reversed(self, rhs, BinaryFn::Div, <Self::Output as HasDType>::DTYPE)
            }
        }
    )*};
}
scalar_left!(i64, f64);

/// The element type of an array type, for the operator impls above.
trait HasDType {
    const DTYPE: DType;
}

impl<T: Element> HasDType for Array<T> {
    const DTYPE: DType = T::DTYPE;
}

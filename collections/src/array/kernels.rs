//! Element kernels: numpy's arithmetic, comparison and cast rules for each element type,
//! and the block-level maps that apply them (in place when a block is uniquely owned).
//!
//! Everything here is total: integer division by zero gives 0 (numpy's result), integer
//! overflow wraps (numpy's), and a request a dtype cannot serve is an [`OpError`], never a
//! panic, because ops may arrive deserialized from another process.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Zip};
use rask_graph::{ArrayChunk, DType, Element, OpError};

/// numpy's element rules for one element type.
pub(crate) trait Kernel: Element {
    fn add(self, b: Self) -> Self;
    fn sub(self, b: Self) -> Self;
    fn mul(self, b: Self) -> Self;
    /// True division (only called on floats; integers are cast to float64 first).
    fn div(self, b: Self) -> Self;
    /// Floor division, rounding toward minus infinity.
    fn floor_div(self, b: Self) -> Self;
    /// The remainder with the sign of the divisor.
    fn rem(self, b: Self) -> Self;
    fn pow(self, b: Self) -> Result<Self, OpError>;
    /// The larger, NaN if either is NaN.
    fn maximum(self, b: Self) -> Self;
    /// The smaller, NaN if either is NaN.
    fn minimum(self, b: Self) -> Self;
    fn neg(self) -> Self;
    fn abs(self) -> Self;
    fn is_nan(self) -> bool;
    fn from_f64(x: f64) -> Self;
    fn from_i64(x: i64) -> Self;
    fn from_bool(x: bool) -> Self;
    /// numpy's cast of this element to `U`: floats truncate toward zero, anything
    /// non-zero (NaN included) is `true`.
    fn cast<U: Kernel>(self) -> U;
}

macro_rules! int_kernel {
    ($t:ty) => {
        impl Kernel for $t {
            fn add(self, b: Self) -> Self {
                self.wrapping_add(b)
            }
            fn sub(self, b: Self) -> Self {
                self.wrapping_sub(b)
            }
            fn mul(self, b: Self) -> Self {
                self.wrapping_mul(b)
            }
            fn div(self, b: Self) -> Self {
                self.floor_div(b)
            }
            fn floor_div(self, b: Self) -> Self {
                if b == 0 {
                    return 0;
                }
                let q = self.wrapping_div(b);
                if (self.wrapping_rem(b) != 0) && ((self < 0) != (b < 0)) { q - 1 } else { q }
            }
            fn rem(self, b: Self) -> Self {
                if b == 0 {
                    return 0;
                }
                let r = self.wrapping_rem(b);
                if r != 0 && ((r < 0) != (b < 0)) { r + b } else { r }
            }
            fn pow(self, b: Self) -> Result<Self, OpError> {
                if b < 0 {
                    return Err(OpError::new("integers to negative integer powers are not allowed"));
                }
                Ok(self.wrapping_pow(u32::try_from(b).unwrap_or(u32::MAX)))
            }
            fn maximum(self, b: Self) -> Self {
                Ord::max(self, b)
            }
            fn minimum(self, b: Self) -> Self {
                Ord::min(self, b)
            }
            fn neg(self) -> Self {
                self.wrapping_neg()
            }
            fn abs(self) -> Self {
                self.wrapping_abs()
            }
            fn is_nan(self) -> bool {
                false
            }
            fn from_f64(x: f64) -> Self {
                x as i64 as $t
            }
            fn from_i64(x: i64) -> Self {
                x as $t
            }
            fn from_bool(x: bool) -> Self {
                x as $t
            }
            fn cast<U: Kernel>(self) -> U {
                U::from_i64(self as i64)
            }
        }
    };
}
int_kernel!(i32);
int_kernel!(i64);

macro_rules! float_kernel {
    ($t:ty) => {
        impl Kernel for $t {
            fn add(self, b: Self) -> Self {
                self + b
            }
            fn sub(self, b: Self) -> Self {
                self - b
            }
            fn mul(self, b: Self) -> Self {
                self * b
            }
            fn div(self, b: Self) -> Self {
                self / b
            }
            fn floor_div(self, b: Self) -> Self {
                float_divmod(self as f64, b as f64).0 as $t
            }
            fn rem(self, b: Self) -> Self {
                float_divmod(self as f64, b as f64).1 as $t
            }
            fn pow(self, b: Self) -> Result<Self, OpError> {
                Ok(self.powf(b))
            }
            fn maximum(self, b: Self) -> Self {
                if self.is_nan() || b.is_nan() { <$t>::NAN } else { self.max(b) }
            }
            fn minimum(self, b: Self) -> Self {
                if self.is_nan() || b.is_nan() { <$t>::NAN } else { self.min(b) }
            }
            fn neg(self) -> Self {
                -self
            }
            fn abs(self) -> Self {
                self.abs()
            }
            fn is_nan(self) -> bool {
                self.is_nan()
            }
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            fn from_i64(x: i64) -> Self {
                x as $t
            }
            fn from_bool(x: bool) -> Self {
                x as u8 as $t
            }
            fn cast<U: Kernel>(self) -> U {
                U::from_f64(self as f64)
            }
        }
    };
}
float_kernel!(f32);
float_kernel!(f64);

/// numpy's `divmod` for floats (`npy_divmod`): the floor quotient and the remainder with
/// the divisor's sign; division by zero gives inf or NaN.
fn float_divmod(a: f64, b: f64) -> (f64, f64) {
    let mut m = a % b;
    if b == 0.0 {
        return (a / b, m);
    }
    let mut div = (a - m) / b;
    if m != 0.0 {
        if (b < 0.0) != (m < 0.0) {
            m += b;
            div -= 1.0;
        }
    } else {
        m = 0f64.copysign(b);
    }
    let floor = if div != 0.0 {
        let f = div.floor();
        if div - f > 0.5 { f + 1.0 } else { f }
    } else {
        0f64.copysign(a / b)
    };
    (floor, m)
}

impl Kernel for bool {
    fn add(self, b: Self) -> Self {
        self | b
    }
    fn sub(self, b: Self) -> Self {
        self ^ b
    }
    fn mul(self, b: Self) -> Self {
        self & b
    }
    fn div(self, b: Self) -> Self {
        self & b
    }
    fn floor_div(self, b: Self) -> Self {
        self & b
    }
    fn rem(self, _: Self) -> Self {
        false
    }
    fn pow(self, b: Self) -> Result<Self, OpError> {
        Ok(self | !b)
    }
    fn maximum(self, b: Self) -> Self {
        self | b
    }
    fn minimum(self, b: Self) -> Self {
        self & b
    }
    fn neg(self) -> Self {
        !self
    }
    fn abs(self) -> Self {
        self
    }
    fn is_nan(self) -> bool {
        false
    }
    fn from_f64(x: f64) -> Self {
        x != 0.0
    }
    fn from_i64(x: i64) -> Self {
        x != 0
    }
    fn from_bool(x: bool) -> Self {
        x
    }
    fn cast<U: Kernel>(self) -> U {
        U::from_bool(self)
    }
}

/// The shape two block shapes broadcast to (numpy's rules, aligned at the last axis).
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let n = a.len().max(b.len());
    let at = |s: &[usize], i: usize| if i + s.len() < n { 1 } else { s[i + s.len() - n] };
    (0..n)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y || y == 1 => Ok(x),
            (1, y) => Ok(y),
            _ => Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        })
        .collect()
}

/// Applies `f` to every element, reusing the block when this is its only reference.
pub(crate) fn map_same<T: Element>(block: Arc<ArrayD<T>>, f: impl Fn(T) -> T + Sync) -> Arc<ArrayD<T>> {
    match Arc::try_unwrap(block) {
        Ok(mut owned) => {
            owned.mapv_inplace(f);
            Arc::new(owned)
        }
        Err(shared) => Arc::new(shared.mapv(f)),
    }
}

/// `f(a, b)` elementwise with broadcasting, writing into whichever operand is uniquely
/// owned, in C order, and already has the output's shape; otherwise into a new C-order
/// block (an operand permuted by its strides is read, never written).
pub(crate) fn zip_same<T: Element>(
    a: Arc<ArrayD<T>>,
    b: Arc<ArrayD<T>>,
    f: impl Fn(T, T) -> T + Sync,
) -> Result<Arc<ArrayD<T>>, OpError> {
    let shape = broadcast_shape(a.shape(), b.shape()).map_err(OpError::new)?;
    let a = match Arc::try_unwrap(a) {
        Ok(mut owned) if owned.shape() == shape.as_slice() && owned.is_standard_layout() => {
            Zip::from(&mut owned).and_broadcast(&*b).for_each(|x, &y| *x = f(*x, y));
            return Ok(Arc::new(owned));
        }
        Ok(owned) => Arc::new(owned),
        Err(shared) => shared,
    };
    let b = match Arc::try_unwrap(b) {
        Ok(mut owned) if owned.shape() == shape.as_slice() && owned.is_standard_layout() => {
            Zip::from(&mut owned).and_broadcast(&*a).for_each(|y, &x| *y = f(x, *y));
            return Ok(Arc::new(owned));
        }
        Ok(owned) => Arc::new(owned),
        Err(shared) => shared,
    };
    zip_new(&a, &b, &shape, f)
}

/// `f(a, b)` elementwise with broadcasting into a new block of `shape`.
pub(crate) fn zip_new<T: Element, U: Element>(
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    shape: &[usize],
    f: impl Fn(T, T) -> U + Sync,
) -> Result<Arc<ArrayD<U>>, OpError> {
    let broadcast_error = || OpError::new(format!("shapes {:?} and {:?} do not broadcast", a.shape(), b.shape()));
    let av = a.broadcast(IxDyn(shape)).ok_or_else(broadcast_error)?;
    let bv = b.broadcast(IxDyn(shape)).ok_or_else(broadcast_error)?;
    Ok(Arc::new(Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y))))
}

/// Casts a block to `to`, returning it unchanged when it already has that type.
pub(crate) fn cast_chunk(chunk: ArrayChunk, to: DType) -> ArrayChunk {
    fn typed<T: Kernel>(a: &ArrayD<T>, to: DType) -> ArrayChunk {
        match to {
            DType::Bool => ArrayChunk::Bool(Arc::new(a.mapv(Kernel::cast::<bool>))),
            DType::I32 => ArrayChunk::I32(Arc::new(a.mapv(Kernel::cast::<i32>))),
            DType::I64 => ArrayChunk::I64(Arc::new(a.mapv(Kernel::cast::<i64>))),
            DType::F32 => ArrayChunk::F32(Arc::new(a.mapv(Kernel::cast::<f32>))),
            DType::F64 => ArrayChunk::F64(Arc::new(a.mapv(Kernel::cast::<f64>))),
        }
    }
    if chunk.dtype() == to {
        return chunk;
    }
    match &chunk {
        ArrayChunk::Bool(a) => typed(a, to),
        ArrayChunk::I32(a) => typed(a, to),
        ArrayChunk::I64(a) => typed(a, to),
        ArrayChunk::F32(a) => typed(a, to),
        ArrayChunk::F64(a) => typed(a, to),
    }
}

/// A 0-d block holding one element.
pub(crate) fn scalar_chunk<T: Element>(value: T) -> ArrayChunk {
    T::wrap(Arc::new(ndarray::arr0(value).into_dyn()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_floor_division_and_modulo_round_toward_minus_infinity() {
        assert_eq!(Kernel::floor_div(-7i64, 2), -4);
        assert_eq!(Kernel::rem(-7i64, 2), 1);
        assert_eq!(Kernel::floor_div(7i32, -2), -4);
        assert_eq!(Kernel::rem(7i32, -2), -1);
        assert_eq!(Kernel::floor_div(6i64, 3), 2);
        assert_eq!(Kernel::floor_div(5i64, 0), 0);
        assert_eq!(Kernel::rem(5i64, 0), 0);
        assert_eq!(Kernel::floor_div(i64::MIN, -1), i64::MIN);
    }

    #[test]
    fn float_floor_division_and_modulo_follow_numpy() {
        assert_eq!(Kernel::floor_div(-7.0f64, 2.0), -4.0);
        assert_eq!(Kernel::rem(-7.0f64, 2.0), 1.0);
        assert_eq!(Kernel::rem(7.5f64, -2.0), -0.5);
        assert_eq!(Kernel::floor_div(1.0f64, 0.0), f64::INFINITY);
        assert!(Kernel::rem(1.0f64, 0.0).is_nan());
        assert!(Kernel::maximum(f64::NAN, 1.0).is_nan());
    }

    #[test]
    fn casts_truncate_and_treat_nan_as_true() {
        assert_eq!(Kernel::cast::<i64>(-2.7f64), -2);
        assert!(Kernel::cast::<bool>(f64::NAN));
        assert!(!Kernel::cast::<bool>(0.0f32));
        assert_eq!(Kernel::cast::<f64>(true), 1.0);
        assert_eq!(Kernel::cast::<i32>(4_294_967_297i64), 1);
    }

    #[test]
    fn in_place_zip_reuses_a_unique_block() {
        let a = Arc::new(ArrayD::from_elem(IxDyn(&[2, 3]), 1.0f64));
        let b = Arc::new(ArrayD::from_elem(IxDyn(&[3]), 2.0f64));
        let ptr = a.as_ptr();
        let out = zip_same(a, b, |x, y| x + y).unwrap();
        assert_eq!(out.as_ptr(), ptr);
        assert!(out.iter().all(|&x| x == 3.0));
        assert!(broadcast_shape(&[2, 3], &[4]).unwrap_err().contains("[2, 3]"));
    }
}

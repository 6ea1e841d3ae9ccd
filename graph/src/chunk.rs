//! Array chunks: the blocks of a chunked array as task values.
//!
//! An [`ArrayChunk`] is one n-dimensional ndarray block of a supported element type
//! ([`DType`]), held in an `Arc`: handing a block to several tasks never copies it, and a
//! task that holds the only reference may reuse the buffer in place. [`Element`] connects
//! the Rust element types to their dtype.

use std::fmt;
use std::sync::Arc;

use ndarray::ArrayD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The element types rask arrays support, named as numpy names them.
///
/// ```
/// use rask_graph::DType;
/// assert_eq!(DType::F32.name(), "float32");
/// assert_eq!(DType::I32.itemsize(), 4);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DType {
    /// `bool`.
    Bool,
    /// `int32`.
    I32,
    /// `int64`.
    I64,
    /// `float32`.
    F32,
    /// `float64`.
    F64,
}

impl DType {
    /// numpy's name of the dtype.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Whether it is `float32` or `float64`.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// The type two arrays of these types promote to (numpy's `result_type` for arrays):
    /// the larger kind (bool < integer < float), and the wider type within a kind;
    /// `int32` with `float32` gives `float64`, as `int64` with `float32` does.
    ///
    /// ```
    /// use rask_graph::DType;
    /// assert_eq!(DType::I32.promote(DType::F32), DType::F64);
    /// assert_eq!(DType::Bool.promote(DType::I32), DType::I32);
    /// assert_eq!(DType::F32.promote(DType::F32), DType::F32);
    /// ```
    pub fn promote(self, other: DType) -> DType {
        use DType::*;
        match (self.min(other), self.max(other)) {
            (a, b) if a == b => a,
            (Bool, b) => b,
            (I32 | I64, F32) => F64,
            (_, b) => b,
        }
    }

    /// The type of a true division or mean of this type: itself for floats, else `float64`.
    pub fn float(self) -> DType {
        if self.is_float() { self } else { DType::F64 }
    }

    /// The accumulator type of `sum`/`prod`: `int64` for `bool` and integers.
    pub fn sum(self) -> DType {
        if self.is_float() { self } else { DType::I64 }
    }

    /// Bytes per element.
    pub fn itemsize(self) -> usize {
        match self {
            DType::Bool => 1,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One block of an array.
///
/// Serializes as the dtype's variant holding ndarray's serde form; inside a wire frame
/// ([`crate::oob`]) a large block is a placeholder for its raw memory instead.
#[derive(Clone, Debug, PartialEq)]
pub enum ArrayChunk {
    /// A `bool` block.
    Bool(Arc<ArrayD<bool>>),
    /// An `int32` block.
    I32(Arc<ArrayD<i32>>),
    /// An `int64` block.
    I64(Arc<ArrayD<i64>>),
    /// A `float32` block.
    F32(Arc<ArrayD<f32>>),
    /// A `float64` block.
    F64(Arc<ArrayD<f64>>),
}

/// The form of a block outside wire frames (what `derive` gave).
#[derive(Serialize)]
#[serde(rename = "ArrayChunk")]
enum PlainRef<'a> {
    Bool(&'a ArrayD<bool>),
    I32(&'a ArrayD<i32>),
    I64(&'a ArrayD<i64>),
    F32(&'a ArrayD<f32>),
    F64(&'a ArrayD<f64>),
}

#[derive(Deserialize)]
#[serde(rename = "ArrayChunk")]
enum PlainOwned {
    Bool(ArrayD<bool>),
    I32(ArrayD<i32>),
    I64(ArrayD<i64>),
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
}

impl Serialize for ArrayChunk {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if crate::oob::sending() {
            return crate::oob::serialize_array(self, s);
        }
        match self {
            ArrayChunk::Bool(a) => PlainRef::Bool(a),
            ArrayChunk::I32(a) => PlainRef::I32(a),
            ArrayChunk::I64(a) => PlainRef::I64(a),
            ArrayChunk::F32(a) => PlainRef::F32(a),
            ArrayChunk::F64(a) => PlainRef::F64(a),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ArrayChunk {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if crate::oob::receiving() {
            return crate::oob::deserialize_array(d);
        }
        Ok(match PlainOwned::deserialize(d)? {
            PlainOwned::Bool(a) => ArrayChunk::Bool(Arc::new(a)),
            PlainOwned::I32(a) => ArrayChunk::I32(Arc::new(a)),
            PlainOwned::I64(a) => ArrayChunk::I64(Arc::new(a)),
            PlainOwned::F32(a) => ArrayChunk::F32(Arc::new(a)),
            PlainOwned::F64(a) => ArrayChunk::F64(Arc::new(a)),
        })
    }
}

/// Runs `$body` with `$a` bound to the typed block inside an [`ArrayChunk`], whatever
/// its element type.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::{ArrayChunk, each_chunk};
/// let chunk = ArrayChunk::I32(Arc::new(ndarray::ArrayD::zeros(vec![2, 3])));
/// assert_eq!(each_chunk!(&chunk, a => a.len()), 6);
/// ```
#[macro_export]
macro_rules! each_chunk {
    ($chunk:expr, $a:ident => $body:expr) => {
        match $chunk {
            $crate::ArrayChunk::Bool($a) => $body,
            $crate::ArrayChunk::I32($a) => $body,
            $crate::ArrayChunk::I64($a) => $body,
            $crate::ArrayChunk::F32($a) => $body,
            $crate::ArrayChunk::F64($a) => $body,
        }
    };
}

/// Like [`each_chunk!`], but wraps `$body`'s block back into the variant it came from:
/// for functions from a block to a block of the same element type.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::{ArrayChunk, DType, map_chunk};
/// let chunk = ArrayChunk::F32(Arc::new(ndarray::ArrayD::zeros(vec![2])));
/// let reversed = map_chunk!(chunk, a => Arc::new(a.slice(ndarray::s![..;-1]).to_owned().into_dyn()));
/// assert_eq!(reversed.dtype(), DType::F32);
/// ```
#[macro_export]
macro_rules! map_chunk {
    ($chunk:expr, $a:ident => $body:expr) => {
        match $chunk {
            $crate::ArrayChunk::Bool($a) => $crate::ArrayChunk::Bool($body),
            $crate::ArrayChunk::I32($a) => $crate::ArrayChunk::I32($body),
            $crate::ArrayChunk::I64($a) => $crate::ArrayChunk::I64($body),
            $crate::ArrayChunk::F32($a) => $crate::ArrayChunk::F32($body),
            $crate::ArrayChunk::F64($a) => $crate::ArrayChunk::F64($body),
        }
    };
}

impl ArrayChunk {
    /// The block's element type.
    pub fn dtype(&self) -> DType {
        match self {
            ArrayChunk::Bool(_) => DType::Bool,
            ArrayChunk::I32(_) => DType::I32,
            ArrayChunk::I64(_) => DType::I64,
            ArrayChunk::F32(_) => DType::F32,
            ArrayChunk::F64(_) => DType::F64,
        }
    }

    /// The block's shape.
    pub fn shape(&self) -> &[usize] {
        each_chunk!(self, a => a.shape())
    }

    /// Bytes of element data.
    pub fn nbytes(&self) -> usize {
        self.shape().iter().product::<usize>() * self.dtype().itemsize()
    }
}

/// A Rust element type of rask arrays.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::{ArrayChunk, DType, Element};
/// let block = Arc::new(ndarray::ArrayD::<i32>::zeros(vec![2, 3]));
/// let chunk = i32::wrap(block.clone());
/// assert_eq!(chunk.dtype(), DType::I32);
/// assert!(Arc::ptr_eq(i32::unwrap(&chunk).unwrap(), &block));
/// assert!(f64::unwrap(&chunk).is_none());
/// ```
pub trait Element: Copy + Send + Sync + PartialEq + PartialOrd + fmt::Debug + Default + 'static {
    /// Its dtype.
    const DTYPE: DType;
    /// Wraps a block of this type.
    fn wrap(block: Arc<ArrayD<Self>>) -> ArrayChunk;
    /// The block, if `chunk` has this element type.
    fn unwrap(chunk: &ArrayChunk) -> Option<&Arc<ArrayD<Self>>>;
    /// The element's bits, for tokens (floats by bit pattern).
    fn token_bits(self) -> u64;
    /// The type numpy's `sum`, `prod`, `cumsum` and `cumprod` return: `int64` for
    /// `bool` and integers, the type itself for floats.
    type Sum: Element;
    /// The type of a true division, `mean` and `var`: `float64` for `bool` and integers,
    /// the type itself for floats.
    type Float: Element;
}

macro_rules! element {
    ($t:ty, $variant:ident, $sum:ty, $float:ty, $x:ident => $bits:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            type Sum = $sum;
            type Float = $float;
            fn wrap(block: Arc<ArrayD<Self>>) -> ArrayChunk {
                ArrayChunk::$variant(block)
            }
            fn unwrap(chunk: &ArrayChunk) -> Option<&Arc<ArrayD<Self>>> {
                match chunk {
                    ArrayChunk::$variant(a) => Some(a),
                    _ => None,
                }
            }
            fn token_bits(self) -> u64 {
                let $x = self;
                $bits
            }
        }
    };
}
element!(bool, Bool, i64, f64, x => x as u64);
element!(i32, I32, i64, f64, x => x as u64);
element!(i64, I64, i64, f64, x => x as u64);
element!(f32, F32, f32, f32, x => x.to_bits() as u64);
element!(f64, F64, f64, f64, x => x.to_bits());

impl ArrayChunk {
    /// Feeds dtype, shape and element bits into a token hasher.
    pub fn hash_token<H: std::hash::Hasher>(&self, state: &mut H) {
        use std::hash::Hash;
        self.dtype().hash(state);
        self.shape().hash(state);
        each_chunk!(self, a => a.iter().for_each(|x| state.write_u64(x.token_bits())))
    }
}

//! Array chunks: the blocks of a chunked array as task values.
//!
//! An [`ArrayChunk`] is one n-dimensional ndarray block of a supported element type
//! ([`DType`]), held in an `Arc`: handing a block to several tasks never copies it, and a
//! task that holds the only reference may reuse the buffer in place. [`Element`] connects
//! the Rust element types to their dtype.

use std::fmt;
use std::sync::Arc;

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

macro_rules! each_chunk {
    ($chunk:expr, $a:ident => $body:expr) => {
        match $chunk {
            ArrayChunk::Bool($a) => $body,
            ArrayChunk::I32($a) => $body,
            ArrayChunk::I64($a) => $body,
            ArrayChunk::F32($a) => $body,
            ArrayChunk::F64($a) => $body,
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
}

macro_rules! element {
    ($t:ty, $variant:ident, $x:ident => $bits:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
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
element!(bool, Bool, x => x as u64);
element!(i32, I32, x => x as u64);
element!(i64, I64, x => x as u64);
element!(f32, F32, x => x.to_bits() as u64);
element!(f64, F64, x => x.to_bits());

impl ArrayChunk {
    /// Feeds dtype, shape and element bits into a token hasher.
    pub fn hash_token<H: std::hash::Hasher>(&self, state: &mut H) {
        use std::hash::Hash;
        self.dtype().hash(state);
        self.shape().hash(state);
        each_chunk!(self, a => a.iter().for_each(|x| state.write_u64(x.token_bits())))
    }
}

//! `.npy` files (numpy's format), written and read block by block with positioned I/O.
//!
//! [`Array::to_npy`] writes one file: a first task creates it with its header and final
//! size, then each block's task writes that block's contiguous runs at their offsets, so
//! the whole array is never in memory. [`from_npy`] reads the header when the array is
//! built (format versions 1, 2 and 3; C or Fortran order; little- or big-endian
//! `f8 f4 i8 i4 b1`), and each block's task reads only that block's runs.
//!
//! ```
//! use rask_collections::array::{arange, from_npy};
//! let path = std::env::temp_dir().join(format!("rask-npy-doc-{}.npy", std::process::id()));
//! let x = arange(0i64, 12, 1, [5]).unwrap();
//! x.to_npy(&path).unwrap();
//! let y = from_npy::<i64>(&path, [4]).unwrap();
//! assert_eq!(y.compute().unwrap(), x.compute().unwrap());
//! assert!(from_npy::<f64>(&path, [4]).unwrap_err().to_string().contains("'<i8'"));
//! std::fs::remove_file(&path).unwrap();
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use rask_graph::{
    ArgSpec, Args, ArrayChunk, DType, Element, Group, Key, Layer, Op, OpError, TaskSpec, Token, Value, each_chunk,
};
use serde::{Deserialize, Serialize};

use super::Array;
use super::chunks::{ChunkSpec, block_indices, offsets};
use super::ranges::{generated, no_arguments};
use super::raw::layer_of_blocks;
use crate::compute::{ComputeOptions, Target, compute_targets};
use crate::error::{Error, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy pads headers so that the data starts at a multiple of this.
const ALIGN: usize = 64;

impl<T: Element> Array<T> {
    /// Computes the array on the default scheduler and writes it to `path` as one `.npy`
    /// file (format 1.0, or 2.0 when the header needs it; C order, little-endian),
    /// streaming: each block is written at its place as soon as it is computed.
    ///
    /// ```
    /// use rask_collections::array::ones;
    /// let path = std::env::temp_dir().join(format!("rask-to-npy-doc-{}.npy", std::process::id()));
    /// ones::<f32>(&[2, 3], [1, 2]).unwrap().to_npy(&path).unwrap();
    /// let bytes = std::fs::read(&path).unwrap();
    /// assert_eq!(bytes.len(), 128 + 6 * 4);
    /// assert!(String::from_utf8_lossy(&bytes[..128]).contains("'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)"));
    /// std::fs::remove_file(&path).unwrap();
    /// assert!(ones::<f32>(&[2], [1]).unwrap().to_npy("/no/such/dir/x.npy").unwrap_err().to_string().contains("/no/such/dir/x.npy"));
    /// ```
    pub fn to_npy(&self, path: impl AsRef<Path>) -> Result<()> {
        self.to_npy_with(path, &ComputeOptions::default())
    }

    /// [`Array::to_npy`] with `options`.
    pub fn to_npy_with(&self, path: impl AsRef<Path>, options: &ComputeOptions) -> Result<()> {
        let raw = self.raw()?;
        let path = absolute(path.as_ref())
            .map_err(|message| Error::Io { path: path.as_ref().display().to_string(), message })?;
        let header = header_bytes(T::DTYPE, &raw.shape);
        let layout = NpyLayout::c_order(header.len() as u64, T::DTYPE, &raw.shape);
        let token = Token::of(&("to_npy", &path, raw.token.0));
        let create_key = Key::single(Group::new("npy-create"), token);
        let size = layout.data_start + (raw.size() * T::DTYPE.itemsize()) as u64;
        let create: Arc<dyn Op> = Arc::new(NpyCreate { path: path.clone(), header, size });
        let create_layer = Layer::new(vec![TaskSpec { key: create_key, op: create, args: Default::default() }], vec![]);
        let starts: Vec<Vec<usize>> = raw.chunks.iter().map(|c| offsets(c)).collect();
        let dependencies = vec![raw.layer.clone(), create_layer];
        let writes =
            layer_of_blocks("to-npy", token, raw.shape.clone(), raw.chunks.clone(), T::DTYPE, dependencies, |index| {
                let start = index.iter().enumerate().map(|(a, &i)| starts[a][i as usize]).collect();
                let op: Arc<dyn Op> = Arc::new(NpyWriteBlock { path: path.clone(), layout: layout.clone(), start });
                (op, vec![ArgSpec::Key(create_key), ArgSpec::Key(raw.key(index))])
            });
        let targets: Vec<Target> = block_indices(&raw.numblocks())
            .iter()
            .map(|index| Target::Task { key: writes.key(index), layer: writes.layer.clone() })
            .collect();
        compute_targets(&targets, options)?;
        Ok(())
    }
}

/// A lazy array of the `.npy` file at `path`, cut into `chunks`. The header is read now:
/// a missing file, a bad header or a file shorter than its header promises is an
/// [`Error::Read`] naming the path; a file whose element type is not `T` an
/// [`Error::DType`] naming the file's `descr` and `T`. Each block's task reads only that
/// block's bytes. Fortran order and big-endian files (`'>f8'`) are read as numpy reads
/// them.
///
/// ```
/// use rask_collections::array::from_npy;
/// let err = from_npy::<f64>("/no/such/file.npy", [2]).unwrap_err().to_string();
/// assert!(err.contains("/no/such/file.npy"), "{err}");
/// ```
pub fn from_npy<T: Element>(path: impl AsRef<Path>, chunks: impl Into<ChunkSpec>) -> Result<Array<T>> {
    let path = path.as_ref();
    let read_error = |message: String| Error::Read { path: path.display().to_string(), message };
    let file = File::open(path).map_err(|e| read_error(e.to_string()))?;
    let header = read_header(&file).map_err(read_error)?;
    let layout = header.layout;
    if layout.dtype != T::DTYPE {
        return Err(Error::DType(format!(
            "{} holds '{}' ({}), not {}",
            path.display(),
            header.descr,
            layout.dtype,
            T::DTYPE
        )));
    }
    let metadata = file.metadata().map_err(|e| read_error(e.to_string()))?;
    let data = layout.shape.iter().try_fold(layout.dtype.itemsize() as u64, |n, &d| n.checked_mul(d as u64));
    let data = data.ok_or_else(|| read_error(format!("the shape {:?} is too large", layout.shape)))?;
    if metadata.len().saturating_sub(layout.data_start) < data {
        return Err(read_error(format!(
            "the file is truncated: its header promises {data} bytes of data after byte {}, but it has {} bytes",
            layout.data_start,
            metadata.len()
        )));
    }
    let modified = metadata.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    let shape = layout.shape.clone();
    let chunks = chunks.into().resolve(&shape)?;
    let path = absolute(path).map_err(read_error)?;
    let token = Token::of(&("from_npy", &path, modified, metadata.len(), header.descr, &layout, &chunks));
    let raw = generated("from-npy", token, &shape, chunks, T::DTYPE, |place| {
        let (start, shape) = (place.start.clone(), place.shape.clone());
        Arc::new(NpyReadBlock { path: path.clone(), layout: layout.clone(), start, shape })
    });
    Ok(Array::from_raw(raw))
}

/// `path` made absolute (without resolving links), so that tasks find the same file
/// wherever they run.
fn absolute(path: &Path) -> std::result::Result<PathBuf, String> {
    std::path::absolute(path).map_err(|e| e.to_string())
}

/// Where a `.npy` file's elements are: the data's first byte, element type, byte order,
/// memory order and shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NpyLayout {
    /// The offset of the first element.
    pub data_start: u64,
    /// The element type.
    pub dtype: DType,
    /// Whether elements are big-endian.
    pub big_endian: bool,
    /// Whether the array is in Fortran (column-major) order.
    pub fortran: bool,
    /// The array's shape.
    pub shape: Vec<usize>,
}

impl NpyLayout {
    fn c_order(data_start: u64, dtype: DType, shape: &[usize]) -> NpyLayout {
        NpyLayout { data_start, dtype, big_endian: false, fortran: false, shape: shape.to_vec() }
    }

    /// An error unless a block of `shape` at `start` lies inside the array (so that the
    /// offsets [`NpyLayout::runs`] computes cannot overflow).
    fn check_block(&self, start: &[usize], shape: &[usize]) -> Result<(), OpError> {
        let fits = start.len() == self.shape.len()
            && shape.len() == self.shape.len()
            && (0..shape.len()).all(|a| start[a].checked_add(shape[a]).is_some_and(|end| end <= self.shape[a]))
            && self.shape.iter().try_fold(self.dtype.itemsize(), |n, &d| n.checked_mul(d)).is_some();
        match fits {
            true => Ok(()),
            false => Err(OpError::new(format!(
                "a block of shape {shape:?} at {start:?} does not fit the array of shape {:?}",
                self.shape
            ))),
        }
    }

    /// The block's contiguous runs in the file, as (first element, length) in elements,
    /// in file order; the block's elements in that order are its C order, or its Fortran
    /// order for a Fortran-order file.
    fn runs(&self, start: &[usize], block: &[usize]) -> Vec<(usize, usize)> {
        let file_order =
            |v: &[usize]| -> Vec<usize> { if self.fortran { v.iter().rev().copied().collect() } else { v.to_vec() } };
        c_runs(&file_order(&self.shape), &file_order(start), &file_order(block))
    }

    /// The byte offset of element `element` (in file order).
    fn offset(&self, element: usize) -> u64 {
        self.data_start + (element * self.dtype.itemsize()) as u64
    }
}

/// The runs of a C-order block of `block` at `start` in a C-order array of `shape`:
/// axes after the last one the block does not span whole are contiguous, so each run
/// covers that axis's block length times the rest of the array's row.
fn c_runs(shape: &[usize], start: &[usize], block: &[usize]) -> Vec<(usize, usize)> {
    let n = shape.len();
    if block.contains(&0) {
        return vec![];
    }
    if n == 0 {
        return vec![(0, 1)];
    }
    let mut strides = vec![1usize; n];
    for a in (0..n - 1).rev() {
        strides[a] = strides[a + 1] * shape[a + 1];
    }
    let split = (1..n).rev().find(|&a| block[a] != shape[a]).unwrap_or(0);
    let run = block[split] * strides[split];
    let base: usize = (0..n).map(|a| start[a] * strides[a]).sum();
    let outer = &block[..split];
    let mut runs = Vec::with_capacity(outer.iter().product());
    let mut index = vec![0usize; split];
    loop {
        runs.push((base + index.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>(), run));
        // Odometer over the outer axes, last axis fastest.
        let Some(axis) = (0..split).rev().find(|&a| index[a] + 1 < outer[a]) else { return runs };
        index[axis] += 1;
        index[axis + 1..].iter_mut().for_each(|i| *i = 0);
    }
}

/// Element types as bytes in a `.npy` file.
trait NpyBytes: Element {
    /// Appends the elements, little-endian.
    fn encode(items: impl Iterator<Item = Self>, out: &mut Vec<u8>);
    /// The elements of `bytes` (a whole number of them).
    fn decode(bytes: &[u8], big_endian: bool) -> Vec<Self>;
}

macro_rules! npy_bytes {
    ($($t:ty),*) => {$(
        impl NpyBytes for $t {
            fn encode(items: impl Iterator<Item = Self>, out: &mut Vec<u8>) {
                items.for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
            }
            fn decode(bytes: &[u8], big_endian: bool) -> Vec<Self> {
                const N: usize = std::mem::size_of::<$t>();
                let word = |c: &[u8]| {
                    let mut word = [0u8; N];
                    word.copy_from_slice(c);
                    word
                };
                let chunks = bytes.chunks_exact(N);
                match big_endian {
                    true => chunks.map(|c| <$t>::from_be_bytes(word(c))).collect(),
                    false => chunks.map(|c| <$t>::from_le_bytes(word(c))).collect(),
                }
            }
        }
    )*};
}
npy_bytes!(f64, f32, i64, i32);

impl NpyBytes for bool {
    fn encode(items: impl Iterator<Item = Self>, out: &mut Vec<u8>) {
        out.extend(items.map(u8::from));
    }
    fn decode(bytes: &[u8], _big_endian: bool) -> Vec<Self> {
        bytes.iter().map(|&b| b != 0).collect()
    }
}

/// numpy's `descr` of a little-endian dtype.
fn descr(dtype: DType) -> &'static str {
    match dtype {
        DType::Bool => "|b1",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
    }
}

/// The dtype and byte order (`true` for big-endian) a `descr` names.
fn parse_descr(descr: &str) -> Result<(DType, bool), String> {
    let unsupported = || format!("the element type '{descr}' is not supported (only f8 f4 i8 i4 b1)");
    let mut chars = descr.chars();
    let big_endian = match chars.next() {
        Some('<' | '|') => false,
        Some('>') => true,
        Some('=') => cfg!(target_endian = "big"),
        _ => return Err(unsupported()),
    };
    let dtype = match chars.as_str() {
        "f8" => DType::F64,
        "f4" => DType::F32,
        "i8" => DType::I64,
        "i4" => DType::I32,
        "b1" => DType::Bool,
        _ => return Err(unsupported()),
    };
    Ok((dtype, big_endian))
}

/// numpy's repr of a shape tuple: `()`, `(5,)`, `(3, 4)`.
fn py_tuple(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!("({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// The complete header of a C-order little-endian file: version 1.0 when its length fits
/// 16 bits, else 2.0, padded with spaces and a newline so the data starts aligned.
fn header_bytes(dtype: DType, shape: &[usize]) -> Vec<u8> {
    let dict = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr(dtype), py_tuple(shape));
    let padded = |prefix: usize| (prefix + dict.len() + 1).next_multiple_of(ALIGN) - prefix;
    let mut out = MAGIC.to_vec();
    match u16::try_from(padded(MAGIC.len() + 4)) {
        Ok(len) => {
            out.extend_from_slice(&[1, 0]);
            out.extend_from_slice(&len.to_le_bytes());
        }
        Err(_) => {
            out.extend_from_slice(&[2, 0]);
            out.extend_from_slice(&(padded(MAGIC.len() + 6) as u32).to_le_bytes());
        }
    }
    out.extend_from_slice(dict.as_bytes());
    let total = (out.len() + 1).next_multiple_of(ALIGN);
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out
}

/// What a file's header says.
struct Header {
    descr: String,
    layout: NpyLayout,
}

/// Reads and parses the header of a `.npy` file.
fn read_header(file: &File) -> Result<Header, String> {
    let mut prefix = [0u8; 12];
    let short = |_| "the file is too short for a .npy header".to_string();
    file.read_exact_at(&mut prefix[..10], 0).map_err(short)?;
    if &prefix[..6] != MAGIC {
        return Err("not a .npy file (its first bytes are not \\x93NUMPY)".into());
    }
    let (len, text_start): (usize, usize) = match prefix[6] {
        1 => (usize::from(u16::from_le_bytes([prefix[8], prefix[9]])), 10),
        2 | 3 => {
            file.read_exact_at(&mut prefix[10..], 10).map_err(short)?;
            (u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]) as usize, 12)
        }
        major => return Err(format!("the .npy format version {major}.{} is not supported", prefix[7])),
    };
    let mut text = vec![0u8; len];
    file.read_exact_at(&mut text, text_start as u64).map_err(|_| "the file ends inside its header".to_string())?;
    let text = match prefix[6] {
        3 => String::from_utf8(text).map_err(|_| "the header is not UTF-8".to_string())?,
        _ => text.iter().map(|&b| char::from(b)).collect(),
    };
    let fields = parse_dict(&text).map_err(|e| format!("bad header {:?}: {e}", text.trim_end()))?;
    let (dtype, big_endian) = parse_descr(&fields.descr)?;
    let layout = NpyLayout {
        data_start: (text_start + len) as u64,
        dtype,
        big_endian,
        fortran: fields.fortran,
        shape: fields.shape,
    };
    Ok(Header { descr: fields.descr, layout })
}

/// The three fields of a header's dictionary.
struct Fields {
    descr: String,
    fortran: bool,
    shape: Vec<usize>,
}

/// Parses the header's Python dict literal: exactly the keys `descr` (a string),
/// `fortran_order` (`True`/`False`) and `shape` (a tuple of integers), in any order.
fn parse_dict(text: &str) -> Result<Fields, String> {
    let mut p = Parser(text);
    p.expect('{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    while !p.eat('}') {
        let key = p.string()?;
        p.expect(':')?;
        match key.as_str() {
            "descr" => descr = Some(p.string()?),
            "fortran_order" => fortran = Some(p.boolean()?),
            "shape" => shape = Some(p.tuple()?),
            other => return Err(format!("unexpected key '{other}'")),
        }
        if !p.eat(',') {
            p.expect('}')?;
            break;
        }
    }
    match (descr, fortran, shape) {
        (Some(descr), Some(fortran), Some(shape)) => Ok(Fields { descr, fortran, shape }),
        _ => Err("the keys 'descr', 'fortran_order' and 'shape' are required".into()),
    }
}

/// A cursor over a Python literal.
struct Parser<'a>(&'a str);

impl<'a> Parser<'a> {
    /// Consumes `c` (after white space) if it comes next.
    fn eat(&mut self, c: char) -> bool {
        self.0 = self.0.trim_start();
        match self.0.strip_prefix(c) {
            Some(rest) => {
                self.0 = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.eat(c) {
            true => Ok(()),
            false => Err(format!("expected '{c}' at {:?}", self.0)),
        }
    }

    /// A quoted string (no escapes: numpy's keys and descrs have none).
    fn string(&mut self) -> Result<String, String> {
        self.0 = self.0.trim_start();
        let quote = self.0.chars().next().filter(|q| *q == '\'' || *q == '"');
        let quote = quote.ok_or_else(|| format!("expected a string at {:?}", self.0))?;
        let body = &self.0[1..];
        let end = body.find(quote).ok_or_else(|| "an unterminated string".to_string())?;
        self.0 = &body[end + 1..];
        Ok(body[..end].to_string())
    }

    /// A run of letters and digits.
    fn word(&mut self) -> &'a str {
        self.0 = self.0.trim_start();
        let end = self.0.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(self.0.len());
        let (word, rest) = self.0.split_at(end);
        self.0 = rest;
        word
    }

    fn boolean(&mut self) -> Result<bool, String> {
        match self.word() {
            "True" => Ok(true),
            "False" => Ok(false),
            other => Err(format!("expected True or False, got {other:?}")),
        }
    }

    /// A tuple (or list) of non-negative integers; Python 2's `3L` is accepted.
    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        let close = if self.eat('(') {
            ')'
        } else {
            self.expect('[')?;
            ']'
        };
        let mut out = Vec::new();
        while !self.eat(close) {
            let word = self.word();
            let digits = word.strip_suffix('L').unwrap_or(word);
            out.push(digits.parse().map_err(|_| format!("expected a length, got {word:?}"))?);
            if !self.eat(',') {
                self.expect(close)?;
                break;
            }
        }
        Ok(out)
    }
}

/// Creates (or truncates) the file, writes the header and sizes the file to `size`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NpyCreate {
    /// The file.
    pub path: PathBuf,
    /// The complete header.
    pub header: Vec<u8>,
    /// The file's final length.
    pub size: u64,
}

fn write_error(path: &Path) -> impl Fn(std::io::Error) -> OpError + '_ {
    move |e| OpError::new(format!("cannot write {}: {e}", path.display()))
}

#[typetag::serde(name = "rask.array.npy_create")]
impl Op for NpyCreate {
    fn name(&self) -> &str {
        "npy-create"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        no_arguments("npy-create", &args)?;
        let error = write_error(&self.path);
        let mut file = File::create(&self.path).map_err(&error)?;
        file.write_all(&self.header).map_err(&error)?;
        file.set_len(self.size).map_err(&error)?;
        Ok(Value::Unit)
    }
}

/// Writes one block into a file its [`NpyCreate`] made: arguments are the create task's
/// output (for ordering) and the block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NpyWriteBlock {
    /// The file.
    pub path: PathBuf,
    /// Where the elements go.
    pub layout: NpyLayout,
    /// The array index of the block's first element.
    pub start: Vec<usize>,
}

fn encode_block<T: NpyBytes>(block: &ArrayD<T>, fortran: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len() * T::DTYPE.itemsize());
    match fortran {
        true => T::encode(block.t().iter().copied(), &mut out),
        false => T::encode(block.iter().copied(), &mut out),
    }
    out
}

#[typetag::serde(name = "rask.array.npy_write")]
impl Op for NpyWriteBlock {
    fn name(&self) -> &str {
        "to-npy"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        let block = match args.as_slice() {
            [_, Value::Array(block)] if block.dtype() == self.layout.dtype => block,
            _ => {
                return Err(OpError::new(format!(
                    "to-npy takes the create task's output and a {} block",
                    self.layout.dtype
                )));
            }
        };
        self.layout.check_block(&self.start, block.shape())?;
        let bytes = each_chunk!(block, b => encode_block(&**b, self.layout.fortran));
        let error = write_error(&self.path);
        let file = OpenOptions::new().write(true).open(&self.path).map_err(&error)?;
        let size = self.layout.dtype.itemsize();
        let mut written = 0;
        for (element, len) in self.layout.runs(&self.start, block.shape()) {
            let run = &bytes[written..written + len * size];
            file.write_all_at(run, self.layout.offset(element)).map_err(&error)?;
            written += run.len();
        }
        Ok(Value::Unit)
    }
}

/// Reads one block of a `.npy` file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NpyReadBlock {
    /// The file.
    pub path: PathBuf,
    /// Where the elements are.
    pub layout: NpyLayout,
    /// The array index of the block's first element.
    pub start: Vec<usize>,
    /// The block's shape.
    pub shape: Vec<usize>,
}

impl NpyReadBlock {
    fn block<T: NpyBytes>(&self, bytes: &[u8]) -> Result<ArrayChunk, OpError> {
        let data = T::decode(bytes, self.layout.big_endian);
        let shape = IxDyn(&self.shape).set_f(self.layout.fortran);
        let block = ArrayD::from_shape_vec(shape, data).map_err(|e| OpError::new(e.to_string()))?;
        Ok(T::wrap(Arc::new(block)))
    }
}

#[typetag::serde(name = "rask.array.npy_read")]
impl Op for NpyReadBlock {
    fn name(&self) -> &str {
        "from-npy"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        no_arguments("from-npy", &args)?;
        self.layout.check_block(&self.start, &self.shape)?;
        let error = |e: std::io::Error| OpError::new(format!("cannot read {}: {e}", self.path.display()));
        let file = File::open(&self.path).map_err(error)?;
        let size = self.layout.dtype.itemsize();
        let mut bytes = vec![0u8; self.shape.iter().product::<usize>() * size];
        let mut filled = 0;
        for (element, len) in self.layout.runs(&self.start, &self.shape) {
            let run = &mut bytes[filled..filled + len * size];
            file.read_exact_at(run, self.layout.offset(element)).map_err(error)?;
            filled += run.len();
        }
        Ok(Value::Array(match self.layout.dtype {
            DType::Bool => self.block::<bool>(&bytes)?,
            DType::I32 => self.block::<i32>(&bytes)?,
            DType::I64 => self.block::<i64>(&bytes)?,
            DType::F32 => self.block::<f32>(&bytes)?,
            DType::F64 => self.block::<f64>(&bytes)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_a_block_in_file_order() {
        // A 2 x 2 block at (1, 1) of a 3 x 4 array: two rows of two.
        assert_eq!(c_runs(&[3, 4], &[1, 1], &[2, 2]), vec![(5, 2), (9, 2)]);
        // Whole rows merge into one run.
        assert_eq!(c_runs(&[3, 4], &[1, 0], &[2, 4]), vec![(4, 8)]);
        assert_eq!(c_runs(&[2, 3, 4], &[1, 1, 0], &[1, 2, 4]), vec![(16, 8)]);
        assert_eq!(c_runs(&[], &[], &[]), vec![(0, 1)]);
        assert_eq!(c_runs(&[3, 0], &[0, 0], &[3, 0]), vec![]);
        let fortran = NpyLayout { fortran: true, ..NpyLayout::c_order(64, DType::F64, &[3, 4]) };
        assert_eq!(fortran.runs(&[1, 1], &[2, 2]), vec![(4, 2), (7, 2)]);
        assert_eq!(fortran.offset(4), 64 + 32);
    }

    #[test]
    fn headers_switch_to_version_2_when_they_outgrow_16_bits() {
        let small = header_bytes(DType::F64, &[3]);
        assert_eq!((small.len(), &small[6..8]), (128, &[1u8, 0][..]));
        let huge = header_bytes(DType::I32, &vec![1; 30_000]);
        assert_eq!(&huge[6..8], &[2, 0]);
        assert_eq!(huge.len() % ALIGN, 0);
        assert_eq!(u32::from_le_bytes([huge[8], huge[9], huge[10], huge[11]]) as usize, huge.len() - 12);
    }

    #[test]
    fn header_dicts_parse_in_any_order_with_any_spacing() {
        let fields = parse_dict(" { \"shape\" : [2 , 3] ,'fortran_order':True,'descr':'>i8' } ").unwrap();
        assert_eq!((fields.descr.as_str(), fields.fortran, fields.shape), (">i8", true, vec![2, 3]));
        assert_eq!(parse_descr("=f4").unwrap(), (DType::F32, cfg!(target_endian = "big")));
        assert!(parse_descr("|f8").is_ok());
        assert!(parse_descr("f8").is_err());
        assert!(parse_dict("{'descr': '<f8'").is_err());
    }
}

//! Keys: the names of task outputs.
//!
//! A [`Key`] is what Dask writes as `("add-3f9a…", 2, 0)`: a task *group* (the operation
//! prefix that progress bars show, e.g. `"add"`), a [`Token`] and a small tuple of block
//! indices. Keys are `Copy`, 32 bytes, and hash and compare without touching the heap:
//! group names are interned once per process, index tuples of up to four entries are
//! stored inline and longer ones are interned.

use std::collections::HashMap;
use std::fmt;
use std::sync::{LazyLock, OnceLock, RwLock};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::token::Token;

/// An interned task-group name such as `"add"`, `"sum-partial"` or `"read-parquet"`.
///
/// ```
/// use rask_graph::Group;
/// let g = Group::new("inc");
/// assert_eq!(g, Group::new("inc"));
/// assert_eq!(g.as_str(), "inc");
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Group(u32);

/// Ids of interned values (a lookup by value takes the lock; a lookup by id does not: the
/// values are also published in a [`Published`]).
struct Interner<T: 'static + ?Sized> {
    ids: HashMap<&'static T, u32>,
    values: &'static Published<T>,
}

impl<T: ?Sized + Eq + std::hash::Hash> Interner<T> {
    fn new(values: &'static Published<T>) -> Self {
        Interner { ids: HashMap::new(), values }
    }
}

/// Interned values by id, read without a lock: append-only segments of doubling size
/// (1024, 2048, ... entries), each entry written once, before its id is handed out.
struct Published<T: ?Sized + 'static> {
    segments: [OnceLock<Box<[OnceLock<&'static T>]>>; SEGMENTS],
}

/// Entries of the first segment.
const FIRST_SEGMENT: u64 = 1024;
/// Segments: enough for every `u32` id.
const SEGMENTS: usize = 23;

impl<T: ?Sized> Published<T> {
    const fn new() -> Self {
        Published { segments: [const { OnceLock::new() }; SEGMENTS] }
    }

    /// The segment and offset of `id`.
    fn place(id: u32) -> (usize, usize) {
        let i = id as u64 + FIRST_SEGMENT;
        let segment = (63 - i.leading_zeros()) as usize - FIRST_SEGMENT.trailing_zeros() as usize;
        (segment, (i - (FIRST_SEGMENT << segment)) as usize)
    }

    fn set(&self, id: u32, value: &'static T) {
        let (segment, offset) = Self::place(id);
        let entries =
            self.segments[segment].get_or_init(|| (0..FIRST_SEGMENT << segment).map(|_| OnceLock::new()).collect());
        let _ = entries[offset].set(value);
    }

    fn get(&self, id: u32) -> &'static T {
        let (segment, offset) = Self::place(id);
        self.segments[segment].get().and_then(|entries| entries[offset].get()).copied().expect("an interned id")
    }
}

fn intern<T, B>(table: &RwLock<Interner<T>>, value: &T, leak: impl FnOnce(&T) -> B) -> u32
where
    T: ?Sized + Eq + std::hash::Hash,
    B: Into<&'static T>,
{
    if let Some(&id) = table.read().unwrap_or_else(|e| e.into_inner()).ids.get(value) {
        return id;
    }
    let mut table = table.write().unwrap_or_else(|e| e.into_inner());
    if let Some(&id) = table.ids.get(value) {
        return id;
    }
    let stored: &'static T = leak(value).into();
    let id = u32::try_from(table.ids.len()).expect("fewer than 2^32 interned names");
    table.values.set(id, stored);
    table.ids.insert(stored, id);
    id
}

/// Interns `value` unless it is new and the table already holds `cap` values: what keys
/// read from another process may intern is bounded, so no peer can grow this process's
/// memory without end.
fn intern_capped<T, B>(table: &RwLock<Interner<T>>, value: &T, cap: usize, leak: impl FnOnce(&T) -> B) -> Option<u32>
where
    T: ?Sized + Eq + std::hash::Hash,
    B: Into<&'static T>,
{
    let known = table.read().unwrap_or_else(|e| e.into_inner());
    if let Some(&id) = known.ids.get(value) {
        return Some(id);
    }
    if known.ids.len() >= cap {
        return None;
    }
    drop(known);
    Some(intern(table, value, leak))
}

/// Distinct group names keys read from another process may add, at most.
pub const MAX_WIRE_GROUPS: usize = 1 << 16;
/// Bytes of a group name read from another process, at most.
pub const MAX_WIRE_GROUP_NAME: usize = 256;
/// Entries of a block index read from another process, at most.
pub const MAX_WIRE_INDEX_LEN: usize = 32;
/// Distinct long block indices (more than four entries) keys read from another process
/// may add, at most.
pub const MAX_WIRE_LONG_INDICES: usize = 1 << 20;

static GROUP_NAMES: Published<str> = Published::new();
static LONG_INDEX_VALUES: Published<[u32]> = Published::new();
static GROUPS: LazyLock<RwLock<Interner<str>>> = LazyLock::new(|| RwLock::new(Interner::new(&GROUP_NAMES)));
static LONG_INDICES: LazyLock<RwLock<Interner<[u32]>>> =
    LazyLock::new(|| RwLock::new(Interner::new(&LONG_INDEX_VALUES)));

impl Group {
    /// Interns `name` (once per process; later calls are a hash lookup).
    pub fn new(name: &str) -> Group {
        Group(intern(&GROUPS, name, |s| &*Box::leak(s.to_owned().into_boxed_str())))
    }

    /// The group's name.
    pub fn as_str(&self) -> &'static str {
        GROUP_NAMES.get(self.0)
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Group({:?})", self.as_str())
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Marks an index tuple that is interned in `LONG_INDICES` rather than stored inline.
const LONG: u8 = u8::MAX;
const INLINE: usize = 4;

/// The name of one task's output: group, token and block index.
///
/// ```
/// use rask_graph::{Group, Key, Token};
/// let k = Key::new(Group::new("add"), Token(0xabc), &[2, 0]);
/// assert_eq!(k.index(), &[2, 0]);
/// assert_eq!(k.group().as_str(), "add");
/// assert_eq!(k.to_string(), "('add-0000000000000abc', 2, 0)");
/// assert_eq!(Key::new(Group::new("x"), Token(1), &[1, 2, 3, 4, 5, 6]).index(), &[1, 2, 3, 4, 5, 6]);
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    token: Token,
    group: Group,
    len: u8,
    parts: [u32; INLINE],
}

impl Key {
    /// A key with the given block index (empty for a single task such as a delayed call).
    pub fn new(group: Group, token: Token, index: &[u32]) -> Key {
        let mut parts = [0; INLINE];
        let len = if index.len() <= INLINE {
            parts[..index.len()].copy_from_slice(index);
            index.len() as u8
        } else {
            parts[0] = intern(&LONG_INDICES, index, |s| &*Box::leak(s.to_vec().into_boxed_slice()));
            LONG
        };
        Key { token, group, len, parts }
    }

    /// A key without a block index.
    pub fn single(group: Group, token: Token) -> Key {
        Key { token, group, len: 0, parts: [0; INLINE] }
    }

    /// The task group (operation prefix).
    pub fn group(&self) -> Group {
        self.group
    }

    /// The token.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The block index tuple.
    pub fn index(&self) -> &[u32] {
        if self.len == LONG { LONG_INDEX_VALUES.get(self.parts[0]) } else { &self.parts[..self.len as usize] }
    }

    /// The same group and token with another index (a sibling block of the same layer).
    pub fn with_index(&self, index: &[u32]) -> Key {
        Key::new(self.group, self.token, index)
    }

    /// `group-token`, the layer's name, as Dask prints the first element of a key.
    pub fn name(&self) -> String {
        format!("{}-{:016x}", self.group, self.token.0)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let index = self.index();
        if index.is_empty() {
            return f.write_str(&self.name());
        }
        write!(f, "('{}'", self.name())?;
        for i in index {
            write!(f, ", {i}")?;
        }
        f.write_str(")")
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Keys cross process boundaries by name: group ids are only meaningful in one process.
/// Short indices (the usual case) are read without allocating.
#[derive(Deserialize)]
struct WireKey<'a> {
    #[serde(borrow)]
    group: std::borrow::Cow<'a, str>,
    token: u64,
    index: IndexBuf,
}

/// A block index as read from another process: inline up to [`INLINE`] entries, and
/// grown one entry at a time beyond (a length that lies reserves nothing).
struct IndexBuf(smallvec::SmallVec<[u32; INLINE]>);

impl std::ops::Deref for IndexBuf {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for IndexBuf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = IndexBuf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a block index (a sequence of u32)")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<IndexBuf, A::Error> {
                let mut index = smallvec::SmallVec::new();
                while let Some(i) = seq.next_element::<u32>()? {
                    if index.len() == MAX_WIRE_INDEX_LEN {
                        return Err(A::Error::custom(format!("a key's index exceeds {MAX_WIRE_INDEX_LEN} entries")));
                    }
                    index.push(i);
                }
                Ok(IndexBuf(index))
            }
        }
        deserializer.deserialize_seq(Visitor)
    }
}

/// The same fields, borrowed from a key, to write it without copying its index.
#[derive(Serialize)]
struct WireKeyRef<'a> {
    group: &'a str,
    token: u64,
    index: &'a [u32],
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireKeyRef { group: self.group.as_str(), token: self.token.0, index: self.index() }.serialize(serializer)
    }
}

/// Keys read from another process are bounded: a group name of at most
/// [`MAX_WIRE_GROUP_NAME`] bytes, an index of at most [`MAX_WIRE_INDEX_LEN`] entries, and
/// what they add to the process's interned names at most [`MAX_WIRE_GROUPS`] names and
/// [`MAX_WIRE_LONG_INDICES`] long indices; beyond, the key (and the message holding it)
/// is refused.
impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireKey::deserialize(deserializer)?;
        let group = Group::from_wire(&wire.group).map_err(D::Error::custom)?;
        Key::from_wire(group, Token(wire.token), &wire.index).map_err(D::Error::custom)
    }
}

impl Group {
    /// The group of a key read from another process, bounded as such keys are (see
    /// [`Key`]'s `Deserialize`): an error for an empty name, a name over
    /// [`MAX_WIRE_GROUP_NAME`] bytes, or a new name beyond [`MAX_WIRE_GROUPS`].
    ///
    /// ```
    /// use rask_graph::Group;
    /// assert_eq!(Group::from_wire("sum").unwrap(), Group::new("sum"));
    /// assert!(Group::from_wire("").is_err());
    /// ```
    pub fn from_wire(name: &str) -> Result<Group, String> {
        if name.is_empty() {
            return Err("a key's group name is empty".into());
        }
        if name.len() > MAX_WIRE_GROUP_NAME {
            return Err(format!("a key's group name of {} bytes exceeds {MAX_WIRE_GROUP_NAME}", name.len()));
        }
        intern_capped(&GROUPS, name, MAX_WIRE_GROUPS, |s| &*Box::leak(s.to_owned().into_boxed_str()))
            .map(Group)
            .ok_or_else(|| format!("more than {MAX_WIRE_GROUPS} distinct task-group names"))
    }
}

impl Key {
    /// A key read from another process, bounded as such keys are: an error for an index
    /// over [`MAX_WIRE_INDEX_LEN`] entries, or a new long index beyond
    /// [`MAX_WIRE_LONG_INDICES`].
    ///
    /// ```
    /// use rask_graph::{Group, Key, Token};
    /// let g = Group::new("x");
    /// assert_eq!(Key::from_wire(g, Token(1), &[1, 2]).unwrap(), Key::new(g, Token(1), &[1, 2]));
    /// assert!(Key::from_wire(g, Token(1), &[0; 33]).is_err());
    /// ```
    pub fn from_wire(group: Group, token: Token, index: &[u32]) -> Result<Key, String> {
        if index.len() > MAX_WIRE_INDEX_LEN {
            return Err(format!("a key's index exceeds {MAX_WIRE_INDEX_LEN} entries"));
        }
        if index.len() <= INLINE {
            return Ok(Key::new(group, token, index));
        }
        let long =
            intern_capped(&LONG_INDICES, index, MAX_WIRE_LONG_INDICES, |s| &*Box::leak(s.to_vec().into_boxed_slice()))
                .ok_or_else(|| format!("more than {MAX_WIRE_LONG_INDICES} distinct long block indices"))?;
        let mut parts = [0; INLINE];
        parts[0] = long;
        Ok(Key { token, group, len: LONG, parts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_small_and_copy() {
        assert_eq!(std::mem::size_of::<Key>(), 32);
    }

    #[test]
    fn long_indices_round_trip_and_compare() {
        let g = Group::new("long");
        let a = Key::new(g, Token(1), &[1, 2, 3, 4, 5]);
        let b = Key::new(g, Token(1), &[1, 2, 3, 4, 5]);
        let c = Key::new(g, Token(1), &[1, 2, 3, 4, 6]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(c.index(), &[1, 2, 3, 4, 6]);
    }

    #[test]
    fn keys_round_trip_through_msgpack() {
        for key in [
            Key::single(Group::new("inc"), Token(7)),
            Key::new(Group::new("add"), Token(u64::MAX), &[3, 1]),
            Key::new(Group::new("big"), Token(9), &[1, 2, 3, 4, 5, 6, 7]),
        ] {
            let bytes = rmp_serde::to_vec_named(&key).unwrap();
            let back: Key = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!(back, key);
        }
    }

    #[test]
    fn keys_read_from_elsewhere_are_bounded() {
        let wire = |group: &str, index: Vec<u32>| {
            rmp_serde::to_vec_named(&WireKeyRef { group, token: 1, index: &index }).unwrap()
        };
        let e = rmp_serde::from_slice::<Key>(&wire(&"g".repeat(300), vec![])).unwrap_err().to_string();
        assert!(e.contains("300 bytes"), "{e}");
        let e = rmp_serde::from_slice::<Key>(&wire("g", vec![0; 40])).unwrap_err().to_string();
        assert!(e.contains("exceeds 32 entries"), "{e}");
        let ok: Key = rmp_serde::from_slice(&wire("wire-long", vec![1, 2, 3, 4, 5, 6])).unwrap();
        assert_eq!(ok, Key::new(Group::new("wire-long"), Token(1), &[1, 2, 3, 4, 5, 6]));
        // The cap itself: a table already full refuses new names, not known ones.
        static VALUES: Published<str> = Published::new();
        let table = RwLock::new(Interner::<str>::new(&VALUES));
        let leak = |s: &str| &*Box::leak(s.to_owned().into_boxed_str());
        assert_eq!(intern_capped(&table, "a", 2, leak), Some(0));
        assert_eq!(intern_capped(&table, "b", 2, leak), Some(1));
        assert_eq!(intern_capped(&table, "c", 2, leak), None);
        assert_eq!(intern_capped(&table, "a", 2, leak), Some(0));
    }

    #[test]
    fn published_ids_span_segments() {
        assert_eq!(Published::<str>::place(0), (0, 0));
        assert_eq!(Published::<str>::place(1023), (0, 1023));
        assert_eq!(Published::<str>::place(1024), (1, 0));
        assert_eq!(Published::<str>::place(3071), (1, 2047));
        assert_eq!(Published::<str>::place(3072), (2, 0));
        assert_eq!(Published::<str>::place(u32::MAX).0, SEGMENTS - 1);
        static VALUES: Published<str> = Published::new();
        for id in [0, 1023, 1024, 5000] {
            VALUES.set(id, Box::leak(id.to_string().into_boxed_str()));
        }
        assert_eq!((VALUES.get(1024), VALUES.get(5000)), ("1024", "5000"));
    }

    #[test]
    fn display_matches_dask_style() {
        let k = Key::single(Group::new("inc"), Token(255));
        assert_eq!(k.to_string(), "inc-00000000000000ff");
    }
}

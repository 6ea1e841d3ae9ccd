//! A submission's tasks in a packed form (`#[serde(with = "packed")]` on
//! [`Submission::tasks`](super::Submission)): a table of the group names, each once, and
//! the tasks as one run of bytes (varints and fixed tokens) in which keys name their group
//! by its place in the table; literal values travel beside, as values do everywhere.
//! A graph of 114,000 tasks decodes in a fraction of the time MessagePack's per-field
//! decoding takes (every key's group name read, checked as UTF-8 and looked up), and the
//! scheduler can start no task before its submission is decoded.
//!
//! Reading checks everything: a group number beyond the table, a truncated task, an
//! unknown argument tag or trailing bytes are errors naming the task, and keys are bounded
//! as keys read from elsewhere are ([`Key::from_wire`]).

use std::borrow::Cow;

use rask_graph::{Group, Key, Token, Value};
use rustc_hash::FxHashMap;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::message::serde_bytes_compat;
use super::{SubmitArg, SubmitTask};

/// An argument that is a literal (the next of the values beside the bytes).
const ARG_VALUE: u8 = 0;
/// An argument that is another task's key.
const ARG_KEY: u8 = 1;
/// A literal integer, inline (zigzag varint).
const ARG_I64: u8 = 2;
/// A literal float, inline (8 bytes).
const ARG_F64: u8 = 3;

#[derive(Serialize)]
struct PackedRef<'a> {
    groups: Vec<&'static str>,
    #[serde(with = "serde_bytes_compat")]
    bytes: Vec<u8>,
    values: Vec<&'a Value>,
}

#[derive(Deserialize)]
struct Packed<'a> {
    #[serde(borrow)]
    groups: Vec<Cow<'a, str>>,
    #[serde(with = "serde_bytes_compat")]
    bytes: Vec<u8>,
    values: Vec<Value>,
}

/// Writes `tasks` packed.
pub fn serialize<S: Serializer>(tasks: &[SubmitTask], serializer: S) -> Result<S::Ok, S::Error> {
    let mut writer = Writer::default();
    let mut values = Vec::new();
    writer.varint(tasks.len() as u64);
    for task in tasks {
        writer.key(&task.key);
        writer.varint(task.op as u64);
        writer.varint(task.order);
        writer.varint(task.retries as u64);
        writer.varint(task.args.len() as u64);
        for arg in &task.args {
            match arg {
                SubmitArg::Value(Value::I64(i)) => {
                    writer.bytes.push(ARG_I64);
                    writer.varint(((i << 1) ^ (i >> 63)) as u64);
                }
                SubmitArg::Value(Value::F64(f)) => {
                    writer.bytes.push(ARG_F64);
                    writer.bytes.extend_from_slice(&f.to_le_bytes());
                }
                SubmitArg::Value(v) => {
                    writer.bytes.push(ARG_VALUE);
                    values.push(v);
                }
                SubmitArg::Key(k) => {
                    writer.bytes.push(ARG_KEY);
                    writer.key(k);
                }
            }
        }
    }
    let groups = writer.groups.iter().map(Group::as_str).collect();
    PackedRef { groups, bytes: writer.bytes, values }.serialize(serializer)
}

/// Reads tasks written by [`serialize`].
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<SubmitTask>, D::Error> {
    let packed = Packed::deserialize(deserializer)?;
    unpack(packed).map_err(D::Error::custom)
}

fn unpack(packed: Packed<'_>) -> Result<Vec<SubmitTask>, String> {
    let groups = packed.groups.iter().map(|g| Group::from_wire(g)).collect::<Result<Vec<_>, _>>()?;
    let mut reader = Reader { bytes: &packed.bytes, at: 0, groups: &groups };
    let mut values = packed.values.into_iter();
    let count = reader.varint().map_err(|e| format!("submitted tasks: {e}"))?;
    // Every task takes at least 12 bytes: no count can reserve more than the bytes allow.
    let mut tasks = Vec::with_capacity((count as usize).min(packed.bytes.len() / 13));
    for i in 0..count {
        let task = (|| -> Result<SubmitTask, String> {
            let key = reader.key()?;
            let op = u32::try_from(reader.varint()?).map_err(|_| "an op number beyond u32".to_string())?;
            let order = reader.varint()?;
            let retries = u32::try_from(reader.varint()?).map_err(|_| "retries beyond u32".to_string())?;
            let nargs = reader.varint()?;
            if nargs > reader.left() as u64 {
                return Err(format!("{nargs} arguments in {} bytes", reader.left()));
            }
            let mut args = Vec::with_capacity(nargs as usize);
            for _ in 0..nargs {
                args.push(match reader.byte()? {
                    ARG_VALUE => SubmitArg::Value(values.next().ok_or("more literal arguments than values")?),
                    ARG_KEY => SubmitArg::Key(reader.key()?),
                    ARG_I64 => {
                        let z = reader.varint()?;
                        SubmitArg::Value(Value::I64((z >> 1) as i64 ^ -((z & 1) as i64)))
                    }
                    ARG_F64 => SubmitArg::Value(Value::F64(f64::from_le_bytes(reader.fixed()?))),
                    tag => return Err(format!("unknown argument tag {tag}")),
                });
            }
            Ok(SubmitTask { key, op, args, order, retries })
        })()
        .map_err(|e| format!("submitted task {i}: {e}"))?;
        tasks.push(task);
    }
    if reader.left() > 0 {
        return Err(format!("{} bytes after the last submitted task", reader.left()));
    }
    if values.next().is_some() {
        return Err("more values than literal arguments".into());
    }
    Ok(tasks)
}

#[derive(Default)]
struct Writer {
    bytes: Vec<u8>,
    groups: Vec<Group>,
    group_ids: FxHashMap<Group, u32>,
}

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.bytes.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.bytes.push(v as u8);
    }

    fn key(&mut self, key: &Key) {
        let next = self.groups.len() as u32;
        let id = *self.group_ids.entry(key.group()).or_insert(next);
        if id == next {
            self.groups.push(key.group());
        }
        self.varint(id as u64);
        self.bytes.extend_from_slice(&key.token().0.to_le_bytes());
        let index = key.index();
        self.varint(index.len() as u64);
        for &i in index {
            self.varint(i as u64);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    groups: &'a [Group],
}

impl Reader<'_> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.at).ok_or("truncated")?;
        self.at += 1;
        Ok(b)
    }

    fn fixed(&mut self) -> Result<[u8; 8], String> {
        let bytes = self.bytes.get(self.at..self.at + 8).ok_or("truncated")?;
        self.at += 8;
        Ok(bytes.try_into().expect("8 bytes"))
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("a varint longer than 64 bits".into())
    }

    fn key(&mut self) -> Result<Key, String> {
        let id = self.varint()?;
        let group = *self
            .groups
            .get(id as usize)
            .ok_or_else(|| format!("group {id} of a key is beyond the {} named", self.groups.len()))?;
        let token = Token(u64::from_le_bytes(self.fixed()?));
        let len = self.varint()?;
        if len > rask_graph::MAX_WIRE_INDEX_LEN as u64 {
            return Err(format!("a key's index exceeds {} entries", rask_graph::MAX_WIRE_INDEX_LEN));
        }
        let mut index = [0u32; rask_graph::MAX_WIRE_INDEX_LEN];
        for slot in &mut index[..len as usize] {
            *slot = u32::try_from(self.varint()?).map_err(|_| "a block index beyond u32".to_string())?;
        }
        Key::from_wire(group, token, &index[..len as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Submission, ToScheduler, encode_message, read_message};

    fn round_trip(message: &ToScheduler) -> Result<ToScheduler, crate::wire::WireError> {
        let mut bytes = Vec::new();
        encode_message(message, u64::MAX).unwrap().write_to(&mut bytes).unwrap();
        read_message(&mut &bytes[..], u64::MAX)
    }

    #[test]
    fn tasks_round_trip_with_their_keys_values_and_order() {
        let (a, b) = (Group::new("packed-a"), Group::new("packed-b"));
        let long = Key::new(b, Token(u64::MAX), &[1, 2, 3, 4, 5, 300_000]);
        let tasks = vec![
            SubmitTask { key: Key::single(a, Token(1)), op: 0, args: vec![], order: 0, retries: 3 },
            SubmitTask {
                key: Key::new(a, Token(2), &[7, 1 << 31]),
                op: 70_000,
                args: vec![
                    SubmitArg::Key(Key::single(a, Token(1))),
                    SubmitArg::Value(Value::I64(-5)),
                    SubmitArg::Value(Value::I64(i64::MIN)),
                    SubmitArg::Value(Value::Str("literal".into())),
                    SubmitArg::Key(long),
                    SubmitArg::Value(Value::Bytes(vec![1u8; 100_000].into())),
                ],
                order: u64::MAX,
                retries: u32::MAX,
            },
            SubmitTask { key: long, op: 1, args: vec![SubmitArg::Value(Value::F64(0.5))], order: 9, retries: 0 },
        ];
        let expected = format!("{tasks:?}");
        let message = ToScheduler::Submit(Submission {
            run: 3,
            ops: vec![],
            tasks,
            wanted: vec![],
            held: vec![],
            placement: Default::default(),
        });
        let ToScheduler::Submit(back) = round_trip(&message).unwrap() else { panic!() };
        assert_eq!(format!("{:?}", back.tasks), expected);
        assert_eq!(back.run, 3);
    }

    #[test]
    fn malformed_packed_tasks_are_errors_naming_the_task() {
        let g = Group::new("packed-bad");
        let good = vec![
            SubmitTask { key: Key::single(g, Token(1)), op: 0, args: vec![], order: 0, retries: 0 },
            SubmitTask {
                key: Key::single(g, Token(2)),
                op: 0,
                args: vec![SubmitArg::Value(Value::Unit)],
                order: 1,
                retries: 0,
            },
        ];
        // Packed as the wire packs them, then damaged.
        let mut bytes = Vec::new();
        serialize(&good, &mut rmp_serde::Serializer::new(&mut bytes)).unwrap();
        let values = vec![Value::Unit];
        let packed: Packed<'_> = rmp_serde::from_slice(&bytes).unwrap();
        let (groups, raw) = (packed.groups.clone(), packed.bytes.clone());
        let attempt = |groups: Vec<Cow<'static, str>>, raw: Vec<u8>, values: Vec<Value>| {
            unpack(Packed { groups, bytes: raw, values }).map(|t| t.len())
        };
        let owned = |g: &[Cow<'_, str>]| g.iter().map(|s| Cow::Owned(s.to_string())).collect::<Vec<_>>();
        assert_eq!(attempt(owned(&groups), raw.clone(), values.clone()), Ok(2));
        // Truncated inside the second task.
        let e = attempt(owned(&groups), raw[..raw.len() - 2].to_vec(), values.clone()).unwrap_err();
        assert!(e.contains("submitted task 1") && e.contains("truncated"), "{e}");
        // A group beyond the table.
        let e = attempt(vec![], raw.clone(), values.clone()).unwrap_err();
        assert!(e.contains("submitted task 0") && e.contains("beyond the 0 named"), "{e}");
        // Trailing bytes, a value too few or too many, a bad tag.
        let mut longer = raw.clone();
        longer.push(0);
        assert!(attempt(owned(&groups), longer, values.clone()).unwrap_err().contains("after the last"));
        assert!(attempt(owned(&groups), raw.clone(), vec![]).unwrap_err().contains("more literal arguments"));
        let two = vec![Value::I64(1), Value::I64(2)];
        assert!(attempt(owned(&groups), raw.clone(), two).unwrap_err().contains("more values"));
        let mut tagged = raw.clone();
        let at = tagged.len() - 1;
        tagged[at] = 9;
        assert!(attempt(owned(&groups), tagged, values.clone()).unwrap_err().contains("unknown argument tag 9"));
        // A count that lies reserves nothing beyond the bytes.
        let e = attempt(owned(&groups), vec![0xff, 0xff, 0xff, 0xff, 0x0f], vec![]).unwrap_err();
        assert!(e.contains("submitted task 0"), "{e}");
        // An empty group name is refused as keys read from elsewhere are.
        let e = attempt(vec![Cow::Borrowed("")], raw, values).unwrap_err();
        assert!(e.contains("empty"), "{e}");
    }
}

//! Hostile and broken frames are errors for their connection, never panics, and never
//! cost memory that did not arrive.

use std::sync::Arc;

use arrow_array::{Int32Array, RecordBatch};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use rask_graph::ops::Inc;
use rask_graph::{ArrayChunk, Batch, Group, Key, Op, Token, Value, oob};
use rask_scheduler::wire::{
    EncodedOp, FromWorker, MAX_FRAME_BYTES, MAX_HEADER_BYTES, TaskMsg, ToWorker, WireArg, WireError,
};

use super::alloc::peak_bytes;
use super::{frame_of, read};

/// A frame laid out by hand: header, then buffers of (kind, bytes).
fn raw_frame(header: &[u8], buffers: &[(u8, &[u8])]) -> Vec<u8> {
    let pad = |n: usize| (8 - n % 8) % 8;
    let mut body = Vec::new();
    body.extend_from_slice(&(buffers.len() as u32).to_le_bytes());
    body.extend_from_slice(&(header.len() as u32).to_le_bytes());
    body.extend_from_slice(header);
    for (kind, bytes) in buffers {
        body.push(*kind);
        body.extend_from_slice(&[0; 7]);
        body.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    }
    body.resize(body.len() + pad(body.len()), 0);
    for (_, bytes) in buffers {
        body.extend_from_slice(bytes);
        body.resize(body.len() + pad(body.len()), 0);
    }
    let mut frame = (body.len() as u64).to_le_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

/// The header of `value` inside a frame, with its placeholders.
fn header_of(value: &Value) -> Vec<u8> {
    oob::collect_buffers(|| rmp_serde::to_vec(value).unwrap()).0
}

fn f64_block(n: usize) -> Value {
    Value::Array(ArrayChunk::F64(Arc::new(ArrayD::from_shape_fn(IxDyn(&[n]), |i| i[0] as f64))))
}

fn f64_bytes(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| (i as f64).to_le_bytes()).collect()
}

fn malformed(frame: &[u8]) -> String {
    match read::<Value>(frame) {
        Err(WireError::Malformed(why)) => why,
        other => panic!("expected a malformed frame, got {other:?}"),
    }
}

#[test]
fn the_hand_made_layout_is_the_real_one() {
    let frame = raw_frame(&header_of(&f64_block(1000)), &[(4, &f64_bytes(1000))]);
    assert_eq!(frame, frame_of(&f64_block(1000)));
    assert_eq!(read::<Value>(&frame).unwrap(), f64_block(1000));
}

#[test]
fn lengths_that_lie_are_refused() {
    let mut frame = frame_of(&f64_block(1000));
    frame[..8].copy_from_slice(&(MAX_FRAME_BYTES + 1).to_le_bytes());
    assert!(matches!(read::<Value>(&frame), Err(WireError::Oversized { .. })));

    // A header over the header limit is refused whatever the frame's length.
    let mut frame = frame_of(&f64_block(1000));
    frame[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(read::<Value>(&frame), Err(WireError::Oversized { max: MAX_HEADER_BYTES, .. })));

    let mut frame = frame_of(&f64_block(1000));
    frame[12..16].copy_from_slice(&1_000_000u32.to_le_bytes());
    assert!(malformed(&frame).contains("do not fit"));

    let mut frame = frame_of(&f64_block(1000));
    frame[8..12].copy_from_slice(&1_000_000u32.to_le_bytes());
    assert!(malformed(&frame).contains("do not fit"));

    let header = header_of(&f64_block(1000));
    let mut frame = raw_frame(&header, &[(4, &f64_bytes(1000))]);
    let len_at = 16 + header.len() + 8;
    frame[len_at..len_at + 8].copy_from_slice(&(u64::MAX - 3).to_le_bytes());
    assert!(malformed(&frame).contains("overruns"));

    let mut frame = frame_of(&f64_block(1000));
    let body = u64::from_le_bytes(frame[..8].try_into().unwrap());
    frame[..8].copy_from_slice(&(body + 8).to_le_bytes());
    frame.extend_from_slice(&[0; 8]);
    assert!(malformed(&frame).contains("add up"));
}

#[test]
fn placeholders_that_lie_are_refused() {
    let header = header_of(&f64_block(1000));
    let why = malformed(&raw_frame(&header, &[]));
    assert!(why.contains("names buffer 0, but the frame has 0"), "{why}");

    let why = malformed(&raw_frame(&header, &[(4, &f64_bytes(999))]));
    assert!(why.contains("has 1000 elements, buffer 0 holds 999"), "{why}");

    let why = malformed(&raw_frame(&header, &[(2, &f64_bytes(1000))]));
    assert!(why.contains("kind I64"), "{why}");

    let why = malformed(&raw_frame(&header, &[(4, &f64_bytes(1000)), (4, &f64_bytes(1))]));
    assert!(why.contains("1 of 2 buffers are not used"), "{why}");

    let why = malformed(&raw_frame(&header, &[(9, &f64_bytes(1000))]));
    assert!(why.contains("unknown kind 9"), "{why}");

    let why = malformed(&raw_frame(&header, &[(4, &f64_bytes(1000)[..7999])]));
    assert!(why.contains("not a whole number"), "{why}");

    let two = Value::List(vec![f64_block(1000), f64_block(1000)].into());
    let mut twice = header_of(&two);
    let last = twice.len() - 1;
    assert_eq!(twice[last], 1, "the second placeholder's index");
    twice[last] = 0;
    let why = malformed(&raw_frame(&twice, &[(4, &f64_bytes(1000)), (4, &f64_bytes(1000))]));
    assert!(why.contains("named by two placeholders"), "{why}");

    let bools = Value::Array(ArrayChunk::Bool(Arc::new(ArrayD::from_elem(IxDyn(&[5000]), true))));
    let mut bytes = vec![1u8; 5000];
    bytes[4321] = 2;
    let why = malformed(&raw_frame(&header_of(&bools), &[(0, &bytes)]));
    assert!(why.contains("byte 4321"), "{why}");

    let batch = Value::Batch(Batch::new(
        RecordBatch::try_from_iter([("x", Arc::new(Int32Array::from_iter_values(0..5000)) as _)]).unwrap(),
    ));
    let (header, buffers) = oob::collect_buffers(|| rmp_serde::to_vec(&batch).unwrap());
    let ipc = buffers[0].to_vec();
    assert!(!malformed(&raw_frame(&header, &[(6, &ipc[..ipc.len() / 2])])).is_empty());
    assert!(malformed(&raw_frame(&header, &[(5, &ipc)])).contains("kind Bytes"));
}

#[test]
fn inline_arrays_that_lie_are_refused() {
    // (dtype f64, shape [4], C order, 8 inline bytes)
    let mut header = vec![0x94, 4, 0x91, 4, 0xc2, 0xc4, 8];
    header.extend_from_slice(&[0; 8]);
    let why = malformed(&raw_frame(&[&[0x81, 0xa5][..], b"Array", &header].concat(), &[]));
    assert!(why.contains("needs 32 bytes, got 8"), "{why}");
    // shape [2^40, 2^40]
    let mut huge = vec![0x94, 4, 0x92];
    huge.extend_from_slice(&[0xcf, 0, 0, 1, 0, 0, 0, 0, 0, 0xcf, 0, 0, 1, 0, 0, 0, 0, 0, 0xc2, 0]);
    let why = malformed(&raw_frame(&[&[0x81, 0xa5][..], b"Array", &huge].concat(), &[]));
    assert!(why.contains("too large"), "{why}");
    let mut dtype = header.clone();
    dtype[1] = 17;
    let why = malformed(&raw_frame(&[&[0x81, 0xa5][..], b"Array", &dtype].concat(), &[]));
    assert!(why.contains("unknown dtype code 17"), "{why}");
}

#[test]
fn unknown_ops_are_named() {
    let unknown = rmp_serde::to_vec(&std::collections::BTreeMap::from([("no_such_op", ())])).unwrap();
    let err = EncodedOp(unknown.clone()).decode().unwrap_err();
    assert!(err.to_string().contains("no_such_op"), "{err}");
    let frame = raw_frame(&unknown, &[]);
    match read::<Box<dyn Op>>(&frame) {
        Err(WireError::Malformed(why)) => assert!(why.contains("no_such_op"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn deep_nesting_is_refused_without_exhausting_the_stack() {
    let mut header = Vec::new();
    for _ in 0..100_000 {
        header.extend_from_slice(&[0x81, 0xa4]);
        header.extend_from_slice(b"List");
        header.push(0x91);
    }
    header.push(0xc0);
    let frame = raw_frame(&header, &[]);
    let reader = std::thread::Builder::new().stack_size(1 << 20).spawn(move || read::<Value>(&frame)).unwrap();
    assert!(matches!(reader.join().unwrap(), Err(WireError::Malformed(_))));
}

/// A valid frame with inline and out-of-band values of every kind.
fn rich_frame() -> Vec<u8> {
    let batch = Value::Batch(Batch::new(
        RecordBatch::try_from_iter([("x", Arc::new(Int32Array::from_iter_values(0..1200)) as _)]).unwrap(),
    ));
    let key = Key::new(Group::new("inc"), Token(1), &[0]);
    frame_of(&ToWorker::Compute {
        ops: vec![EncodedOp::encode(&Inc).unwrap()],
        tasks: vec![TaskMsg {
            key,
            op: 0,
            args: vec![
                WireArg::Value(f64_block(700)),
                WireArg::Value(f64_block(3)),
                WireArg::Value(batch),
                WireArg::Value(Value::Bytes(vec![7u8; 5000].into())),
                WireArg::Held(key),
            ],
            priority: 3.into(),
        }],
    })
}

#[test]
fn a_frame_cut_anywhere_is_an_error() {
    let frame = rich_frame();
    assert!(read::<ToWorker>(&frame).is_ok());
    assert!(matches!(read::<ToWorker>(&[]), Err(WireError::Closed)));
    for cut in 1..frame.len() {
        match read::<ToWorker>(&frame[..cut]) {
            Err(WireError::Truncated { .. } | WireError::Malformed(_)) => {}
            other => panic!("cut at {cut} of {}: {other:?}", frame.len()),
        }
    }
}

/// This process's resident memory in bytes.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4096
}

#[test]
fn claimed_lengths_cost_no_memory_beyond_what_arrived() {
    // A frame claiming a 1 GiB f64 block, of which 1000 bytes arrive. The decoder reserves
    // the claimed buffer's address space at once (the system backs it only as bytes are
    // written), so the memory it holds stays that of the bytes that came.
    let n: u32 = 1 << 27;
    let header = [&[0x81, 0xa5][..], b"Array", &[0x94, 4, 0x91, 0xce], &n.to_be_bytes(), &[0xc2, 0]].concat();
    let claimed = 8 * n as u64;
    let mut body = Vec::new();
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(&(header.len() as u32).to_le_bytes());
    body.extend_from_slice(&header);
    body.extend_from_slice(&[4, 0, 0, 0, 0, 0, 0, 0]);
    body.extend_from_slice(&claimed.to_le_bytes());
    body.resize(body.len() + (8 - body.len() % 8) % 8, 0);
    let mut frame = (body.len() as u64 + claimed).to_le_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame.extend_from_slice(&[0; 1000]);
    let before = resident();
    let result = read::<Value>(&frame);
    let grown = resident().saturating_sub(before);
    assert!(matches!(result, Err(WireError::Truncated { .. })), "{result:?}");
    assert!(grown < 64 << 20, "{grown} resident bytes for a {}-byte input", frame.len());

    // A header claiming 2^32 - 1 tasks.
    let tasks = [&[0x81, 0xa7][..], b"Compute", &[0x92, 0x90, 0xdd, 0xff, 0xff, 0xff, 0xff]].concat();
    let (result, peak) = peak_bytes(|| read::<ToWorker>(&raw_frame(&tasks, &[])));
    assert!(matches!(result, Err(WireError::Malformed(_))), "{result:?}");
    assert!(peak < 4 << 20, "{peak} bytes");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic_nor_allocate_beyond_their_size(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let (_, peak) = peak_bytes(|| read::<ToWorker>(&bytes).map(|_| ()));
        prop_assert!(peak <= 64 * bytes.len() + (4 << 20), "{} bytes for {} input bytes", peak, bytes.len());
    }

    #[test]
    fn random_bodies_behind_a_true_length_never_panic(body in proptest::collection::vec(any::<u8>(), 16..600)) {
        let mut frame = (body.len() as u64).to_le_bytes().to_vec();
        frame.extend_from_slice(&body);
        let (_, peak) = peak_bytes(|| read::<FromWorker>(&frame).map(|_| ()));
        prop_assert!(peak <= 64 * frame.len() + (4 << 20), "{} bytes for {} input bytes", peak, frame.len());
    }

    #[test]
    fn mutated_valid_frames_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut frame = rich_frame();
        for (at, byte) in flips {
            let at = at.index(frame.len());
            frame[at] = byte;
        }
        let (_, peak) = peak_bytes(|| read::<ToWorker>(&frame).map(|_| ()));
        prop_assert!(peak <= 64 * frame.len() + (4 << 20), "{} bytes for {} input bytes", peak, frame.len());
    }
}

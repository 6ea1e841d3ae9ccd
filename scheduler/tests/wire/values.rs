//! Every value variant survives a frame, in every memory layout, inline and out of band.

use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use ndarray::{ArrayD, IxDyn, ShapeBuilder, s};
use rask_graph::ops::Inc;
use rask_graph::{ArrayChunk, Batch, Element, Group, Key, Token, Value, oob};
use rask_scheduler::wire::{
    Address, Connection, EncodedOp, FromWorker, Listener, Lookup, MAX_FRAME_BYTES, PeerReply, TaskMsg, ToWorker,
    WireArg, WireError, read_message, read_message_uninit, write_message,
};

use super::{frame_of, read, round_trip};

/// Blocks of `T` in every layout: 0-d, empty, C order, Fortran order, transposed,
/// sliced with steps and reversed; small (inline) and large (out of band).
fn layouts<T: Element>(from: impl Fn(usize) -> T) -> Vec<(&'static str, ArrayD<T>)> {
    let c = |shape: &[usize]| {
        let n = shape.iter().product();
        ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(&from).collect()).unwrap()
    };
    let fortran = |shape: &[usize]| {
        let n = shape.iter().product();
        ArrayD::from_shape_vec(IxDyn(shape).f(), (0..n).map(&from).collect()).unwrap()
    };
    vec![
        ("0-d", ArrayD::from_elem(IxDyn(&[]), from(7))),
        ("empty", c(&[0, 3])),
        ("empty large axis", c(&[5000, 0])),
        ("small C", c(&[2, 3])),
        ("large C", c(&[64, 40])),
        ("small Fortran", fortran(&[3, 2])),
        ("large Fortran", fortran(&[40, 64, 2])),
        ("transposed", c(&[50, 30]).reversed_axes()),
        ("permuted", c(&[8, 30, 10]).permuted_axes(vec![1, 0, 2])),
        ("sliced", c(&[100, 60]).slice_move(s![..;3, 5..]).into_dyn()),
        ("reversed", c(&[2000]).slice_move(s![..;-1]).into_dyn()),
        ("offset rows", c(&[100, 60]).slice_move(s![10.., ..]).into_dyn()),
    ]
}

fn check_layouts<T: Element>(from: impl Fn(usize) -> T) {
    for (name, block) in layouts(from) {
        let value = Value::Array(T::wrap(Arc::new(block.clone())));
        let back = round_trip(&value);
        assert_eq!(back, value, "{} {name}", T::DTYPE);
        let Value::Array(chunk) = back else { panic!("{name}: not an array") };
        let back = T::unwrap(&chunk).unwrap();
        assert_eq!(back.shape(), block.shape(), "{} {name}", T::DTYPE);
        if block.t().is_standard_layout() && !block.is_standard_layout() {
            assert!(back.t().is_standard_layout(), "{name}: a Fortran-order block stays Fortran order");
        }
    }
}

#[test]
fn arrays_of_every_dtype_and_layout_round_trip() {
    check_layouts(|i| i % 3 == 0);
    check_layouts(|i| i as i32 - 1000);
    check_layouts(|i| -(i as i64) * 1_000_000_007);
    check_layouts(|i| i as f32 * 0.5 - 3.0);
    check_layouts(|i| (i as f64).sqrt() - 1e300 * (i % 2) as f64);
}

#[test]
fn large_blocks_travel_as_raw_buffers_after_a_small_header() {
    let block = ArrayD::<f64>::from_shape_fn(IxDyn(&[1000, 100]), |i| i[0] as f64 + i[1] as f64 * 1e-3);
    let value = Value::Array(ArrayChunk::F64(Arc::new(block)));
    let frame = frame_of(&value);
    let payload = 1000 * 100 * 8;
    assert!(frame.len() >= payload && frame.len() < payload + 128, "frame of {} bytes", frame.len());
    assert_eq!(read::<Value>(&frame).unwrap(), value);
    // The same value outside a frame keeps the plain serde form and still round-trips.
    let plain = rmp_serde::to_vec(&value).unwrap();
    assert_eq!(rmp_serde::from_slice::<Value>(&plain).unwrap(), value);
    let (_, buffers) = oob::collect_buffers(|| rmp_serde::to_vec(&value).unwrap());
    assert_eq!(buffers.len(), 1);
}

#[test]
fn scalars_strings_and_bytes_round_trip() {
    let big: Arc<[u8]> = (0..100_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>().into();
    for value in [
        Value::Unit,
        Value::Bool(true),
        Value::I64(i64::MIN),
        Value::F64(-0.25),
        Value::F64(f64::INFINITY),
        Value::Str("".into()),
        Value::Str("é ✓".into()),
        Value::Bytes(Arc::from(&[][..])),
        Value::Bytes(Arc::from(&[0u8, 1, 255][..])),
        Value::Bytes(big),
    ] {
        assert_eq!(round_trip(&value), value);
    }
}

fn batch(rows: usize) -> Batch {
    let x: Float64Array = (0..rows).map(|i| (i % 7 != 0).then_some(i as f64 * 0.5)).collect();
    let n: Int64Array = (0..rows).map(|i| (i % 5 != 0).then_some(i as i64)).collect();
    let s: StringArray = (0..rows).map(|i| (i % 3 != 0).then(|| format!("row {i} é"))).collect();
    Batch::new(
        RecordBatch::try_from_iter([("x", Arc::new(x) as _), ("n", Arc::new(n) as _), ("s", Arc::new(s) as _)])
            .unwrap(),
    )
}

#[test]
fn record_batches_with_nulls_and_strings_round_trip() {
    for rows in [0, 3, 10_000] {
        let value = Value::Batch(batch(rows));
        assert_eq!(round_trip(&value), value, "{rows} rows");
    }
}

#[test]
fn nested_lists_of_arrays_round_trip() {
    let block = |n: usize| Value::Array(ArrayChunk::I64(Arc::new(ArrayD::from_shape_fn(IxDyn(&[n]), |i| i[0] as i64))));
    let inner = Value::List(vec![block(3), block(2000), Value::Str("x".into())].into());
    let value =
        Value::List(vec![inner.clone(), Value::List(vec![inner, block(5000)].into()), Value::Batch(batch(600))].into());
    assert_eq!(round_trip(&value), value);
}

#[test]
fn an_opaque_value_cannot_be_sent() {
    let err = write_message(&mut Vec::new(), &Value::opaque(3u8)).unwrap_err();
    assert!(matches!(err, WireError::Encode(_)), "{err}");
}

fn key(i: u32) -> Key {
    Key::new(Group::new("inc"), Token(42), &[i])
}

#[test]
fn compute_batches_with_ops_and_every_argument_kind_round_trip() {
    let from: Address = "tcp://127.0.0.1:9".parse().unwrap();
    let block = Value::Array(ArrayChunk::F32(Arc::new(ArrayD::from_elem(IxDyn(&[50, 50]), 1.5f32))));
    let message = ToWorker::Compute {
        ops: vec![EncodedOp::encode(&Inc).unwrap()],
        tasks: vec![
            TaskMsg { key: key(0), op: 0, args: vec![WireArg::Value(Value::I64(1))], priority: 0.into() },
            TaskMsg {
                key: key(1),
                op: 0,
                args: vec![
                    WireArg::Held(key(0)),
                    WireArg::Remote { key: key(7), from: from.clone() },
                    WireArg::Value(block.clone()),
                ],
                priority: 1.into(),
            },
        ],
    };
    let ToWorker::Compute { ops, tasks } = round_trip(&message) else { panic!("not a Compute") };
    assert_eq!(ops[0].decode().unwrap().name(), "inc");
    assert_eq!(tasks.len(), 2);
    assert_eq!((tasks[1].key, tasks[1].op, tasks[1].priority), (key(1), 0, 1.into()));
    assert!(matches!(&tasks[0].args[..], [WireArg::Value(Value::I64(1))]));
    match &tasks[1].args[..] {
        [WireArg::Held(k), WireArg::Remote { key: r, from: f }, WireArg::Value(v)] => {
            assert_eq!((k, r, f, v), (&key(0), &key(7), &from, &block));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn gathered_values_round_trip() {
    let big = Value::Array(ArrayChunk::Bool(Arc::new(ArrayD::from_shape_fn(IxDyn(&[9000]), |i| i[0] % 2 == 0))));
    let values = vec![
        (key(0), Lookup::Found(big.clone())),
        (key(1), Lookup::Missing),
        (key(2), Lookup::Found(Value::Batch(batch(700)))),
        (key(3), Lookup::Refused("too large".into())),
    ];
    let FromWorker::Values(back) = round_trip(&FromWorker::Values(values.clone())) else { panic!() };
    assert_eq!(back, values);
    let PeerReply::Values(back) = round_trip(&PeerReply::Values(values.clone())) else { panic!() };
    assert_eq!(back, values);
}

/// A 30 MB block and a batch over a real socket pair, written and read by two threads.
fn over(address: &str) {
    let listener = Listener::bind(&address.parse().unwrap()).unwrap();
    let address = listener.address().clone();
    let block = Value::Array(ArrayChunk::F64(Arc::new(
        ArrayD::from_shape_fn(IxDyn(&[2000, 1875]), |i| (i[0] * 3 + i[1]) as f64).reversed_axes(),
    )));
    // A batch sent as its columns' own buffers: 700 string columns with nulls are more
    // pieces than one vectored write takes (IOV_MAX, 1024), and a slice starts mid-buffer.
    let wide: Vec<(String, arrow_array::ArrayRef)> = (0..700)
        .map(|c| {
            let column: StringArray = (0..300).map(|i| ((i + c) % 4 != 0).then(|| format!("{c}:{i}"))).collect();
            (format!("c{c}"), Arc::new(column) as arrow_array::ArrayRef)
        })
        .collect();
    let wide = RecordBatch::try_from_iter(wide).unwrap().slice(17, 250);
    let sliced = batch(50_000).0.slice(1234, 30_000);
    let message = FromWorker::Values(vec![
        (key(0), Lookup::Found(block)),
        (key(1), Lookup::Found(Value::Batch(batch(50_000)))),
        (key(2), Lookup::Found(Value::Batch(Batch::new(wide)))),
        (key(3), Lookup::Found(Value::Batch(Batch::new(sliced)))),
    ]);
    let expected = match &message {
        FromWorker::Values(v) => v.clone(),
        _ => unreachable!(),
    };
    let sender = std::thread::spawn(move || {
        let mut conn = Connection::connect(&address).unwrap();
        for _ in 0..2 {
            write_message(&mut conn, &message).unwrap();
        }
    });
    let mut conn = listener.accept().unwrap();
    for uninit in [false, true] {
        let back = if uninit {
            read_message_uninit(&mut conn, MAX_FRAME_BYTES)
        } else {
            read_message(&mut conn, MAX_FRAME_BYTES)
        };
        let FromWorker::Values(back) = back.unwrap() else { panic!() };
        assert_eq!(back, expected);
    }
    sender.join().unwrap();
    assert!(matches!(read_message::<_, FromWorker>(&mut conn, MAX_FRAME_BYTES), Err(WireError::Closed)));
}

#[test]
fn large_values_cross_tcp_sockets() {
    over("tcp://127.0.0.1:0");
}

#[test]
fn large_values_cross_unix_sockets() {
    let dir = std::env::temp_dir().join(format!("rask-wire-values-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    over(&format!("unix://{}", dir.join("values.sock").display()));
    let _ = std::fs::remove_dir_all(dir);
}

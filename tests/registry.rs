//! Guards typetag's link-time registration: a binary that only names `rask` must still
//! decode every built-in op (graph ops and collection ops) by its registered name (see DEPENDENCIES.md: registrations of
//! a crate the binary never names are dropped by the linker).

use std::sync::Arc;

use rask::array::{BlockProduct, MapBlock, ProductKind, TransposeBlock};
use rask::graph::{Args, DType, Element, Value, decode_op, encode_op, ops};

#[test]
fn built_in_ops_decode_by_name_in_a_downstream_binary() {
    let cases: Vec<(&str, Box<dyn rask::graph::Op>, Args)> = vec![
        ("rask.identity", Box::new(ops::Identity), rask::graph::args![Value::I64(1)]),
        ("rask.inc", Box::new(ops::Inc), rask::graph::args![Value::I64(1)]),
        ("rask.add", Box::new(ops::Add), rask::graph::args![Value::I64(1), Value::I64(2)]),
        ("rask.sum", Box::new(ops::Sum), rask::graph::args![Value::I64(1), Value::F64(2.5)]),
        ("rask.list", Box::new(ops::MakeList), rask::graph::args![Value::I64(1)]),
        (
            "rask.getitem",
            Box::new(ops::GetItem { index: 0 }),
            rask::graph::args![Value::List(vec![Value::I64(4)].into())],
        ),
        (
            "rask.array.transpose",
            Box::new(TransposeBlock { axes: vec![1, 0] }),
            rask::graph::args![Value::Array(i64::wrap(Arc::new(ndarray::array![[1i64, 2, 3]].into_dyn())))],
        ),
        (
            "rask.array.block_product",
            Box::new(BlockProduct { kind: ProductKind::Transposed { a: false, b: true } }),
            rask::graph::args![
                Value::Array(f64::wrap(Arc::new(ndarray::array![[1.0, 2.0]].into_dyn()))),
                Value::Array(f64::wrap(Arc::new(ndarray::array![[3.0, 4.0]].into_dyn())))
            ],
        ),
        (
            "rask.array.map_blocks",
            Box::new(MapBlock { op: Arc::new(ops::Identity), shape: vec![2], dtype: DType::F32 }),
            rask::graph::args![Value::Array(f32::wrap(Arc::new(ndarray::array![1.0f32, 2.0].into_dyn())))],
        ),
    ];
    for (name, op, args) in cases {
        let bytes = encode_op(op.as_ref()).unwrap();
        assert!(bytes.windows(name.len()).any(|w| w == name.as_bytes()), "{name} is the wire name");
        let back = decode_op(&bytes).unwrap_or_else(|e| panic!("{name} did not decode: {e}"));
        assert_eq!(back.call(args.clone()).unwrap(), op.call(args).unwrap(), "{name}");
    }
}

//! Guards typetag's link-time registration: a binary that only names `rask` must still
//! decode every built-in op (graph ops and collection ops) by its registered name (see DEPENDENCIES.md: registrations of
//! a crate the binary never names are dropped by the linker).

use std::sync::Arc;

use rask::array::{
    Assemble, BinaryFn, CombinePartials, Elementwise, Expr, Finish, FullBlock, Gather, Piece, ReduceBlock, Reducer,
    Run, Scan, ScanBlock, Span,
};
use rask::array::{BlockProduct, MapBlock, ProductKind, TransposeBlock};
use rask::graph::{Args, ArrayChunk, DType, Element, Value, decode_op, encode_op, ops};

/// A 1-d float64 block.
fn block(values: &[f64]) -> Value {
    Value::Array(ArrayChunk::F64(Arc::new(ndarray::Array1::from(values.to_vec()).into_dyn())))
}

/// Every built-in op with a well-formed call of it.
fn all_cases() -> Vec<(&'static str, Box<dyn rask::graph::Op>, Args)> {
    graph_and_array_cases()
        .into_iter()
        .chain(array_creation_cases())
        .chain(unknown_size_cases())
        .chain(dataframe_join_sort_cases())
        .chain(dataframe_agg_cases())
        .chain(dataframe_cumulative_cases())
        .chain(dataframe_io_cases())
        .collect()
}

#[test]
fn built_in_ops_decode_by_name_in_a_downstream_binary() {
    let _files = TEMP_FILES.lock().unwrap_or_else(|e| e.into_inner());
    for (name, op, args) in all_cases() {
        let bytes = encode_op(op.as_ref()).unwrap();
        assert!(bytes.windows(name.len()).any(|w| w == name.as_bytes()), "{name} is the wire name");
        let back = decode_op(&bytes).unwrap_or_else(|e| panic!("{name} did not decode: {e}"));
        assert_eq!(back.call(args.clone()).unwrap(), op.call(args).unwrap(), "{name}");
    }
    std::fs::remove_file(npy_path()).unwrap();
    std::fs::remove_dir_all(dataframe_dir()).unwrap();
}

/// The two tests share the temporary files of the I/O ops.
static TEMP_FILES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Arguments of the wrong kind, count or shape for most ops.
fn malformed_arguments() -> Vec<(&'static str, Args)> {
    use rask::graph::Batch;
    let batch = |name: &str, column: arrow::array::ArrayRef| {
        Value::Batch(Batch::new(arrow::array::RecordBatch::try_from_iter([(name, column)]).unwrap()))
    };
    let text = batch("s", Arc::new(arrow::array::StringArray::from(vec!["a", "b"])));
    let ints = batch("x", Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3])));
    let no_columns =
        Value::Batch(Batch::new(arrow::array::RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty()))));
    let matrix = Value::Array(ArrayChunk::I64(Arc::new(ndarray::ArrayD::zeros(vec![2, 3]))));
    let scalar = Value::Array(ArrayChunk::Bool(Arc::new(ndarray::arr0(true).into_dyn())));
    let empty = Value::Array(ArrayChunk::F32(Arc::new(ndarray::ArrayD::zeros(vec![0]))));
    vec![
        ("no arguments", Args::new()),
        ("unit", rask::graph::args![Value::Unit]),
        ("a string", rask::graph::args![Value::Str("x".into())]),
        ("an empty list", rask::graph::args![Value::List(Vec::new().into())]),
        ("a 1-d float64 block", rask::graph::args![block(&[1.0, 2.0, 3.0])]),
        ("a 2-d int64 block", rask::graph::args![matrix.clone()]),
        ("two 2-d int64 blocks", rask::graph::args![matrix.clone(), matrix]),
        ("a 0-d bool block", rask::graph::args![scalar]),
        ("an empty float32 block", rask::graph::args![empty]),
        ("a batch of text", rask::graph::args![text.clone()]),
        ("a batch of ints", rask::graph::args![ints.clone()]),
        ("a batch without columns", rask::graph::args![no_columns]),
        ("text and ints batches", rask::graph::args![text, ints]),
    ]
}

#[test]
fn malformed_arguments_are_errors_never_panics() {
    let _files = TEMP_FILES.lock().unwrap_or_else(|e| e.into_inner());
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut panics = Vec::new();
    for (name, op, good) in all_cases() {
        let mut calls = malformed_arguments();
        // The good call with one argument too many, and with each argument replaced.
        let mut extra = good.clone();
        extra.push(Value::Unit);
        calls.push(("one argument too many", extra));
        for i in 0..good.len() {
            let mut replaced = good.clone();
            replaced[i] = Value::I64(-1);
            calls.push(("one argument replaced by -1", replaced));
        }
        for (what, args) in calls {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op.call(args)));
            if let Err(payload) = outcome {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panics.push(format!("{name} given {what}: {message}"));
            }
        }
    }
    std::panic::set_hook(previous_hook);
    let _ = std::fs::remove_file(npy_path());
    let _ = std::fs::remove_dir_all(dataframe_dir());
    assert!(panics.is_empty(), "{} panics:\n{}", panics.len(), panics.join("\n"));
}

/// Graph ops and the array ops of computation.
fn graph_and_array_cases() -> Vec<(&'static str, Box<dyn rask::graph::Op>, Args)> {
    vec![
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
            "rask.array.assemble",
            Box::new(Assemble {
                shape: vec![2],
                pieces: vec![Piece { arg: 0, src: vec![Span::range(1, 3)], dst: vec![0] }],
                reshape: Some(vec![2, 1]),
            }),
            rask::graph::args![Value::Array(ArrayChunk::I64(Arc::new(ndarray::ArrayD::ones(vec![3]))))],
        ),
        (
            "rask.array.gather",
            Box::new(Gather {
                axis: 0,
                flatten: false,
                runs: vec![Run { arg: 0, span: Span { start: 0, end: 3, step: -2 } }],
            }),
            rask::graph::args![Value::Array(i64::wrap(Arc::new(ndarray::array![1i64, 2, 3].into_dyn())))],
        ),
        (
            "rask.array.full",
            Box::new(FullBlock { shape: vec![2, 2], fill: f64::wrap(Arc::new(ndarray::arr0(1.5).into_dyn())) }),
            Args::new(),
        ),
        (
            "rask.array.elementwise",
            Box::new(Elementwise {
                name: "add".into(),
                expr: Expr::Binary(BinaryFn::Add, Box::new(Expr::Input(0)), Box::new(Expr::Input(0))),
            }),
            rask::graph::args![Value::Array(f64::wrap(Arc::new(ndarray::array![1.0, 2.0].into_dyn())))],
        ),
        (
            "rask.array.reduce_block",
            Box::new(ReduceBlock { reducer: Reducer::Var, axes: vec![0] }),
            rask::graph::args![block(&[1.0, 2.0, 4.0])],
        ),
        (
            "rask.array.reduce_combine",
            Box::new(CombinePartials {
                reducer: Reducer::Sum,
                finish: Some(Finish { axes: vec![0], keepdims: false, ddof: 0, dtype: DType::F64 }),
            }),
            rask::graph::args![block(&[1.0]), block(&[2.0])],
        ),
        ("rask.array.scan", Box::new(ScanBlock { scan: Scan::Prod, axis: 0 }), rask::graph::args![block(&[2.0, 3.0])]),
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
    ]
}

/// The ops of array creation, random numbers, persist/from_delayed and `.npy` I/O (the
/// `.npy` ones in create, write, read order on one temporary file).
fn array_creation_cases() -> Vec<(&'static str, Box<dyn rask::graph::Op>, Args)> {
    use rask::array::{self, random};
    use rask::graph::{ArrayChunk, DType};
    use std::sync::Arc;
    let f64s = |values: &[f64]| ArrayChunk::F64(Arc::new(ndarray::arr1(values).into_dyn()));
    let scalar = |value: f64| ArrayChunk::F64(Arc::new(ndarray::arr0(value).into_dyn()));
    let path = npy_path();
    let layout =
        array::NpyLayout { data_start: 16, dtype: DType::F64, big_endian: false, fortran: false, shape: vec![3] };
    vec![
        (
            "rask.array.arange",
            Box::new(array::ArangeBlock { start: scalar(1.0), delta: scalar(0.5), offset: 2, len: 3 }),
            rask::graph::args![],
        ),
        (
            "rask.array.linspace",
            Box::new(array::LinspaceBlock { start: 0.0, stop: 1.0, num: 5, offset: 1, len: 4 }),
            rask::graph::args![],
        ),
        (
            "rask.array.eye",
            Box::new(array::EyeBlock { one: scalar(1.0), shape: [2, 3], start: [0, 1], k: 1 }),
            rask::graph::args![],
        ),
        (
            "rask.array.random",
            Box::new(random::RandomBlock {
                seed: 7,
                stream: 3,
                shape: vec![2, 2],
                distribution: random::Distribution::Normal { mean: 1.0, std: 2.0 },
            }),
            rask::graph::args![],
        ),
        (
            "rask.array.check_block",
            Box::new(array::CheckBlock { shape: vec![2], dtype: DType::F64 }),
            rask::graph::args![Value::Array(f64s(&[1.0, 2.0]))],
        ),
        (
            "rask.array.npy_create",
            Box::new(array::NpyCreate { path: path.clone(), header: vec![0x93; 16], size: 40 }),
            rask::graph::args![],
        ),
        (
            "rask.array.npy_write",
            Box::new(array::NpyWriteBlock { path: path.clone(), layout: layout.clone(), start: vec![1] }),
            rask::graph::args![Value::Unit, Value::Array(f64s(&[4.0, 5.0]))],
        ),
        (
            "rask.array.npy_read",
            Box::new(array::NpyReadBlock { path, layout, start: vec![0], shape: vec![3] }),
            rask::graph::args![],
        ),
    ]
}

/// The ops of lazy boolean masks and unknown chunk sizes.
fn unknown_size_cases() -> Vec<(&'static str, Box<dyn rask::graph::Op>, Args)> {
    use rask::array::{ArgBlock, ArgFound, BlockLength, ExtractBlock, RequireElements, SameShapes};
    let mask = Value::Array(bool::wrap(Arc::new(ndarray::array![true, false, true].into_dyn())));
    let add = Elementwise {
        name: "add".into(),
        expr: Expr::Binary(BinaryFn::Add, Box::new(Expr::Input(0)), Box::new(Expr::Input(1))),
    };
    vec![
        ("rask.array.extract", Box::new(ExtractBlock), rask::graph::args![block(&[1.0, 2.0, 3.0]), mask]),
        (
            "rask.array.same_shapes",
            Box::new(SameShapes { op: Arc::new(add) }),
            rask::graph::args![block(&[1.0, 2.0]), block(&[3.0, 4.0])],
        ),
        ("rask.array.block_length", Box::new(BlockLength { axis: 0 }), rask::graph::args![block(&[1.0, 2.0])]),
        (
            "rask.array.require_elements",
            Box::new(RequireElements { what: "max".into(), axes: vec![0], counts: vec![2] }),
            rask::graph::args![block(&[5.0]), Value::I64(0), Value::I64(1)],
        ),
        (
            "rask.array.arg_block",
            Box::new(ArgBlock { reducer: Reducer::ArgMin }),
            rask::graph::args![block(&[3.0, 1.0]), Value::I64(4)],
        ),
        (
            "rask.array.arg_found",
            Box::new(ArgFound { what: "argmin".into() }),
            rask::graph::args![Value::Array(i64::wrap(Arc::new(ndarray::arr0(5i64).into_dyn())))],
        ),
    ]
}

/// The ops of dataframe joins and sorts (named through rask-collections: the facade has
/// no dataframe module yet).
fn dataframe_join_sort_cases() -> Vec<(&'static str, Box<dyn rask::graph::Op>, Args)> {
    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use rask::graph::Batch;
    use rask_collections::dataframe::{
        How, Join, JoinPartitions, JoinPlan, RangeSplit, SortBoundaries, SortKeys, SortParts, SortSample,
    };
    let batch = |ids: Vec<Option<i64>>, name: &str| {
        let names = StringArray::from_iter_values(ids.iter().map(|i| format!("{name}{i:?}")));
        RecordBatch::try_from_iter([("id", Arc::new(Int64Array::from(ids)) as _), (name, Arc::new(names) as _)])
            .unwrap()
    };
    let (left, right) = (batch(vec![Some(3), None, Some(1)], "a"), batch(vec![Some(1), Some(2), None], "b"));
    let value = |b: &RecordBatch| Value::Batch(Batch::new(b.clone()));
    let plan = JoinPlan::new(&left.schema(), &right.schema(), &Join::on(["id"]).how(How::Outer)).unwrap();
    let keys = SortKeys { columns: vec!["id".into()], descending: vec![true], nulls_first: true };
    let boundaries = batch(vec![Some(2)], "a").project(&[0]).unwrap();
    let split = Value::List(vec![value(&left), value(&right)].into());
    vec![
        (
            "rask.dataframe.join",
            Box::new(JoinPartitions { left_args: 1, plan }),
            rask::graph::args![value(&left), value(&right)],
        ),
        (
            "rask.dataframe.sort_sample",
            Box::new(SortSample { keys: keys.clone(), size: 2 }),
            rask::graph::args![value(&left)],
        ),
        (
            "rask.dataframe.sort_boundaries",
            Box::new(SortBoundaries { keys: keys.clone(), parts: 2 }),
            rask::graph::args![Value::List(vec![value(&left.project(&[0]).unwrap()), Value::I64(3)].into())],
        ),
        (
            "rask.dataframe.range_split",
            Box::new(RangeSplit { keys: keys.clone(), parts: 2 }),
            rask::graph::args![value(&left), value(&boundaries)],
        ),
        (
            "rask.dataframe.sort_parts",
            Box::new(SortParts { keys, part: Some(1) }),
            rask::graph::args![split.clone(), split],
        ),
    ]
}

/// The ops of dataframe aggregations (groupby stages, value_counts, drop_duplicates,
/// describe).
fn dataframe_agg_cases() -> Vec<(&'static str, Box<dyn rask::graph::Op>, Args)> {
    use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use rask::graph::Batch;
    use rask_collections::dataframe::{
        AggPlan, ConcatSorted, DescribeFinish, DescribeObjects, DropDuplicates, GroupbyChunk, GroupbyCombine,
        ValueCountsFinish, col,
    };
    let k: ArrayRef = Arc::new(Int64Array::from(vec![Some(2), None, Some(1), Some(2)]));
    let x: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.5, 4.0, 8.0]));
    let batch = RecordBatch::try_from_iter([("k", k.clone()), ("x", x.clone())]).unwrap();
    let value = |b: &RecordBatch| Value::Batch(Batch::new(b.clone()));
    let aggs = vec![col("x").mean(), col("x").n_unique().alias("distinct"), col("x").std().alias("spread")];
    let plan = AggPlan::new(&batch.schema(), &["k".to_string()], aggs, false, true).unwrap();
    let chunk = GroupbyChunk { plan: plan.clone(), finish: false };
    let partial = rask::graph::Op::call(&chunk, rask::graph::args![value(&batch)]).unwrap();
    let counts =
        RecordBatch::try_from_iter([("k", k), ("count", Arc::new(Int64Array::from(vec![3, 1, 1, 2])) as ArrayRef)])
            .unwrap();
    let shares =
        Schema::new(vec![Field::new("k", DataType::Int64, true), Field::new("proportion", DataType::Float64, true)]);
    let described = RecordBatch::try_from_iter([("x", x)]).unwrap();
    let statistics =
        Schema::new(vec![Field::new("statistic", DataType::Utf8, false), Field::new("x", DataType::Float64, true)]);
    let words: ArrayRef = Arc::new(arrow::array::StringArray::from(vec![Some("a"), None, Some("b"), Some("a")]));
    let words = RecordBatch::try_from_iter([("w", words)]).unwrap();
    let text_statistics =
        Schema::new(vec![Field::new("statistic", DataType::Utf8, false), Field::new("w", DataType::Utf8, true)]);
    vec![
        ("rask.dataframe.groupby_chunk", Box::new(chunk), rask::graph::args![value(&batch)]),
        (
            "rask.dataframe.groupby_combine",
            Box::new(GroupbyCombine { plan, finish: true }),
            rask::graph::args![partial.clone(), partial],
        ),
        (
            "rask.dataframe.concat_sorted",
            Box::new(ConcatSorted { schema: batch.schema(), nkeys: 1 }),
            rask::graph::args![value(&batch), value(&batch)],
        ),
        (
            "rask.dataframe.drop_duplicates",
            Box::new(DropDuplicates { columns: vec!["k".into()], schema: batch.schema() }),
            rask::graph::args![value(&batch)],
        ),
        (
            "rask.dataframe.value_counts",
            Box::new(ValueCountsFinish { normalize: true, schema: Arc::new(shares) }),
            rask::graph::args![value(&counts)],
        ),
        (
            "rask.dataframe.describe",
            Box::new(DescribeFinish { schema: Arc::new(statistics) }),
            rask::graph::args![value(&described)],
        ),
        (
            "rask.dataframe.describe_objects",
            Box::new(DescribeObjects { schema: Arc::new(text_statistics) }),
            rask::graph::args![value(&words)],
        ),
    ]
}

/// The three stages of dataframe cumulative ops.
fn dataframe_cumulative_cases() -> Vec<(&'static str, Box<dyn rask::graph::Op>, Args)> {
    use arrow::array::{ArrayRef, Int64Array, RecordBatch};
    use rask::graph::Batch;
    use rask_collections::dataframe::{CumApply, CumCarry, CumKind, CumLocal};
    let v: ArrayRef = Arc::new(Int64Array::from(vec![Some(3), None, Some(4)]));
    let chunk = RecordBatch::try_from_iter([("v", v)]).unwrap();
    let carry = RecordBatch::try_from_iter([("v", Arc::new(Int64Array::from(vec![10])) as ArrayRef)]).unwrap();
    let value = |b: &RecordBatch| Value::Batch(Batch::new(b.clone()));
    vec![
        (
            "rask.dataframe.cumulative_chunk",
            Box::new(CumLocal { kind: CumKind::Sum, columns: vec![0], schema: chunk.schema() }),
            rask::graph::args![value(&chunk)],
        ),
        (
            "rask.dataframe.cumulative_carry",
            Box::new(CumCarry { kind: CumKind::Max, columns: vec![0] }),
            rask::graph::args![value(&carry), value(&chunk)],
        ),
        (
            "rask.dataframe.cumulative_apply",
            Box::new(CumApply { kind: CumKind::Prod, columns: vec![0] }),
            rask::graph::args![value(&chunk), value(&carry)],
        ),
    ]
}

/// The temporary file the `.npy` ops write and read.
fn npy_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("rask-registry-{}.npy", std::process::id()))
}

/// The dataframe I/O and partition ops (the writes first, then the reads of their files).
fn dataframe_io_cases() -> Vec<(&'static str, Box<dyn rask::graph::Op>, Args)> {
    use rask::graph::Batch;
    use rask_collections::dataframe::io::{ReadCsv, ReadParquet, ReadPlan, WriteCsv, WriteParquet};
    use rask_collections::dataframe::{ConcatSlices, RowCount, Slice, SplitPiece};
    let batch = arrow::array::RecordBatch::try_from_iter([(
        "x",
        Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3])) as arrow::array::ArrayRef,
    )])
    .unwrap();
    let schema = batch.schema();
    let plan = ReadPlan { columns: vec![0], steps: vec![], keep: vec![], schema: schema.clone() };
    let value = || rask::graph::args![Value::Batch(Batch::new(batch.clone()))];
    let dir = dataframe_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let (parquet, csv) = (dir.join("part-0.parquet"), dir.join("part-0.csv"));
    vec![
        ("rask.dataframe.write_parquet", Box::new(WriteParquet { path: parquet.clone() }), value()),
        ("rask.dataframe.write_csv", Box::new(WriteCsv { path: csv.clone() }), value()),
        (
            "rask.dataframe.read_parquet",
            Box::new(ReadParquet {
                path: parquet,
                row_groups: vec![0],
                offset: 1,
                limit: Some(2),
                rows: 2,
                plan: plan.clone(),
            }),
            Args::new(),
        ),
        (
            "rask.dataframe.read_csv",
            Box::new(ReadCsv {
                path: csv,
                start: 0,
                end: 8,
                has_header: true,
                delimiter: b',',
                file_schema: schema.clone(),
                plan,
            }),
            Args::new(),
        ),
        ("rask.dataframe.row_count", Box::new(RowCount), value()),
        (
            "rask.dataframe.concat_slices",
            Box::new(ConcatSlices {
                slices: vec![Slice { arg: 0, offset: 1, len: 2 }, Slice { arg: 1, offset: 0, len: 1 }],
                schema: schema.clone(),
            }),
            rask::graph::args![Value::Batch(Batch::new(batch.clone())), Value::Batch(Batch::new(batch.clone()))],
        ),
        (
            "rask.dataframe.split_piece",
            Box::new(SplitPiece { piece: 1, pieces: 2, schema }),
            rask::graph::args![Value::Batch(Batch::new(batch.clone())), Value::Batch(Batch::new(batch.clone()))],
        ),
    ]
}

/// The temporary directory the dataframe I/O ops write and read.
fn dataframe_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("rask-registry-dataframe-{}", std::process::id()))
}

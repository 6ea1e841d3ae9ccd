//! `.npy` writing and reading: round trips over random shapes, chunkings and dtypes on
//! every scheduler; files built byte by byte (Fortran order, big-endian, format versions
//! 1 to 3, Python 2 headers) read as numpy reads them; errors that name the file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use proptest::prelude::*;
use rask_collections::array::{self, ChunkSpec, from_ndarray, from_npy};
use rask_collections::{ComputeOptions, Error};
use rask_graph::Element;

mod common;
use common::{chunks_for, f64_data, options, shape_and_chunks};

/// A fresh path in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new() -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        TempFile(std::env::temp_dir().join(format!("rask-npy-test-{}-{n}.npy", std::process::id())))
    }

    fn with_bytes(bytes: &[u8]) -> TempFile {
        let file = TempFile::new();
        std::fs::write(&file.0, bytes).unwrap();
        file
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A `.npy` file by hand: `dict` as the header of format `version`, then `data`.
fn npy_file(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let prefix = if version == 1 { 10 } else { 12 };
    let len = (prefix + dict.len() + 1).next_multiple_of(64) - prefix;
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[version, 0]);
    match version {
        1 => out.extend_from_slice(&(len as u16).to_le_bytes()),
        _ => out.extend_from_slice(&(len as u32).to_le_bytes()),
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(prefix + len - 1, b' ');
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

/// Writes `data` cut into `write` chunks and reads it back cut into `read` chunks.
fn round_trip<T: Element>(
    data: &ArrayD<T>,
    write: &ChunkSpec,
    read: &ChunkSpec,
    options: &ComputeOptions,
) -> ArrayD<T> {
    let file = TempFile::new();
    from_ndarray(data, write.clone()).unwrap().to_npy_with(&file.0, options).unwrap();
    let x = from_npy::<T>(&file.0, read.clone()).unwrap();
    assert_eq!(x.chunks(), read.resolve(data.shape()).unwrap().as_slice());
    x.compute_with(options).unwrap()
}

fn shape_and_two_chunkings() -> impl Strategy<Value = (Vec<usize>, ChunkSpec, ChunkSpec)> {
    shape_and_chunks().prop_flat_map(|(shape, write)| (Just(shape.clone()), Just(write), chunks_for(shape)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn arrays_round_trip_through_npy_files((shape, write, read) in shape_and_two_chunkings(), seed in any::<u64>()) {
        let data = f64_data(&shape, seed);
        for options in options() {
            prop_assert_eq!(&round_trip(&data, &write, &read, &options), &data);
        }
        let default = ComputeOptions::default();
        let ints = data.mapv(|v| (v * 4.0) as i64 * 1_000_000_007);
        prop_assert_eq!(&round_trip(&ints, &write, &read, &default), &ints);
        let narrow = data.mapv(|v| (v * 4.0) as i32);
        prop_assert_eq!(&round_trip(&narrow, &write, &read, &default), &narrow);
        let single = data.mapv(|v| v as f32 / 3.0);
        prop_assert_eq!(&round_trip(&single, &write, &read, &default), &single);
        let flags = data.mapv(|v| v > 0.0);
        prop_assert_eq!(&round_trip(&flags, &write, &read, &default), &flags);
    }

    #[test]
    fn fortran_order_and_big_endian_files_read_as_numpy_reads_them((shape, chunks) in shape_and_chunks(), seed in any::<u64>(), big in any::<bool>()) {
        let data = f64_data(&shape, seed);
        let ints = data.mapv(|v| (v * 4.0) as i32);
        let order = if big { '>' } else { '<' };
        // numpy writes a Fortran-order array's elements in column-major order.
        let float_bytes: Vec<u8> = data.t().iter().flat_map(|v| if big { v.to_be_bytes() } else { v.to_le_bytes() }).collect();
        let int_bytes: Vec<u8> = ints.t().iter().flat_map(|v| if big { v.to_be_bytes() } else { v.to_le_bytes() }).collect();
        let tuple = format!("({})", shape.iter().map(|n| format!("{n},")).collect::<String>());
        let floats = TempFile::with_bytes(&npy_file(1, &format!("{{'descr': '{order}f8', 'fortran_order': True, 'shape': {tuple}, }}"), &float_bytes));
        let x = from_npy::<f64>(&floats.0, chunks.clone()).unwrap();
        for options in options() {
            prop_assert_eq!(&x.compute_with(&options).unwrap(), &data);
        }
        let int_file = TempFile::with_bytes(&npy_file(2, &format!("{{'shape': {tuple}, 'fortran_order': True, 'descr': '{order}i4'}}"), &int_bytes));
        prop_assert_eq!(from_npy::<i32>(&int_file.0, chunks.clone()).unwrap().compute().unwrap(), ints.clone());
        // The same numbers in C order, big-endian.
        let c_bytes: Vec<u8> = ints.iter().flat_map(|v| v.to_be_bytes()).collect();
        let c_file = TempFile::with_bytes(&npy_file(1, &format!("{{'descr': '>i4', 'fortran_order': False, 'shape': {tuple}}}"), &c_bytes));
        prop_assert_eq!(from_npy::<i32>(&c_file.0, chunks).unwrap().compute().unwrap(), ints);
    }
}

#[test]
fn hand_written_files_of_every_header_form_are_read() {
    let f_order: Vec<u8> = [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let file =
        TempFile::with_bytes(&npy_file(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", &f_order));
    let x = from_npy::<f64>(&file.0, [1, 2]).unwrap();
    assert_eq!(x.compute().unwrap(), ndarray::array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]].into_dyn());

    let big: Vec<u8> = [7i32, -8, 9].iter().flat_map(|v| v.to_be_bytes()).collect();
    let file =
        TempFile::with_bytes(&npy_file(1, "{\"descr\": \">i4\", \"fortran_order\": False, \"shape\": (3,)}", &big));
    assert_eq!(from_npy::<i32>(&file.0, [2]).unwrap().compute().unwrap(), ndarray::arr1(&[7, -8, 9]).into_dyn());

    let file = TempFile::with_bytes(&npy_file(
        2,
        "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 2), }",
        &[1, 0, 0, 1],
    ));
    assert_eq!(
        from_npy::<bool>(&file.0, [1, 1]).unwrap().compute().unwrap(),
        ndarray::array![[true, false], [false, true]].into_dyn()
    );

    let python2: Vec<u8> = [1i64, 2, 3, 4].iter().flat_map(|v| v.to_le_bytes()).collect();
    let file =
        TempFile::with_bytes(&npy_file(3, "{'descr': '<i8', 'fortran_order': False, 'shape': (2L, 2L), }", &python2));
    assert_eq!(
        from_npy::<i64>(&file.0, [2, 1]).unwrap().compute().unwrap(),
        ndarray::array![[1, 2], [3, 4]].into_dyn()
    );

    let file = TempFile::with_bytes(&npy_file(
        1,
        "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
        &2.5f32.to_le_bytes(),
    ));
    assert_eq!(
        from_npy::<f32>(&file.0, ChunkSpec::Whole).unwrap().compute().unwrap(),
        ndarray::arr0(2.5f32).into_dyn()
    );

    let file = TempFile::with_bytes(&npy_file(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (0, 3), }", &[]));
    assert_eq!(from_npy::<f64>(&file.0, [2, 2]).unwrap().compute().unwrap(), ArrayD::<f64>::zeros(IxDyn(&[0, 3])));
}

#[test]
fn written_headers_are_numpy_version_1_aligned_to_64_bytes() {
    let file = TempFile::new();
    array::arange(0i64, 3, 1, [2]).unwrap().to_npy(&file.0).unwrap();
    let bytes = std::fs::read(&file.0).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + len) % 64, 0);
    let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
    assert_eq!(header.trim_end(), "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }");
    assert!(header.ends_with('\n'));
    assert_eq!(bytes[10 + len..], [0i64, 1, 2].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>());

    array::full(&[], ChunkSpec::Whole, true).unwrap().to_npy(&file.0).unwrap();
    let bytes = std::fs::read(&file.0).unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains("{'descr': '|b1', 'fortran_order': False, 'shape': (), }"));
    assert_eq!(bytes.len(), 128 + 1);
}

#[test]
fn reading_errors_name_the_file() {
    let message = |e: Error| e.to_string();
    let missing = std::env::temp_dir().join("rask-npy-test-no-such-file.npy");
    let err = message(from_npy::<f64>(&missing, [2]).unwrap_err());
    assert!(err.contains("cannot read") && err.contains("rask-npy-test-no-such-file.npy"), "{err}");

    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"PK\x03\x04 not numpy at all".to_vec(), "not a .npy file"),
        (b"\x93NUM".to_vec(), "too short"),
        (npy_file(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", &[0; 24]), "truncated"),
        (
            npy_file(1, "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", &[0; 16]),
            "'<c16' is not supported",
        ),
        (npy_file(1, "{'descr': '<f8', 'shape': (1,), }", &[0; 8]), "are required"),
        (npy_file(1, "{'descr': '<f8', 'fortran_order': Maybe, 'shape': (1,), }", &[0; 8]), "True or False"),
        (npy_file(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'extra': 1}", &[0; 8]), "'extra'"),
        (npy_file(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }", &[0; 8]), "a length"),
        ([b"\x93NUMPY\x04\x00".as_slice(), &[0; 60]].concat(), "version 4.0"),
    ];
    for (bytes, expected) in cases {
        let file = TempFile::with_bytes(&bytes);
        let err = message(from_npy::<f64>(&file.0, [2]).unwrap_err());
        assert!(err.contains(expected) && err.contains(&*file.0.to_string_lossy()), "{expected}: {err}");
        assert!(matches!(from_npy::<f64>(&file.0, [2]), Err(Error::Read { .. })), "{expected}");
    }
}

#[test]
fn a_dtype_mismatch_names_the_files_descr_and_the_requested_type() {
    let file = TempFile::with_bytes(&npy_file(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", &[0; 8]));
    let err = from_npy::<f64>(&file.0, [2]).unwrap_err();
    assert!(matches!(err, Error::DType(_)), "{err:?}");
    let err = err.to_string();
    assert!(err.contains("'>f4'") && err.contains("float32") && err.contains("not float64"), "{err}");
    assert!(err.contains(&*file.0.to_string_lossy()), "{err}");
    assert!(from_npy::<f32>(&file.0, [2]).is_ok());
}

#[test]
fn writing_errors_name_the_file_and_carried_errors_stop_the_write() {
    let x = array::ones::<f64>(&[4], [2]).unwrap();
    let err = x.to_npy("/no/such/directory/out.npy").unwrap_err().to_string();
    assert!(err.contains("/no/such/directory/out.npy"), "{err}");
    let file = TempFile::new();
    let broken = &x + &array::ones::<f64>(&[3], [3]).unwrap();
    assert!(broken.to_npy(&file.0).is_err());
    assert!(!file.0.exists());
}

#[test]
fn a_file_that_shrinks_after_the_array_is_built_fails_its_blocks_by_name() {
    let file = TempFile::new();
    array::arange(0.0, 100.0, 1.0, [10]).unwrap().to_npy(&file.0).unwrap();
    let x = from_npy::<f64>(&file.0, [10]).unwrap();
    std::fs::OpenOptions::new().write(true).open(&file.0).unwrap().set_len(200).unwrap();
    let err = x.compute().unwrap_err().to_string();
    assert!(err.contains("cannot read") && err.contains(&*file.0.to_string_lossy()), "{err}");
}

#[test]
fn rewritten_files_get_new_keys() {
    let file = TempFile::new();
    array::arange(0i64, 10, 1, [5]).unwrap().to_npy(&file.0).unwrap();
    let first = from_npy::<i64>(&file.0, [5]).unwrap();
    assert_eq!(first.block_key(&[1]), from_npy::<i64>(&file.0, [5]).unwrap().block_key(&[1]));
    array::arange(0i64, 12, 1, [5]).unwrap().to_npy(&file.0).unwrap();
    let second = from_npy::<i64>(&file.0, [5]).unwrap();
    assert_ne!(first.block_key(&[1]), second.block_key(&[1]));
    assert_eq!(second.compute().unwrap(), ndarray::Array1::from_iter(0..12i64).into_dyn());
}

#[test]
fn fortran_blocks_keep_their_values_through_further_operations() {
    let data = ArrayD::from_shape_vec(IxDyn(&[3, 4]).f(), (0..12).map(f64::from).collect()).unwrap();
    let bytes: Vec<u8> = (0..12).flat_map(|v| f64::from(v).to_le_bytes()).collect();
    let file = TempFile::with_bytes(&npy_file(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 4), }", &bytes));
    let x = from_npy::<f64>(&file.0, [2, 3]).unwrap();
    assert_eq!((&x * 2.0).compute().unwrap(), data.mapv(|v| v * 2.0));
    let out = TempFile::new();
    x.to_npy(&out.0).unwrap();
    assert_eq!(from_npy::<f64>(&out.0, [3, 4]).unwrap().compute().unwrap(), data);
}

//! The W3 benchmark's data set (BENCHMARKS.md): `files` snappy parquet files
//! `part-0.parquet`.. of two row groups each, with columns `id` int64 uniform in [0, 999],
//! `x` float64 standard normal, `y` float64 uniform in [0, 1) and `s` strings uniform over
//! `word000`..`word099`. The same seed gives the same files.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rand_distr::{Distribution, StandardNormal, StandardUniform, Uniform};
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::SeedableRng;

use crate::error::{Error, Result};

/// Writes the W3 data set: `rows` rows in `files` files `dir/part-{k}.parquet` (as equal
/// as can be, two row groups each), drawn from `seed`; returns the paths. BENCHMARKS.md's
/// set is `generate_w3(dir, 10_000_000, 8, seed)`. Files are generated in parallel.
///
/// ```
/// use rask_collections::dataframe::{io::generate_w3, read_parquet, ParquetOptions};
/// let dir = std::env::temp_dir().join(format!("rask-doc-w3-{}", std::process::id()));
/// let paths = generate_w3(&dir, 1000, 2, 7)?;
/// assert_eq!(paths.len(), 2);
/// let df = read_parquet(&dir, ParquetOptions::default())?;
/// assert_eq!(df.columns(), vec!["id", "x", "y", "s"]);
/// assert_eq!(df.len()?, 1000);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), rask_collections::Error>(())
/// ```
pub fn generate_w3(dir: impl AsRef<Path>, rows: usize, files: usize, seed: u64) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    if files == 0 {
        return Err(Error::Schema("generate_w3 needs at least one file".into()));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::Io { path: dir.display().to_string(), message: e.to_string() })?;
    let paths: Vec<PathBuf> = (0..files).map(|k| dir.join(format!("part-{k}.parquet"))).collect();
    let threads = rask_scheduler::cores().min(files);
    let results: Vec<Result<()>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let paths = &paths;
                scope.spawn(move || {
                    (t..files).step_by(threads).try_for_each(|k| {
                        let (start, end) = (rows * k / files, rows * (k + 1) / files);
                        write_file(&paths[k], end - start, seed, k as u64)
                    })
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("a W3 writer thread panicked")).collect()
    });
    results.into_iter().collect::<Result<()>>()?;
    Ok(paths)
}

/// The schema of the W3 files.
fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("x", DataType::Float64, false),
        Field::new("y", DataType::Float64, false),
        Field::new("s", DataType::Utf8, false),
    ]))
}

/// Writes file `k` of `rows` rows, two row groups.
fn write_file(path: &Path, rows: usize, seed: u64, k: u64) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| Error::Io { path: path.display().to_string(), message: e.to_string() };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let file = File::create(path).map_err(|e| fail(&e))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(rows.max(1)))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema(), Some(properties)).map_err(|e| fail(&e))?;
    let half = rows / 2;
    for group_rows in [half, rows - half] {
        writer.write(&row_group(&mut rng, group_rows)).map_err(|e| fail(&e))?;
        writer.flush().map_err(|e| fail(&e))?;
    }
    writer.close().map_err(|e| fail(&e))?;
    Ok(())
}

/// `rows` rows drawn from `rng`, one column after the other.
fn row_group(rng: &mut Xoshiro256PlusPlus, rows: usize) -> RecordBatch {
    let ids = Uniform::new_inclusive(0i64, 999).expect("a valid range");
    let id = Int64Array::from_iter_values((0..rows).map(|_| ids.sample(rng)));
    let x = Float64Array::from_iter_values((0..rows).map(|_| StandardNormal.sample(rng)));
    let y = Float64Array::from_iter_values((0..rows).map(|_| StandardUniform.sample(rng)));
    let words: Vec<String> = (0..100).map(|w| format!("word{w:03}")).collect();
    let pick = Uniform::new(0usize, words.len()).expect("a valid range");
    let mut s = StringBuilder::with_capacity(rows, rows * 7);
    (0..rows).for_each(|_| s.append_value(&words[pick.sample(rng)]));
    let columns: Vec<ArrayRef> = vec![Arc::new(id), Arc::new(x), Arc::new(y), Arc::new(s.finish())];
    RecordBatch::try_new(schema(), columns).expect("columns of the W3 schema")
}

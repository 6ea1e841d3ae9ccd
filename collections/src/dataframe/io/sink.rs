//! Sinks: `to_parquet` and `to_csv` write one file per partition, `part-{i}.parquet` or
//! `part-{i}.csv`, each by the task of its partition, so the frame is never gathered in
//! one place. The directory is created if missing; `part-{j}` files of an earlier write
//! with more partitions are removed, so that the directory reads back as this frame.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rask_graph::{ArgSpec, Args, Op, OpError, Token, Value};
use serde::{Deserialize, Serialize};

use super::parquet::PARQUET_EXTENSIONS;
use crate::compute::{ComputeOptions, Target, compute_targets};
use crate::dataframe::DataFrame;
use crate::dataframe::partitions::layer_of_partitions;
use crate::error::{Error, Result};

impl DataFrame {
    /// Writes each partition to `dir/part-{i}.parquet` (snappy), computing on the default
    /// scheduler; errors name the path.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::Int64Array;
    /// use rask_collections::dataframe::{from_arrays, read_parquet, ParquetOptions};
    /// let dir = std::env::temp_dir().join(format!("rask-doc-to-parquet-{}", std::process::id()));
    /// let df = from_arrays(vec![("x", Arc::new(Int64Array::from(vec![1, 2, 3])) as _)], 3)?;
    /// df.to_parquet(&dir)?;
    /// assert!(dir.join("part-2.parquet").exists());
    /// assert_eq!(read_parquet(&dir, ParquetOptions::default())?.compute()?, df.compute()?);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn to_parquet(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.to_parquet_with(dir, &ComputeOptions::default())
    }

    /// [`to_parquet`](Self::to_parquet) computing with `options`.
    pub fn to_parquet_with(&self, dir: impl AsRef<Path>, options: &ComputeOptions) -> Result<()> {
        write_partitions(self, dir.as_ref(), PARQUET_EXTENSIONS[0], options, |path| Arc::new(WriteParquet { path }))
    }

    /// Writes each partition to `dir/part-{i}.csv` (with a header line, comma-delimited),
    /// computing on the default scheduler; errors name the path.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow::array::Int64Array;
    /// let dir = std::env::temp_dir().join(format!("rask-doc-to-csv-{}", std::process::id()));
    /// let df = rask_collections::dataframe::from_arrays(vec![("x", Arc::new(Int64Array::from(vec![1, 2, 3])) as _)], 2)?;
    /// df.to_csv(&dir)?;
    /// assert_eq!(std::fs::read_to_string(dir.join("part-1.csv")).unwrap(), "x\n2\n3\n");
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), rask_collections::Error>(())
    /// ```
    pub fn to_csv(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.to_csv_with(dir, &ComputeOptions::default())
    }

    /// [`to_csv`](Self::to_csv) computing with `options`.
    pub fn to_csv_with(&self, dir: impl AsRef<Path>, options: &ComputeOptions) -> Result<()> {
        write_partitions(self, dir.as_ref(), "csv", options, |path| Arc::new(WriteCsv { path }))
    }
}

/// Runs one write task per partition of `df`, writing `dir/part-{i}.{extension}`.
fn write_partitions(
    df: &DataFrame,
    dir: &Path,
    extension: &str,
    options: &ComputeOptions,
    writer: impl Fn(PathBuf) -> Arc<dyn Op>,
) -> Result<()> {
    let io_error =
        |path: &Path, e: std::io::Error| Error::Io { path: path.display().to_string(), message: e.to_string() };
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    for stale in stale_parts(dir, extension, df.npartitions()).map_err(|e| io_error(dir, e))? {
        std::fs::remove_file(&stale).map_err(|e| io_error(&stale, e))?;
    }
    let name = format!("to_{extension}");
    let token = Token::of(&(name.as_str(), df.token().0, dir.display().to_string()));
    // One task per partition; their values are row counts, not batches.
    let writes =
        layer_of_partitions(&name, token, df.schema().clone(), df.npartitions(), vec![df.layer().clone()], |i| {
            (writer(dir.join(format!("part-{i}.{extension}"))), vec![ArgSpec::Key(df.partition_key(i))])
        });
    let targets: Vec<Target> = (0..writes.npartitions())
        .map(|i| Target::Task { key: writes.partition_key(i), layer: writes.layer().clone() })
        .collect();
    compute_targets(&targets, options).map(drop)
}

/// The `part-{j}.{extension}` files of `dir` with `j >= keep`.
fn stale_parts(dir: &Path, extension: &str, keep: usize) -> std::io::Result<Vec<PathBuf>> {
    let suffix = format!(".{extension}");
    let mut stale = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let index =
            name.strip_prefix("part-").and_then(|n| n.strip_suffix(&suffix)).and_then(|n| n.parse::<usize>().ok());
        if index.is_some_and(|j| j >= keep) {
            stale.push(path);
        }
    }
    Ok(stale)
}

/// Runs `write` on the batch a write task was given and a new file at `path`; gives the
/// number of rows written. Errors name the path.
fn write_file(
    args: Args,
    path: &Path,
    write: impl FnOnce(File, &RecordBatch) -> Result<(), Box<dyn std::error::Error>>,
) -> Result<Value, OpError> {
    let fail = |e: &dyn std::fmt::Display| OpError::new(format!("cannot write {}: {e}", path.display()));
    let batch = match args.as_slice() {
        [Value::Batch(batch)] => &batch.0,
        other => return Err(fail(&format!("expected one record batch, got {other:?}"))),
    };
    let file = File::create(path).map_err(|e| fail(&e))?;
    write(file, batch).map_err(|e| fail(&e))?;
    Ok(Value::I64(batch.num_rows() as i64))
}

/// Writes its partition to a snappy parquet file; gives the number of rows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WriteParquet {
    /// The file.
    pub path: PathBuf,
}

#[typetag::serde(name = "rask.dataframe.write_parquet")]
impl Op for WriteParquet {
    fn name(&self) -> &str {
        "write_parquet"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        write_file(args, &self.path, |file, batch| {
            let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
            let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties))?;
            writer.write(batch)?;
            writer.close()?;
            Ok(())
        })
    }
}

/// Writes its partition to a CSV file with a header line; gives the number of rows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WriteCsv {
    /// The file.
    pub path: PathBuf,
}

#[typetag::serde(name = "rask.dataframe.write_csv")]
impl Op for WriteCsv {
    fn name(&self) -> &str {
        "write_csv"
    }

    fn call(&self, args: Args) -> Result<Value, OpError> {
        write_file(args, &self.path, |file, batch| {
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(BufWriter::new(file));
            writer.write(batch)?;
            Ok(writer.into_inner().flush()?)
        })
    }
}

//! Dataframe I/O: parquet and CSV sources with projection and predicate pushdown, and
//! sinks writing one file per partition.
//!
//! - [`read_parquet`] and [`read_csv`] read files, directories or glob patterns
//!   ([`Paths`]); the schema is known when the dataframe is built (parquet footers, or
//!   CSV inference on the first file). Per-row steps on what they return (`select`,
//!   `filter`, `with_columns`, `rename`, `drop`) are pushed into the scan, and aggregations
//!   prune it to the columns they read ([`ScanSummary`] shows what is read).
//! - [`DataFrame::to_parquet`](super::DataFrame::to_parquet) and
//!   [`DataFrame::to_csv`](super::DataFrame::to_csv) write `part-{i}` files, each by its
//!   partition's task: the frame is never gathered.
//! - [`generate_w3`] writes the W3 benchmark's data set (BENCHMARKS.md).
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::Int64Array;
//! use rask_collections::dataframe::{col, from_arrays, lit, read_csv, CsvOptions};
//! let dir = std::env::temp_dir().join(format!("rask-doc-io-{}", std::process::id()));
//! let df = from_arrays(vec![("a", Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as _)], 2)?;
//! df.to_csv(&dir)?;
//! let back = read_csv(dir.join("part-*.csv"), CsvOptions::default())?;
//! assert_eq!(back.npartitions(), 2);
//! assert_eq!(back.filter(col("a").gt(lit(2)))?.compute()?.num_rows(), 2);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), rask_collections::Error>(())
//! ```

mod csv;
mod parquet;
mod paths;
mod plan;
mod prune;
mod scan;
mod sink;
mod w3;

use std::fs::File;
use std::hash::Hash;
use std::path::Path;

pub use csv::{CsvOptions, ReadCsv, read_csv};
pub use parquet::{ParquetOptions, ReadParquet, read_parquet};
pub use paths::Paths;
pub use plan::ReadPlan;
pub(crate) use scan::Scan;
pub use scan::ScanSummary;
pub use sink::{WriteCsv, WriteParquet};
pub use w3::generate_w3;

use super::{Step, col};
use crate::dataframe::expr::Expr;
use crate::error::{Error, Result};

/// A file's path, size and modification time: part of a scan's token, so that a file
/// rewritten between two reads gives new keys.
#[derive(Debug, Hash)]
pub(crate) struct FileIdentity {
    path: String,
    size: u64,
    modified_ns: u128,
}

impl FileIdentity {
    pub(crate) fn of(path: &Path, file: &File) -> Result<FileIdentity> {
        let meta = file.metadata().map_err(|e| read_error(path, &e.to_string()))?;
        let modified_ns =
            meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
        Ok(FileIdentity { path: path.display().to_string(), size: meta.len(), modified_ns })
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }
}

/// The options every reader has: the columns to read, a filter, the partition size.
#[derive(Clone, Debug)]
struct ScanOptions {
    columns: Option<Vec<String>>,
    filter: Option<Expr>,
    partition_bytes: u64,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions { columns: None, filter: None, partition_bytes: 64 << 20 }
    }
}

impl ScanOptions {
    /// The steps the `columns` and `filter` options stand for: the filter first (it may
    /// read columns the selection leaves out).
    fn steps(&self) -> Vec<Step> {
        let filter = self.filter.clone().map(Step::Filter);
        let select = self.columns.as_ref().map(|c| Step::Select(c.iter().map(col).collect()));
        filter.into_iter().chain(select).collect()
    }
}

/// The setters of [`ScanOptions`] on a reader's options type (a field `scan`).
macro_rules! scan_option_setters {
    () => {
        /// Reads only these columns, in this order (the same as `select` on the result).
        pub fn columns<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
            self.scan.columns = Some(columns.into_iter().map(Into::into).collect());
            self
        }

        /// Keeps the rows where `predicate` is true (the same as `filter` on the result;
        /// it may name columns that [`columns`](Self::columns) leaves out).
        pub fn filter(mut self, predicate: Expr) -> Self {
            self.scan.filter = Some(predicate);
            self
        }

        /// The size partitions are planned to, in bytes (default 64 MiB; see the module
        /// docs of the reader for the rule).
        pub fn partition_bytes(mut self, bytes: u64) -> Self {
            self.scan.partition_bytes = bytes.max(1);
            self
        }
    };
}
use scan_option_setters;

/// A read error naming `path`.
fn read_error(path: &Path, message: &str) -> Error {
    Error::Read { path: path.display().to_string(), message: message.to_string() }
}

//! `read_parquet`: a scan of parquet files with projection and predicate pushdown.
//!
//! The footers are read when the dataframe is built: they give the schema (every file
//! must have the same columns and types), the row groups, and the statistics that let a
//! filter skip row groups ([`super::prune`]). Each partition is one task that decodes its
//! row groups with the Arrow reader, in one batch, only the columns the pushed steps need.
//!
//! # Partitions
//!
//! With `partition_bytes` = `B` (default 64 MiB, measured as the footer's uncompressed
//! row-group size):
//! - a row group of more than `B` is split into equal row ranges of at most about `B`,
//!   each a partition;
//! - a row group of more than `B / 4` is a partition;
//! - smaller row groups of one file are packed, in order, into partitions of at most
//!   `B / 4` (a file of small row groups is one partition).
//!
//! Files never share a partition, and partitions follow the files' order, then the row
//! groups' order, so the frame's row order is the files' row order.
//!
//! # Decoding
//!
//! A partition without a pushed filter is decoded in one batch, with the Arrow reader.
//! With a filter, the task decodes 32Ki rows at a time and filters each chunk while it is
//! in cache (see `dataframe::io::plan`).

use std::collections::BTreeSet;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::ParquetMetaData;
use rask_graph::{Args, Batch, Op, OpError, Token, Value};
use serde::{Deserialize, Serialize};

use super::paths::{Paths, resolve};
use super::plan::ReadPlan;
use super::prune::{RowGroupStats, may_match};
use super::scan::{ScanSummary, Source, scan_dataframe};
use super::{FileIdentity, ScanOptions, read_error, scan_option_setters};
use crate::dataframe::DataFrame;
use crate::dataframe::expr::{Expr, describe_schema};
use crate::dataframe::partitions::layer_of_partitions;
use crate::error::{Error, Result};

/// The extensions of parquet files in a directory.
pub(crate) const PARQUET_EXTENSIONS: &[&str] = &["parquet", "parq", "pq"];

/// Options of [`read_parquet`].
///
/// ```
/// use rask_collections::dataframe::{col, lit, ParquetOptions};
/// let options = ParquetOptions::default().columns(["id", "x"]).filter(col("y").gt(lit(0.5))).partition_bytes(32 << 20);
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default)]
pub struct ParquetOptions {
    scan: ScanOptions,
}

impl ParquetOptions {
    scan_option_setters!();
}

/// A lazy dataframe of parquet files: a file, a directory of `.parquet` files, a glob
/// pattern, or a list of them (see [`Paths`]). The footers are read now: the schema comes
/// from them (all files must agree), and a missing file, a bad pattern or a file that is
/// not parquet is an error naming it. Per-row steps applied to the result (`select`,
/// `filter`, `with_columns`, `rename`, `drop`) are pushed into the scan, and aggregations
/// prune it: only the columns they need are decoded, and row groups whose statistics rule
/// the filters out are not read ([`DataFrame::scan_summary`] shows what is
/// read). Partitions follow the row groups (see the module docs of `dataframe::io::parquet`).
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Float64Array, Int64Array};
/// use rask_collections::dataframe::{col, from_arrays, lit, read_parquet, ParquetOptions};
/// let dir = std::env::temp_dir().join(format!("rask-doc-read-parquet-{}", std::process::id()));
/// let df = from_arrays(vec![("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as _), ("y", Arc::new(Float64Array::from(vec![0.1, 0.7, 0.9])) as _)], 2)?;
/// df.to_parquet(&dir)?;
/// let read = read_parquet(&dir, ParquetOptions::default())?.filter(col("y").gt(lit(0.5)))?.select([col("id")])?;
/// assert_eq!(read.compute()?.num_rows(), 2);
/// assert_eq!(read.scan_summary().unwrap().columns, vec!["id", "y"]);
/// assert!(read_parquet(dir.join("nope.parquet"), ParquetOptions::default()).unwrap_err().to_string().contains("nope.parquet"));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), rask_collections::Error>(())
/// ```
pub fn read_parquet(paths: impl Into<Paths>, options: ParquetOptions) -> Result<DataFrame> {
    let files = resolve(&paths.into(), PARQUET_EXTENSIONS)?;
    let source = ParquetSource::open(files, options.scan.partition_bytes as usize)?;
    scan_dataframe(Arc::new(source), options.scan.steps())
}

/// The parquet files of a scan, their footers and the partition plan.
#[derive(Debug)]
struct ParquetSource {
    files: Vec<ParquetFile>,
    schema: SchemaRef,
    parts: Vec<Part>,
}

#[derive(Debug)]
struct ParquetFile {
    path: PathBuf,
    metadata: Arc<ParquetMetaData>,
    identity: FileIdentity,
}

/// One partition: row groups of one file, or a row range of one row group.
#[derive(Clone, Debug, Hash)]
struct Part {
    file: usize,
    row_groups: Vec<usize>,
    offset: usize,
    limit: Option<usize>,
    rows: usize,
}

impl ParquetSource {
    fn open(paths: Vec<PathBuf>, partition_bytes: usize) -> Result<ParquetSource> {
        let mut files = Vec::with_capacity(paths.len());
        let mut schema: Option<SchemaRef> = None;
        for path in paths {
            let file = File::open(&path).map_err(|e| read_error(&path, &e.to_string()))?;
            let identity = FileIdentity::of(&path, &file)?;
            let footer = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
                .map_err(|e| read_error(&path, &format!("not a readable parquet file: {e}")))?;
            match &schema {
                None => schema = Some(footer.schema().clone()),
                Some(first) => check_same_columns(first, footer.schema(), &path, &files)?,
            }
            files.push(ParquetFile { path, metadata: footer.metadata().clone(), identity });
        }
        let schema = schema.expect("resolve gives at least one file");
        let parts = files.iter().enumerate().flat_map(|(i, f)| plan_file(i, &f.metadata, partition_bytes)).collect();
        Ok(ParquetSource { files, schema, parts })
    }

    /// The task reading `part` with `plan`.
    fn read_op(&self, part: &Part, plan: &ReadPlan) -> ReadParquet {
        ReadParquet {
            path: self.files[part.file].path.clone(),
            row_groups: part.row_groups.clone(),
            offset: part.offset,
            limit: part.limit,
            rows: part.rows,
            plan: plan.clone(),
        }
    }

    /// For each file, whether each row group may pass every filter of `plan`.
    fn row_groups_to_read(&self, plan: &ReadPlan) -> Vec<Vec<bool>> {
        let filters = plan.filters_on_file_columns(&self.schema);
        self.files
            .iter()
            .map(|file| {
                let mut keep = vec![true; file.metadata.row_groups().len()];
                for (predicate, names) in &filters {
                    let stats = RowGroupStats { metadata: &file.metadata, schema: &self.schema, names };
                    keep.iter_mut().zip(may_match(predicate, &stats)).for_each(|(k, may)| *k &= may);
                }
                keep
            })
            .collect()
    }
}

/// An error unless `other` has the columns and types of `first`.
fn check_same_columns(
    first: &SchemaRef,
    other: &SchemaRef,
    path: &std::path::Path,
    files: &[ParquetFile],
) -> Result<()> {
    let columns =
        |s: &SchemaRef| s.fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect::<Vec<_>>();
    if columns(first) == columns(other) {
        return Ok(());
    }
    Err(Error::Schema(format!(
        "{} has columns [{}], but {} has [{}]: the files of one dataframe must agree",
        path.display(),
        describe_schema(other),
        files[0].path.display(),
        describe_schema(first)
    )))
}

/// The partitions of one file (see the module docs).
fn plan_file(file: usize, metadata: &ParquetMetaData, partition_bytes: usize) -> Vec<Part> {
    let small = partition_bytes / 4;
    let mut parts: Vec<Part> = Vec::new();
    let mut packing: Option<(Part, usize)> = None;
    for (g, group) in metadata.row_groups().iter().enumerate() {
        let rows = group.num_rows().max(0) as usize;
        let bytes = group.total_byte_size().max(0) as usize;
        if rows == 0 {
            continue;
        }
        let whole = Part { file, row_groups: vec![g], offset: 0, limit: None, rows };
        match &mut packing {
            Some((part, packed)) if bytes <= small && *packed + bytes <= small => {
                part.row_groups.push(g);
                part.rows += rows;
                *packed += bytes;
                continue;
            }
            _ => parts.extend(packing.take().map(|(part, _)| part)),
        }
        if bytes <= small {
            packing = Some((whole, bytes));
        } else if bytes <= partition_bytes {
            parts.push(whole);
        } else {
            let pieces = bytes.div_ceil(partition_bytes).min(rows);
            parts.extend((0..pieces).map(|k| {
                let (start, end) = (rows * k / pieces, rows * (k + 1) / pieces);
                Part { file, row_groups: vec![g], offset: start, limit: Some(end - start), rows: end - start }
            }));
        }
    }
    parts.extend(packing.map(|(part, _)| part));
    parts
}

impl Source for ParquetSource {
    fn file_schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn build(&self, plan: &ReadPlan) -> Result<(DataFrame, ScanSummary)> {
        let keep = self.row_groups_to_read(plan);
        let parts: Vec<Part> = self
            .parts
            .iter()
            .filter_map(|part| {
                let row_groups: Vec<usize> = part.row_groups.iter().copied().filter(|&g| keep[part.file][g]).collect();
                let groups = &self.files[part.file].metadata.row_groups();
                let rows = match part.limit {
                    Some(limit) => limit,
                    None => row_groups.iter().map(|&g| groups[g].num_rows() as usize).sum(),
                };
                (!row_groups.is_empty()).then(|| Part { row_groups, rows, ..part.clone() })
            })
            .collect();
        let ops: Vec<Arc<dyn Op>> = if parts.is_empty() {
            vec![Arc::new(ReadParquet::nothing(plan.clone()))] // keep one (empty) partition
        } else {
            parts.iter().map(|p| Arc::new(self.read_op(p, plan)) as Arc<dyn Op>).collect()
        };
        let identities: Vec<&FileIdentity> = self.files.iter().map(|f| &f.identity).collect();
        let token = Token::of(&(identities, &parts, format!("{plan:?}")));
        let df = layer_of_partitions("read_parquet", token, plan.schema.clone(), ops.len(), vec![], |i| {
            (ops[i].clone(), vec![])
        });
        let read: BTreeSet<(usize, usize)> =
            parts.iter().flat_map(|p| p.row_groups.iter().map(move |&g| (p.file, g))).collect();
        let filters = plan.filters();
        let summary = ScanSummary {
            format: "read_parquet",
            files: self.files.len(),
            columns: plan.column_names(&self.schema),
            row_groups_read: Some(read.len()),
            row_groups_total: Some(self.files.iter().map(|f| f.metadata.row_groups().len()).sum()),
            partition_rows: filters
                .is_empty()
                .then(|| parts.iter().map(|p| p.rows).chain(parts.is_empty().then_some(0)).collect()),
            filters,
        };
        Ok((df, summary))
    }
}

/// Reads row groups (or a row range of one) of a parquet file, decoding the plan's
/// columns, and applies the plan's steps (see the module docs).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReadParquet {
    /// The file.
    pub path: PathBuf,
    /// Which row groups (none: an empty partition).
    pub row_groups: Vec<usize>,
    /// Rows of the selected row groups to skip first.
    pub offset: usize,
    /// At most this many rows after the offset.
    pub limit: Option<usize>,
    /// How many rows the selection holds (the batch size).
    pub rows: usize,
    /// The columns to decode and the steps to apply.
    pub plan: ReadPlan,
}

impl ReadParquet {
    /// A task giving an empty partition.
    fn nothing(plan: ReadPlan) -> ReadParquet {
        ReadParquet { path: PathBuf::new(), row_groups: vec![], offset: 0, limit: None, rows: 0, plan }
    }

    /// The selected rows of the plan's columns with the plan's steps applied, in one batch.
    fn read(&self) -> Result<RecordBatch, String> {
        let file = File::open(&self.path).map_err(|e| e.to_string())?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())?;
        // The file may have changed since the read was planned: the reader panics on
        // row groups and columns that are not there.
        let groups = builder.metadata().num_row_groups();
        if let Some(g) = self.row_groups.iter().find(|&&g| g >= groups) {
            return Err(format!("no row group {g}: the file has {groups} (did it change since it was opened?)"));
        }
        let roots = builder.parquet_schema().root_schema().get_fields().len();
        if let Some(c) = self.plan.columns.iter().find(|&&c| c >= roots) {
            return Err(format!("no column {c}: the file has {roots} (did it change since it was opened?)"));
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), self.plan.columns.iter().copied());
        let mut builder = builder
            .with_projection(mask)
            .with_row_groups(self.row_groups.clone())
            .with_batch_size(self.plan.batch_size(self.rows));
        if self.offset > 0 {
            builder = builder.with_offset(self.offset);
        }
        if let Some(limit) = self.limit {
            builder = builder.with_limit(limit);
        }
        self.plan.finish_all(builder.build().map_err(|e| e.to_string())?, self.rows)
    }
}

#[typetag::serde(name = "rask.dataframe.read_parquet")]
impl Op for ReadParquet {
    fn name(&self) -> &str {
        "read_parquet"
    }

    fn call(&self, _: Args) -> Result<Value, OpError> {
        if self.row_groups.is_empty() {
            return Ok(Value::Batch(Batch::new(self.plan.empty())));
        }
        let fail = |e: String| OpError::new(format!("read_parquet {}: {e}", self.path.display()));
        let batch = self.read().map_err(fail)?;
        Ok(Value::Batch(Batch::new(batch)))
    }
}

//! `read_csv`: a scan of CSV files with projection pushdown, parsed by Arrow's CSV reader.
//!
//! The schema is given in the options or inferred from the first file's first
//! `infer_rows` records (Arrow's inference: booleans, integers, floats, dates, timestamps,
//! else strings; a column empty in all of them is read as strings). Empty fields are nulls.
//!
//! # Partitions
//!
//! One partition per file; a file of more than `partition_bytes` (default 64 MiB) is cut
//! into equal byte ranges, each widened to whole lines: a line belongs to the range its
//! first byte falls in. Like Dask's `blocksize`, this assumes that quoted fields hold no
//! line breaks; give a larger `partition_bytes` for files whose fields do.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::csv::ReaderBuilder;
use arrow::csv::reader::Format;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rask_graph::{Args, Batch, Op, OpError, Token, Value};
use serde::{Deserialize, Serialize};

use super::paths::{Paths, resolve};
use super::plan::ReadPlan;
use super::scan::{ScanSummary, Source, scan_dataframe};
use super::{FileIdentity, ScanOptions, read_error, scan_option_setters};
use crate::dataframe::DataFrame;
use crate::dataframe::expr::Expr;
use crate::dataframe::partitions::layer_of_partitions;
use crate::error::Result;

/// The extensions of CSV files in a directory.
const CSV_EXTENSIONS: &[&str] = &["csv", "tsv", "txt"];

/// Options of [`read_csv`].
///
/// ```
/// use rask_collections::dataframe::CsvOptions;
/// let options = CsvOptions::default().has_header(false).delimiter(b';').columns(["column_1"]);
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct CsvOptions {
    has_header: bool,
    delimiter: u8,
    schema: Option<SchemaRef>,
    infer_rows: usize,
    scan: ScanOptions,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions { has_header: true, delimiter: b',', schema: None, infer_rows: 1000, scan: ScanOptions::default() }
    }
}

impl CsvOptions {
    /// Whether the first line of each file names the columns (default `true`); without a
    /// header the columns are `column_1`, `column_2`, ...
    pub fn has_header(mut self, has_header: bool) -> Self {
        self.has_header = has_header;
        self
    }

    /// The field delimiter (default `,`).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// The schema of the files, instead of inferring it.
    pub fn schema(mut self, schema: SchemaRef) -> Self {
        self.schema = Some(schema);
        self
    }

    /// How many records of the first file the schema is inferred from (default 1000).
    pub fn infer_rows(mut self, rows: usize) -> Self {
        self.infer_rows = rows.max(1);
        self
    }

    scan_option_setters!();
}

/// A lazy dataframe of CSV files: a file, a directory of `.csv` files, a glob pattern, or
/// a list of them (see [`Paths`]). The schema is given or inferred from the first file
/// now; a missing file or a bad pattern is an error naming it. Per-row steps
/// applied to the result (`select`, `filter`, `with_columns`, `rename`, `drop`) are pushed
/// into the scan, and aggregations prune it: only the columns they need are
/// parsed. One partition per file, large files split on line boundaries (see the module
/// docs of `dataframe::io::csv`).
///
/// ```
/// use rask_collections::dataframe::{col, read_csv, CsvOptions};
/// let path = std::env::temp_dir().join(format!("rask-doc-read-csv-{}.csv", std::process::id()));
/// std::fs::write(&path, "id;name\n1;a\n2;\n")?;
/// let df = read_csv(&path, CsvOptions::default().delimiter(b';'))?;
/// assert_eq!(df.columns(), vec!["id", "name"]);
/// let names = df.select([col("name")])?;
/// assert_eq!(names.scan_summary().unwrap().columns, vec!["name"]);
/// assert_eq!(names.compute()?.column(0).null_count(), 1);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_csv(paths: impl Into<Paths>, options: CsvOptions) -> Result<DataFrame> {
    let files = resolve(&paths.into(), CSV_EXTENSIONS)?;
    let source = CsvSource::open(files, &options)?;
    scan_dataframe(Arc::new(source), options.scan.steps())
}

/// The CSV files of a scan and how to parse them.
#[derive(Debug)]
struct CsvSource {
    files: Vec<(PathBuf, FileIdentity)>,
    schema: SchemaRef,
    has_header: bool,
    delimiter: u8,
    partition_bytes: u64,
}

impl CsvSource {
    fn open(paths: Vec<PathBuf>, options: &CsvOptions) -> Result<CsvSource> {
        let files = paths
            .into_iter()
            .map(|path| {
                let file = File::open(&path).map_err(|e| read_error(&path, &e.to_string()))?;
                let identity = FileIdentity::of(&path, &file)?;
                Ok((path, identity))
            })
            .collect::<Result<Vec<_>>>()?;
        let schema = match &options.schema {
            Some(schema) => schema.clone(),
            None => infer_schema(files.iter().map(|(p, _)| p.as_path()), options)?,
        };
        Ok(CsvSource {
            files,
            schema,
            has_header: options.has_header,
            delimiter: options.delimiter,
            partition_bytes: options.scan.partition_bytes,
        })
    }
}

/// The schema Arrow infers from the first records of the first file that has any (a file
/// with a header line only has none); all-empty columns are strings.
fn infer_schema<'a>(paths: impl IntoIterator<Item = &'a Path>, options: &CsvOptions) -> Result<SchemaRef> {
    let format = Format::default().with_header(options.has_header).with_delimiter(options.delimiter);
    let mut inferred: Option<Schema> = None;
    for path in paths {
        let file = File::open(path).map_err(|e| read_error(path, &e.to_string()))?;
        let (schema, records) = format
            .infer_schema(BufReader::new(file), Some(options.infer_rows))
            .map_err(|e| read_error(path, &format!("cannot infer the CSV schema: {e}")))?;
        if schema.fields().is_empty() && inferred.is_none() {
            return Err(read_error(path, "the file is empty: no columns to infer"));
        }
        inferred.get_or_insert(schema.clone());
        if records > 0 {
            inferred = Some(schema);
            break;
        }
    }
    let schema = inferred.expect("resolve gives at least one file");
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Null => f.as_ref().clone().with_data_type(DataType::Utf8),
            _ => f.as_ref().clone(),
        })
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

impl Source for CsvSource {
    fn file_schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn build(&self, plan: &ReadPlan) -> Result<(DataFrame, ScanSummary)> {
        let ops: Vec<ReadCsv> = self
            .files
            .iter()
            .flat_map(|(path, identity)| {
                let size = identity.size();
                let pieces = size.div_ceil(self.partition_bytes).max(1);
                (0..pieces).map(move |k| (path, size * k / pieces, size * (k + 1) / pieces))
            })
            .map(|(path, start, end)| ReadCsv {
                path: path.clone(),
                start,
                end,
                has_header: self.has_header,
                delimiter: self.delimiter,
                file_schema: self.schema.clone(),
                plan: plan.clone(),
            })
            .collect();
        let identities: Vec<&FileIdentity> = self.files.iter().map(|(_, f)| f).collect();
        let ranges: Vec<(u64, u64)> = ops.iter().map(|op| (op.start, op.end)).collect();
        let token = Token::of(&(identities, ranges, self.has_header, self.delimiter, format!("{plan:?}")));
        let df = layer_of_partitions("read_csv", token, plan.schema.clone(), ops.len(), vec![], |i| {
            (Arc::new(ops[i].clone()) as Arc<dyn Op>, vec![])
        });
        let filters = plan.filters();
        let summary = ScanSummary {
            format: "read_csv",
            files: self.files.len(),
            columns: plan.column_names(&self.schema),
            row_groups_read: None,
            row_groups_total: None,
            filters,
            partition_rows: None,
        };
        Ok((df, summary))
    }
}

/// Parses the lines of one byte range of a CSV file (the lines whose first byte lies in
/// `start..end`), only the plan's columns, and applies the plan's steps.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReadCsv {
    /// The file.
    pub path: PathBuf,
    /// The first byte of the range.
    pub start: u64,
    /// One past the last byte of the range.
    pub end: u64,
    /// Whether the file's first line is a header (skipped by the range holding it).
    pub has_header: bool,
    /// The field delimiter.
    pub delimiter: u8,
    /// The schema of the whole file.
    pub file_schema: SchemaRef,
    /// The columns to parse and the steps to apply.
    pub plan: ReadPlan,
}

impl ReadCsv {
    /// The parsed lines of the range, with the plan's steps applied.
    fn parse(&self) -> Result<RecordBatch, String> {
        let bytes = self.read_lines().map_err(|e| e.to_string())?;
        let rows = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
        let reader = ReaderBuilder::new(self.file_schema.clone())
            .with_header(self.has_header && self.start == 0)
            .with_delimiter(self.delimiter)
            .with_projection(self.plan.columns.clone())
            .with_batch_size(self.plan.batch_size(rows))
            .build(bytes.as_slice())
            .map_err(|e| e.to_string())?;
        self.plan.finish_all(reader, rows)
    }

    /// The bytes of the lines starting in `start..end`.
    fn read_lines(&self) -> std::io::Result<Vec<u8>> {
        let mut file = BufReader::new(File::open(&self.path)?);
        let mut position = self.start.saturating_sub(1);
        file.seek(SeekFrom::Start(position))?;
        if self.start > 0 {
            // The line holding byte start - 1 belongs to the range before.
            position += file.read_until(b'\n', &mut Vec::new())? as u64;
        }
        let mut bytes = Vec::new();
        if position < self.end {
            (&mut file).take(self.end - position).read_to_end(&mut bytes)?;
            if bytes.last().is_some_and(|&b| b != b'\n') {
                file.read_until(b'\n', &mut bytes)?;
            }
        }
        Ok(bytes)
    }
}

#[typetag::serde(name = "rask.dataframe.read_csv")]
impl Op for ReadCsv {
    fn name(&self) -> &str {
        "read_csv"
    }

    fn call(&self, _: Args) -> Result<Value, OpError> {
        let batch = self.parse().map_err(|e| OpError::new(format!("read_csv {}: {e}", self.path.display())))?;
        Ok(Value::Batch(Batch::new(batch)))
    }
}

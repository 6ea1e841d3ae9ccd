//! File scans that absorb per-row steps: projection and predicate pushdown.
//!
//! A dataframe made by a reader remembers its [`Scan`]: the files' [`Source`] and the
//! steps pushed into it so far. A per-row step on such a dataframe (`select`, `filter`,
//! `with_columns`, `rename`, `drop`) does not add a map step; it builds a new scan with one
//! more step, whose tasks decode only the columns the steps need (and, for parquet, only
//! the row groups whose statistics let the filters pass). The steps still run, in the read
//! task, right after decoding ([`ReadPlan`]). Aggregations prune the scan to the columns
//! they read the same way ([`DataFrame::pruned_to`]).

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use super::plan::ReadPlan;
use crate::dataframe::expr::Expr;
use crate::dataframe::{DataFrame, Step};
use crate::error::Result;

/// Where a scan's rows come from: the files of one format, planned into partitions.
pub(crate) trait Source: Send + Sync + fmt::Debug {
    /// The schema of the files.
    fn file_schema(&self) -> &SchemaRef;
    /// The dataframe whose partitions read the files with `plan`, and what it reads.
    fn build(&self, plan: &ReadPlan) -> Result<(DataFrame, ScanSummary)>;
}

/// A reader's dataframe: its source and the steps pushed into it.
#[derive(Debug)]
pub(crate) struct Scan {
    source: Arc<dyn Source>,
    steps: Vec<Step>,
    summary: ScanSummary,
}

/// What a scan reads, for users who want to see that pushdown happened.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("rask-doc-summary-{}", std::process::id()));
/// # let df = rask_collections::dataframe::from_arrays(vec![("x", std::sync::Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3])) as _), ("y", std::sync::Arc::new(arrow::array::Int64Array::from(vec![4, 5, 6])) as _)], 1).unwrap();
/// # df.to_parquet(&dir).unwrap();
/// use rask_collections::dataframe::{col, lit, read_parquet, ParquetOptions};
/// let scan = read_parquet(&dir, ParquetOptions::default())?.filter(col("x").gt(lit(10)))?.select([col("y")])?;
/// let summary = scan.scan_summary().unwrap();
/// assert_eq!(summary.columns, vec!["x", "y"]);
/// assert_eq!((summary.row_groups_read, summary.row_groups_total), (Some(0), Some(1)));
/// assert_eq!(summary.to_string(), "read_parquet: 1 file, columns [x, y], row groups 0 of 1, filters [(x > 10)]");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), rask_collections::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ScanSummary {
    /// The reader: `read_parquet` or `read_csv`.
    pub format: &'static str,
    /// How many files.
    pub files: usize,
    /// The file columns decoded, in file order.
    pub columns: Vec<String>,
    /// Parquet: the row groups read (those the statistics did not rule out).
    pub row_groups_read: Option<usize>,
    /// Parquet: all row groups of the files.
    pub row_groups_total: Option<usize>,
    /// The filters pushed into the scan (they run after decoding).
    pub filters: Vec<Expr>,
    /// The number of rows of each partition, when the footers give them (parquet, no
    /// filter pushed).
    pub partition_rows: Option<Vec<usize>>,
}

impl ScanSummary {
    /// The number of rows, when the footers give it (parquet, no filter pushed).
    pub fn rows(&self) -> Option<usize> {
        self.partition_rows.as_ref().map(|rows| rows.iter().sum())
    }
}

impl fmt::Display for ScanSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.files == 1 { "" } else { "s" };
        write!(f, "{}: {} file{plural}, columns [{}]", self.format, self.files, self.columns.join(", "))?;
        if let (Some(read), Some(total)) = (self.row_groups_read, self.row_groups_total) {
            write!(f, ", row groups {read} of {total}")?;
        }
        if !self.filters.is_empty() {
            let filters: Vec<String> = self.filters.iter().map(|e| e.to_string()).collect();
            write!(f, ", filters [{}]", filters.join(", "))?;
        }
        Ok(())
    }
}

/// The dataframe reading `source` and applying `steps` in its read tasks.
pub(crate) fn scan_dataframe(source: Arc<dyn Source>, steps: Vec<Step>) -> Result<DataFrame> {
    let file_schema = source.file_schema().clone();
    let schema = steps.iter().try_fold(file_schema.clone(), |schema, step| step.output_schema(&schema))?;
    let plan = ReadPlan::new(&file_schema, steps.clone(), schema);
    let (mut df, summary) = source.build(&plan)?;
    df.scan = Some(Arc::new(Scan { source, steps, summary }));
    Ok(df)
}

impl DataFrame {
    /// The same scan with `step` pushed into it, when this dataframe is a scan.
    pub(crate) fn push_into_scan(&self, step: &Step) -> Result<Option<DataFrame>> {
        let Some(scan) = &self.scan else { return Ok(None) };
        let mut steps = scan.steps.clone();
        steps.push(step.clone());
        scan_dataframe(scan.source.clone(), steps).map(Some)
    }

    /// This dataframe with only `columns` (in its own column order) when it is a scan that
    /// decodes more than them, so that the scan decodes only those, or a join whose sides
    /// can be pruned so (recursively); otherwise itself. For operations that read only
    /// some columns (aggregations): they are built on the result. Names that are not
    /// columns leave it whole, for the operation to report.
    pub(crate) fn pruned_to(&self, columns: &[String]) -> Result<DataFrame> {
        let schema = self.schema();
        let all_known = columns.iter().all(|c| schema.field_with_name(c).is_ok());
        let keep: Vec<Expr> = schema
            .fields()
            .iter()
            .filter(|f| columns.contains(f.name()))
            .map(|f| Expr::Column(f.name().clone()))
            .collect();
        if !all_known || keep.is_empty() || keep.len() == schema.fields().len() {
            return Ok(self.clone());
        }
        if self.scan.is_some() {
            return self.select(keep);
        }
        match &self.joined {
            Some(joined) => Ok(joined.pruned_to(&keep)?.unwrap_or_else(|| self.clone())),
            None => Ok(self.clone()),
        }
    }

    /// What this dataframe reads, if it is a file scan (`read_parquet`/`read_csv`, with
    /// any per-row steps applied to it); see [`ScanSummary`].
    pub fn scan_summary(&self) -> Option<&ScanSummary> {
        self.scan.as_ref().map(|s| &s.summary)
    }
}

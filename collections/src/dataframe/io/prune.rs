//! Row-group skipping: which row groups of a parquet file may hold a row where a filter is
//! true, judged from the footer's statistics (min, max, null and NaN counts).
//!
//! A predicate is read as a tree of comparisons of a column with a literal, `is_null` /
//! `is_not_null`, `&`, `|` and `~` (pushed down to the comparisons, so `~(x > 1)` is
//! `x <= 1`). Anything else, a column the statistics do not cover, or a statistic that is
//! missing counts as "may match": a row group is skipped only when the statistics prove
//! the predicate false (or null, which a filter drops) for all of its rows. Comparisons are
//! evaluated with [`Expr::evaluate`] on the arrays of minima and maxima, so literals meet
//! columns with exactly the types and rules the filter itself uses.
//!
//! Writers leave NaN out of float minima and maxima, while Arrow orders NaN above every
//! number (`NaN > 1` is true): tests that NaN could pass (`>`, `>=`, `!=`) skip a float row
//! group only when its NaN count is known to be zero.

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt64Array};
use arrow::datatypes::Schema;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::file::metadata::ParquetMetaData;

use crate::dataframe::expr::{BinaryOp, Expr, Scalar};

/// The statistics of one file's row groups, by column; `names` maps the predicate's
/// column names to the file's (a name absent from it is unknown).
pub(crate) struct RowGroupStats<'a> {
    pub metadata: &'a ParquetMetaData,
    pub schema: &'a Schema,
    pub names: &'a HashMap<String, String>,
}

/// One column's statistics, one entry per row group.
struct ColumnStats {
    mins: ArrayRef,
    maxes: ArrayRef,
    nulls: UInt64Array,
    nans: UInt64Array,
    rows: Vec<u64>,
}

/// Whether each row group may hold a row where `predicate` is true.
pub(crate) fn may_match(predicate: &Expr, stats: &RowGroupStats) -> Vec<bool> {
    let n = stats.metadata.row_groups().len();
    verdict(predicate, false, stats).unwrap_or_else(|| vec![true; n])
}

/// `Some(may)` when the statistics say something about `predicate` (negated when
/// `negated`), `None` when they cannot.
fn verdict(predicate: &Expr, negated: bool, stats: &RowGroupStats) -> Option<Vec<bool>> {
    match predicate {
        Expr::Alias(e, _) => verdict(e, negated, stats),
        Expr::Not(e) => verdict(e, !negated, stats),
        Expr::Binary(op @ (BinaryOp::And | BinaryOp::Or), a, b) => {
            // ~(a & b) = ~a | ~b and ~(a | b) = ~a & ~b.
            let both = (*op == BinaryOp::And) != negated;
            let (a, b) = (verdict(a, negated, stats), verdict(b, negated, stats));
            if both {
                match (a, b) {
                    (Some(a), Some(b)) => Some(a.iter().zip(&b).map(|(x, y)| *x && *y).collect()),
                    (known, None) | (None, known) => known,
                }
            } else {
                Some(a?.iter().zip(&b?).map(|(x, y)| *x || *y).collect())
            }
        }
        Expr::IsNull(e) | Expr::IsNotNull(e) => {
            let Expr::Column(c) = e.as_ref() else { return None };
            let column = column_stats(c, stats)?;
            let want_nulls = matches!(predicate, Expr::IsNull(_)) != negated;
            Some(
                (0..column.rows.len())
                    .map(|g| match column.nulls.is_valid(g).then(|| column.nulls.value(g)) {
                        None => true,
                        Some(nulls) if want_nulls => nulls > 0,
                        Some(nulls) => nulls < column.rows[g],
                    })
                    .collect(),
            )
        }
        Expr::Binary(op, a, b) => {
            let (column, op, literal) = match (a.as_ref(), b.as_ref()) {
                (Expr::Column(c), Expr::Literal(s)) => (c, *op, s),
                (Expr::Literal(s), Expr::Column(c)) => (c, flip(*op)?, s),
                _ => return None,
            };
            let op = if negated { complement(op)? } else { op };
            compare(&column_stats(column, stats)?, op, literal)
        }
        _ => None,
    }
}

/// `a op b` as `b op' a`.
fn flip(op: BinaryOp) -> Option<BinaryOp> {
    use BinaryOp::*;
    Some(match op {
        Lt => Gt,
        LtEq => GtEq,
        Gt => Lt,
        GtEq => LtEq,
        Eq | NotEq => op,
        _ => return None,
    })
}

/// The comparison true exactly where `op` is false (for non-null values).
fn complement(op: BinaryOp) -> Option<BinaryOp> {
    use BinaryOp::*;
    Some(match op {
        Lt => GtEq,
        LtEq => Gt,
        Gt => LtEq,
        GtEq => Lt,
        Eq => NotEq,
        NotEq => Eq,
        _ => return None,
    })
}

/// Whether each row group may hold a value `v` with `v op literal` true.
fn compare(column: &ColumnStats, op: BinaryOp, literal: &Scalar) -> Option<Vec<bool>> {
    use BinaryOp::*;
    if matches!(literal, Scalar::Null) || matches!(literal, Scalar::Float(x) if x.is_nan()) {
        return None;
    }
    let test = |values: &ArrayRef, op: BinaryOp| bound_test(values, op, literal);
    let may: Vec<bool> = match op {
        Lt | LtEq => test(&column.mins, op)?,
        Gt | GtEq => test(&column.maxes, op)?,
        Eq => and(&test(&column.mins, LtEq)?, &test(&column.maxes, GtEq)?),
        // All values equal to the literal is the only way `!=` fails everywhere.
        NotEq => {
            let all_equal = and(&test(&column.mins, Eq)?, &test(&column.maxes, Eq)?);
            all_equal.iter().map(|e| !e).collect()
        }
        _ => return None,
    };
    let nan_sensitive = matches!(op, Gt | GtEq | NotEq) && column.mins.data_type().is_floating();
    Some(
        may.into_iter()
            .enumerate()
            .map(|(g, may)| {
                let all_null = column.nulls.is_valid(g) && column.nulls.value(g) == column.rows[g];
                let nan_free = column.nans.is_valid(g) && column.nans.value(g) == 0;
                !all_null && (may || (nan_sensitive && !nan_free))
            })
            .collect(),
    )
}

/// `bound op literal` per row group, a missing bound counting as true.
fn bound_test(bounds: &ArrayRef, op: BinaryOp, literal: &Scalar) -> Option<Vec<bool>> {
    let batch = RecordBatch::try_from_iter([("bound", bounds.clone())]).ok()?;
    let test = Expr::Binary(op, Box::new(Expr::Column("bound".into())), Box::new(Expr::Literal(literal.clone())));
    let result = test.evaluate(&batch).ok()?;
    let result = result.as_any().downcast_ref::<BooleanArray>()?;
    Some((0..result.len()).map(|g| result.is_null(g) || result.value(g)).collect())
}

fn and(a: &[bool], b: &[bool]) -> Vec<bool> {
    a.iter().zip(b).map(|(x, y)| *x && *y).collect()
}

/// The statistics of the file column behind the predicate's column `name`.
fn column_stats(name: &str, stats: &RowGroupStats) -> Option<ColumnStats> {
    let file_name = stats.names.get(name)?;
    let parquet_schema = stats.metadata.file_metadata().schema_descr();
    let converter = StatisticsConverter::try_new(file_name, stats.schema, parquet_schema)
        .ok()?
        .with_missing_null_counts_as_zero(false);
    let groups = stats.metadata.row_groups();
    Some(ColumnStats {
        mins: converter.row_group_mins(groups).ok()?,
        maxes: converter.row_group_maxes(groups).ok()?,
        nulls: converter.row_group_null_counts(groups).ok()?,
        nans: converter.row_group_nan_counts(groups).ok()?,
        rows: groups.iter().map(|g| g.num_rows().max(0) as u64).collect(),
    })
}

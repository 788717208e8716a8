//! `whet profile`: per-column statistics and roles, and dataset warnings with suggestions.
//! The serialized `Profile` is the stable `--json` schema documented in docs/profile-json.md.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::hash::{fold_row, hash_bytes, mix64};
use crate::roles::{Role, Task, check_task, infer_role, infer_task};
use crate::summary::{
    ColumnSummary, Histogram, NumericStats, TextStats, ValueCount, numeric_values, radix_sort_u64,
    summarize,
};
use crate::table::{Table, ValueType};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetMissing {
    /// Drop rows whose target is missing and say how many.
    #[default]
    Drop,
    Error,
}

#[derive(Clone, Debug, Default)]
pub struct ProfileOptions {
    pub target: Option<String>,
    pub task: Option<Task>,
    pub target_missing: TargetMissing,
    /// Asked between columns and between the profile's passes: once it answers true the
    /// profile ends with [`DataError::Interrupted`] (Ctrl-C in the binary). A plain function,
    /// so that this crate needs no signal handling of its own.
    pub stop: Option<fn() -> bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    Constant,
    NearConstant,
    AllMissing,
    HeavyMissing,
    IdLike,
    DuplicateRows,
    HighCardinality,
    ClassImbalance,
    TinyClass,
    TargetLeakage,
    MixedTypes,
    TargetMissing,
    TrainTestOverlap,
    TestMissingColumns,
    TestTypeMismatch,
    CoercedValues,
    /// Infinite numbers (`inf`, `-Infinity`, or values that overflowed when read).
    NonFinite,
    /// The target has fewer than two distinct values: the profile goes on without it.
    UnusableTarget,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    pub kind: WarningKind,
    pub severity: Severity,
    /// The column concerned; absent for dataset-wide warnings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub message: String,
    pub suggestion: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    pub name: String,
    #[serde(rename = "type")]
    pub value_type: ValueType,
    pub role: Role,
    pub count: u64,
    pub missing: u64,
    pub missing_pct: f64,
    pub distinct: u64,
    /// min/max/mean/std/quartiles: numbers for numeric columns, epoch milliseconds for datetimes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<NumericStats>,
    /// For datetime columns, the first and last instants in ISO 8601.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<TextStats>,
    pub top_values: Vec<ValueCount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Histogram>,
    /// How well this column alone predicts the target (accuracy for classification, R² for
    /// regression, from per-bin majority/mean); present when a target is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_power: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestComparison {
    pub file: String,
    pub rows: u64,
    /// Test rows identical (on the shared feature columns) to some training row.
    pub shared_rows: u64,
    pub missing_columns: Vec<String>,
    pub extra_columns: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub schema_version: u32,
    pub file: String,
    pub rows: u64,
    pub n_columns: u64,
    pub duplicate_rows: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
    /// Class counts for classification targets, most frequent first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<ValueCount>>,
    pub target_rows_dropped: u64,
    pub columns: Vec<ColumnProfile>,
    pub warnings: Vec<Warning>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<TestComparison>,
    pub notes: Vec<String>,
}

/// The result of settling the target: rows with a missing target removed, and the task.
pub struct TargetInfo {
    pub table: Table,
    pub index: usize,
    pub task: Task,
    pub dropped: u64,
    /// Rows of the input kept (ascending), when some were dropped; None when all were.
    pub kept_rows: Option<Vec<u32>>,
    pub summary: ColumnSummary,
}

/// Finds the target, drops (or rejects) rows where it is missing, and settles the task.
pub fn prepare_target(
    table: &Table,
    target: &str,
    task: Option<Task>,
    on_missing: TargetMissing,
) -> Result<TargetInfo> {
    let index = table.require(target)?;
    let array = table.array(index);
    let missing_rows: Vec<bool> = missing_mask(array);
    let n_missing = missing_rows.iter().filter(|m| **m).count() as u64;
    let mut kept_rows = None;
    let table = if n_missing == 0 {
        table.clone()
    } else {
        if on_missing == TargetMissing::Error {
            let first = missing_rows.iter().position(|m| *m).unwrap_or(0) + 1;
            return Err(DataError::invalid(
                format!(
                    "target '{target}' is missing in {n_missing} rows (first at data row {first})"
                ),
                "remove those rows, or let whet drop them (--target-missing drop)",
            ));
        }
        let keep: Vec<u32> = missing_rows
            .iter()
            .enumerate()
            .filter(|(_, m)| !**m)
            .map(|(i, _)| i as u32)
            .collect();
        if keep.is_empty() {
            return Err(DataError::invalid(
                format!("target '{target}' is missing in every row"),
                "choose another target column",
            ));
        }
        let kept = table.take_rows(&keep)?;
        kept_rows = Some(keep);
        kept
    };
    let summary = summarize(target, table.columns[index].value_type, table.array(index));
    let task = match task {
        Some(t) => {
            check_task(&summary, t)?;
            t
        }
        None => infer_task(&summary)?,
    };
    Ok(TargetInfo {
        table,
        index,
        task,
        dropped: n_missing,
        kept_rows,
        summary,
    })
}

/// How many values of a float column are infinite, and the first such data row (1-based).
pub fn infinite_values(array: &ArrayRef) -> (u64, Option<u64>) {
    if array.data_type() != &DataType::Float64 {
        return (0, None);
    }
    let mut count = 0;
    let mut first = None;
    for (row, v) in array.as_primitive::<Float64Type>().iter().enumerate() {
        if v.is_some_and(f64::is_infinite) {
            count += 1;
            first.get_or_insert(row as u64 + 1);
        }
    }
    (count, first)
}

/// Regression targets a model can be fitted to: no infinities, and a scale whose squares
/// stay finite (squared errors of values near 1e300 overflow, and every score reads NaN).
/// `data_rows` maps the table's rows to the data rows of the file, for the message.
pub fn check_regression_target(
    table: &Table,
    target: &str,
    data_rows: Option<&[u64]>,
) -> Result<()> {
    let index = table.require(target)?;
    let array = table.array(index);
    let Some(values) = crate::summary::numeric_values(array.as_ref()) else {
        return Ok(());
    };
    let row_of = |i: usize| {
        data_rows
            .and_then(|d| d.get(i).copied())
            .unwrap_or(i as u64 + 1)
    };
    let infinite: Vec<u64> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_some_and(f64::is_infinite))
        .map(|(i, _)| row_of(i))
        .collect();
    if !infinite.is_empty() {
        let shown: Vec<String> = infinite.iter().take(5).map(u64::to_string).collect();
        return Err(DataError::invalid(
            format!(
                "target '{target}' is infinite in {} rows (data rows {}{})",
                infinite.len(),
                shown.join(", "),
                if infinite.len() > 5 { ", …" } else { "" }
            ),
            "a model cannot predict infinity: fix or remove those rows",
        ));
    }
    // Beyond this, squares of differences overflow f64.
    const LARGEST: f64 = 1e150;
    if let Some((i, v)) = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .find(|(_, v)| v.abs() > LARGEST)
    {
        return Err(DataError::invalid(
            format!(
                "target '{target}' holds {v:e} (data row {}): squared errors of values this large overflow",
                row_of(i)
            ),
            "rescale the target (e.g. divide by a power of ten, or take its logarithm) and train again",
        ));
    }
    Ok(())
}

fn missing_mask(array: &ArrayRef) -> Vec<bool> {
    match array.data_type() {
        DataType::Float64 => array
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.is_none_or(f64::is_nan))
            .collect(),
        _ => (0..array.len()).map(|i| array.is_null(i)).collect(),
    }
}

pub fn profile(table: &Table, options: &ProfileOptions, test: Option<&Table>) -> Result<Profile> {
    let mut warnings = Vec::new();
    let target = match &options.target {
        Some(t) => {
            let index = table.require(t)?;
            let summary = summarize(t, table.columns[index].value_type, table.array(index));
            if summary.distinct < 2 {
                // Nothing to learn, but plenty to profile: say so and carry on.
                warnings.push(Warning {
                    kind: WarningKind::UnusableTarget,
                    severity: Severity::Critical,
                    column: Some(t.clone()),
                    message: format!(
                        "the target has {} distinct value{} in {} rows: no model can learn from it",
                        summary.distinct,
                        if summary.distinct == 1 { "" } else { "s" },
                        table.n_rows()
                    ),
                    suggestion:
                        "choose a target column that varies, or check that the right file was given"
                            .into(),
                });
                None
            } else {
                Some(prepare_target(
                    table,
                    t,
                    options.task,
                    options.target_missing,
                )?)
            }
        }
        None => None,
    };
    let table = target.as_ref().map_or(table, |t| &t.table);
    let stop = options.stop.unwrap_or(|| false);
    let stopped = || -> Result<()> {
        if stop() {
            return Err(DataError::Interrupted {
                path: table.source.clone().unwrap_or_default(),
            });
        }
        Ok(())
    };
    stopped()?;
    let summaries = crate::summary::summarize_table_until(table, stop).ok_or_else(|| {
        DataError::Interrupted {
            path: table.source.clone().unwrap_or_default(),
        }
    })?;
    let mut columns: Vec<ColumnProfile> = summaries
        .iter()
        .zip(&table.columns)
        .enumerate()
        .map(|(i, (s, info))| {
            let role = if target.as_ref().is_some_and(|t| t.index == i) {
                Role::Target
            } else {
                infer_role(s, info.hint)
            };
            column_profile(s, role)
        })
        .collect();

    if let Some(t) = &target {
        if t.dropped > 0 {
            warnings.push(Warning {
                kind: WarningKind::TargetMissing,
                severity: Severity::Warning,
                column: Some(t.summary.name.clone()),
                message: format!(
                    "{} rows have no value for the target and were dropped",
                    t.dropped
                ),
                suggestion: "fill the target for those rows if they are labelled elsewhere; training drops them too".into(),
            });
        }
        stopped()?;
        let powers = target_power(table, t, &columns);
        for (c, p) in columns.iter_mut().zip(powers) {
            c.target_power = p;
        }
    }

    stopped()?;
    let duplicate_rows = count_duplicate_rows(table);
    stopped()?;
    column_warnings(table, &columns, &mut warnings);
    if duplicate_rows > 0 {
        let pct = 100.0 * duplicate_rows as f64 / table.n_rows() as f64;
        warnings.push(Warning {
            kind: WarningKind::DuplicateRows,
            severity: if pct > 5.0 { Severity::Warning } else { Severity::Info },
            column: None,
            message: format!("{duplicate_rows} rows ({pct:.1}%) repeat an earlier row exactly"),
            suggestion: "remove duplicates before training, or split by group so copies of a row cannot land on both sides of a validation split".into(),
        });
    }
    let classes = target
        .as_ref()
        .filter(|t| t.task.is_classification())
        .map(|t| {
            let s = &t.summary;
            let mut all = full_value_counts(table.array(t.index), s.value_type);
            all.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
            class_warnings(&s.name, &all, &mut warnings);
            all
        });
    if let Some(t) = &target {
        leakage_warnings(&columns, t, &mut warnings);
    }
    stopped()?;
    let test = test.map(|test| compare_test(table, test, target.as_ref(), &mut warnings));
    stopped()?;
    // An unusable target's critical warning says all there is to say about that column; a
    // "drop the column" hint on the target would mislead.
    let unusable: Vec<Option<String>> = warnings
        .iter()
        .filter(|w| w.kind == WarningKind::UnusableTarget)
        .map(|w| w.column.clone())
        .collect();
    warnings.retain(|w| {
        w.kind == WarningKind::UnusableTarget
            || !matches!(w.kind, WarningKind::Constant | WarningKind::AllMissing)
            || !unusable.contains(&w.column)
    });
    warnings.sort_by_key(|w| std::cmp::Reverse(w.severity));
    Ok(Profile {
        schema_version: SCHEMA_VERSION,
        file: table
            .source
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        rows: table.n_rows() as u64,
        n_columns: table.n_cols() as u64,
        duplicate_rows,
        target: target.as_ref().map(|t| t.summary.name.clone()),
        task: target.as_ref().map(|t| t.task),
        classes,
        target_rows_dropped: target.as_ref().map_or(0, |t| t.dropped),
        columns,
        warnings,
        test,
        notes: table.notes.clone(),
    })
}

fn column_profile(s: &ColumnSummary, role: Role) -> ColumnProfile {
    let is_date = s.value_type == ValueType::Datetime;
    let iso = |v: f64| crate::datetime::format_iso(v as i64);
    ColumnProfile {
        name: s.name.clone(),
        value_type: s.value_type,
        role,
        count: s.count,
        missing: s.missing,
        missing_pct: round4(100.0 * s.missing_fraction()),
        distinct: s.distinct,
        stats: s.numeric.clone(),
        first: s.numeric.as_ref().filter(|_| is_date).map(|n| iso(n.min)),
        last: s.numeric.as_ref().filter(|_| is_date).map(|n| iso(n.max)),
        text: s.text.clone(),
        top_values: s.top_values.clone(),
        histogram: s.histogram.clone(),
        target_power: None,
    }
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

fn column_warnings(table: &Table, columns: &[ColumnProfile], out: &mut Vec<Warning>) {
    for (i, (c, info)) in columns.iter().zip(&table.columns).enumerate() {
        let name = Some(c.name.clone());
        let (infinite, first) = infinite_values(table.array(i));
        if infinite > 0 {
            out.push(Warning {
                kind: WarningKind::NonFinite,
                severity: Severity::Warning,
                column: name.clone(),
                message: format!(
                    "{infinite} values are infinite (first at data row {})",
                    first.unwrap_or(0)
                ),
                suggestion: "replace them (e.g. with a large finite value or as missing); trees put them in the last bin, linear models and kNN cannot use them".into(),
            });
        }
        if c.role == Role::Target {
            continue;
        }
        if let Some(m) = &info.mixed {
            out.push(Warning {
                kind: WarningKind::MixedTypes,
                severity: Severity::Warning,
                column: name.clone(),
                message: format!(
                    "{} values are numbers but {} are not (e.g. '{}' at data row {}); the column is read as text",
                    m.numeric_values, m.other_values, m.example, m.example_row
                ),
                suggestion: format!(
                    "if '{}' means missing, add it with --na; to read the column as numbers anyway pass --types {}=numeric",
                    m.example, c.name
                ),
            });
        }
        if c.missing == c.count {
            out.push(Warning {
                kind: WarningKind::AllMissing,
                severity: Severity::Warning,
                column: name,
                message: "every value is missing".into(),
                suggestion: "drop the column; it carries no information (whet's prep ignores it)"
                    .into(),
            });
            continue;
        }
        match c.role {
            Role::Constant => out.push(Warning {
                kind: WarningKind::Constant,
                severity: Severity::Warning,
                column: name.clone(),
                message: format!(
                    "only one distinct value ({})",
                    c.top_values.first().map_or("", |v| v.value.as_str())
                ),
                suggestion: "drop the column; it cannot help a model (whet's prep ignores it)".into(),
            }),
            Role::Id => out.push(Warning {
                kind: WarningKind::IdLike,
                severity: Severity::Warning,
                column: name.clone(),
                message: format!("{} distinct values in {} rows: looks like an identifier", c.distinct, c.count - c.missing),
                suggestion: format!(
                    "exclude it from features (whet's prep ignores id columns); if rows of one {} belong together, use it for group k-fold",
                    c.name
                ),
            }),
            Role::CategoricalHigh => out.push(Warning {
                kind: WarningKind::HighCardinality,
                severity: Severity::Info,
                column: name.clone(),
                message: format!("{} distinct categories", c.distinct),
                suggestion: "rare categories are grouped by whet's prep; consider grouping them yourself, or --types COLUMN=text for hashed tokens".into(),
            }),
            _ => {}
        }
        let n = (c.count - c.missing).max(1);
        let top_share = c
            .top_values
            .first()
            .map_or(0.0, |v| v.count as f64 / n as f64);
        if c.role != Role::Constant && c.distinct > 1 && top_share >= 0.99 {
            out.push(Warning {
                kind: WarningKind::NearConstant,
                severity: Severity::Info,
                column: name.clone(),
                message: format!(
                    "{:.2}% of values are '{}'",
                    100.0 * top_share,
                    c.top_values[0].value
                ),
                suggestion: "the column carries little information; consider dropping it unless the rare values matter".into(),
            });
        }
        if c.missing_pct > 50.0 {
            out.push(Warning {
                kind: WarningKind::HeavyMissing,
                severity: Severity::Warning,
                column: name.clone(),
                message: format!("{:.1}% of values are missing", c.missing_pct),
                suggestion: "trees handle missing values natively, but check why they are missing; if missingness itself is informative keep the column, else drop it".into(),
            });
        }
        if info.coerced_to_missing > 0 {
            out.push(Warning {
                kind: WarningKind::CoercedValues,
                severity: Severity::Warning,
                column: name,
                message: format!(
                    "{} values could not be read as {} and were treated as missing",
                    info.coerced_to_missing,
                    info.value_type.name()
                ),
                suggestion: "check the --types override for this column".into(),
            });
        }
    }
}

fn class_warnings(target: &str, classes: &[ValueCount], out: &mut Vec<Warning>) {
    let total: u64 = classes.iter().map(|c| c.count).sum();
    let Some(min) = classes.last() else {
        return;
    };
    let share = min.count as f64 / total.max(1) as f64;
    if share < 0.05 {
        out.push(Warning {
            kind: WarningKind::ClassImbalance,
            severity: if share < 0.01 { Severity::Critical } else { Severity::Warning },
            column: Some(target.to_string()),
            message: format!(
                "class '{}' has {} rows ({:.2}% of {}); accuracy will look good while missing it",
                min.value,
                min.count,
                100.0 * share,
                total
            ),
            suggestion: "judge models by ROC AUC, PR AUC or balanced accuracy, use stratified splits, and consider class weights".into(),
        });
    }
    if min.count < 10 {
        out.push(Warning {
            kind: WarningKind::TinyClass,
            severity: Severity::Warning,
            column: Some(target.to_string()),
            message: format!("class '{}' has only {} rows", min.value, min.count),
            suggestion: format!(
                "stratified cross-validation needs at least as many rows per class as folds (use at most {} folds), or merge rare classes",
                min.count.max(2)
            ),
        });
    }
}

fn leakage_warnings(columns: &[ColumnProfile], t: &TargetInfo, out: &mut Vec<Warning>) {
    for c in columns {
        let Some(power) = c.target_power else {
            continue;
        };
        let leak = match t.task {
            Task::Regression => power >= 0.98,
            _ => {
                let baseline = t.summary.top_share();
                power >= 0.99 && (power - baseline) / (1.0 - baseline).max(1e-9) >= 0.95
            }
        };
        if leak {
            let what = if t.task == Task::Regression {
                format!("explains {:.1}% of the target's variance", 100.0 * power)
            } else {
                format!("predicts the target with {:.1}% accuracy", 100.0 * power)
            };
            out.push(Warning {
                kind: WarningKind::TargetLeakage,
                severity: Severity::Critical,
                column: Some(c.name.clone()),
                message: format!("this column alone {what}"),
                suggestion: "check that it is known at prediction time and is not derived from the target; if it leaks, drop it (--types COLUMN=ignore)".into(),
            });
        }
    }
}

/// Bins of at least this many rows, so a column cannot "predict" by memorising single rows.
const MIN_ROWS_PER_BIN: usize = 20;
const MAX_BINS: usize = 64;

/// How well each feature column alone predicts the target: accuracy of the per-bin majority
/// class, or R² of per-bin means. Numeric columns are cut into equal-frequency bins.
fn target_power(table: &Table, t: &TargetInfo, columns: &[ColumnProfile]) -> Vec<Option<f64>> {
    let n = table.n_rows();
    let target = table.array(t.index);
    let y = TargetValues::new(target, t.task);
    let max_bins = (n / MIN_ROWS_PER_BIN).clamp(1, MAX_BINS);
    (0..table.n_cols())
        .into_par_iter()
        .map(|i| {
            let c = &columns[i];
            if i == t.index || !c.role.is_feature() || c.distinct < 2 {
                return None;
            }
            let bins = bin_column(table.array(i), c, max_bins)?;
            Some(round4(y.power(&bins)))
        })
        .collect()
}

enum TargetValues {
    Classes { codes: Vec<u32>, n_classes: usize },
    Numbers(Vec<f64>),
}

impl TargetValues {
    fn new(array: &ArrayRef, task: Task) -> TargetValues {
        if task.is_classification() {
            let (codes, n_classes) = category_codes(array);
            TargetValues::Classes { codes, n_classes }
        } else {
            let v = numeric_values(array.as_ref())
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.unwrap_or(0.0))
                .collect();
            TargetValues::Numbers(v)
        }
    }

    fn power(&self, bins: &(Vec<u32>, usize)) -> f64 {
        let (bin_of, n_bins) = bins;
        match self {
            TargetValues::Classes { codes, n_classes } => {
                let mut counts = vec![0u32; n_bins * n_classes];
                for (&b, &y) in bin_of.iter().zip(codes) {
                    counts[b as usize * n_classes + y as usize] += 1;
                }
                let correct: u64 = counts
                    .chunks(*n_classes)
                    .map(|c| u64::from(c.iter().copied().max().unwrap_or(0)))
                    .sum();
                correct as f64 / codes.len().max(1) as f64
            }
            TargetValues::Numbers(y) => {
                let mut sum = vec![0.0; *n_bins];
                let mut cnt = vec![0.0; *n_bins];
                for (&b, &v) in bin_of.iter().zip(y) {
                    sum[b as usize] += v;
                    cnt[b as usize] += 1.0;
                }
                let mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
                let sst: f64 = y.iter().map(|v| (v - mean) * (v - mean)).sum();
                if sst <= 0.0 {
                    return 0.0;
                }
                let sse: f64 = bin_of
                    .iter()
                    .zip(y)
                    .map(|(&b, &v)| {
                        let m = sum[b as usize] / cnt[b as usize];
                        (v - m) * (v - m)
                    })
                    .sum();
                (1.0 - sse / sst).max(0.0)
            }
        }
    }
}

/// Dense codes 0..k for the distinct values of any column (missing gets its own code).
fn category_codes(array: &ArrayRef) -> (Vec<u32>, usize) {
    let mut map: HashMap<u64, u32> = HashMap::new();
    let hashes = value_hashes(array);
    let codes = hashes
        .into_iter()
        .map(|h| {
            let next = map.len() as u32;
            *map.entry(h).or_insert(next)
        })
        .collect();
    (codes, map.len())
}

/// Assigns each row a bin: equal-frequency bins for numeric columns, one bin per category
/// (when there are few enough) otherwise; missing values share one extra bin.
fn bin_column(array: &ArrayRef, c: &ColumnProfile, max_bins: usize) -> Option<(Vec<u32>, usize)> {
    let n = array.len();
    let numeric = matches!(
        c.value_type,
        ValueType::Integer | ValueType::Float | ValueType::Datetime
    );
    if !numeric || c.distinct as usize <= max_bins {
        if c.distinct as usize > max_bins {
            return None;
        }
        return Some(category_codes(array));
    }
    let values = numeric_values(array.as_ref())?;
    let mut order: Vec<(f64, u32)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (v, i as u32)))
        .collect();
    order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let per_bin = order.len().div_ceil(max_bins).max(1);
    let missing_bin = max_bins as u32;
    let mut bins = vec![missing_bin; n];
    let mut bin = 0u32;
    let mut in_bin = 0usize;
    for (k, &(v, row)) in order.iter().enumerate() {
        // Equal values stay in one bin so the cut never separates identical inputs.
        if in_bin >= per_bin && k > 0 && order[k - 1].0 != v {
            bin += 1;
            in_bin = 0;
        }
        bins[row as usize] = bin;
        in_bin += 1;
    }
    Some((bins, max_bins + 1))
}

/// All values of a classification target with their counts.
fn full_value_counts(array: &ArrayRef, value_type: ValueType) -> Vec<ValueCount> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    match value_type {
        ValueType::String => {
            for v in array.as_string::<i32>().iter().flatten() {
                *counts.entry(v.to_string()).or_default() += 1;
            }
        }
        ValueType::Boolean => {
            for v in array.as_boolean().iter().flatten() {
                *counts.entry(v.to_string()).or_default() += 1;
            }
        }
        ValueType::Integer => {
            for v in array.as_primitive::<Int64Type>().iter().flatten() {
                *counts.entry(v.to_string()).or_default() += 1;
            }
        }
        ValueType::Float => {
            for v in array.as_primitive::<Float64Type>().iter().flatten() {
                *counts.entry(crate::summary::format_float(v)).or_default() += 1;
            }
        }
        ValueType::Datetime => {
            for v in array
                .as_primitive::<TimestampMillisecondType>()
                .iter()
                .flatten()
            {
                *counts.entry(crate::datetime::format_iso(v)).or_default() += 1;
            }
        }
    }
    counts
        .into_iter()
        .map(|(value, count)| ValueCount { value, count })
        .collect()
}

const NULL_HASH: u64 = 0x9e37_79b9_7f4a_7c15;

/// One hash per row of a column. Numbers hash by value (1 and 1.0 agree) so a column read as
/// integer in one file and float in another still matches.
pub fn value_hashes(array: &ArrayRef) -> Vec<u64> {
    let num = |v: f64| {
        if v.is_nan() {
            return NULL_HASH;
        }
        let v = if v == 0.0 { 0.0 } else { v };
        mix64(v.to_bits())
    };
    let with_nulls = |hashes: Vec<u64>| -> Vec<u64> {
        match array.nulls() {
            Some(nulls) => hashes
                .into_iter()
                .zip(nulls.iter())
                .map(|(h, valid)| if valid { h } else { NULL_HASH })
                .collect(),
            None => hashes,
        }
    };
    match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map_or(NULL_HASH, |s| hash_bytes(s.as_bytes())))
            .collect(),
        DataType::Float64 => with_nulls(
            array
                .as_primitive::<Float64Type>()
                .values()
                .iter()
                .map(|&v| num(v))
                .collect(),
        ),
        DataType::Int64 => with_nulls(
            array
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .map(|&v| num(v as f64))
                .collect(),
        ),
        _ => match numeric_values(array.as_ref()) {
            Some(values) => values
                .into_iter()
                .map(|v| v.map_or(NULL_HASH, num))
                .collect(),
            None => vec![NULL_HASH; array.len()],
        },
    }
}

fn row_hashes(table: &Table, columns: &[usize]) -> Vec<u64> {
    // Blocks of rows in parallel; each block folds the columns in order, as one pass would.
    const BLOCK: usize = 1 << 14;
    let mut rows = vec![0u64; table.n_rows()];
    rows.par_chunks_mut(BLOCK).enumerate().for_each(|(b, out)| {
        for &c in columns {
            let part = table.array(c).slice(b * BLOCK, out.len());
            for (r, h) in out.iter_mut().zip(value_hashes(&part)) {
                *r = fold_row(*r, h);
            }
        }
    });
    rows
}

fn count_duplicate_rows(table: &Table) -> u64 {
    let all: Vec<usize> = (0..table.n_cols()).collect();
    let mut hashes = row_hashes(table, &all);
    let n = hashes.len() as u64;
    radix_sort_u64(&mut hashes);
    hashes.dedup();
    n - hashes.len() as u64
}

fn compare_test(
    train: &Table,
    test: &Table,
    target: Option<&TargetInfo>,
    out: &mut Vec<Warning>,
) -> TestComparison {
    let target_name = target.map(|t| t.summary.name.as_str());
    let missing: Vec<String> = train
        .names()
        .filter(|n| Some(*n) != target_name && test.index_of(n).is_none())
        .map(str::to_string)
        .collect();
    let extra: Vec<String> = test
        .names()
        .filter(|n| train.index_of(n).is_none())
        .map(str::to_string)
        .collect();
    let shared: Vec<(usize, usize)> = train
        .names()
        .enumerate()
        .filter(|(_, n)| Some(*n) != target_name)
        .filter_map(|(i, n)| test.index_of(n).map(|j| (i, j)))
        .collect();
    let shared_rows = if shared.is_empty() {
        0
    } else {
        let train_cols: Vec<usize> = shared.iter().map(|p| p.0).collect();
        let test_cols: Vec<usize> = shared.iter().map(|p| p.1).collect();
        let mut train_hashes = row_hashes(train, &train_cols);
        radix_sort_u64(&mut train_hashes);
        row_hashes(test, &test_cols)
            .into_iter()
            .filter(|h| train_hashes.binary_search(h).is_ok())
            .count() as u64
    };
    let file = test
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if shared_rows > 0 {
        let pct = 100.0 * shared_rows as f64 / test.n_rows().max(1) as f64;
        out.push(Warning {
            kind: WarningKind::TrainTestOverlap,
            severity: if pct > 1.0 { Severity::Critical } else { Severity::Warning },
            column: None,
            message: format!(
                "{shared_rows} test rows ({pct:.1}%) also appear in the training data; test scores will be optimistic"
            ),
            suggestion: "remove those rows from the test set, or re-split by group or time so no row is on both sides".into(),
        });
    }
    if !missing.is_empty() {
        out.push(Warning {
            kind: WarningKind::TestMissingColumns,
            severity: Severity::Critical,
            column: None,
            message: format!("the test file lacks columns: {}", missing.join(", ")),
            suggestion: "a model trained on this file cannot score the test file; add the columns or ignore them in training".into(),
        });
    }
    for (i, j) in shared {
        let (a, b) = (train.columns[i].value_type, test.columns[j].value_type);
        if a != b && !(a.is_numeric() && b.is_numeric()) {
            out.push(Warning {
                kind: WarningKind::TestTypeMismatch,
                severity: Severity::Warning,
                column: Some(train.columns[i].name.clone()),
                message: format!("{} in the training file but {} in the test file", a.name(), b.name()),
                suggestion: "check the test file's values in this column (a stray word in a numeric column makes it text)".into(),
            });
        }
    }
    TestComparison {
        file,
        rows: test.n_rows() as u64,
        shared_rows,
        missing_columns: missing,
        extra_columns: extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int64Array, StringArray};
    use std::sync::Arc;

    fn table(cols: Vec<(&str, ValueType, ArrayRef)>) -> Table {
        Table::from_columns(cols).unwrap()
    }

    #[test]
    fn finds_leakage_duplicates_and_imbalance() {
        let n = 400;
        let y: Vec<i64> = (0..n).map(|i| i64::from(i % 50 == 0)).collect();
        let leak: Vec<f64> = y.iter().map(|&v| v as f64 * 10.0 + 0.5).collect();
        let noise: Vec<f64> = (0..n).map(|i| ((i * 7919) % 101) as f64).collect();
        let t = table(vec![
            ("y", ValueType::Integer, Arc::new(Int64Array::from(y))),
            ("leak", ValueType::Float, Arc::new(Float64Array::from(leak))),
            (
                "noise",
                ValueType::Float,
                Arc::new(Float64Array::from(noise)),
            ),
        ]);
        let p = profile(
            &t,
            &ProfileOptions {
                target: Some("y".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(p.task, Some(Task::Binary));
        let kinds: Vec<(WarningKind, Option<String>)> = p
            .warnings
            .iter()
            .map(|w| (w.kind, w.column.clone()))
            .collect();
        assert!(
            kinds.contains(&(WarningKind::TargetLeakage, Some("leak".into()))),
            "{kinds:?}"
        );
        assert!(
            !kinds.contains(&(WarningKind::TargetLeakage, Some("noise".into()))),
            "{kinds:?}"
        );
        assert!(kinds.iter().any(|k| k.0 == WarningKind::ClassImbalance));
        assert!(kinds.iter().any(|k| k.0 == WarningKind::DuplicateRows));
    }

    #[test]
    fn target_missing_rows_dropped_or_rejected() {
        let t = table(vec![
            (
                "y",
                ValueType::String,
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    None,
                    Some("b"),
                    Some("a"),
                ])),
            ),
            (
                "x",
                ValueType::Integer,
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
            ),
        ]);
        let info = prepare_target(&t, "y", None, TargetMissing::Drop).unwrap();
        assert_eq!(info.dropped, 1);
        assert_eq!(info.table.n_rows(), 3);
        let err = prepare_target(&t, "y", None, TargetMissing::Error)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("missing in 1 rows"), "{err}");
        let err = prepare_target(&t, "why", None, TargetMissing::Drop)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("did you mean 'y'"), "{err}");
    }

    #[test]
    fn train_test_overlap_counted() {
        let train = table(vec![(
            "a",
            ValueType::Integer,
            Arc::new(Int64Array::from(vec![1, 2, 3])),
        )]);
        let test = table(vec![(
            "a",
            ValueType::Float,
            Arc::new(Float64Array::from(vec![3.0, 4.0])),
        )]);
        let mut w = Vec::new();
        let c = compare_test(&train, &test, None, &mut w);
        assert_eq!(c.shared_rows, 1);
        assert_eq!(w[0].kind, WarningKind::TrainTestOverlap);
    }

    static ASKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// Says "stop" from its fourth question on: the profile is then past its start and
    /// inside its per-column pass (30 columns).
    fn stop_after_three_questions() -> bool {
        ASKED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 3
    }

    #[test]
    fn a_stop_request_ends_the_profile_part_way() {
        let n = 2_000;
        let columns: Vec<(String, Vec<f64>)> = (0..30)
            .map(|c| {
                let v = (0..n).map(|i| ((i * (c + 7)) % 97) as f64).collect();
                (format!("x{c}"), v)
            })
            .collect();
        let t = table(
            columns
                .iter()
                .map(|(name, v)| {
                    let a: ArrayRef = Arc::new(Float64Array::from(v.clone()));
                    (name.as_str(), ValueType::Float, a)
                })
                .collect(),
        );
        let whole = profile(&t, &ProfileOptions::default(), None).unwrap();
        assert_eq!(whole.columns.len(), 30);
        let never = ProfileOptions {
            stop: Some(|| false),
            ..Default::default()
        };
        assert_eq!(profile(&t, &never, None).unwrap().columns.len(), 30);

        let part_way = ProfileOptions {
            stop: Some(stop_after_three_questions),
            ..Default::default()
        };
        let err = profile(&t, &part_way, None).unwrap_err();
        assert!(matches!(err, DataError::Interrupted { .. }), "{err}");
        // Asked once before the columns, then per column until the answer changed: stopping
        // did not wait for the rest of the profile.
        assert!(ASKED.load(std::sync::atomic::Ordering::SeqCst) >= 4);
    }
}

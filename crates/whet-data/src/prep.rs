//! Prep: the fitted, serializable transform from a table to model features.
//!
//! Fitting decides, from the training table alone, which columns become which features and
//! remembers everything needed to repeat that on new data (category lists, medians, datetime
//! parts, text hashing). Every model carries its Prep, so prediction applies exactly the
//! transform the model was trained with.

use std::collections::{BTreeMap, HashMap};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::datetime;
use crate::error::{DataError, Result};
use crate::hash::fnv1a;
use crate::roles::{Role, Task, infer_role};
use crate::summary::{ColumnSummary, format_float, summarize};
use crate::table::{Table, ValueType};
use crate::text::truncate;

/// Category code for a missing value.
pub const MISSING_CODE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum TextMode {
    /// Hashed token counts in this many buckets per text column.
    Hash {
        buckets: u32,
    },
    Drop,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrepOptions {
    pub text: TextMode,
    /// Most frequent categories kept per column; the rest share the "other/unseen" code.
    pub max_categories: usize,
    /// Categories seen fewer times than this in training also map to "other/unseen".
    pub min_category_count: u64,
    /// Replace missing numeric values by the training median (for learners without native
    /// missing-value handling). Trees keep NaN and learn where missing values go.
    pub impute_numeric: bool,
}

impl Default for PrepOptions {
    fn default() -> Self {
        PrepOptions {
            text: TextMode::Hash { buckets: 32 },
            max_categories: 255,
            min_category_count: 1,
            impute_numeric: false,
        }
    }
}

impl PrepOptions {
    /// Prep for models: text hashed into `text_buckets` features (0 drops text), missing
    /// numbers left as NaN because every learner handles them itself.
    pub fn for_models(text_buckets: u32) -> PrepOptions {
        PrepOptions {
            text: if text_buckets == 0 {
                TextMode::Drop
            } else {
                TextMode::Hash {
                    buckets: text_buckets,
                }
            },
            impute_numeric: false,
            ..PrepOptions::default()
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatePart {
    Year,
    Month,
    Day,
    DayOfWeek,
    Hour,
    EpochDays,
}

impl DatePart {
    fn suffix(self) -> &'static str {
        match self {
            DatePart::Year => "year",
            DatePart::Month => "month",
            DatePart::Day => "day",
            DatePart::DayOfWeek => "dayofweek",
            DatePart::Hour => "hour",
            DatePart::EpochDays => "epoch_days",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    Numeric {
        column: String,
        median: f64,
    },
    /// Booleans, including two-valued text such as yes/no, as 0/1.
    Boolean {
        column: String,
        true_values: Vec<String>,
        false_values: Vec<String>,
    },
    Categorical {
        column: String,
        /// Code i is categories[i]; code categories.len() is "other/unseen".
        categories: Vec<String>,
    },
    Datetime {
        column: String,
        parts: Vec<DatePart>,
    },
    Text {
        column: String,
        buckets: u32,
    },
}

impl Step {
    pub fn column(&self) -> &str {
        match self {
            Step::Numeric { column, .. }
            | Step::Boolean { column, .. }
            | Step::Categorical { column, .. }
            | Step::Datetime { column, .. }
            | Step::Text { column, .. } => column,
        }
    }

    /// The features this step makes, in the order `Features` holds them.
    pub fn feature_names(&self) -> Vec<String> {
        match self {
            Step::Numeric { column, .. }
            | Step::Boolean { column, .. }
            | Step::Categorical { column, .. } => vec![column.clone()],
            Step::Datetime { column, parts } => parts
                .iter()
                .map(|p| format!("{column}__{}", p.suffix()))
                .collect(),
            Step::Text { column, buckets } => {
                (0..*buckets).map(|b| format!("{column}__tok{b}")).collect()
            }
        }
    }
}

/// The target's encoding: class labels in a fixed order (the last is the positive class of a
/// binary task), or raw numbers for regression.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetSpec {
    pub name: String,
    pub task: Task,
    pub classes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DroppedColumn {
    pub column: String,
    pub role: Role,
}

/// A step's input column and its type.
type StepInput = (ArrayRef, ValueType);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prep {
    pub options: PrepOptions,
    pub steps: Vec<Step>,
    pub target: Option<TargetSpec>,
    pub dropped: Vec<DroppedColumn>,
    pub feature_names: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FeatureData {
    /// NaN marks a missing value.
    Numeric(Vec<f32>),
    /// Codes 0..n_categories-1, where n_categories-1 is "other/unseen"; MISSING_CODE if missing.
    Categorical { codes: Vec<u32>, n_categories: u32 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Feature {
    pub name: String,
    pub data: FeatureData,
}

/// Column-major model input.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    pub n_rows: usize,
    pub columns: Vec<Feature>,
}

impl Features {
    /// A copy holding only `rows`, in that order.
    pub fn take_rows(&self, rows: &[u32]) -> Features {
        let columns = self
            .columns
            .iter()
            .map(|c| Feature {
                name: c.name.clone(),
                data: match &c.data {
                    FeatureData::Numeric(v) => {
                        FeatureData::Numeric(rows.iter().map(|&r| v[r as usize]).collect())
                    }
                    FeatureData::Categorical {
                        codes,
                        n_categories,
                    } => FeatureData::Categorical {
                        codes: rows.iter().map(|&r| codes[r as usize]).collect(),
                        n_categories: *n_categories,
                    },
                },
            })
            .collect();
        Features {
            n_rows: rows.len(),
            columns,
        }
    }

    pub fn n_features(&self) -> usize {
        self.columns.len()
    }
}

/// A transform's output plus what a user should know about the input.
#[derive(Clone, Debug)]
pub struct Transformed {
    pub features: Features,
    pub notes: Vec<String>,
}

impl Prep {
    /// Fits on `table`. With `target`, that column is excluded from features and its encoding
    /// recorded (`task` as settled by the caller, e.g. from `profile::prepare_target`).
    pub fn fit(table: &Table, target: Option<(&str, Task)>, options: &PrepOptions) -> Result<Prep> {
        if let TextMode::Hash { buckets } = options.text
            && buckets == 0
        {
            return Err(DataError::invalid(
                "text hashing needs at least one bucket",
                "set the bucket count to 1 or more, or drop text columns",
            ));
        }
        let target_index = match target {
            Some((name, _)) => Some(table.require(name)?),
            None => None,
        };
        let fitted: Vec<(Option<Step>, Option<DroppedColumn>)> = (0..table.n_cols())
            .into_par_iter()
            .filter(|i| Some(*i) != target_index)
            .map(|i| {
                let info = &table.columns[i];
                let summary = summarize(&info.name, info.value_type, table.array(i));
                let role = infer_role(&summary, info.hint);
                fit_step(table.array(i), &summary, role, options)
            })
            .collect();
        let mut steps = Vec::new();
        let mut dropped = Vec::new();
        for (step, drop) in fitted {
            steps.extend(step);
            dropped.extend(drop);
        }
        if steps.is_empty() {
            return Err(DataError::invalid(
                "no usable feature columns: every column is the target, an id, constant, empty or ignored",
                "check the column roles with `whet profile`, or override them with --types",
            ));
        }
        let target = match (target, target_index) {
            (Some((name, task)), Some(i)) => Some(fit_target(name, task, table.array(i))?),
            _ => None,
        };
        let feature_names = steps.iter().flat_map(Step::feature_names).collect();
        Ok(Prep {
            options: options.clone(),
            steps,
            target,
            dropped,
            feature_names,
        })
    }

    /// The input columns a table must have for `transform`.
    pub fn required_columns(&self) -> Vec<&str> {
        self.steps.iter().map(Step::column).collect()
    }

    pub fn transform(&self, table: &Table) -> Result<Transformed> {
        let (inputs, notes) = self.step_inputs(table)?;
        self.apply_steps(inputs, table.n_rows(), notes)
    }

    /// [`Self::transform`] of a table the caller gives up. Each input column is released once
    /// its features are made (when nothing else shares it), so the table and its features are
    /// never both in memory whole: at 10M rows × 28 that is 2.2 GB of f64 columns against
    /// 1.1 GB of f32 features, and the peak of a large fit.
    pub fn transform_owned(&self, table: Table) -> Result<Transformed> {
        let (inputs, notes) = self.step_inputs(&table)?;
        let n_rows = table.n_rows();
        drop(table);
        self.apply_steps(inputs, n_rows, notes)
    }

    /// Each step's input column (a shared handle, not a copy) and its type, with the notes of
    /// [`Self::check_columns`].
    fn step_inputs(&self, table: &Table) -> Result<(Vec<StepInput>, Vec<String>)> {
        let notes = self.check_columns(table)?;
        let inputs = self
            .steps
            .iter()
            .map(|step| {
                let index = table.require(step.column())?;
                Ok((table.array(index).clone(), table.columns[index].value_type))
            })
            .collect::<Result<_>>()?;
        Ok((inputs, notes))
    }

    /// Runs the steps on their inputs in parallel, each input dropped once its step is done.
    fn apply_steps(
        &self,
        inputs: Vec<StepInput>,
        n_rows: usize,
        notes: Vec<String>,
    ) -> Result<Transformed> {
        let outputs: Vec<Result<Vec<Feature>>> = self
            .steps
            .par_iter()
            .zip(inputs)
            .map(|(step, (array, value_type))| self.apply_step(step, &array, value_type))
            .collect();
        let mut columns = Vec::with_capacity(self.feature_names.len());
        for o in outputs {
            columns.extend(o?);
        }
        Ok(Transformed {
            features: Features { n_rows, columns },
            notes,
        })
    }

    /// The error for required columns `table` lacks, or notes on the columns it has that the
    /// prep ignores.
    fn check_columns(&self, table: &Table) -> Result<Vec<String>> {
        let missing: Vec<String> = self
            .required_columns()
            .into_iter()
            .filter(|c| table.index_of(c).is_none())
            .map(str::to_string)
            .collect();
        if !missing.is_empty() {
            return Err(DataError::MissingColumns { columns: missing });
        }
        let mut notes = Vec::new();
        let known: std::collections::HashSet<&str> = self
            .required_columns()
            .into_iter()
            .chain(self.dropped.iter().map(|d| d.column.as_str()))
            .chain(self.target.iter().map(|t| t.name.as_str()))
            .collect();
        let extra: Vec<&str> = table.names().filter(|n| !known.contains(n)).collect();
        if !extra.is_empty() {
            notes.push(format!(
                "ignored {} column{} the model was not trained on: {}",
                extra.len(),
                if extra.len() == 1 { "" } else { "s" },
                extra.join(", ")
            ));
        }
        Ok(notes)
    }

    /// Target values as f64: class index for classification, the number for regression.
    /// Rows with a missing target, or a class not seen in training, are errors.
    pub fn transform_target(&self, table: &Table) -> Result<Vec<f64>> {
        let spec = self.target.as_ref().ok_or_else(|| {
            DataError::invalid(
                "this prep was fitted without a target",
                "fit it with a target column",
            )
        })?;
        let index = table.require(&spec.name)?;
        let array = table.array(index);
        if spec.task == Task::Regression {
            let values = crate::summary::numeric_values(array.as_ref()).ok_or_else(|| {
                DataError::invalid(
                    format!("target '{}' is not numeric", spec.name),
                    "regression needs a numeric target",
                )
            })?;
            return values
                .into_iter()
                .enumerate()
                .map(|(row, v)| v.ok_or_else(|| missing_target(&spec.name, row)))
                .collect();
        }
        let labels = labels_of(array);
        let index_of: HashMap<&str, usize> = spec
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        labels
            .into_iter()
            .enumerate()
            .map(|(row, label)| {
                let label = label.ok_or_else(|| missing_target(&spec.name, row))?;
                index_of
                    .get(label.as_str())
                    .map(|&i| i as f64)
                    .ok_or_else(|| DataError::TypeDrift {
                        column: spec.name.clone(),
                        row: row + 1,
                        expected: format!(
                            "one of the training classes ({})",
                            spec.classes.join(", ")
                        ),
                        value: label.clone(),
                        hint: "the model cannot score a class it never saw; check the labels"
                            .into(),
                    })
            })
            .collect()
    }

    pub(crate) fn apply_step(
        &self,
        step: &Step,
        array: &ArrayRef,
        value_type: ValueType,
    ) -> Result<Vec<Feature>> {
        let name = step.column();
        Ok(match step {
            Step::Numeric { median, .. } => {
                let mut values = numbers_for(name, array, value_type)?;
                if self.options.impute_numeric {
                    for v in values.iter_mut().filter(|v| v.is_nan()) {
                        *v = *median as f32;
                    }
                }
                vec![Feature {
                    name: name.to_string(),
                    data: FeatureData::Numeric(values),
                }]
            }
            Step::Boolean {
                true_values,
                false_values,
                ..
            } => {
                let labels = labels_of(array);
                let values = labels
                    .iter()
                    .map(|l| match l {
                        Some(l) if true_values.contains(l) => 1.0,
                        Some(l) if false_values.contains(l) => 0.0,
                        Some(l) => {
                            let same = |v: &String| v.trim().eq_ignore_ascii_case(l.trim());
                            if true_values.iter().any(same) {
                                1.0
                            } else if false_values.iter().any(same) {
                                0.0
                            } else {
                                f32::NAN
                            }
                        }
                        None => f32::NAN,
                    })
                    .collect();
                vec![Feature {
                    name: name.to_string(),
                    data: FeatureData::Numeric(values),
                }]
            }
            Step::Categorical { categories, .. } => {
                let index: HashMap<&str, u32> = categories
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.as_str(), i as u32))
                    .collect();
                let other = categories.len() as u32;
                let codes = labels_of(array)
                    .iter()
                    .map(|l| match l {
                        Some(l) => index.get(l.as_str()).copied().unwrap_or_else(|| {
                            canonical_number_label(l)
                                .and_then(|c| index.get(c.as_str()).copied())
                                .unwrap_or(other)
                        }),
                        None => MISSING_CODE,
                    })
                    .collect();
                vec![Feature {
                    name: name.to_string(),
                    data: FeatureData::Categorical {
                        codes,
                        n_categories: other + 1,
                    },
                }]
            }
            Step::Datetime { parts, .. } => {
                let ms = datetimes_for(name, array, value_type)?;
                parts
                    .iter()
                    .map(|&p| Feature {
                        name: format!("{name}__{}", p.suffix()),
                        data: FeatureData::Numeric(
                            ms.iter()
                                .map(|m| m.map_or(f32::NAN, |m| date_part(m, p)))
                                .collect(),
                        ),
                    })
                    .collect()
            }
            Step::Text { buckets, .. } => {
                let n = array.len();
                let b = *buckets as usize;
                let mut counts = vec![vec![0f32; n]; b];
                for (row, text) in labels_of(array).iter().enumerate() {
                    if let Some(text) = text {
                        for token in tokens(text) {
                            counts[token_bucket(&token, *buckets)][row] += 1.0;
                        }
                    }
                }
                counts
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| Feature {
                        name: format!("{name}__tok{i}"),
                        data: FeatureData::Numeric(c),
                    })
                    .collect()
            }
        })
    }
}

fn missing_target(name: &str, row: usize) -> DataError {
    DataError::invalid(
        format!("target '{name}' is missing at data row {}", row + 1),
        "drop rows without a target before training or evaluating",
    )
}

fn fit_step(
    array: &ArrayRef,
    s: &ColumnSummary,
    role: Role,
    options: &PrepOptions,
) -> (Option<Step>, Option<DroppedColumn>) {
    let column = s.name.clone();
    let drop = |role| {
        (
            None,
            Some(DroppedColumn {
                column: s.name.clone(),
                role,
            }),
        )
    };
    match role {
        Role::Id | Role::Constant | Role::Ignored | Role::Target => drop(role),
        Role::Numeric => {
            if !s.value_type.is_numeric() && s.value_type != ValueType::Boolean {
                // A string column hinted numeric is read as numbers at load; anything else
                // (a datetime hinted numeric) becomes its epoch value.
                if s.value_type == ValueType::Datetime {
                    return (
                        Some(Step::Datetime {
                            column,
                            parts: vec![DatePart::EpochDays],
                        }),
                        None,
                    );
                }
                return drop(Role::Ignored);
            }
            let median = s.numeric.as_ref().map_or(0.0, |n| n.median);
            (Some(Step::Numeric { column, median }), None)
        }
        Role::Boolean => match s.value_type {
            ValueType::String => {
                let mut values: Vec<String> =
                    s.top_values.iter().map(|v| v.value.clone()).collect();
                values.sort_by_key(|v| v.to_ascii_lowercase());
                let truthy = |v: &str| {
                    matches!(
                        v.trim().to_ascii_lowercase().as_str(),
                        "yes" | "y" | "true" | "t" | "1"
                    )
                };
                let (t, f): (Vec<String>, Vec<String>) =
                    values.into_iter().partition(|v| truthy(v));
                (
                    Some(Step::Boolean {
                        column,
                        true_values: t,
                        false_values: f,
                    }),
                    None,
                )
            }
            _ => {
                let median = s.numeric.as_ref().map_or(0.0, |n| n.median);
                (Some(Step::Numeric { column, median }), None)
            }
        },
        Role::CategoricalLow | Role::CategoricalHigh => {
            let mut counts: Vec<(String, u64)> = count_labels(array).into_iter().collect();
            counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let categories = counts
                .into_iter()
                .filter(|(_, c)| *c >= options.min_category_count)
                .take(options.max_categories)
                .map(|(v, _)| v)
                .collect();
            (Some(Step::Categorical { column, categories }), None)
        }
        Role::Datetime => {
            let has_time = s.numeric.as_ref().is_some_and(|_| {
                datetimes_of(array)
                    .iter()
                    .flatten()
                    .any(|ms| ms.rem_euclid(86_400_000) != 0)
            });
            let mut parts = vec![
                DatePart::Year,
                DatePart::Month,
                DatePart::Day,
                DatePart::DayOfWeek,
            ];
            if has_time {
                parts.push(DatePart::Hour);
            }
            parts.push(DatePart::EpochDays);
            (Some(Step::Datetime { column, parts }), None)
        }
        Role::Text => match options.text {
            TextMode::Hash { buckets } => (Some(Step::Text { column, buckets }), None),
            TextMode::Drop => drop(Role::Text),
        },
    }
}

fn fit_target(name: &str, task: Task, array: &ArrayRef) -> Result<TargetSpec> {
    let classes = if task.is_classification() {
        let mut labels: Vec<String> = count_labels(array).into_keys().collect();
        // Numbers sort numerically so 0/1 targets keep 1 as the positive class.
        let numeric: Option<Vec<f64>> = labels.iter().map(|l| l.parse::<f64>().ok()).collect();
        match numeric {
            Some(_) => labels.sort_by(|a, b| {
                let (x, y) = (
                    a.parse::<f64>().unwrap_or(0.0),
                    b.parse::<f64>().unwrap_or(0.0),
                );
                x.total_cmp(&y)
            }),
            None => labels.sort(),
        }
        labels
    } else {
        Vec::new()
    };
    Ok(TargetSpec {
        name: name.to_string(),
        task,
        classes,
    })
}

/// Every value as a label string, numbers formatted the way profiles count them (the target's
/// classes; a reference profile's and a review's levels).
pub fn labels_of(array: &ArrayRef) -> Vec<Option<String>> {
    match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        DataType::Int64 => array
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.map(|v| v.to_string()))
            .collect(),
        DataType::Float64 => array
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.filter(|v| !v.is_nan()).map(format_float))
            .collect(),
        DataType::Boolean => array
            .as_boolean()
            .iter()
            .map(|v| v.map(|b| b.to_string()))
            .collect(),
        DataType::Timestamp(_, _) => array
            .as_primitive::<TimestampMillisecondType>()
            .iter()
            .map(|v| v.map(datetime::format_iso))
            .collect(),
        _ => vec![None; array.len()],
    }
}

fn count_labels(array: &ArrayRef) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for l in labels_of(array).into_iter().flatten() {
        *counts.entry(l).or_default() += 1;
    }
    counts
}

/// Numeric values as f32, rejecting text in a column trained as numeric (type drift).
pub(crate) fn numbers_for(name: &str, array: &ArrayRef, value_type: ValueType) -> Result<Vec<f32>> {
    if value_type == ValueType::String {
        return array
            .as_string::<i32>()
            .iter()
            .enumerate()
            .map(|(row, v)| match v {
                None => Ok(f32::NAN),
                Some(s) => s
                    .trim()
                    .parse::<f64>()
                    .map(|x| x as f32)
                    .or_else(|_| boolean_number(s).ok_or(()))
                    .map_err(|_| drift(name, row, "a number", s)),
            })
            .collect();
    }
    let values = crate::summary::numeric_values(array.as_ref()).unwrap_or_default();
    Ok(values
        .into_iter()
        .map(|v| v.map_or(f32::NAN, |v| v as f32))
        .collect())
}

/// Text read without type inference (streamed prediction input) still carries the words a
/// boolean column was inferred from.
fn boolean_number(s: &str) -> Option<f32> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" => Some(1.0),
        "false" | "f" | "no" | "n" => Some(0.0),
        _ => None,
    }
}

/// A label as the training data's inference would have written it: numbers read as text
/// ("3.50", "007") map to their canonical form ("3.5", "7") when that is a known category.
pub(crate) fn canonical_number_label(label: &str) -> Option<String> {
    let t = label.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(i.to_string());
    }
    t.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(format_float)
}

fn datetimes_of(array: &ArrayRef) -> Vec<Option<i64>> {
    match array.data_type() {
        DataType::Timestamp(_, _) => array
            .as_primitive::<TimestampMillisecondType>()
            .iter()
            .collect(),
        _ => vec![None; array.len()],
    }
}

pub(crate) fn datetimes_for(
    name: &str,
    array: &ArrayRef,
    value_type: ValueType,
) -> Result<Vec<Option<i64>>> {
    match value_type {
        ValueType::Datetime => Ok(datetimes_of(array)),
        ValueType::String => array
            .as_string::<i32>()
            .iter()
            .enumerate()
            .map(|(row, v)| match v {
                None => Ok(None),
                Some(s) => datetime::detect(s.as_bytes())
                    .first()
                    .and_then(|f| datetime::parse(s.as_bytes(), f))
                    .map(Some)
                    .ok_or_else(|| drift(name, row, "a date or time", s)),
            })
            .collect(),
        other => Err(DataError::TypeDrift {
            column: name.to_string(),
            row: 1,
            expected: "a date or time".into(),
            value: format!("{} values", other.name()),
            hint: "the model was trained with dates in this column; supply dates".into(),
        }),
    }
}

fn drift(name: &str, row: usize, expected: &str, value: &str) -> DataError {
    DataError::TypeDrift {
        column: name.to_string(),
        row: row + 1,
        expected: expected.to_string(),
        value: truncate(value, 60),
        hint: format!(
            "the model was trained with {expected} in '{name}'; fix the value or mark it missing (--na)"
        ),
    }
}

fn date_part(ms: i64, part: DatePart) -> f32 {
    let (year, month, day, weekday, hour, _, _) = datetime::civil_parts(ms);
    match part {
        DatePart::Year => year as f32,
        DatePart::Month => month as f32,
        DatePart::Day => day as f32,
        DatePart::DayOfWeek => weekday as f32,
        DatePart::Hour => hour as f32,
        DatePart::EpochDays => (ms as f64 / 86_400_000.0) as f32,
    }
}

/// Lower-cased alphanumeric runs.
fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

/// FNV-1a: stable across platforms and releases, so saved models hash text the same way.
fn token_bucket(token: &str, buckets: u32) -> usize {
    (fnv1a(token.as_bytes()) % u64::from(buckets)) as usize
}

/// One input column and the feature indices it became.
#[derive(Clone, Debug)]
pub struct ColumnGroup {
    pub column: String,
    pub features: Vec<usize>,
}

/// Which features each input column of `prep` became in `x` (columns that made none are
/// left out): explanations sum over a group, which SHAP's additivity keeps exact.
pub fn column_groups(prep: &Prep, x: &Features) -> Vec<ColumnGroup> {
    prep.steps
        .iter()
        .map(|s| {
            let names = s.feature_names();
            ColumnGroup {
                column: s.column().to_string(),
                features: x
                    .columns
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| names.contains(&c.name))
                    .map(|(i, _)| i)
                    .collect(),
            }
        })
        .filter(|g| !g.features.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{
        BooleanArray, Float64Array, Int64Array, StringArray, TimestampMillisecondArray,
    };
    use std::sync::Arc;

    fn table(cols: Vec<(&str, ValueType, ArrayRef)>) -> Table {
        Table::from_columns(cols).unwrap()
    }

    fn train() -> Table {
        let n = 40;
        table(vec![
            (
                "id",
                ValueType::Integer,
                Arc::new(Int64Array::from((0..n).collect::<Vec<i64>>())),
            ),
            (
                "x",
                ValueType::Float,
                Arc::new(Float64Array::from(
                    (0..n)
                        .map(|i| {
                            if i % 10 == 3 {
                                None
                            } else {
                                Some(i as f64 / 2.0)
                            }
                        })
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "color",
                ValueType::String,
                Arc::new(StringArray::from(
                    (0..n)
                        .map(|i| Some(["red", "red", "blue", "green"][i as usize % 4]))
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "paid",
                ValueType::String,
                Arc::new(StringArray::from(
                    (0..n)
                        .map(|i| if i % 3 == 0 { "yes" } else { "no" })
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "flag",
                ValueType::Boolean,
                Arc::new(BooleanArray::from(
                    (0..n).map(|i| i % 2 == 0).collect::<Vec<_>>(),
                )),
            ),
            (
                "when",
                ValueType::Datetime,
                Arc::new(TimestampMillisecondArray::from(
                    (0..n)
                        .map(|i| 1_700_000_000_000 + i * 3_600_000)
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "const",
                ValueType::Integer,
                Arc::new(Int64Array::from(vec![7; n as usize])),
            ),
            (
                "y",
                ValueType::String,
                Arc::new(StringArray::from(
                    (0..n)
                        .map(|i| if i % 2 == 0 { "no" } else { "yes" })
                        .collect::<Vec<_>>(),
                )),
            ),
        ])
    }

    #[test]
    fn fits_expected_steps_and_features() {
        let prep = Prep::fit(&train(), Some(("y", Task::Binary)), &PrepOptions::default()).unwrap();
        let dropped: Vec<(&str, Role)> = prep
            .dropped
            .iter()
            .map(|d| (d.column.as_str(), d.role))
            .collect();
        assert_eq!(dropped, vec![("id", Role::Id), ("const", Role::Constant)]);
        assert_eq!(
            prep.feature_names,
            vec![
                "x",
                "color",
                "paid",
                "flag",
                "when__year",
                "when__month",
                "when__day",
                "when__dayofweek",
                "when__hour",
                "when__epoch_days"
            ]
        );
        let out = prep.transform(&train()).unwrap();
        let f = &out.features;
        assert_eq!(f.n_rows, 40);
        match &f.columns[1].data {
            FeatureData::Categorical {
                codes,
                n_categories,
            } => {
                // red is most frequent -> code 0; then blue, green (ties by name); other = 3.
                assert_eq!(*n_categories, 4);
                assert_eq!(&codes[..4], &[0, 0, 1, 2]);
            }
            other => panic!("{other:?}"),
        }
        match &f.columns[0].data {
            FeatureData::Numeric(v) => {
                assert!(v[3].is_nan());
                assert_eq!(v[4], 2.0);
            }
            other => panic!("{other:?}"),
        }
        match &f.columns[2].data {
            FeatureData::Numeric(v) => assert_eq!(&v[..3], &[1.0, 0.0, 0.0]),
            other => panic!("{other:?}"),
        }
        // 1_700_000_000_000 ms = 2023-11-14T22:13:20Z (a Tuesday: weekday 1).
        let part = |i: usize| match &f.columns[i].data {
            FeatureData::Numeric(v) => v[0],
            _ => f32::NAN,
        };
        assert_eq!(
            (part(4), part(5), part(6), part(7), part(8)),
            (2023.0, 11.0, 14.0, 1.0, 22.0)
        );
        assert_eq!(prep.transform_target(&train()).unwrap()[..2], [0.0, 1.0]);
    }

    #[test]
    fn unseen_missing_extra_and_drift() {
        let prep = Prep::fit(&train(), Some(("y", Task::Binary)), &PrepOptions::default()).unwrap();
        let mut new = train();
        // Unseen category and a missing one.
        let colors: ArrayRef = Arc::new(StringArray::from(
            (0..40)
                .map(|i| match i {
                    0 => Some("purple"),
                    1 => None,
                    _ => Some("red"),
                })
                .collect::<Vec<_>>(),
        ));
        let idx = new.index_of("color").unwrap();
        let mut arrays: Vec<ArrayRef> = new.batch.columns().to_vec();
        arrays[idx] = colors;
        new = Table::new(new.columns.clone(), arrays, 40).unwrap();
        let out = prep.transform(&new).unwrap();
        match &out.features.columns[1].data {
            FeatureData::Categorical { codes, .. } => {
                assert_eq!(&codes[..3], &[3, MISSING_CODE, 0])
            }
            other => panic!("{other:?}"),
        }
        // Missing column.
        let without_x = table(vec![(
            "color",
            ValueType::String,
            Arc::new(StringArray::from(vec!["red"])),
        )]);
        let err = prep.transform(&without_x).unwrap_err().to_string();
        assert!(err.contains("missing columns: x"), "{err}");
        // Extra columns are ignored with a note.
        let mut cols: Vec<(&str, ValueType, ArrayRef)> = Vec::new();
        for (i, c) in train().columns.iter().enumerate() {
            cols.push((
                Box::leak(c.name.clone().into_boxed_str()),
                c.value_type,
                train().array(i).clone(),
            ));
        }
        cols.push((
            "bonus",
            ValueType::Integer,
            Arc::new(Int64Array::from(vec![1; 40])),
        ));
        let out = prep.transform(&table(cols)).unwrap();
        assert!(out.notes[0].contains("bonus"), "{:?}", out.notes);
        // A numeric column that now holds text.
        let mut arrays: Vec<ArrayRef> = train().batch.columns().to_vec();
        let mut infos = train().columns.clone();
        let xi = infos.iter().position(|c| c.name == "x").unwrap();
        arrays[xi] = Arc::new(StringArray::from(
            (0..40)
                .map(|i| if i == 6 { "n/a?" } else { "1.5" })
                .collect::<Vec<_>>(),
        ));
        infos[xi].value_type = ValueType::String;
        let err = prep
            .transform(&Table::new(infos, arrays, 40).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column 'x' row 7") && err.contains("'n/a?'"),
            "{err}"
        );
    }

    #[test]
    fn transform_of_an_owned_table_is_the_transform_and_releases_its_columns() {
        let prep = Prep::fit(&train(), Some(("y", Task::Binary)), &PrepOptions::default()).unwrap();
        let want = prep.transform(&train()).unwrap();
        let input = train();
        let weak: Vec<std::sync::Weak<dyn Array>> =
            input.batch.columns().iter().map(Arc::downgrade).collect();
        let got = prep.transform_owned(input).unwrap();
        // Debug, not ==: missing values are NaN.
        assert_eq!(
            format!("{:?}", got.features),
            format!("{:?}", want.features)
        );
        assert_eq!(got.notes, want.notes);
        // Nothing kept a column alive: the input's memory is free once its features exist.
        let alive: Vec<usize> = (0..weak.len())
            .filter(|&i| weak[i].upgrade().is_some())
            .collect();
        assert!(alive.is_empty(), "{alive:?} {}", weak.len());
        // The same errors.
        let without_x = table(vec![(
            "color",
            ValueType::String,
            Arc::new(StringArray::from(vec!["red"])),
        )]);
        let err = prep.transform_owned(without_x).unwrap_err().to_string();
        assert!(err.contains("missing columns: x"), "{err}");
    }

    #[test]
    fn serde_round_trip_gives_identical_features() {
        let prep = Prep::fit(
            &train(),
            Some(("y", Task::Binary)),
            &PrepOptions {
                impute_numeric: true,
                ..Default::default()
            },
        )
        .unwrap();
        let json = serde_json::to_string(&prep).unwrap();
        let back: Prep = serde_json::from_str(&json).unwrap();
        assert_eq!(back, prep);
        let a = prep.transform(&train()).unwrap().features;
        let b = back.transform(&train()).unwrap().features;
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        match &a.columns[0].data {
            FeatureData::Numeric(v) => assert!(!v[3].is_nan()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn text_hashing_counts_tokens() {
        let t = table(vec![
            (
                "note",
                ValueType::String,
                Arc::new(StringArray::from(
                    (0..200)
                        .map(|i| Some(format!("Great service, great price {i} and more words")))
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "k",
                ValueType::Integer,
                Arc::new(Int64Array::from(
                    (0..200).map(|i| i % 7).collect::<Vec<i64>>(),
                )),
            ),
        ]);
        let prep = Prep::fit(
            &t,
            None,
            &PrepOptions {
                text: TextMode::Hash { buckets: 8 },
                ..Default::default()
            },
        )
        .unwrap();
        let f = prep.transform(&t).unwrap().features;
        assert_eq!(f.n_features(), 9);
        let total: f32 = f.columns[..8]
            .iter()
            .map(|c| match &c.data {
                FeatureData::Numeric(v) => v[0],
                _ => 0.0,
            })
            .sum();
        assert_eq!(total, 8.0);
        let dropped = Prep::fit(
            &t,
            None,
            &PrepOptions {
                text: TextMode::Drop,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(dropped.feature_names, vec!["k"]);
    }
}

//! The reference profile: a compact description of the data a model was trained on, stored
//! inside the model file so that new data can be compared with it (`whet drift`, `whet serve`,
//! reviews) without the training file.
//!
//! Every input column the model reads is described the way its Prep step reads it: numbers
//! (and datetimes, as epoch milliseconds) by quantile bins, categories and booleans by level
//! frequencies. Missing values are counted apart from the distribution. Hashed text is not
//! described: its words have no distribution a few hundred numbers could hold.
//!
//! Numeric bins are `NUMERIC_BINS` equal-frequency bins cut at training quantiles: bin `i`
//! holds values `v` with `edges[i-1] < v <= edges[i]` (the first bin is unbounded below, the
//! last above). Equal-frequency bins are what population stability indices are conventionally
//! computed on, and the cumulative counts at the edges give a two-sample KS statistic.

use std::collections::HashMap;

use arrow_array::ArrayRef;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::prep::{FeatureData, Prep, Step, canonical_number_label, labels_of, numbers_for};
use crate::table::{Table, ValueType};

/// Equal-frequency bins per numeric column (fewer when values repeat).
pub const NUMERIC_BINS: usize = 20;
/// Categorical levels kept by name; rarer ones are counted together as "other".
pub const MAX_LEVELS: usize = 100;
/// Quantiles kept for people to read (the bins hold the rest).
const QUANTILES: [f64; 7] = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceProfile {
    /// Training rows described.
    pub rows: u64,
    /// The model's input columns, in Prep order.
    pub columns: Vec<ColumnReference>,
    /// Input columns not described (hashed text), so a comparison can say so.
    pub skipped: Vec<String>,
    /// The target as trained on (class labels, or values for regression).
    pub target: Option<ColumnReference>,
    /// The model's predictions on rows it did not learn from where there are some (a study's
    /// test holdout or out-of-fold predictions, `whet fit --valid`), else on its training rows:
    /// `prediction` for regression, `proba_<class>` for classifiers (the positive class only
    /// for a binary task).
    pub predictions: Vec<ColumnReference>,
    /// Why `predictions` is empty when the model has predictions (e.g. a model refit on every
    /// training row has no predictions on rows it did not learn from), for drift reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictions_not_compared: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnReference {
    pub name: String,
    pub rows: u64,
    pub missing: u64,
    pub distribution: Distribution,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Distribution {
    Numeric(NumericReference),
    Categorical(CategoricalReference),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NumericReference {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// `(q, value)` for q in 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99.
    pub quantiles: Vec<(f64, f64)>,
    /// Inner bin edges, increasing; `counts` has one more entry than `edges`.
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoricalReference {
    /// The most frequent levels (at most `MAX_LEVELS`), most frequent first, ties by name.
    pub levels: Vec<(String, u64)>,
    /// Rows whose level is not in `levels`.
    pub other_count: u64,
    /// Distinct levels counted in `other_count`.
    pub other_levels: u64,
}

/// One column's values as a reference profile reads them.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnValues {
    /// NaN marks a missing value.
    Numeric(Vec<f64>),
    Labels(Vec<Option<String>>),
}

impl ColumnValues {
    pub fn len(&self) -> usize {
        match self {
            ColumnValues::Numeric(v) => v.len(),
            ColumnValues::Labels(l) => l.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ColumnReference {
    pub fn missing_fraction(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.missing as f64 / self.rows as f64
        }
    }

    pub fn from_values(name: &str, values: &ColumnValues) -> ColumnReference {
        match values {
            ColumnValues::Numeric(v) => ColumnReference::numeric(name, v),
            ColumnValues::Labels(l) => ColumnReference::categorical(name, l),
        }
    }

    /// Describes numbers; NaN is missing.
    pub fn numeric(name: &str, values: &[f64]) -> ColumnReference {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        sorted.sort_unstable_by(f64::total_cmp);
        let n = sorted.len();
        let missing = (values.len() - n) as u64;
        let quantile = |q: f64| -> f64 {
            if n == 0 {
                return f64::NAN;
            }
            sorted[((q * (n - 1) as f64).round() as usize).min(n - 1)]
        };
        let mut edges: Vec<f64> = Vec::with_capacity(NUMERIC_BINS);
        for j in 1..NUMERIC_BINS {
            let e = quantile(j as f64 / NUMERIC_BINS as f64);
            // An edge at the maximum would leave the last bin empty by construction.
            if e.is_finite() && n > 0 && e < sorted[n - 1] && edges.last().is_none_or(|&l| e > l) {
                edges.push(e);
            }
        }
        let counts = bin_counts(&edges, &sorted);
        let mean = if n == 0 {
            f64::NAN
        } else {
            sorted.iter().sum::<f64>() / n as f64
        };
        let std = if n < 2 {
            0.0
        } else {
            (sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        };
        ColumnReference {
            name: name.to_string(),
            rows: values.len() as u64,
            missing,
            distribution: Distribution::Numeric(NumericReference {
                mean,
                std,
                min: sorted.first().copied().unwrap_or(f64::NAN),
                max: sorted.last().copied().unwrap_or(f64::NAN),
                quantiles: QUANTILES.iter().map(|&q| (q, quantile(q))).collect(),
                edges,
                counts,
            }),
        }
    }

    /// Describes labels; None is missing.
    pub fn categorical(name: &str, labels: &[Option<String>]) -> ColumnReference {
        let (counts, missing) = level_counts(labels);
        let mut levels: Vec<(String, u64)> = counts
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        levels.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let rest = levels.split_off(levels.len().min(MAX_LEVELS));
        ColumnReference {
            name: name.to_string(),
            rows: labels.len() as u64,
            missing,
            distribution: Distribution::Categorical(CategoricalReference {
                levels,
                other_count: rest.iter().map(|r| r.1).sum(),
                other_levels: rest.len() as u64,
            }),
        }
    }
}

/// Counts per bin of `values` (NaN skipped) on inner `edges`: `edges.len() + 1` bins.
pub fn bin_counts(edges: &[f64], values: &[f64]) -> Vec<u64> {
    let mut counts = vec![0u64; edges.len() + 1];
    for &v in values.iter().filter(|v| !v.is_nan()) {
        counts[edges.partition_point(|&e| e < v)] += 1;
    }
    counts
}

/// Count per label, and the number of missing labels.
pub fn level_counts(labels: &[Option<String>]) -> (HashMap<&str, u64>, u64) {
    let mut counts: HashMap<&str, u64> = HashMap::new();
    let mut missing = 0;
    for l in labels {
        match l {
            Some(l) => *counts.entry(l.as_str()).or_default() += 1,
            None => missing += 1,
        }
    }
    (counts, missing)
}

/// The level a label of new data counts as against `levels`: itself, or the same number written
/// the training file's way (`3.0` for `3`), as Prep codes categories.
pub fn canonical_level<'a>(
    label: &'a str,
    known: &dyn Fn(&str) -> bool,
) -> std::borrow::Cow<'a, str> {
    if known(label) {
        return label.into();
    }
    match canonical_number_label(label) {
        Some(c) if known(&c) => c.into(),
        _ => label.into(),
    }
}

impl ReferenceProfile {
    /// Describes `table`'s model input columns and, when present, its target; predictions are
    /// added by whoever has the model (`predictions` field).
    pub fn build(table: &Table, prep: &Prep) -> Result<ReferenceProfile> {
        let mut columns = Vec::with_capacity(prep.steps.len());
        let mut skipped = Vec::new();
        for step in &prep.steps {
            let i = table.require(step.column())?;
            match step_values(prep, step, table.array(i), table.columns[i].value_type)? {
                Some(values) => columns.push(ColumnReference::from_values(step.column(), &values)),
                None => skipped.push(step.column().to_string()),
            }
        }
        let target = match target_values(prep, table) {
            Some(values) => prep
                .target
                .as_ref()
                .map(|t| ColumnReference::from_values(&t.name, &values)),
            None => None,
        };
        Ok(ReferenceProfile {
            rows: table.n_rows() as u64,
            columns,
            skipped,
            target,
            predictions: Vec::new(),
            predictions_not_compared: None,
        })
    }

    pub fn column(&self, name: &str) -> Option<&ColumnReference> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// True for a profile loaded from a model file written before profiles existed.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty() && self.rows == 0
    }
}

/// The target column of `table` as the profile reads it, if the table has it.
pub fn target_values(prep: &Prep, table: &Table) -> Option<ColumnValues> {
    let spec = prep.target.as_ref()?;
    let i = table.index_of(&spec.name)?;
    let array = table.array(i);
    Some(if spec.task == crate::Task::Regression {
        ColumnValues::Numeric(
            crate::summary::numeric_values(array.as_ref())
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.unwrap_or(f64::NAN))
                .collect(),
        )
    } else {
        ColumnValues::Labels(labels_of(array))
    })
}

/// One input column's values the way `step` reads it; None for hashed text.
pub fn step_values(
    prep: &Prep,
    step: &Step,
    array: &ArrayRef,
    value_type: ValueType,
) -> Result<Option<ColumnValues>> {
    let name = step.column();
    Ok(Some(match step {
        Step::Numeric { .. } => ColumnValues::Numeric(
            numbers_for(name, array, value_type)?
                .into_iter()
                .map(f64::from)
                .collect(),
        ),
        Step::Datetime { .. } => ColumnValues::Numeric(
            crate::prep::datetimes_for(name, array, value_type)?
                .into_iter()
                .map(|v| v.map_or(f64::NAN, |ms| ms as f64))
                .collect(),
        ),
        Step::Boolean { .. } => {
            let features = prep.apply_step(step, array, value_type)?;
            let labels = match features.first().map(|f| &f.data) {
                Some(FeatureData::Numeric(v)) => v
                    .iter()
                    .map(|&x| {
                        if x.is_nan() {
                            None
                        } else {
                            Some(if x > 0.5 { "true" } else { "false" }.to_string())
                        }
                    })
                    .collect(),
                _ => vec![None; array.len()],
            };
            ColumnValues::Labels(labels)
        }
        Step::Categorical { .. } => ColumnValues::Labels(labels_of(array)),
        Step::Text { .. } => return Ok(None),
    }))
}

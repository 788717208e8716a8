//! The feature encoder shared by the linear models and k-nearest neighbours: `Features` to
//! dense rows of `f64` (standardized numbers, capped one-hot categories, missing indicators).

use serde::{Deserialize, Serialize};
use whet_data::prep::{FeatureData, Features, MISSING_CODE};

use crate::data::{TrainSet, check_rows_and_weights};
use crate::error::{LearnError, Result};

/// Most frequent category codes per categorical feature that get their own one-hot column.
pub const MAX_LEVELS: usize = 64;

/// Fewest training rows with a feature missing for it to get a `name__missing` column. An
/// indicator set on one or two rows lets a weakly regularised model memorise those rows, and
/// a block of fields missing together gives several identical indicators whose summed weight
/// the penalty barely restrains: one all-missing penguin in 275 made the linear model call
/// every all-missing row its species with p = 0.92. Below this many, missing is just the mean
/// (numeric) or the baseline (categorical).
pub const MIN_MISSING_ROWS: usize = 5;

/// Fewest training rows with a category for it to get its own one-hot column (from 250
/// training rows; one per 50 rows below that): a level seen on
/// one or two rows lets a weakly regularised model fit those rows exactly, a coefficient the
/// test set then pays for. Rarer levels encode as the baseline, like levels beyond the cap.
pub const MIN_LEVEL_ROWS: usize = 5;

/// "No encoded column" in [`Encoder`] lookup tables.
pub(crate) const NO_COLUMN: u32 = u32::MAX;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum EncodeStep {
    /// `(x − mean) / std` in column `value` (absent when the feature was constant in
    /// training); a missing value is encoded as 0 there and as 1 in column `missing` (present
    /// when training had missing values).
    Numeric {
        feature: usize,
        mean: f64,
        std: f64,
        value: Option<u32>,
        missing: Option<u32>,
    },
    /// One-hot: `columns[code]` is the encoded column of that code, or `NO_COLUMN`.
    Categorical {
        feature: usize,
        columns: Vec<u32>,
        missing: Option<u32>,
    },
}

/// The fitted transform from `Features` to a dense row of `f64`, shared by the linear models
/// and k-nearest neighbours.
///
/// Fitted on the training rows with their weights:
///
/// * numeric features are standardized with the weighted mean and (population) standard
///   deviation of their non-missing values; a feature whose training values are all equal is
///   dropped. Missing values (NaN or infinite) become the mean, i.e. 0 after standardizing,
///   and features missing on at least [`MIN_MISSING_ROWS`] training rows also get a 0/1
///   column `name__missing`;
/// * categorical features are one-hot encoded (0/1, not standardized) over the up to
///   [`MAX_LEVELS`] most frequent codes seen on at least [`MIN_LEVEL_ROWS`] training rows
///   (fewer on fewer than 250 rows)
///   (by training weight; ties by code) in columns
///   `name__<code>`, where the code is the index into the Prep step's category list and the
///   Prep's "other/unseen" code is written `name__other`. The "other/unseen" code is treated
///   like any other code: it gets a column when it occurred in training often enough. When
///   at least [`MIN_MISSING_ROWS`] training rows are missing, missing gets its own column
///   `name__missing`. Everything without a column – a code beyond the cap, a code never seen
///   in training, or missing when training had fewer such rows – encodes as all zeros, i.e.
///   the baseline absorbed by the intercept (and, for kNN, equally far from every level);
/// * columns that would be constant on the training rows are not created.
///
/// Encoding a row never allocates: [`Encoder::encode_row`] writes into a caller buffer and
/// [`Encoder::visit_row`] calls back with the non-zero entries. A feature whose data at
/// prediction has the other kind (numeric vs categorical) than in training, or is absent, is
/// treated as missing; [`Encoder::check`] reports such mismatches as errors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Encoder {
    feature_names: Vec<String>,
    pub(crate) steps: Vec<EncodeStep>,
    names: Vec<String>,
}

impl Encoder {
    /// Fits on the rows of `data` (weights respected, zero-weight rows ignored).
    pub fn fit(data: &TrainSet) -> Result<Encoder> {
        check_rows_and_weights(data)?;
        let x = data.x;
        let n = data.n_rows();
        let mut steps = Vec::new();
        let mut names = Vec::new();
        let mut next = 0u32;
        let mut take = |names: &mut Vec<String>, name: String| {
            names.push(name);
            next += 1;
            next - 1
        };
        for (f, feature) in x.columns.iter().enumerate() {
            match &feature.data {
                FeatureData::Numeric(values) => {
                    let (mut sw, mut swx) = (0.0f64, 0.0f64);
                    let mut missing_rows = 0usize;
                    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
                    for i in 0..n {
                        let row = data.row(i);
                        let w = data.weight_of(row);
                        if w == 0.0 {
                            continue;
                        }
                        let v = values[row];
                        if v.is_finite() {
                            sw += w;
                            swx += w * f64::from(v);
                            lo = lo.min(v);
                            hi = hi.max(v);
                        } else {
                            missing_rows += 1;
                        }
                    }
                    let varies = sw > 0.0 && lo < hi;
                    let (mut mean, mut std) = (0.0, 1.0);
                    if varies {
                        mean = swx / sw;
                        let mut ss = 0.0;
                        for i in 0..n {
                            let row = data.row(i);
                            let v = values[row];
                            if v.is_finite() {
                                let d = f64::from(v) - mean;
                                ss += data.weight_of(row) * d * d;
                            }
                        }
                        std = (ss / sw).sqrt();
                    }
                    let varies = varies && std > 0.0 && std.is_finite();
                    let has_missing = missing_rows >= MIN_MISSING_ROWS && sw > 0.0;
                    if !varies && !has_missing {
                        continue;
                    }
                    let value = varies.then(|| take(&mut names, feature.name.clone()));
                    let missing =
                        has_missing.then(|| take(&mut names, format!("{}__missing", feature.name)));
                    steps.push(EncodeStep::Numeric {
                        feature: f,
                        mean: if varies { mean } else { 0.0 },
                        std: if varies { std } else { 1.0 },
                        value,
                        missing,
                    });
                }
                FeatureData::Categorical {
                    codes,
                    n_categories,
                } => {
                    let k = *n_categories as usize;
                    let mut weight = vec![0.0f64; k];
                    let mut rows = vec![0usize; k];
                    let mut missing_rows = 0usize;
                    for i in 0..n {
                        let row = data.row(i);
                        let w = data.weight_of(row);
                        let c = codes[row];
                        if c == MISSING_CODE {
                            missing_rows += usize::from(w > 0.0);
                        } else if let Some(slot) = weight.get_mut(c as usize) {
                            *slot += w;
                            rows[c as usize] += usize::from(w > 0.0);
                        }
                    }
                    let mut levels: Vec<usize> = (0..k).filter(|&c| weight[c] > 0.0).collect();
                    let missing_column = missing_rows >= MIN_MISSING_ROWS;
                    let states = levels.len() + usize::from(missing_column);
                    if states < 2 {
                        continue;
                    }
                    // On tiny data every level is rare; the bar grows with the rows.
                    let min_rows = (n / 50).clamp(1, MIN_LEVEL_ROWS);
                    levels.retain(|&c| rows[c] >= min_rows);
                    if levels.is_empty() && !missing_column {
                        continue;
                    }
                    levels.sort_by(|&a, &b| weight[b].total_cmp(&weight[a]).then(a.cmp(&b)));
                    levels.truncate(MAX_LEVELS);
                    let mut columns = vec![NO_COLUMN; k];
                    for &c in &levels {
                        let label = if c + 1 == k {
                            "other".to_string()
                        } else {
                            c.to_string()
                        };
                        columns[c] = take(&mut names, format!("{}__{label}", feature.name));
                    }
                    let missing = missing_column
                        .then(|| take(&mut names, format!("{}__missing", feature.name)));
                    steps.push(EncodeStep::Categorical {
                        feature: f,
                        columns,
                        missing,
                    });
                }
            }
        }
        Ok(Encoder {
            feature_names: x.columns.iter().map(|c| c.name.clone()).collect(),
            steps,
            names,
        })
    }

    /// Number of encoded columns.
    pub fn width(&self) -> usize {
        self.names.len()
    }

    /// Names of the encoded columns (see the type's documentation for the scheme).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The feature each encoded column comes from (index into the features).
    pub fn column_features(&self) -> Vec<usize> {
        let mut out = vec![0; self.width()];
        for step in &self.steps {
            let (feature, columns): (usize, Vec<u32>) = match step {
                EncodeStep::Numeric {
                    feature,
                    value,
                    missing,
                    ..
                } => (*feature, value.iter().chain(missing).copied().collect()),
                EncodeStep::Categorical {
                    feature,
                    columns,
                    missing,
                } => (
                    *feature,
                    columns
                        .iter()
                        .chain(missing)
                        .copied()
                        .filter(|&c| c != NO_COLUMN)
                        .collect(),
                ),
            };
            for c in columns {
                if let Some(slot) = out.get_mut(c as usize) {
                    *slot = feature;
                }
            }
        }
        out
    }

    /// The encoded columns of each categorical feature (levels and missing).
    pub(crate) fn categorical_groups(&self) -> Vec<Vec<usize>> {
        self.steps
            .iter()
            .filter_map(|step| match step {
                EncodeStep::Categorical {
                    columns, missing, ..
                } => Some(
                    columns
                        .iter()
                        .chain(missing)
                        .filter(|&&c| c != NO_COLUMN)
                        .map(|&c| c as usize)
                        .collect::<Vec<_>>(),
                ),
                EncodeStep::Numeric { .. } => None,
            })
            .collect()
    }

    /// Checks that `x` has the features this encoder was fitted on, with the same kinds.
    pub fn check(&self, x: &Features) -> Result<()> {
        if x.columns.len() != self.feature_names.len() {
            return Err(LearnError::data(
                format!(
                    "the model expects {} features, got {}",
                    self.feature_names.len(),
                    x.columns.len()
                ),
                "transform the data with the Prep the model was trained with",
            ));
        }
        for (feature, name) in x.columns.iter().zip(&self.feature_names) {
            if &feature.name != name {
                return Err(LearnError::data(
                    format!("expected feature '{name}', got '{}'", feature.name),
                    "transform the data with the Prep the model was trained with",
                ));
            }
        }
        for step in &self.steps {
            let ok = match step {
                EncodeStep::Numeric { feature, .. } => {
                    matches!(x.columns[*feature].data, FeatureData::Numeric(_))
                }
                EncodeStep::Categorical { feature, .. } => {
                    matches!(x.columns[*feature].data, FeatureData::Categorical { .. })
                }
            };
            if !ok {
                let name = match step {
                    EncodeStep::Numeric { feature, .. }
                    | EncodeStep::Categorical { feature, .. } => &self.feature_names[*feature],
                };
                return Err(LearnError::data(
                    format!("feature '{name}' changed between numeric and categorical"),
                    "transform the data with the Prep the model was trained with",
                ));
            }
        }
        for feature in &x.columns {
            let len = match &feature.data {
                FeatureData::Numeric(v) => v.len(),
                FeatureData::Categorical { codes, .. } => codes.len(),
            };
            if len != x.n_rows {
                return Err(LearnError::data(
                    format!(
                        "feature '{}' has {len} values for {} rows",
                        feature.name, x.n_rows
                    ),
                    "every feature column needs one value per row",
                ));
            }
        }
        Ok(())
    }

    /// Calls `f(column, value)` for the encoded entries of `row` that may be non-zero, in
    /// increasing column order; all other columns are 0. Does not allocate. `row` must be
    /// below `x.n_rows` and every column must hold `n_rows` values ([`Encoder::check`]).
    #[inline]
    pub fn visit_row(&self, x: &Features, row: usize, mut f: impl FnMut(usize, f64)) {
        for step in &self.steps {
            match step {
                EncodeStep::Numeric {
                    feature,
                    mean,
                    std,
                    value,
                    missing,
                } => {
                    let v = match x.columns.get(*feature).map(|c| &c.data) {
                        Some(FeatureData::Numeric(values)) => values[row],
                        _ => f32::NAN,
                    };
                    if v.is_finite() {
                        if let Some(c) = value {
                            f(*c as usize, (f64::from(v) - mean) / std);
                        }
                    } else if let Some(c) = missing {
                        f(*c as usize, 1.0);
                    }
                }
                EncodeStep::Categorical {
                    feature,
                    columns,
                    missing,
                } => {
                    let code = match x.columns.get(*feature).map(|c| &c.data) {
                        Some(FeatureData::Categorical { codes, .. }) => codes[row],
                        _ => MISSING_CODE,
                    };
                    if code == MISSING_CODE {
                        if let Some(c) = missing {
                            f(*c as usize, 1.0);
                        }
                    } else if let Some(&c) = columns.get(code as usize)
                        && c != NO_COLUMN
                    {
                        f(c as usize, 1.0);
                    }
                }
            }
        }
    }

    /// Writes the encoded `row` into `out[..self.width()]`. Does not allocate.
    #[inline]
    pub fn encode_row(&self, x: &Features, row: usize, out: &mut [f64]) {
        let out = &mut out[..self.width()];
        out.fill(0.0);
        self.visit_row(x, row, |c, v| out[c] = v);
    }
}

#[cfg(test)]
impl Encoder {
    /// For comparing encoders fitted on different row counts: names are identical anyway.
    pub(crate) fn with_names_of(mut self, other: &Encoder) -> Encoder {
        self.names.clone_from(&other.names);
        self
    }
}

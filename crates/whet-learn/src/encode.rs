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

/// Pseudo-rows of the training prior in a level's target statistic: a level seen on `n`
/// rows gets `n / (n + TARGET_SMOOTHING)` of its own mean. sklearn's `TargetEncoder` and
/// category_encoders' m-estimate use the same shrinkage (m = 10 is the latter's usual
/// setting); it keeps a level seen on a few rows from encoding as its own rows' targets.
pub const TARGET_SMOOTHING: f64 = 10.0;

/// `cat_encoding=VALUE` of the linear models and kNN.
pub(crate) fn parse_cat_encoding(key: &str, value: &str) -> Result<CatEncoding> {
    CatEncoding::parse(value).ok_or_else(|| {
        LearnError::param(
            key,
            value,
            "unknown categorical encoding",
            "use cat_encoding=onehot, ordinal or target",
        )
    })
}

/// How the linear models and kNN turn a categorical feature into numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatEncoding {
    /// One 0/1 column per frequent level (see [`Encoder`]).
    #[default]
    OneHot,
    /// One column: the level's frequency rank in training (the Prep's code order, most
    /// frequent first), standardized; missing is the mean.
    Ordinal,
    /// The level's smoothed mean target on the training rows (one column; one per class for
    /// multiclass), standardized. Fitted on the rows the model is fitted on, so within
    /// cross-validation each fold encodes with its own training rows only.
    Target,
}

impl CatEncoding {
    pub const NAMES: [&'static str; 3] = ["onehot", "ordinal", "target"];

    pub fn is_one_hot(&self) -> bool {
        *self == CatEncoding::OneHot
    }

    pub fn name(self) -> &'static str {
        match self {
            CatEncoding::OneHot => "onehot",
            CatEncoding::Ordinal => "ordinal",
            CatEncoding::Target => "target",
        }
    }

    pub fn parse(s: &str) -> Option<CatEncoding> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', '_'], "")
            .as_str()
        {
            "onehot" => Some(CatEncoding::OneHot),
            "ordinal" => Some(CatEncoding::Ordinal),
            "target" => Some(CatEncoding::Target),
            _ => None,
        }
    }
}

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
    /// Ordinal or target encoding: a code's values in `columns` are row `code` of `values`
    /// (row-major, `columns.len()` wide); missing values and codes past the table use the
    /// last row.
    Lookup {
        feature: usize,
        columns: Vec<u32>,
        values: Vec<f64>,
    },
}

impl EncodeStep {
    /// The values of categorical `code` (`MISSING_CODE` for missing) in a lookup table.
    pub(crate) fn lookup_row<'v>(columns: &[u32], values: &'v [f64], code: u32) -> &'v [f64] {
        let width = columns.len().max(1);
        let rows = values.len() / width;
        let r = if code == MISSING_CODE || code as usize + 1 >= rows {
            rows.saturating_sub(1)
        } else {
            code as usize
        };
        values.get(r * width..(r + 1) * width).unwrap_or(&[])
    }
}

/// Levels of a categorical feature (codes below `k`) on positive-weight training rows.
fn levels_seen(data: &TrainSet, codes: &[u32], k: usize) -> usize {
    let mut seen = vec![false; k];
    for i in 0..data.n_rows() {
        let row = data.row(i);
        if data.weight_of(row) > 0.0
            && let Some(s) = seen.get_mut(codes[row] as usize)
        {
            *s = true;
        }
    }
    seen.iter().filter(|&&s| s).count()
}

/// Standardizes `raw` (row-major `rows × width`, the last row for missing values) in place
/// with the weighted mean and standard deviation of each column over the training rows, whose
/// table rows and weights are `used`; returns each column's (mean, deviation), None for a
/// column that does not vary (left as it was).
fn standardize(raw: &mut [f64], width: usize, used: &[(usize, f64)]) -> Vec<Option<(f64, f64)>> {
    let mut scales = vec![None; width];
    for (j, scale) in scales.iter_mut().enumerate() {
        let (mut sw, mut swx) = (0.0, 0.0);
        for &(r, w) in used {
            sw += w;
            swx += w * raw[r * width + j];
        }
        if sw <= 0.0 {
            continue;
        }
        let mean = swx / sw;
        let ss: f64 = used
            .iter()
            .map(|&(r, w)| w * (raw[r * width + j] - mean).powi(2))
            .sum();
        let std = (ss / sw).sqrt();
        if !(std > 1e-12 && std.is_finite()) {
            continue;
        }
        *scale = Some((mean, std));
        for row in raw.chunks_mut(width) {
            row[j] = (row[j] - mean) / std;
        }
    }
    scales
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
    /// Fits on the rows of `data` (weights respected, zero-weight rows ignored), categorical
    /// features one-hot.
    pub fn fit(data: &TrainSet) -> Result<Encoder> {
        Encoder::fit_with(data, CatEncoding::OneHot)
    }

    /// [`Encoder::fit`] with categorical features of at least [`LOOKUP_MIN_LEVELS`] levels
    /// encoded as `encoding` says (fewer stay one-hot). Target encoding reads `data.y` (class
    /// indices, or the values for regression).
    pub fn fit_with(data: &TrainSet, encoding: CatEncoding) -> Result<Encoder> {
        Encoder::fit_inner(data, encoding, false).map(|(e, _)| e)
    }

    /// [`Encoder::fit_with`], and the encodings its training rows take when a model is fitted
    /// on them: target encodings cross-fitted over inner folds, so no training row is encoded
    /// with its own target ([`TrainingEncoding::apply`] after [`Encoder::encode_row`]).
    pub fn fit_for_training(
        data: &TrainSet,
        encoding: CatEncoding,
    ) -> Result<(Encoder, TrainingEncoding)> {
        Encoder::fit_inner(data, encoding, true)
    }

    fn fit_inner(
        data: &TrainSet,
        encoding: CatEncoding,
        cross_fit: bool,
    ) -> Result<(Encoder, TrainingEncoding)> {
        check_rows_and_weights(data)?;
        let mut training = TrainingEncoding::default();
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
                } if encoding != CatEncoding::OneHot
                    && levels_seen(data, codes, *n_categories as usize) >= LOOKUP_MIN_LEVELS =>
                {
                    let k = *n_categories as usize;
                    if let Some(fit) = lookup_values(data, codes, k, encoding) {
                        let width = fit.keep.len();
                        let columns: Vec<u32> = (0..width)
                            .map(|j| {
                                // Multiclass target columns are named by their class.
                                let name = if fit.raw_width == 1 {
                                    format!("{}__{}", feature.name, encoding.name())
                                } else {
                                    format!("{}__{}_{}", feature.name, encoding.name(), fit.keep[j])
                                };
                                take(&mut names, name)
                            })
                            .collect();
                        if cross_fit && encoding == CatEncoding::Target {
                            let rows = cross_fitted(data, codes, k, &fit);
                            training.overrides.push((columns.clone(), rows));
                        }
                        steps.push(EncodeStep::Lookup {
                            feature: f,
                            columns,
                            values: fit.values,
                        });
                    }
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
        Ok((
            Encoder {
                feature_names: x.columns.iter().map(|c| c.name.clone()).collect(),
                steps,
                names,
            },
            training,
        ))
    }

    /// Whether any categorical feature is encoded by a lookup (ordinal or target).
    pub fn has_lookups(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s, EncodeStep::Lookup { .. }))
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
                EncodeStep::Lookup {
                    feature, columns, ..
                } => (*feature, columns.clone()),
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
                EncodeStep::Numeric { .. } | EncodeStep::Lookup { .. } => None,
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
                EncodeStep::Categorical { feature, .. } | EncodeStep::Lookup { feature, .. } => {
                    matches!(x.columns[*feature].data, FeatureData::Categorical { .. })
                }
            };
            if !ok {
                let name = match step {
                    EncodeStep::Numeric { feature, .. }
                    | EncodeStep::Categorical { feature, .. }
                    | EncodeStep::Lookup { feature, .. } => &self.feature_names[*feature],
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
                EncodeStep::Lookup {
                    feature,
                    columns,
                    values,
                } => {
                    let code = match x.columns.get(*feature).map(|c| &c.data) {
                        Some(FeatureData::Categorical { codes, .. }) => codes[row],
                        _ => MISSING_CODE,
                    };
                    let row_values = EncodeStep::lookup_row(columns, values, code);
                    for (&c, &v) in columns.iter().zip(row_values) {
                        f(c as usize, v);
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

/// Inner folds of the cross-fitted target encoding of training rows.
const CROSS_FIT_FOLDS: u64 = 5;

/// Fewest levels seen in training for a categorical feature to be ordinal- or target-encoded;
/// with fewer, one-hot columns cost little and let each level have its own coefficient (a
/// target encoding of a binary target is on the probability scale, which a logistic model's
/// one coefficient cannot bend to the logit of each level).
pub const LOOKUP_MIN_LEVELS: usize = 8;

/// The inner fold of training row `row` (a fixed hash: the same row, the same fold).
pub(crate) fn inner_fold(row: usize) -> u64 {
    let mut z = (row as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % CROSS_FIT_FOLDS
}

/// The slot of a code in a lookup table of `k` codes: the code, or `k` for missing.
fn slot(c: u32, k: usize) -> usize {
    if c == MISSING_CODE || c as usize >= k {
        k
    } else {
        c as usize
    }
}

/// An ordinal or target encoding of one categorical feature fitted on the training rows.
struct LookupFit {
    /// `(k + 1) × width`, standardized: the stored table.
    values: Vec<f64>,
    /// Kept (varying) columns of the raw table, and their training mean and deviation.
    keep: Vec<usize>,
    mean: Vec<f64>,
    std: Vec<f64>,
    raw_width: usize,
}

/// The raw (unstandardized) table of an encoding from the positive-weight rows of `data`
/// that `include` accepts: `(k + 1) × width` (the last row for missing), and `width`.
fn raw_lookup(
    data: &TrainSet,
    codes: &[u32],
    k: usize,
    encoding: CatEncoding,
    include: &dyn Fn(usize) -> bool,
) -> Option<(Vec<f64>, usize)> {
    let rows = || {
        (0..data.n_rows())
            .map(|i| data.row(i))
            .filter(|&r| data.weight_of(r) > 0.0 && include(r))
    };
    match encoding {
        CatEncoding::OneHot => None,
        CatEncoding::Ordinal => {
            // Missing sits at the training mean of the ranks (0 once standardized).
            let (sw, swx) = rows()
                .map(|r| (slot(codes[r], k), data.weight_of(r)))
                .filter(|&(s, _)| s < k)
                .fold((0.0, 0.0), |(sw, swx), (s, w)| (sw + w, swx + w * s as f64));
            let mean = if sw > 0.0 { swx / sw } else { 0.0 };
            let mut raw: Vec<f64> = (0..k).map(|c| c as f64).collect();
            raw.push(mean);
            Some((raw, 1))
        }
        CatEncoding::Target => {
            // Regression and binary: one column of the mean target (the positive class's
            // share); multiclass: one column per class share.
            let width = if data.task == whet_data::Task::Multiclass {
                data.n_classes
            } else {
                1
            };
            let value = |row: usize, j: usize| -> f64 {
                let y = data.y[row];
                if width == 1 {
                    y
                } else {
                    f64::from(u8::from(y as usize == j))
                }
            };
            let mut sum = vec![0.0; (k + 1) * width];
            let mut weight = vec![0.0; k + 1];
            let mut prior = vec![0.0; width];
            let mut total = 0.0;
            for row in rows() {
                let w = data.weight_of(row);
                let s = slot(codes[row], k);
                weight[s] += w;
                total += w;
                for j in 0..width {
                    let v = w * value(row, j);
                    sum[s * width + j] += v;
                    prior[j] += v;
                }
            }
            if total <= 0.0 {
                return None;
            }
            prior.iter_mut().for_each(|p| *p /= total);
            let mut raw = vec![0.0; (k + 1) * width];
            for s in 0..=k {
                for j in 0..width {
                    raw[s * width + j] = (sum[s * width + j] + TARGET_SMOOTHING * prior[j])
                        / (weight[s] + TARGET_SMOOTHING);
                }
            }
            Some((raw, width))
        }
    }
}

/// The lookup table of an ordinal or target encoding of one categorical feature with `k`
/// codes, standardized over the training rows; None when no column varies.
fn lookup_values(
    data: &TrainSet,
    codes: &[u32],
    k: usize,
    encoding: CatEncoding,
) -> Option<LookupFit> {
    let (raw, width) = raw_lookup(data, codes, k, encoding, &|_| true)?;
    let used: Vec<(usize, f64)> = (0..data.n_rows())
        .map(|i| data.row(i))
        .filter(|&r| data.weight_of(r) > 0.0)
        .map(|r| (slot(codes[r], k), data.weight_of(r)))
        .collect();
    let mut standardized = raw;
    let scales = standardize(&mut standardized, width, &used);
    let keep: Vec<usize> = (0..width).filter(|&j| scales[j].is_some()).collect();
    if keep.is_empty() {
        return None;
    }
    let (mean, std) = keep.iter().filter_map(|&j| scales[j]).unzip();
    let values = standardized
        .chunks(width)
        .flat_map(|row| keep.iter().map(move |&j| row[j]))
        .collect();
    Some(LookupFit {
        values,
        keep,
        mean,
        std,
        raw_width: width,
    })
}

/// Encoded values of a target-encoded feature for the training rows themselves: each row's
/// from the rows outside its inner fold, on the stored table's scale (as sklearn's
/// `TargetEncoder.fit_transform` does). Encoded with the stored table, a training row would
/// see its own target, and a linear model or kNN would trust a level more than new rows
/// bear out (on 120 irrelevant cities of ~15 rows each, enough to cost 0.005 AUC).
fn cross_fitted(data: &TrainSet, codes: &[u32], k: usize, fit: &LookupFit) -> Vec<f64> {
    let width = fit.keep.len();
    let mut out = vec![f64::NAN; data.x.n_rows * width];
    for f in 0..CROSS_FIT_FOLDS {
        let Some((raw, raw_width)) =
            raw_lookup(data, codes, k, CatEncoding::Target, &|r| inner_fold(r) != f)
        else {
            continue;
        };
        if raw_width != fit.raw_width {
            continue;
        }
        for i in 0..data.n_rows() {
            let row = data.row(i);
            if inner_fold(row) != f {
                continue;
            }
            let s = slot(codes[row], k);
            for (c, &j) in fit.keep.iter().enumerate() {
                out[row * width + c] = (raw[s * raw_width + j] - fit.mean[c]) / fit.std[c];
            }
        }
    }
    out
}

/// Encodings of the training rows that differ from what the fitted [`Encoder`] gives them:
/// the cross-fitted target encodings (see [`Encoder::fit_for_training`]).
#[derive(Clone, Debug, Default)]
pub struct TrainingEncoding {
    /// Per target-encoded feature: its encoded columns and, row-major over every row of the
    /// features (NaN for rows not trained on), the values to use.
    overrides: Vec<(Vec<u32>, Vec<f64>)>,
}

impl TrainingEncoding {
    /// Overwrites the target-encoded columns of training row `row` in `out` (an encoded row).
    #[inline]
    pub fn apply(&self, row: usize, out: &mut [f64]) {
        for (columns, values) in &self.overrides {
            let width = columns.len();
            if let Some(v) = values.get(row * width..(row + 1) * width) {
                for (&c, &x) in columns.iter().zip(v) {
                    if x.is_finite()
                        && let Some(slot) = out.get_mut(c as usize)
                    {
                        *slot = x;
                    }
                }
            }
        }
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

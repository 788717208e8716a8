//! Linear models: elastic-net linear regression, binary logistic and multinomial (softmax)
//! logistic regression, plus the [`Encoder`] that turns `Features` into a dense numeric design
//! (shared with the k-nearest-neighbours learner).
//!
//! We write these ourselves instead of pulling `linfa` + `ndarray`: the models are small, pure
//! Rust, and we keep full control of missing values and categorical features (mean imputation
//! with missing indicators, capped one-hot encoding), of sample weights everywhere, and of the
//! serialized form.
//!
//! # Objective
//!
//! With normalized sample weights `v_i = w_i / Σw` (so weights equal to 2 are the same as
//! duplicated rows), every model minimizes
//!
//! ```text
//! Σ v_i · loss(y_i, b + x_i·β)  +  α·l1_ratio·|β|₁  +  α·(1 − l1_ratio)/2·|β|²
//! ```
//!
//! on the encoded design, with unpenalized intercepts `b`. The loss is `½(y − η)²` for
//! regression (the scikit-learn `ElasticNet` objective), the logistic loss for binary tasks
//! and the softmax cross-entropy for multiclass tasks (one coefficient vector per class, all
//! penalized, as scikit-learn's multinomial `LogisticRegression`). scikit-learn's
//! `LogisticRegression(C)` corresponds to `alpha = 1 / (C · n)` with `l1_ratio = 0`.
//!
//! # Solver
//!
//! Proximal Newton (glmnet style): at the current coefficients the loss is replaced by its
//! exact second-order expansion, the penalized quadratic model is minimized by cyclic
//! coordinate descent with soft thresholding, and the step is accepted with a backtracking
//! (Armijo) line search on the true objective. For regression the quadratic model is exact,
//! so this is plain coordinate descent on the elastic net. Details that keep it fast and
//! tight:
//!
//! * columns are centered (weighted) inside the solver, so the intercept is nearly decoupled;
//! * the multinomial updates one column's coefficients in all classes at once with the exact
//!   `classes × classes` Hessian block (a small Cholesky solve for ridge, a small coordinate
//!   descent for L1), because the classes are strongly coupled;
//! * directions that change only the penalty – the same amount added to every level of a
//!   categorical feature whose one-hot columns cover all rows, or to a column's coefficient
//!   in every class – are minimized exactly instead of being crawled along;
//! * far from the optimum the quadratic model is solved only to two digits (inexact Newton),
//!   near it to full accuracy.
//!
//! Every pass costs O(rows · encoded columns · outputs); memory is the dense design (rows ×
//! encoded columns, f64) plus a few vectors per row and output.
//!
//! Convergence: the final coordinate-descent pass moved no coordinate by more than `tol` in
//! weighted root-mean-square linear-predictor units (times the target's standard deviation
//! for regression), and the last Newton step was that small too. `max_iter` bounds the total
//! number of coordinate-descent passes over the data; [`LinearModel::converged`] reports
//! whether the tolerance was reached.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use whet_data::Task;
use whet_data::prep::{FeatureData, Features, MISSING_CODE};

use crate::data::{Predictions, TrainSet};
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

/// "No encoded column" in [`Encoder`] lookup tables.
const NO_COLUMN: u32 = u32::MAX;

// ---------------------------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum EncodeStep {
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
///   [`MAX_LEVELS`] most frequent codes (by training weight; ties by code) in columns
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
    steps: Vec<EncodeStep>,
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
                    let mut missing_rows = 0usize;
                    for i in 0..n {
                        let row = data.row(i);
                        let w = data.weight_of(row);
                        let c = codes[row];
                        if c == MISSING_CODE {
                            missing_rows += usize::from(w > 0.0);
                        } else if let Some(slot) = weight.get_mut(c as usize) {
                            *slot += w;
                        }
                    }
                    let mut levels: Vec<usize> = (0..k).filter(|&c| weight[c] > 0.0).collect();
                    let missing_column = missing_rows >= MIN_MISSING_ROWS;
                    let states = levels.len() + usize::from(missing_column);
                    if states < 2 {
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

// ---------------------------------------------------------------------------------------------
// Training-set checks shared with knn.rs
// ---------------------------------------------------------------------------------------------

fn check_rows_and_weights(data: &TrainSet) -> Result<()> {
    let x = data.x;
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
    if let Some(rows) = data.rows
        && let Some(&bad) = rows.iter().find(|&&r| r as usize >= x.n_rows)
    {
        return Err(LearnError::data(
            format!("row index {bad} is out of range for {} rows", x.n_rows),
            "row subsets must index into the features",
        ));
    }
    if let Some(w) = data.weight {
        if w.len() != x.n_rows {
            return Err(LearnError::data(
                format!("{} weights for {} rows", w.len(), x.n_rows),
                "give one weight per row",
            ));
        }
        if let Some(row) = (0..data.n_rows())
            .map(|i| data.row(i))
            .find(|&r| !(w[r].is_finite() && w[r] >= 0.0))
        {
            return Err(LearnError::data(
                format!(
                    "row {}: weight {} is not a finite number ≥ 0",
                    row + 1,
                    w[row]
                ),
                "fix or drop the row's weight",
            ));
        }
    }
    if data.n_rows() == 0 {
        return Err(LearnError::data(
            "no training rows",
            "train on a non-empty data set",
        ));
    }
    let total: f64 = (0..data.n_rows())
        .map(|i| data.weight_of(data.row(i)))
        .sum();
    if !(total > 0.0 && total.is_finite()) {
        return Err(LearnError::data(
            "the training rows' weights sum to 0",
            "give some rows a positive weight",
        ));
    }
    Ok(())
}

/// Checks the shape of `data`, weights and targets for its task.
pub(crate) fn check_train_set(data: &TrainSet) -> Result<()> {
    check_rows_and_weights(data)?;
    if data.y.len() != data.x.n_rows {
        return Err(LearnError::data(
            format!("{} targets for {} rows", data.y.len(), data.x.n_rows),
            "give one target value per row",
        ));
    }
    match data.task {
        Task::Binary if data.n_classes != 2 => {
            return Err(LearnError::data(
                format!("a binary task needs 2 classes, got {}", data.n_classes),
                "use the multiclass task for more than two classes",
            ));
        }
        Task::Multiclass if data.n_classes < 2 => {
            return Err(LearnError::data(
                format!(
                    "a multiclass task needs 2 or more classes, got {}",
                    data.n_classes
                ),
                "check the target column",
            ));
        }
        _ => {}
    }
    for i in 0..data.n_rows() {
        let row = data.row(i);
        let y = data.y[row];
        let ok = match data.task {
            Task::Regression => y.is_finite(),
            Task::Binary | Task::Multiclass => {
                y >= 0.0 && y.fract() == 0.0 && (y as usize) < data.n_classes
            }
        };
        if !ok {
            return Err(LearnError::data(
                format!(
                    "row {}: target {y} is not valid for a {:?} task",
                    row + 1,
                    data.task
                ),
                match data.task {
                    Task::Regression => "regression targets must be finite numbers",
                    _ => "classification targets must be class indices 0..n_classes",
                },
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearParams {
    /// Regularization strength (≥ 0); scikit-learn's `C` is `1 / (alpha · n)`.
    pub alpha: f64,
    /// Share of the L1 penalty: 0 = ridge, 1 = lasso.
    pub l1_ratio: f64,
    /// Maximum number of coordinate-descent passes over the data.
    pub max_iter: usize,
    /// Convergence tolerance (see the module documentation).
    pub tol: f64,
}

impl Default for LinearParams {
    fn default() -> Self {
        LinearParams {
            alpha: 1e-4,
            l1_ratio: 0.0,
            max_iter: 1000,
            tol: 1e-6,
        }
    }
}

fn parse_f64(name: &str, value: &str) -> Result<f64> {
    value.trim().parse::<f64>().map_err(|_| {
        LearnError::param(
            name,
            value,
            "not a number",
            format!("give a number, e.g. {name}=0.01"),
        )
    })
}

fn parse_usize(name: &str, value: &str) -> Result<usize> {
    value.trim().parse::<usize>().map_err(|_| {
        LearnError::param(
            name,
            value,
            "not a whole number",
            format!("give a whole number, e.g. {name}=100"),
        )
    })
}

fn check_alpha(name: &str, alpha: f64) -> Result<()> {
    if alpha.is_finite() && alpha >= 0.0 {
        Ok(())
    } else {
        Err(LearnError::param(
            name,
            alpha,
            "must be a finite number ≥ 0",
            "use e.g. alpha=0.0001; 0 means no regularization",
        ))
    }
}

fn check_l1_ratio(name: &str, r: f64) -> Result<()> {
    if (0.0..=1.0).contains(&r) {
        Ok(())
    } else {
        Err(LearnError::param(
            name,
            r,
            "must be between 0 and 1",
            "0 is ridge, 1 is lasso, values in between mix them",
        ))
    }
}

fn check_max_iter(name: &str, m: usize) -> Result<()> {
    if m >= 1 {
        Ok(())
    } else {
        Err(LearnError::param(
            name,
            m,
            "must be at least 1",
            "use e.g. max_iter=1000",
        ))
    }
}

fn check_tol(name: &str, t: f64) -> Result<()> {
    if t.is_finite() && t > 0.0 {
        Ok(())
    } else {
        Err(LearnError::param(
            name,
            t,
            "must be a finite number > 0",
            "use e.g. tol=1e-6",
        ))
    }
}

impl LinearParams {
    /// Sets one parameter from text. Returns `Ok(false)` for a key that is not a linear-model
    /// parameter; keys: `alpha` (alias `lambda`), `l1_ratio`, `max_iter`, `tol`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "alpha" | "lambda" => {
                let v = parse_f64(key, value)?;
                check_alpha(key, v)?;
                self.alpha = v;
            }
            "l1_ratio" => {
                let v = parse_f64(key, value)?;
                check_l1_ratio(key, v)?;
                self.l1_ratio = v;
            }
            "max_iter" => {
                let v = parse_usize(key, value)?;
                check_max_iter(key, v)?;
                self.max_iter = v;
            }
            "tol" => {
                let v = parse_f64(key, value)?;
                check_tol(key, v)?;
                self.tol = v;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub fn validate(&self) -> Result<()> {
        check_alpha("alpha", self.alpha)?;
        check_l1_ratio("l1_ratio", self.l1_ratio)?;
        check_max_iter("max_iter", self.max_iter)?;
        check_tol("tol", self.tol)
    }
}

// ---------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------

/// A fitted linear, logistic or multinomial logistic model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    encoder: Encoder,
    task: Task,
    n_classes: usize,
    n_outputs: usize,
    /// `n_outputs × width`, row-major, on the encoded scale.
    coef: Vec<f64>,
    intercept: Vec<f64>,
    /// Multiclass: classes present in training; absent ones get probability 0.
    present: Vec<bool>,
    n_iter: usize,
    converged: bool,
}

impl LinearModel {
    pub fn task(&self) -> Task {
        self.task
    }

    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// Number of classes (2 for binary), 1 for regression.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// Coefficient of each encoded column for the first output (the positive class for a
    /// binary model, class 0 for a multiclass one), on the encoded scale: for a numeric
    /// feature the effect of one training standard deviation.
    pub fn coefficients(&self) -> Vec<(String, f64)> {
        self.coefficients_of(0)
    }

    /// Like [`LinearModel::coefficients`] for output `k`.
    pub fn coefficients_of(&self, k: usize) -> Vec<(String, f64)> {
        let w = self.encoder.width();
        self.encoder
            .names()
            .iter()
            .cloned()
            .zip(self.coef[k * w..(k + 1) * w].iter().copied())
            .collect()
    }

    /// Intercept per output (on the linear-predictor scale).
    pub fn intercepts(&self) -> &[f64] {
        &self.intercept
    }

    /// Coordinate-descent passes used by the fit.
    pub fn n_iter(&self) -> usize {
        self.n_iter
    }

    /// Whether the fit reached `tol` within `max_iter` passes.
    pub fn converged(&self) -> bool {
        self.converged
    }

    pub fn predict(&self, x: &Features) -> Predictions {
        let k = self.n_outputs;
        let mut values = vec![0.0; x.n_rows * k];
        values
            .par_chunks_mut(k)
            .with_min_len(256)
            .enumerate()
            .for_each(|(row, out)| self.predict_row(x, row, out));
        Predictions {
            n_rows: x.n_rows,
            n_outputs: k,
            values,
        }
    }

    /// Writes the prediction for `row` into `out[..n_outputs]`. Does not allocate.
    pub fn predict_row(&self, x: &Features, row: usize, out: &mut [f64]) {
        let k = self.n_outputs;
        let w = self.encoder.width();
        let out = &mut out[..k];
        out.copy_from_slice(&self.intercept);
        self.encoder.visit_row(x, row, |c, v| {
            for (o, eta) in out.iter_mut().enumerate() {
                *eta += self.coef[o * w + c] * v;
            }
        });
        match self.task {
            Task::Regression => {}
            Task::Binary => out[0] = sigmoid(out[0]),
            Task::Multiclass => {
                let mut max = f64::NEG_INFINITY;
                for (eta, &p) in out.iter().zip(&self.present) {
                    if p {
                        max = max.max(*eta);
                    }
                }
                let mut sum = 0.0;
                for (eta, &p) in out.iter_mut().zip(&self.present) {
                    *eta = if p { (*eta - max).exp() } else { 0.0 };
                    sum += *eta;
                }
                for eta in out.iter_mut() {
                    *eta /= sum;
                }
            }
        }
    }
}

#[inline]
fn sigmoid(eta: f64) -> f64 {
    if eta >= 0.0 {
        1.0 / (1.0 + (-eta).exp())
    } else {
        let e = eta.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + e^η)` without overflow.
#[inline]
fn softplus(eta: f64) -> f64 {
    if eta > 0.0 {
        eta + (-eta).exp().ln_1p()
    } else {
        eta.exp().ln_1p()
    }
}

/// Fits a linear model for `data.task`: elastic-net regression, binary logistic or
/// multinomial logistic regression (see the module documentation).
pub fn fit_linear(data: &TrainSet, params: &LinearParams) -> Result<LinearModel> {
    fit_linear_until(data, params, None)
}

/// [`fit_linear`] that gives up with [`LearnError::Interrupted`] once `deadline` has passed
/// (checked every coordinate-descent sweep).
pub fn fit_linear_until(
    data: &TrainSet,
    params: &LinearParams,
    deadline: Option<std::time::Instant>,
) -> Result<LinearModel> {
    params.validate()?;
    check_train_set(data)?;
    let encoder = Encoder::fit(data)?;
    let p = encoder.width();

    // Rows with positive weight, normalized weights, dense centered design (column-major).
    let rows: Vec<usize> = (0..data.n_rows())
        .map(|i| data.row(i))
        .filter(|&r| data.weight_of(r) > 0.0)
        .collect();
    let n = rows.len();
    let total: f64 = rows.iter().map(|&r| data.weight_of(r)).sum();
    let v: Vec<f64> = rows.iter().map(|&r| data.weight_of(r) / total).collect();
    let mut x = vec![0.0; n * p];
    let mut buf = vec![0.0; p];
    // Categorical features whose one-hot columns cover every row (nothing capped or unseen).
    let mut groups = encoder.categorical_groups();
    let mut complete = vec![true; groups.len()];
    for (i, &r) in rows.iter().enumerate() {
        encoder.encode_row(data.x, r, &mut buf);
        for (j, &b) in buf.iter().enumerate() {
            x[j * n + i] = b;
        }
        for (g, ok) in groups.iter().zip(&mut complete) {
            *ok &= g.iter().map(|&j| buf[j]).sum::<f64>() == 1.0;
        }
    }
    let mut complete = complete.into_iter();
    groups.retain(|_| complete.next() == Some(true));
    let mut means = vec![0.0; p];
    let mut variance = vec![0.0; p];
    for j in 0..p {
        let col = &mut x[j * n..(j + 1) * n];
        let m: f64 = col.iter().zip(&v).map(|(a, w)| a * w).sum();
        for a in col.iter_mut() {
            *a -= m;
        }
        means[j] = m;
        variance[j] = col.iter().zip(&v).map(|(a, w)| a * a * w).sum();
    }
    let active: Vec<bool> = variance.iter().map(|&s| s > 1e-20).collect();

    let (family, n_outputs) = match data.task {
        Task::Regression => (Family::Gaussian, 1),
        Task::Binary => (Family::Binomial, 1),
        Task::Multiclass => (Family::Multinomial, data.n_classes),
    };
    // Class weights; classes missing from training are left out of the softmax.
    let mut present = vec![true; n_outputs];
    let mut class_of: Vec<u32> = Vec::new();
    let mut target: Vec<f64> = rows.iter().map(|&r| data.y[r]).collect();
    let mut kk = 1;
    match data.task {
        Task::Regression => {}
        Task::Binary | Task::Multiclass => {
            let mut cw = vec![0.0; data.n_classes];
            for (&r, &w) in rows.iter().zip(&v) {
                cw[data.y[r] as usize] += w;
            }
            let seen = cw.iter().filter(|&&w| w > 0.0).count();
            if seen < 2 {
                return Err(LearnError::data(
                    "the training rows hold only one class",
                    "a classifier needs at least two classes with positive weight; check the split or the weights",
                ));
            }
            if data.task == Task::Multiclass {
                let mut index = vec![u32::MAX; data.n_classes];
                let mut next = 0;
                for (c, &w) in cw.iter().enumerate() {
                    present[c] = w > 0.0;
                    if w > 0.0 {
                        index[c] = next;
                        next += 1;
                    }
                }
                kk = next as usize;
                class_of = rows.iter().map(|&r| index[data.y[r] as usize]).collect();
                target.clear();
            }
        }
    }

    let problem = Problem {
        n,
        p,
        kk,
        x: &x,
        ones: vec![1.0; n],
        v: &v,
        active: &active,
        variance: &variance,
        family,
        y: &target,
        class_of: &class_of,
        groups,
        l1: params.alpha * params.l1_ratio,
        l2: params.alpha * (1.0 - params.l1_ratio),
    };
    let solution = problem.solve(params.max_iter, params.tol, deadline);
    if solution.interrupted {
        return Err(LearnError::Interrupted {
            done: solution.n_iter,
            planned: params.max_iter,
        });
    }

    // Back to all outputs and uncentered columns.
    let mut coef = vec![0.0; n_outputs * p];
    let mut intercept = vec![0.0; n_outputs];
    let mut solved = 0;
    for o in 0..n_outputs {
        if !present[o] {
            continue;
        }
        let beta = &solution.beta[solved * p..(solved + 1) * p];
        coef[o * p..(o + 1) * p].copy_from_slice(beta);
        intercept[o] =
            solution.intercept[solved] - beta.iter().zip(&means).map(|(b, m)| b * m).sum::<f64>();
        solved += 1;
    }
    Ok(LinearModel {
        encoder,
        task: data.task,
        n_classes: data.n_classes,
        n_outputs,
        coef,
        intercept,
        present,
        n_iter: solution.n_iter,
        converged: solution.converged,
    })
}

// ---------------------------------------------------------------------------------------------
// Solver
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Gaussian,
    Binomial,
    Multinomial,
}

/// Smallest curvature weight used for logistic losses (keeps Newton steps finite when
/// probabilities saturate; the line search keeps the iteration correct).
const MIN_CURVATURE: f64 = 1e-10;

/// The penalized problem on the centered design. Per-row, per-output arrays (`eta`, `g`, `h`,
/// `deta`) are output-major: index `k · n + i`.
struct Problem<'a> {
    n: usize,
    p: usize,
    /// Number of outputs solved for (present classes for the multinomial).
    kk: usize,
    /// Centered design, column-major `p × n`.
    x: &'a [f64],
    /// The intercept's column.
    ones: Vec<f64>,
    /// Normalized weights (sum 1).
    v: &'a [f64],
    active: &'a [bool],
    /// Σ v x² per (centered) column.
    variance: &'a [f64],
    family: Family,
    /// Gaussian: value; binomial: 0/1.
    y: &'a [f64],
    /// Multinomial: class position in 0..kk.
    class_of: &'a [u32],
    /// Columns of categorical features whose one-hot columns cover every row.
    groups: Vec<Vec<usize>>,
    l1: f64,
    l2: f64,
}

struct Solution {
    /// `kk × p`
    beta: Vec<f64>,
    intercept: Vec<f64>,
    n_iter: usize,
    converged: bool,
    /// The deadline passed before convergence.
    interrupted: bool,
}

impl Problem<'_> {
    /// Column `j` of the design; `j == p` is the intercept's column of ones.
    fn col(&self, j: usize) -> &[f64] {
        if j == self.p {
            &self.ones
        } else {
            &self.x[j * self.n..(j + 1) * self.n]
        }
    }

    fn penalty(&self, beta: &[f64]) -> f64 {
        beta.iter()
            .map(|&b| self.l1 * b.abs() + 0.5 * self.l2 * b * b)
            .sum()
    }

    /// Weighted mean loss at linear predictors `eta + t · deta`.
    fn loss(&self, eta: &[f64], deta: &[f64], t: f64) -> f64 {
        let (n, kk) = (self.n, self.kk);
        let e = |k: usize, i: usize| eta[k * n + i] + t * deta[k * n + i];
        let mut total = 0.0;
        for i in 0..n {
            let l = match self.family {
                Family::Gaussian => {
                    let r = self.y[i] - e(0, i);
                    0.5 * r * r
                }
                Family::Binomial => softplus(e(0, i)) - self.y[i] * e(0, i),
                Family::Multinomial => {
                    let max = (0..kk).map(|k| e(k, i)).fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = (0..kk).map(|k| (e(k, i) - max).exp()).sum();
                    max + sum.ln() - e(self.class_of[i] as usize, i)
                }
            };
            total += self.v[i] * l;
        }
        total
    }

    /// Gradient of the loss per output and row (`g`) and the curvature information `h`:
    /// unused (Gaussian), p(1 − p) (binomial) or the class probabilities (multinomial).
    fn derivatives(&self, eta: &[f64], g: &mut [f64], h: &mut [f64]) {
        let (n, kk) = (self.n, self.kk);
        match self.family {
            Family::Gaussian => {
                for i in 0..n {
                    g[i] = eta[i] - self.y[i];
                }
            }
            Family::Binomial => {
                for i in 0..n {
                    let p = sigmoid(eta[i]);
                    g[i] = p - self.y[i];
                    h[i] = p * (1.0 - p);
                }
            }
            Family::Multinomial => {
                for i in 0..n {
                    let max = (0..kk)
                        .map(|k| eta[k * n + i])
                        .fold(f64::NEG_INFINITY, f64::max);
                    let mut sum = 0.0;
                    for k in 0..kk {
                        let q = (eta[k * n + i] - max).exp();
                        h[k * n + i] = q;
                        sum += q;
                    }
                    let y = self.class_of[i] as usize;
                    for k in 0..kk {
                        let q = h[k * n + i] / sum;
                        h[k * n + i] = q;
                        g[k * n + i] = q - if k == y { 1.0 } else { 0.0 };
                    }
                }
            }
        }
    }

    fn initial_intercepts(&self) -> Vec<f64> {
        match self.family {
            Family::Gaussian => vec![self.y.iter().zip(self.v).map(|(y, v)| y * v).sum()],
            Family::Binomial => {
                let m: f64 = self.y.iter().zip(self.v).map(|(y, v)| y * v).sum();
                vec![(m / (1.0 - m)).ln()]
            }
            Family::Multinomial => {
                let mut prior = vec![0.0; self.kk];
                for (&c, &v) in self.class_of.iter().zip(self.v) {
                    prior[c as usize] += v;
                }
                prior.iter().map(|p| p.ln()).collect()
            }
        }
    }

    /// Gaussian and binomial: diagonal curvature of the quadratic model per coordinate (column
    /// `j`, the intercept last at `j == p`).
    fn curvatures(&self, h: &[f64], curv: &mut [f64], row_weight: &mut [f64]) {
        let p = self.p;
        if self.family == Family::Gaussian {
            for ((c, &active), &var) in curv.iter_mut().zip(self.active).zip(self.variance) {
                *c = if active { var } else { 0.0 };
            }
            curv[p] = 1.0;
            return;
        }
        for ((rw, v), q) in row_weight.iter_mut().zip(self.v).zip(h) {
            *rw = v * q.max(MIN_CURVATURE);
        }
        for (j, c) in curv[..=p].iter_mut().enumerate() {
            *c = if j < p && !self.active[j] {
                0.0
            } else {
                let col = self.col(j);
                row_weight.iter().zip(col).map(|(w, x)| w * x * x).sum()
            };
        }
    }

    /// Minimizes the quadratic model along coordinate (output `k`, column `j`; `j == p` is the
    /// intercept) from its current value and returns the change.
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        k: usize,
        j: usize,
        current: f64,
        hc: f64,
        g: &[f64],
        h: &[f64],
        deta: &mut [f64],
    ) -> f64 {
        let n = self.n;
        let x = self.col(j);
        let v = self.v;
        let gk = &g[k * n..(k + 1) * n];
        let dk = &mut deta[k * n..(k + 1) * n];
        // Gradient of the quadratic model at the pending step.
        let grad: f64 = match self.family {
            Family::Gaussian => (0..n).map(|i| v[i] * x[i] * (gk[i] + dk[i])).sum(),
            Family::Binomial => {
                let hk = &h[..n];
                (0..n).map(|i| v[i] * x[i] * (gk[i] + hk[i] * dk[i])).sum()
            }
            Family::Multinomial => unreachable!("the multinomial uses update_block"),
        };
        let next = if j == self.p {
            if hc <= 1e-300 {
                return 0.0;
            }
            current - grad / hc
        } else {
            let denom = hc + self.l2;
            if denom <= 1e-300 {
                return 0.0;
            }
            soft_threshold(hc * current - grad, self.l1) / denom
        };
        let d = next - current;
        if d != 0.0 {
            for (e, xi) in dk.iter_mut().zip(x) {
                *e += d * xi;
            }
        }
        d
    }

    /// Moves along the directions where neither the loss nor its quadratic model change, only
    /// the penalty: adding the same amount to the coefficients of all levels of a categorical
    /// feature whose one-hot columns cover every training row (their centered columns sum to
    /// 0). Coordinate descent alone crawls along these when the penalty is weak; this jumps to
    /// the exact optimum on each (the mean for ridge). The linear predictors do not change, so
    /// `deta` needs no update. (The multinomial's other such direction, the same amount added
    /// to a column's coefficient in every class, is handled inside `update_block`.)
    fn recentre(&self, beta: &[f64], delta: &mut [f64], buf: &mut Vec<f64>) {
        let (p, kk) = (self.p, self.kk);
        for group in &self.groups {
            for k in 0..kk {
                buf.clear();
                buf.extend(
                    group
                        .iter()
                        .map(|&j| beta[k * p + j] + delta[k * (p + 1) + j]),
                );
                let c = best_shift(buf, self.l1, self.l2);
                if c != 0.0 {
                    for &j in group {
                        delta[k * (p + 1) + j] -= c;
                    }
                }
            }
        }
    }

    /// Multinomial: the `kk × kk` block of the loss Hessian for each column (intercept last),
    /// `A_j = Σ_i v_i x_ij² (diag(p_i) − p_i p_iᵀ)`.
    fn hessian_blocks(&self, h: &[f64], blocks: &mut [f64], row_weight: &mut [f64]) {
        let (n, p, kk) = (self.n, self.p, self.kk);
        for j in 0..=p {
            let a = &mut blocks[j * kk * kk..(j + 1) * kk * kk];
            if j < p && !self.active[j] {
                a.fill(0.0);
                continue;
            }
            let x = self.col(j);
            for ((rw, v), xi) in row_weight.iter_mut().zip(self.v).zip(x) {
                *rw = v * xi * xi;
            }
            for k in 0..kk {
                let pk = &h[k * n..(k + 1) * n];
                let diag: f64 = row_weight.iter().zip(pk).map(|(w, q)| w * q).sum();
                for l in k..kk {
                    let pl = &h[l * n..(l + 1) * n];
                    let off: f64 = row_weight
                        .iter()
                        .zip(pk)
                        .zip(pl)
                        .map(|((w, a), b)| w * a * b)
                        .sum();
                    a[k * kk + l] = -off;
                    a[l * kk + k] = -off;
                }
                a[k * kk + k] += diag;
            }
        }
    }

    /// Multinomial: minimizes the quadratic model over column `j`'s coefficients in all
    /// classes at once (`j == p`: the intercepts), using the exact `kk × kk` Hessian block, so
    /// the strong coupling between classes costs no extra passes. Returns the move in RMS
    /// linear-predictor units.
    #[allow(clippy::too_many_arguments)]
    fn update_block(
        &self,
        j: usize,
        beta: &[f64],
        intercept: &[f64],
        delta: &mut [f64],
        g: &[f64],
        h: &[f64],
        a: &[f64],
        deta: &mut [f64],
        s: &mut [f64],
        work: &mut BlockWork,
        tol: f64,
    ) -> f64 {
        let (n, p, kk) = (self.n, self.p, self.kk);
        let x = self.col(j);
        let v = self.v;
        let s_ro = &s[..n];
        for k in 0..kk {
            let (gk, hk, dk) = (
                &g[k * n..(k + 1) * n],
                &h[k * n..(k + 1) * n],
                &deta[k * n..(k + 1) * n],
            );
            work.r[k] = (0..n)
                .map(|i| v[i] * x[i] * (gk[i] + hk[i] * (dk[i] - s_ro[i])))
                .sum();
            let c = k * (p + 1) + j;
            work.b[k] = if j == p {
                intercept[k]
            } else {
                beta[k * p + j]
            } + delta[c];
        }
        let (l1, l2) = if j == p {
            (0.0, 0.0)
        } else {
            (self.l1, self.l2)
        };
        work.solve(a, l1, l2, tol);
        let u = &work.u;
        // Size of the move in the quadratic model's norm.
        let mut norm2 = 0.0;
        for k in 0..kk {
            let au: f64 = (0..kk).map(|l| a[k * kk + l] * u[l]).sum();
            norm2 += u[k] * au + l2 * u[k] * u[k];
        }
        if u.iter().all(|&d| d == 0.0) {
            return 0.0;
        }
        for k in 0..kk {
            delta[k * (p + 1) + j] += u[k];
            if u[k] != 0.0 {
                for (e, xi) in deta[k * n..(k + 1) * n].iter_mut().zip(x) {
                    *e += u[k] * xi;
                }
            }
        }
        for (k, &uk) in u.iter().enumerate() {
            if uk != 0.0 {
                let hk = &h[k * n..(k + 1) * n];
                for ((si, xi), q) in s.iter_mut().zip(x).zip(hk) {
                    *si += uk * q * xi;
                }
            }
        }
        norm2.max(0.0).sqrt()
    }

    fn solve(&self, max_iter: usize, tol: f64, deadline: Option<std::time::Instant>) -> Solution {
        let (n, p, kk) = (self.n, self.p, self.kk);
        let multinomial = self.family == Family::Multinomial;
        let mut beta = vec![0.0; kk * p];
        let mut intercept = self.initial_intercepts();
        let mut eta = vec![0.0; n * kk];
        for (k, b) in intercept.iter().enumerate() {
            eta[k * n..(k + 1) * n].fill(*b);
        }
        let scale = match self.family {
            Family::Gaussian => {
                let m = intercept[0];
                let var: f64 = self
                    .y
                    .iter()
                    .zip(self.v)
                    .map(|(y, v)| v * (y - m) * (y - m))
                    .sum();
                if var > 0.0 { var.sqrt() } else { 1.0 }
            }
            _ => 1.0,
        };
        let inner_tol = match self.family {
            Family::Gaussian => tol * scale,
            _ => 0.1 * tol,
        };
        let recentre = !self.groups.is_empty() && self.l1 + self.l2 > 0.0;
        let mut g = vec![0.0; n * kk];
        let mut h = vec![
            0.0;
            if self.family == Family::Gaussian {
                0
            } else {
                n * kk
            }
        ];
        let mut deta = vec![0.0; n * kk];
        let mut s = vec![0.0; if multinomial { n } else { 0 }];
        let mut row_weight = vec![0.0; n];
        let mut shift_buf = Vec::new();
        let mut curv = vec![0.0; kk * (p + 1)];
        let mut delta = vec![0.0; kk * (p + 1)];
        let mut trial = vec![0.0; kk * p];
        let mut blocks = vec![0.0; if multinomial { (p + 1) * kk * kk } else { 0 }];
        let mut block_work = BlockWork::new(if multinomial { kk } else { 0 });
        let mut sweeps = 0;
        let mut converged = false;
        let mut interrupted = false;
        while sweeps < max_iter && !interrupted {
            self.derivatives(&eta, &mut g, &mut h);
            if multinomial {
                self.hessian_blocks(&h, &mut blocks, &mut row_weight);
                for j in 0..=p {
                    for k in 0..kk {
                        curv[k * (p + 1) + j] = blocks[j * kk * kk + k * kk + k];
                    }
                }
            } else {
                self.curvatures(&h, &mut curv, &mut row_weight);
            }
            delta.fill(0.0);
            deta.fill(0.0);
            s.fill(0.0);

            // Coordinate descent on the penalized quadratic model.
            let mut inner_converged = false;
            let first_sweep = sweeps + 1;
            let mut first_largest = 0.0;
            while sweeps < max_iter {
                sweeps += 1;
                if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                    interrupted = true;
                    break;
                }
                let mut largest = 0.0f64;
                if multinomial {
                    for j in (0..=p).rev() {
                        if j < p && !self.active[j] {
                            continue;
                        }
                        let moved = self.update_block(
                            j,
                            &beta,
                            &intercept,
                            &mut delta,
                            &g,
                            &h,
                            &blocks[j * kk * kk..(j + 1) * kk * kk],
                            &mut deta,
                            &mut s,
                            &mut block_work,
                            0.01 * inner_tol,
                        );
                        largest = largest.max(moved);
                    }
                }
                for k in 0..if multinomial { 0 } else { kk } {
                    for j in (0..=p).rev() {
                        if j < p && !self.active[j] {
                            continue;
                        }
                        let c = k * (p + 1) + j;
                        let current = if j == p {
                            intercept[k]
                        } else {
                            beta[k * p + j]
                        } + delta[c];
                        let d = self.update(k, j, current, curv[c], &g, &h, &mut deta);
                        if d != 0.0 {
                            delta[c] += d;
                            let hc = curv[c] + if j < p { self.l2 } else { 0.0 };
                            largest = largest.max(d.abs() * hc.sqrt());
                        }
                    }
                }
                if recentre {
                    self.recentre(&beta, &mut delta, &mut shift_buf);
                }
                // Newton steps far from the optimum need not be solved exactly (inexact
                // proximal Newton): two digits beyond the first pass suffice there, full
                // accuracy near the optimum.
                if sweeps == first_sweep {
                    first_largest = largest;
                }
                let target = match self.family {
                    Family::Gaussian => inner_tol,
                    _ => inner_tol.max(0.01 * first_largest),
                };
                if largest <= target {
                    inner_converged = largest <= inner_tol.max(tol);
                    break;
                }
            }

            // Largest coordinate move of the full step, in RMS linear-predictor units.
            let step_size = (0..kk * (p + 1))
                .map(|c| {
                    let penalized = c % (p + 1) != p;
                    delta[c].abs() * (curv[c] + if penalized { self.l2 } else { 0.0 }).sqrt()
                })
                .fold(0.0, f64::max);

            let t = if self.family == Family::Gaussian {
                1.0
            } else {
                // Backtracking line search on the true objective.
                let f0 = self.loss(&eta, &deta, 0.0) + self.penalty(&beta);
                for k in 0..kk {
                    for j in 0..p {
                        trial[k * p + j] = beta[k * p + j] + delta[k * (p + 1) + j];
                    }
                }
                // Directional derivative of the loss plus the change of the penalty.
                let descent = (0..kk)
                    .map(|k| {
                        let r = k * n..(k + 1) * n;
                        g[r.clone()]
                            .iter()
                            .zip(&deta[r])
                            .zip(self.v)
                            .map(|((g, d), v)| v * g * d)
                            .sum::<f64>()
                    })
                    .sum::<f64>()
                    + self.penalty(&trial)
                    - self.penalty(&beta);
                if descent > -1e-10 * (1.0 + f0.abs()) {
                    // Near the optimum the decrease is too small to measure reliably against
                    // rounding, and the quadratic model is accurate: take the full step.
                    1.0
                } else {
                    let mut t = 1.0;
                    let mut accepted = false;
                    for _ in 0..60 {
                        for k in 0..kk {
                            for j in 0..p {
                                trial[k * p + j] = beta[k * p + j] + t * delta[k * (p + 1) + j];
                            }
                        }
                        let f = self.loss(&eta, &deta, t) + self.penalty(&trial);
                        if f <= f0 + 1e-4 * t * descent {
                            accepted = true;
                            break;
                        }
                        t *= 0.5;
                    }
                    if !accepted {
                        break;
                    }
                    t
                }
            };

            for k in 0..kk {
                for j in 0..p {
                    beta[k * p + j] += t * delta[k * (p + 1) + j];
                }
                intercept[k] += t * delta[k * (p + 1) + p];
            }
            for (e, d) in eta.iter_mut().zip(&deta) {
                *e += t * d;
            }
            if self.family == Family::Gaussian {
                converged = inner_converged;
                break;
            }
            if inner_converged && t * step_size <= tol {
                converged = true;
                break;
            }
        }
        if multinomial {
            // The intercepts are only determined up to a common shift: centre them.
            let m = intercept.iter().sum::<f64>() / kk as f64;
            for b in &mut intercept {
                *b -= m;
            }
        }
        Solution {
            beta,
            intercept,
            n_iter: sweeps,
            converged,
            interrupted,
        }
    }
}

/// Scratch space and solver for the multinomial's per-column `kk`-dimensional subproblem:
/// minimize `rᵀu + ½ uᵀA u + Σ_k l1·|b_k + u_k| + l2/2·(b_k + u_k)²` over `u`, where `A` is
/// positive semidefinite with `A·1 = 0` and `Σ r = 0` (shifting all classes equally changes
/// nothing but the penalty).
struct BlockWork {
    r: Vec<f64>,
    b: Vec<f64>,
    u: Vec<f64>,
    au: Vec<f64>,
    m: Vec<f64>,
    shifted: Vec<f64>,
}

impl BlockWork {
    fn new(kk: usize) -> BlockWork {
        BlockWork {
            r: vec![0.0; kk],
            b: vec![0.0; kk],
            u: vec![0.0; kk],
            au: vec![0.0; kk],
            m: vec![0.0; kk * kk],
            shifted: vec![0.0; kk],
        }
    }

    fn solve(&mut self, a: &[f64], l1: f64, l2: f64, tol: f64) {
        let kk = self.r.len();
        if l1 == 0.0 {
            // Linear system (A + l2·I) u = −(r + l2·b). Without a penalty A is singular along
            // 1, and r ⊥ 1: adding μ·11ᵀ picks the solution with Σu = 0.
            let scale = (0..kk).map(|k| a[k * kk + k]).fold(0.0, f64::max);
            let mu = if l2 > 0.0 { 0.0 } else { scale / kk as f64 };
            for k in 0..kk {
                for l in 0..kk {
                    self.m[k * kk + l] = a[k * kk + l] + mu;
                }
                self.m[k * kk + k] += l2 + 1e-12 * scale;
                self.u[k] = -(self.r[k] + l2 * self.b[k]);
            }
            if cholesky_solve(&mut self.m, &mut self.u) {
                return;
            }
        }
        // Coordinate descent on the small problem, with the exact best class shift after each
        // pass (the one direction coordinate descent cannot resolve quickly).
        self.u.fill(0.0);
        self.au.fill(0.0);
        for _ in 0..1000 {
            let mut largest = 0.0f64;
            for k in 0..kk {
                let hk = a[k * kk + k];
                let denom = hk + l2;
                if denom <= 1e-300 {
                    continue;
                }
                let grad = self.r[k] + self.au[k];
                let current = self.b[k] + self.u[k];
                let next = soft_threshold(hk * current - grad, l1) / denom;
                let d = next - current;
                if d != 0.0 {
                    self.u[k] += d;
                    for l in 0..kk {
                        self.au[l] += a[l * kk + k] * d;
                    }
                    largest = largest.max(d.abs() * denom.sqrt());
                }
            }
            if l1 + l2 > 0.0 {
                for k in 0..kk {
                    self.shifted[k] = self.b[k] + self.u[k];
                }
                let c = best_shift(&self.shifted, l1, l2);
                if c != 0.0 {
                    for u in &mut self.u {
                        *u -= c;
                    }
                }
            }
            if largest <= tol {
                break;
            }
        }
    }
}

/// Solves `m · x = rhs` in place for a symmetric positive definite `m` (row-major); false if
/// `m` is not numerically positive definite.
fn cholesky_solve(m: &mut [f64], rhs: &mut [f64]) -> bool {
    let n = rhs.len();
    for j in 0..n {
        let mut d = m[j * n + j];
        for k in 0..j {
            d -= m[j * n + k] * m[j * n + k];
        }
        if d.is_nan() || d <= 0.0 {
            return false;
        }
        let d = d.sqrt();
        m[j * n + j] = d;
        for i in j + 1..n {
            let mut v = m[i * n + j];
            for k in 0..j {
                v -= m[i * n + k] * m[j * n + k];
            }
            m[i * n + j] = v / d;
        }
    }
    for i in 0..n {
        let mut v = rhs[i];
        for k in 0..i {
            v -= m[i * n + k] * rhs[k];
        }
        rhs[i] = v / m[i * n + i];
    }
    for i in (0..n).rev() {
        let mut v = rhs[i];
        for k in i + 1..n {
            v -= m[k * n + i] * rhs[k];
        }
        rhs[i] = v / m[i * n + i];
    }
    true
}

/// The `c` minimizing `Σ_k l1·|b_k − c| + l2/2·(b_k − c)²` (0 when 0 is optimal).
fn best_shift(b: &[f64], l1: f64, l2: f64) -> f64 {
    let k = b.len() as f64;
    if l1 == 0.0 {
        return if l2 > 0.0 {
            b.iter().sum::<f64>() / k
        } else {
            0.0
        };
    }
    // Right and left derivatives; the objective is convex.
    let right = |c: f64| -> f64 {
        b.iter()
            .map(|&bk| l1 * if c >= bk { 1.0 } else { -1.0 } + l2 * (c - bk))
            .sum()
    };
    let left = |c: f64| -> f64 {
        b.iter()
            .map(|&bk| l1 * if c > bk { 1.0 } else { -1.0 } + l2 * (c - bk))
            .sum()
    };
    if left(0.0) <= 0.0 && right(0.0) >= 0.0 {
        return 0.0;
    }
    let (mut lo, mut hi) = b
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if right(mid) < 0.0 {
            lo = mid;
        } else if left(mid) > 0.0 {
            hi = mid;
        } else {
            return mid;
        }
    }
    0.5 * (lo + hi)
}

#[inline]
fn soft_threshold(z: f64, gamma: f64) -> f64 {
    if z > gamma {
        z - gamma
    } else if z < -gamma {
        z + gamma
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whet_data::prep::Feature;

    // Reference data and scikit-learn 1.9.1 results (computed once with the peers venv; the
    // numeric columns were standardized with numpy's population std, categorical ones one-hot
    // encoded, exactly like `Encoder`).
    //   L: LogisticRegression(C=0.5, tol=1e-12) on [x1, x2, onehot(cat)], n = 24
    //      and LogisticRegression(C=0.5, l1_ratio=0.5, solver="saga", tol=1e-15)
    //   M: LogisticRegression(C=1.0, tol=1e-12) on [z1, z2], 3 classes, n = 30
    //   E: ElasticNet(alpha=0.1, l1_ratio=0.5, tol=1e-14) on [a1, a2, a3], n = 20;
    //      coef = [1.60740548, -1.81631636, 0.0], intercept = 0.25625
    const L_X1: &[f32] = &[
        0.0, 0.5, -0.375, -1.375, -0.625, -1.5, 0.125, 2.0, -0.75, -0.875, 0.75, 0.5, 0.125,
        -1.375, 0.0, 1.0, -2.0, -0.625, -2.875, -1.875, -2.75, -0.375, -1.875, 0.375,
    ];
    const L_X2: &[f32] = &[
        2.125, 1.875, -0.5, 1.5, 2.0, 2.125, 0.5, 1.5, 1.0, 1.25, 3.0, 1.25, 2.0, 2.875, 1.375,
        1.875, 2.125, 2.125, 0.75, 2.125, 3.375, 0.5, 2.875, 2.125,
    ];
    const L_CAT: &[u32] = &[
        1, 2, 2, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1,
    ];
    const L_Y: &[f64] = &[
        0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ];
    const L_P: &[f64] = &[
        0.1991272608,
        0.3601559290,
        0.4758641647,
        0.1881709728,
        0.1875944792,
        0.1613022546,
        0.4022190235,
        0.4159112597,
        0.2274530225,
        0.2124462884,
        0.1832211420,
        0.3704466286,
        0.3115718265,
        0.2173942682,
        0.2326369018,
        0.3801095492,
        0.1500543830,
        0.1826100698,
        0.1793916506,
        0.2597247910,
        0.1003770594,
        0.2637901124,
        0.1288629062,
        0.2095641154,
    ];
    const L_P_EN: &[f64] = &[
        0.2273475275,
        0.2977024430,
        0.3563939054,
        0.2204584038,
        0.2201313666,
        0.2030331829,
        0.3338282339,
        0.3410304855,
        0.2443444353,
        0.2354137629,
        0.2174282338,
        0.3173831611,
        0.2864325315,
        0.2339245037,
        0.2474194334,
        0.3078411967,
        0.1953719463,
        0.2169739356,
        0.2148112227,
        0.2453835454,
        0.1581045236,
        0.2652159398,
        0.1802885684,
        0.2337375113,
    ];
    const M_Z1: &[f32] = &[
        0.75, -0.125, -1.0, -1.5, 0.125, 0.625, -1.0, 0.625, -0.375, 2.0, 1.0, -0.375, -0.25,
        1.375, -0.75, -1.0, -1.25, 0.125, -0.875, 2.25, 0.125, 0.375, -0.75, -0.5, -0.125, -0.25,
        1.75, -0.5, -2.0, -1.125,
    ];
    const M_Z2: &[f32] = &[
        -0.5, -1.5, 0.25, -0.875, 1.0, 1.25, 0.125, 0.375, 0.875, -2.5, -1.625, 0.375, -2.625,
        0.375, -2.25, 0.25, -0.875, 0.25, 0.125, -0.5, 0.75, 1.0, -0.125, -0.25, 0.875, 0.0, 0.625,
        -0.5, 0.0, -0.75,
    ];
    const M_Y: &[f64] = &[
        2.0, 2.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 2.0, 2.0, 0.0, 2.0, 2.0, 2.0, 2.0, 0.0, 2.0,
        0.0, 1.0, 2.0, 2.0, 0.0, 0.0, 1.0, 1.0, 2.0, 0.0, 0.0, 0.0,
    ];
    const M_P: &[f64] = &[
        0.0719934955,
        0.2127822217,
        0.7152242828,
        0.2146842824,
        0.0754913582,
        0.7098243594,
        0.7715016320,
        0.0924552603,
        0.1360431076,
        0.8586057195,
        0.0246646488,
        0.1167296316,
        0.2821670721,
        0.4253707382,
        0.2924621897,
        0.1264747338,
        0.5690572188,
        0.3044680474,
        0.7657669652,
        0.0874816020,
        0.1467514327,
        0.1172348724,
        0.3773863993,
        0.5053787283,
        0.5153409341,
        0.2730484478,
        0.2116106181,
        0.0020549299,
        0.0342293060,
        0.9637157642,
        0.0256633026,
        0.0812181892,
        0.8931185083,
        0.4974133596,
        0.2176525764,
        0.2849340640,
        0.1512428242,
        0.0269441383,
        0.8218130376,
        0.0285991477,
        0.4112394948,
        0.5601613575,
        0.3818373536,
        0.0289501241,
        0.5892125223,
        0.7715016320,
        0.0924552603,
        0.1360431076,
        0.7858637987,
        0.0371791287,
        0.1769570726,
        0.2604707720,
        0.2946946280,
        0.4448346001,
        0.7177509454,
        0.1052275010,
        0.1770215536,
        0.0037726329,
        0.2224903713,
        0.7737369958,
        0.2782274695,
        0.3811640498,
        0.3406084808,
        0.1923278995,
        0.4775010526,
        0.3301710479,
        0.6468829411,
        0.1106030777,
        0.2425139812,
        0.5145997386,
        0.1381360917,
        0.3472641698,
        0.3917410793,
        0.3418337608,
        0.2664251599,
        0.4110527129,
        0.1999655767,
        0.3889817104,
        0.0143285696,
        0.4791815252,
        0.5064899052,
        0.4899589631,
        0.1195220291,
        0.3905190078,
        0.9592518218,
        0.0142002174,
        0.0265479608,
        0.7516884179,
        0.0478740140,
        0.2004375680,
    ];
    const E_A1: &[f32] = &[
        1.625, -0.625, -1.0, 0.375, 1.375, -1.5, -0.25, -0.625, -1.75, 0.75, 0.0, 0.125, -0.75,
        0.5, -0.5, -0.125, -1.125, -1.25, 1.375, -0.5,
    ];
    const E_A2: &[f32] = &[
        1.625, 0.875, 0.125, 0.0, 2.25, 0.375, 0.75, 1.0, 3.375, 2.375, 1.75, -0.125, -1.75, 2.875,
        2.875, 0.75, 2.125, 2.625, 2.625, 2.875,
    ];
    const E_A3: &[f32] = &[
        -0.5, 1.5, -1.25, 0.875, 0.5, 0.875, 1.875, 1.5, -1.125, -1.75, 0.875, -1.0, 0.0, 0.875,
        -1.625, -2.125, 0.25, 0.0, -0.25, 0.0,
    ];
    const E_Y: &[f64] = &[
        3.375, -0.375, 0.75, 3.25, 1.5, -0.25, 1.375, 0.5, -6.0, 0.625, -0.125, 3.0, 4.25, -0.75,
        -2.125, 1.75, -1.375, -4.125, 2.25, -2.375,
    ];
    const E_PRED: &[f64] = &[
        3.1455784353,
        0.3481387825,
        0.7542109458,
        3.2779153654,
        1.8461314210,
        -0.4489837140,
        1.1633035668,
        0.1736763614,
        -5.0632167290,
        0.6038317278,
        0.1947391069,
        3.0252428777,
        3.7982821710,
        -0.5211528653,
        -2.2296925006,
        1.3768710212,
        -2.2507552461,
        -3.1621723849,
        1.3227441577,
        -2.2296925006,
    ];

    fn num(name: &str, v: &[f32]) -> Feature {
        Feature {
            name: name.to_string(),
            data: FeatureData::Numeric(v.to_vec()),
        }
    }

    fn cat(name: &str, codes: &[u32], n_categories: u32) -> Feature {
        Feature {
            name: name.to_string(),
            data: FeatureData::Categorical {
                codes: codes.to_vec(),
                n_categories,
            },
        }
    }

    fn features(columns: Vec<Feature>) -> Features {
        let n_rows = match &columns[0].data {
            FeatureData::Numeric(v) => v.len(),
            FeatureData::Categorical { codes, .. } => codes.len(),
        };
        Features { n_rows, columns }
    }

    fn train<'a>(x: &'a Features, y: &'a [f64], task: Task) -> TrainSet<'a> {
        let n_classes = match task {
            Task::Regression => 1,
            Task::Binary => 2,
            Task::Multiclass => y.iter().fold(0.0f64, |a, &b| a.max(b)) as usize + 1,
        };
        TrainSet {
            x,
            y,
            weight: None,
            rows: None,
            task,
            n_classes,
        }
    }

    fn params(alpha: f64, l1_ratio: f64) -> LinearParams {
        LinearParams {
            alpha,
            l1_ratio,
            max_iter: 100_000,
            tol: 1e-12,
        }
    }

    fn assert_close(got: &[f64], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= tol, "[{i}] got {g}, want {w} (±{tol})");
        }
    }

    /// Solves `a · x = b` (small, dense, well-conditioned) by Gaussian elimination.
    fn solve_dense(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
        let n = b.len();
        for c in 0..n {
            let piv = (c..n)
                .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
                .unwrap();
            a.swap(c, piv);
            b.swap(c, piv);
            let pivot_row = a[c].clone();
            for r in c + 1..n {
                let f = a[r][c] / pivot_row[c];
                for (ark, ack) in a[r][c..].iter_mut().zip(&pivot_row[c..]) {
                    *ark -= f * ack;
                }
                b[r] -= f * b[c];
            }
        }
        let mut x = vec![0.0; n];
        for c in (0..n).rev() {
            let s: f64 = (c + 1..n).map(|k| a[c][k] * x[k]).sum();
            x[c] = (b[c] - s) / a[c][c];
        }
        x
    }

    fn ols_data() -> (Features, Vec<f64>) {
        let x1: Vec<f32> = (0..12).map(|i| (i as f32) * 0.5 - 2.0).collect();
        let x2: Vec<f32> = (0..12).map(|i| ((i * 7) % 5) as f32).collect();
        let x3: Vec<f32> = (0..12).map(|i| ((i * i) % 7) as f32 - 3.0).collect();
        let y = (0..12)
            .map(|i| 1.0 + 2.0 * f64::from(x1[i]) - 3.0 * f64::from(x2[i]) + 0.5 * f64::from(x3[i]))
            .collect();
        (
            features(vec![num("x1", &x1), num("x2", &x2), num("x3", &x3)]),
            y,
        )
    }

    #[test]
    fn ols_recovers_exact_coefficients() {
        let (x, y) = ols_data();
        let m = fit_linear(&train(&x, &y, Task::Regression), &params(0.0, 0.0)).unwrap();
        assert!(m.converged());
        // Predictions at the origin and unit vectors give the un-standardized coefficients.
        let probe = features(vec![
            num("x1", &[0.0, 1.0, 0.0, 0.0, 3.0]),
            num("x2", &[0.0, 0.0, 1.0, 0.0, -2.0]),
            num("x3", &[0.0, 0.0, 0.0, 1.0, 0.5]),
        ]);
        let p = m.predict(&probe).values;
        assert_close(
            &[p[0], p[1] - p[0], p[2] - p[0], p[3] - p[0], p[4]],
            &[1.0, 2.0, -3.0, 0.5, 1.0 + 6.0 + 6.0 + 0.25],
            1e-6,
        );
        // On the encoded scale a coefficient is the effect of one standard deviation.
        let sd1 = {
            let v: Vec<f64> = (0..12).map(|i| f64::from(i as f32 * 0.5 - 2.0)).collect();
            let m = v.iter().sum::<f64>() / 12.0;
            (v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / 12.0).sqrt()
        };
        let coefs = m.coefficients();
        assert_eq!(coefs[0].0, "x1");
        assert!((coefs[0].1 / sd1 - 2.0).abs() < 1e-6, "{coefs:?}");
    }

    #[test]
    fn ridge_matches_closed_form() {
        let (mut x, mut y) = ols_data();
        // Plus a categorical feature whose one-hot columns cover every row (collinear with
        // the intercept: only the penalty decides between equivalent coefficients).
        let codes: Vec<u32> = (0..12).map(|i| (i % 3) as u32).collect();
        x.columns.push(cat("c", &codes, 4));
        for (i, v) in y.iter_mut().enumerate() {
            *v += [0.3, -0.2, 0.1, 0.0, -0.4, 0.25][i % 6] + [1.0, 0.0, -0.5][i % 3];
        }
        let n = 12.0;
        // Encoded columns, centered: standardized numerics, then one-hot c__0, c__1, c__2.
        let mut cols: Vec<Vec<f64>> = x.columns[..3]
            .iter()
            .map(|c| match &c.data {
                FeatureData::Numeric(v) => {
                    let v: Vec<f64> = v.iter().map(|&a| f64::from(a)).collect();
                    let m = v.iter().sum::<f64>() / n;
                    let sd = (v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / n).sqrt();
                    v.iter().map(|a| (a - m) / sd).collect()
                }
                _ => unreachable!(),
            })
            .collect();
        for level in 0..3 {
            cols.push(
                codes
                    .iter()
                    .map(|&c| {
                        if c == level {
                            1.0 - 1.0 / 3.0
                        } else {
                            -1.0 / 3.0
                        }
                    })
                    .collect(),
            );
        }
        let ybar = y.iter().sum::<f64>() / n;
        for alpha in [0.7, 1e-3] {
            let m = fit_linear(&train(&x, &y, Task::Regression), &params(alpha, 0.0)).unwrap();
            assert!(m.converged());
            // (Xᵀ X / n + α I) β = Xᵀ (y − ȳ) / n on the centered encoded design.
            let a: Vec<Vec<f64>> = (0..6)
                .map(|j| {
                    (0..6)
                        .map(|k| {
                            let dot: f64 = cols[j].iter().zip(&cols[k]).map(|(a, b)| a * b).sum();
                            dot / n + if j == k { alpha } else { 0.0 }
                        })
                        .collect()
                })
                .collect();
            let b: Vec<f64> = (0..6)
                .map(|j| {
                    cols[j]
                        .iter()
                        .zip(&y)
                        .map(|(a, y)| a * (y - ybar))
                        .sum::<f64>()
                        / n
                })
                .collect();
            let beta = solve_dense(a, b);
            let got: Vec<f64> = m.coefficients().iter().map(|c| c.1).collect();
            assert_eq!(m.encoder.names()[3..], ["c__0", "c__1", "c__2"]);
            assert_close(&got, &beta, 1e-9);
            let want: Vec<f64> = (0..12)
                .map(|i| ybar + (0..6).map(|j| beta[j] * cols[j][i]).sum::<f64>())
                .collect();
            assert_close(&m.predict(&x).values, &want, 1e-9);
        }
    }

    #[test]
    fn elastic_net_matches_sklearn() {
        let x = features(vec![num("a1", E_A1), num("a2", E_A2), num("a3", E_A3)]);
        let m = fit_linear(&train(&x, E_Y, Task::Regression), &params(0.1, 0.5)).unwrap();
        assert!(m.converged());
        assert_close(&m.predict(&x).values, E_PRED, 1e-8);
        assert_eq!(m.coefficients()[2].1, 0.0);
        assert_close(&[m.coefficients()[0].1], &[1.60740548], 1e-7);
    }

    #[test]
    fn lasso_zeroes_an_irrelevant_feature() {
        let n = 60;
        let x1: Vec<f32> = (0..n).map(|i| ((i * 13) % 17) as f32 / 4.0).collect();
        let x2: Vec<f32> = (0..n).map(|i| ((i * 5) % 11) as f32).collect();
        let noise: Vec<f32> = (0..n).map(|i| ((i * 7 + 3) % 9) as f32 - 4.0).collect();
        let y: Vec<f64> = (0..n)
            .map(|i| 3.0 * f64::from(x1[i]) - f64::from(x2[i]) + 0.1 * ((i % 3) as f64 - 1.0))
            .collect();
        let x = features(vec![num("x1", &x1), num("x2", &x2), num("noise", &noise)]);
        let m = fit_linear(
            &train(&x, &y, Task::Regression),
            &LinearParams {
                alpha: 0.2,
                l1_ratio: 1.0,
                ..Default::default()
            },
        )
        .unwrap();
        let c = m.coefficients();
        assert_eq!(c[2], ("noise".to_string(), 0.0));
        assert!(c[0].1 > 1.0 && c[1].1 < -1.0, "{c:?}");
        // Ridge keeps it (small but non-zero).
        let r = fit_linear(&train(&x, &y, Task::Regression), &params(0.2, 0.0)).unwrap();
        assert!(r.coefficients()[2].1 != 0.0);
    }

    fn logistic_data() -> Features {
        features(vec![num("x1", L_X1), num("x2", L_X2), cat("c", L_CAT, 4)])
    }

    #[test]
    fn logistic_matches_sklearn() {
        let x = logistic_data();
        let alpha = 1.0 / (0.5 * 24.0); // C = 0.5, n = 24
        let m = fit_linear(&train(&x, L_Y, Task::Binary), &params(alpha, 0.0)).unwrap();
        assert!(m.converged());
        let names: Vec<String> = m.coefficients().into_iter().map(|c| c.0).collect();
        assert_eq!(names, ["x1", "x2", "c__1", "c__0", "c__2"]);
        assert_close(&m.predict(&x).values, L_P, 1e-7);
        // Default tolerance is tight too.
        let d = fit_linear(
            &train(&x, L_Y, Task::Binary),
            &LinearParams {
                alpha,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(d.converged());
        assert_close(&d.predict(&x).values, L_P, 1e-6);
    }

    /// Checks the optimality conditions of the penalized binary logistic objective.
    fn assert_kkt(m: &LinearModel, x: &Features, y: &[f64], alpha: f64, l1_ratio: f64) {
        let n = y.len();
        let w = m.encoder.width();
        let p = m.predict(x).values;
        let mut grad = vec![0.0; w + 1];
        let mut row = vec![0.0; w];
        for i in 0..n {
            m.encoder.encode_row(x, i, &mut row);
            let r = (p[i] - y[i]) / n as f64;
            for j in 0..w {
                grad[j] += r * row[j];
            }
            grad[w] += r;
        }
        assert!(grad[w].abs() < 1e-8, "intercept gradient {}", grad[w]);
        let (l1, l2) = (alpha * l1_ratio, alpha * (1.0 - l1_ratio));
        for (j, (&b, gj)) in m.coef.iter().zip(&grad).enumerate() {
            let g = gj + l2 * b;
            if b == 0.0 {
                assert!(g.abs() <= l1 + 1e-8, "coordinate {j}: |{g}| > {l1}");
            } else {
                assert!((g + l1 * b.signum()).abs() < 1e-8, "coordinate {j}: {g}");
            }
        }
    }

    #[test]
    fn elastic_net_logistic_is_optimal_and_matches_sklearn_saga() {
        let x = logistic_data();
        let alpha = 1.0 / (0.5 * 24.0);
        let m = fit_linear(&train(&x, L_Y, Task::Binary), &params(alpha, 0.5)).unwrap();
        assert!(m.converged());
        assert_kkt(&m, &x, L_Y, alpha, 0.5);
        let zeros = m.coefficients().iter().filter(|c| c.1 == 0.0).count();
        assert_eq!(zeros, 2, "{:?}", m.coefficients());
        assert_close(&m.predict(&x).values, L_P_EN, 1e-8);
        let ridge = fit_linear(&train(&x, L_Y, Task::Binary), &params(alpha, 0.0)).unwrap();
        assert_kkt(&ridge, &x, L_Y, alpha, 0.0);
    }

    #[test]
    fn multinomial_matches_sklearn_and_sums_to_one() {
        let x = features(vec![num("z1", M_Z1), num("z2", M_Z2)]);
        let m = fit_linear(&train(&x, M_Y, Task::Multiclass), &params(1.0 / 30.0, 0.0)).unwrap();
        assert!(m.converged());
        let p = m.predict(&x);
        assert_eq!((p.n_rows, p.n_outputs), (30, 3));
        assert_close(&p.values, M_P, 1e-7);
        for i in 0..30 {
            assert!((p.row(i).iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        // With an L1 part the probabilities still sum to one.
        let l1 = fit_linear(&train(&x, M_Y, Task::Multiclass), &params(0.05, 0.7)).unwrap();
        let p = l1.predict(&x);
        for i in 0..30 {
            assert!((p.row(i).iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn multinomial_elastic_net_is_optimal() {
        let codes: Vec<u32> = (0..30).map(|i| (i % 4) as u32).collect();
        let x = features(vec![num("z1", M_Z1), num("z2", M_Z2), cat("c", &codes, 5)]);
        for (alpha, l1_ratio) in [(0.02, 0.5), (0.05, 1.0), (1e-3, 0.0)] {
            let m =
                fit_linear(&train(&x, M_Y, Task::Multiclass), &params(alpha, l1_ratio)).unwrap();
            assert!(m.converged());
            let w = m.encoder.width();
            let p = m.predict(&x);
            let (l1, l2) = (alpha * l1_ratio, alpha * (1.0 - l1_ratio));
            let mut row = vec![0.0; w];
            for k in 0..3 {
                let mut grad = vec![0.0; w + 1];
                for (i, &y) in M_Y.iter().enumerate() {
                    m.encoder.encode_row(&x, i, &mut row);
                    let r = (p.row(i)[k] - f64::from(u8::from(y == k as f64))) / 30.0;
                    for (gj, xj) in grad.iter_mut().zip(&row) {
                        *gj += r * xj;
                    }
                    grad[w] += r;
                }
                assert!(
                    grad[w].abs() < 1e-8,
                    "class {k}: intercept gradient {}",
                    grad[w]
                );
                let coef = &m.coef[k * w..(k + 1) * w];
                for (j, (&b, gj)) in coef.iter().zip(&grad).enumerate() {
                    let g = gj + l2 * b;
                    if b == 0.0 {
                        assert!(g.abs() <= l1 + 1e-8, "({k}, {j}): |{g}| > {l1}");
                    } else {
                        assert!((g + l1 * b.signum()).abs() < 1e-8, "({k}, {j}): {g}");
                    }
                }
            }
            if l1_ratio == 1.0 {
                assert!(m.coef.contains(&0.0), "{:?}", m.coef);
            }
        }
    }

    #[test]
    fn separable_data_without_penalty_stays_finite() {
        let x = features(vec![num("x", &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])]);
        let y = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let m = fit_linear(
            &train(&x, &y, Task::Binary),
            &LinearParams {
                alpha: 0.0,
                max_iter: 200,
                ..Default::default()
            },
        )
        .unwrap();
        let p = m.predict(&x).values;
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)), "{p:?}");
        assert_eq!(m.predict(&x).classes(), [0, 0, 0, 1, 1, 1]);
        assert!(m.n_iter() <= 200);
    }

    #[test]
    fn two_class_multinomial_equals_binary_with_half_the_ridge() {
        // With β₀ = −β₁ = β/2 at the optimum, α/2·(|β₀|² + |β₁|²) = (α/2)/2·|β|².
        let x = logistic_data();
        let alpha = 0.05;
        let mut multi = train(&x, L_Y, Task::Multiclass);
        multi.n_classes = 2;
        let m = fit_linear(&multi, &params(alpha, 0.0)).unwrap();
        let b = fit_linear(&train(&x, L_Y, Task::Binary), &params(alpha / 2.0, 0.0)).unwrap();
        let pm = m.predict(&x);
        let pb = b.predict(&x);
        let class1: Vec<f64> = (0..24).map(|i| pm.row(i)[1]).collect();
        assert_close(&class1, &pb.values, 1e-9);
    }

    #[test]
    fn multiclass_with_a_class_absent_from_training() {
        let x = features(vec![num("z1", M_Z1), num("z2", M_Z2)]);
        // Classes 0 and 2 relabelled to 0 and 3 with n_classes = 4: classes 1.. are absent.
        let y: Vec<f64> = M_Y
            .iter()
            .map(|&c| if c == 2.0 { 3.0 } else { c })
            .collect();
        let mut set = train(&x, &y, Task::Multiclass);
        set.n_classes = 5;
        let m = fit_linear(&set, &params(1.0 / 30.0, 0.0)).unwrap();
        let p = m.predict(&x);
        assert_eq!(p.n_outputs, 5);
        for i in 0..30 {
            let r = p.row(i);
            assert_eq!((r[2], r[4]), (0.0, 0.0));
            assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        assert_close(&p.values[..1], &[M_P[0]], 1e-7);
    }

    #[test]
    fn logistic_separates_separable_ish_data() {
        let n = 200;
        let x1: Vec<f32> = (0..n)
            .map(|i| ((i * 37) % 101) as f32 / 10.0 - 5.0)
            .collect();
        let x2: Vec<f32> = (0..n)
            .map(|i| ((i * 53) % 97) as f32 / 10.0 - 4.8)
            .collect();
        let y: Vec<f64> = (0..n)
            .map(|i| {
                let flip = i % 23 == 0;
                let pos = x1[i] + 0.5 * x2[i] > 0.3;
                f64::from(u8::from(pos != flip))
            })
            .collect();
        let x = features(vec![num("x1", &x1), num("x2", &x2)]);
        let m = fit_linear(&train(&x, &y, Task::Binary), &LinearParams::default()).unwrap();
        assert!(m.converged(), "{} passes", m.n_iter());
        let p = m.predict(&x);
        let acc = p
            .classes()
            .iter()
            .zip(&y)
            .filter(|(c, y)| **c as f64 == **y)
            .count() as f64
            / n as f64;
        // scikit-learn LogisticRegression(C = 1 / (1e-4 · 200)) gets the same accuracy (9
        // flipped labels pull the boundary) and these coefficients.
        assert!((acc - 0.935).abs() < 1e-9, "accuracy {acc}");
        let c: Vec<f64> = m.coefficients().iter().map(|c| c.1).collect();
        assert_close(&c, &[3.40799288, 1.75322971], 1e-5);
    }

    #[test]
    fn missing_values_and_unseen_categories() {
        let n = 40;
        let x1: Vec<f32> = (0..n)
            .map(|i| {
                if i % 7 == 2 {
                    f32::NAN
                } else {
                    (i % 10) as f32
                }
            })
            .collect();
        let codes: Vec<u32> = (0..n)
            .map(|i| {
                if i % 8 == 4 {
                    MISSING_CODE
                } else {
                    (i % 3) as u32
                }
            })
            .collect();
        let y: Vec<f64> = (0..n)
            .map(|i| f64::from(u8::from((i % 10) + (i % 3) * 2 > 5)))
            .collect();
        let x = features(vec![num("x1", &x1), cat("c", &codes, 5)]);
        let m = fit_linear(&train(&x, &y, Task::Binary), &params(0.01, 0.0)).unwrap();
        let names: Vec<String> = m.coefficients().into_iter().map(|c| c.0).collect();
        // Levels by training frequency: codes 0 and 2 (12 rows each, ties by code), then 1
        // (11); 6 rows miss x1 and 5 miss c, enough for indicators.
        assert_eq!(
            names,
            ["x1", "x1__missing", "c__0", "c__2", "c__1", "c__missing"]
        );
        // Prediction rows: NaN, infinity, an unseen code (3), "other" (4), an out-of-range
        // code, a missing code.
        let probe = features(vec![
            num("x1", &[f32::NAN, f32::INFINITY, 3.0, 3.0, 3.0, 3.0]),
            cat("c", &[0, 1, 3, 4, 99, MISSING_CODE], 5),
        ]);
        let p = m.predict(&probe).values;
        assert!(
            p.iter().all(|v| v.is_finite() && *v > 0.0 && *v < 1.0),
            "{p:?}"
        );
        // Unseen codes are the all-zero baseline.
        assert_eq!(p[2], p[3]);
        assert_eq!(p[2], p[4]);
        // Missing numeric = mean + indicator.
        let mut row = vec![0.0; 6];
        m.encoder.encode_row(&probe, 0, &mut row);
        assert_eq!(&row[..2], &[0.0, 1.0]);
        assert_eq!(&row[2..], &[1.0, 0.0, 0.0, 0.0]);
        m.encoder.encode_row(&probe, 5, &mut row);
        assert_eq!(&row[2..], &[0.0, 0.0, 0.0, 1.0]);
        // A column of the wrong kind is treated as missing, and `check` reports it.
        let wrong = features(vec![num("x1", &[1.0]), num("c", &[1.0])]);
        assert!(m.predict(&wrong).values[0].is_finite());
        assert!(m.encoder().check(&wrong).is_err());
        assert!(m.encoder().check(&probe).is_ok());
    }

    #[test]
    fn missing_indicators_need_enough_rows() {
        // x misses on MIN_MISSING_ROWS rows, z on one fewer; c misses on one row.
        let n = 30;
        let x: Vec<f32> = (0..n)
            .map(|i| {
                if i < MIN_MISSING_ROWS {
                    f32::NAN
                } else {
                    i as f32
                }
            })
            .collect();
        let z: Vec<f32> = (0..n)
            .map(|i| {
                if i < MIN_MISSING_ROWS - 1 {
                    f32::NAN
                } else {
                    (i % 4) as f32
                }
            })
            .collect();
        let codes: Vec<u32> = (0..n)
            .map(|i| if i == 7 { MISSING_CODE } else { (i % 2) as u32 })
            .collect();
        let y: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i % 3 == 0))).collect();
        let data = features(vec![num("x", &x), num("z", &z), cat("c", &codes, 3)]);
        let m = fit_linear(&train(&data, &y, Task::Binary), &params(0.01, 0.0)).unwrap();
        let names: Vec<String> = m.coefficients().into_iter().map(|c| c.0).collect();
        assert_eq!(names, ["x", "x__missing", "z", "c__0", "c__1"]);
        // Below the threshold, missing is the mean (0 after standardizing) and the baseline.
        let probe = features(vec![
            num("x", &[10.0]),
            num("z", &[f32::NAN]),
            cat("c", &[MISSING_CODE], 3),
        ]);
        let mut row = vec![f64::NAN; 5];
        m.encoder.encode_row(&probe, 0, &mut row);
        assert_eq!(&row[1..], &[0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn weight_two_equals_duplicated_rows() {
        let x = logistic_data();
        let dup: Vec<usize> = (0..24).chain([1, 5, 8, 13, 20]).collect();
        let mut weights = vec![1.0; 24];
        for &r in &dup[24..] {
            weights[r] = 2.0;
        }
        let xd = features(vec![
            num("x1", &dup.iter().map(|&i| L_X1[i]).collect::<Vec<_>>()),
            num("x2", &dup.iter().map(|&i| L_X2[i]).collect::<Vec<_>>()),
            cat("c", &dup.iter().map(|&i| L_CAT[i]).collect::<Vec<_>>(), 4),
        ]);
        let yd: Vec<f64> = dup.iter().map(|&i| L_Y[i]).collect();
        let ey: Vec<f64> = (0..24).map(|i| E_Y[i % 20] + i as f64 * 0.1).collect();
        let eyd: Vec<f64> = dup.iter().map(|&i| ey[i]).collect();
        let my: Vec<f64> = (0..24).map(|i| M_Y[i]).collect();
        let myd: Vec<f64> = dup.iter().map(|&i| my[i]).collect();
        for (task, y, ydup, l1) in [
            (Task::Binary, L_Y, &yd[..], 0.3),
            (Task::Regression, &ey[..], &eyd[..], 0.5),
            (Task::Multiclass, &my[..], &myd[..], 0.2),
        ] {
            let mut weighted = train(&x, y, task);
            weighted.weight = Some(&weights);
            let a = fit_linear(&weighted, &params(0.02, l1)).unwrap();
            let b = fit_linear(&train(&xd, ydup, task), &params(0.02, l1)).unwrap();
            assert_eq!(a.encoder, b.encoder.clone().with_names_of(&a.encoder));
            assert_close(&a.predict(&x).values, &b.predict(&x).values, 1e-9);
        }
    }

    #[test]
    fn row_subset_equals_zero_weights() {
        let x = logistic_data();
        let rows: Vec<u32> = (0..24).filter(|i| i % 4 != 1).collect();
        let weights: Vec<f64> = (0..24)
            .map(|i| if i % 4 != 1 { 1.0 } else { 0.0 })
            .collect();
        let mut a = train(&x, L_Y, Task::Binary);
        a.rows = Some(&rows);
        let mut b = train(&x, L_Y, Task::Binary);
        b.weight = Some(&weights);
        let ma = fit_linear(&a, &params(0.05, 0.0)).unwrap();
        let mb = fit_linear(&b, &params(0.05, 0.0)).unwrap();
        assert_close(&ma.predict(&x).values, &mb.predict(&x).values, 1e-12);
    }

    #[test]
    fn serde_round_trip_and_predict_row() {
        let x = logistic_data();
        let m = fit_linear(&train(&x, L_Y, Task::Binary), &params(0.05, 0.2)).unwrap();
        // JSON keeps every number to within an ulp (serde_json parses floats approximately
        // without its float_roundtrip feature); MessagePack is exact.
        let json = serde_json::to_string(&m).unwrap();
        let back: LinearModel = serde_json::from_str(&json).unwrap();
        assert_eq!(back.encoder.names(), m.encoder.names());
        assert_close(&back.predict(&x).values, &m.predict(&x).values, 1e-14);
        let bytes = rmp_serde::to_vec(&m).unwrap();
        let back: LinearModel = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.predict(&x), m.predict(&x));
        let mut out = [0.0];
        back.predict_row(&x, 3, &mut out);
        assert_eq!(out[0], m.predict(&x).values[3]);
    }

    #[test]
    fn bad_params_and_data_are_errors() {
        let mut p = LinearParams::default();
        assert!(p.set("lambda", "0.5").unwrap());
        assert_eq!(p.alpha, 0.5);
        assert!(p.set("l1_ratio", "1").unwrap());
        assert!(p.set("max_iter", "50").unwrap());
        assert!(p.set("tol", "1e-8").unwrap());
        assert!(!p.set("depth", "3").unwrap());
        for (k, v) in [
            ("alpha", "-1"),
            ("alpha", "abc"),
            ("alpha", "inf"),
            ("l1_ratio", "1.5"),
            ("l1_ratio", "-0.1"),
            ("l1_ratio", "NaN"),
            ("max_iter", "0"),
            ("max_iter", "-3"),
            ("tol", "0"),
        ] {
            let err = p.set(k, v).unwrap_err().to_string();
            assert!(err.contains(k) && err.contains("hint"), "{err}");
        }
        assert_eq!(p.alpha, 0.5);
        let bad = LinearParams {
            alpha: -1.0,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        let x = logistic_data();
        assert!(fit_linear(&train(&x, L_Y, Task::Binary), &bad).is_err());
        let ok = LinearParams::default();
        // One class only.
        let zeros = vec![0.0; 24];
        assert!(fit_linear(&train(&x, &zeros, Task::Binary), &ok).is_err());
        // Class index out of range, NaN target, bad weights, wrong lengths.
        let mut y = L_Y.to_vec();
        y[3] = 2.0;
        assert!(fit_linear(&train(&x, &y, Task::Binary), &ok).is_err());
        y[3] = f64::NAN;
        assert!(fit_linear(&train(&x, &y, Task::Regression), &ok).is_err());
        let w = vec![-1.0; 24];
        let mut s = train(&x, L_Y, Task::Binary);
        s.weight = Some(&w);
        assert!(fit_linear(&s, &ok).is_err());
        let w = vec![0.0; 24];
        s.weight = Some(&w);
        assert!(fit_linear(&s, &ok).is_err());
        assert!(fit_linear(&train(&x, &L_Y[..5], Task::Binary), &ok).is_err());
        let rows = [0u32, 99];
        let mut s = train(&x, L_Y, Task::Binary);
        s.rows = Some(&rows);
        assert!(fit_linear(&s, &ok).is_err());
    }

    #[test]
    fn categorical_cap_keeps_the_most_frequent_codes() {
        // 100 codes, code c appears c+1 times for c < 100 (so the top 64 are 36..=99).
        let mut codes = Vec::new();
        for c in 0..100u32 {
            codes.extend(std::iter::repeat_n(c, c as usize + 1));
        }
        let y: Vec<f64> = (0..codes.len()).map(|i| (i % 5) as f64).collect();
        let x = features(vec![cat("k", &codes, 101)]);
        let e = Encoder::fit(&train(&x, &y, Task::Regression)).unwrap();
        assert_eq!(e.width(), MAX_LEVELS);
        assert_eq!(e.names()[0], "k__99");
        assert_eq!(e.names()[63], "k__36");
        let mut row = vec![0.0; e.width()];
        e.encode_row(&x, 0, &mut row); // code 0: beyond the cap
        assert!(row.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn constant_features_are_dropped() {
        let x = features(vec![
            num("k", &[2.5; 6]),
            num("m", &[f32::NAN; 6]),
            cat("one", &[1; 6], 3),
            num("x", &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        ]);
        let y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.5];
        let m = fit_linear(&train(&x, &y, Task::Regression), &params(0.0, 0.0)).unwrap();
        assert_eq!(m.encoder.names(), ["x"]);
        assert!(m.predict(&x).values.iter().all(|v| v.is_finite()));
    }

    impl Encoder {
        /// For comparing encoders fitted on different row counts: names are identical anyway.
        fn with_names_of(mut self, other: &Encoder) -> Encoder {
            self.names.clone_from(&other.names);
            self
        }
    }
}

//! What learners take in and give back, and the checks every learner runs on what it takes in.

use serde::{Deserialize, Serialize};
use whet_data::Task;
use whet_data::prep::{FeatureData, Features};

use crate::error::{LearnError, Result};

/// Training data: features, targets and optional weights, restricted to `rows` when given
/// (cross-validation folds share one `Features` and differ only in `rows`).
#[derive(Clone, Copy, Debug)]
pub struct TrainSet<'a> {
    pub x: &'a Features,
    /// Class index (0..n_classes) for classification, the value for regression.
    pub y: &'a [f64],
    pub weight: Option<&'a [f64]>,
    pub rows: Option<&'a [u32]>,
    pub task: Task,
    /// Number of classes for classification (2 for binary), 1 for regression.
    pub n_classes: usize,
}

impl<'a> TrainSet<'a> {
    pub fn n_rows(&self) -> usize {
        self.rows.map_or(self.x.n_rows, <[u32]>::len)
    }

    /// The i-th row of this set as a row index into `x`.
    #[inline]
    pub fn row(&self, i: usize) -> usize {
        self.rows.map_or(i, |r| r[i] as usize)
    }

    #[inline]
    pub fn weight_of(&self, row: usize) -> f64 {
        self.weight.map_or(1.0, |w| w[row])
    }
}

/// The part of [`check_train_set`] that needs no targets (the encoder is fitted on it): one
/// value per row in every feature, row indices in range, one finite weight ≥ 0 per row, at
/// least one row, and a positive total weight.
pub(crate) fn check_rows_and_weights(data: &TrainSet) -> Result<()> {
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

/// Checks the shape of `data`, weights and targets for its task: what every learner needs of
/// its training set, run by every `fit_*` before it trains. Checks that depend on a learner
/// or its parameters (GBDT's objective and binning, linear classifiers' two classes with
/// positive weight, kNN's `k`) stay with the learner.
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

/// Model output, row-major `n_rows × n_outputs`: probability of the positive class (binary,
/// one output), class probabilities (multiclass), or the predicted value (regression).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Predictions {
    pub n_rows: usize,
    pub n_outputs: usize,
    pub values: Vec<f64>,
}

impl Predictions {
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.n_outputs..(i + 1) * self.n_outputs]
    }

    /// Predicted class per row for classification outputs.
    pub fn classes(&self) -> Vec<usize> {
        if self.n_outputs == 1 {
            self.values.iter().map(|&p| usize::from(p >= 0.5)).collect()
        } else {
            (0..self.n_rows)
                .map(|i| {
                    let r = self.row(i);
                    let mut best = 0;
                    for (k, &v) in r.iter().enumerate() {
                        if v > r[best] {
                            best = k;
                        }
                    }
                    best
                })
                .collect()
        }
    }
}

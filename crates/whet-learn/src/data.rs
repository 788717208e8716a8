//! What learners take in and give back.

use serde::{Deserialize, Serialize};
use whet_data::Task;
use whet_data::prep::Features;

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

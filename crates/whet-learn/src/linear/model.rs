//! The fitted linear model and its prediction.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use whet_data::Task;
use whet_data::prep::Features;

use crate::data::Predictions;
use crate::encode::Encoder;

/// A fitted linear, logistic or multinomial logistic model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    pub(crate) encoder: Encoder,
    pub(crate) task: Task,
    pub(crate) n_classes: usize,
    pub(crate) n_outputs: usize,
    /// `n_outputs × width`, row-major, on the encoded scale.
    pub(crate) coef: Vec<f64>,
    pub(crate) intercept: Vec<f64>,
    /// Multiclass: classes present in training; absent ones get probability 0.
    pub(crate) present: Vec<bool>,
    pub(crate) n_iter: usize,
    pub(crate) converged: bool,
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

    /// Exact SHAP values of the linear score (log-odds for classifiers), treating features as
    /// independent with the rows of `x` as background: a feature's contribution is
    /// `Σ coef · (encoded − mean encoded over x)` over its encoded columns. Row-major
    /// `n_rows × n_outputs × (n_features + 1)`, the last slot of each output the expected
    /// score; each row's values sum to its linear score, as [`crate::gbdt::GbdtModel`]'s do.
    pub fn shap_values(&self, x: &Features) -> Vec<f64> {
        self.shap_values_against(x, x)
    }

    /// [`LinearModel::shap_values`] with the rows of `background` as the reference (a single
    /// scored row has no spread of its own to be explained against).
    pub fn shap_values_against(&self, x: &Features, background: &Features) -> Vec<f64> {
        let k = self.n_outputs;
        let w = self.encoder.width();
        let nf = x.columns.len();
        let width = k * (nf + 1);
        let owner = self.encoder.column_features();
        let mut mean = vec![0.0; w];
        for row in 0..background.n_rows {
            self.encoder.visit_row(background, row, |c, v| mean[c] += v);
        }
        for m in &mut mean {
            *m /= background.n_rows.max(1) as f64;
        }
        let mut out = vec![0.0; x.n_rows * width];
        out.par_chunks_mut(width)
            .enumerate()
            .for_each(|(row, phi)| {
                let mut enc = vec![0.0; w];
                self.encoder.visit_row(x, row, |c, v| enc[c] = v);
                for o in 0..k {
                    let base = &mut phi[o * (nf + 1)..(o + 1) * (nf + 1)];
                    let mut expected = self.intercept[o];
                    for c in 0..w {
                        let coef = self.coef[o * w + c];
                        base[owner[c]] += coef * (enc[c] - mean[c]);
                        expected += coef * mean[c];
                    }
                    base[nf] = expected;
                }
            });
        out
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
pub(super) fn sigmoid(eta: f64) -> f64 {
    if eta >= 0.0 {
        1.0 / (1.0 + (-eta).exp())
    } else {
        let e = eta.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + e^η)` without overflow.
#[inline]
pub(super) fn softplus(eta: f64) -> f64 {
    if eta > 0.0 {
        eta + (-eta).exp().ln_1p()
    } else {
        eta.exp().ln_1p()
    }
}

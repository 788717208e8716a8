//! Evaluation metrics, weighted, matching scikit-learn 1.9.1.
//!
//! Conventions shared by every function here:
//!
//! - `w` gives one weight per row; `None` weighs every row 1. A row of weight 2 counts exactly
//!   like the same row twice, and a row of weight 0 as if it were absent (its values must still
//!   be valid labels). Weights are meant to be non-negative; negative ones are not rejected and
//!   give whatever the formulas give, as in scikit-learn.
//! - Nothing panics. Where a metric is undefined the result is `f64::NAN`: empty input, total
//!   weight 0, slices whose lengths disagree, labels outside the expected range, and the
//!   metric-specific cases listed on each function. Where scikit-learn would raise an error
//!   (invalid input) whet returns NaN too.
//! - Classification targets `y` are class indices stored as `f64` (0.0, 1.0, ...), as in
//!   [`crate::TrainSet`]; a value that is not a whole number in range makes the result NaN.
//! - A NaN score makes the ranking metrics (ROC AUC, PR AUC) NaN; a NaN probability makes the
//!   log loss NaN; NaN regression values propagate arithmetically into a NaN result.
//!
//! Reference values in the tests come from scikit-learn 1.9.1
//! (`crates/whet-learn/tests/sklearn_metrics.py` prints them).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use whet_data::Task;

use crate::data::Predictions;

/// The probability clip of [`log_loss`]: scikit-learn 1.9.1 clips to
/// `[eps, 1 - eps]` with `eps = np.finfo(y_proba.dtype).eps` (2.22e-16 for float64), not the
/// older fixed 1e-15. A confident wrong prediction therefore costs `-ln(2.22e-16) = 36.04`
/// (1e-15 would give 34.54); the tests check the former.
const PROB_EPS: f64 = f64::EPSILON;

/// The floor on `|y|` in [`mape`] (`np.finfo(np.float64).eps`, as scikit-learn).
const MAPE_EPS: f64 = f64::EPSILON;

#[inline]
fn weight_at(w: Option<&[f64]>, i: usize) -> f64 {
    w.map_or(1.0, |w| w[i])
}

/// True when the weights (if any) have one entry per row.
#[inline]
fn weights_fit(n: usize, w: Option<&[f64]>) -> bool {
    w.is_none_or(|w| w.len() == n)
}

/// `Σ wᵢ f(i) / Σ wᵢ` over the rows with non-zero weight; NaN when the total weight is 0
/// (including no rows). The caller has checked the lengths.
fn weighted_mean(n: usize, w: Option<&[f64]>, f: impl Fn(usize) -> f64) -> f64 {
    let mut num = 0.0;
    let mut den = 0.0;
    for i in 0..n {
        let wi = weight_at(w, i);
        if wi == 0.0 {
            continue;
        }
        num += wi * f(i);
        den += wi;
    }
    if den == 0.0 { f64::NAN } else { num / den }
}

/// A class index stored as `f64`: a whole number in `0..n_classes`.
#[inline]
fn class_of(y: f64, n_classes: usize) -> Option<usize> {
    // The comparison is false for NaN; `n_classes as f64` is exact for any real class count.
    if y >= 0.0 && y < n_classes as f64 && y.fract() == 0.0 {
        Some(y as usize)
    } else {
        None
    }
}

/// `x > 0`, false for NaN.
#[inline]
fn is_positive(x: f64) -> bool {
    x > 0.0
}

/// A binary label: 0.0 → false, 1.0 → true, anything else → None.
#[inline]
fn binary_label(y: f64) -> Option<bool> {
    if y == 1.0 {
        Some(true)
    } else if y == 0.0 {
        Some(false)
    } else {
        None
    }
}

/// The ROC/PR curve before normalisation: cumulative weighted (true positives, false
/// positives) at each distinct score, from the highest score down (scikit-learn's
/// `confusion_matrix_at_thresholds`). Rows of weight 0 are dropped first, as scikit-learn
/// does. `None` for invalid input (lengths, labels outside {0, 1}, NaN scores). One sort,
/// O(n log n).
fn threshold_curve(y: &[f64], score: &[f64], w: Option<&[f64]>) -> Option<Vec<(f64, f64)>> {
    let n = y.len();
    if score.len() != n || !weights_fit(n, w) {
        return None;
    }
    let mut rows: Vec<(f64, bool, f64)> = Vec::with_capacity(n);
    for i in 0..n {
        let label = binary_label(y[i])?;
        if score[i].is_nan() {
            return None;
        }
        let wi = weight_at(w, i);
        if wi != 0.0 {
            rows.push((score[i], label, wi));
        }
    }
    // Descending by score. Tied scores form one threshold, so the order within a tie does not
    // matter (-0.0 and 0.0 sort next to each other and compare equal below).
    rows.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let mut curve = Vec::new();
    let (mut tp, mut fp) = (0.0, 0.0);
    for (i, &(s, positive, wi)) in rows.iter().enumerate() {
        if positive {
            tp += wi;
        } else {
            fp += wi;
        }
        if rows.get(i + 1).is_none_or(|next| next.0 != s) {
            curve.push((tp, fp));
        }
    }
    Some(curve)
}

/// Area under the ROC curve, `sklearn.metrics.roc_auc_score(y, score, sample_weight=w)`.
///
/// `y` holds 0/1 labels, `score` any ranking score (higher = more likely 1). Tied scores form
/// one threshold and the curve is integrated with the trapezoid rule over the distinct
/// thresholds, exactly as scikit-learn (a tie between a positive and a negative counts 1/2).
/// Sorts once: O(n log n).
///
/// NaN when only one class has positive weight (scikit-learn 1.9.1 also returns NaN there),
/// and for the common undefined cases (see the module docs).
pub fn roc_auc(y: &[f64], score: &[f64], w: Option<&[f64]>) -> f64 {
    let Some(curve) = threshold_curve(y, score, w) else {
        return f64::NAN;
    };
    let Some(&(pos, neg)) = curve.last() else {
        return f64::NAN;
    };
    if !(is_positive(pos) && is_positive(neg)) {
        return f64::NAN;
    }
    let mut area = 0.0;
    let (mut tp_prev, mut fp_prev) = (0.0, 0.0);
    for &(tp, fp) in &curve {
        area += (fp - fp_prev) * (tp + tp_prev) * 0.5;
        tp_prev = tp;
        fp_prev = fp;
    }
    area / (pos * neg)
}

/// Area under the precision-recall curve as average precision,
/// `sklearn.metrics.average_precision_score(y, score, sample_weight=w)`:
/// `Σ (Rₜ − Rₜ₋₁) · Pₜ` over the distinct score thresholds from the highest down — a step
/// function, not the trapezoid rule. `y` holds 0/1 labels.
///
/// NaN when no row with positive weight is labelled 1 (recall is undefined; scikit-learn warns
/// and returns 0.0 there), and for the common undefined cases (see the module docs).
pub fn pr_auc(y: &[f64], score: &[f64], w: Option<&[f64]>) -> f64 {
    let Some(curve) = threshold_curve(y, score, w) else {
        return f64::NAN;
    };
    let Some(&(pos, _)) = curve.last() else {
        return f64::NAN;
    };
    if !is_positive(pos) {
        return f64::NAN;
    }
    let mut ap = 0.0;
    let mut recall_prev = 0.0;
    for &(tp, fp) in &curve {
        let predicted = tp + fp;
        let precision = if predicted != 0.0 {
            tp / predicted
        } else {
            0.0
        };
        let recall = tp / pos;
        ap += (recall - recall_prev) * precision;
        recall_prev = recall;
    }
    // scikit-learn clips a rounding -0.0 to 0.0; keep NaN visible.
    if ap < 0.0 { 0.0 } else { ap }
}

/// Mean negative log-likelihood (cross-entropy, natural log),
/// `sklearn.metrics.log_loss(y, prob, labels=range(n_classes), sample_weight=w)`.
///
/// Binary (`n_classes == 2` and one probability per row): `prob[i]` is p(class 1).
/// Otherwise `prob` is row-major `n × n_classes` (a binary model may also give 2 columns).
/// Probabilities are clipped to `[eps, 1 − eps]` with `eps = f64::EPSILON` — what
/// scikit-learn 1.9.1 does (the dtype's eps, not the 1e-15 of older releases). Rows need not
/// sum to 1 (scikit-learn only warns); only the true class's probability is used.
///
/// NaN when `n_classes < 2`, a probability is outside [0, 1] or NaN (scikit-learn raises),
/// `prob` has the wrong length, or a label is not in `0..n_classes`; and for the common
/// undefined cases (see the module docs).
pub fn log_loss(y: &[f64], prob: &[f64], n_classes: usize, w: Option<&[f64]>) -> f64 {
    let n = y.len();
    if n_classes < 2 || !weights_fit(n, w) {
        return f64::NAN;
    }
    let binary = n_classes == 2 && prob.len() == n;
    if !binary && n.checked_mul(n_classes) != Some(prob.len()) {
        return f64::NAN;
    }
    if prob.iter().any(|p| !(0.0..=1.0).contains(p))
        || y.iter().any(|&v| class_of(v, n_classes).is_none())
    {
        return f64::NAN;
    }
    weighted_mean(n, w, |i| {
        let c = y[i] as usize;
        let p = if binary {
            // scikit-learn builds the column [1 - p, p] and clips afterwards.
            if c == 1 { prob[i] } else { 1.0 - prob[i] }
        } else {
            prob[i * n_classes + c]
        };
        -p.clamp(PROB_EPS, 1.0 - PROB_EPS).ln()
    })
}

/// Weighted share of rows whose predicted class equals the label,
/// `sklearn.metrics.accuracy_score(y, pred_class, sample_weight=w)`.
///
/// NaN when a label is not a whole number ≥ 0, and for the common undefined cases (see the
/// module docs).
pub fn accuracy(y: &[f64], pred_class: &[usize], w: Option<&[f64]>) -> f64 {
    let n = y.len();
    if pred_class.len() != n || !weights_fit(n, w) {
        return f64::NAN;
    }
    if y.iter().any(|&v| class_of(v, usize::MAX).is_none()) {
        return f64::NAN;
    }
    weighted_mean(n, w, |i| {
        f64::from(u8::from(y[i] as usize == pred_class[i]))
    })
}

/// Per-class weighted counts for the classification metrics: `(tp, fp, fn, true_total)` per
/// class. `None` when lengths disagree or a label or prediction is not in `0..n_classes`.
fn class_counts(
    y: &[f64],
    pred_class: &[usize],
    n_classes: usize,
    w: Option<&[f64]>,
) -> Option<Vec<[f64; 3]>> {
    let n = y.len();
    if pred_class.len() != n || !weights_fit(n, w) {
        return None;
    }
    // [true positives, false positives, false negatives]
    let mut counts = vec![[0.0; 3]; n_classes];
    for i in 0..n {
        let truth = class_of(y[i], n_classes)?;
        let pred = pred_class[i];
        if pred >= n_classes {
            return None;
        }
        let wi = weight_at(w, i);
        if wi == 0.0 {
            continue;
        }
        if truth == pred {
            counts[truth][0] += wi;
        } else {
            counts[pred][1] += wi;
            counts[truth][2] += wi;
        }
    }
    Some(counts)
}

/// Mean per-class recall, `sklearn.metrics.balanced_accuracy_score(y, pred_class,
/// sample_weight=w)`. Classes with no (weighted) true rows are left out of the mean, as in
/// scikit-learn.
///
/// Labels and predictions must be in `0..n_classes`, otherwise NaN; NaN also when no class
/// has true rows and for the common undefined cases (see the module docs).
pub fn balanced_accuracy(
    y: &[f64],
    pred_class: &[usize],
    n_classes: usize,
    w: Option<&[f64]>,
) -> f64 {
    let Some(counts) = class_counts(y, pred_class, n_classes, w) else {
        return f64::NAN;
    };
    let (mut sum, mut classes) = (0.0, 0usize);
    for [tp, _, fn_] in counts {
        let total = tp + fn_;
        if total != 0.0 {
            sum += tp / total;
            classes += 1;
        }
    }
    if classes == 0 {
        f64::NAN
    } else {
        sum / classes as f64
    }
}

/// F1 of one class, `2·tp / (2·tp + fp + fn)`; None when that is 0/0 (the class occurs
/// neither in the labels nor in the predictions of rows with non-zero weight).
#[inline]
fn f1_of([tp, fp, fn_]: [f64; 3]) -> Option<f64> {
    let den = 2.0 * tp + fp + fn_;
    (den != 0.0).then(|| 2.0 * tp / den)
}

/// F1 score of class 1, `sklearn.metrics.f1_score(y, pred_class, sample_weight=w)`.
/// Labels and predictions must be 0 or 1, otherwise NaN.
///
/// NaN when neither the labels nor the predictions contain class 1 (F1 is 0/0; scikit-learn's
/// default `zero_division="warn"` gives 0.0 there, `zero_division=np.nan` gives NaN), and for
/// the common undefined cases (see the module docs).
pub fn f1_binary(y: &[f64], pred_class: &[usize], w: Option<&[f64]>) -> f64 {
    class_counts(y, pred_class, 2, w)
        .and_then(|c| f1_of(c[1]))
        .unwrap_or(f64::NAN)
}

/// Unweighted mean of the per-class F1 scores, `sklearn.metrics.f1_score(y, pred_class,
/// average="macro", sample_weight=w, zero_division=np.nan)`: the mean runs over the classes
/// that occur in the labels or the predictions; a class that occurs only in rows of weight 0
/// has F1 0/0 and is left out (with scikit-learn's default `zero_division` it would count as
/// 0; otherwise the two agree).
///
/// Labels and predictions must be in `0..n_classes`, otherwise NaN; NaN also for the common
/// undefined cases (see the module docs).
pub fn f1_macro(y: &[f64], pred_class: &[usize], n_classes: usize, w: Option<&[f64]>) -> f64 {
    let Some(counts) = class_counts(y, pred_class, n_classes, w) else {
        return f64::NAN;
    };
    let (mut sum, mut classes) = (0.0, 0usize);
    for f1 in counts.into_iter().filter_map(f1_of) {
        sum += f1;
        classes += 1;
    }
    if classes == 0 {
        f64::NAN
    } else {
        sum / classes as f64
    }
}

/// Checks the lengths shared by the regression metrics.
#[inline]
fn regression_fits(y: &[f64], pred: &[f64], w: Option<&[f64]>) -> bool {
    pred.len() == y.len() && weights_fit(y.len(), w)
}

/// Root mean squared error, `sklearn.metrics.root_mean_squared_error(y, pred,
/// sample_weight=w)`. NaN for the common undefined cases (see the module docs).
pub fn rmse(y: &[f64], pred: &[f64], w: Option<&[f64]>) -> f64 {
    if !regression_fits(y, pred, w) {
        return f64::NAN;
    }
    weighted_mean(y.len(), w, |i| (y[i] - pred[i]).powi(2)).sqrt()
}

/// Mean absolute error, `sklearn.metrics.mean_absolute_error(y, pred, sample_weight=w)`.
/// NaN for the common undefined cases (see the module docs).
pub fn mae(y: &[f64], pred: &[f64], w: Option<&[f64]>) -> f64 {
    if !regression_fits(y, pred, w) {
        return f64::NAN;
    }
    weighted_mean(y.len(), w, |i| (y[i] - pred[i]).abs())
}

/// Coefficient of determination, `sklearn.metrics.r2_score(y, pred, sample_weight=w)`:
/// `1 − Σ w (y − pred)² / Σ w (y − ȳ_w)²`.
///
/// NaN when the (non-zero-weight) targets are all equal, which includes fewer than two rows:
/// the ratio is 0/0 or x/0 there. scikit-learn returns NaN for fewer than two rows and
/// otherwise, with its default `force_finite=True`, 1.0 or 0.0. NaN also for the common
/// undefined cases (see the module docs).
pub fn r2(y: &[f64], pred: &[f64], w: Option<&[f64]>) -> f64 {
    if !regression_fits(y, pred, w) {
        return f64::NAN;
    }
    let n = y.len();
    let mut first = None;
    let mut varies = false;
    for i in (0..n).filter(|&i| weight_at(w, i) != 0.0) {
        match first {
            None => first = Some(y[i]),
            Some(f) => varies |= y[i] != f,
        }
    }
    // A NaN target "varies" (NaN != NaN) and then propagates below.
    if !varies {
        return f64::NAN;
    }
    let mean = weighted_mean(n, w, |i| y[i]);
    let (mut num, mut den) = (0.0, 0.0);
    for i in 0..n {
        let wi = weight_at(w, i);
        if wi == 0.0 {
            continue;
        }
        num += wi * (y[i] - pred[i]).powi(2);
        den += wi * (y[i] - mean).powi(2);
    }
    if den == 0.0 {
        return f64::NAN;
    }
    1.0 - num / den
}

/// Mean absolute percentage error as a fraction (0.1 = 10 %),
/// `sklearn.metrics.mean_absolute_percentage_error(y, pred, sample_weight=w)`:
/// mean of `|y − pred| / max(|y|, eps)` with `eps = f64::EPSILON`, so a target of 0 with a
/// non-zero prediction gives a huge (finite) error, as in scikit-learn.
/// NaN for the common undefined cases (see the module docs).
pub fn mape(y: &[f64], pred: &[f64], w: Option<&[f64]>) -> f64 {
    if !regression_fits(y, pred, w) {
        return f64::NAN;
    }
    weighted_mean(y.len(), w, |i| {
        (pred[i] - y[i]).abs() / y[i].abs().max(MAPE_EPS)
    })
}

/// Named metrics for reports and model selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    RocAuc,
    PrAuc,
    LogLoss,
    Accuracy,
    BalancedAccuracy,
    F1,
    F1Macro,
    Rmse,
    Mae,
    R2,
    Mape,
}

const BINARY_METRICS: &[Metric] = &[
    Metric::RocAuc,
    Metric::PrAuc,
    Metric::LogLoss,
    Metric::Accuracy,
    Metric::BalancedAccuracy,
    Metric::F1,
];
const MULTICLASS_METRICS: &[Metric] = &[
    Metric::LogLoss,
    Metric::Accuracy,
    Metric::BalancedAccuracy,
    Metric::F1Macro,
];
const REGRESSION_METRICS: &[Metric] = &[Metric::Rmse, Metric::Mae, Metric::R2, Metric::Mape];

impl Metric {
    /// Every metric, in declaration order.
    pub const ALL: [Metric; 11] = [
        Metric::RocAuc,
        Metric::PrAuc,
        Metric::LogLoss,
        Metric::Accuracy,
        Metric::BalancedAccuracy,
        Metric::F1,
        Metric::F1Macro,
        Metric::Rmse,
        Metric::Mae,
        Metric::R2,
        Metric::Mape,
    ];

    /// The metric's name in reports, JSON and on the command line (the serde name).
    pub fn name(self) -> &'static str {
        match self {
            Metric::RocAuc => "roc_auc",
            Metric::PrAuc => "pr_auc",
            Metric::LogLoss => "log_loss",
            Metric::Accuracy => "accuracy",
            Metric::BalancedAccuracy => "balanced_accuracy",
            Metric::F1 => "f1",
            Metric::F1Macro => "f1_macro",
            Metric::Rmse => "rmse",
            Metric::Mae => "mae",
            Metric::R2 => "r2",
            Metric::Mape => "mape",
        }
    }

    /// Parses a name or a common unambiguous alias, ignoring case and treating `-` and spaces
    /// as `_` ("AUC", "logloss", "acc", "average_precision", "macro-f1", "r_squared", ...).
    /// Loss names whose meaning differs between libraries (LightGBM's "l1"/"l2" are MAE/MSE)
    /// are not accepted.
    pub fn parse(s: &str) -> Option<Metric> {
        let key: String = s
            .trim()
            .chars()
            .map(|c| match c {
                '-' | ' ' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        Some(match key.as_str() {
            "roc_auc" | "auc" | "rocauc" | "auroc" | "roc_auc_score" => Metric::RocAuc,
            "pr_auc" | "prauc" | "auprc" | "average_precision" | "average_precision_score" => {
                Metric::PrAuc
            }
            "log_loss" | "logloss" | "cross_entropy" => Metric::LogLoss,
            "accuracy" | "acc" | "accuracy_score" => Metric::Accuracy,
            "balanced_accuracy" | "balanced_acc" | "balanced_accuracy_score" => {
                Metric::BalancedAccuracy
            }
            "f1" | "f1_score" | "f1_binary" => Metric::F1,
            "f1_macro" | "macro_f1" => Metric::F1Macro,
            "rmse" | "root_mean_squared_error" => Metric::Rmse,
            "mae" | "mean_absolute_error" => Metric::Mae,
            "r2" | "r2_score" | "r_squared" => Metric::R2,
            "mape" | "mean_absolute_percentage_error" => Metric::Mape,
            _ => return None,
        })
    }

    /// True for scores (AUC, accuracy, F1, R²), false for losses and errors.
    pub fn higher_is_better(self) -> bool {
        match self {
            Metric::RocAuc
            | Metric::PrAuc
            | Metric::Accuracy
            | Metric::BalancedAccuracy
            | Metric::F1
            | Metric::F1Macro
            | Metric::R2 => true,
            Metric::LogLoss | Metric::Rmse | Metric::Mae | Metric::Mape => false,
        }
    }

    /// The metrics reported for a task, in report order.
    pub fn for_task(task: Task) -> &'static [Metric] {
        match task {
            Task::Binary => BINARY_METRICS,
            Task::Multiclass => MULTICLASS_METRICS,
            Task::Regression => REGRESSION_METRICS,
        }
    }

    /// The metric model selection optimises unless told otherwise.
    pub fn default_for(task: Task) -> Metric {
        match task {
            Task::Binary => Metric::RocAuc,
            Task::Multiclass => Metric::LogLoss,
            Task::Regression => Metric::Rmse,
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Computes `metric` from predictions (see [`Predictions`]: binary, `n_outputs == 1`, holds
/// p(class 1); multiclass row-major class probabilities; regression the predicted values).
///
/// Class metrics use [`Predictions::classes`] (p ≥ 0.5 for binary, the arg-max otherwise).
/// ROC and PR AUC take the p(class 1) column of one- or two-output predictions; regression
/// metrics need one output. NaN when the predictions do not fit `y` (rows, outputs, length of
/// `values`) or the metric does not apply to them, and wherever the metric itself is NaN.
pub fn evaluate(metric: Metric, y: &[f64], p: &Predictions, w: Option<&[f64]>) -> f64 {
    let k = p.n_outputs;
    if k == 0 || p.n_rows != y.len() || p.n_rows.checked_mul(k) != Some(p.values.len()) {
        return f64::NAN;
    }
    let n_classes = if k == 1 { 2 } else { k };
    match metric {
        Metric::RocAuc | Metric::PrAuc => {
            let scores: Cow<[f64]> = match k {
                1 => Cow::Borrowed(&p.values),
                2 => Cow::Owned(p.values.chunks_exact(2).map(|r| r[1]).collect()),
                _ => return f64::NAN,
            };
            if metric == Metric::RocAuc {
                roc_auc(y, &scores, w)
            } else {
                pr_auc(y, &scores, w)
            }
        }
        Metric::LogLoss => log_loss(y, &p.values, n_classes, w),
        Metric::Accuracy => accuracy(y, &p.classes(), w),
        Metric::BalancedAccuracy => balanced_accuracy(y, &p.classes(), n_classes, w),
        Metric::F1 => f1_binary(y, &p.classes(), w),
        Metric::F1Macro => f1_macro(y, &p.classes(), n_classes, w),
        Metric::Rmse | Metric::Mae | Metric::R2 | Metric::Mape if k != 1 => f64::NAN,
        Metric::Rmse => rmse(y, &p.values, w),
        Metric::Mae => mae(y, &p.values, w),
        Metric::R2 => r2(y, &p.values, w),
        Metric::Mape => mape(y, &p.values, w),
    }
}

/// All metrics for the task, as (name, value) in the order of [`Metric::for_task`].
pub fn evaluate_all(
    task: Task,
    y: &[f64],
    p: &Predictions,
    w: Option<&[f64]>,
) -> Vec<(&'static str, f64)> {
    Metric::for_task(task)
        .iter()
        .map(|&m| (m.name(), evaluate(m, y, p, w)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use whet_data::rng::Rng;

    /// |a − b| ≤ 1e-9, relative for values beyond 1 (MAPE with a zero target is ~1e14).
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[track_caller]
    fn assert_close(got: f64, want: f64) {
        assert!(close(got, want), "got {got:?}, want {want:?}");
    }

    #[track_caller]
    fn assert_nan(got: f64) {
        assert!(got.is_nan(), "got {got:?}, want NaN");
    }

    fn labels(v: &[usize]) -> Vec<f64> {
        v.iter().map(|&c| c as f64).collect()
    }

    // ---- fixed vectors (identical to crates/whet-learn/tests/sklearn_metrics.py) ----

    // Binary, ties in the scores (0.1, 0.35, 0.4 ×3, 0.8), one zero weight.
    const YB: [usize; 12] = [0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0];
    const SB: [f64; 12] = [
        0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.2, 0.9, 0.35, 0.1, 0.65, 0.8,
    ];
    const WB: [f64; 12] = [1.0, 2.0, 0.5, 1.5, 1.0, 3.0, 0.25, 1.0, 2.0, 0.0, 1.0, 0.75];
    // Probabilities with exact 0 and 1, so the clip decides the log loss.
    const PB: [f64; 12] = [
        0.0, 1.0, 0.35, 0.8, 0.4, 0.4, 1.0, 0.9, 0.35, 1.0, 0.65, 0.8,
    ];
    // SB >= 0.5
    const CB: [usize; 12] = [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 1];

    /// The larger binary case with heavy ties (scores on a 0.1 grid).
    fn ties_case() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let y = (0..40)
            .map(|i| f64::from(u8::from((i * 7) % 5 < 2)))
            .collect();
        let s = (0..40).map(|i| f64::from((i * 13) % 11) / 10.0).collect();
        let w = (0..40)
            .map(|i| 0.5 + f64::from((i * 3) % 4) * 0.5)
            .collect();
        (y, s, w)
    }

    // Multiclass, k = 3; row 8 gives its true class probability 0.
    const YM: [usize; 10] = [0, 1, 2, 2, 1, 0, 1, 2, 0, 1];
    const PM: [[f64; 3]; 10] = [
        [0.7, 0.2, 0.1],
        [0.1, 0.6, 0.3],
        [0.2, 0.2, 0.6],
        [0.3, 0.4, 0.3],
        [0.0, 1.0, 0.0],
        [0.5, 0.5, 0.0],
        [0.25, 0.25, 0.5],
        [0.1, 0.1, 0.8],
        [0.0, 0.0, 1.0],
        [0.3, 0.3, 0.4],
    ];
    const WM: [f64; 10] = [1.0, 0.5, 2.0, 1.0, 3.0, 0.0, 1.5, 1.0, 0.25, 2.0];
    // argmax of PM (first on ties)
    const CM: [usize; 10] = [0, 1, 2, 1, 1, 0, 2, 2, 2, 2];

    // Predictions naming a class (2) that never occurs in y.
    const YX: [usize; 6] = [0, 0, 1, 1, 0, 1];
    const CX: [usize; 6] = [0, 2, 1, 0, 0, 2];
    const WX: [f64; 6] = [1.0, 2.0, 0.5, 1.0, 3.0, 1.5];

    // Regression; one target 0 (MAPE divides by eps), one zero weight.
    const YR: [f64; 8] = [3.0, -0.5, 2.0, 7.0, 0.0, 1.5, 4.2, -2.0];
    const PR: [f64; 8] = [2.5, 0.0, 2.0, 8.0, 0.3, 1.0, 5.0, -1.0];
    const WR: [f64; 8] = [1.0, 2.0, 0.5, 1.0, 0.25, 3.0, 1.0, 0.0];

    fn pm_flat() -> Vec<f64> {
        PM.iter().flatten().copied().collect()
    }

    #[test]
    fn binary_ranking_matches_sklearn() {
        let y = labels(&YB);
        // roc_auc_score(YB, SB)
        assert_close(roc_auc(&y, &SB, None), 0.6388888888888888);
        // roc_auc_score(YB, SB, sample_weight=WB)
        assert_close(roc_auc(&y, &SB, Some(&WB)), 0.45384615384615384);
        // average_precision_score(YB, SB)
        assert_close(pr_auc(&y, &SB, None), 0.6626984126984127);
        // average_precision_score(YB, SB, sample_weight=WB)
        assert_close(pr_auc(&y, &SB, Some(&WB)), 0.5872788139646102);

        let (y, s, w) = ties_case();
        // roc_auc_score(YT, ST)
        assert_close(roc_auc(&y, &s, None), 0.5143229166666666);
        // roc_auc_score(YT, ST, sample_weight=WT)
        assert_close(roc_auc(&y, &s, Some(&w)), 0.5712499999999999);
        // average_precision_score(YT, ST)
        assert_close(pr_auc(&y, &s, None), 0.41799885010822513);
        // average_precision_score(YT, ST, sample_weight=WT)
        assert_close(pr_auc(&y, &s, Some(&w)), 0.48988173684774455);
    }

    #[test]
    fn binary_classification_matches_sklearn() {
        let y = labels(&YB);
        // log_loss(YB, PB, labels=[0, 1])
        assert_close(log_loss(&y, &PB, 2, None), 6.614090553290858);
        // log_loss(YB, PB, labels=[0, 1], sample_weight=WB)
        assert_close(log_loss(&y, &PB, 2, Some(&WB)), 1.3029724997446512);
        // The same as two columns [1 - p, p].
        let two: Vec<f64> = PB.iter().flat_map(|&p| [1.0 - p, p]).collect();
        assert_close(log_loss(&y, &two, 2, Some(&WB)), 1.3029724997446512);
        // accuracy_score(YB, CB) / with sample_weight=WB
        assert_close(accuracy(&y, &CB, None), 0.5);
        assert_close(accuracy(&y, &CB, Some(&WB)), 0.44642857142857145);
        // balanced_accuracy_score(YB, CB) / with sample_weight=WB
        assert_close(balanced_accuracy(&y, &CB, 2, None), 0.5);
        assert_close(balanced_accuracy(&y, &CB, 2, Some(&WB)), 0.4602564102564103);
        // f1_score(YB, CB) / with sample_weight=WB
        assert_close(f1_binary(&y, &CB, None), 0.4);
        assert_close(f1_binary(&y, &CB, Some(&WB)), 0.3404255319148936);
        // f1_macro over two classes agrees with sklearn's average='macro' too: mean of both
        // classes' F1, where class 0's F1 is computed like class 1's with labels swapped.
        let flip = |v: &[usize]| v.iter().map(|&c| 1 - c).collect::<Vec<_>>();
        let f0 = f1_binary(&labels(&flip(&YB)), &flip(&CB), None);
        assert_close(f1_macro(&y, &CB, 2, None), (f0 + 0.4) / 2.0);
    }

    #[test]
    fn log_loss_clips_at_float64_eps() {
        // log_loss([0], [[0.0, 1.0]], labels=[0, 1]) == -ln(np.finfo(np.float64).eps)
        // = 36.04365338911715 in sklearn 1.9.1 (1e-15 would give 34.538776394910684).
        assert_close(log_loss(&[0.0], &[1.0], 2, None), 36.04365338911715);
        assert_close(log_loss(&[0.0], &[0.0, 1.0], 2, None), 36.04365338911715);
        // A perfect prediction costs -ln(1 - eps), not 0.
        assert_close(log_loss(&[1.0], &[1.0], 2, None), f64::EPSILON);
    }

    #[test]
    fn multiclass_matches_sklearn() {
        let y = labels(&YM);
        let p = pm_flat();
        // log_loss(YM, PM, labels=[0, 1, 2])
        assert_close(log_loss(&y, &p, 3, None), 4.213251028223379);
        // log_loss(YM, PM, labels=[0, 1, 2], sample_weight=WM)
        assert_close(log_loss(&y, &p, 3, Some(&WM)), 1.3517678250289675);
        // accuracy_score(YM, CM) / with sample_weight=WM
        assert_close(accuracy(&y, &CM, None), 0.6);
        assert_close(accuracy(&y, &CM, Some(&WM)), 0.6122448979591837);
        // balanced_accuracy_score(YM, CM) / with sample_weight=WM
        assert_close(balanced_accuracy(&y, &CM, 3, None), 0.611111111111111);
        assert_close(balanced_accuracy(&y, &CM, 3, Some(&WM)), 0.6833333333333332);
        // f1_score(YM, CM, average='macro') / with sample_weight=WM
        assert_close(f1_macro(&y, &CM, 3, None), 0.6238095238095238);
        assert_close(f1_macro(&y, &CM, 3, Some(&WM)), 0.685241358648841);

        let y = labels(&YX);
        // f1_score(YX, CX, average='macro') / with sample_weight=WX
        assert_close(f1_macro(&y, &CX, 3, None), 0.38888888888888884);
        assert_close(f1_macro(&y, &CX, 3, Some(&WX)), 0.3376623376623377);
        // n_classes larger than the classes present changes nothing.
        assert_close(f1_macro(&y, &CX, 7, Some(&WX)), 0.3376623376623377);
        // balanced_accuracy_score(YX, CX) / with sample_weight=WX
        assert_close(balanced_accuracy(&y, &CX, 3, None), 0.5);
        assert_close(
            balanced_accuracy(&y, &CX, 3, Some(&WX)),
            0.41666666666666663,
        );

        // f1_score([0, 1, 2, 0], [0, 1, 2, 1], average='macro', sample_weight=[1, 1, 0, 1],
        //          zero_division=np.nan) — class 2 occurs only in a zero-weight row.
        let y = [0.0, 1.0, 2.0, 0.0];
        assert_close(
            f1_macro(&y, &[0, 1, 2, 1], 3, Some(&[1.0, 1.0, 0.0, 1.0])),
            0.6666666666666666,
        );
    }

    #[test]
    fn regression_matches_sklearn() {
        // root_mean_squared_error(YR, PR) / with sample_weight=WR
        assert_close(rmse(&YR, &PR, None), 0.6595452979136459);
        assert_close(rmse(&YR, &PR, Some(&WR)), 0.6011892975000231);
        // mean_absolute_error(YR, PR) / with sample_weight=WR
        assert_close(mae(&YR, &PR, None), 0.575);
        assert_close(mae(&YR, &PR, Some(&WR)), 0.5571428571428572);
        // r2_score(YR, PR) / with sample_weight=WR
        assert_close(r2(&YR, &PR, None), 0.9392245895913378);
        assert_close(r2(&YR, &PR, Some(&WR)), 0.9296055685930336);
        // mean_absolute_percentage_error(YR, PR) / with sample_weight=WR (y = 0 → / eps)
        assert_close(mape(&YR, &PR, None), 168884986026393.88);
        assert_close(mape(&YR, &PR, Some(&WR)), 38602282520318.94);
        // mean_absolute_percentage_error(YR[NZ], PR[NZ]) / with sample_weight=WR[NZ],
        // NZ = the rows where YR != 0
        let nz: Vec<usize> = (0..YR.len()).filter(|&i| YR[i] != 0.0).collect();
        let pick = |v: &[f64]| nz.iter().map(|&i| v[i]).collect::<Vec<_>>();
        let (y, p, w) = (pick(&YR), pick(&PR), pick(&WR));
        assert_close(mape(&y, &p, None), 0.3333333333333333);
        assert_close(mape(&y, &p, Some(&w)), 0.41176470588235287);
    }

    #[test]
    fn auc_of_perfect_reversed_and_constant_scores() {
        let y = [0.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        let perfect = [0.1, 0.2, 0.7, 0.3, 0.8, 0.9];
        let reversed: Vec<f64> = perfect.iter().map(|s| -s).collect();
        let w = [1.0, 2.0, 0.5, 3.0, 1.0, 0.25];
        for w in [None, Some(&w[..])] {
            assert_close(roc_auc(&y, &perfect, w), 1.0);
            assert_close(roc_auc(&y, &reversed, w), 0.0);
            assert_close(roc_auc(&y, &[0.4; 6], w), 0.5);
            assert_close(pr_auc(&y, &perfect, w), 1.0);
        }
        // Constant scores: average precision is the weighted share of positives.
        assert_close(pr_auc(&y, &[0.4; 6], None), 0.5);
        // Infinite scores rank like any other.
        assert_close(
            roc_auc(&[0.0, 1.0], &[f64::NEG_INFINITY, f64::INFINITY], None),
            1.0,
        );
        // -0.0 and 0.0 are one threshold.
        assert_close(roc_auc(&[0.0, 1.0], &[-0.0, 0.0], None), 0.5);
    }

    #[test]
    fn auc_equals_pairwise_count() {
        // The Mann-Whitney form: P(score⁺ > score⁻) + ½ P(tie), weighted by w⁺·w⁻.
        let mut rng = Rng::new(7);
        for round in 0..20 {
            let n = 5 + rng.below(60) as usize;
            let y: Vec<f64> = (0..n).map(|_| rng.below(2) as f64).collect();
            let s: Vec<f64> = (0..n).map(|_| rng.below(8) as f64 / 4.0).collect();
            let w: Vec<f64> = (0..n).map(|_| rng.below(5) as f64 * 0.5).collect();
            let (mut num, mut den) = (0.0, 0.0);
            for i in (0..n).filter(|&i| y[i] == 1.0) {
                for j in (0..n).filter(|&j| y[j] == 0.0) {
                    let pair = w[i] * w[j];
                    den += pair;
                    num += pair
                        * match s[i].total_cmp(&s[j]) {
                            std::cmp::Ordering::Greater => 1.0,
                            std::cmp::Ordering::Equal => 0.5,
                            std::cmp::Ordering::Less => 0.0,
                        };
                }
            }
            let got = roc_auc(&y, &s, Some(&w));
            if den > 0.0 {
                assert!(
                    (got - num / den).abs() < 1e-12,
                    "round {round}: {got} vs {num}/{den}"
                );
            } else {
                assert_nan(got);
            }
        }
    }

    /// Rows repeated `wᵢ` times (whole-number weights).
    fn repeat<T: Copy>(v: &[T], w: &[f64]) -> Vec<T> {
        v.iter()
            .zip(w)
            .flat_map(|(&x, &k)| std::iter::repeat_n(x, k as usize))
            .collect()
    }

    #[test]
    fn integer_weights_equal_repeated_rows() {
        let eq = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        let w: Vec<f64> = (0..12).map(|i| f64::from((i * 5) % 4)).collect(); // 0, 1, 2, 3
        let y = labels(&YB);
        let (yr, sr, pr, cr) = (
            repeat(&y, &w),
            repeat(&SB, &w),
            repeat(&PB, &w),
            repeat(&CB, &w),
        );
        eq(roc_auc(&y, &SB, Some(&w)), roc_auc(&yr, &sr, None));
        eq(pr_auc(&y, &SB, Some(&w)), pr_auc(&yr, &sr, None));
        eq(log_loss(&y, &PB, 2, Some(&w)), log_loss(&yr, &pr, 2, None));
        eq(accuracy(&y, &CB, Some(&w)), accuracy(&yr, &cr, None));
        eq(
            balanced_accuracy(&y, &CB, 2, Some(&w)),
            balanced_accuracy(&yr, &cr, 2, None),
        );
        eq(f1_binary(&y, &CB, Some(&w)), f1_binary(&yr, &cr, None));

        let w: Vec<f64> = (0..10).map(|i| f64::from((i * 3) % 4)).collect();
        let y = labels(&YM);
        let rows: Vec<[f64; 3]> = repeat(&PM, &w);
        let pr: Vec<f64> = rows.iter().flatten().copied().collect();
        let (yr, cr) = (repeat(&y, &w), repeat(&CM, &w));
        eq(
            log_loss(&y, &pm_flat(), 3, Some(&w)),
            log_loss(&yr, &pr, 3, None),
        );
        eq(accuracy(&y, &CM, Some(&w)), accuracy(&yr, &cr, None));
        eq(
            balanced_accuracy(&y, &CM, 3, Some(&w)),
            balanced_accuracy(&yr, &cr, 3, None),
        );
        eq(f1_macro(&y, &CM, 3, Some(&w)), f1_macro(&yr, &cr, 3, None));

        let w = [2.0, 1.0, 0.0, 3.0, 2.0, 1.0, 2.0, 1.0];
        let (yr, pr) = (repeat(&YR, &w), repeat(&PR, &w));
        eq(rmse(&YR, &PR, Some(&w)), rmse(&yr, &pr, None));
        eq(mae(&YR, &PR, Some(&w)), mae(&yr, &pr, None));
        eq(r2(&YR, &PR, Some(&w)), r2(&yr, &pr, None));
        let rel = (mape(&YR, &PR, Some(&w)) / mape(&yr, &pr, None) - 1.0).abs();
        assert!(rel < 1e-12);

        // All-ones weights are no weights.
        let ones = [1.0; 8];
        eq(rmse(&YR, &PR, Some(&ones)), rmse(&YR, &PR, None));
    }

    #[test]
    fn undefined_cases_are_nan() {
        // roc_auc_score([1, 1, 1], [0.2, 0.5, 0.9]) is nan in sklearn 1.9.1 too.
        assert_nan(roc_auc(&[1.0, 1.0, 1.0], &[0.2, 0.5, 0.9], None));
        assert_nan(roc_auc(&[0.0, 0.0], &[0.2, 0.5], None));
        // One class only in zero-weight rows.
        assert_nan(roc_auc(&[0.0, 1.0], &[0.2, 0.5], Some(&[1.0, 0.0])));
        // average_precision_score([0, 0], [0.2, 0.9]) is 0.0 (with a warning); whet: NaN.
        assert_nan(pr_auc(&[0.0, 0.0], &[0.2, 0.9], None));
        // f1_score([0, 0], [0, 0], zero_division=np.nan)
        assert_nan(f1_binary(&[0.0, 0.0], &[0, 0], None));
        // r2_score([1, 1], [1, 2], force_finite=False) is -inf; whet: NaN.
        assert_nan(r2(&[1.0, 1.0], &[1.0, 2.0], None));
        assert_nan(r2(
            &[0.1, 0.1, 0.1],
            &[0.1, 0.2, 0.3],
            Some(&[3.0, 0.7, 1.1]),
        ));
        assert_nan(r2(&[5.0], &[5.0], None));
        assert_nan(r2(&[1.0, 2.0], &[1.0, 2.0], Some(&[1.0, 0.0])));

        // Empty input and zero total weight.
        let e: &[f64] = &[];
        assert_nan(roc_auc(e, e, None));
        assert_nan(pr_auc(e, e, None));
        assert_nan(log_loss(e, e, 2, None));
        assert_nan(accuracy(e, &[], None));
        assert_nan(balanced_accuracy(e, &[], 2, None));
        assert_nan(f1_binary(e, &[], None));
        assert_nan(f1_macro(e, &[], 3, None));
        assert_nan(rmse(e, e, None));
        assert_nan(mae(e, e, None));
        assert_nan(r2(e, e, None));
        assert_nan(mape(e, e, None));
        let z = Some(&[0.0, 0.0][..]);
        assert_nan(accuracy(&[0.0, 1.0], &[0, 1], z));
        assert_nan(log_loss(&[0.0, 1.0], &[0.3, 0.6], 2, z));
        assert_nan(rmse(&[0.0, 1.0], &[0.3, 0.6], z));
        assert_nan(balanced_accuracy(&[0.0, 1.0], &[0, 1], 2, z));
        assert_nan(f1_macro(&[0.0, 1.0], &[0, 1], 2, z));
    }

    #[test]
    fn invalid_input_is_nan() {
        let y = [0.0, 1.0, 1.0];
        let s = [0.1, 0.5, 0.9];
        // Mismatched lengths.
        assert_nan(roc_auc(&y, &s[..2], None));
        assert_nan(roc_auc(&y, &s, Some(&[1.0])));
        assert_nan(pr_auc(&y[..2], &s, None));
        assert_nan(log_loss(&y, &s[..2], 2, None));
        assert_nan(log_loss(&y, &[0.5; 8], 3, None));
        assert_nan(accuracy(&y, &[0, 1], None));
        assert_nan(accuracy(&y, &[0, 1, 1], Some(&[1.0; 4])));
        assert_nan(balanced_accuracy(&y, &[0, 1], 2, None));
        assert_nan(f1_binary(&y, &[0, 1], None));
        assert_nan(f1_macro(&y, &[0, 1, 1], 2, Some(&[1.0, 1.0])));
        assert_nan(rmse(&y, &s[..2], None));
        assert_nan(mae(&y, &s, Some(&[1.0])));
        assert_nan(r2(&y[..1], &s, None));
        assert_nan(mape(&y, &s, Some(&[])));
        // Labels outside the classes, NaN scores, probabilities outside [0, 1].
        assert_nan(roc_auc(&[0.0, 2.0], &[0.1, 0.2], None));
        assert_nan(roc_auc(&[0.0, 0.5], &[0.1, 0.2], None));
        assert_nan(roc_auc(&[0.0, 1.0], &[0.1, f64::NAN], None));
        assert_nan(pr_auc(&[0.0, f64::NAN], &[0.1, 0.2], None));
        assert_nan(log_loss(&[0.0, 2.0], &[0.1, 0.2], 2, None));
        assert_nan(log_loss(&[0.0, 1.0], &[0.1, 1.2], 2, None));
        assert_nan(log_loss(&[0.0, 1.0], &[0.1, f64::NAN], 2, None));
        assert_nan(log_loss(&[0.0, 0.0], &[1.0, 1.0], 1, None));
        assert_nan(accuracy(&[0.0, -1.0], &[0, 1], None));
        assert_nan(accuracy(&[0.0, 1.5], &[0, 1], None));
        assert_nan(balanced_accuracy(&[0.0, 3.0], &[0, 1], 3, None));
        assert_nan(balanced_accuracy(&[0.0, 1.0], &[0, 3], 3, None));
        assert_nan(f1_binary(&[0.0, 2.0], &[0, 1], None));
        assert_nan(f1_binary(&[0.0, 1.0], &[0, 2], None));
        assert_nan(f1_macro(&[0.0, 1.0], &[0, 1], 0, None));
        // NaN weights propagate.
        assert_nan(roc_auc(&y, &s, Some(&[1.0, f64::NAN, 1.0])));
        assert_nan(rmse(&y, &s, Some(&[1.0, f64::NAN, 1.0])));
    }

    #[test]
    fn metric_names_round_trip() {
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.name()), Some(m));
            assert_eq!(
                serde_json::to_string(&m).unwrap(),
                format!("\"{}\"", m.name())
            );
            assert_eq!(m.to_string(), m.name());
        }
        assert_eq!(Metric::parse("AUC"), Some(Metric::RocAuc));
        assert_eq!(Metric::parse("roc-auc"), Some(Metric::RocAuc));
        assert_eq!(Metric::parse("logloss"), Some(Metric::LogLoss));
        assert_eq!(Metric::parse("acc"), Some(Metric::Accuracy));
        assert_eq!(Metric::parse("average_precision"), Some(Metric::PrAuc));
        assert_eq!(Metric::parse("Macro F1"), Some(Metric::F1Macro));
        assert_eq!(Metric::parse("l2"), None);
        assert_eq!(Metric::parse("mse"), None);
        assert_eq!(Metric::parse(""), None);
        assert!(Metric::RocAuc.higher_is_better() && Metric::R2.higher_is_better());
        assert!(!Metric::LogLoss.higher_is_better() && !Metric::Mape.higher_is_better());
    }

    #[test]
    fn metrics_per_task() {
        let names = |t| {
            Metric::for_task(t)
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(Task::Binary),
            [
                "roc_auc",
                "pr_auc",
                "log_loss",
                "accuracy",
                "balanced_accuracy",
                "f1"
            ]
        );
        assert_eq!(
            names(Task::Multiclass),
            ["log_loss", "accuracy", "balanced_accuracy", "f1_macro"]
        );
        assert_eq!(names(Task::Regression), ["rmse", "mae", "r2", "mape"]);
        for t in [Task::Binary, Task::Multiclass, Task::Regression] {
            assert!(Metric::for_task(t).contains(&Metric::default_for(t)));
        }
        assert_eq!(Metric::default_for(Task::Binary), Metric::RocAuc);
        assert_eq!(Metric::default_for(Task::Multiclass), Metric::LogLoss);
        assert_eq!(Metric::default_for(Task::Regression), Metric::Rmse);
    }

    fn preds(n_outputs: usize, values: Vec<f64>) -> Predictions {
        Predictions {
            n_rows: values.len() / n_outputs,
            n_outputs,
            values,
        }
    }

    #[test]
    fn evaluate_from_predictions() {
        let y = labels(&YB);
        let w = Some(&WB[..]);
        let p = preds(1, SB.to_vec());
        let all = evaluate_all(Task::Binary, &y, &p, w);
        let direct = [
            roc_auc(&y, &SB, w),
            pr_auc(&y, &SB, w),
            log_loss(&y, &SB, 2, w),
            accuracy(&y, &CB, w),
            balanced_accuracy(&y, &CB, 2, w),
            f1_binary(&y, &CB, w),
        ];
        assert_eq!(all.len(), direct.len());
        for ((name, got), (m, want)) in all.iter().zip(BINARY_METRICS.iter().zip(direct)) {
            assert_eq!(*name, m.name());
            assert_eq!(got.to_bits(), want.to_bits(), "{name}");
        }
        // Two-column binary predictions give the same.
        let p2 = preds(2, SB.iter().flat_map(|&s| [1.0 - s, s]).collect());
        for m in BINARY_METRICS {
            assert_close(evaluate(*m, &y, &p2, w), evaluate(*m, &y, &p, w));
        }

        let y = labels(&YM);
        let p = preds(3, pm_flat());
        let all = evaluate_all(Task::Multiclass, &y, &p, Some(&WM));
        let want = [
            1.3517678250289675,
            0.6122448979591837,
            0.6833333333333332,
            0.685241358648841,
        ];
        for ((_, got), want) in all.iter().zip(want) {
            assert_close(*got, want);
        }
        assert_nan(evaluate(Metric::RocAuc, &y, &p, None));
        assert_nan(evaluate(Metric::Rmse, &y, &p, None));

        let p = preds(1, PR.to_vec());
        let all = evaluate_all(Task::Regression, &YR, &p, Some(&WR));
        let want = [
            0.6011892975000231,
            0.5571428571428572,
            0.9296055685930336,
            38602282520318.94,
        ];
        for ((_, got), want) in all.iter().zip(want) {
            assert_close(*got, want);
        }

        // Predictions that do not fit y.
        let bad = Predictions {
            n_rows: 8,
            n_outputs: 1,
            values: vec![0.0; 7],
        };
        assert_nan(evaluate(Metric::Rmse, &YR, &bad, None));
        let bad = Predictions {
            n_rows: 8,
            n_outputs: 0,
            values: vec![],
        };
        assert_nan(evaluate(Metric::Accuracy, &YR, &bad, None));
        assert_nan(evaluate(
            Metric::Mae,
            &YR[..7],
            &preds(1, PR.to_vec()),
            None,
        ));
    }
}

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

/// Precision, recall, F1 and support of one class, as `sklearn.metrics.
/// precision_recall_fscore_support(..., zero_division=np.nan)` gives them per class.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// `tp / (tp + fp)`; NaN when the class is never predicted.
    pub precision: f64,
    /// `tp / (tp + fn)`; NaN when the class never occurs in the labels.
    pub recall: f64,
    /// NaN when the class occurs neither in the labels nor in the predictions.
    pub f1: f64,
    /// Weighted count of rows labelled with the class.
    pub support: f64,
}

/// Per-class precision, recall, F1 and support for classes `0..n_classes`,
/// `sklearn.metrics.precision_recall_fscore_support(y, pred_class, labels=range(n_classes),
/// sample_weight=w, zero_division=np.nan)`. `None` for invalid input (see the module docs).
pub fn class_scores(
    y: &[f64],
    pred_class: &[usize],
    n_classes: usize,
    w: Option<&[f64]>,
) -> Option<Vec<ClassScores>> {
    let counts = class_counts(y, pred_class, n_classes, w)?;
    let ratio = |a: f64, b: f64| if b != 0.0 { a / b } else { f64::NAN };
    Some(
        counts
            .into_iter()
            .map(|c @ [tp, fp, fn_]| ClassScores {
                precision: ratio(tp, tp + fp),
                recall: ratio(tp, tp + fn_),
                f1: f1_of(c).unwrap_or(f64::NAN),
                support: tp + fn_,
            })
            .collect(),
    )
}

/// Precision of class 1, `sklearn.metrics.precision_score(y, pred_class, sample_weight=w,
/// zero_division=np.nan)`: NaN when nothing is predicted 1.
pub fn precision_binary(y: &[f64], pred_class: &[usize], w: Option<&[f64]>) -> f64 {
    class_scores(y, pred_class, 2, w).map_or(f64::NAN, |c| c[1].precision)
}

/// Recall of class 1, `sklearn.metrics.recall_score(y, pred_class, sample_weight=w,
/// zero_division=np.nan)`: NaN when no row is labelled 1.
pub fn recall_binary(y: &[f64], pred_class: &[usize], w: Option<&[f64]>) -> f64 {
    class_scores(y, pred_class, 2, w).map_or(f64::NAN, |c| c[1].recall)
}

/// Support-weighted mean of the per-class F1 scores, `sklearn.metrics.f1_score(y,
/// pred_class, average="weighted", sample_weight=w)`. A class whose F1 is 0/0 has no
/// support, so it weighs nothing. NaN when no row has positive weight or for invalid input.
pub fn f1_weighted(y: &[f64], pred_class: &[usize], n_classes: usize, w: Option<&[f64]>) -> f64 {
    let Some(scores) = class_scores(y, pred_class, n_classes, w) else {
        return f64::NAN;
    };
    let (mut sum, mut total) = (0.0, 0.0);
    for c in scores.iter().filter(|c| c.support != 0.0) {
        sum += c.support * if c.f1.is_nan() { 0.0 } else { c.f1 };
        total += c.support;
    }
    if total == 0.0 { f64::NAN } else { sum / total }
}

/// Brier score of binary probabilities, `sklearn.metrics.brier_score_loss(y, prob,
/// sample_weight=w)`: the weighted mean of `(prob − y)²`; `prob[i]` is p(class 1).
/// NaN for labels outside {0, 1}, probabilities outside [0, 1] and the common undefined
/// cases (see the module docs).
pub fn brier(y: &[f64], prob: &[f64], w: Option<&[f64]>) -> f64 {
    let n = y.len();
    if prob.len() != n || !weights_fit(n, w) {
        return f64::NAN;
    }
    if y.iter().any(|&v| binary_label(v).is_none()) || prob.iter().any(|p| !(0.0..=1.0).contains(p))
    {
        return f64::NAN;
    }
    weighted_mean(n, w, |i| (prob[i] - y[i]).powi(2))
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
mod tests;

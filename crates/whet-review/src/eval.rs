//! A model's predictions on labelled rows, and the metrics a review reports for its task.
//!
//! Every metric comes from `whet_learn::metrics` (one definition of each, shared with
//! training) except the expected calibration error, which is a review concept and lives in
//! [`crate::curves`]. All metrics take the row weights of a bootstrap resample.

use serde::Serialize;
use whet_data::Task;
use whet_learn::Predictions;
use whet_learn::metrics as m;

use crate::curves::{CALIBRATION_BINS, calibration_bin, confidence_and_outcome, ece};
use crate::ranked::Ranked;

/// One metric of a review: its name in JSON, its label for people, and its direction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricDef {
    pub name: String,
    pub label: String,
    pub higher_is_better: bool,
}

fn def(name: &str, label: &str, higher_is_better: bool) -> MetricDef {
    MetricDef {
        name: name.into(),
        label: label.into(),
        higher_is_better,
    }
}

/// Labelled rows with a model's predictions. Binary predictions hold p(class 1) (one output);
/// multiclass row-major class probabilities; regression the predicted values.
#[derive(Clone, Debug)]
pub struct Scored {
    pub task: Task,
    pub classes: Vec<String>,
    /// Class index (as f64) or target value, in the data's row order.
    pub y: Vec<f64>,
    pub pred: Predictions,
    /// Binary: the probability at or above which a row is called positive.
    pub threshold: f64,
    pub pred_class: Vec<usize>,
    /// Binary: rows by descending score, so the ranking metrics' sort of a resample meets
    /// sorted input (linear time); `y_sorted`/`s_sorted` follow this order.
    order: Vec<u32>,
    y_sorted: Vec<f64>,
    s_sorted: Vec<f64>,
    mape_defined: bool,
    terms: RowTerms,
    /// Binary: the rows in score order for the one-pass resample metrics.
    ranked: Ranked,
}

/// Each row's share of every metric, computed once, so that a bootstrap resample's metrics
/// are weighted sums over one pass of the rows (and, for the ranking metrics, one pass over
/// the score order) instead of a pass and a sort per metric. `Scored::values` (through
/// `whet_learn::metrics`) stays the definition; a test holds the two together.
#[derive(Clone, Debug, Default)]
struct RowTerms {
    /// False when a label or prediction is outside the classes: every metric is NaN then,
    /// as `whet_learn::metrics` has it.
    valid: bool,
    /// Classification: the log loss term. Regression: the squared error.
    loss: Vec<f64>,
    /// Binary: the Brier term. Regression: the absolute error.
    second: Vec<f64>,
    /// Regression: the absolute percentage error (when MAPE is defined).
    ape: Vec<f64>,
    /// Regression: the target minus its mean (centred, so the variance sum keeps precision).
    y_centred: Vec<f64>,
    /// Classification: true and predicted class.
    truth: Vec<u32>,
    predicted: Vec<u32>,
    /// Classification: the calibration bin of the row's confidence, and outcome − confidence.
    ece_bin: Vec<u8>,
    ece_gap: Vec<f64>,
}

/// Sums a resample gathers in its pass over the rows.
#[derive(Default)]
struct Sums {
    weight: f64,
    loss: f64,
    second: f64,
    ape: f64,
    y: f64,
    y2: f64,
    correct: f64,
    y_min: f64,
    y_max: f64,
    ece_gap: [f64; CALIBRATION_BINS],
}

impl Scored {
    /// `pred` as a model gives it; a binary model's two-column output is reduced to p(1).
    pub fn new(
        task: Task,
        classes: Vec<String>,
        y: Vec<f64>,
        pred: Predictions,
        threshold: f64,
    ) -> Scored {
        let pred = if task == Task::Binary && pred.n_outputs == 2 {
            Predictions {
                n_rows: pred.n_rows,
                n_outputs: 1,
                values: pred.values.chunks_exact(2).map(|r| r[1]).collect(),
            }
        } else {
            pred
        };
        let pred_class = match task {
            Task::Binary => pred
                .values
                .iter()
                .map(|&p| usize::from(p >= threshold))
                .collect(),
            Task::Multiclass => pred.classes(),
            Task::Regression => Vec::new(),
        };
        let (mut order, mut y_sorted, mut s_sorted) = (Vec::new(), Vec::new(), Vec::new());
        if task == Task::Binary {
            order = (0..y.len() as u32).collect();
            order.sort_by(|&a, &b| pred.values[b as usize].total_cmp(&pred.values[a as usize]));
            y_sorted = order.iter().map(|&r| y[r as usize]).collect();
            s_sorted = order.iter().map(|&r| pred.values[r as usize]).collect();
        }
        let mape_defined = task == Task::Regression && y.iter().all(|v| v.abs() > 1e-12);
        let mut scored = Scored {
            task,
            classes,
            y,
            pred,
            threshold,
            pred_class,
            order,
            y_sorted,
            s_sorted,
            mape_defined,
            terms: RowTerms::default(),
            ranked: Ranked::default(),
        };
        scored.terms = scored.row_terms();
        if task == Task::Binary && scored.terms.valid {
            scored.ranked = Ranked::new(&scored.order, &scored.y, &scored.pred.values, threshold);
        }
        scored
    }

    fn row_terms(&self) -> RowTerms {
        let n = self.n_rows();
        let y = &self.y;
        let p = &self.pred.values;
        let eps = f64::EPSILON;
        match self.task {
            Task::Regression => {
                let mean = y.iter().sum::<f64>() / n.max(1) as f64;
                RowTerms {
                    valid: p.len() == n,
                    loss: (0..n).map(|i| (y[i] - p[i]).powi(2)).collect(),
                    second: (0..n).map(|i| (y[i] - p[i]).abs()).collect(),
                    ape: if self.mape_defined {
                        (0..n)
                            .map(|i| (p[i] - y[i]).abs() / y[i].abs().max(eps))
                            .collect()
                    } else {
                        Vec::new()
                    },
                    y_centred: y.iter().map(|v| v - mean).collect(),
                    ..RowTerms::default()
                }
            }
            Task::Binary | Task::Multiclass => {
                let k = self.n_classes();
                let truth: Vec<u32> = y.iter().map(|&v| v as u32).collect();
                let labels_ok = y
                    .iter()
                    .all(|&v| v >= 0.0 && v.fract() == 0.0 && (v as usize) < k);
                let probs_ok = p.iter().all(|v| (0.0..=1.0).contains(v));
                let valid = labels_ok
                    && probs_ok
                    && self.pred_class.iter().all(|&c| c < k)
                    && p.len() == n * self.pred.n_outputs;
                if !valid {
                    return RowTerms::default();
                }
                let binary = self.task == Task::Binary;
                let loss = (0..n)
                    .map(|i| {
                        let c = truth[i] as usize;
                        let pi = if binary {
                            if c == 1 { p[i] } else { 1.0 - p[i] }
                        } else {
                            p[i * k + c]
                        };
                        -pi.clamp(eps, 1.0 - eps).ln()
                    })
                    .collect();
                let second = if binary {
                    (0..n).map(|i| (p[i] - y[i]).powi(2)).collect()
                } else {
                    Vec::new()
                };
                let (mut ece_bin, mut ece_gap) = (Vec::with_capacity(n), Vec::with_capacity(n));
                for i in 0..n {
                    let (c, o) = confidence_and_outcome(self, i);
                    ece_bin.push(calibration_bin(c) as u8);
                    ece_gap.push(o - c);
                }
                RowTerms {
                    valid,
                    loss,
                    second,
                    truth,
                    predicted: self.pred_class.iter().map(|&c| c as u32).collect(),
                    ece_bin,
                    ece_gap,
                    ..RowTerms::default()
                }
            }
        }
    }

    /// The metrics of [`Scored::metric_defs`] on a bootstrap resample given as row counts (data
    /// row order): the same values as `values(Some(counts as weights))` up to the order of
    /// floating-point sums, in one pass over the rows.
    pub fn resample_values(&self, counts: &[u8]) -> Vec<f64> {
        let t = &self.terms;
        let undefined = || vec![f64::NAN; self.metric_defs().len()];
        if !t.valid || counts.len() != self.n_rows() {
            return undefined();
        }
        if self.task == Task::Binary {
            return self.ranked.values(counts).to_vec();
        }
        let k = self.n_classes();
        // Per class: true positives, false positives, false negatives.
        let mut class = vec![[0.0f64; 3]; if self.task == Task::Regression { 0 } else { k }];
        let mut s = Sums {
            y_min: f64::INFINITY,
            y_max: f64::NEG_INFINITY,
            ..Sums::default()
        };
        match self.task {
            Task::Regression => {
                // Branch-free: a third of the rows are not drawn, at random, which a branch
                // would mispredict; their weight 0 adds nothing.
                for (i, &c) in counts.iter().enumerate() {
                    let w = f64::from(c);
                    s.weight += w;
                    s.loss += w * t.loss[i];
                    s.second += w * t.second[i];
                    let yc = t.y_centred[i];
                    s.y += w * yc;
                    s.y2 += w * yc * yc;
                    let drawn = c != 0;
                    s.y_min = s.y_min.min(if drawn { yc } else { f64::INFINITY });
                    s.y_max = s.y_max.max(if drawn { yc } else { f64::NEG_INFINITY });
                }
                if self.mape_defined {
                    s.ape = counts
                        .iter()
                        .zip(&t.ape)
                        .map(|(&c, a)| f64::from(c) * a)
                        .sum();
                }
            }
            Task::Binary | Task::Multiclass => {
                for (i, &c) in counts.iter().enumerate() {
                    let w = f64::from(c);
                    s.weight += w;
                    s.loss += w * t.loss[i];
                    if let Some(b) = t.second.get(i) {
                        s.second += w * b;
                    }
                    s.ece_gap[t.ece_bin[i] as usize] += w * t.ece_gap[i];
                    let (truth, pred) = (t.truth[i] as usize, t.predicted[i] as usize);
                    if truth == pred {
                        s.correct += w;
                        class[truth][0] += w;
                    } else {
                        class[pred][1] += w;
                        class[truth][2] += w;
                    }
                }
            }
        }
        if s.weight == 0.0 {
            return undefined();
        }
        let mean = |x: f64| x / s.weight;
        let ratio = |a: f64, b: f64| if b != 0.0 { a / b } else { f64::NAN };
        let f1 = |[tp, fp, fn_]: [f64; 3]| ratio(2.0 * tp, 2.0 * tp + fp + fn_);
        let ece = || s.ece_gap.iter().map(|g| g.abs()).sum::<f64>() / s.weight;
        match self.task {
            Task::Regression => {
                let den = s.y2 - s.y * s.y / s.weight;
                let r2 = if s.y_min == s.y_max || den <= 0.0 {
                    f64::NAN
                } else {
                    1.0 - s.loss / den
                };
                let mut v = vec![mean(s.loss).sqrt(), mean(s.second), r2];
                if self.mape_defined {
                    v.push(mean(s.ape));
                }
                v
            }
            // Returned before the pass above.
            Task::Binary => self.ranked.values(counts).to_vec(),
            Task::Multiclass => {
                let f1s: Vec<f64> = class.iter().map(|&c| f1(c)).collect();
                let defined: Vec<f64> = f1s.iter().copied().filter(|v| !v.is_nan()).collect();
                let macro_f1 = if defined.is_empty() {
                    f64::NAN
                } else {
                    defined.iter().sum::<f64>() / defined.len() as f64
                };
                let (mut weighted, mut support_total) = (0.0, 0.0);
                for (c, f) in class.iter().zip(&f1s) {
                    let support = c[0] + c[2];
                    if support != 0.0 {
                        weighted += support * if f.is_nan() { 0.0 } else { *f };
                        support_total += support;
                    }
                }
                let mut v = vec![
                    mean(s.loss),
                    mean(s.correct),
                    macro_f1,
                    ratio(weighted, support_total),
                    ece(),
                ];
                for (c, f) in class.iter().zip(&f1s) {
                    v.extend([ratio(c[0], c[0] + c[1]), ratio(c[0], c[0] + c[2]), *f]);
                }
                v
            }
        }
    }

    /// Metric `k` of [`Scored::metric_defs`] on a resample.
    pub fn resample_value(&self, counts: &[u8], k: usize) -> f64 {
        self.resample_values(counts)
            .get(k)
            .copied()
            .unwrap_or(f64::NAN)
    }

    /// Binary: the rows by descending score (ties in row order); empty for other tasks.
    pub fn score_order(&self) -> &[u32] {
        &self.order
    }

    /// False when a label or prediction lies outside the classes (every metric is NaN).
    pub fn labels_valid(&self) -> bool {
        self.terms.valid
    }

    pub fn n_rows(&self) -> usize {
        self.y.len()
    }

    /// 2 for binary, the class count for multiclass, 1 for regression.
    pub fn n_classes(&self) -> usize {
        match self.task {
            Task::Binary => 2,
            Task::Multiclass => self.classes.len(),
            Task::Regression => 1,
        }
    }

    /// The rows `rows` only (a slice of the data), scored the same way.
    pub fn subset(&self, rows: &[u32]) -> Scored {
        let k = self.pred.n_outputs;
        let y = rows.iter().map(|&r| self.y[r as usize]).collect();
        let values = rows
            .iter()
            .flat_map(|&r| self.pred.row(r as usize).iter().copied())
            .collect();
        let pred = Predictions {
            n_rows: rows.len(),
            n_outputs: k,
            values,
        };
        Scored::new(self.task, self.classes.clone(), y, pred, self.threshold)
    }

    /// The metrics reported for this task, in order; multiclass adds precision, recall and F1
    /// per class after the summary metrics.
    pub fn metric_defs(&self) -> Vec<MetricDef> {
        match self.task {
            Task::Binary => vec![
                def("roc_auc", "ROC AUC", true),
                def("pr_auc", "PR AUC (average precision)", true),
                def("log_loss", "log loss", false),
                def("brier", "Brier score", false),
                def("accuracy", "accuracy", true),
                def("precision", "precision", true),
                def("recall", "recall", true),
                def("f1", "F1", true),
                def("ece", "expected calibration error", false),
            ],
            Task::Multiclass => {
                let mut d = vec![
                    def("log_loss", "log loss", false),
                    def("accuracy", "accuracy", true),
                    def("f1_macro", "macro F1", true),
                    def("f1_weighted", "weighted F1", true),
                    def("ece", "expected calibration error (top class)", false),
                ];
                for c in &self.classes {
                    d.push(def(
                        &format!("precision[{c}]"),
                        &format!("precision of {c}"),
                        true,
                    ));
                    d.push(def(
                        &format!("recall[{c}]"),
                        &format!("recall of {c}"),
                        true,
                    ));
                    d.push(def(&format!("f1[{c}]"), &format!("F1 of {c}"), true));
                }
                d
            }
            Task::Regression => {
                let mut d = vec![
                    def("rmse", "RMSE", false),
                    def("mae", "MAE", false),
                    def("r2", "R²", true),
                ];
                if self.mape_defined {
                    d.push(def("mape", "MAPE", false));
                }
                d
            }
        }
    }

    /// The metrics of [`Scored::metric_defs`] with row weights `w` (data row order), or
    /// unweighted.
    pub fn values(&self, w: Option<&[f64]>) -> Vec<f64> {
        let y = &self.y;
        let p = &self.pred.values;
        match self.task {
            Task::Binary => {
                let sorted_w: Option<Vec<f64>> =
                    w.map(|w| self.order.iter().map(|&r| w[r as usize]).collect());
                let auc = m::roc_auc(&self.y_sorted, &self.s_sorted, sorted_w.as_deref());
                let ap = m::pr_auc(&self.y_sorted, &self.s_sorted, sorted_w.as_deref());
                let scores = m::class_scores(y, &self.pred_class, 2, w);
                let (pr, re, f1) = scores.map_or((f64::NAN, f64::NAN, f64::NAN), |c| {
                    (c[1].precision, c[1].recall, c[1].f1)
                });
                vec![
                    auc,
                    ap,
                    m::log_loss(y, p, 2, w),
                    m::brier(y, p, w),
                    m::accuracy(y, &self.pred_class, w),
                    pr,
                    re,
                    f1,
                    ece(self, w),
                ]
            }
            Task::Multiclass => {
                let k = self.classes.len();
                let mut v = vec![
                    m::log_loss(y, p, k, w),
                    m::accuracy(y, &self.pred_class, w),
                    m::f1_macro(y, &self.pred_class, k, w),
                    m::f1_weighted(y, &self.pred_class, k, w),
                    ece(self, w),
                ];
                match m::class_scores(y, &self.pred_class, k, w) {
                    Some(c) => {
                        for s in c {
                            v.extend([s.precision, s.recall, s.f1]);
                        }
                    }
                    None => v.extend(std::iter::repeat_n(f64::NAN, 3 * k)),
                }
                v
            }
            Task::Regression => {
                let mut v = vec![m::rmse(y, p, w), m::mae(y, p, w), m::r2(y, p, w)];
                if self.mape_defined {
                    v.push(m::mape(y, p, w));
                }
                v
            }
        }
    }

    /// The position of a named metric (`metric_defs` names) in `values`.
    pub fn metric_index(&self, name: &str) -> Option<usize> {
        self.metric_defs().iter().position(|d| d.name == name)
    }

    /// The value of one named metric (`metric_defs` names) on all rows.
    pub fn value_of(&self, name: &str) -> Option<f64> {
        Some(self.values(None)[self.metric_index(name)?])
    }

    /// Per-row loss whose mean the permutation importance compares: log loss for
    /// classification, squared error for regression.
    pub fn row_loss(&self, pred: &Predictions) -> Vec<f64> {
        let eps = f64::EPSILON;
        (0..self.n_rows())
            .map(|i| {
                let r = pred.row(i);
                match self.task {
                    Task::Binary => {
                        let p1 = if r.len() == 2 { r[1] } else { r[0] };
                        let p = if self.y[i] == 1.0 { p1 } else { 1.0 - p1 };
                        -p.clamp(eps, 1.0 - eps).ln()
                    }
                    Task::Multiclass => -r[self.y[i] as usize].clamp(eps, 1.0 - eps).ln(),
                    Task::Regression => (r[0] - self.y[i]).powi(2),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_values_match_the_learn_metrics_and_weights_follow_rows() {
        let y = vec![0.0, 1.0, 1.0, 0.0, 1.0, 0.0];
        let p = vec![0.2, 0.7, 0.4, 0.6, 0.9, 0.1];
        let s = Scored::new(
            Task::Binary,
            vec!["no".into(), "yes".into()],
            y.clone(),
            Predictions {
                n_rows: 6,
                n_outputs: 1,
                values: p.clone(),
            },
            0.5,
        );
        let v = s.values(None);
        // Hand count: positives {0.7, 0.4, 0.9}, negatives {0.2, 0.6, 0.1}: 8 of 9 pairs.
        assert!((v[0] - 8.0 / 9.0).abs() < 1e-12);
        // Weights in data order reach the right rows despite the internal sort.
        let w = [1.0, 0.0, 2.0, 1.0, 0.0, 3.0];
        let want = m::roc_auc(&y, &p, Some(&w));
        assert!((s.values(Some(&w))[0] - want).abs() < 1e-12);
        // Threshold 0.5: predicted 1 for 0.7, 0.6, 0.9 → tp 2, fp 1, fn 1.
        assert!((v[5] - 2.0 / 3.0).abs() < 1e-12 && (v[6] - 2.0 / 3.0).abs() < 1e-12);
    }

    /// The one-pass resample path gives what `whet_learn::metrics` gives with the counts as
    /// weights, for every task, with ties in the scores and rows left out of the resample.
    #[test]
    fn resample_values_agree_with_the_weighted_metrics() {
        let mut rng = whet_data::rng::Rng::new(17);
        let n = 600;
        let cases: Vec<(Task, Vec<String>, usize)> = vec![
            (Task::Binary, vec!["a".into(), "b".into()], 1),
            (
                Task::Multiclass,
                vec!["x".into(), "y".into(), "z".into()],
                3,
            ),
            (Task::Regression, vec![], 1),
        ];
        for (task, classes, k) in cases {
            let y: Vec<f64> = (0..n)
                .map(|_| match task {
                    Task::Regression => 1.0 + 10.0 * rng.next_f64(),
                    _ => rng.below(k.max(2) as u64) as f64,
                })
                .collect();
            let values: Vec<f64> = match task {
                // Scores rounded to two decimals: many ties.
                Task::Binary => (0..n)
                    .map(|_| (rng.next_f64() * 100.0).round() / 100.0)
                    .collect(),
                Task::Multiclass => (0..n)
                    .flat_map(|_| {
                        let raw: Vec<f64> = (0..k).map(|_| rng.next_f64() + 0.01).collect();
                        let total: f64 = raw.iter().sum();
                        raw.into_iter().map(move |v| v / total)
                    })
                    .collect(),
                Task::Regression => y.iter().map(|v| v + rng.next_f64() - 0.5).collect(),
            };
            let s = Scored::new(
                task,
                classes,
                y,
                Predictions {
                    n_rows: n,
                    n_outputs: values.len() / n,
                    values,
                },
                0.5,
            );
            for round in 0..5 {
                let counts: Vec<u8> = (0..n).map(|_| rng.below(3) as u8).collect();
                let w: Vec<f64> = counts.iter().map(|&c| f64::from(c)).collect();
                let (fast, slow) = (s.resample_values(&counts), s.values(Some(&w)));
                for (k, v) in fast.iter().enumerate() {
                    let one = s.resample_value(&counts, k);
                    assert!(
                        (one - v).abs() <= 1e-12 * v.abs().max(1.0) || (one.is_nan() && v.is_nan())
                    );
                }
                assert_eq!(fast.len(), slow.len());
                for (j, (a, b)) in fast.iter().zip(&slow).enumerate() {
                    let name = &s.metric_defs()[j].name;
                    assert!(
                        (a - b).abs() <= 1e-9 * b.abs().max(1.0) || (a.is_nan() && b.is_nan()),
                        "{task:?} round {round} {name}: one pass {a} vs weighted {b}"
                    );
                }
            }
            let ones = vec![1u8; n];
            let all: Vec<f64> = s.values(None);
            for (a, b) in s.resample_values(&ones).iter().zip(&all) {
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                    "{task:?}: {a} vs {b}"
                );
            }
        }
    }
}

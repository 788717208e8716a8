//! A model's predictions on labelled rows, and the metrics a review reports for its task.
//!
//! Every metric comes from `whet_learn::metrics` (one definition of each, shared with
//! training) except the expected calibration error, which is a review concept and lives in
//! [`crate::curves`]. All metrics take the row weights of a bootstrap resample.

use serde::Serialize;
use whet_data::Task;
use whet_learn::Predictions;
use whet_learn::metrics as m;

use crate::curves::ece;

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
        Scored {
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
        }
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

    /// The value of one named metric (`metric_defs` names), unweighted or weighted.
    pub fn value_of(&self, name: &str, w: Option<&[f64]>) -> Option<f64> {
        let i = self.metric_defs().iter().position(|d| d.name == name)?;
        Some(self.values(w)[i])
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
}

//! What drives the model: gain importance (trees), permutation importance with intervals,
//! SHAP values (TreeSHAP for tree models, exact for linear ones) and a few individual
//! explanations. Everything is per input column: features a column expands into (date parts,
//! hashed text tokens) are permuted together and their SHAP values summed, which SHAP's
//! additivity makes exact.

use rayon::prelude::*;
use serde::Serialize;
use whet_data::Task;
use whet_data::prep::{FeatureData, Features};
use whet_data::rng::Rng;
use whet_learn::model::{Model, Predictor};

use crate::bootstrap::Estimate;
use crate::eval::Scored;
use crate::stats::normal_quantile;

/// Permutation importance and SHAP use at most this many rows (a seeded sample).
pub const MAX_EXPLAIN_ROWS: usize = 5_000;
/// Rows drawn in the beeswarm per column.
const BEESWARM_ROWS: usize = 400;
/// Permutations per column.
const REPEATS: usize = 5;

pub use whet_data::prep::{ColumnGroup, column_groups};

#[derive(Clone, Debug, Serialize)]
pub struct ColumnImportance {
    pub column: String,
    /// Share of the total split gain (0..1), trees only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gain_share: Option<f64>,
    /// Mean increase of the per-row loss (log loss or squared error) when the column is
    /// shuffled, with its interval.
    pub permutation: Estimate,
    /// Mean |SHAP| on the explained rows (raw-score units), when SHAP is available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_abs_shap: Option<f64>,
}

/// SHAP values per column for the explained rows.
#[derive(Clone, Debug, Serialize)]
pub struct ShapSummary {
    /// "TreeSHAP (exact for trees)", "exact (linear model)", ...
    pub method: String,
    /// Units of the values: "log-odds", "value", "log-odds per class".
    pub units: String,
    pub expected_value: Vec<f64>,
    /// Top columns by mean |SHAP|: per column, (SHAP, feature value scaled to 0..1 or NaN)
    /// for at most 400 rows (binary and regression only).
    pub beeswarm: Vec<(String, Vec<(f64, f64)>)>,
    /// The top numeric columns: (feature value, SHAP) for the explained rows.
    pub dependence: Vec<(String, Vec<(f64, f64)>)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RowExplanation {
    /// 1-based row of DATA.
    pub row: u64,
    pub actual: String,
    pub predicted: String,
    /// Largest contributions (column, SHAP), by absolute size.
    pub contributions: Vec<(String, f64)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Explanations {
    pub rows_used: usize,
    pub repeats: usize,
    pub importance: Vec<ColumnImportance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shap: Option<ShapSummary>,
    /// Why SHAP values are absent, when they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shap_note: Option<String>,
    pub confident_errors: Vec<RowExplanation>,
}

/// Gain per feature of a predictor, summed over trees (ensembles: members' shares weighted).
fn gain_per_feature(p: &Predictor, n_features: usize) -> Option<Vec<f64>> {
    match p {
        Predictor::Gbdt(m) => {
            let g: Vec<f64> = m.feature_importance().iter().map(|f| f.gain).collect();
            let total: f64 = g.iter().sum();
            (total > 0.0 && g.len() == n_features).then(|| g.iter().map(|v| v / total).collect())
        }
        Predictor::Ensemble(e) => {
            let total_w: f64 = e.members.iter().map(|m| m.weight).sum();
            let mut acc = vec![0.0; n_features];
            let mut any = false;
            for m in &e.members {
                if let Some(g) = gain_per_feature(&m.predictor, n_features) {
                    any = true;
                    for (a, v) in acc.iter_mut().zip(g) {
                        *a += v * m.weight / total_w;
                    }
                }
            }
            any.then_some(acc)
        }
        Predictor::LogTarget(m) => gain_per_feature(&m.inner, n_features),
        _ => None,
    }
}

fn permuted(data: &FeatureData, perm: &[u32]) -> FeatureData {
    match data {
        FeatureData::Numeric(v) => {
            FeatureData::Numeric(perm.iter().map(|&r| v[r as usize]).collect())
        }
        FeatureData::Categorical {
            codes,
            n_categories,
        } => FeatureData::Categorical {
            codes: perm.iter().map(|&r| codes[r as usize]).collect(),
            n_categories: *n_categories,
        },
    }
}

/// Feature values of one feature for plotting: numbers as they are, categorical codes as NaN.
fn feature_value(x: &Features, f: usize, r: usize) -> f64 {
    match &x.columns[f].data {
        FeatureData::Numeric(v) => f64::from(v[r]),
        FeatureData::Categorical { .. } => f64::NAN,
    }
}

/// Explains `model` on the rows of `scored` (features `x`, the same rows). `data_rows` maps
/// rows to 1-based rows of DATA.
pub fn explain(
    model: &Model,
    x: &Features,
    scored: &Scored,
    data_rows: &[u64],
    seed: u64,
    confidence: f64,
) -> Explanations {
    let groups = column_groups(&model.prep, x);
    let n = x.n_rows;
    let mut rng = Rng::new(seed).fork(0xE1);
    let rows: Vec<u32> = if n > MAX_EXPLAIN_ROWS {
        let mut all: Vec<u32> = (0..n as u32).collect();
        rng.shuffle(&mut all);
        let mut take = all[..MAX_EXPLAIN_ROWS].to_vec();
        take.sort_unstable();
        take
    } else {
        (0..n as u32).collect()
    };
    let xs = if rows.len() == n {
        x.clone()
    } else {
        x.take_rows(&rows)
    };
    let ss = if rows.len() == n {
        scored.clone()
    } else {
        scored.subset(&rows)
    };
    let base = ss.row_loss(&ss.pred);
    let z = normal_quantile(0.5 + confidence / 2.0);
    let gain = gain_per_feature(&model.predictor, x.n_features());

    let permutation: Vec<Estimate> = groups
        .par_iter()
        .enumerate()
        .map(|(g, group)| {
            let mut delta = vec![0.0; xs.n_rows];
            for rep in 0..REPEATS {
                let mut perm: Vec<u32> = (0..xs.n_rows as u32).collect();
                Rng::new(seed)
                    .fork(((g as u64) << 8) | rep as u64)
                    .shuffle(&mut perm);
                let mut xp = xs.clone();
                for &f in &group.features {
                    xp.columns[f].data = permuted(&xs.columns[f].data, &perm);
                }
                let p = model.predictor.predict(&xp);
                for (d, (a, b)) in delta.iter_mut().zip(ss.row_loss(&p).iter().zip(&base)) {
                    *d += (a - b) / REPEATS as f64;
                }
            }
            let m = delta.len().max(1) as f64;
            let mean = delta.iter().sum::<f64>() / m;
            let var = delta.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (m - 1.0).max(1.0);
            let half = z * (var / m).sqrt();
            Estimate {
                value: mean,
                lo: mean - half,
                hi: mean + half,
            }
        })
        .collect();

    let (mut shap, mut shap_note) = (None, None);
    let mut per_column_shap: Option<(Vec<Vec<f64>>, usize)> = None; // [group][row*k + o]
    match model.predictor.shap_values(&xs, None) {
        Ok(whet_learn::shap::ShapValues {
            values,
            n_outputs: k,
            method,
            ..
        }) => {
            let nf = xs.n_features();
            let width = k * (nf + 1);
            let per: Vec<Vec<f64>> = groups
                .iter()
                .map(|g| {
                    let mut v = vec![0.0; xs.n_rows * k];
                    for r in 0..xs.n_rows {
                        for o in 0..k {
                            v[r * k + o] = g
                                .features
                                .iter()
                                .map(|&f| values[r * width + o * (nf + 1) + f])
                                .sum();
                        }
                    }
                    v
                })
                .collect();
            let expected: Vec<f64> = (0..k)
                .map(|o| values.get(o * (nf + 1) + nf).copied().unwrap_or(f64::NAN))
                .collect();
            let mut order: Vec<usize> = (0..groups.len()).collect();
            let mean_abs =
                |g: usize| per[g].iter().map(|v| v.abs()).sum::<f64>() / per[g].len().max(1) as f64;
            order.sort_by(|&a, &b| mean_abs(b).total_cmp(&mean_abs(a)));
            let mut beeswarm = Vec::new();
            let mut dependence = Vec::new();
            if k == 1 {
                let step = (xs.n_rows / BEESWARM_ROWS).max(1);
                for &g in order.iter().take(10) {
                    let f = groups[g].features[0];
                    let single = groups[g].features.len() == 1;
                    let vals: Vec<f64> = (0..xs.n_rows)
                        .map(|r| {
                            if single {
                                feature_value(&xs, f, r)
                            } else {
                                f64::NAN
                            }
                        })
                        .collect();
                    let mut finite: Vec<f64> =
                        vals.iter().copied().filter(|v| v.is_finite()).collect();
                    finite.sort_unstable_by(f64::total_cmp);
                    let lo = crate::stats::quantile_sorted(&finite, 0.05);
                    let hi = crate::stats::quantile_sorted(&finite, 0.95);
                    let scale = |v: f64| {
                        if v.is_finite() && hi > lo {
                            ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
                        } else {
                            f64::NAN
                        }
                    };
                    beeswarm.push((
                        groups[g].column.clone(),
                        (0..xs.n_rows)
                            .step_by(step)
                            .map(|r| (per[g][r], scale(vals[r])))
                            .collect(),
                    ));
                    if dependence.len() < 3 && single && finite.len() > 10 {
                        dependence.push((
                            groups[g].column.clone(),
                            (0..xs.n_rows)
                                .step_by(step)
                                .filter(|&r| vals[r].is_finite())
                                .map(|r| (vals[r], per[g][r]))
                                .collect(),
                        ));
                    }
                }
            }
            shap = Some(ShapSummary {
                method: method.into(),
                units: match (scored.task, k) {
                    (Task::Regression, _) => "target units".into(),
                    (_, 1) => "log-odds".into(),
                    _ => "log-odds, summed over classes".into(),
                },
                expected_value: expected,
                beeswarm,
                dependence,
            });
            per_column_shap = Some((per, k));
        }
        Err(note) => shap_note = Some(note),
    }

    let importance: Vec<ColumnImportance> = groups
        .iter()
        .enumerate()
        .map(|(g, group)| ColumnImportance {
            column: group.column.clone(),
            gain_share: gain
                .as_ref()
                .map(|v| group.features.iter().map(|&f| v[f]).sum()),
            permutation: permutation[g],
            mean_abs_shap: per_column_shap.as_ref().map(|(per, _)| {
                per[g].iter().map(|v| v.abs()).sum::<f64>() / xs.n_rows.max(1) as f64
            }),
        })
        .collect();
    let mut importance = importance;
    importance.sort_by(|a, b| b.permutation.value.total_cmp(&a.permutation.value));

    let confident_errors =
        confident_errors(&ss, &rows, data_rows, per_column_shap.as_ref(), &groups);
    Explanations {
        rows_used: xs.n_rows,
        repeats: REPEATS,
        importance,
        shap,
        shap_note,
        confident_errors,
    }
}

/// The three most confident errors: wrong class at the highest confidence, or the largest
/// absolute residuals.
fn confident_errors(
    s: &Scored,
    rows: &[u32],
    data_rows: &[u64],
    shap: Option<&(Vec<Vec<f64>>, usize)>,
    groups: &[ColumnGroup],
) -> Vec<RowExplanation> {
    let n = s.n_rows();
    let mut cand: Vec<(f64, usize)> = (0..n)
        .filter_map(|i| match s.task {
            Task::Regression => Some(((s.y[i] - s.pred.values[i]).abs(), i)),
            _ => {
                let wrong = s.pred_class[i] != s.y[i] as usize;
                let r = s.pred.row(i);
                let conf = if s.task == Task::Binary {
                    (r[0] - 0.5).abs()
                } else {
                    r[s.pred_class[i]]
                };
                wrong.then_some((conf, i))
            }
        })
        .collect();
    cand.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    cand.into_iter()
        .take(3)
        .map(|(_, i)| {
            let label = |c: usize| s.classes.get(c).cloned().unwrap_or_default();
            let (actual, predicted) = match s.task {
                Task::Regression => (
                    whet_data::report::fmt_short(s.y[i]),
                    whet_data::report::fmt_short(s.pred.values[i]),
                ),
                Task::Binary => (
                    label(s.y[i] as usize),
                    format!("{} (p = {:.3})", label(s.pred_class[i]), s.pred.values[i]),
                ),
                Task::Multiclass => (
                    label(s.y[i] as usize),
                    format!(
                        "{} (p = {:.3})",
                        label(s.pred_class[i]),
                        s.pred.row(i)[s.pred_class[i]]
                    ),
                ),
            };
            let mut contributions: Vec<(String, f64)> = match shap {
                Some((per, k)) => groups
                    .iter()
                    .enumerate()
                    .map(|(g, grp)| {
                        // Multiclass: the contribution to the predicted class's score.
                        let o = if *k > 1 { s.pred_class[i] } else { 0 };
                        (grp.column.clone(), per[g][i * k + o])
                    })
                    .collect(),
                None => Vec::new(),
            };
            contributions.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
            contributions.truncate(5);
            RowExplanation {
                row: data_rows
                    .get(rows[i] as usize)
                    .copied()
                    .unwrap_or(rows[i] as u64 + 1),
                actual,
                predicted,
                contributions,
            }
        })
        .collect()
}

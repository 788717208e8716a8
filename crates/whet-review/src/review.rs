//! The review of one model on labelled data: metrics with intervals, curves, explanations,
//! slices and checks, as one serialisable [`Review`].

use rayon::prelude::*;
use serde::Serialize;
use whet_data::prep::Features;
use whet_data::prep::labels_of;
use whet_data::profile::{ProfileOptions, TargetMissing, WarningKind};
use whet_data::{Table, Task};
use whet_learn::model::Model;

use crate::bootstrap::{BootstrapSpec, Estimate, IntervalKind, Strata, intervals};
use crate::curves::{
    BinaryCurves, CalibrationBin, RegressionPlots, binary_curves, calibration_bins,
    confusion_matrix, regression_plots,
};
use crate::drift::DriftReport;
use crate::error::{Result, ReviewError};
use crate::eval::{MetricDef, Scored};
use crate::explain::{Explanations, explain};
use crate::influence;
use crate::slices::{SliceDef, default_columns, define, rows_in_order};

/// How slices of many rows get their intervals, in words (reports and JSON notes).
pub const SLICE_INTERVAL_NOTE: &str = "slices of at least 5,000 rows: normal interval with the delta-method (influence) standard error, DeLong's for ROC AUC; smaller slices and PR AUC/ECE: percentile bootstrap of the slice's own resamples";

/// Version of the review's JSON shape.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug)]
pub struct ReviewOptions {
    pub bootstrap: BootstrapSpec,
    /// Binary: probability at or above which a row is called positive.
    pub threshold: f64,
    pub cost_fp: f64,
    pub cost_fn: f64,
    /// Columns to slice by; None = every categorical, boolean and numeric input column.
    pub slices: Option<Vec<String>>,
    pub min_slice_rows: usize,
    /// The metric slices and the overfitting check use (default: the task's main metric).
    pub metric: Option<String>,
    pub explain: bool,
    /// How the report names the model and the data.
    pub model_label: String,
    pub data_label: String,
}

impl Default for ReviewOptions {
    fn default() -> Self {
        ReviewOptions {
            bootstrap: BootstrapSpec::default(),
            threshold: 0.5,
            cost_fp: 1.0,
            cost_fn: 1.0,
            slices: None,
            min_slice_rows: 50,
            metric: None,
            explain: true,
            model_label: String::new(),
            data_label: String::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelSummary {
    pub label: String,
    pub learner: String,
    pub task: Task,
    pub target: String,
    pub classes: Vec<String>,
    pub train_rows: u64,
    pub whet_version: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct DataSummary {
    pub label: String,
    pub rows: u64,
    /// Rows without a target value, left out.
    pub dropped_rows: u64,
    /// Classification: rows per class, in class order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub class_rows: Vec<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MetricRow {
    #[serde(flatten)]
    pub def: MetricDef,
    #[serde(flatten)]
    pub estimate: Estimate,
    /// How the interval was computed.
    pub interval: IntervalKind,
}

#[derive(Clone, Debug, Serialize)]
pub struct SliceRow {
    pub column: String,
    pub label: String,
    pub rows: u64,
    pub estimate: Estimate,
    pub interval: IntervalKind,
    /// The slice's interval lies entirely on the worse side of the whole data's value.
    pub significantly_worse: bool,
    /// rows × shortfall against the whole: how much the slice costs overall.
    pub impact: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SliceReport {
    pub metric: MetricDef,
    pub overall: f64,
    pub min_rows: usize,
    /// Significantly worse slices first (by impact), then the rest by column.
    pub slices: Vec<SliceRow>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckVerdict {
    Pass,
    Warn,
    NotChecked,
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub verdict: CheckVerdict,
    /// One sentence a reader can act on.
    pub summary: String,
    pub evidence: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Confusion {
    pub classes: Vec<String>,
    /// Rows by true class, columns by predicted class.
    pub matrix: Vec<Vec<u64>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Review {
    pub schema_version: u32,
    pub model: ModelSummary,
    pub data: DataSummary,
    pub bootstrap: BootstrapSpec,
    /// How intervals are computed, in words.
    pub interval_method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    pub metrics: Vec<MetricRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<BinaryCurves>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Vec<CalibrationBin>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confusion: Option<Confusion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regression: Option<RegressionPlots>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanations: Option<Explanations>,
    pub slices: SliceReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftReport>,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

/// A model applied to labelled data: predictions, the features, and the rows' numbers in
/// DATA (1-based, after rows without a target were dropped).
pub struct Applied {
    pub scored: Scored,
    pub features: Features,
    pub table: Table,
    pub data_rows: Vec<u64>,
    pub dropped: u64,
    pub notes: Vec<String>,
}

/// Applies `model` to `table`, which must hold the model's target with classes it knows.
pub fn apply(model: &Model, table: &Table, data_label: &str, threshold: f64) -> Result<Applied> {
    let Some(spec) = model.prep.target.as_ref() else {
        return Err(ReviewError::input(
            "the model records no target column",
            "review models written by `whet train` or `whet fit`",
        ));
    };
    if table.index_of(&spec.name).is_none() {
        return Err(ReviewError::input(
            format!(
                "'{data_label}' has no column '{}', the target the model predicts",
                spec.name
            ),
            "a review needs labelled data: include the target column with the true values",
        ));
    }
    // Rows without a target are left out; the target's type and classes are checked against
    // the model (whet_data's task checks would demand, e.g., both classes in DATA).
    let labels = labels_of(table.array(table.require(&spec.name)?));
    let keep: Vec<u32> = (0..labels.len() as u32)
        .filter(|&r| labels[r as usize].is_some())
        .collect();
    if keep.is_empty() {
        return Err(ReviewError::input(
            format!(
                "'{data_label}': the target '{}' is empty in every row",
                spec.name
            ),
            "a review needs the true values of the target",
        ));
    }
    let dropped = (labels.len() - keep.len()) as u64;
    let kept = if dropped > 0 {
        table.take_rows(&keep)?
    } else {
        table.clone()
    };
    if spec.task == Task::Regression {
        let index = kept.require(&spec.name)?;
        if whet_data::summary::numeric_values(kept.array(index).as_ref()).is_none() {
            let example = labels.iter().flatten().next().cloned().unwrap_or_default();
            return Err(ReviewError::input(
                format!(
                    "'{data_label}': the target '{}' holds text (e.g. '{example}'), and the model predicts a number: it does not fit a regression model",
                    spec.name
                ),
                "review a model on data of the task it was trained for",
            ));
        }
    }
    let mut notes = Vec::new();
    if dropped > 0 {
        notes.push(format!(
            "{dropped} rows without a target value were left out"
        ));
    }
    let data_rows: Vec<u64> = keep.iter().map(|&r| u64::from(r) + 1).collect();
    struct Kept {
        table: Table,
        dropped: u64,
    }
    let target = Kept {
        table: kept,
        dropped,
    };
    let missing: Vec<&str> = model
        .prep
        .required_columns()
        .into_iter()
        .filter(|c| target.table.index_of(c).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(ReviewError::input(
            format!(
                "'{data_label}' lacks column(s) the model needs: {}",
                missing.join(", ")
            ),
            "the model was trained with these columns; add them (empty values are fine)",
        ));
    }
    let transformed = model.prep.transform(&target.table)?;
    notes.extend(transformed.notes);
    let y = model.prep.transform_target(&target.table).map_err(|e| match e {
        whet_data::DataError::TypeDrift { column, row, value, expected, .. } => ReviewError::input(
            format!(
                "'{data_label}' row {}: target '{column}' is '{value}', a class the model never saw (expected {expected})",
                data_rows.get(row.saturating_sub(1)).copied().unwrap_or(row as u64)
            ),
            "the model cannot be judged on classes it cannot predict; drop those rows or retrain",
        ),
        other => other.into(),
    })?;
    let pred = model.predictor.predict(&transformed.features);
    let scored = Scored::new(spec.task, spec.classes.clone(), y, pred, threshold);
    Ok(Applied {
        scored,
        features: transformed.features,
        table: target.table,
        data_rows,
        dropped: target.dropped,
        notes,
    })
}

/// The task's main metric, or `name` if it is one of the review's metrics.
pub fn primary_metric(s: &Scored, name: Option<&str>) -> Result<MetricDef> {
    let defs = s.metric_defs();
    let want = match name {
        Some(n) => whet_learn::metrics::Metric::parse(n)
            .map_or_else(|| n.to_ascii_lowercase(), |m| m.name().to_string()),
        None => whet_learn::metrics::Metric::default_for(s.task)
            .name()
            .to_string(),
    };
    defs.iter()
        .find(|d| d.name == want)
        .cloned()
        .ok_or_else(|| {
            let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
            ReviewError::usage(
                format!("--metric {want} is not a {} metric", s.task.name()),
                format!("use one of: {}", names.join(", ")),
            )
        })
}

/// How the whole data's intervals are computed, in words; `n_rows` decides between the exact
/// bootstrap and the bag of little bootstraps (`bootstrap::intervals`), `paired` says both
/// models see the same resamples.
pub fn interval_method(task: Task, spec: &BootstrapSpec, n_rows: usize, paired: bool) -> String {
    let strata = if task == Task::Regression {
        ""
    } else {
        " stratified by class"
    };
    let (paired, same_rows) = if paired {
        ("paired ", " (both models on the same resampled rows)")
    } else {
        ("", "")
    };
    if n_rows >= spec.blb_min_rows.max(1) {
        let per = 100.min(spec.resamples.max(1));
        let subsets = spec.resamples.div_ceil(per);
        format!(
            "{paired}bag of little bootstraps{same_rows}, for data of {} rows or more: {subsets} subsets of n^0.7 rows{}, {per} resamples each of multinomial weights summing to n{} ({} in all), seed {}; interval = the value on all rows + the percentile ends of the subsets' pooled deviations from their own values",
            spec.blb_min_rows,
            if task == Task::Regression {
                ""
            } else {
                " per class"
            },
            if task == Task::Regression {
                ""
            } else {
                ", stratified by class"
            },
            subsets * per,
            spec.seed
        )
    } else {
        format!(
            "{paired}percentile bootstrap{same_rows}, {} resamples{strata}, seed {}",
            spec.resamples, spec.seed
        )
    }
}

/// Metric values with intervals on the rows of `s`.
pub fn metric_rows(s: &Scored, spec: &BootstrapSpec) -> Vec<MetricRow> {
    let defs = s.metric_defs();
    let point = s.values(None);
    let strata = Strata::by_class(&s.y, s.n_classes());
    let (estimates, kind) = intervals(
        &strata,
        spec,
        &point,
        |c| s.resample_values(c),
        |rows| s.subset(rows),
        |x, c| x.resample_values(c),
        |x, w| x.values(Some(w)),
    );
    defs.into_iter()
        .zip(estimates)
        .map(|(def, estimate)| MetricRow {
            def,
            estimate,
            interval: kind,
        })
        .collect()
}

fn slice_report(
    s: &Scored,
    metric: &MetricDef,
    defs: &[SliceDef],
    spec: &BootstrapSpec,
    min_rows: usize,
) -> SliceReport {
    let overall = s.value_of(&metric.name).unwrap_or(f64::NAN);
    let ordered = slice_rows_in_score_order(s, defs);
    let estimates: Vec<(Estimate, IntervalKind)> = defs
        .par_iter()
        .zip(&ordered)
        .enumerate()
        .map(|(i, (d, rows))| slice_estimate(s, metric, &d.rows, rows, spec.for_slice(i)))
        .collect();
    let mut slices: Vec<SliceRow> = defs
        .iter()
        .zip(estimates)
        .map(|(d, (estimate, interval))| {
            let value = estimate.value;
            let worse = if metric.higher_is_better {
                estimate.hi < overall
            } else {
                estimate.lo > overall
            };
            let shortfall = if metric.higher_is_better {
                overall - value
            } else {
                value - overall
            };
            SliceRow {
                column: d.column.clone(),
                label: d.label.clone(),
                rows: d.rows.len() as u64,
                estimate,
                interval,
                significantly_worse: worse,
                impact: if shortfall.is_finite() {
                    d.rows.len() as f64 * shortfall.max(0.0)
                } else {
                    0.0
                },
            }
        })
        .collect();
    // Worse slices first by impact; the others keep the column order they were defined in.
    slices.sort_by(|a, b| {
        b.significantly_worse
            .cmp(&a.significantly_worse)
            .then(if a.significantly_worse {
                b.impact.total_cmp(&a.impact)
            } else {
                std::cmp::Ordering::Equal
            })
    });
    SliceReport {
        metric: metric.clone(),
        overall,
        min_rows,
        slices,
    }
}

/// Each slice's rows, in descending score order for a binary task (ROC AUC's influence reads
/// them in that order), else ascending.
pub(crate) fn slice_rows_in_score_order(s: &Scored, defs: &[SliceDef]) -> Vec<Vec<u32>> {
    if s.task == Task::Binary {
        rows_in_order(defs, s.score_order(), s.n_rows())
    } else {
        defs.iter().map(|d| d.rows.clone()).collect()
    }
}

/// The metric on one slice with its interval: the influence (delta-method) normal interval
/// on a slice of at least `influence::MIN_ROWS` rows where the metric has one, else the
/// percentile bootstrap of the slice's own stratified resamples. `rows` are the slice's rows
/// (ascending), `ordered` the same rows as `slice_rows_in_score_order` gives them.
pub(crate) fn slice_estimate(
    s: &Scored,
    metric: &MetricDef,
    rows: &[u32],
    ordered: &[u32],
    spec: BootstrapSpec,
) -> (Estimate, IntervalKind) {
    if ordered.len() >= influence::MIN_ROWS
        && let Some((value, g)) = influence::influence(s, &metric.name, ordered)
    {
        let se = influence::standard_error(s, ordered, &g);
        return (
            influence::normal_interval(value, se, spec.confidence),
            IntervalKind::Influence,
        );
    }
    let sub = s.subset(rows);
    let value = sub.value_of(&metric.name).unwrap_or(f64::NAN);
    let Some(k) = sub.metric_index(&metric.name) else {
        return (Estimate::point(value), IntervalKind::Bootstrap);
    };
    let strata = Strata::by_class(&sub.y, sub.n_classes());
    let (estimates, kind) = intervals(
        &strata,
        &spec,
        &[value],
        |c| vec![sub.resample_value(c, k)],
        |r| sub.subset(r),
        |x, c| vec![x.resample_value(c, k)],
        |x, w| vec![x.values(Some(w))[k]],
    );
    (estimates[0], kind)
}

fn fmt_ci(e: &Estimate) -> String {
    if e.lo.is_nan() {
        format!("{:.4}", e.value)
    } else {
        format!("{:.4} (95% interval {:.4} – {:.4})", e.value, e.lo, e.hi)
    }
}

fn overfitting_check(model: &Model, metric: &MetricDef, rows: &[MetricRow]) -> Check {
    let name = "overfitting".to_string();
    let recorded = ["cv", "valid"].iter().find_map(|set| {
        model
            .metadata
            .metrics
            .get(*set)
            .and_then(|m| m.get(&metric.name))
            .map(|v| (*set, *v))
    });
    let here = rows
        .iter()
        .find(|r| r.def.name == metric.name)
        .map(|r| r.estimate);
    match (recorded, here) {
        (Some((set, v)), Some(e)) if !e.lo.is_nan() => {
            let what = if set == "cv" {
                "cross-validation"
            } else {
                "validation"
            };
            let better_than_ci = if metric.higher_is_better {
                v > e.hi
            } else {
                v < e.lo
            };
            Check {
                name,
                verdict: if better_than_ci {
                    CheckVerdict::Warn
                } else {
                    CheckVerdict::Pass
                },
                summary: if better_than_ci {
                    format!(
                        "{} on this data is worse than the {what} score beyond the interval: the model may be overfitted, or this data differs from the training data",
                        metric.label
                    )
                } else {
                    format!(
                        "this data scores as well as {what} promised (the {what} score is not better than this data's whole interval): no sign of overfitting"
                    )
                },
                evidence: format!("{what} {}: {v:.4}; this data: {}", metric.name, fmt_ci(&e)),
            }
        }
        _ => Check {
            name,
            verdict: CheckVerdict::NotChecked,
            summary: format!(
                "the model file records no cross-validation or validation {}",
                metric.name
            ),
            evidence: "whet train records a CV score; whet fit records one with --valid".into(),
        },
    }
}

/// ECE above this (5 percentage points) is worth a look.
const ECE_WARN: f64 = 0.05;

fn calibration_check(rows: &[MetricRow]) -> Option<Check> {
    let e = rows.iter().find(|r| r.def.name == "ece")?.estimate;
    let bad = if e.lo.is_nan() {
        e.value > ECE_WARN
    } else {
        e.lo > ECE_WARN
    };
    Some(Check {
        name: "calibration".into(),
        verdict: if bad {
            CheckVerdict::Warn
        } else {
            CheckVerdict::Pass
        },
        summary: if bad {
            "predicted probabilities are off from observed frequencies by more than 5 points: recalibrate before using them as probabilities".into()
        } else {
            "predicted probabilities match observed frequencies: the calibration error is not clearly above 0.05".into()
        },
        evidence: format!("expected calibration error {} over 10 bins", fmt_ci(&e)),
    })
}

/// Rows the leakage cross-check profiles at most.
const PROFILE_ROWS: usize = 100_000;

/// One column carrying at least this share of the permutation importance is suspicious.
const DOMINANT_SHARE: f64 = 0.6;

fn dominance_check(ex: Option<&Explanations>, table: &Table, target: &str, task: Task) -> Check {
    let name = "single feature carrying the model".to_string();
    let Some(ex) = ex else {
        return Check {
            name,
            verdict: CheckVerdict::NotChecked,
            summary: "explanations were not computed".into(),
            evidence: String::new(),
        };
    };
    let total: f64 = ex
        .importance
        .iter()
        .map(|i| i.permutation.value.max(0.0))
        .sum();
    let Some(top) = ex.importance.first().filter(|_| total > 0.0) else {
        return Check {
            name,
            verdict: CheckVerdict::Pass,
            summary: "no column's permutation changes the loss".into(),
            evidence: String::new(),
        };
    };
    let share = top.permutation.value.max(0.0) / total;
    let options = ProfileOptions {
        target: Some(target.to_string()),
        task: Some(task),
        target_missing: TargetMissing::Drop,
        stop: None,
    };
    // The profile's leakage test needs a sample, not a million rows.
    let sample;
    let profiled = if table.n_rows() > PROFILE_ROWS {
        let step = table.n_rows().div_ceil(PROFILE_ROWS);
        let rows: Vec<u32> = (0..table.n_rows() as u32).step_by(step).collect();
        match table.take_rows(&rows) {
            Ok(t) => {
                sample = t;
                &sample
            }
            Err(_) => table,
        }
    } else {
        table
    };
    let leak = whet_data::profile::profile(profiled, &options, None)
        .ok()
        .and_then(|p| {
            p.warnings.into_iter().find(|w| {
                w.kind == WarningKind::TargetLeakage && w.column.as_deref() == Some(&top.column)
            })
        });
    let dominant = share >= DOMINANT_SHARE && top.permutation.lo > 0.0;
    let mut evidence = format!(
        "'{}' carries {:.0}% of the permutation importance (loss increase {})",
        top.column,
        100.0 * share,
        fmt_ci(&top.permutation)
    );
    if let Some(w) = &leak {
        evidence.push_str(&format!("; the profile flags it too: {}", w.message));
    }
    Check {
        name,
        verdict: if dominant || leak.is_some() {
            CheckVerdict::Warn
        } else {
            CheckVerdict::Pass
        },
        summary: match (dominant, leak.is_some()) {
            (_, true) => format!(
                "'{}' alone predicts the target: suspect leakage (is it known at prediction time?)",
                top.column
            ),
            (true, false) => format!(
                "'{}' carries most of the model: check it is not derived from the target",
                top.column
            ),
            _ => "importance is spread over several columns".into(),
        },
        evidence,
    }
}

fn drift_check(d: Option<&DriftReport>) -> Check {
    let name = "data drift".to_string();
    let Some(d) = d else {
        return Check {
            name,
            verdict: CheckVerdict::NotChecked,
            summary: "the model file carries no profile of its training data (written before model format 3)".into(),
            evidence: "retrain or refit the model with this whet to record one".into(),
        };
    };
    let moved: Vec<&crate::drift::ColumnShift> = d.columns.iter().filter(|c| c.moved()).collect();
    let top: Vec<String> = d
        .columns
        .iter()
        .take(3)
        .map(|c| {
            format!(
                "{} {} (PSI {:.3}, {} p = {})",
                c.kind,
                c.column,
                c.psi,
                if c.test == "ks" { "KS" } else { "chi-square" },
                crate::stats::p_text(c.p_value)
            )
        })
        .collect();
    Check {
        name,
        verdict: if moved.is_empty() {
            CheckVerdict::Pass
        } else {
            CheckVerdict::Warn
        },
        summary: if moved.is_empty() {
            "no input column and not the predictions moved beyond sampling noise (the rule of whet drift)"
                .into()
        } else {
            format!(
                "{} moved away from the training data: the scores above may not carry over",
                moved
                    .iter()
                    .map(|c| format!(
                        "'{}' ({})",
                        c.column,
                        if c.major() { "major" } else { "moderate" }
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        evidence: format!(
            "largest shifts against {} training rows, each test at level {:.1e}: {}",
            d.train_rows,
            d.test_level,
            top.join(", ")
        ),
    }
}

/// Reviews `model` on `table`; `progress` hears each stage's name as it starts.
pub fn review(
    model: &Model,
    table: &Table,
    options: &ReviewOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Review> {
    if !(options.threshold > 0.0 && options.threshold < 1.0) {
        return Err(ReviewError::usage(
            format!("--threshold {} is not between 0 and 1", options.threshold),
            "give a probability such as 0.5",
        ));
    }
    let cost_ok = |c: f64| c.is_finite() && c >= 0.0;
    if !(cost_ok(options.cost_fp) && cost_ok(options.cost_fn)) {
        return Err(ReviewError::usage(
            "--cost-fp and --cost-fn must be finite and ≥ 0",
            "e.g. --cost-fp 1 --cost-fn 5",
        ));
    }
    if options.bootstrap.resamples < 10 {
        return Err(ReviewError::usage(
            "--resamples must be at least 10",
            "1000 is the default",
        ));
    }
    progress("scoring");
    let applied = apply(model, table, &options.data_label, options.threshold)?;
    let s = &applied.scored;
    let task = s.task;
    let metric = primary_metric(s, options.metric.as_deref())?;
    let slice_columns = options
        .slices
        .clone()
        .unwrap_or_else(|| default_columns(&model.prep));
    let slice_defs = define(
        &applied.table,
        &model.prep,
        &slice_columns,
        options.min_slice_rows.max(1),
    )?;

    progress("bootstrap");
    let metrics = metric_rows(s, &options.bootstrap);
    let binary = (task == Task::Binary)
        .then(|| binary_curves(s, options.threshold, options.cost_fp, options.cost_fn));
    let calibration = (task != Task::Regression).then(|| calibration_bins(s));
    let confusion = (task != Task::Regression).then(|| Confusion {
        classes: s.classes.clone(),
        matrix: confusion_matrix(s),
    });
    let regression = (task == Task::Regression).then(|| regression_plots(s));

    let explanations = if options.explain {
        progress("explanations");
        Some(explain(
            model,
            &applied.features,
            s,
            &applied.data_rows,
            options.bootstrap.seed,
            options.bootstrap.confidence,
        ))
    } else {
        None
    };
    progress("slices");
    let slices = slice_report(
        s,
        &metric,
        &slice_defs,
        &options.bootstrap,
        options.min_slice_rows,
    );

    progress("checks");
    let target = model
        .prep
        .target
        .as_ref()
        .map(|t| t.name.clone())
        .unwrap_or_default();
    let mut checks = vec![overfitting_check(model, &metric, &metrics)];
    checks.extend(calibration_check(&metrics));
    checks.push(dominance_check(
        explanations.as_ref(),
        &applied.table,
        &target,
        task,
    ));
    let drift = crate::drift::drift(&model.reference, &model.prep, &applied.table, s);
    checks.push(drift_check(drift.as_ref()));
    let mut notes = applied.notes.clone();
    if slices
        .slices
        .iter()
        .any(|x| x.interval == IntervalKind::Influence)
    {
        notes.push(SLICE_INTERVAL_NOTE.to_string());
    }
    let mut class_rows = vec![
        0u64;
        if task == Task::Regression {
            0
        } else {
            s.n_classes()
        }
    ];
    for &y in &s.y {
        if let Some(c) = class_rows.get_mut(y as usize) {
            *c += 1;
        }
    }
    Ok(Review {
        schema_version: SCHEMA_VERSION,
        model: ModelSummary {
            label: options.model_label.clone(),
            learner: model.predictor.learner_name().to_string(),
            task,
            target,
            classes: s.classes.clone(),
            train_rows: model.metadata.train_rows,
            whet_version: model.metadata.whet_version.clone(),
        },
        data: DataSummary {
            label: options.data_label.clone(),
            rows: s.n_rows() as u64,
            dropped_rows: applied.dropped,
            class_rows,
        },
        bootstrap: options.bootstrap,
        interval_method: interval_method(task, &options.bootstrap, s.n_rows(), false),
        threshold: (task == Task::Binary).then_some(options.threshold),
        metrics,
        binary,
        calibration,
        confusion,
        regression,
        explanations,
        slices,
        drift,
        checks,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use whet_data::rng::Rng;
    use whet_learn::Predictions;

    /// On the same 40,000 binary rows, the bag of little bootstraps gives every metric an
    /// interval of the exact bootstrap's width around the same value, and says so.
    #[test]
    fn little_bootstrap_metric_intervals_agree_with_the_exact_bootstrap() {
        let mut rng = Rng::new(5);
        let n = 40_000;
        let normal = |rng: &mut Rng| {
            let (u, v) = (1.0 - rng.next_f64(), rng.next_f64());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        };
        let signal: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
        let y: Vec<f64> = signal
            .iter()
            .map(|s| {
                f64::from(u8::from(
                    rng.next_f64() < 1.0 / (1.0 + (-1.5 * s - 1.0).exp()),
                ))
            })
            .collect();
        let p: Vec<f64> = signal
            .iter()
            .map(|s| 1.0 / (1.0 + (-(s + normal(&mut rng)) - 0.8).exp()))
            .collect();
        let s = Scored::new(
            Task::Binary,
            vec!["0".into(), "1".into()],
            y,
            Predictions {
                n_rows: n,
                n_outputs: 1,
                values: p,
            },
            0.5,
        );
        let exact = BootstrapSpec {
            resamples: 1000,
            seed: 4,
            confidence: 0.95,
            blb_min_rows: usize::MAX,
        };
        let little = BootstrapSpec {
            blb_min_rows: n,
            ..exact
        };
        let (e, l) = (metric_rows(&s, &exact), metric_rows(&s, &little));
        for (e, l) in e.iter().zip(&l) {
            assert_eq!(
                (e.interval, l.interval),
                (IntervalKind::Bootstrap, IntervalKind::LittleBootstraps)
            );
            assert_eq!(e.estimate.value, l.estimate.value);
            let (we, wl) = (e.estimate.hi - e.estimate.lo, l.estimate.hi - l.estimate.lo);
            let shift = (e.estimate.lo + e.estimate.hi - l.estimate.lo - l.estimate.hi) / 2.0;
            assert!(
                (wl / we - 1.0).abs() < 0.15 && shift.abs() < 0.2 * we,
                "{}: little bootstraps {:?}, exact {:?}",
                e.def.name,
                l.estimate,
                e.estimate
            );
        }
        assert!(interval_method(Task::Binary, &little, n, false).contains("little bootstraps"));
        assert!(interval_method(Task::Binary, &little, n - 1, false).starts_with("percentile"));
    }
}

//! One trial: a configuration fitted and scored on every cross-validation fold, keeping the
//! out-of-fold predictions and the fold models (for ensembles and bags).

use std::time::Instant;

use whet_data::Task;
use whet_data::prep::Features;
use whet_learn::LearnError;
use whet_learn::binning::BinnedData;
use whet_learn::data::{Predictions, TrainSet};
use whet_learn::gbdt::{Boosting, fit_gbdt_stopping_on_each};
use whet_learn::metrics::{Metric, evaluate};
use whet_learn::model::{LogTargetModel, Predictor};

use whet_data::split::Fold;

use crate::space::{Config, LearnerKind, LearnerParams};

/// The training data every trial shares.
pub struct Problem<'a> {
    pub x: &'a Features,
    /// Class index for classification, the value for regression.
    pub y: &'a [f64],
    pub weight: Option<&'a [f64]>,
    pub task: Task,
    /// 2 for binary, the class count for multiclass, 1 for regression.
    pub n_classes: usize,
    /// Built once for all tree trials and folds.
    pub binned: Option<&'a BinnedData>,
    /// ln(1 + y) per row when the target qualifies for a log-target trial
    /// ([`log_target_values`]); trials whose configuration asks for it fit on these and are
    /// scored back in the target's units.
    pub log_y: Option<&'a [f64]>,
}

/// Skewness from which a regression target is also tried on a log scale.
pub const LOG_TARGET_MIN_SKEW: f64 = 0.75;

/// ln(1 + y) for a regression target that is never negative and right-skewed (sample
/// skewness at least [`LOG_TARGET_MIN_SKEW`]), with that skewness; None otherwise. On such
/// targets (prices, wages) squared error on y is dominated by the few largest values, and a
/// model of ln(1 + y) often fits the bulk better even when scored on y; the search decides.
pub fn log_target_values(task: Task, y: &[f64]) -> Option<(Vec<f64>, f64)> {
    if task != Task::Regression || y.len() < 3 || y.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
        return None;
    }
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let (m2, m3) = y.iter().fold((0.0, 0.0), |(m2, m3), &v| {
        let d = v - mean;
        (m2 + d * d, m3 + d * d * d)
    });
    let (m2, m3) = (m2 / n, m3 / n);
    if m2 <= 0.0 {
        return None;
    }
    let skew = m3 / m2.powf(1.5);
    (skew >= LOG_TARGET_MIN_SKEW).then(|| {
        (
            y.iter().copied().map(LogTargetModel::transform).collect(),
            skew,
        )
    })
}

#[cfg(test)]
impl<'a> Problem<'a> {
    /// An unweighted regression problem without bins, as the ensemble tests use.
    pub(crate) fn regression(x: &'a Features, y: &'a [f64]) -> Problem<'a> {
        Problem {
            x,
            y,
            weight: None,
            task: Task::Regression,
            n_classes: 1,
            binned: None,
            log_y: None,
        }
    }
}

impl Problem<'_> {
    pub fn n_outputs(&self) -> usize {
        match self.task {
            Task::Multiclass => self.n_classes,
            _ => 1,
        }
    }

    /// The training set of `rows`, its targets on the log scale when `log_target`.
    fn set<'s>(&'s self, rows: &'s [u32], log_target: bool) -> Result<TrainSet<'s>, FoldError> {
        let y = if log_target {
            self.log_y.ok_or_else(|| {
                FoldError::Failed(
                    "a log-target trial on a target that is negative or not skewed".into(),
                )
            })?
        } else {
            self.y
        };
        Ok(TrainSet {
            x: self.x,
            y,
            weight: self.weight,
            rows: Some(rows),
            task: self.task,
            n_classes: self.n_classes,
        })
    }

    /// Targets and weights of `rows`, in that order.
    pub fn targets(&self, rows: &[u32]) -> (Vec<f64>, Option<Vec<f64>>) {
        let y = rows.iter().map(|&r| self.y[r as usize]).collect();
        let w = self
            .weight
            .map(|w| rows.iter().map(|&r| w[r as usize]).collect());
        (y, w)
    }

    /// Regression: the range every model's predictions are held to, the training targets'
    /// range widened by [`CLIP_MARGIN`] of itself on each side (None for classification or
    /// without targets).
    pub fn clip_bounds(&self) -> Option<[f64; 2]> {
        if self.task != Task::Regression {
            return None;
        }
        let (lo, hi) = self
            .y
            .iter()
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        if lo > hi || lo.is_nan() {
            return None;
        }
        let margin = (hi - lo) * CLIP_MARGIN;
        Some([lo - margin, hi + margin])
    }

    /// The metric on a subset of rows given their predictions.
    pub fn score(&self, metric: Metric, rows: &[u32], p: &Predictions) -> f64 {
        let (y, w) = self.targets(rows);
        evaluate(metric, &y, p, w.as_deref())
    }
}

/// Share of the training targets' range a regression prediction may go beyond it on either
/// side: room for a trend the data supports, not for a linear model's extrapolation on a
/// skewed target (on a house-price set it took a 22% share of the ensemble and its test RMSE
/// past what the boosting alone scored).
pub const CLIP_MARGIN: f64 = 0.1;

/// Lower is better, whatever the metric: scores are negated.
pub fn loss_of(metric: Metric, score: f64) -> f64 {
    if score.is_nan() {
        f64::INFINITY
    } else if metric.higher_is_better() {
        -score
    } else {
        score
    }
}

/// Whether score `a` beats score `b` under `metric` (a missing score never does).
pub fn is_better(metric: Metric, a: f64, b: f64) -> bool {
    loss_of(metric, a) < loss_of(metric, b)
}

/// A fold's fitted model: as fitted in this process, or as a worker sent it, packed
/// ([`crate::remote::encode_result`]) until something needs it. A study keeps every fold's
/// model for the bag, but only the ensemble's members are ever used: a submitter decodes a
/// handful instead of every fold its workers fitted (decoding was a fifth of its CPU).
#[derive(Debug, Clone)]
pub enum FoldModel {
    Fitted(Predictor),
    Packed(Vec<u8>),
}

impl FoldModel {
    /// The model, decoded if it came packed.
    pub fn predictor(&self) -> Result<std::borrow::Cow<'_, Predictor>, crate::AutomlError> {
        match self {
            FoldModel::Fitted(p) => Ok(std::borrow::Cow::Borrowed(p)),
            FoldModel::Packed(bytes) => {
                crate::remote::unpack_model(bytes).map(std::borrow::Cow::Owned)
            }
        }
    }
}

#[derive(Debug)]
pub struct FoldResult {
    pub score: f64,
    pub model: FoldModel,
    pub predictions: Predictions,
    /// Boosting rounds kept (after early stopping), trees for forests.
    pub iterations: Option<usize>,
    pub cost_units: f64,
    pub predict_seconds: f64,
}

#[derive(Debug)]
pub enum FoldError {
    /// The deadline passed during the fit.
    Interrupted,
    Failed(String),
}

/// A deterministic stand-in for a fit's cost, calibrated so one unit is roughly a second on
/// one core: trials are scheduled by it, so the schedule does not depend on the machine's speed.
fn cost_units(learner: LearnerKind, rows: usize, features: usize, iterations: usize) -> f64 {
    let work = rows as f64 * features.max(1) as f64 * iterations.max(1) as f64;
    match learner {
        // Histogram building dominates: about 300 M row-feature-rounds per core-second.
        LearnerKind::Gbdt | LearnerKind::Rf | LearnerKind::Et => work / 3e8,
        // Coordinate descent passes.
        LearnerKind::Linear => work / 1e8,
        // `iterations` carries the query row count: distances to every training row.
        LearnerKind::Knn => work / 2e8,
    }
}

pub fn fit_fold(
    problem: &Problem,
    config: &Config,
    fold: &Fold,
    metric: Metric,
    seed: u64,
    deadline: Option<Instant>,
) -> Result<FoldResult, FoldError> {
    let params = config.params(fold.train.len(), seed);
    fit_fold_with(problem, config, params, fold, metric, deadline)
}

/// `model`, fitted on the log scale when `log_target` (on training `rows`), as a model of the
/// target itself, with the smearing factor of its training rows.
fn in_target_units(
    problem: &Problem,
    model: Predictor,
    log_target: bool,
    rows: &[u32],
) -> Predictor {
    let Some(log_y) = problem.log_y.filter(|_| log_target) else {
        return model;
    };
    let raw = match (&model, problem.binned) {
        (Predictor::Gbdt(m), Some(binned)) => m.predict_binned_rows(binned, rows),
        _ => model.predict(&problem.x.take_rows(rows)),
    };
    let (_, w) = problem.targets(rows);
    let targets: Vec<f64> = rows.iter().map(|&r| log_y[r as usize]).collect();
    let scale = LogTargetModel::smearing(&targets, &raw.values, w.as_deref());
    Predictor::log_target(model, scale)
}

/// A boosting model cut to its first `rounds` rounds (inside a log-target wrapper too); None
/// for other models.
pub fn truncated(model: &Predictor, rounds: usize) -> Option<Predictor> {
    match model {
        Predictor::Gbdt(g) => Some(Predictor::Gbdt(Box::new(g.truncated(rounds)))),
        Predictor::LogTarget(m) => {
            truncated(&m.inner, rounds).map(|cut| Predictor::log_target(cut, m.scale))
        }
        _ => None,
    }
}

fn fit_fold_with(
    problem: &Problem,
    config: &Config,
    params: LearnerParams,
    fold: &Fold,
    metric: Metric,
    deadline: Option<Instant>,
) -> Result<FoldResult, FoldError> {
    let log_target = config.log_target;
    let train = problem.set(&fold.train, log_target)?;
    let valid = problem.set(&fold.valid, log_target)?;
    let n_features = problem.x.n_features();
    let failed = |e: LearnError| match e {
        LearnError::Interrupted { .. } => FoldError::Interrupted,
        other => FoldError::Failed(other.to_string()),
    };
    // Boosting stops early on the fold's validation rows; forests grow every tree.
    let early_stopping = match (&params, problem.binned) {
        (LearnerParams::Tree(p), Some(binned)) if p.boosting == Boosting::Gbdt => {
            Some((&valid, binned))
        }
        _ => None,
    };
    let model = whet_learn::fit(&params, &train, problem.binned, early_stopping, deadline)
        .map_err(failed)?;
    let (iterations, units) = match (&model, &params) {
        (Predictor::Gbdt(m), LearnerParams::Tree(p)) => {
            let boosting = p.boosting == Boosting::Gbdt;
            let trained = if boosting {
                m.valid_loss.len().max(m.n_iterations())
            } else {
                m.n_iterations()
            };
            let feature_share = if boosting {
                p.feature_fraction * p.bagging_fraction
            } else {
                p.feature_fraction_bynode.max(0.2)
            };
            // A multiclass forest grows one tree per round for all classes: measured at
            // 0.27-0.64x the time of a tree per class (bench/RESULTS.md, multiclass forests).
            let class_factor = if m.class_shares && m.n_outputs > 1 {
                0.5
            } else {
                1.0
            };
            let units = cost_units(
                config.learner,
                fold.train.len(),
                n_features,
                trained * m.n_outputs,
            ) * feature_share
                * class_factor;
            (Some(m.n_iterations()), units)
        }
        (Predictor::Linear(m), _) => (
            None,
            cost_units(
                LearnerKind::Linear,
                fold.train.len(),
                m.encoder().width(),
                m.n_iter() * m.n_outputs(),
            ),
        ),
        _ => (
            None,
            cost_units(
                LearnerKind::Knn,
                fold.train.len(),
                n_features,
                fold.valid.len(),
            ),
        ),
    };
    if whet_learn::stop::past(deadline) {
        return Err(FoldError::Interrupted);
    }
    let started = Instant::now();
    let model = in_target_units(problem, model, log_target, &fold.train);
    let predictions = predict_rows(problem, &model, &fold.valid);
    let predict_seconds = started.elapsed().as_secs_f64();
    let score = problem.score(metric, &fold.valid, &predictions);
    Ok(FoldResult {
        score,
        model: FoldModel::Fitted(model),
        predictions,
        iterations,
        cost_units: units,
        predict_seconds,
    })
}

/// Predictions of `model` for `rows` of the problem's features, in that order.
/// Regression predictions are clipped to [`Problem::clip_bounds`], as the final model clips
/// its members.
pub fn predict_rows(problem: &Problem, model: &Predictor, rows: &[u32]) -> Predictions {
    let mut p = match (model, problem.binned) {
        (Predictor::Gbdt(m), Some(binned)) => m.predict_binned_rows(binned, rows),
        (Predictor::LogTarget(l), Some(binned)) => match &*l.inner {
            Predictor::Gbdt(m) => l.back_transform(m.predict_binned_rows(binned, rows)),
            _ => model.predict(&problem.x.take_rows(rows)),
        },
        _ => model.predict(&problem.x.take_rows(rows)),
    };
    if let Some([low, high]) = problem.clip_bounds() {
        p.values.iter_mut().for_each(|v| *v = v.clamp(low, high));
    }
    p
}

/// Fits `params` on `rows` without scoring (on ln(1 + y) when `log_target`, the model
/// returned in the target's units). A boosting fit given `stop_on` groups follows
/// early stopping on each group at once and keeps every tree it grew, returning each group's
/// best iteration (see [`fit_gbdt_stopping_on_each`]); without groups boosting runs exactly
/// its `num_iterations` rounds.
pub fn fit_on_rows(
    problem: &Problem,
    params: LearnerParams,
    log_target: bool,
    rows: &[u32],
    stop_on: &[&[u32]],
    deadline: Option<Instant>,
) -> Result<(Predictor, Vec<usize>), FoldError> {
    let train = problem.set(rows, log_target)?;
    let failed = |e: LearnError| match e {
        LearnError::Interrupted { .. } => FoldError::Interrupted,
        other => FoldError::Failed(other.to_string()),
    };
    let fitted = match params {
        LearnerParams::Tree(p) if p.boosting == Boosting::Gbdt && !stop_on.is_empty() => {
            let binned = problem
                .binned
                .ok_or_else(|| FoldError::Failed("tree learners need binned data".into()))?;
            let mut union: Vec<u32> = stop_on.iter().flat_map(|g| g.iter().copied()).collect();
            union.sort_unstable();
            let valid = problem.set(&union, log_target)?;
            let groups: Vec<Vec<usize>> = stop_on
                .iter()
                .map(|g| g.iter().map(|&r| r as usize).collect())
                .collect();
            let (m, best) =
                fit_gbdt_stopping_on_each(&train, binned, (&valid, binned), &groups, &p, deadline)
                    .map_err(failed)?;
            (Predictor::Gbdt(Box::new(m)), best)
        }
        mut params => {
            // Without groups to follow, boosting runs exactly its `num_iterations` rounds.
            if let LearnerParams::Tree(p) = &mut params {
                p.early_stopping_round = 0;
            }
            let m =
                whet_learn::fit(&params, &train, problem.binned, None, deadline).map_err(failed)?;
            (m, Vec::new())
        }
    };
    if whet_learn::stop::past(deadline) {
        return Err(FoldError::Interrupted);
    }
    let (model, best) = fitted;
    Ok((in_target_units(problem, model, log_target, rows), best))
}

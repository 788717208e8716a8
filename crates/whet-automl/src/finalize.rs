//! The final model: the bag of fold models the search validated, or every chosen trial refit
//! on all training rows, whichever scores better in nested cross-validation.
//!
//! A refit has no cross-validation score of its own, and the bag's out-of-fold score is not
//! the bag's (each row was predicted by one fold model, not by the average of k). So both
//! procedures are scored one level down, on outer folds of their own: for outer fold i, the
//! "bag" is the average of models fitted on the rows outside folds i and j (for every j ≠ i,
//! early-stopped on fold j), and the "refit" is one model fitted on every row outside fold i
//! with the round count the inner folds chose, scaled up for the extra rows. Both predict
//! fold i, which neither saw, and the better pooled score decides.
//!
//! The outer folds are a second partition, drawn independently of the search's: the members
//! and their weights were selected on the search folds' predictions, and there the refit's
//! stand-in would be the selected fold model itself and inherit that selection's optimism.
//! (Scored on the search folds, the refit won on all three small datasets tried, and lost on
//! all three test sets.)
//!
//! The fit on the rows outside folds i and j serves outer folds i and j alike (boosting follows
//! early stopping on both at once), so comparing on all k folds costs k(k-1)/2 + k fits per
//! member, and folds complete in order, so a time budget can stop after any.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use whet_data::split::Fold;
use whet_learn::data::Predictions;
use whet_learn::metrics::Metric;
use whet_learn::model::EnsembleMember;

use crate::AutomlError;
use crate::plan::CvPlan;
use crate::space::{Config, LearnerKind, LearnerParams};
use crate::trial::{FoldError, FoldModel, Problem, fit_on_rows, loss_of, predict_rows, truncated};

/// What the user asked for with `--final`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FinalMode {
    /// Compare in nested cross-validation when the budget allows; keep the bag otherwise.
    #[default]
    Auto,
    Bag,
    Refit,
}

impl FinalMode {
    pub fn parse(s: &str) -> Option<FinalMode> {
        match s {
            "auto" => Some(FinalMode::Auto),
            "bag" => Some(FinalMode::Bag),
            "refit" => Some(FinalMode::Refit),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FinalMode::Auto => "auto",
            FinalMode::Bag => "bag",
            FinalMode::Refit => "refit",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalStrategy {
    /// The fold models (with a holdout: the model fitted outside it), averaged.
    Bag,
    /// Each member fitted once more on every training row.
    Refit,
}

impl FinalStrategy {
    pub fn name(self) -> &'static str {
        match self {
            FinalStrategy::Bag => "bag",
            FinalStrategy::Refit => "refit",
        }
    }
}

/// Both procedures scored in nested cross-validation on the same outer folds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RefitComparison {
    pub folds_compared: usize,
    pub folds: usize,
    /// Scores over the rows of the folds compared, pooled.
    pub bag_score: f64,
    pub refit_score: f64,
    /// How much better the refit scored than the bag, fold by fold, on average (in the
    /// metric's units, positive when the refit is better), and the standard error of that
    /// mean (NaN from one fold).
    pub refit_gain: f64,
    pub refit_gain_se: f64,
}

/// One trial of the final model, with what its search left behind.
pub struct Member<'a> {
    pub trial: usize,
    pub learner: LearnerKind,
    pub config: &'a Config,
    /// The trial's seed; its fold f was fitted with `seed + f`.
    pub seed: u64,
    pub weight: f64,
    pub fold_models: &'a [FoldModel],
    /// Boosting rounds each fold model kept (empty for other learners).
    pub fold_iterations: &'a [usize],
    /// Wall seconds of the whole trial, for estimates.
    pub fit_seconds: f64,
}

/// Whether the plan's folds partition its rows (each row validated once, trained on by every
/// other fold), as nested comparison needs; with three folds or more, so the rows outside two
/// folds are not empty.
pub fn comparable(folds: &[Fold]) -> bool {
    let k = folds.len();
    if k < 3 {
        return false;
    }
    let validated: usize = folds.iter().map(|f| f.valid.len()).sum();
    let mut seen = std::collections::HashSet::with_capacity(validated);
    folds.iter().all(|f| {
        f.valid.iter().all(|&r| seen.insert(r)) && f.train.len() + f.valid.len() == validated
    })
}

/// `other`, or nothing when it splits the rows into the same folds as `folds` (few groups
/// leave group k-fold no other choice), where a comparison would not be independent.
pub fn unless_same_partition(folds: &[Fold], other: Vec<Fold>) -> Vec<Fold> {
    let sets = |f: &[Fold]| {
        let mut v: Vec<Vec<u32>> = f
            .iter()
            .map(|f| {
                let mut r = f.valid.clone();
                r.sort_unstable();
                r
            })
            .collect();
        v.sort();
        v
    };
    if sets(folds) == sets(&other) {
        Vec::new()
    } else {
        other
    }
}

/// Wall seconds of one fold fit of a trial that took `fit_seconds` over `k` folds (fitted two
/// at a time on two threads, so this is the trial's share per fold either way).
fn per_fit(fit_seconds: f64, k: usize) -> f64 {
    fit_seconds / k.max(1) as f64
}

/// Seconds to keep free for the final stage, from the trials likely to be in the final model
/// (`fit_seconds` of each) and the whole budget: enough for every nested fold when that is
/// cheap, for two folds (the least a decision needs, see [`RefitComparison::refit_wins`]) and
/// the refit at least, and nothing when even that would take more than 15% of the budget (the
/// search needs the time more; the bag is kept). At least 3% of the budget when anything is
/// reserved: with trials of milliseconds the estimate is all overhead, and such searches have
/// long stopped improving.
/// `search_folds` is the search's fold count; `comparison_folds` the comparison partition's,
/// 0 when it is not [`comparable`] (checked once by the caller, not on every trial).
pub fn reserve_seconds(
    mode: FinalMode,
    search_folds: usize,
    comparison_folds: usize,
    fit_seconds: &[f64],
    budget: f64,
) -> f64 {
    let s: f64 = fit_seconds.iter().map(|&t| per_fit(t, search_folds)).sum();
    let refit = refit_seconds(fit_seconds, search_folds);
    let k = comparison_folds as f64;
    match mode {
        FinalMode::Bag => 0.0,
        FinalMode::Refit => refit,
        FinalMode::Auto if comparison_folds == 0 => 0.0,
        FinalMode::Auto => {
            // Outer fold i needs k-1-i pair fits and one refit stand-in.
            let two = (2.0 * k - 1.0) * s + refit;
            let all = (k * (k - 1.0) / 2.0 + k) * s + refit;
            if two > 0.15 * budget {
                0.0
            } else {
                all.max(0.03 * budget).min(two.max(0.1 * budget))
            }
        }
    }
}

/// Estimated seconds to refit trials that took `fit_seconds` over `k` folds on all rows: one
/// fit each on more rows, with more rounds for boosting.
pub fn refit_seconds(fit_seconds: &[f64], k: usize) -> f64 {
    1.5 * fit_seconds.iter().map(|&t| per_fit(t, k)).sum::<f64>()
}

/// The bag: every member's fold models, the member's weight shared among them.
pub fn bag(members: &[Member]) -> Result<Vec<EnsembleMember>, AutomlError> {
    let mut out = Vec::new();
    for m in members {
        let n = m.fold_models.len() as f64;
        for (f, model) in m.fold_models.iter().enumerate() {
            out.push(EnsembleMember {
                weight: m.weight / n,
                label: format!("{} trial {}, fold {}", m.learner, m.trial, f + 1),
                predictor: model.predictor()?.into_owned(),
            });
        }
    }
    Ok(out)
}

/// Boosting rounds for a model fitted on `to_rows` rows, from the best rounds found on
/// `from_rows`: more rows support more rounds before overfitting; the square root of the ratio
/// is the usual, mild, correction.
pub fn refit_rounds(best: &[usize], from_rows: f64, to_rows: f64) -> usize {
    if best.is_empty() {
        return 1;
    }
    let mean = best.iter().sum::<usize>() as f64 / best.len() as f64;
    let scale = (to_rows / from_rows.max(1.0)).max(1.0).sqrt();
    ((mean * scale).round() as usize).max(1)
}

fn is_boosting(params: &LearnerParams) -> bool {
    matches!(params, LearnerParams::Tree(p) if p.boosting == whet_learn::gbdt::Boosting::Gbdt)
}

fn with_rounds(params: LearnerParams, rounds: usize) -> LearnerParams {
    match params {
        LearnerParams::Tree(mut p) => {
            p.num_iterations = rounds;
            p.early_stopping_round = 0;
            LearnerParams::Tree(p)
        }
        other => other,
    }
}

/// Runs `jobs` two at a time when there are threads to spare; results come back in job order.
pub(crate) fn run_paired<T: Send, R: Send>(jobs: Vec<T>, run: impl Fn(T) -> R + Sync) -> Vec<R> {
    let width = if rayon::current_num_threads() > 1 {
        2
    } else {
        1
    };
    let mut out = Vec::with_capacity(jobs.len());
    let mut it = jobs.into_iter();
    loop {
        let Some(a) = it.next() else { break };
        if width == 2
            && let Some(b) = it.next()
        {
            let (ra, rb) = rayon::join(|| run(a), || run(b));
            out.push(ra);
            out.push(rb);
        } else {
            out.push(run(a));
        }
    }
    out
}

/// Every member fitted on all the plan's rows: boosting with the mean of its folds' best
/// rounds scaled to the larger data, the other learners as configured.
pub fn refit(
    problem: &Problem,
    folds: &[Fold],
    members: &[Member],
    deadline: Option<Instant>,
) -> Result<Vec<EnsembleMember>, FoldError> {
    if folds.is_empty() {
        return Err(FoldError::Failed("no folds".into()));
    }
    // Every row any fold trains or validates on: with time-ordered folds no single fold
    // covers them all.
    let mut all: Vec<u32> = folds
        .iter()
        .flat_map(|f| f.train.iter().chain(&f.valid))
        .copied()
        .collect();
    all.sort_unstable();
    all.dedup();
    let k = folds.len();
    let mean_train = folds.iter().map(|f| f.train.len()).sum::<usize>() as f64 / k as f64;
    let jobs: Vec<&Member> = members.iter().collect();
    let fitted = run_paired(jobs, |m| {
        let params = m.config.params(all.len(), m.seed.wrapping_add(k as u64));
        let params = if is_boosting(&params) {
            let rounds = refit_rounds(m.fold_iterations, mean_train, all.len() as f64);
            with_rounds(params, rounds)
        } else {
            params
        };
        fit_on_rows(problem, params, m.config.log_target, &all, &[], deadline)
            .map(|(model, _)| model)
    });
    let mut out = Vec::with_capacity(members.len());
    for (m, model) in members.iter().zip(fitted) {
        out.push(EnsembleMember {
            weight: m.weight,
            label: format!("{} trial {}, refit on all rows", m.learner, m.trial),
            predictor: model?,
        });
    }
    Ok(out)
}

/// Per member and outer fold: the running sum of inner-bag predictions for the fold's rows and
/// the best rounds the inner fits found.
struct Inner {
    bag_sum: Vec<Vec<f64>>,
    best_rounds: Vec<Vec<usize>>,
    rows: Vec<usize>,
}

/// Scores the bag and the refit procedures in nested cross-validation on `folds`, outer fold
/// by outer fold, until `deadline` (a fold interrupted part-way is not counted). None when not
/// even one fold finished, or the folds are not comparable.
///
/// `folds` must be drawn independently of the search's folds: the members and their ensemble
/// weights were chosen for how their fold models predicted the search's folds, so on those
/// folds a refit's stand-in (the same fit as a fold model) would inherit that selection's
/// optimism and win too often.
pub fn compare(
    problem: &Problem,
    folds: &[Fold],
    members: &[Member],
    metric: Metric,
    deadline: Option<Instant>,
) -> Option<RefitComparison> {
    compare_folds(problem, folds, members, metric, deadline, folds.len())
}

fn compare_folds(
    problem: &Problem,
    folds: &[Fold],
    members: &[Member],
    metric: Metric,
    deadline: Option<Instant>,
    max_folds: usize,
) -> Option<RefitComparison> {
    if !comparable(folds) || members.is_empty() {
        return None;
    }
    let k = folds.len();
    let n_out = problem.n_outputs();
    let mut fold_of = vec![usize::MAX; problem.x.n_rows];
    for (i, f) in folds.iter().enumerate() {
        for &r in &f.valid {
            fold_of[r as usize] = i;
        }
    }
    let mut all_rows: Vec<u32> = folds.iter().flat_map(|f| f.valid.iter().copied()).collect();
    all_rows.sort_unstable();
    let mut inner: Vec<Inner> = members
        .iter()
        .map(|_| Inner {
            bag_sum: folds
                .iter()
                .map(|f| vec![0.0; f.valid.len() * n_out])
                .collect(),
            best_rounds: vec![Vec::new(); k],
            rows: vec![0; k],
        })
        .collect();
    let total_weight: f64 = members.iter().map(|m| m.weight).sum();
    let mut scored_rows: Vec<u32> = Vec::new();
    let mut bag_pred: Vec<f64> = Vec::new();
    let mut refit_pred: Vec<f64> = Vec::new();
    let mut gains: Vec<f64> = Vec::new();
    let mut folds_compared = 0;
    let fit_seconds: f64 = members.iter().map(|m| per_fit(m.fit_seconds, k)).sum();

    'outer: for i in 0..k.min(max_folds) {
        // Pairs (i, j > i) and the refit stand-in finish outer fold i; pairs with j < i were
        // fitted for earlier folds.
        let estimate = (k - i) as f64 * fit_seconds;
        if deadline.is_some_and(|d| {
            d.checked_duration_since(Instant::now())
                .is_none_or(|left| left.as_secs_f64() < estimate)
        }) {
            break;
        }
        let mut jobs = Vec::new();
        for j in i + 1..k {
            for mi in 0..members.len() {
                jobs.push((j, mi));
            }
        }
        let results = run_paired(jobs, |(j, mi)| {
            let m = &members[mi];
            let rows: Vec<u32> = all_rows
                .iter()
                .copied()
                .filter(|&r| {
                    let f = fold_of[r as usize];
                    f != i && f != j
                })
                .collect();
            let seed = m.seed.wrapping_add(0x9E57_0000 + (i * k + j) as u64);
            let params = m.config.params(rows.len(), seed);
            let boosting = is_boosting(&params);
            let stop_on: Vec<&[u32]> = if boosting {
                vec![&folds[i].valid, &folds[j].valid]
            } else {
                Vec::new()
            };
            let (model, best) = fit_on_rows(
                problem,
                params,
                m.config.log_target,
                &rows,
                &stop_on,
                deadline,
            )?;
            // Fold i's rows are predicted by the model stopped on fold j, and vice versa.
            let predict = |rows: &[u32], rounds: Option<usize>| match rounds
                .and_then(|r| truncated(&model, r))
            {
                Some(cut) => predict_rows(problem, &cut, rows),
                None => predict_rows(problem, &model, rows),
            };
            let (stop_i, stop_j) = match best.as_slice() {
                [a, b] => (Some(*a), Some(*b)),
                _ => (None, None),
            };
            let on_i = predict(&folds[i].valid, stop_j);
            let on_j = predict(&folds[j].valid, stop_i);
            Ok::<_, FoldError>((j, mi, rows.len(), stop_i, stop_j, on_i, on_j))
        });
        for r in results {
            let Ok((j, mi, n_rows, stop_i, stop_j, on_i, on_j)) = r else {
                break 'outer;
            };
            let s = &mut inner[mi];
            for (acc, v) in s.bag_sum[i].iter_mut().zip(&on_i.values) {
                *acc += v;
            }
            for (acc, v) in s.bag_sum[j].iter_mut().zip(&on_j.values) {
                *acc += v;
            }
            if let (Some(bi), Some(bj)) = (stop_i, stop_j) {
                s.best_rounds[i].push(bj);
                s.best_rounds[j].push(bi);
            }
            s.rows[i] = n_rows;
            s.rows[j] = n_rows;
        }
        // Outer fold i's inner bags are complete: the refit procedure on the rows outside it,
        // boosting with the rounds its inner fits chose.
        let fold = &folds[i];
        let refits = run_paired((0..members.len()).collect(), |mi| {
            let m = &members[mi];
            let s = &inner[mi];
            let params = m.config.params(
                fold.train.len(),
                m.seed.wrapping_add(0x9E58_0000 + i as u64),
            );
            let params = if s.best_rounds[i].is_empty() {
                params
            } else {
                let rounds =
                    refit_rounds(&s.best_rounds[i], s.rows[i] as f64, fold.train.len() as f64);
                with_rounds(params, rounds)
            };
            let (model, _) = fit_on_rows(
                problem,
                params,
                m.config.log_target,
                &fold.train,
                &[],
                deadline,
            )?;
            Ok::<_, FoldError>(predict_rows(problem, &model, &fold.valid))
        });
        let mut fold_bag = vec![0.0; fold.valid.len() * n_out];
        let mut fold_refit = vec![0.0; fold.valid.len() * n_out];
        for ((m, s), refit) in members.iter().zip(&inner).zip(refits) {
            let Ok(refit) = refit else {
                break 'outer;
            };
            let w = m.weight / total_weight.max(f64::MIN_POSITIVE);
            for (acc, v) in fold_bag.iter_mut().zip(&s.bag_sum[i]) {
                *acc += w * v / (k - 1) as f64;
            }
            for (acc, v) in fold_refit.iter_mut().zip(&refit.values) {
                *acc += w * v;
            }
        }
        let score = |values: &[f64]| {
            let p = Predictions {
                n_rows: fold.valid.len(),
                n_outputs: n_out,
                values: values.to_vec(),
            };
            loss_of(metric, problem.score(metric, &fold.valid, &p))
        };
        gains.push(score(&fold_bag) - score(&fold_refit));
        scored_rows.extend_from_slice(&fold.valid);
        bag_pred.extend(fold_bag);
        refit_pred.extend(fold_refit);
        folds_compared += 1;
    }
    if folds_compared == 0 {
        return None;
    }
    let as_predictions = |values: Vec<f64>| Predictions {
        n_rows: scored_rows.len(),
        n_outputs: n_out,
        values,
    };
    let bag_score = problem.score(metric, &scored_rows, &as_predictions(bag_pred));
    let refit_score = problem.score(metric, &scored_rows, &as_predictions(refit_pred));
    let n = gains.len() as f64;
    let refit_gain = gains.iter().sum::<f64>() / n;
    let refit_gain_se = if gains.len() > 1 {
        let var = gains.iter().map(|g| (g - refit_gain).powi(2)).sum::<f64>() / (n - 1.0);
        (var / n).sqrt()
    } else {
        f64::NAN
    };
    Some(RefitComparison {
        folds_compared,
        folds: k,
        bag_score,
        refit_score,
        refit_gain,
        refit_gain_se,
    })
}

impl RefitComparison {
    /// The refit replaces the bag only when it scored better by more than the noise: better
    /// pooled, and better fold by fold by more than one standard error, over two folds or
    /// more. The bag is already fitted and is what the search validated; and where the two
    /// are close the bag tends to hold up better on new data (averaging k models lowers
    /// variance, and one level down the refit's extra data counts for slightly more than it
    /// will at the top: (k-1)/(k-2) against k/(k-1)).
    pub fn refit_wins(&self, metric: Metric) -> bool {
        self.folds_compared >= 2
            && loss_of(metric, self.refit_score) < loss_of(metric, self.bag_score)
            && self.refit_gain > self.refit_gain_se
    }
}

/// The final model's members and how they were made: the bag, or each member refit on all
/// rows, as `mode` asks or (auto) as nested cross-validation decides. Falls back to the bag,
/// with a note, whenever the comparison or the refit does not fit in the time left.
#[allow(clippy::too_many_arguments)]
pub(crate) fn choose_final(
    problem: &Problem,
    plan: &CvPlan,
    members: &[Member],
    metric: Metric,
    mode: FinalMode,
    deadline: Option<Instant>,
    notes: &mut Vec<String>,
) -> Result<(Vec<EnsembleMember>, FinalStrategy, Option<RefitComparison>), AutomlError> {
    // None: the bag, assembled (and its packed fold models decoded) once chosen.
    let keep_bag = || None;
    let holdout = plan.folds.len() == 1;
    let refit_or_bag = |comparison: Option<RefitComparison>, notes: &mut Vec<String>| match refit(
        problem,
        &plan.folds,
        members,
        deadline,
    ) {
        Ok(refit) => (Some(refit), FinalStrategy::Refit, comparison),
        Err(e) => {
            notes.push(format!(
                    "the refit on all rows did not finish ({}); the final model is the bag of fold models",
                    match e {
                        FoldError::Interrupted if whet_learn::stop::stop_requested() => {
                            "stopped on request".to_string()
                        }
                        FoldError::Interrupted => "the time budget ran out".to_string(),
                        FoldError::Failed(m) => m,
                    }
                ));
            (keep_bag(), FinalStrategy::Bag, comparison)
        }
    };
    let (chosen, strategy, comparison) = match mode {
        FinalMode::Bag => (keep_bag(), FinalStrategy::Bag, None),
        FinalMode::Refit => refit_or_bag(None, notes),
        FinalMode::Auto if holdout => (keep_bag(), FinalStrategy::Bag, None),
        FinalMode::Auto if !comparable(&plan.comparison_folds) => {
            notes.push(
                "bag and refit are compared only when the rows can be partitioned into folds a second time (not with time-ordered folds); the final model is the bag of fold models (--final refit refits on all rows)"
                    .into(),
            );
            (keep_bag(), FinalStrategy::Bag, None)
        }
        FinalMode::Auto => {
            // Leave the refit's own time out of the comparison's.
            let fit_seconds: Vec<f64> = members.iter().map(|m| m.fit_seconds).collect();
            let refit_seconds = refit_seconds(&fit_seconds, plan.folds.len());
            let compare_deadline = deadline.map(|d| {
                d.checked_sub(Duration::from_secs_f64(refit_seconds))
                    .unwrap_or(d)
            });
            match compare(
                problem,
                &plan.comparison_folds,
                members,
                metric,
                compare_deadline,
            ) {
                None => {
                    notes.push(
                        "bag and refit were not compared: nested cross-validation did not fit in the time left; the final model is the bag of fold models (more --time, or --final refit)"
                            .into(),
                    );
                    (keep_bag(), FinalStrategy::Bag, None)
                }
                Some(c) if c.refit_wins(metric) => refit_or_bag(Some(c), notes),
                Some(c) => (keep_bag(), FinalStrategy::Bag, Some(c)),
            }
        }
    };
    let chosen = match chosen {
        Some(refit) => refit,
        None => bag(members)?,
    };
    Ok((chosen, strategy, comparison))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::portfolio;
    use crate::trial::fit_fold;
    use whet_data::Task;
    use whet_data::prep::{Feature, FeatureData, Features};
    use whet_data::rng::Rng;
    use whet_data::split::{holdout, kfold, time_split};
    use whet_learn::binning::BinnedData;
    use whet_learn::model::Predictor;

    /// y = 1 when x0 + x1² + noise > 0.6; x2 is noise.
    fn data(n: usize) -> (Features, Vec<f64>) {
        let mut rng = Rng::new(7);
        let mut cols = vec![Vec::new(), Vec::new(), Vec::new()];
        let mut y = Vec::new();
        for _ in 0..n {
            let v: Vec<f64> = (0..3).map(|_| rng.next_f64()).collect();
            let noise = (rng.next_f64() - 0.5) * 0.6;
            y.push(f64::from(u8::from(v[0] + v[1] * v[1] + noise > 0.6)));
            for (c, x) in cols.iter_mut().zip(&v) {
                c.push(*x as f32);
            }
        }
        let columns = cols
            .into_iter()
            .enumerate()
            .map(|(i, c)| Feature {
                name: format!("x{i}"),
                data: FeatureData::Numeric(c),
            })
            .collect();
        (Features { n_rows: n, columns }, y)
    }

    fn binary<'a>(x: &'a Features, y: &'a [f64], binned: &'a BinnedData) -> Problem<'a> {
        Problem {
            x,
            y,
            weight: None,
            task: Task::Binary,
            n_classes: 2,
            binned: Some(binned),
            log_y: None,
        }
    }

    struct Trial {
        config: Config,
        models: Vec<FoldModel>,
        iterations: Vec<usize>,
    }

    fn cross_validate(problem: &Problem, folds: &[Fold], config: Config, seed: u64) -> Trial {
        let mut models = Vec::new();
        let mut iterations = Vec::new();
        for (f, fold) in folds.iter().enumerate() {
            let r = fit_fold(
                problem,
                &config,
                fold,
                Metric::RocAuc,
                seed + f as u64,
                None,
            )
            .unwrap();
            iterations.extend(r.iterations);
            models.push(r.model);
        }
        Trial {
            config,
            models,
            iterations,
        }
    }

    fn member<'a>(t: &'a Trial, learner: LearnerKind, seed: u64, weight: f64) -> Member<'a> {
        Member {
            trial: 0,
            learner,
            config: &t.config,
            seed,
            weight,
            fold_models: &t.models,
            fold_iterations: if learner == LearnerKind::Gbdt {
                &t.iterations
            } else {
                &[]
            },
            fit_seconds: 0.1,
        }
    }

    #[test]
    fn only_partitions_into_three_folds_or_more_are_comparable() {
        assert!(comparable(&kfold(100, 5, true, 1).unwrap()));
        assert!(comparable(&kfold(100, 3, true, 1).unwrap()));
        assert!(!comparable(&kfold(100, 2, true, 1).unwrap()));
        assert!(!comparable(&[holdout(100, 0.1, 1).unwrap()]));
        let order: Vec<i64> = (0..100).collect();
        assert!(!comparable(&time_split(&order, 3, 0).unwrap()));
    }

    #[test]
    fn refit_rounds_scale_the_mean_by_the_root_of_the_row_ratio() {
        assert_eq!(refit_rounds(&[90, 110], 400.0, 400.0), 100);
        assert_eq!(refit_rounds(&[100], 400.0, 1600.0), 200);
        // Never fewer rounds for fewer rows, never zero.
        assert_eq!(refit_rounds(&[100], 400.0, 100.0), 100);
        assert_eq!(refit_rounds(&[], 400.0, 500.0), 1);
    }

    #[test]
    fn nested_scores_match_the_procedures_done_by_hand() {
        let (x, y) = data(600);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let problem = binary(&x, &y, &binned);
        let search_folds = kfold(600, 4, true, 3).unwrap();
        let folds = kfold(600, 4, true, 99).unwrap();
        let rows: Vec<u32> = (0..600).collect();
        let gbdt = cross_validate(
            &problem,
            &search_folds,
            portfolio(LearnerKind::Gbdt, Task::Binary)[0].clone(),
            40,
        );
        let linear = cross_validate(
            &problem,
            &search_folds,
            portfolio(LearnerKind::Linear, Task::Binary)[0].clone(),
            50,
        );
        let members = [
            member(&gbdt, LearnerKind::Gbdt, 40, 0.75),
            member(&linear, LearnerKind::Linear, 50, 0.25),
        ];
        let c = compare_folds(&problem, &folds, &members, Metric::RocAuc, None, 1).unwrap();
        assert_eq!((c.folds_compared, c.folds), (1, 4));

        // Outer fold 0 by hand. The bag: per member, the average of fits outside folds 0 and
        // j, boosting stopped on fold j alone. The refit: one fit outside fold 0, boosting with
        // the mean of those stopping rounds scaled by the root of the row ratio.
        let k = folds.len();
        let valid = &folds[0].valid;
        let mut bag = vec![0.0; valid.len()];
        let mut refit = vec![0.0; valid.len()];
        for m in &members {
            let mut member_bag = vec![0.0; valid.len()];
            let mut best = Vec::new();
            let mut inner_rows = 0;
            for j in 1..k {
                let train: Vec<u32> = rows
                    .iter()
                    .copied()
                    .filter(|r| !folds[0].valid.contains(r) && !folds[j].valid.contains(r))
                    .collect();
                inner_rows = train.len();
                let inner = Fold {
                    train,
                    valid: folds[j].valid.clone(),
                };
                let pair_seed = m.seed.wrapping_add(0x9E57_0000 + j as u64);
                let r =
                    fit_fold(&problem, m.config, &inner, Metric::RocAuc, pair_seed, None).unwrap();
                best.extend(r.iterations.filter(|_| m.learner == LearnerKind::Gbdt));
                let p = predict_rows(&problem, &r.model.predictor().unwrap(), valid);
                for (a, v) in member_bag.iter_mut().zip(&p.values) {
                    *a += v;
                }
            }
            let refit_seed = m.seed.wrapping_add(0x9E58_0000);
            let params = m.config.params(folds[0].train.len(), refit_seed);
            let params = if best.is_empty() {
                params
            } else {
                let rounds = refit_rounds(&best, inner_rows as f64, folds[0].train.len() as f64);
                with_rounds(params, rounds)
            };
            let (model, _) =
                fit_on_rows(&problem, params, false, &folds[0].train, &[], None).unwrap();
            let p = predict_rows(&problem, &model, valid);
            for i in 0..valid.len() {
                bag[i] += m.weight * member_bag[i] / (k - 1) as f64;
                refit[i] += m.weight * p.values[i];
            }
        }
        let as_p = |values: Vec<f64>| Predictions {
            n_rows: valid.len(),
            n_outputs: 1,
            values,
        };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        let by_hand = problem.score(Metric::RocAuc, valid, &as_p(bag));
        assert!(close(c.bag_score, by_hand), "{} vs {by_hand}", c.bag_score);
        let by_hand = problem.score(Metric::RocAuc, valid, &as_p(refit));
        assert!(
            close(c.refit_score, by_hand),
            "{} vs {by_hand}",
            c.refit_score
        );

        // Every fold when there is no deadline; both procedures learn the signal.
        let all = compare(&problem, &folds, &members, Metric::RocAuc, None).unwrap();
        assert_eq!(all.folds_compared, 4);
        assert!(all.bag_score > 0.8 && all.refit_score > 0.8, "{all:?}");
        // Not comparable on a partition that is not one.
        assert!(
            compare(
                &problem,
                &[holdout(600, 0.1, 1).unwrap()],
                &members,
                Metric::RocAuc,
                None
            )
            .is_none()
        );
    }

    #[test]
    fn the_refit_must_lead_by_more_than_the_noise() {
        let c =
            |folds_compared, bag_score, refit_score, refit_gain, refit_gain_se| RefitComparison {
                folds_compared,
                folds: 5,
                bag_score,
                refit_score,
                refit_gain,
                refit_gain_se,
            };
        // Log loss: lower is better, so the gain is bag minus refit.
        assert!(c(5, 0.50, 0.48, 0.02, 0.005).refit_wins(Metric::LogLoss));
        assert!(!c(5, 0.50, 0.49, 0.004, 0.005).refit_wins(Metric::LogLoss));
        assert!(!c(1, 0.50, 0.40, 0.1, f64::NAN).refit_wins(Metric::LogLoss));
        // Ahead fold by fold but behind pooled: not a clear lead either.
        assert!(!c(5, 0.50, 0.51, 0.02, 0.005).refit_wins(Metric::LogLoss));
        assert!(c(5, 0.80, 0.82, 0.02, 0.005).refit_wins(Metric::RocAuc));
    }

    #[test]
    fn the_final_stage_reserves_time_only_when_a_decision_fits() {
        let folds = kfold(100, 5, true, 1).unwrap();
        let other = kfold(100, 5, true, 2).unwrap();
        // Trials of 1 s over 5 folds: 0.2 s per fit; two outer folds and the refit take
        // 9 x 0.2 + 0.3 = 2.1 s, all five 15 x 0.2 + 0.3 = 3.3 s.
        let k = |f: &[Fold]| if comparable(f) { f.len() } else { 0 };
        let r = |mode, budget| reserve_seconds(mode, folds.len(), k(&other), &[1.0], budget);
        assert!((r(FinalMode::Auto, 60.0) - 3.3).abs() < 1e-9);
        assert!(
            (r(FinalMode::Auto, 14.0) - 2.1).abs() < 1e-9,
            "{}",
            r(FinalMode::Auto, 14.0)
        );
        assert_eq!(r(FinalMode::Auto, 10.0), 0.0, "more than 15% of the budget");
        assert_eq!(r(FinalMode::Bag, 60.0), 0.0);
        assert!((r(FinalMode::Refit, 60.0) - 0.3).abs() < 1e-9);
        assert_eq!(
            reserve_seconds(FinalMode::Auto, folds.len(), k(&[]), &[1.0], 60.0),
            0.0
        );
        // Millisecond trials: 3% of the budget.
        let tiny = reserve_seconds(FinalMode::Auto, folds.len(), k(&other), &[0.01], 60.0);
        assert!((tiny - 1.8).abs() < 1e-9, "{tiny}");
    }

    #[test]
    fn a_second_partition_identical_to_the_first_is_refused() {
        let a = kfold(50, 5, true, 1).unwrap();
        let mut same = a.clone();
        same.reverse();
        assert!(unless_same_partition(&a, same).is_empty());
        let other = kfold(50, 5, true, 2).unwrap();
        assert_eq!(unless_same_partition(&a, other.clone()), other);
    }

    #[test]
    fn refit_fits_each_member_once_on_every_row_with_its_weight() {
        let (x, y) = data(300);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let problem = binary(&x, &y, &binned);
        let folds = kfold(300, 3, true, 3).unwrap();
        let gbdt = cross_validate(
            &problem,
            &folds,
            portfolio(LearnerKind::Gbdt, Task::Binary)[0].clone(),
            1,
        );
        let linear = cross_validate(
            &problem,
            &folds,
            portfolio(LearnerKind::Linear, Task::Binary)[0].clone(),
            2,
        );
        let members = [
            member(&gbdt, LearnerKind::Gbdt, 1, 0.75),
            member(&linear, LearnerKind::Linear, 2, 0.25),
        ];
        let refitted = super::refit(&problem, &folds, &members, None).unwrap();
        assert_eq!(refitted.len(), 2);
        assert_eq!((refitted[0].weight, refitted[1].weight), (0.75, 0.25));
        let Predictor::Gbdt(g) = &refitted[0].predictor else {
            panic!("a boosting member stays boosting");
        };
        let mean_train = folds.iter().map(|f| f.train.len()).sum::<usize>() as f64 / 3.0;
        assert_eq!(
            g.n_iterations(),
            refit_rounds(&gbdt.iterations, mean_train, 300.0)
        );
        // Time-ordered folds: the refit still uses every row, though no fold covers them all.
        let order: Vec<i64> = (0..300).collect();
        let time_folds = time_split(&order, 3, 0).unwrap();
        let linear_only = [member(&linear, LearnerKind::Linear, 2, 1.0)];
        let on_time = super::refit(&problem, &time_folds, &linear_only, None).unwrap();
        let on_all = super::refit(&problem, &folds, &linear_only, None).unwrap();
        assert_eq!(
            on_time[0].predictor.predict(&x),
            on_all[0].predictor.predict(&x)
        );
        // The bag keeps every fold model, sharing the member's weight.
        let bag = bag(&members).unwrap();
        assert_eq!(bag.len(), 6);
        assert!((bag.iter().map(|m| m.weight).sum::<f64>() - 1.0).abs() < 1e-12);
    }
}

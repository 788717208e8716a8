//! The search: portfolio first, then cost-aware tuning of whichever learner is expected to
//! improve the best score soonest, every trial cross-validated with successive halving over
//! folds; then ensemble selection and the final model.
//!
//! Determinism: proposals, pruning and the choice of learner depend only on the seed and on
//! scores and deterministic cost estimates, never on the clock. A time budget only decides
//! where the sequence stops (an interrupted trial is discarded whole).
//!
//! Look-ahead: trial k+1 is proposed from the results of trials up to k−1, before trial k's
//! result is told (the tuners, the choice of learner and the portfolio skips see results one
//! trial late); its pruning compares it with the best of trials up to k, as results are
//! consumed in trial order. This fixed pipeline depth holds in every run, one thread or many,
//! local or through workers, so they all make the same trials; it lets trial k+1's folds be
//! fitted while trial k's last ones finish ([`crate::local`], [`crate::remote`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use whet_data::prep::FeatureData;
use whet_data::split::Fold;
use whet_learn::data::Predictions;
use whet_learn::metrics::Metric;
use whet_learn::model::{EnsembleModel, Predictor};

use crate::budget::{Budget, finish_reserve};
use crate::ensemble::{self, ENSEMBLE_STEPS, ensemble_candidates, holds_out_of_sample};
use crate::error::AutomlError;
use crate::events::{Observer, Stage, StudyEvent, send_new_notes};
use crate::expense::{DEFAULT_MAX_BIN, PROBES, Shape, TRIAL_SHARE, Triage};
use crate::finalize::{self, FinalMode, FinalStrategy, Member, RefitComparison, choose_final};
use crate::halving::{FoldsOutcome, fold_tasks, run_folds, run_folds_remote, seed_of_trial};
use crate::plan::CvPlan;
use crate::remote::{FinalTask, FoldExecutor};
use crate::revalidate;
use crate::schedule::{LearnerState, next_config, portfolio_queue, probes_first, ran_to_cap};
use crate::space::{Config, LearnerKind, active_dims};
use crate::trial::{FoldError, FoldModel, FoldResult, Problem, fit_fold, loss_of};
use crate::tuner::Tuner;

/// Above this many rows kNN costs more than it is likely to give; it is left out with a note.
pub const KNN_MAX_ROWS: usize = 30_000;
/// Boosting rounds of the quick model fitted when no trial finished in the budget.
const RESCUE_ROUNDS: usize = 60;

#[derive(Clone, Debug)]
pub struct SearchOptions {
    pub metric: Metric,
    pub budget: Budget,
    pub learners: Vec<LearnerKind>,
    pub seed: u64,
    /// Seconds the caller needs after the search per second of out-of-fold prediction of
    /// the final model (scoring a test set, say); reserved from a time budget.
    pub finish_factor: f64,
    /// Bag of fold models, refit on all rows, or whichever scores better (nested CV).
    pub final_mode: FinalMode,
    /// The time budget as given (`--time`), which trials are planned against: an expensive
    /// problem runs its cheap learners first and caps each trial's trees (see
    /// [`crate::expense`]). A given number, not the clock, so the plan is reproducible.
    pub plan_seconds: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialStatus {
    Completed,
    /// Stopped after some folds: clearly worse than the best trial on the same folds.
    Pruned,
    Failed,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrialRecord {
    pub id: usize,
    pub learner: LearnerKind,
    pub params: BTreeMap<String, String>,
    pub status: TrialStatus,
    /// Why it failed or was pruned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub fold_scores: Vec<f64>,
    /// Mean of the fold scores (of the folds run, for a pruned trial).
    pub cv_score: f64,
    pub cv_std: f64,
    /// Boosting rounds kept per fold (early stopping), or trees for forests.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iterations: Vec<usize>,
    pub fit_seconds: f64,
    pub cost_units: f64,
    /// Position in the portfolio, or None for a tuner proposal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portfolio: Option<usize>,
}

/// One fold's validation rows and a trial's predictions for them, in that order.
pub struct FoldPredictions<'a> {
    pub rows: &'a [u32],
    pub predictions: &'a Predictions,
}

#[derive(Clone, Debug, Serialize)]
pub struct EnsembleReport {
    /// (trial id, weight) with weights summing to one.
    pub members: Vec<(usize, f64)>,
    /// Out-of-fold score of the ensemble (all validated rows pooled).
    pub cv_score: f64,
    /// The best single trial's out-of-fold score on the same pooled rows: the like-for-like
    /// comparison (a trial's `cv_score` is the mean of its fold scores).
    pub best_trial_oof_score: f64,
}

#[derive(Debug)]
pub struct SearchResult {
    pub trials: Vec<TrialRecord>,
    /// The best single trial: by the search's scores, or by the revalidation's when the
    /// candidates were validated again (see `revalidate`).
    pub best_trial: usize,
    pub ensemble: Option<EnsembleReport>,
    /// Whether the candidates were validated again on a third partition: the ensemble was
    /// selected there and each member's bag holds its fold models from both partitions.
    pub revalidated: bool,
    /// True when the final model is the ensemble (it beat the best single trial in CV).
    pub uses_ensemble: bool,
    pub cv_score: f64,
    pub cv_std: f64,
    /// The best trial, or every ensemble member weighted: as a bag of its fold models, or
    /// refit on all rows (`final_strategy`).
    pub predictor: Predictor,
    pub final_strategy: FinalStrategy,
    /// Bag and refit scored in nested cross-validation, when they were compared.
    pub refit_comparison: Option<RefitComparison>,
    /// The final choice's out-of-fold predictions (the best trial's, or the ensemble's blend)
    /// over the validated rows; None when no trial finished.
    pub oof_predictions: Option<Predictions>,
    pub stopped_by: StopReason,
    pub notes: Vec<String>,
    pub search_seconds: f64,
    /// Seconds from the search's start until the last trial's result was in; the rest of
    /// `search_seconds` is ensemble selection and the final model.
    pub trials_seconds: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    TrialBudget,
    TimeBudget,
    /// No trial finished in the budget; a quick single-fold model was fitted instead.
    TooSmallBudget,
    /// The user stopped the search (Ctrl-C, SIGTERM); the model is built from finished trials.
    Interrupted,
}

/// What a kept trial carries beyond its record: predictions over the validated rows (in row
/// order) and its fold models.
struct Kept {
    trial: usize,
    config: Config,
    seed: u64,
    oof: Predictions,
    models: Vec<FoldModel>,
    iterations: Vec<usize>,
    fit_seconds: f64,
    predict_seconds: f64,
}

/// Runs the search. `problem.binned` must be set when any tree learner is in `options`.
pub fn search(
    problem: &Problem,
    plan: &CvPlan,
    options: &SearchOptions,
    observer: &mut dyn Observer,
) -> Result<SearchResult, AutomlError> {
    search_with(problem, plan, options, observer, None)
}

/// [`search`], with every trial's folds fitted through `executor` when one is given (see
/// [`crate::remote`]): the same loop, the same proposals and the same pruning, so the same
/// trials and model as a local search. Without one, a search with more than one thread fits
/// folds through the in-process pipeline ([`crate::local`]), one thread fits them in turn.
pub fn search_with(
    problem: &Problem,
    plan: &CvPlan,
    options: &SearchOptions,
    observer: &mut dyn Observer,
    executor: Option<&mut dyn FoldExecutor>,
) -> Result<SearchResult, AutomlError> {
    let threads = rayon::current_num_threads();
    match executor {
        Some(e) => search_loop(problem, plan, options, observer, Some(e)),
        None if threads > 1 => {
            let shared = crate::local::Shared::default();
            rayon::in_place_scope(|scope| {
                let mut local = crate::local::LocalExecutor::new(
                    scope,
                    &shared,
                    problem,
                    plan,
                    options.metric,
                    threads,
                );
                search_loop(problem, plan, options, observer, Some(&mut local))
            })
        }
        None => search_loop(problem, plan, options, observer, None),
    }
}

fn search_loop(
    problem: &Problem,
    plan: &CvPlan,
    options: &SearchOptions,
    observer: &mut dyn Observer,
    mut executor: Option<&mut dyn FoldExecutor>,
) -> Result<SearchResult, AutomlError> {
    let started = Instant::now();
    let metric = options.metric;
    observer.event(StudyEvent::StageChanged(Stage::Search));
    let mut notes = plan.notes.clone();
    let mut notes_sent = 0;
    let n_rows = problem.x.n_rows;
    let mut learners: Vec<LearnerKind> = Vec::new();
    for &l in &options.learners {
        if l == LearnerKind::Knn && n_rows > KNN_MAX_ROWS {
            notes.push(format!(
                "knn left out: {n_rows} rows is above {KNN_MAX_ROWS}, where its predictions cost more than they are likely to give"
            ));
            continue;
        }
        if !learners.contains(&l) {
            learners.push(l);
        }
    }
    if learners.is_empty() {
        return Err(AutomlError::NothingFitted(
            "no learner left to try".to_string(),
        ));
    }
    let mut queue = portfolio_queue(&learners, problem.task);
    if problem.log_y.is_some() {
        queue = crate::schedule::with_log_twins(queue, problem.task);
    }
    let shape = problem
        .binned
        .map(|b| Shape::with_bins(n_rows, b, DEFAULT_MAX_BIN, problem.task, problem.n_classes));
    let fold_rows: Vec<usize> = plan.folds.iter().map(|f| f.train.len()).collect();
    let triage = match (shape, options.plan_seconds) {
        (Some(shape), Some(seconds)) if seconds > 0.0 => {
            Some(Triage::assess(problem.task, &shape, &fold_rows, seconds))
        }
        _ => None,
    };
    if let Some(t) = &triage
        && t.probes_first()
    {
        probes_first(&mut queue);
        notes.push(format!(
            "one boosting trial is estimated at {:.0} s of the {:.0} s budget: {} run first, and every trial's trees are capped to about {:.0}% of the budget",
            t.reference_seconds,
            t.budget_seconds,
            PROBES
                .iter()
                .filter(|l| learners.contains(l))
                .map(|l| l.name())
                .collect::<Vec<_>>()
                .join(", "),
            TRIAL_SHARE * 100.0
        ));
    }
    let has_categorical = problem
        .x
        .columns
        .iter()
        .any(|c| matches!(c.data, FeatureData::Categorical { .. }));
    let mut states: BTreeMap<LearnerKind, LearnerState> = learners
        .iter()
        .map(|&l| {
            (
                l,
                LearnerState::new(Tuner::with_active(
                    l,
                    options.seed,
                    active_dims(l, has_categorical),
                )),
            )
        })
        .collect();
    // Rows every fold validates, ascending: the out-of-fold prediction order.
    let mut oof_rows: Vec<u32> = plan.folds.iter().flat_map(|f| f.valid.clone()).collect();
    oof_rows.sort_unstable();
    oof_rows.dedup();

    let deadline = options.budget.deadline();
    let budget_seconds = deadline.map_or(0.0, |d| d.duration_since(started).as_secs_f64());
    let comparison_folds = if finalize::comparable(&plan.comparison_folds) {
        plan.comparison_folds.len()
    } else {
        0
    };
    let max_trials = options.budget.max_trials();
    // Fitted in this process, like the final stage by default, remote workers or not.
    let revalidates = revalidate::applies(n_rows, &plan.revalidation_folds);
    let mut trials: Vec<TrialRecord> = Vec::new();
    let mut kept: Vec<Kept> = Vec::new();
    let mut stopped_by = StopReason::TrialBudget;
    // Every study proposes one trial ahead (module doc: "Look-ahead"), with or without an
    // executor, so that a run whose folds are fitted two trials at a time makes the trials
    // of a run that fits them one after another.
    // The trial proposed ahead: learner, config (already capped to the budget), portfolio
    // index, and whether the cap changed it.
    let mut ahead: Option<(LearnerKind, Config, Option<usize>, bool)> = None;
    let mut likely = LikelyMembers::new(problem, metric, &oof_rows);
    let afford = |config: Config| match (&triage, &shape) {
        (Some(t), Some(shape)) => t.afford(&config, shape, &fold_rows),
        _ => (config, false),
    };

    while trials.len() < max_trials {
        let (learner, config, portfolio_index, capped, submitted) = match ahead.take() {
            Some((l, c, p, capped)) => (l, c, p, capped, true),
            None => match next_config(&learners, &mut states, &mut queue) {
                Some((l, c, p)) => {
                    let (c, capped) = afford(c);
                    (l, c, p, capped, false)
                }
                None => break,
            },
        };
        // An expensive trial stops after its first fold unless it can still beat the best.
        let strict = triage.as_ref().is_some_and(Triage::probes_first);
        // Leave time to assemble and use the final model.
        let reserve_until = |likely: &[&Kept]| {
            deadline.map(|d| {
                let final_stage = finalize::reserve_seconds(
                    options.final_mode,
                    plan.folds.len(),
                    comparison_folds,
                    &likely.iter().map(|k| k.fit_seconds).collect::<Vec<_>>(),
                    budget_seconds,
                );
                let predict: Vec<f64> = likely.iter().map(|k| k.predict_seconds).collect();
                let revalidation = if revalidates {
                    revalidate::reserve_seconds(
                        &kept.iter().map(|k| k.fit_seconds).collect::<Vec<_>>(),
                        budget_seconds,
                    )
                } else {
                    0.0
                };
                let reserve = finish_reserve(&predict, options.finish_factor)
                    + Duration::from_secs_f64(final_stage + revalidation);
                d.checked_sub(reserve).unwrap_or(d)
            })
        };
        let mut effective_deadline = reserve_until(&likely.members(&kept));
        // The first guess at the final model is the five best kept trials. Near the end of
        // the budget, when that guess reserves over a second more than the best trial alone
        // would, the ensemble the kept trials make now decides instead (on large data often
        // one to three members: the guess left 12 of 60 s unused on flights_late). A trial
        // is cut at the deadline it starts with, so the reserve must be right before the
        // last trials start; the horizon (three of the longest trials so far, at least a
        // fifth of the budget) keeps the selection's cost to the end of the search.
        let longest = trials.iter().map(|t| t.fit_seconds).fold(0.0, f64::max);
        let horizon = Duration::from_secs_f64((3.0 * longest).max(0.2 * budget_seconds));
        let best_alone = reserve_until(&kept.iter().take(1).collect::<Vec<_>>());
        if let (Some(guess), Some(alone)) = (effective_deadline, best_alone)
            && Instant::now() + horizon >= guess
            && alone.saturating_duration_since(guess) > Duration::from_secs(1)
            && likely.refine(&kept)
        {
            effective_deadline = reserve_until(&likely.members(&kept));
        }
        if whet_learn::stop::stop_requested() {
            stopped_by = StopReason::Interrupted;
            break;
        }
        if effective_deadline.is_some_and(|d| Instant::now() >= d) {
            stopped_by = StopReason::TimeBudget;
            break;
        }
        let id = trials.len();
        if portfolio_index == Some(0)
            && id > 0
            && let Some(state) = states.get_mut(&learner)
        {
            // Trial 0 has nothing to be pruned against: its learner's defaults need not wait.
            state.first_pending = true;
        }
        observer.event(StudyEvent::TrialStarted { id, learner });
        let trial_seed = seed_of_trial(options.seed, id);
        let best_ref = best_completed(&trials, metric).map(|t| (t.fold_scores.clone(), t.cv_std));
        let t0 = Instant::now();
        if let Some(e) = executor.as_deref_mut()
            && !submitted
        {
            e.submit(fold_tasks(
                id,
                plan.folds.len(),
                &config,
                trial_seed,
                effective_deadline,
            ))?;
        }
        if trials.len() + 1 < max_trials {
            ahead = next_config(&learners, &mut states, &mut queue).map(|(l, c, p)| {
                let (c, capped) = afford(c);
                (l, c, p, capped)
            });
            if let (Some(e), Some((_, next, _, _))) = (executor.as_deref_mut(), &ahead) {
                // Queued behind trial k's folds, so those are taken first.
                e.submit(fold_tasks(
                    id + 1,
                    plan.folds.len(),
                    next,
                    seed_of_trial(options.seed, id + 1),
                    effective_deadline,
                ))?;
            }
        }
        let outcome = match executor.as_deref_mut() {
            None => run_folds(
                problem,
                plan,
                &config,
                metric,
                trial_seed,
                effective_deadline,
                best_ref.as_ref(),
                strict,
            ),
            Some(e) => run_folds_remote(
                e,
                id,
                plan.folds.len(),
                metric,
                effective_deadline,
                best_ref.as_ref(),
                strict,
            )?,
        };
        let fit_seconds = t0.elapsed().as_secs_f64();
        let (record, results) = match outcome {
            FoldsOutcome::Interrupted => {
                stopped_by = if whet_learn::stop::stop_requested() {
                    StopReason::Interrupted
                } else {
                    StopReason::TimeBudget
                };
                break;
            }
            FoldsOutcome::Failed(msg) => (
                TrialRecord {
                    id,
                    learner,
                    params: config.display_params(),
                    status: TrialStatus::Failed,
                    message: Some(msg),
                    fold_scores: Vec::new(),
                    cv_score: f64::NAN,
                    cv_std: f64::NAN,
                    iterations: Vec::new(),
                    fit_seconds,
                    cost_units: 0.0,
                    portfolio: portfolio_index,
                },
                Vec::new(),
            ),
            FoldsOutcome::Done {
                results,
                pruned,
                cost,
            } => {
                let scores: Vec<f64> = results.iter().map(|r| r.score).collect();
                let (mean, std) = mean_std(&scores);
                let record = TrialRecord {
                    id,
                    learner,
                    params: config.display_params(),
                    status: if pruned {
                        TrialStatus::Pruned
                    } else {
                        TrialStatus::Completed
                    },
                    message: pruned.then(|| {
                        format!(
                            "stopped after {} of {} folds: behind the best trial on the same folds",
                            results.len(),
                            plan.folds.len()
                        )
                    }),
                    fold_scores: scores,
                    cv_score: mean,
                    cv_std: std,
                    iterations: results.iter().filter_map(|r| r.iterations).collect(),
                    fit_seconds,
                    cost_units: cost,
                    portfolio: portfolio_index,
                };
                (record, results)
            }
        };
        // Tuner and scheduler bookkeeping; pruned trials count as what they scored so far.
        let loss = loss_of(metric, record.cv_score);
        // A holdout is one fold, so nothing is pruned: a learner's first default that trails
        // the best trial by over 1% of its loss stands for the verdict pruning gives under
        // cross-validation, and the learner's other defaults are skipped, its log-scale twin
        // too (on birthdays the forests' twins took 15 of 60 s and trailed by 40-65%).
        let far_behind = plan.folds.len() == 1
            && best_completed(&trials, metric).is_some_and(|b| {
                let best = loss_of(metric, b.cv_score);
                loss - best > 0.01 * best.abs()
            });
        if let Some(state) = states.get_mut(&learner) {
            if portfolio_index == Some(0) {
                state.first_pending = false;
                if record.status != TrialStatus::Completed || far_behind {
                    state.skip_portfolio = true;
                    state.skip_twin = far_behind;
                }
            }
            state.tuner.tell(&config, loss);
            // Rounds capped to fit the budget are not asked for again with three times as many.
            if learner == LearnerKind::Gbdt && !capped && ran_to_cap(&config, &record.iterations) {
                state.tuner.tell_capped(&config);
            }
            state.spent += record.cost_units;
            state.since_improvement += record.cost_units;
            if state.first_loss.is_nan() && loss.is_finite() {
                state.first_loss = loss;
            }
            if loss < state.best_loss {
                state.best_loss = loss;
                state.since_improvement = 0.0;
                state.best_trial_cost = record.cost_units;
            }
        }
        let completed = record.status == TrialStatus::Completed;
        trials.push(record);
        let fold_predictions: Vec<FoldPredictions> = results
            .iter()
            .zip(&plan.folds)
            .map(|(r, fold)| FoldPredictions {
                rows: &fold.valid,
                predictions: &r.predictions,
            })
            .collect();
        let best = best_completed(&trials, metric);
        observer.event(StudyEvent::TrialFinished {
            trial: &trials[id],
            best,
            folds: &fold_predictions,
        });
        if let Some(b) = best
            && b.id == id
        {
            observer.event(StudyEvent::NewBest { trial: b });
        }
        send_new_notes(observer, &notes, &mut notes_sent);
        if completed {
            likely.forget();
            let (oof, models, predict_seconds) =
                assemble_oof(problem, &plan.folds, &oof_rows, results);
            kept.push(Kept {
                trial: id,
                config: config.clone(),
                seed: trial_seed,
                oof,
                models,
                iterations: trials[id].iterations.clone(),
                fit_seconds,
                predict_seconds,
            });
            // Keep only what ensembles can use, so memory stays bounded. After many trials
            // the top ten are near-copies of one learner; each other learner's best stays a
            // candidate too, since a different kind of model is what a blend gains most from
            // (on diabetes, 3,000 trials left ten boosting models and no linear one).
            kept.sort_by(|a, b| {
                loss_of(metric, trials[a.trial].cv_score)
                    .total_cmp(&loss_of(metric, trials[b.trial].cv_score))
                    .then(a.trial.cmp(&b.trial))
            });
            let ranked: Vec<LearnerKind> = kept.iter().map(|k| trials[k.trial].learner).collect();
            let mut keep = ensemble_candidates(&ranked).into_iter();
            kept.retain(|_| keep.next().unwrap_or(false));
        }
    }
    let trials_seconds = started.elapsed().as_secs_f64();
    if let Some(e) = executor.as_deref_mut() {
        // A trial proposed ahead and never consumed leaves nothing queued behind.
        e.cancel(trials.len())?;
        e.cancel(trials.len() + 1)?;
        e.finish()?;
    }
    if trials.len() >= max_trials && stopped_by != StopReason::Interrupted {
        stopped_by = StopReason::TrialBudget;
    }
    if stopped_by == StopReason::Interrupted {
        notes.push(format!(
            "stopped on request after {} trials; the model is built from the {} that finished",
            trials.len(),
            trials
                .iter()
                .filter(|t| t.status == TrialStatus::Completed)
                .count()
        ));
        if kept.is_empty() {
            send_new_notes(observer, &notes, &mut notes_sent);
            return Err(AutomlError::Interrupted);
        }
    }

    if kept.is_empty() {
        // Nothing cross-validated in the budget: fit the cheapest sensible model on one fold
        // so the user still gets a model, and say so.
        let rescue = rescue_model(problem, plan, metric, options.seed)?;
        notes.push(format!(
            "the time budget ran out before any model finished validation; this model is a quick gbdt fitted on {} rows (validation {} = {:.5} on {} others); give a larger --time for a tuned model",
            plan.folds.first().map_or(0, |f| f.train.len()),
            metric.name(),
            rescue.score,
            plan.folds.first().map_or(0, |f| f.valid.len())
        ));
        let record = TrialRecord {
            id: trials.len(),
            learner: LearnerKind::Gbdt,
            params: rescue_config().display_params(),
            status: TrialStatus::Completed,
            message: Some("fitted after the budget ran out, on one fold".into()),
            fold_scores: vec![rescue.score],
            cv_score: rescue.score,
            cv_std: 0.0,
            iterations: rescue.iterations.into_iter().collect(),
            fit_seconds: 0.0,
            cost_units: rescue.cost_units,
            portfolio: None,
        };
        trials.push(record);
        let best_trial = trials.len() - 1;
        send_new_notes(observer, &notes, &mut notes_sent);
        return Ok(SearchResult {
            cv_score: rescue.score,
            cv_std: 0.0,
            trials,
            best_trial,
            ensemble: None,
            revalidated: false,
            uses_ensemble: false,
            predictor: rescue.model.predictor()?.into_owned(),
            final_strategy: FinalStrategy::Bag,
            refit_comparison: None,
            oof_predictions: None,
            stopped_by: StopReason::TooSmallBudget,
            notes,
            search_seconds: started.elapsed().as_secs_f64(),
            trials_seconds,
        });
    }

    // `kept` is sorted best first.
    observer.event(StudyEvent::StageChanged(Stage::Ensemble));
    let revalidated = revalidates
        && revalidate_candidates(
            problem,
            plan,
            &oof_rows,
            &mut kept,
            metric,
            deadline,
            budget_seconds,
            &mut notes,
        );
    // The best single model: the search's best, or the revalidation's (then scored there).
    let best = &kept[0];
    let best_trial = best.trial;
    let candidates: Vec<&Predictions> = kept.iter().map(|k| &k.oof).collect();
    let selection = ensemble::select(problem, metric, &oof_rows, &candidates, ENSEMBLE_STEPS);
    let best_score = if revalidated {
        problem.score(metric, &oof_rows, &best.oof)
    } else {
        trials[best_trial].cv_score
    };
    let mut ensemble_report = None;
    let mut uses_ensemble = false;
    let mut members: Vec<(usize, f64)> = vec![(0, 1.0)];
    let mut why_single = "ensemble selection kept only the best trial";
    if let Some(sel) = selection {
        let total: usize = sel.members.iter().map(|m| m.1).sum();
        let weighted: Vec<(usize, f64)> = sel
            .members
            .iter()
            .map(|&(i, c)| (i, c as f64 / total as f64))
            .collect();
        // The ensemble's score is out-of-fold; the best trial's is its mean fold score. Compare
        // like with like: the best trial's own out-of-fold score.
        let best_oof = problem.score(metric, &oof_rows, &best.oof);
        ensemble_report = Some(EnsembleReport {
            members: weighted.iter().map(|&(i, w)| (kept[i].trial, w)).collect(),
            cv_score: sel.score,
            best_trial_oof_score: best_oof,
        });
        if weighted.len() > 1 {
            why_single = "the ensemble did not beat the best single model out-of-fold; the final model is the best trial";
            if loss_of(metric, sel.score) < loss_of(metric, best_oof) - 1e-9 {
                if holds_out_of_sample(problem, metric, &oof_rows, &candidates, options.seed) {
                    uses_ensemble = true;
                    members = weighted;
                } else {
                    why_single = "the ensemble beat the best single model out-of-fold, but one selected on half of those rows did not beat it on the other half (either way round, summed); the final model is the best trial, which generalises more surely";
                }
            }
        }
    }
    if !uses_ensemble {
        notes.push(why_single.into());
    }
    let final_members: Vec<Member> = members
        .iter()
        .map(|&(i, w)| {
            let k = &kept[i];
            Member {
                trial: k.trial,
                learner: trials[k.trial].learner,
                config: &k.config,
                seed: k.seed,
                weight: w,
                fold_models: &k.models,
                fold_iterations: &k.iterations,
                fit_seconds: k.fit_seconds,
            }
        })
        .collect();
    send_new_notes(observer, &notes, &mut notes_sent);
    observer.event(StudyEvent::StageChanged(Stage::FinalModel));
    let final_deadline = deadline.map(|d| {
        let predict: Vec<f64> = members
            .iter()
            .map(|&(i, _)| kept[i].predict_seconds)
            .collect();
        let reserve = finish_reserve(&predict, options.finish_factor);
        d.checked_sub(reserve).unwrap_or(d)
    });
    let elsewhere = match executor {
        Some(e) => e.final_stage(&FinalTask::new(
            &final_members,
            options.final_mode,
            final_deadline,
        ))?,
        None => None,
    };
    let (predictor_members, final_strategy, refit_comparison) = match elsewhere {
        Some(done) => {
            notes.extend(done.notes);
            let models = match done.strategy {
                FinalStrategy::Refit => done.refit,
                FinalStrategy::Bag => finalize::bag(&final_members)?,
            };
            (models, done.strategy, done.comparison)
        }
        None => choose_final(
            problem,
            plan,
            &final_members,
            metric,
            options.final_mode,
            final_deadline,
            &mut notes,
        )?,
    };
    let (cv_score, cv_std) = if uses_ensemble {
        (
            ensemble_report.as_ref().map_or(best_score, |e| e.cv_score),
            trials[best_trial].cv_std,
        )
    } else {
        (best_score, trials[best_trial].cv_std)
    };
    send_new_notes(observer, &notes, &mut notes_sent);
    Ok(SearchResult {
        trials,
        best_trial,
        ensemble: ensemble_report,
        revalidated,
        uses_ensemble,
        cv_score,
        cv_std,
        predictor: Predictor::Ensemble(EnsembleModel {
            members: predictor_members,
            clip: problem.clip_bounds(),
        }),
        final_strategy,
        refit_comparison,
        oof_predictions: Some(blend_oof(&kept, &members)),
        stopped_by,
        notes,
        search_seconds: started.elapsed().as_secs_f64(),
        trials_seconds,
    })
}

/// The weighted average of the kept trials' out-of-fold predictions, as the final model
/// weighs its members.
fn blend_oof(kept: &[Kept], members: &[(usize, f64)]) -> Predictions {
    let first = &kept[members[0].0].oof;
    let mut values = vec![0.0; first.values.len()];
    for &(i, w) in members {
        for (a, v) in values.iter_mut().zip(&kept[i].oof.values) {
            *a += w * v;
        }
    }
    Predictions {
        n_rows: first.n_rows,
        n_outputs: first.n_outputs,
        values,
    }
}

/// Out-of-fold prediction seconds of the kept trials an ensemble would most likely use.
/// The kept trials most likely to make up the final model, whose fits and predictions the end
/// of a time budget is reserved for. The first guess is the five best; once that guess would
/// stop the search, [`LikelyMembers::refine`] runs the ensemble selection the final model will
/// run (the final members are its members or the best trial alone), which on large data often
/// keeps one to three and so frees time for more trials. Pure in the kept trials, so where a
/// search stops still depends on the clock alone.
struct LikelyMembers<'a, 'p> {
    problem: &'a Problem<'p>,
    metric: Metric,
    oof_rows: &'a [u32],
    /// Trial ids the selection over the current kept trials chose, until they change.
    selected: Option<Vec<usize>>,
}

impl<'a, 'p> LikelyMembers<'a, 'p> {
    const GUESS: usize = 5;

    fn new(problem: &'a Problem<'p>, metric: Metric, oof_rows: &'a [u32]) -> Self {
        LikelyMembers {
            problem,
            metric,
            oof_rows,
            selected: None,
        }
    }

    fn members<'k>(&self, kept: &'k [Kept]) -> Vec<&'k Kept> {
        match &self.selected {
            Some(ids) => kept.iter().filter(|k| ids.contains(&k.trial)).collect(),
            None => kept.iter().take(Self::GUESS).collect(),
        }
    }

    /// The kept trials changed: back to the guess until refined again.
    fn forget(&mut self) {
        self.selected = None;
    }

    /// Runs the selection if the guess is still in use and could be too many; true when the
    /// members changed.
    fn refine(&mut self, kept: &[Kept]) -> bool {
        if self.selected.is_some() || kept.len() < 2 {
            return false;
        }
        let candidates: Vec<&Predictions> = kept.iter().map(|k| &k.oof).collect();
        // The best trial is the final model whenever the ensemble is not used.
        let mut chosen = vec![kept[0].trial];
        if let Some(sel) = ensemble::select(
            self.problem,
            self.metric,
            self.oof_rows,
            &candidates,
            ENSEMBLE_STEPS,
        ) {
            chosen.extend(sel.members.iter().map(|&(i, _)| kept[i].trial));
        }
        self.selected = Some(chosen);
        true
    }
}

/// The best completed trial; the earliest on ties.
pub fn best_completed(trials: &[TrialRecord], metric: Metric) -> Option<&TrialRecord> {
    trials
        .iter()
        .filter(|t| t.status == TrialStatus::Completed)
        .min_by(|a, b| {
            loss_of(metric, a.cv_score)
                .total_cmp(&loss_of(metric, b.cv_score))
                .then(a.id.cmp(&b.id))
        })
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Out-of-fold predictions over `oof_rows` in row order, the fold models, and the seconds
/// their predictions took.
/// Revalidates the kept trials on the plan's revalidation partition (see [`revalidate`]) when
/// that fits the time left: their out-of-fold predictions become the new partition's, their
/// new fold models join their bags, and they are ranked by their new scores. False, with a
/// note, when it did not finish or would not fit.
#[allow(clippy::too_many_arguments)]
fn revalidate_candidates(
    problem: &Problem,
    plan: &CvPlan,
    oof_rows: &[u32],
    kept: &mut [Kept],
    metric: Metric,
    deadline: Option<Instant>,
    budget_seconds: f64,
    notes: &mut Vec<String>,
) -> bool {
    let seconds: Vec<f64> = kept.iter().map(|k| k.fit_seconds).collect();
    if deadline.is_some() && revalidate::reserve_seconds(&seconds, budget_seconds) <= 0.0 {
        return false;
    }
    let candidates: Vec<(&Config, u64)> = kept.iter().map(|k| (&k.config, k.seed)).collect();
    let fresh = match revalidate::revalidate(
        problem,
        &plan.revalidation_folds,
        oof_rows,
        &candidates,
        metric,
        deadline,
    ) {
        Ok(fresh) => fresh,
        Err(e) => {
            notes.push(format!(
                "the ensemble candidates were not validated again on another partition ({}); the ensemble is selected on the search's folds",
                match e {
                    FoldError::Interrupted => "the time budget ran out".to_string(),
                    FoldError::Failed(m) => m,
                }
            ));
            return false;
        }
    };
    // Numbered from 1, as the leaderboard numbers them.
    let searched_best = kept[0].trial + 1;
    for (k, r) in kept.iter_mut().zip(fresh) {
        k.oof = r.oof;
        k.models.extend(r.models);
        k.iterations.extend(r.iterations);
        k.predict_seconds += r.predict_seconds;
    }
    // Scored once each, not once per comparison.
    let losses: std::collections::HashMap<usize, f64> = kept
        .iter()
        .map(|k| {
            let score = problem.score(metric, oof_rows, &k.oof);
            (k.trial, loss_of(metric, score))
        })
        .collect();
    kept.sort_by(|a, b| {
        losses[&a.trial]
            .total_cmp(&losses[&b.trial])
            .then(a.trial.cmp(&b.trial))
    });
    notes.push(format!(
        "the {} ensemble candidates were validated again on another partition of the rows, and the ensemble was selected there (a search's best score is partly luck); {}",
        kept.len(),
        if kept[0].trial + 1 == searched_best {
            format!("trial {searched_best} is still the best single model")
        } else {
            format!(
                "the best single model there is trial {} (trial {searched_best} was best in the search)",
                kept[0].trial + 1
            )
        }
    ));
    true
}

pub(crate) fn assemble_oof(
    problem: &Problem,
    folds: &[Fold],
    oof_rows: &[u32],
    results: Vec<FoldResult>,
) -> (Predictions, Vec<FoldModel>, f64) {
    let k = results
        .first()
        .map_or(problem.n_outputs(), |r| r.predictions.n_outputs);
    let mut position = vec![usize::MAX; problem.x.n_rows];
    for (i, &r) in oof_rows.iter().enumerate() {
        position[r as usize] = i;
    }
    let mut values = vec![0.0; oof_rows.len() * k];
    let mut models = Vec::with_capacity(results.len());
    let mut predict_seconds = 0.0;
    for (fold, r) in folds.iter().zip(results) {
        for (j, &row) in fold.valid.iter().enumerate() {
            let at = position[row as usize];
            values[at * k..(at + 1) * k].copy_from_slice(r.predictions.row(j));
        }
        predict_seconds += r.predict_seconds;
        models.push(r.model);
    }
    let oof = Predictions {
        n_rows: oof_rows.len(),
        n_outputs: k,
        values,
    };
    (oof, models, predict_seconds)
}

fn rescue_config() -> Config {
    Config::from_values(
        LearnerKind::Gbdt,
        &[
            ("num_iterations", RESCUE_ROUNDS as f64),
            ("num_leaves", 15.0),
            ("learning_rate", 0.3),
            ("min_data_in_leaf", 20.0),
            ("feature_fraction", 1.0),
            ("bagging_fraction", 1.0),
            ("lambda_l2", 1.0),
            ("cat_regularization", 1.0),
            ("max_cat_to_onehot", 4.0),
        ],
    )
}

fn rescue_model(
    problem: &Problem,
    plan: &CvPlan,
    metric: Metric,
    seed: u64,
) -> Result<FoldResult, AutomlError> {
    let fold = plan
        .folds
        .first()
        .ok_or_else(|| AutomlError::NothingFitted("no folds".into()))?;
    let config = rescue_config();
    // No deadline: the rescue config's few rounds bound it.
    match fit_fold(problem, &config, fold, metric, seed, None) {
        Ok(r) => Ok(r),
        Err(FoldError::Failed(m)) => Err(AutomlError::NothingFitted(m)),
        Err(FoldError::Interrupted) => Err(AutomlError::NothingFitted("interrupted".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::halving::trails_best;
    use crate::plan::plan_folds;
    use crate::remote::FoldTask;
    use whet_data::Task;
    use whet_data::prep::{Feature, FeatureData, Features};
    use whet_data::rng::Rng;
    use whet_learn::binning::BinnedData;

    #[test]
    fn pruning_needs_a_deficit_beyond_the_best_trials_spread() {
        // The best trial: AUC 0.80 on every fold of five, spread 0.04.
        let best = (vec![0.80; 5], 0.04);
        let prune =
            |scores: &[f64], strict| trails_best(scores, 5, Metric::RocAuc, Some(&best), strict);
        // One fold 0.01 behind: noise on small folds, kept in both modes.
        assert!(!prune(&[0.79], false));
        assert!(!prune(&[0.79], true));
        // 0.06 behind: beyond one spread (strict prunes), within two (the default keeps it).
        assert!(!prune(&[0.74], false));
        assert!(prune(&[0.74], true));
        // 0.10 behind: pruned in both.
        assert!(prune(&[0.70], false));
        assert!(prune(&[0.70], true));
        // After two folds the margins shrink by sqrt(2): 0.06 behind on average is pruned.
        assert!(prune(&[0.74, 0.74], false));
        // Never after the last fold, nor with nothing to compare against.
        assert!(!prune(&[0.5; 5], true));
        assert!(!trails_best(&[0.5], 5, Metric::RocAuc, None, true));
        // Log loss: lower is better.
        let best_loss = (vec![0.30; 5], 0.02);
        assert!(!trails_best(
            &[0.31],
            5,
            Metric::LogLoss,
            Some(&best_loss),
            true
        ));
        assert!(trails_best(
            &[0.33],
            5,
            Metric::LogLoss,
            Some(&best_loss),
            true
        ));
        assert!(!trails_best(
            &[0.25],
            5,
            Metric::LogLoss,
            Some(&best_loss),
            true
        ));
    }

    /// y = 1 when x0 + noise > 0; x1 is noise; 400 rows.
    fn binary_data() -> (Features, Vec<f64>) {
        let mut rng = Rng::new(11);
        let n = 400;
        let mut x0 = Vec::new();
        let mut x1 = Vec::new();
        let mut y = Vec::new();
        for _ in 0..n {
            let a = rng.next_f64() * 2.0 - 1.0;
            let noise = (rng.next_f64() - 0.5) * 0.8;
            x0.push(a as f32);
            x1.push(rng.next_f64() as f32);
            y.push(if a + noise > 0.0 { 1.0 } else { 0.0 });
        }
        let x = Features {
            n_rows: n,
            columns: vec![
                Feature {
                    name: "x0".into(),
                    data: FeatureData::Numeric(x0),
                },
                Feature {
                    name: "x1".into(),
                    data: FeatureData::Numeric(x1),
                },
            ],
        };
        (x, y)
    }

    fn run(trials: usize, seed: u64) -> SearchResult {
        run_with(trials, seed, FinalMode::Auto)
    }

    fn binary_problem<'a>(x: &'a Features, y: &'a [f64], binned: &'a BinnedData) -> Problem<'a> {
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

    fn auc_options(trials: usize, seed: u64, final_mode: FinalMode) -> SearchOptions {
        SearchOptions {
            metric: Metric::RocAuc,
            budget: Budget::Trials(trials),
            learners: LearnerKind::ALL.to_vec(),
            seed,
            finish_factor: 0.0,
            final_mode,
            plan_seconds: None,
        }
    }

    fn run_with(trials: usize, seed: u64, final_mode: FinalMode) -> SearchResult {
        let (x, y) = binary_data();
        let binned = BinnedData::fit(&x, 255).unwrap();
        let problem = binary_problem(&x, &y, &binned);
        let plan = plan_folds(Task::Binary, &y, 2, 4, seed).unwrap();
        let options = auc_options(trials, seed, final_mode);
        search(&problem, &plan, &options, &mut crate::events::NoObserver).unwrap()
    }

    /// A 32-class problem decided by two categoricals (4 x 8 levels), with numeric noise:
    /// the shape of data where one boosting trial (32 trees a round) eats the budget.
    fn many_classes(n: usize) -> (Features, Vec<f64>) {
        let mut rng = Rng::new(32);
        let levels = [4u32, 8, 3, 5];
        let mut cats: Vec<Vec<u32>> = vec![Vec::new(); levels.len()];
        let mut nums: Vec<Vec<f32>> = vec![Vec::new(); 4];
        let mut y = Vec::new();
        for _ in 0..n {
            let c: Vec<u32> = levels
                .iter()
                .map(|&k| rng.below(u64::from(k)) as u32)
                .collect();
            y.push(f64::from(c[0] * 8 + c[1]));
            for (col, v) in cats.iter_mut().zip(&c) {
                col.push(*v);
            }
            for col in &mut nums {
                col.push(rng.next_f64() as f32);
            }
        }
        let mut columns: Vec<Feature> = nums
            .into_iter()
            .enumerate()
            .map(|(i, v)| Feature {
                name: format!("n{i}"),
                data: FeatureData::Numeric(v),
            })
            .collect();
        for (i, (codes, &k)) in cats.into_iter().zip(&levels).enumerate() {
            columns.push(Feature {
                name: format!("c{i}"),
                data: FeatureData::Categorical {
                    codes,
                    n_categories: k + 1,
                },
            });
        }
        (Features { n_rows: n, columns }, y)
    }

    #[test]
    fn an_expensive_many_class_problem_probes_several_learners_first() {
        let (x, y) = many_classes(320);
        let binned = BinnedData::fit(&x, 63).unwrap();
        let problem = Problem {
            x: &x,
            y: &y,
            weight: None,
            task: Task::Multiclass,
            n_classes: 32,
            binned: Some(&binned),
            log_y: None,
        };
        let plan = plan_folds(Task::Multiclass, &y, 32, 3, 0).unwrap();
        let shape = Shape::with_bins(320, &binned, DEFAULT_MAX_BIN, Task::Multiclass, 32);
        let fold_rows: Vec<usize> = plan.folds.iter().map(|f| f.train.len()).collect();
        // A budget scaled down with the data: one boosting default takes over its share.
        let seconds = 1.0;
        let triage = Triage::assess(Task::Multiclass, &shape, &fold_rows, seconds);
        assert!(triage.probes_first(), "{triage:?}");
        let options = SearchOptions {
            metric: Metric::LogLoss,
            budget: Budget::Trials(10),
            learners: LearnerKind::ALL.to_vec(),
            seed: 0,
            finish_factor: 0.0,
            final_mode: FinalMode::Bag,
            plan_seconds: Some(seconds),
        };
        let r = search(&problem, &plan, &options, &mut crate::events::NoObserver).unwrap();
        assert_eq!(r.trials.len(), 10);
        let learners: Vec<LearnerKind> = r.trials.iter().map(|t| t.learner).collect();
        // The probes first, then boosting.
        use LearnerKind::*;
        assert_eq!(learners[..5], [Rf, Linear, Et, Knn, Gbdt]);
        let mut distinct = learners.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() >= 3, "{distinct:?}");
        // Every tree trial is capped to its share of the budget.
        for t in &r.trials {
            if t.learner.is_tree() {
                let config = Config::from_values(
                    t.learner,
                    &t.params
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.parse::<f64>().unwrap_or(0.0)))
                        .collect::<Vec<_>>(),
                );
                let trial = crate::expense::trial_seconds(&config, &shape, &fold_rows);
                let rounds: f64 = t.params["num_iterations"].parse().unwrap();
                let floor = crate::space::dims(t.learner)[0].low;
                assert!(
                    trial <= TRIAL_SHARE * seconds * 1.1 || rounds == floor,
                    "{}: {trial} s at {rounds} rounds",
                    t.learner
                );
            }
        }
        assert!(
            r.notes.iter().any(|n| n.contains("run first")),
            "{:?}",
            r.notes
        );
        assert!(r.cv_score.is_finite());
        // Without a time budget to plan against, nothing changes: boosting leads.
        let plain = SearchOptions {
            budget: Budget::Trials(1),
            plan_seconds: None,
            ..options
        };
        let r = search(&problem, &plan, &plain, &mut crate::events::NoObserver).unwrap();
        assert_eq!(r.trials[0].learner, Gbdt);
    }

    #[test]
    fn search_is_reproducible_and_finds_the_signal() {
        // More trials than the portfolio holds (14 defaults), so the tuner runs too.
        let a = run(18, 5);
        let b = run(18, 5);
        assert_eq!(a.trials.len(), 18);
        let key = |r: &SearchResult| {
            r.trials
                .iter()
                .map(|t| (t.learner, t.params.clone(), t.cv_score.to_bits()))
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&a), key(&b));
        assert_eq!(a.cv_score.to_bits(), b.cv_score.to_bits());
        // The noise level caps AUC well below 1; anything near 0.5 means the search is broken.
        assert!(a.cv_score > 0.85, "{}", a.cv_score);
        let (x, _) = binary_data();
        assert_eq!(a.predictor.predict(&x), b.predictor.predict(&x));
        // Some tuner proposals ran after the portfolio.
        assert!(a.trials.iter().any(|t| t.portfolio.is_none()));
    }

    /// A study short of memory bins row-major only (`BinLayout::RowsOnly`): every tree trial,
    /// the ensemble and the final model must be the ones of both copies.
    #[test]
    fn bins_kept_only_by_rows_give_the_same_search() {
        let (x, y) = binary_data();
        let run = |layout| {
            let binned = BinnedData::fit_layout(&x, 255, 3, 0, layout).unwrap();
            let problem = binary_problem(&x, &y, &binned);
            let plan = plan_folds(Task::Binary, &y, 2, 4, 5).unwrap();
            let options = auc_options(18, 5, FinalMode::Auto);
            search(&problem, &plan, &options, &mut crate::events::NoObserver).unwrap()
        };
        let (both, rows_only) = (
            run(whet_learn::binning::BinLayout::RowsAndColumns),
            run(whet_learn::binning::BinLayout::RowsOnly),
        );
        let key = |r: &SearchResult| {
            r.trials
                .iter()
                .map(|t| (t.learner, t.params.clone(), t.cv_score.to_bits()))
                .collect::<Vec<_>>()
        };
        assert!(both.trials.iter().any(|t| t.learner.is_tree()));
        assert_eq!(key(&both), key(&rows_only));
        assert_eq!(both.cv_score.to_bits(), rows_only.cv_score.to_bits());
        assert_eq!(both.predictor.predict(&x), rows_only.predictor.predict(&x));
    }

    #[test]
    fn the_ensemble_is_used_only_when_it_beats_the_best_trial_out_of_fold() {
        let r = run(12, 1);
        let e = r.ensemble.as_ref().unwrap();
        // Small data: the candidates were validated again, and the best single model is
        // scored on that partition's out-of-fold predictions, like the ensemble.
        assert!(r.revalidated);
        if r.uses_ensemble {
            assert!(e.members.len() > 1);
            assert_eq!(r.cv_score, e.cv_score);
        } else {
            assert_eq!(r.cv_score, e.best_trial_oof_score);
        }
        let total: f64 = e.members.iter().map(|m| m.1).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }

    #[test]
    fn small_data_candidates_are_validated_again_before_the_ensemble_is_chosen() {
        let (x, y) = binary_data();
        let binned = BinnedData::fit(&x, 255).unwrap();
        let problem = binary_problem(&x, &y, &binned);
        let options = auc_options(12, 1, FinalMode::Bag);
        let plan = plan_folds(Task::Binary, &y, 2, 4, 1).unwrap();
        let r = search(&problem, &plan, &options, &mut crate::events::NoObserver).unwrap();
        assert!(r.revalidated);
        assert!(
            r.notes.iter().any(|n| n.contains("validated again")),
            "{:?}",
            r.notes
        );
        // The reported score is the final model's out-of-fold score on the new partition,
        // not the search's: the search's best trial scored differently there.
        let all: Vec<u32> = (0..x.n_rows as u32).collect();
        let oof = r.oof_predictions.as_ref().unwrap();
        let rescored = problem.score(Metric::RocAuc, &all, oof);
        assert!(
            (rescored - r.cv_score).abs() < 1e-12,
            "{rescored} vs {}",
            r.cv_score
        );
        let searched_best = best_completed(&r.trials, Metric::RocAuc).unwrap();
        assert_ne!(searched_best.cv_score, r.cv_score);
        // A holdout has no partition to validate on again: the search's scores stand.
        let holdout = crate::plan::plan_holdout(Task::Binary, &y, 0.25, 1).unwrap();
        let h = search(&problem, &holdout, &options, &mut crate::events::NoObserver).unwrap();
        assert!(!h.revalidated);
        assert!(!h.notes.iter().any(|n| n.contains("validated again")));
    }

    #[test]
    fn the_final_model_is_the_bag_or_a_refit_as_asked_or_as_nested_cv_decides() {
        let members = |r: &SearchResult| match &r.predictor {
            Predictor::Ensemble(e) => e.members.len(),
            _ => 0,
        };
        let chosen = |r: &SearchResult| {
            if r.uses_ensemble {
                r.ensemble.as_ref().map_or(0, |e| e.members.len())
            } else {
                1
            }
        };
        let bag = run_with(10, 2, FinalMode::Bag);
        assert_eq!(bag.final_strategy, FinalStrategy::Bag);
        assert!(bag.refit_comparison.is_none());
        assert_eq!(
            members(&bag),
            8 * chosen(&bag),
            "four fold models of each of two partitions per member"
        );

        let refit = run_with(10, 2, FinalMode::Refit);
        assert_eq!(refit.final_strategy, FinalStrategy::Refit);
        assert_eq!(members(&refit), chosen(&refit), "one model per member");
        // Same trials either way: only the last step differs.
        assert_eq!(refit.cv_score.to_bits(), bag.cv_score.to_bits());
        let (x, _) = binary_data();
        assert_ne!(refit.predictor.predict(&x), bag.predictor.predict(&x));

        // With a trial budget every outer fold is compared, and the better score decides.
        let auto = run_with(10, 2, FinalMode::Auto);
        let c = auto.refit_comparison.as_ref().expect("compared");
        assert_eq!((c.folds_compared, c.folds), (4, 4));
        let expected = if c.refit_score > c.bag_score && c.refit_gain > c.refit_gain_se {
            FinalStrategy::Refit
        } else {
            FinalStrategy::Bag
        };
        assert_eq!(auto.final_strategy, expected);
        let again = run_with(10, 2, FinalMode::Auto);
        assert_eq!(again.predictor.predict(&x), auto.predictor.predict(&x));
    }

    /// Fits each fold here when it is submitted, and logs what the search asked of it.
    struct Recorder<'a> {
        problem: &'a Problem<'a>,
        plan: &'a CvPlan,
        results: BTreeMap<(usize, usize), Result<FoldResult, FoldError>>,
        log: Vec<(&'static str, usize)>,
    }

    impl FoldExecutor for Recorder<'_> {
        fn submit(&mut self, tasks: Vec<FoldTask>) -> Result<(), AutomlError> {
            for t in tasks {
                if t.fold == 0 {
                    self.log.push(("submit", t.trial));
                }
                let fold = &self.plan.folds[t.fold];
                let r = fit_fold(
                    self.problem,
                    &t.config()?,
                    fold,
                    Metric::RocAuc,
                    t.seed,
                    None,
                );
                self.results.insert((t.trial, t.fold), r);
            }
            Ok(())
        }

        fn wait(
            &mut self,
            trial: usize,
            fold: usize,
            _deadline: Option<Instant>,
        ) -> Result<Result<FoldResult, FoldError>, AutomlError> {
            if fold == 0 {
                self.log.push(("wait", trial));
            }
            self.results
                .remove(&(trial, fold))
                .ok_or_else(|| AutomlError::Queue(format!("trial {trial} fold {fold} not queued")))
        }

        fn cancel(&mut self, trial: usize) -> Result<(), AutomlError> {
            self.results.retain(|&(t, _), _| t != trial);
            Ok(())
        }
    }

    fn through_recorder(budget: Budget, seed: u64) -> (SearchResult, Vec<(&'static str, usize)>) {
        let (x, y) = binary_data();
        let binned = BinnedData::fit(&x, 255).unwrap();
        let problem = binary_problem(&x, &y, &binned);
        let plan = plan_folds(Task::Binary, &y, 2, 4, seed).unwrap();
        let options = SearchOptions {
            metric: Metric::RocAuc,
            budget,
            learners: LearnerKind::ALL.to_vec(),
            seed,
            finish_factor: 0.0,
            final_mode: FinalMode::Auto,
            plan_seconds: None,
        };
        let mut recorder = Recorder {
            problem: &problem,
            plan: &plan,
            results: BTreeMap::new(),
            log: Vec::new(),
        };
        let r = search_with(
            &problem,
            &plan,
            &options,
            &mut crate::events::NoObserver,
            Some(&mut recorder),
        )
        .unwrap();
        (r, recorder.log)
    }

    /// The search's trials, as compared between runs that must agree bit for bit.
    fn trial_key(r: &SearchResult) -> Vec<(LearnerKind, BTreeMap<String, String>, u64, bool)> {
        r.trials
            .iter()
            .map(|t| {
                (
                    t.learner,
                    t.params.clone(),
                    t.cv_score.to_bits(),
                    t.status == TrialStatus::Pruned,
                )
            })
            .collect()
    }

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    #[test]
    fn with_a_trial_budget_an_executor_gets_the_local_searchs_trials_one_ahead() {
        let local = pool(1).install(|| run(16, 4));
        let (remote, log) = through_recorder(Budget::Trials(16), 4);
        assert_eq!(trial_key(&remote), trial_key(&local));
        assert_eq!(remote.cv_score.to_bits(), local.cv_score.to_bits());
        // Trial k+1 is queued before trial k is waited for; nothing beyond the budget.
        let mut expected = vec![("submit", 0)];
        for t in 0..16 {
            if t + 1 < 16 {
                expected.push(("submit", t + 1));
            }
            expected.push(("wait", t));
        }
        assert_eq!(log, expected);
    }

    #[test]
    fn folds_fitted_two_trials_at_a_time_give_the_one_thread_search() {
        let one = pool(1).install(|| run(16, 6));
        // Through the in-process pipeline, watched: the calling thread is one of the pool's
        // and only waits, so three threads leave two fitting.
        let (x, y) = binary_data();
        let binned = BinnedData::fit(&x, 255).unwrap();
        let problem = binary_problem(&x, &y, &binned);
        let plan = plan_folds(Task::Binary, &y, 2, 4, 6).unwrap();
        let options = SearchOptions {
            metric: Metric::RocAuc,
            budget: Budget::Trials(16),
            learners: LearnerKind::ALL.to_vec(),
            seed: 6,
            finish_factor: 0.0,
            final_mode: FinalMode::Auto,
            plan_seconds: None,
        };
        let shared = crate::local::Shared::default();
        let (piped, most) = pool(3).install(|| {
            rayon::in_place_scope(|scope| {
                let mut local = crate::local::LocalExecutor::new(
                    scope,
                    &shared,
                    &problem,
                    &plan,
                    Metric::RocAuc,
                    2,
                );
                let r = search_with(
                    &problem,
                    &plan,
                    &options,
                    &mut crate::events::NoObserver,
                    Some(&mut local),
                )
                .unwrap();
                (r, local.most_trials_fitting())
            })
        });
        assert_eq!(trial_key(&piped), trial_key(&one));
        assert_eq!(piped.cv_score.to_bits(), one.cv_score.to_bits());
        assert_eq!(piped.predictor.predict(&x), one.predictor.predict(&x));
        // Some trial's folds were fitted while the previous trial's were.
        assert_eq!(most, 2);
        // And the search picks the pipeline by itself with threads to spare.
        let auto = pool(2).install(|| run(16, 6));
        assert_eq!(trial_key(&auto), trial_key(&one));
        assert_eq!(auto.predictor.predict(&x), one.predictor.predict(&x));
    }

    #[test]
    fn with_a_time_budget_an_executor_gets_the_next_trial_before_the_current_one_is_in() {
        // A deadline (the budget's time part) far enough away that a loaded machine still
        // fits every trial: the test is about order, not about how many fit in the time.
        let budget = Budget::Both(5, Instant::now() + Duration::from_secs(600));
        let (r, log) = through_recorder(budget, 4);
        assert_eq!(r.trials.len(), 5);
        assert_eq!(
            r.trials.iter().map(|t| t.id).collect::<Vec<_>>(),
            (0..r.trials.len()).collect::<Vec<_>>()
        );
        let at = |what: &str, t: usize| log.iter().position(|&(w, k)| w == what && k == t);
        // Trial k+1 is queued before trial k is waited for, for every trial but the first.
        for k in 1..r.trials.len() - 1 {
            let (Some(next), Some(wait)) = (at("submit", k + 1), at("wait", k)) else {
                panic!("trial {k}: {log:?}");
            };
            assert!(next < wait, "trial {k}: {log:?}");
        }
        // Trials are consumed in order, each once.
        let waits: Vec<usize> = log.iter().filter(|e| e.0 == "wait").map(|e| e.1).collect();
        assert_eq!(waits, (0..waits.len()).collect::<Vec<_>>());
    }
}

#[cfg(test)]
mod generalise_tests {
    use super::*;
    use whet_data::Task;
    use whet_data::prep::{Feature, FeatureData, Features};
    use whet_data::rng::Rng;

    fn regression(n: usize) -> (Features, Vec<f64>) {
        let x = Features {
            n_rows: n,
            columns: vec![Feature {
                name: "x".into(),
                data: FeatureData::Numeric((0..n).map(|i| i as f32).collect()),
            }],
        };
        (x, (0..n).map(|i| (i % 7) as f64).collect())
    }

    fn noisy(y: &[f64], scale: f64, seed: u64) -> Predictions {
        let mut rng = Rng::new(seed);
        Predictions {
            n_rows: y.len(),
            n_outputs: 1,
            values: y
                .iter()
                .map(|v| v + scale * (rng.next_f64() - 0.5))
                .collect(),
        }
    }

    #[test]
    fn regression_predictions_are_held_to_a_margin_around_the_targets() {
        let (x, y) = regression(50);
        let problem = Problem::regression(&x, &y);
        let [low, high] = problem.clip_bounds().unwrap();
        assert!((low + 0.6).abs() < 1e-12 && (high - 6.6).abs() < 1e-12);
        let classes = Problem {
            task: Task::Multiclass,
            n_classes: 7,
            ..problem
        };
        assert_eq!(classes.clip_bounds(), None);
    }

    #[test]
    fn the_end_of_a_budget_is_reserved_for_the_ensemble_the_kept_trials_make() {
        let (x, y) = regression(400);
        let problem = Problem::regression(&x, &y);
        let rows: Vec<u32> = (0..400).collect();
        let kept_trial = |trial: usize, oof: Predictions| Kept {
            trial,
            config: Config::from_values(LearnerKind::Linear, &[]),
            seed: 0,
            oof,
            models: Vec::new(),
            iterations: Vec::new(),
            fit_seconds: 1.0,
            predict_seconds: 1.0,
        };
        // Best first, as the search keeps them: one accurate trial and five far-off ones,
        // which no greedy selection adds to it.
        let mut kept = vec![kept_trial(7, noisy(&y, 0.1, 1))];
        kept.extend((0..5).map(|i| kept_trial(i, noisy(&vec![20.0; 400], 8.0, 10 + i as u64))));
        let mut likely = LikelyMembers::new(&problem, Metric::Rmse, &rows);
        let ids = |likely: &LikelyMembers, kept: &[Kept]| -> Vec<usize> {
            likely.members(kept).iter().map(|k| k.trial).collect()
        };
        assert_eq!(
            ids(&likely, &kept),
            vec![7, 0, 1, 2, 3],
            "the guess: the five best"
        );
        assert!(likely.refine(&kept));
        assert_eq!(ids(&likely, &kept), vec![7]);
        assert!(
            !likely.refine(&kept),
            "selected once per set of kept trials"
        );
        // Two accurate trials with independent errors: the ensemble uses both.
        kept.insert(1, kept_trial(9, noisy(&y, 0.1, 2)));
        likely.forget();
        assert_eq!(ids(&likely, &kept).len(), 5);
        assert!(likely.refine(&kept));
        assert_eq!(ids(&likely, &kept), vec![7, 9]);
    }

    #[test]
    fn an_ensemble_is_kept_only_when_it_holds_on_the_other_half() {
        let (x, y) = regression(400);
        let problem = Problem::regression(&x, &y);
        let rows: Vec<u32> = (0..400).collect();
        // Two members with independent errors: their average halves the variance anywhere.
        let a = noisy(&y, 2.0, 1);
        let b = noisy(&y, 2.0, 2);
        assert!(holds_out_of_sample(
            &problem,
            Metric::Rmse,
            &rows,
            &[&a, &b],
            0
        ));
        // A member that is far off: selection on either half keeps the best alone.
        let junk = noisy(&vec![20.0; 400], 8.0, 3);
        assert!(!holds_out_of_sample(
            &problem,
            Metric::Rmse,
            &rows,
            &[&a, &junk],
            0
        ));
    }
}

#[cfg(test)]
mod log_target_tests {
    use super::*;
    use crate::plan::plan_folds;
    use crate::trial::log_target_values;
    use whet_data::Task;
    use whet_data::prep::{Feature, FeatureData, Features};
    use whet_data::rng::Rng;

    /// y = e^(3 x0 + noise): positive, right-skewed, and linear in x0 on the log scale only.
    fn skewed(n: usize) -> (Features, Vec<f64>) {
        let mut rng = Rng::new(5);
        let (mut x0, mut x1, mut y) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            let a = rng.next_f64();
            x0.push(a as f32);
            x1.push(rng.next_f64() as f32);
            y.push((3.0 * a + 0.3 * (rng.next_f64() - 0.5)).exp());
        }
        let x = Features {
            n_rows: n,
            columns: vec![
                Feature {
                    name: "x0".into(),
                    data: FeatureData::Numeric(x0),
                },
                Feature {
                    name: "x1".into(),
                    data: FeatureData::Numeric(x1),
                },
            ],
        };
        (x, y)
    }

    #[test]
    fn only_never_negative_right_skewed_regression_targets_qualify() {
        let (_, y) = skewed(300);
        let (log_y, skew) = log_target_values(Task::Regression, &y).unwrap();
        assert!(skew > 0.75, "{skew}");
        assert_eq!(log_y[7], y[7].ln_1p());
        assert!(log_target_values(Task::Binary, &y).is_none());
        let symmetric: Vec<f64> = (0..300).map(|i| f64::from(i % 10)).collect();
        assert!(log_target_values(Task::Regression, &symmetric).is_none());
        let mut negative = y.clone();
        negative[3] = -1.0;
        assert!(log_target_values(Task::Regression, &negative).is_none());
    }

    #[test]
    fn the_log_scale_is_chosen_by_cross_validation_and_kept_in_the_final_model() {
        let (x, y) = skewed(300);
        let (log_y, _) = log_target_values(Task::Regression, &y).unwrap();
        let problem = Problem {
            x: &x,
            y: &y,
            weight: None,
            task: Task::Regression,
            n_classes: 1,
            binned: None,
            log_y: Some(&log_y),
        };
        let plan = plan_folds(Task::Regression, &y, 1, 4, 0).unwrap();
        let options = SearchOptions {
            metric: Metric::Rmse,
            budget: Budget::Trials(6),
            learners: vec![LearnerKind::Linear],
            seed: 0,
            finish_factor: 0.0,
            final_mode: FinalMode::Bag,
            plan_seconds: None,
        };
        let r = search(&problem, &plan, &options, &mut crate::events::NoObserver).unwrap();
        let on_log = |t: &TrialRecord| t.params.get("target").map(String::as_str) == Some("log1p");
        // The first default on y, then the same on ln(1 + y), which fits e^(3 x0) far better.
        assert!(!on_log(&r.trials[0]) && on_log(&r.trials[1]));
        assert!(
            r.trials[1].cv_score < 0.7 * r.trials[0].cv_score,
            "{} vs {}",
            r.trials[1].cv_score,
            r.trials[0].cv_score
        );
        // Every proposal after that keeps the better scale.
        let tuned: Vec<&TrialRecord> = r.trials.iter().filter(|t| t.portfolio.is_none()).collect();
        assert!(!tuned.is_empty() && tuned.iter().all(|t| on_log(t)));
        // The final model predicts in the target's units.
        assert!(r.predictor.has_log_target());
        let p = r.predictor.predict(&x);
        let rmse = (p
            .values
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            / y.len() as f64)
            .sqrt();
        assert!(rmse < 0.7 * r.trials[0].cv_score, "{rmse}");
        // Without the log targets the same search never leaves y.
        let plain = Problem {
            log_y: None,
            ..problem
        };
        let r = search(&plain, &plan, &options, &mut crate::events::NoObserver).unwrap();
        assert!(r.trials.iter().all(|t| !on_log(t)));
        assert!(!r.predictor.has_log_target());
    }
}

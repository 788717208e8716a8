//! What a finished study reports: the leaderboard, the ensemble, how the final model was
//! made and why, and the scores. Serialized as-is into `whet train --json`
//! (docs/train-json.md), so fields are only ever added.

use std::collections::BTreeMap;

use serde::Serialize;
use whet_data::Task;
use whet_learn::metrics::Metric;

use crate::finalize::{FinalStrategy, RefitComparison};
use crate::plan::CvPlan;
use crate::search::{SearchResult, StopReason, TrialRecord, TrialStatus};
use crate::space::LearnerKind;
use crate::study::StudySpec;
use crate::trial::is_better;

#[derive(Clone, Debug, Serialize)]
pub struct LeaderboardRow {
    pub rank: usize,
    /// 1-based.
    pub trial: usize,
    pub learner: LearnerKind,
    pub params: BTreeMap<String, String>,
    pub cv_score: f64,
    pub cv_std: f64,
    pub fit_seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct EnsembleMemberReport {
    /// 1-based.
    pub trial: usize,
    pub learner: LearnerKind,
    pub weight: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct EnsembleSummary {
    pub cv_score: f64,
    pub best_trial_oof_score: f64,
    pub members: Vec<EnsembleMemberReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StudyReport {
    pub task: Task,
    pub target: String,
    pub metric: Metric,
    /// The validation plan in words.
    pub cv: String,
    pub cv_score: f64,
    pub cv_std: f64,
    /// "ensemble" or "best_trial".
    pub final_model: String,
    pub final_model_detail: String,
    /// "bag" (fold models averaged; with a holdout, the model fitted outside it) or "refit".
    pub final_strategy: FinalStrategy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refit_comparison: Option<RefitComparison>,
    /// 1-based.
    pub best_trial: usize,
    pub best_trial_score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<EnsembleSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_metrics: Option<BTreeMap<String, f64>>,
    /// Completed trials, best first.
    pub leaderboard: Vec<LeaderboardRow>,
    pub best_per_learner: BTreeMap<String, f64>,
    pub trials: usize,
    pub trials_completed: usize,
    pub trials_pruned: usize,
    pub trials_failed: usize,
    pub stopped_by: StopReason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_seconds: Option<f64>,
    pub search_seconds: f64,
    /// Of `search_seconds`, the time until the last trial's result was in.
    pub trials_seconds: f64,
    pub train_rows: usize,
    pub features: usize,
    pub dropped_columns: Vec<String>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
    pub seed: u64,
}

impl StudyReport {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        result: &SearchResult,
        spec: &StudySpec,
        task: Task,
        metric: Metric,
        plan: &CvPlan,
        train_rows: usize,
        features: usize,
        test_metrics: Option<BTreeMap<String, f64>>,
        dropped_columns: Vec<String>,
        warnings: Vec<String>,
        notes: Vec<String>,
    ) -> StudyReport {
        let best = &result.trials[result.best_trial];
        let mut completed: Vec<&TrialRecord> = result
            .trials
            .iter()
            .filter(|t| t.status == TrialStatus::Completed)
            .collect();
        completed.sort_by(|a, b| {
            if metric.higher_is_better() {
                b.cv_score.total_cmp(&a.cv_score)
            } else {
                a.cv_score.total_cmp(&b.cv_score)
            }
            .then(a.id.cmp(&b.id))
        });
        let leaderboard: Vec<LeaderboardRow> = completed
            .iter()
            .enumerate()
            .map(|(i, t)| LeaderboardRow {
                rank: i + 1,
                trial: t.id + 1,
                learner: t.learner,
                params: t.params.clone(),
                cv_score: t.cv_score,
                cv_std: t.cv_std,
                fit_seconds: t.fit_seconds,
            })
            .collect();
        let mut best_per_learner = BTreeMap::new();
        for t in &completed {
            best_per_learner
                .entry(t.learner.name().to_string())
                .or_insert(t.cv_score);
        }
        let count = |s: TrialStatus| result.trials.iter().filter(|t| t.status == s).count();
        StudyReport {
            task,
            target: spec.target.clone(),
            metric,
            cv: plan.description.clone(),
            cv_score: result.cv_score,
            cv_std: result.cv_std,
            final_model: if result.uses_ensemble {
                "ensemble".into()
            } else {
                "best_trial".into()
            },
            final_model_detail: final_model_detail(result, metric, plan, train_rows),
            final_strategy: result.final_strategy,
            refit_comparison: result.refit_comparison.clone(),
            best_trial: best.id + 1,
            best_trial_score: best.cv_score,
            ensemble: result.ensemble.as_ref().map(|e| EnsembleSummary {
                cv_score: e.cv_score,
                best_trial_oof_score: e.best_trial_oof_score,
                members: e
                    .members
                    .iter()
                    .map(|&(t, w)| EnsembleMemberReport {
                        trial: t + 1,
                        learner: result.trials[t].learner,
                        weight: w,
                    })
                    .collect(),
            }),
            test_metrics,
            leaderboard,
            best_per_learner,
            trials: result.trials.len(),
            trials_completed: completed.len(),
            trials_pruned: count(TrialStatus::Pruned),
            trials_failed: count(TrialStatus::Failed),
            stopped_by: result.stopped_by,
            budget_seconds: spec.budget.time.map(|d| d.as_secs_f64()),
            search_seconds: result.search_seconds,
            trials_seconds: result.trials_seconds,
            train_rows,
            features,
            dropped_columns,
            warnings,
            notes,
            seed: spec.seed,
        }
    }

    /// Whether scores come from one holdout rather than folds.
    pub fn is_holdout(&self) -> bool {
        self.cv.contains("holdout")
    }

    /// The study's summary metrics as a tracked run records them: `cv_<metric>`,
    /// `cv_<metric>_std`, `test_<name>` and the nested bag and refit scores when compared.
    pub fn run_metrics(&self) -> BTreeMap<String, f64> {
        let name = self.metric.name();
        let mut out = BTreeMap::new();
        out.insert(format!("cv_{name}"), self.cv_score);
        out.insert(format!("cv_{name}_std"), self.cv_std);
        if let Some(m) = &self.test_metrics {
            for (k, v) in m {
                out.insert(format!("test_{k}"), *v);
            }
        }
        if let Some(c) = &self.refit_comparison {
            out.insert(format!("nested_bag_{name}"), c.bag_score);
            out.insert(format!("nested_refit_{name}"), c.refit_score);
        }
        out
    }
}

/// How the final model was made, in one sentence, and why when bag and refit were compared.
fn final_model_detail(
    result: &SearchResult,
    metric: Metric,
    plan: &CvPlan,
    train_rows: usize,
) -> String {
    let best = &result.trials[result.best_trial];
    let holdout = plan.folds.len() == 1;
    let train_share = plan.folds.first().map_or(0.0, |f| {
        100.0 * f.train.len() as f64 / train_rows.max(1) as f64
    });
    let refit = result.final_strategy == FinalStrategy::Refit;
    let what = if result.uses_ensemble {
        let n = result.ensemble.as_ref().map_or(0, |e| e.members.len());
        format!("ensemble of {n} trials, each")
    } else {
        format!("trial {} ({})", best.id + 1, best.learner)
    };
    let mut detail = if result.stopped_by == StopReason::TooSmallBudget {
        "one gbdt fitted on a single fold after the budget ran out".to_string()
    } else if refit {
        format!("{what} refit on all {train_rows} training rows")
    } else if holdout {
        format!("{what} fitted on the {train_share:.0}% of rows outside the holdout")
    } else {
        let bag = if result.revalidated {
            format!(
                "{} fold models ({} folds of two partitions)",
                2 * plan.folds.len(),
                plan.folds.len()
            )
        } else {
            format!("{} fold models", plan.folds.len())
        };
        let joint = if result.uses_ensemble { "" } else { "as " };
        format!("{what} {joint}a bag of its {bag}")
    };
    if let Some(c) = &result.refit_comparison {
        let (first, second) = if refit {
            (("refit", c.refit_score), ("bag", c.bag_score))
        } else {
            (("bag", c.bag_score), ("refit", c.refit_score))
        };
        detail.push_str(&format!(
            ", chosen in nested cross-validation on {} of {} folds: {} {} {:.5} vs {} {:.5}",
            c.folds_compared,
            c.folds,
            first.0,
            metric.name(),
            first.1,
            second.0,
            second.1
        ));
        let refit_leads_pooled = is_better(metric, c.refit_score, c.bag_score);
        let spread = if c.refit_gain_se.is_finite() {
            format!("{:.5} ± {:.5}", c.refit_gain, c.refit_gain_se)
        } else {
            format!("{:.5} on one fold", c.refit_gain)
        };
        if refit {
            detail.push_str(&format!(" (refit ahead by {spread} per fold)"));
        } else if refit_leads_pooled || c.refit_gain > 0.0 {
            detail.push_str(&format!(
                " (not a clear lead for the refit: {spread} per fold)"
            ));
        }
    }
    detail
}

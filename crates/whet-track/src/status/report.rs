//! The status report's shape: what `whet status --json` prints and the server answers.

use serde::{Deserialize, Serialize};

use crate::model::{ExperimentId, RunId, RunStatus};

/// The whole report: facts, then the plan derived from them. Times are ms since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The store reported on (a file or URL, password hidden).
    pub store: String,
    pub generated_time: i64,
    pub window: Window,
    /// The experiment the report is limited to, as given; null for the whole store.
    pub experiment: Option<String>,
    /// Experiments with runs started in the window or studies running, by name.
    pub experiments: Vec<ExperimentStatus>,
    /// Studies running now, oldest first.
    pub studies: Vec<StudyStatus>,
    /// Registered models, by name.
    pub models: Vec<ModelStatus>,
    /// What to do next, most urgent first.
    pub plan: Vec<PlanStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// As given, e.g. "7d".
    pub since: String,
    pub start_time: i64,
    pub end_time: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentStatus {
    pub experiment_id: ExperimentId,
    pub name: String,
    /// Runs started in the window, trials included.
    pub runs: RunCounts,
    /// Studies (`whet train`) started in the window.
    pub studies: u64,
    /// The primary metric of the newest study; null when the experiment has no study.
    pub metric: Option<MetricGoal>,
    /// The best finished study by the primary metric now.
    pub best: Option<BestRun>,
    /// The best among studies that had finished before the window started.
    pub best_at_start: Option<BestRun>,
    pub trend: Trend,
    /// `best - best_at_start` as measured; null unless both exist.
    pub delta: Option<f64>,
    /// The same difference signed so that positive is better (minus `delta` for a metric
    /// to minimise).
    pub gain: Option<f64>,
    /// Runs started in the window that failed, were killed, or had failed trials.
    pub attention: Vec<Attention>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunCounts {
    pub total: u64,
    pub running: u64,
    pub finished: u64,
    pub failed: u64,
    pub killed: u64,
}

/// A study's primary metric and which way is better.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricGoal {
    /// e.g. "roc_auc".
    pub name: String,
    /// The run metric compared: "cv_" and the name.
    pub key: String,
    pub direction: Direction,
}

/// An experiment's primary metric and its best finished study now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentBest {
    pub experiment_id: ExperimentId,
    pub metric: MetricGoal,
    pub best: Option<BestRun>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Maximize,
    Minimize,
}

impl Direction {
    /// The direction a study recorded (`whet.metric.direction`), else the one its metric's
    /// name implies: whet's error and loss metrics are minimised, every other one maximised.
    pub fn of(tag: Option<&str>, metric: &str) -> Direction {
        match tag {
            Some("maximize") => Direction::Maximize,
            Some("minimize") => Direction::Minimize,
            _ if matches!(metric, "log_loss" | "rmse" | "mae" | "mape" | "mse") => {
                Direction::Minimize
            }
            _ => Direction::Maximize,
        }
    }

    pub(super) fn better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::Maximize => a > b,
            Direction::Minimize => a < b,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestRun {
    pub run_id: RunId,
    pub run_name: String,
    /// The primary metric's cross-validated value.
    pub value: f64,
    /// `test_<metric>` when the study had a test set.
    pub test_value: Option<f64>,
    pub end_time: Option<i64>,
}

/// How the best score moved over the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// A study in the window beat the best from before it.
    Improved,
    /// The best is still the one from before the window.
    Unchanged,
    /// The first scored study finished in the window.
    First,
    /// No finished study has the primary metric.
    NoScore,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attention {
    pub run_id: RunId,
    pub run_name: String,
    /// The run's `whet.kind` (study, review, compare, drift, …); null for other runs.
    pub kind: Option<String>,
    pub status: RunStatus,
    /// "failed", "killed", or "failed_trials" for a run that did not fail itself.
    pub reason: String,
    /// The run's `whet.error` (or `whet.message`) tag.
    pub error: Option<String>,
    /// Trials of this study that failed; null for runs without trials.
    pub failed_trials: Option<u64>,
    pub start_time: i64,
    pub end_time: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyStatus {
    pub experiment_id: ExperimentId,
    pub experiment: String,
    pub run_id: RunId,
    pub run_name: String,
    pub start_time: i64,
    pub elapsed_ms: i64,
    pub metric: Option<MetricGoal>,
    /// The best cross-validated score among its finished trials so far.
    pub best_so_far: Option<f64>,
    pub trial_budget: Option<u64>,
    pub time_budget_ms: Option<u64>,
    /// 0–1: the larger of the trials done and the time used as a share of their budget.
    pub progress: Option<f64>,
    /// When the budget runs out at this pace; null without a budget or a finished trial.
    pub estimated_finish: Option<i64>,
    /// Processes working on the study. Today a study runs inside one `whet train` process
    /// whose run lease the store checks (a study whose lease ran out is KILLED and not
    /// listed), so this is 1.
    pub workers_alive: Option<u64>,
    pub trials: TrialCounts,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrialCounts {
    /// Trials waiting in a queue: null, since trials are not queued yet (a study runs its
    /// trials in its own process); a distributed queue will fill it.
    pub queued: Option<u64>,
    pub running: u64,
    /// Finished (completed or pruned).
    pub done: u64,
    pub failed: u64,
    pub killed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelStatus {
    pub name: String,
    pub latest_version: Option<i64>,
    /// Each alias, by name.
    pub aliases: Vec<AliasStatus>,
    /// The versions an alias points at and the latest, newest first.
    pub versions: Vec<VersionStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasStatus {
    pub alias: String,
    pub version: i64,
    /// When the alias last moved to this version; null when the history does not say.
    pub since: Option<i64>,
    pub moved_by: Option<String>,
    pub previous_version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionStatus {
    pub version: i64,
    pub aliases: Vec<String>,
    pub creation_time: i64,
    /// The run that logged the model (empty for a version an MLflow client made elsewhere).
    pub run_id: RunId,
    /// That run's experiment, its `target` tag and its `data` param (the training data).
    pub experiment: Option<String>,
    pub target: Option<String>,
    pub train_data: Option<String>,
    /// The latest finished review of this version.
    pub review: Option<ReviewFact>,
    /// The latest finished comparison with this version as the challenger.
    pub compare: Option<CompareFact>,
    /// The latest finished drift check of this version.
    pub drift: Option<DriftFact>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewFact {
    pub run_id: RunId,
    pub time: i64,
    pub data: Option<String>,
    /// Checks that warned.
    pub check_warnings: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareFact {
    pub run_id: RunId,
    pub time: i64,
    /// "better", "indistinguishable" or "worse".
    pub verdict: String,
    /// The champion it was compared with, as the command named it.
    pub against: String,
    /// That champion's version, when it was a version of this model.
    pub against_version: Option<i64>,
    /// The alias the comparison was for (`whet model promote`'s, or one named in
    /// `whet compare`'s champion), when known.
    pub alias: Option<String>,
    pub metric: Option<String>,
    /// The challenger's gain on the metric (positive is better).
    pub gain: Option<f64>,
    pub data: Option<String>,
    /// For `whet model promote`: whether the alias moved.
    pub promoted: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftFact {
    pub run_id: RunId,
    pub time: i64,
    /// "drift" or "none".
    pub verdict: String,
    /// Columns (inputs, prediction, target) that drifted.
    pub drifted: Vec<String>,
    pub data: Option<String>,
}

/// One next action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStep {
    pub kind: PlanKind,
    /// What the facts say and what to do, one sentence.
    pub text: String,
    /// The command that does it, one line.
    pub command: String,
    pub experiment: Option<String>,
    pub model: Option<String>,
    pub version: Option<i64>,
    pub run_id: Option<RunId>,
}

/// The kinds of step, in the order the plan lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    /// An aliased version drifted: train again.
    Retrain,
    /// A version beat the alias's holder in a comparison: move the alias.
    Promote,
    /// A run failed or was killed: look at it.
    InspectRun,
    /// A study had failed trials: look at them.
    InspectTrials,
    /// A version newer than the champion was not compared with it.
    Compare,
    /// An aliased or newest version has no review.
    Review,
    /// A model has versions but no alias.
    SetAlias,
}

//! `whet status`: the whole store on one screen, as facts and a plan.
//!
//! [`AsyncStore::status`] gathers the facts (per experiment: runs in the window, the best score
//! now and at the window's start, runs that failed; the studies running now; each registered
//! model's aliases with the latest review, comparison and drift verdict of the versions that
//! matter) into a [`StatusReport`], and [`plan`] derives the ordered next actions from those
//! facts alone, each with the command that does it. The CLI renders the report, the server
//! answers it at [`crate::remote::api::STATUS`], and a remote [`crate::Store`] asks the server
//! for it, so all three show the same facts and the same plan.
//!
//! What the facts are read from (the tags the whet commands write):
//! - studies: `whet.kind = study` runs with params `metric`, `trial_budget`,
//!   `time_budget_seconds`, tags `target`, `whet.metric.direction`; metric `cv_<metric>`;
//!   their trials are child runs (`whet.kind = trial`, `whet.status`);
//! - reviews: `whet.kind = review` (experiment "reviews") with `whet.model.name`,
//!   `whet.model.version`, `whet.review.data`, metric `check_warnings`;
//! - comparisons: `whet.kind = compare` (experiment "comparisons") with the challenger as
//!   `whet.model.name`/`whet.model.version`, `whet.compare.verdict`, `whet.compare.champion`
//!   (and `whet.compare.champion.version`), `whet.compare.data`, `whet.promote.*`;
//! - drift: `whet.kind = drift` with `whet.model.*`, `whet.drift.verdict`,
//!   `whet.drift.columns`, `whet.drift.data`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::{AsyncStore, now_ms};
use crate::error::{Error, Result};
use crate::model::*;

/// The window when none is given.
pub const DEFAULT_SINCE: &str = "7d";

/// How many of the newest review, compare and drift runs are read to find each version's
/// latest verdicts.
const VERDICT_RUNS: usize = 5_000;

/// Failed or killed runs of one experiment listed one by one in the plan; beyond this, one
/// line lists them all.
const PLAN_RUNS_PER_EXPERIMENT: usize = 3;

/// The placeholder for labelled data when the store knows of none for a model.
pub const DATA_PLACEHOLDER: &str = "LABELLED.csv";

/// What [`AsyncStore::status`] reports on.
#[derive(Debug, Clone)]
pub struct StatusQuery {
    /// How the window was written (`7d`), for the report.
    pub since: String,
    /// How far back the window reaches.
    pub window: Duration,
    /// Only this experiment (name or id) and the models registered from it.
    pub experiment: Option<String>,
    /// The report's "now" (ms since the epoch); None: the clock.
    pub now: Option<i64>,
}

impl StatusQuery {
    /// A query for the window written as `since` (see [`parse_since`]).
    pub fn new(since: &str, experiment: Option<&str>) -> Result<StatusQuery> {
        Ok(StatusQuery {
            since: since.trim().to_string(),
            window: parse_since(since)?,
            experiment: experiment.filter(|e| !e.is_empty()).map(str::to_string),
            now: None,
        })
    }
}

/// A look-back window as people write it: `30m`, `12h`, `7d`, `2w`. (Budgets, which
/// `whet train --time` takes, are parsed in whet-automl and have no days; this crate
/// depends on no other whet crate.)
pub fn parse_since(s: &str) -> Result<Duration> {
    let t = s.trim();
    let bad = || {
        Error::Invalid(format!(
            "'{s}' is not a window\n  hint: give a number and a unit: 30m, 12h, 7d or 2w"
        ))
    };
    let i = t.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(bad)?;
    let v: f64 = t[..i].trim().parse().map_err(|_| bad())?;
    let unit = match &t[i..] {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3_600.0,
        "d" => 86_400.0,
        "w" => 7.0 * 86_400.0,
        _ => return Err(bad()),
    };
    let secs = v * unit;
    // A window reaching before the epoch reads as "everything", which 100 years covers.
    if !(secs.is_finite() && secs > 0.0 && secs <= 100.0 * 365.25 * 86_400.0) {
        return Err(Error::Invalid(format!(
            "window '{s}' must be positive and at most 100 years\n  hint: e.g. 7d"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

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

    fn better(self, a: f64, b: f64) -> bool {
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

fn tag<'a>(run: &'a Run, key: &str) -> Option<&'a str> {
    run.tags
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn finite_metric(run: &Run, key: &str) -> Option<f64> {
    run.metrics
        .get(key)
        .map(|m| m.value)
        .filter(|v| v.is_finite())
}

fn metric_of(run: &Run) -> Option<MetricGoal> {
    let name = tag(run, "whet.metric").or_else(|| run.params.get("metric").map(String::as_str))?;
    Some(MetricGoal {
        name: name.to_string(),
        key: format!("cv_{name}"),
        direction: Direction::of(tag(run, "whet.metric.direction"), name),
    })
}

fn best_of<'a>(runs: impl Iterator<Item = &'a Run>, goal: &MetricGoal) -> Option<BestRun> {
    let mut best: Option<(&Run, f64)> = None;
    for r in runs {
        let Some(v) = finite_metric(r, &goal.key) else {
            continue;
        };
        if best.is_none_or(|(_, b)| goal.direction.better(v, b)) {
            best = Some((r, v));
        }
    }
    best.map(|(r, v)| BestRun {
        run_id: r.info.run_id.clone(),
        run_name: r.info.run_name.clone(),
        value: v,
        test_value: finite_metric(r, &format!("test_{}", goal.name)),
        end_time: r.info.end_time,
    })
}

/// "models:/churn/5", "models:/churn/5 (version 5 of 'churn')" and
/// "models:/churn@champion (version 5 of 'churn')" name version 5 of churn.
fn version_in_label(label: &str, model: &str) -> Option<i64> {
    if let Some(i) = label.find("(version ") {
        let rest = &label[i + "(version ".len()..];
        let (v, name) = rest.split_once(" of '")?;
        if name.trim_end_matches(')').trim_end_matches('\'') == model {
            return v.parse().ok();
        }
        return None;
    }
    let r = label.strip_prefix("models:/")?;
    let (name, v) = r.rsplit_once('/')?;
    (name == model).then(|| v.parse().ok()).flatten()
}

fn alias_in_label(label: &str) -> Option<String> {
    let r = label.strip_prefix("models:/")?;
    let r = r.split_whitespace().next()?;
    r.rsplit_once('@').map(|(_, a)| a.to_string())
}

/// The newest run of each (model, version) among runs sorted newest first.
fn latest_by_version(runs: &[Run]) -> BTreeMap<(String, i64), &Run> {
    let mut out = BTreeMap::new();
    for r in runs {
        let (Some(name), Some(v)) = (
            tag(r, "whet.model.name"),
            tag(r, "whet.model.version").and_then(|v| v.parse::<i64>().ok()),
        ) else {
            continue;
        };
        out.entry((name.to_string(), v)).or_insert(r);
    }
    out
}

impl AsyncStore {
    async fn all_runs(&self, mut search: SearchRuns) -> Result<Vec<Run>> {
        search.max_results = 10_000;
        let mut out = Vec::new();
        loop {
            let page = self.search_runs(&search).await?;
            out.extend(page.items);
            match page.next_page_token {
                Some(t) => search.page_token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// The newest finished runs of one `whet.kind`.
    async fn verdict_runs(&self, kind: &str) -> Result<Vec<Run>> {
        Ok(self
            .search_runs(&SearchRuns {
                filter: format!("tags.`whet.kind` = '{kind}' and attributes.status = 'FINISHED'"),
                max_results: VERDICT_RUNS,
                ..Default::default()
            })
            .await?
            .items)
    }

    /// The facts of the store and the plan they call for: see the module documentation.
    pub async fn status(&self, q: &StatusQuery) -> Result<StatusReport> {
        let now = q.now.unwrap_or_else(now_ms);
        let start = now - i64::try_from(q.window.as_millis()).unwrap_or(i64::MAX / 2);
        let experiments = self.list_experiments().await?;
        let names: BTreeMap<ExperimentId, String> = experiments
            .iter()
            .map(|e| (e.experiment_id, e.name.clone()))
            .collect();
        let only: Option<ExperimentId> = match &q.experiment {
            None => None,
            Some(e) => Some(
                experiments
                    .iter()
                    .find(|x| &x.name == e)
                    .or_else(|| {
                        e.parse::<i64>()
                            .ok()
                            .and_then(|id| experiments.iter().find(|x| x.experiment_id == id))
                    })
                    .map(|x| x.experiment_id)
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "experiment '{e}' not found in store {}\n  hint: known experiments: {}",
                            self.location,
                            experiments
                                .iter()
                                .map(|x| x.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?,
            ),
        };
        let scope: Vec<ExperimentId> = only.into_iter().collect();

        let recent = self
            .all_runs(SearchRuns {
                experiments: scope.clone(),
                filter: format!("attributes.start_time >= {start}"),
                ..Default::default()
            })
            .await?;
        let studies = self
            .all_runs(SearchRuns {
                experiments: scope.clone(),
                filter: "tags.`whet.kind` = 'study'".into(),
                ..Default::default()
            })
            .await?;

        // Failed trials per study, from the window's runs.
        let mut failed_trials: BTreeMap<&str, u64> = BTreeMap::new();
        for r in &recent {
            if r.info.status == RunStatus::Failed
                && tag(r, "whet.kind") == Some("trial")
                && let Some(p) = &r.info.parent_run_id
            {
                *failed_trials.entry(p.as_str()).or_default() += 1;
            }
        }

        let mut by_exp: BTreeMap<ExperimentId, Vec<&Run>> = BTreeMap::new();
        for r in &recent {
            by_exp.entry(r.info.experiment_id).or_default().push(r);
        }
        let mut studies_by_exp: BTreeMap<ExperimentId, Vec<&Run>> = BTreeMap::new();
        for r in &studies {
            studies_by_exp
                .entry(r.info.experiment_id)
                .or_default()
                .push(r);
        }
        let running: Vec<&Run> = studies
            .iter()
            .filter(|r| r.info.status == RunStatus::Running)
            .collect();
        let mut active: BTreeSet<ExperimentId> = by_exp.keys().copied().collect();
        active.extend(running.iter().map(|r| r.info.experiment_id));

        let mut exps = Vec::new();
        for id in active {
            let window_runs = by_exp.get(&id).map(Vec::as_slice).unwrap_or(&[]);
            let all_studies = studies_by_exp.get(&id).map(Vec::as_slice).unwrap_or(&[]);
            exps.push(experiment_status(
                id,
                names.get(&id).cloned().unwrap_or_else(|| id.to_string()),
                window_runs,
                all_studies,
                &failed_trials,
                start,
            ));
        }
        exps.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then(a.experiment_id.cmp(&b.experiment_id))
        });

        let mut running_status = Vec::new();
        for r in running {
            let trials = self
                .all_runs(SearchRuns {
                    experiments: vec![r.info.experiment_id],
                    filter: format!("attributes.parent_run_id = '{}'", r.info.run_id),
                    ..Default::default()
                })
                .await?;
            running_status.push(study_status(r, &trials, &names, now));
        }
        running_status.sort_by_key(|s| (s.start_time, s.run_id.clone()));

        let models = self.model_status(&studies, only.is_some()).await?;
        let mut report = StatusReport {
            store: self.location.clone(),
            generated_time: now,
            window: Window {
                since: q.since.clone(),
                start_time: start,
                end_time: now,
            },
            experiment: q.experiment.clone(),
            experiments: exps,
            studies: running_status,
            models,
            plan: Vec::new(),
        };
        report.plan = plan(&report);
        Ok(report)
    }

    /// Every registered model (or, with `scoped`, those with a version from one of
    /// `studies`) with its aliases and the verdicts on the versions that matter.
    async fn model_status(&self, studies: &[Run], scoped: bool) -> Result<Vec<ModelStatus>> {
        let study_ids: BTreeSet<&str> = studies.iter().map(|r| r.info.run_id.as_str()).collect();
        let reviews = self.verdict_runs("review").await?;
        let compares = self.verdict_runs("compare").await?;
        let drifts = self.verdict_runs("drift").await?;
        let (reviews, compares, drifts) = (
            latest_by_version(&reviews),
            latest_by_version(&compares),
            latest_by_version(&drifts),
        );
        let experiments: BTreeMap<ExperimentId, String> = self
            .list_experiments()
            .await?
            .into_iter()
            .map(|e| (e.experiment_id, e.name))
            .collect();
        let mut out = Vec::new();
        for m in self.list_models().await? {
            let versions = self.model_versions(&m.name, None).await?;
            if scoped
                && !versions
                    .iter()
                    .any(|v| study_ids.contains(v.run_id.as_str()))
            {
                continue;
            }
            let history = self.alias_history(&m.name).await?;
            let aliases: Vec<AliasStatus> = m
                .aliases
                .iter()
                .map(|(alias, &version)| {
                    let moved = history
                        .iter()
                        .rev()
                        .find(|h| &h.alias == alias && h.version == Some(version));
                    AliasStatus {
                        alias: alias.clone(),
                        version,
                        since: moved.map(|h| h.moved_time),
                        moved_by: moved.map(|h| h.user_id.clone()),
                        previous_version: moved.and_then(|h| h.previous_version),
                    }
                })
                .collect();
            let mut wanted: BTreeSet<i64> = m.aliases.values().copied().collect();
            wanted.extend(m.latest_version);
            let mut vs = Vec::new();
            for v in versions.iter().filter(|v| wanted.contains(&v.version)) {
                let run = if v.run_id.is_empty() {
                    None
                } else {
                    self.get_run(&v.run_id).await.ok()
                };
                let key = (m.name.clone(), v.version);
                vs.push(VersionStatus {
                    version: v.version,
                    aliases: m
                        .aliases
                        .iter()
                        .filter(|(_, x)| **x == v.version)
                        .map(|(a, _)| a.clone())
                        .collect(),
                    creation_time: v.creation_time,
                    run_id: v.run_id.clone(),
                    experiment: run
                        .as_ref()
                        .and_then(|r| experiments.get(&r.info.experiment_id).cloned()),
                    target: run
                        .as_ref()
                        .and_then(|r| tag(r, "target").map(str::to_string)),
                    train_data: run.as_ref().and_then(|r| r.params.get("data").cloned()),
                    review: reviews.get(&key).map(|r| review_fact(r)),
                    compare: compares.get(&key).map(|r| compare_fact(r, &m.name)),
                    drift: drifts.get(&key).map(|r| drift_fact(r)),
                });
            }
            vs.sort_by_key(|v| std::cmp::Reverse(v.version));
            out.push(ModelStatus {
                name: m.name.clone(),
                latest_version: m.latest_version,
                aliases,
                versions: vs,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

fn experiment_status(
    id: ExperimentId,
    name: String,
    window_runs: &[&Run],
    all_studies: &[&Run],
    failed_trials: &BTreeMap<&str, u64>,
    start: i64,
) -> ExperimentStatus {
    let mut runs = RunCounts::default();
    for r in window_runs {
        runs.total += 1;
        match r.info.status {
            RunStatus::Running => runs.running += 1,
            RunStatus::Finished => runs.finished += 1,
            RunStatus::Failed => runs.failed += 1,
            RunStatus::Killed => runs.killed += 1,
        }
    }
    let studies = window_runs
        .iter()
        .filter(|r| tag(r, "whet.kind") == Some("study"))
        .count() as u64;
    // The newest study decides the metric; only studies on that metric are compared.
    let metric = all_studies
        .iter()
        .max_by_key(|r| (r.info.start_time, r.info.run_id.clone()))
        .and_then(|r| metric_of(r));
    let (best, best_at_start) = match &metric {
        None => (None, None),
        Some(goal) => {
            let scored: Vec<&Run> = all_studies
                .iter()
                .copied()
                .filter(|r| r.info.status == RunStatus::Finished)
                .filter(|r| metric_of(r).is_some_and(|m| m.name == goal.name))
                .collect();
            (
                best_of(scored.iter().copied(), goal),
                best_of(
                    scored
                        .iter()
                        .copied()
                        .filter(|r| r.info.end_time.is_some_and(|e| e < start)),
                    goal,
                ),
            )
        }
    };
    let (trend, delta, gain) = match (&best, &best_at_start, &metric) {
        (Some(b), Some(s), Some(goal)) => {
            let delta = b.value - s.value;
            let gain = match goal.direction {
                Direction::Maximize => delta,
                Direction::Minimize => -delta,
            };
            let trend = if b.run_id != s.run_id && gain > 0.0 {
                Trend::Improved
            } else {
                Trend::Unchanged
            };
            (trend, Some(delta), Some(gain))
        }
        (Some(_), None, _) => (Trend::First, None, None),
        _ => (Trend::NoScore, None, None),
    };
    let mut attention = Vec::new();
    for r in window_runs {
        let is_trial = tag(r, "whet.kind") == Some("trial");
        let own = match r.info.status {
            RunStatus::Failed if !is_trial => Some("failed"),
            RunStatus::Killed if !is_trial => Some("killed"),
            _ => None,
        };
        let failed = failed_trials.get(r.info.run_id.as_str()).copied();
        let reason = match (own, failed) {
            (Some(o), _) => o,
            (None, Some(_)) => "failed_trials",
            (None, None) => continue,
        };
        attention.push(Attention {
            run_id: r.info.run_id.clone(),
            run_name: r.info.run_name.clone(),
            kind: tag(r, "whet.kind").map(str::to_string),
            status: r.info.status,
            reason: reason.to_string(),
            error: tag(r, "whet.error")
                .or_else(|| tag(r, "whet.message"))
                .map(str::to_string),
            failed_trials: failed,
            start_time: r.info.start_time,
            end_time: r.info.end_time,
        });
    }
    attention.sort_by(|a, b| {
        b.start_time
            .cmp(&a.start_time)
            .then(a.run_id.cmp(&b.run_id))
    });
    ExperimentStatus {
        experiment_id: id,
        name,
        runs,
        studies,
        metric,
        best,
        best_at_start,
        trend,
        delta,
        gain,
        attention,
    }
}

fn study_status(
    study: &Run,
    trials: &[Run],
    names: &BTreeMap<ExperimentId, String>,
    now: i64,
) -> StudyStatus {
    let metric = metric_of(study);
    let mut counts = TrialCounts::default();
    let mut best: Option<f64> = None;
    for t in trials {
        match t.info.status {
            RunStatus::Running => counts.running += 1,
            RunStatus::Finished => counts.done += 1,
            RunStatus::Failed => counts.failed += 1,
            RunStatus::Killed => counts.killed += 1,
        }
        if t.info.status == RunStatus::Finished
            && tag(t, "whet.status") != Some("pruned")
            && let Some(goal) = &metric
            && let Some(v) = finite_metric(t, &goal.key)
            && best.is_none_or(|b| goal.direction.better(v, b))
        {
            best = Some(v);
        }
    }
    let elapsed = (now - study.info.start_time).max(0);
    let trial_budget = study
        .params
        .get("trial_budget")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&n| n > 0);
    let time_budget_ms = study
        .params
        .get("time_budget_seconds")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| (s * 1000.0) as u64);
    // Finished trials of every kind spend the trial budget.
    let ended = counts.done + counts.failed;
    let by_trials = trial_budget.map(|n| ended as f64 / n as f64);
    let by_time = time_budget_ms.map(|t| elapsed as f64 / t as f64);
    let progress = match (by_trials, by_time) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
    .map(|p| p.clamp(0.0, 1.0));
    let finish_by_time = time_budget_ms.map(|t| study.info.start_time + t as i64);
    let finish_by_trials = trial_budget
        .filter(|_| ended > 0)
        .map(|n| study.info.start_time + (elapsed as f64 * n as f64 / ended as f64) as i64);
    let estimated_finish = match (finish_by_time, finish_by_trials) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    StudyStatus {
        experiment_id: study.info.experiment_id,
        experiment: names
            .get(&study.info.experiment_id)
            .cloned()
            .unwrap_or_default(),
        run_id: study.info.run_id.clone(),
        run_name: study.info.run_name.clone(),
        start_time: study.info.start_time,
        elapsed_ms: elapsed,
        metric,
        best_so_far: best,
        trial_budget,
        time_budget_ms,
        progress,
        estimated_finish,
        workers_alive: Some(1),
        trials: counts,
    }
}

fn review_fact(r: &Run) -> ReviewFact {
    ReviewFact {
        run_id: r.info.run_id.clone(),
        time: r.info.end_time.unwrap_or(r.info.start_time),
        data: tag(r, "whet.review.data").map(str::to_string),
        check_warnings: finite_metric(r, "check_warnings").map(|v| v as u64),
    }
}

fn compare_fact(r: &Run, model: &str) -> CompareFact {
    let against = tag(r, "whet.compare.champion")
        .unwrap_or_default()
        .to_string();
    let against_version = tag(r, "whet.compare.champion.version")
        .and_then(|v| v.parse().ok())
        .filter(|_| tag(r, "whet.compare.champion.name").is_none_or(|n| n == model))
        .or_else(|| version_in_label(&against, model));
    CompareFact {
        run_id: r.info.run_id.clone(),
        time: r.info.end_time.unwrap_or(r.info.start_time),
        verdict: tag(r, "whet.compare.verdict")
            .unwrap_or_default()
            .to_string(),
        alias: tag(r, "whet.promote.alias")
            .map(str::to_string)
            .or_else(|| alias_in_label(&against)),
        against,
        against_version,
        metric: tag(r, "whet.compare.metric").map(str::to_string),
        gain: finite_metric(r, "gain"),
        data: tag(r, "whet.compare.data").map(str::to_string),
        promoted: tag(r, "whet.promote.moved").map(|v| v == "true"),
    }
}

fn drift_fact(r: &Run) -> DriftFact {
    DriftFact {
        run_id: r.info.run_id.clone(),
        time: r.info.end_time.unwrap_or(r.info.start_time),
        verdict: tag(r, "whet.drift.verdict").unwrap_or_default().to_string(),
        drifted: tag(r, "whet.drift.columns")
            .map(|c| c.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        data: tag(r, "whet.drift.data").map(str::to_string),
    }
}

/// `YYYY-MM-DD` (UTC) of a time in ms, for plan sentences.
pub fn date(ms: i64) -> String {
    // Days to civil date (H. Hinnant's algorithm); this crate depends on no whet crate that
    // has one.
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A word as a shell reads it: as is when it is plain, else in single quotes.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// The labelled data the store last saw used for judging `model` (a comparison's or a
/// review's), else the placeholder.
fn labelled_data(m: &ModelStatus) -> String {
    let mut seen: Vec<(i64, &str)> = Vec::new();
    for v in &m.versions {
        if let Some(c) = &v.compare
            && let Some(d) = &c.data
        {
            seen.push((c.time, d));
        }
        if let Some(r) = &v.review
            && let Some(d) = &r.data
        {
            seen.push((r.time, d));
        }
    }
    seen.into_iter()
        .max()
        .map_or_else(|| DATA_PLACEHOLDER.to_string(), |(_, d)| shell_word(d))
}

/// The next actions the facts call for, most urgent first (see [`PlanKind`] for the order);
/// within a kind, by experiment or model name.
pub fn plan(r: &StatusReport) -> Vec<PlanStep> {
    let mut steps = Vec::new();
    let step = |kind, text: String, command: String| PlanStep {
        kind,
        text,
        command,
        experiment: None,
        model: None,
        version: None,
        run_id: None,
    };

    for m in &r.models {
        let holder = |alias: &str| m.aliases.iter().find(|a| a.alias == alias);
        let champion = holder("champion");
        let data = labelled_data(m);
        for v in &m.versions {
            let name_at = match v.aliases.first() {
                Some(a) => format!("{}@{a} v{}", m.name, v.version),
                None => format!("{} v{}", m.name, v.version),
            };
            // Retrain: an aliased version whose latest drift check found drift.
            if !v.aliases.is_empty()
                && let Some(d) = &v.drift
                && d.verdict == "drift"
            {
                let n = d.drifted.len();
                let command = match (&d.data, &v.target) {
                    (Some(data), Some(target)) => format!(
                        "whet train {} --target {}{}",
                        shell_word(data),
                        shell_word(target),
                        v.experiment
                            .as_ref()
                            .map(|e| format!(" --experiment {}", shell_word(e)))
                            .unwrap_or_default()
                    ),
                    _ => format!("whet model show {}/{}", shell_word(&m.name), v.version),
                };
                let mut s = step(
                    PlanKind::Retrain,
                    format!(
                        "{name_at} drifted on {n} column{} (drift run {}, {}): retrain on \
                         fresh labelled data",
                        if n == 1 { "" } else { "s" },
                        short(&d.run_id),
                        date(d.time)
                    ),
                    command,
                );
                s.model = Some(m.name.clone());
                s.version = Some(v.version);
                s.run_id = Some(d.run_id.clone());
                steps.push(s);
            }
            // Promote: a comparison found this version better than the version that still
            // holds the alias it was compared for.
            if let Some(c) = &v.compare
                && c.verdict == "better"
                && let Some(against) = c.against_version
            {
                let alias = c
                    .alias
                    .as_deref()
                    .and_then(holder)
                    .or_else(|| m.aliases.iter().find(|a| a.version == against));
                if let Some(a) = alias
                    && a.version == against
                    && a.version != v.version
                {
                    let mut s = step(
                        PlanKind::Promote,
                        format!(
                            "{} v{} is better than {}@{} v{} (compare {}, {})",
                            m.name,
                            v.version,
                            m.name,
                            a.alias,
                            a.version,
                            short(&c.run_id),
                            date(c.time)
                        ),
                        format!(
                            "whet model promote {} --version {} --alias {} --data {}",
                            shell_word(&m.name),
                            v.version,
                            a.alias,
                            c.data.as_deref().map_or_else(|| data.clone(), shell_word)
                        ),
                    );
                    s.model = Some(m.name.clone());
                    s.version = Some(v.version);
                    s.run_id = Some(c.run_id.clone());
                    steps.push(s);
                }
            }
            // Compare: a version newer than the champion, not yet compared with it.
            if let Some(ch) = champion
                && v.version > ch.version
                && v.compare
                    .as_ref()
                    .is_none_or(|c| c.against_version != Some(ch.version))
            {
                let mut s = step(
                    PlanKind::Compare,
                    format!(
                        "{name_at} is newer than {}@champion v{} and not compared with it",
                        m.name, ch.version
                    ),
                    format!(
                        "whet compare models:/{}@champion models:/{}/{} {data}",
                        m.name, m.name, v.version
                    ),
                );
                s.model = Some(m.name.clone());
                s.version = Some(v.version);
                steps.push(s);
            }
            // Review: every version listed (aliased or newest) deserves one.
            if v.review.is_none() {
                let mut s = step(
                    PlanKind::Review,
                    format!("no review for {name_at}"),
                    format!("whet review models:/{}/{} {data}", m.name, v.version),
                );
                s.model = Some(m.name.clone());
                s.version = Some(v.version);
                steps.push(s);
            }
        }
        if m.aliases.is_empty()
            && let Some(latest) = m.latest_version
        {
            let mut s = step(
                PlanKind::SetAlias,
                format!(
                    "{} has no champion: name one once v{latest} is reviewed",
                    m.name
                ),
                format!(
                    "whet model promote {} --version {latest} --alias champion --data {data}",
                    shell_word(&m.name)
                ),
            );
            s.model = Some(m.name.clone());
            s.version = Some(latest);
            steps.push(s);
        }
    }

    for e in &r.experiments {
        let exp = shell_word(&e.name);
        let own: Vec<&Attention> = e
            .attention
            .iter()
            .filter(|a| a.reason != "failed_trials")
            .collect();
        for a in own.iter().take(if own.len() > PLAN_RUNS_PER_EXPERIMENT {
            0
        } else {
            PLAN_RUNS_PER_EXPERIMENT
        }) {
            let mut s = step(
                PlanKind::InspectRun,
                format!(
                    "{} run '{}' in {} {} on {}{}",
                    a.kind.as_deref().unwrap_or("a"),
                    a.run_name,
                    e.name,
                    a.reason,
                    date(a.end_time.unwrap_or(a.start_time)),
                    a.error
                        .as_deref()
                        .map(|x| format!(": {}", first_line(x)))
                        .unwrap_or_default()
                ),
                format!("whet run show {}", short(&a.run_id)),
            );
            s.experiment = Some(e.name.clone());
            s.run_id = Some(a.run_id.clone());
            steps.push(s);
        }
        if own.len() > PLAN_RUNS_PER_EXPERIMENT {
            let mut s = step(
                PlanKind::InspectRun,
                format!(
                    "{} runs failed or were killed in {} since {}",
                    own.len(),
                    e.name,
                    r.window.since
                ),
                format!(
                    "whet runs -e {exp} -f \"attributes.status != 'FINISHED' and \
                     attributes.start_time >= {}\"",
                    r.window.start_time
                ),
            );
            s.experiment = Some(e.name.clone());
            steps.push(s);
        }
        for a in e.attention.iter().filter(|a| a.failed_trials.is_some()) {
            let n = a.failed_trials.unwrap_or(0);
            let mut s = step(
                PlanKind::InspectTrials,
                format!(
                    "study '{}' in {} has {n} failed trial{}",
                    a.run_name,
                    e.name,
                    if n == 1 { "" } else { "s" }
                ),
                format!(
                    "whet runs -e {exp} -f \"attributes.parent_run_id = '{}' and \
                     attributes.status = 'FAILED'\"",
                    a.run_id
                ),
            );
            s.experiment = Some(e.name.clone());
            s.run_id = Some(a.run_id.clone());
            steps.push(s);
        }
    }
    // Stable: within a kind, models and experiments keep their (sorted) order.
    steps.sort_by_key(|s| s.kind);
    steps
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_with_their_units_and_refuse_the_rest() {
        assert_eq!(
            parse_since("7d").ok(),
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(parse_since(" 12h ").ok(), Some(Duration::from_secs(43_200)));
        assert_eq!(
            parse_since("2w").ok(),
            Some(Duration::from_secs(14 * 86_400))
        );
        assert_eq!(parse_since("1.5m").ok(), Some(Duration::from_secs(90)));
        for bad in ["7", "", "d", "7y", "-1d", "0h", "1e9w", "NaNd"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(date(0), "1970-01-01");
        // 2026-12-05T12:00:00Z
        assert_eq!(date(1_796_472_000_000), "2026-12-05");
        assert_eq!(date(951_782_400_000), "2000-02-29");
        assert_eq!(date(-86_400_000), "1969-12-31");
    }

    #[test]
    fn labels_name_versions_of_the_right_model() {
        assert_eq!(version_in_label("models:/churn/5", "churn"), Some(5));
        assert_eq!(
            version_in_label("models:/churn@champion (version 5 of 'churn')", "churn"),
            Some(5)
        );
        assert_eq!(version_in_label("models:/other/5", "churn"), None);
        assert_eq!(version_in_label("model.whet", "churn"), None);
        assert_eq!(
            alias_in_label("models:/churn@champion (version 5 of 'churn')").as_deref(),
            Some("champion")
        );
        assert_eq!(alias_in_label("models:/churn/5"), None);
    }

    #[test]
    fn shell_words_survive_a_shell() {
        assert_eq!(shell_word("data/new.csv"), "data/new.csv");
        assert_eq!(shell_word("my data.csv"), "'my data.csv'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }

    fn version(v: i64, aliases: &[&str]) -> VersionStatus {
        VersionStatus {
            version: v,
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            creation_time: 0,
            run_id: format!("{v:032x}"),
            experiment: Some("churn".into()),
            target: Some("churned".into()),
            train_data: Some("churn.csv".into()),
            review: None,
            compare: None,
            drift: None,
        }
    }

    fn report(models: Vec<ModelStatus>, experiments: Vec<ExperimentStatus>) -> StatusReport {
        StatusReport {
            store: "whet.db".into(),
            generated_time: 1_796_472_000_000,
            window: Window {
                since: "7d".into(),
                start_time: 1_795_867_200_000,
                end_time: 1_796_472_000_000,
            },
            experiment: None,
            experiments,
            studies: vec![],
            models,
            plan: vec![],
        }
    }

    fn alias(a: &str, v: i64) -> AliasStatus {
        AliasStatus {
            alias: a.into(),
            version: v,
            since: Some(0),
            moved_by: None,
            previous_version: None,
        }
    }

    #[test]
    fn the_plan_orders_drift_promotion_comparison_and_review() {
        let mut champion = version(5, &["champion"]);
        champion.review = Some(ReviewFact {
            run_id: "r".repeat(32),
            time: 0,
            data: Some("holdout.csv".into()),
            check_warnings: Some(0),
        });
        champion.drift = Some(DriftFact {
            run_id: "d".repeat(32),
            time: 1_796_400_000_000,
            verdict: "drift".into(),
            drifted: vec!["a".into(), "b".into(), "c".into()],
            data: Some("new.csv".into()),
        });
        let mut challenger = version(7, &["challenger"]);
        challenger.compare = Some(CompareFact {
            run_id: "c".repeat(32),
            time: 1_796_300_000_000,
            verdict: "better".into(),
            against: "models:/churn@champion (version 5 of 'churn')".into(),
            against_version: Some(5),
            alias: Some("champion".into()),
            metric: Some("roc_auc".into()),
            gain: Some(0.02),
            data: Some("holdout.csv".into()),
            promoted: None,
        });
        let latest = version(8, &[]);
        let m = ModelStatus {
            name: "churn".into(),
            latest_version: Some(8),
            aliases: vec![alias("challenger", 7), alias("champion", 5)],
            versions: vec![latest, challenger, champion],
        };
        let p = plan(&report(vec![m], vec![]));
        let kinds: Vec<PlanKind> = p.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                PlanKind::Retrain,
                PlanKind::Promote,
                PlanKind::Compare,
                PlanKind::Review,
                PlanKind::Review
            ]
        );
        assert_eq!(
            p[0].command,
            "whet train new.csv --target churned --experiment churn"
        );
        assert!(
            p[0].text.contains("churn@champion v5 drifted on 3 columns"),
            "{}",
            p[0].text
        );
        assert_eq!(
            p[1].command,
            "whet model promote churn --version 7 --alias champion --data holdout.csv"
        );
        assert_eq!(
            p[2].command,
            "whet compare models:/churn@champion models:/churn/8 holdout.csv"
        );
        assert_eq!(p[3].version, Some(8));
        assert_eq!(p[4].version, Some(7));
    }

    #[test]
    fn a_stale_comparison_promotes_nothing_and_asks_for_a_new_one() {
        // v7 beat v4, but the champion has since moved to v5.
        let mut challenger = version(7, &[]);
        challenger.review = Some(ReviewFact {
            run_id: "r".repeat(32),
            time: 0,
            data: None,
            check_warnings: None,
        });
        challenger.compare = Some(CompareFact {
            run_id: "c".repeat(32),
            time: 0,
            verdict: "better".into(),
            against: "models:/churn/4".into(),
            against_version: Some(4),
            alias: Some("champion".into()),
            metric: None,
            gain: None,
            data: None,
            promoted: Some(false),
        });
        let mut champion = version(5, &["champion"]);
        champion.review = challenger.review.clone();
        let m = ModelStatus {
            name: "churn".into(),
            latest_version: Some(7),
            aliases: vec![alias("champion", 5)],
            versions: vec![challenger, champion],
        };
        let p = plan(&report(vec![m], vec![]));
        assert_eq!(p.len(), 1, "{p:#?}");
        assert_eq!(p[0].kind, PlanKind::Compare);
        assert!(p[0].command.ends_with(DATA_PLACEHOLDER), "{}", p[0].command);
    }

    #[test]
    fn failed_runs_are_listed_until_there_are_too_many() {
        let att = |i: u64, reason: &str, trials: Option<u64>| Attention {
            run_id: format!("{i:032x}"),
            run_name: format!("run {i}"),
            kind: Some("study".into()),
            status: RunStatus::Failed,
            reason: reason.into(),
            error: Some("out of memory\nmore".into()),
            failed_trials: trials,
            start_time: 0,
            end_time: Some(0),
        };
        let exp = |attention: Vec<Attention>| ExperimentStatus {
            experiment_id: 1,
            name: "churn data".into(),
            runs: RunCounts::default(),
            studies: 0,
            metric: None,
            best: None,
            best_at_start: None,
            trend: Trend::NoScore,
            delta: None,
            gain: None,
            attention,
        };
        let p = plan(&report(
            vec![],
            vec![exp(vec![
                att(1, "failed", None),
                att(2, "failed_trials", Some(14)),
            ])],
        ));
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].kind, PlanKind::InspectRun);
        assert_eq!(
            p[0].command,
            format!("whet run show {}", &format!("{:032x}", 1)[..12])
        );
        assert!(p[0].text.ends_with(": out of memory"), "{}", p[0].text);
        assert_eq!(p[1].kind, PlanKind::InspectTrials);
        assert!(p[1].text.contains("14 failed trials"));
        assert!(
            p[1].command
                .starts_with("whet runs -e 'churn data' -f \"attributes.parent_run_id = '")
        );
        let many: Vec<Attention> = (0..4).map(|i| att(i, "killed", None)).collect();
        let p = plan(&report(vec![], vec![exp(many)]));
        assert_eq!(p.len(), 1);
        assert!(
            p[0].text.starts_with("4 runs failed or were killed"),
            "{}",
            p[0].text
        );
    }
}

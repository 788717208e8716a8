//! Gathering the facts of a [`StatusReport`] from the store.

use std::collections::{BTreeMap, BTreeSet};

use crate::core::{AsyncStore, now_ms};
use crate::error::Result;
use crate::model::*;

use super::*;

/// How many of the newest review, compare and drift runs are read to find each version's
/// latest verdicts.
const VERDICT_RUNS: usize = 5_000;

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

/// An experiment's primary metric: the newest study's.
fn primary_metric(studies: &[&Run]) -> Option<MetricGoal> {
    studies
        .iter()
        .max_by_key(|r| (r.info.start_time, r.info.run_id.clone()))
        .and_then(|r| metric_of(r))
}

/// The finished studies on `goal`'s metric: only those are compared.
fn scored_studies<'a>(studies: &[&'a Run], goal: &MetricGoal) -> Vec<&'a Run> {
    studies
        .iter()
        .copied()
        .filter(|r| r.info.status == RunStatus::Finished)
        .filter(|r| metric_of(r).is_some_and(|m| m.name == goal.name))
        .collect()
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
pub(super) fn version_in_label(label: &str, model: &str) -> Option<i64> {
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

pub(super) fn alias_in_label(label: &str) -> Option<String> {
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

    /// Per experiment with a study: its primary metric and the best finished study on it
    /// now (what the UI's experiments page shows beside the run counts).
    pub async fn experiment_bests(&self) -> Result<Vec<ExperimentBest>> {
        let studies = self
            .all_runs(SearchRuns {
                filter: "tags.`whet.kind` = 'study'".into(),
                ..Default::default()
            })
            .await?;
        let mut by_exp: BTreeMap<ExperimentId, Vec<&Run>> = BTreeMap::new();
        for r in &studies {
            by_exp.entry(r.info.experiment_id).or_default().push(r);
        }
        Ok(by_exp
            .into_iter()
            .filter_map(|(experiment_id, runs)| {
                let metric = primary_metric(&runs)?;
                let best = best_of(scored_studies(&runs, &metric).into_iter(), &metric);
                Some(ExperimentBest {
                    experiment_id,
                    metric,
                    best,
                })
            })
            .collect())
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
    let metric = primary_metric(all_studies);
    let (best, best_at_start) = match &metric {
        None => (None, None),
        Some(goal) => {
            let scored = scored_studies(all_studies, goal);
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

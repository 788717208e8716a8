//! Recording a `whet train` study in the tracking store: one study run, a child run per trial,
//! the dataset, the model file as an artifact, and a registered model version.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Serialize;
use whet_automl::search::TrialStatus;
use whet_automl::{LearnerKind, TrialRecord};
use whet_data::profile::Profile;
use whet_learn::metrics::Metric;
use whet_track::{
    ArtifactSource, Dataset, ExperimentId, Metric as Point, NewRun, RunId, RunStatus, Store,
};

/// Each trial run's out-of-fold predictions.
pub const OOF_ARTIFACT: &str = "oof.parquet";

/// What the report says about the tracked study.
#[derive(Clone, Debug, Serialize)]
pub struct Recorded {
    pub store: String,
    pub experiment: String,
    pub run_id: RunId,
    pub registered_model: String,
    pub model_version: i64,
}

pub struct Tracker<'s> {
    store: &'s Store,
    experiment: ExperimentId,
    experiment_name: String,
    study: RunId,
    trial_run: Option<RunId>,
    /// The first failure while recording trials: training goes on, the command reports it.
    trial_error: Option<anyhow::Error>,
}

/// The command line as typed, for the run's source.
pub fn source_command() -> String {
    std::env::args()
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl<'s> Tracker<'s> {
    pub fn start(
        store: &'s Store,
        experiment_name: &str,
        run_name: &str,
        fingerprint: &str,
        params: &[(String, String)],
        tags: &[(String, String)],
    ) -> Result<Tracker<'s>> {
        let experiment = store
            .get_or_create_experiment(experiment_name)
            .with_context(|| format!("tracking store {}", store.location()))?;
        let mut all_tags = vec![("whet.kind".to_string(), "study".to_string())];
        all_tags.extend(tags.iter().cloned());
        let study = store.start_run(&NewRun {
            experiment,
            name: run_name.to_string(),
            parent: None,
            user: String::new(),
            source_command: source_command(),
            data_fingerprint: Some(fingerprint.to_string()),
            tags: all_tags,
            ..NewRun::default()
        })?;
        store.log_params(&study, params)?;
        Ok(Tracker {
            store,
            experiment,
            experiment_name: experiment_name.to_string(),
            study,
            trial_run: None,
            trial_error: None,
        })
    }

    pub fn experiment(&self) -> ExperimentId {
        self.experiment
    }

    /// The study run's id.
    pub fn run_id(&self) -> &str {
        &self.study
    }

    pub fn log_dataset(
        &self,
        name: &str,
        source: &str,
        fingerprint: &str,
        profile: &Profile,
    ) -> Result<()> {
        #[derive(Serialize)]
        struct Column<'a> {
            name: &'a str,
            #[serde(rename = "type")]
            value_type: &'a str,
            role: &'a str,
        }
        let schema: Vec<Column> = profile
            .columns
            .iter()
            .map(|c| Column {
                name: &c.name,
                value_type: c.value_type.name(),
                role: c.role.name(),
            })
            .collect();
        self.store.log_dataset(
            &self.study,
            &Dataset {
                fingerprint: fingerprint.to_string(),
                digest: fingerprint.to_string(),
                source_type: "local".to_string(),
                name: name.to_string(),
                source: source.to_string(),
                schema: serde_json::to_string(&schema)?,
                profile: serde_json::to_string(profile)?,
            },
            "train",
        )?;
        Ok(())
    }

    fn record<T>(&mut self, r: whet_track::Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                if self.trial_error.is_none() {
                    self.trial_error = Some(e.into());
                }
                None
            }
        }
    }

    pub fn trial_started(&mut self, id: usize, learner: LearnerKind) {
        if self.trial_error.is_some() {
            return;
        }
        let new = NewRun {
            experiment: self.experiment,
            name: format!("trial {} {learner}", id + 1),
            parent: Some(self.study.clone()),
            user: String::new(),
            source_command: String::new(),
            data_fingerprint: None,
            tags: vec![
                ("whet.kind".into(), "trial".into()),
                ("whet.trial".into(), (id + 1).to_string()),
            ],
            ..NewRun::default()
        };
        let r = self.store.start_run(&new);
        self.trial_run = self.record(r);
    }

    /// Ends the trial's run with its params, scores and status, and its out-of-fold
    /// predictions (a Parquet file) as the artifact `oof.parquet`.
    pub fn trial_finished(
        &mut self,
        t: &TrialRecord,
        metric: Metric,
        oof: Option<Result<Vec<u8>>>,
    ) {
        let Some(run) = self.trial_run.take() else {
            return;
        };
        match oof {
            Some(Ok(bytes)) => {
                let r = self
                    .store
                    .log_artifact(&run, OOF_ARTIFACT, ArtifactSource::Bytes(&bytes));
                self.record(r);
            }
            Some(Err(e)) if self.trial_error.is_none() => {
                self.trial_error = Some(e.context("writing out-of-fold predictions"));
            }
            Some(Err(_)) | None => {}
        }
        let mut params: Vec<(String, String)> = vec![("learner".into(), t.learner.name().into())];
        params.extend(t.params.iter().map(|(k, v)| (k.clone(), v.clone())));
        let name = metric.name();
        let mut points = Vec::new();
        if t.cv_score.is_finite() {
            points.push(Point::new(format!("cv_{name}"), t.cv_score, 0));
        }
        if t.cv_std.is_finite() {
            points.push(Point::new(format!("cv_{name}_std"), t.cv_std, 0));
        }
        for (f, s) in t.fold_scores.iter().enumerate() {
            points.push(Point::new(format!("fold_{name}"), *s, f as i64));
        }
        for (f, i) in t.iterations.iter().enumerate() {
            points.push(Point::new("iterations", *i as f64, f as i64));
        }
        points.push(Point::new("fit_seconds", t.fit_seconds, 0));
        let status = match t.status {
            TrialStatus::Completed => "completed",
            TrialStatus::Pruned => "pruned",
            TrialStatus::Failed => "failed",
        };
        let mut tags = vec![("whet.status".to_string(), status.to_string())];
        if let Some(m) = &t.message {
            tags.push(("whet.message".into(), m.clone()));
        }
        if let Some(p) = t.portfolio {
            tags.push(("whet.portfolio".into(), p.to_string()));
        }
        let end = if t.status == TrialStatus::Failed {
            RunStatus::Failed
        } else {
            RunStatus::Finished
        };
        let r = self
            .store
            .log_batch_and_end(&run, &params, &points, &tags, end);
        self.record(r);
    }

    /// Logs the results and the model, registers it, and ends the study run.
    pub fn finish(
        mut self,
        metrics: &BTreeMap<String, f64>,
        model: &[u8],
        trial_log: &str,
        report: &str,
        register_as: &str,
    ) -> Result<Recorded> {
        // A trial that was interrupted by the budget never finished; it did not happen.
        if let Some(run) = self.trial_run.take() {
            self.store.end_run(&run, RunStatus::Killed)?;
        }
        if let Some(e) = self.trial_error.take() {
            return Err(e.context("recording trials in the tracking store"));
        }
        let points: Vec<Point> = metrics
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| Point::new(k.clone(), *v, 0))
            .collect();
        self.store.log_metrics(&self.study, &points)?;
        self.store
            .log_artifact(&self.study, "model.whet", ArtifactSource::Bytes(model))?;
        self.store.log_artifact(
            &self.study,
            "trials.jsonl",
            ArtifactSource::Bytes(trial_log.as_bytes()),
        )?;
        // The study's report (leaderboard, ensemble, final strategy, warnings): what the UI's
        // study page shows once the study has finished.
        self.store.log_artifact(
            &self.study,
            "study.json",
            ArtifactSource::Bytes(report.as_bytes()),
        )?;
        let version_metrics: Vec<(String, f64)> = metrics
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let version =
            self.store
                .register_model(register_as, &self.study, "model.whet", &version_metrics)?;
        self.store.end_run(&self.study, RunStatus::Finished)?;
        Ok(Recorded {
            store: self.store.location().to_string(),
            experiment: self.experiment_name.clone(),
            run_id: self.study.clone(),
            registered_model: register_as.to_string(),
            model_version: version,
        })
    }

    /// Ends the study with `status` (FAILED after an error, KILLED when the user stopped it)
    /// and the reason (best effort: the original error matters more).
    pub fn fail(self, status: RunStatus, reason: &str) {
        if let Some(run) = &self.trial_run {
            let _ = self.store.end_run(run, RunStatus::Killed);
        }
        let _ = self
            .store
            .set_tags(&self.study, &[("whet.error".into(), reason.to_string())]);
        let _ = self.store.end_run(&self.study, status);
    }
}

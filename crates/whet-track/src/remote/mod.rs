//! The remote store: [`crate::Store`] opened on `http://host:port` (or `https://`) talks to a
//! `whet server` instead of a database, so a team member needs a URL and a token, not
//! database credentials.
//!
//! What goes where:
//! - MLflow's REST API where its messages carry everything whet has: experiments
//!   (get-by-name, create, search), logging params, metrics and tags (`runs/log-batch`, split
//!   into MLflow's batch limits), ending, deleting and restoring runs (`runs/update`,
//!   `runs/delete`, `runs/restore`), metric history, and artifact bytes through the artifact
//!   proxy (`/api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<path>`).
//! - whet's extension API ([`api`], under `/api/2.0/whet`) for the rest: runs with leases and
//!   their heartbeat, whole runs and searches (MLflow's run message has no data fingerprint),
//!   run id prefixes, artifact records with sha256, datasets by fingerprint, registering a
//!   run's artifact with its metrics, versions with their metrics, the alias history, gc.
//!
//! Times a run records (start, end, metric timestamps) come from this machine's clock, as the
//! mlflow client does it; that also makes logging a metric point again harmless, so logging
//! may be retried. Runs this handle starts hold a lease on the server; a background thread
//! sends a heartbeat every third of it, so a killed process's runs turn KILLED once it runs out.

pub mod api;
mod http;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use self::http::{Body, Http, Retry};
use crate::core::{default_user, now_ms, redact, validate_artifact_path};
use crate::error::{Error, Result};
use crate::model::*;

const MLFLOW: &str = "/api/2.0/mlflow";
const ARTIFACTS: &str = "/api/2.0/mlflow-artifacts/artifacts";
/// MLflow's LogBatch limits, which the server applies.
const BATCH_METRICS: usize = 1000;
const BATCH_PARAMS_TAGS: usize = 100;

/// True for store strings that name a whet server.
pub(crate) fn is_remote(spec: &str) -> bool {
    let s = spec.trim_start().to_ascii_lowercase();
    s.starts_with("http://") || s.starts_with("https://")
}

pub(crate) struct Client {
    http: Arc<Http>,
    /// The URL as messages show it.
    location: String,
    /// The artifact proxy's URL, for [`crate::Store::artifact_root`].
    artifact_proxy: PathBuf,
    info: api::Info,
    /// Runs started by this handle and not yet ended: the heartbeat renews their leases.
    owned: Arc<Mutex<BTreeSet<RunId>>>,
    heartbeat: Mutex<Option<Heartbeat>>,
    /// Each run's artifact folder under the server's artifact root, as runs are seen.
    artifact_uris: Mutex<HashMap<RunId, String>>,
}

struct Heartbeat {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Client {
    /// Connects: checks the URL, then asks the server who it is (which also checks the
    /// token can read).
    pub fn open(spec: &str, token: Option<String>) -> Result<Client> {
        let spec = spec.trim();
        let (scheme, rest) = spec.split_once("://").unwrap_or(("http", spec));
        let authority = rest.split('/').next().unwrap_or("");
        if authority.is_empty() {
            return Err(Error::Invalid(format!(
                "'{}' names no host\n  hint: write the store as http://HOST:PORT",
                redact(spec)
            )));
        }
        if authority.contains('@') {
            return Err(Error::Invalid(format!(
                "'{}' carries credentials in the URL\n  hint: give the server's URL alone and the token in WHET_TOKEN",
                redact(spec)
            )));
        }
        let base = format!("{}://{rest}", scheme.to_ascii_lowercase());
        let token = match token {
            Some(secret) => Some(http::Token {
                secret,
                var: "the store's token option",
            }),
            None => http::token_from_env(),
        };
        let http = Http::new(&base, token);
        let info: api::Info = http.get_json(&format!("{}{}", api::PREFIX, api::INFO), &[])?;
        Ok(Client {
            location: http.base.clone(),
            artifact_proxy: PathBuf::from(format!("{}{ARTIFACTS}", http.base)),
            http: Arc::new(http),
            info,
            owned: Arc::default(),
            heartbeat: Mutex::new(None),
            artifact_uris: Mutex::default(),
        })
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    pub fn artifact_root(&self) -> &Path {
        &self.artifact_proxy
    }

    pub fn is_postgres(&self) -> bool {
        self.info.backend == "postgres"
    }

    /// Where a run's artifacts are, for people: the artifact proxy's URL of its folder.
    pub fn artifact_location(&self, artifact_uri: &str) -> String {
        if is_absolute(artifact_uri) {
            return artifact_uri.to_string();
        }
        format!(
            "{}{ARTIFACTS}/{}",
            self.http.base,
            http::encode_path(artifact_uri)
        )
    }

    fn ext<T: serde::de::DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T> {
        self.http.get_json(&format!("{}{path}", api::PREFIX), query)
    }

    fn ext_post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
        retry: Retry,
    ) -> Result<T> {
        self.http
            .post_json(&format!("{}{path}", api::PREFIX), body, retry)
    }

    fn mlflow_post(&self, path: &str, body: &Value, retry: Retry) -> Result<Value> {
        self.http.post_json(&format!("{MLFLOW}{path}"), body, retry)
    }

    fn mlflow_get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value> {
        self.http.get_json(&format!("{MLFLOW}{path}"), query)
    }

    pub fn schema_version(&self) -> Result<i64> {
        let info: api::Info = self.ext(api::INFO, &[])?;
        Ok(info.schema_version)
    }

    // ---- experiments (MLflow's API)

    pub fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        match self.mlflow_get("/experiments/get-by-name", &[("experiment_name", name)]) {
            Ok(v) => experiment_from_json(&v["experiment"]).map(Some),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn get_or_create_experiment(&self, name: &str) -> Result<ExperimentId> {
        if let Some(e) = self.experiment_by_name(name)? {
            return Ok(e.experiment_id);
        }
        match self.mlflow_post(
            "/experiments/create",
            &json!({ "name": name }),
            Retry::Unsent,
        ) {
            Ok(v) => parse_id(&v["experiment_id"], "experiment_id"),
            // Another client created it since we looked.
            Err(Error::AlreadyExists { .. }) => self
                .experiment_by_name(name)?
                .map(|e| e.experiment_id)
                .ok_or_else(|| Error::not_found(format!("experiment '{name}'"), &self.location)),
            Err(e) => Err(e),
        }
    }

    pub fn list_experiments(&self) -> Result<Vec<Experiment>> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({
                "max_results": 1000,
                "view_type": "ALL",
                "order_by": ["experiment_id ASC"],
            });
            if let Some(t) = &token {
                body["page_token"] = json!(t);
            }
            let v = self.mlflow_post("/experiments/search", &body, Retry::Read)?;
            for e in v["experiments"].as_array().into_iter().flatten() {
                all.push(experiment_from_json(e)?);
            }
            token = v["next_page_token"].as_str().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        all.sort_by_key(|e| e.experiment_id);
        Ok(all)
    }

    // ---- runs

    pub fn start_run(&self, new: &NewRun) -> Result<RunId> {
        let mut req = api::StartRun::from_new_run(new);
        if req.user.is_empty() {
            req.user = default_user();
        }
        // This machine's clock for every time of the run, as for its end and its metrics.
        req.start_time = Some(req.start_time.unwrap_or_else(now_ms));
        let started: api::StartedRun = self.ext_post(api::RUNS_START, &req, Retry::Unsent)?;
        if let Ok(mut m) = self.artifact_uris.lock() {
            m.insert(started.run_id.clone(), started.artifact_uri.clone());
        }
        if let Ok(mut g) = self.owned.lock() {
            g.insert(started.run_id.clone());
        }
        self.ensure_heartbeat();
        Ok(started.run_id)
    }

    /// Starts the heartbeat thread the first time this handle starts a run.
    fn ensure_heartbeat(&self) {
        let Ok(mut slot) = self.heartbeat.lock() else {
            return;
        };
        if slot.is_some() {
            return;
        }
        let every = Duration::from_millis((self.info.lease_ms / 3).max(50));
        let (stop, stopped) = mpsc::channel::<()>();
        let http = Arc::clone(&self.http);
        let owned = Arc::clone(&self.owned);
        let path = format!("{}{}", api::PREFIX, api::RUNS_HEARTBEAT);
        let thread = std::thread::Builder::new()
            .name("whet-heartbeat".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    let run_ids: Vec<RunId> = match owned.lock() {
                        Ok(g) => g.iter().cloned().collect(),
                        Err(_) => return,
                    };
                    if run_ids.is_empty() {
                        continue;
                    }
                    // A failed heartbeat is tried again next time; the lease has slack for two.
                    let _: Result<Value> =
                        http.post_json(&path, &api::RunIds { run_ids }, Retry::Idempotent);
                }
            });
        if let Ok(thread) = thread {
            *slot = Some(Heartbeat { stop, thread });
        }
    }

    pub fn end_run(&self, run: &str, status: RunStatus) -> Result<()> {
        let mut body = json!({ "run_id": run, "status": status.as_str() });
        if status != RunStatus::Running {
            body["end_time"] = json!(now_ms());
        }
        self.mlflow_post("/runs/update", &body, Retry::Idempotent)?;
        if let Ok(mut g) = self.owned.lock() {
            g.remove(run);
        }
        Ok(())
    }

    pub fn log_params(&self, run: &str, params: &[(String, String)]) -> Result<()> {
        for chunk in params.chunks(BATCH_PARAMS_TAGS) {
            let params: Vec<Value> = chunk
                .iter()
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect();
            self.log_batch(run, json!({ "params": params }))?;
        }
        Ok(())
    }

    pub fn log_metrics(&self, run: &str, metrics: &[Metric]) -> Result<()> {
        let now = now_ms();
        for chunk in metrics.chunks(BATCH_METRICS) {
            let metrics: Vec<Value> = chunk.iter().map(|m| metric_json(m, now)).collect();
            self.log_batch(run, json!({ "metrics": metrics }))?;
        }
        Ok(())
    }

    pub fn set_tags(&self, run: &str, tags: &[(String, String)]) -> Result<()> {
        for chunk in tags.chunks(BATCH_PARAMS_TAGS) {
            let tags: Vec<Value> = chunk
                .iter()
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect();
            self.log_batch(run, json!({ "tags": tags }))?;
        }
        Ok(())
    }

    /// Params, metrics and tags in one LogBatch when MLflow's limits allow, else in batches.
    pub fn log_all(
        &self,
        run: &str,
        params: &[(String, String)],
        metrics: &[Metric],
        tags: &[(String, String)],
    ) -> Result<()> {
        if params.len() > BATCH_PARAMS_TAGS
            || tags.len() > BATCH_PARAMS_TAGS
            || params.len() + tags.len() + metrics.len() > BATCH_METRICS
        {
            self.log_params(run, params)?;
            self.log_metrics(run, metrics)?;
            return self.set_tags(run, tags);
        }
        let now = now_ms();
        let pairs = |kv: &[(String, String)]| -> Vec<Value> {
            kv.iter()
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect()
        };
        let metrics: Vec<Value> = metrics.iter().map(|m| metric_json(m, now)).collect();
        self.log_batch(
            run,
            json!({ "params": pairs(params), "metrics": metrics, "tags": pairs(tags) }),
        )
    }

    /// One LogBatch. Repeating it changes nothing (params the same, metric points carry their
    /// timestamps, tags are set), so it is retried like a read.
    fn log_batch(&self, run: &str, mut body: Value) -> Result<()> {
        body["run_id"] = json!(run);
        self.mlflow_post("/runs/log-batch", &body, Retry::Idempotent)
            .map(|_| ())
    }

    pub fn get_run(&self, run: &str) -> Result<Run> {
        let a: api::RunAnswer = self.ext(api::RUNS_GET, &[("run_id", run)])?;
        if let Ok(mut m) = self.artifact_uris.lock() {
            m.insert(a.run.info.run_id.clone(), a.run.info.artifact_uri.clone());
        }
        Ok(a.run)
    }

    pub fn resolve_run_id(&self, prefix: &str) -> Result<RunId> {
        if prefix.len() == 32 {
            return Ok(prefix.to_string());
        }
        let r: api::Resolved = self.ext(api::RUNS_RESOLVE, &[("prefix", prefix)])?;
        Ok(r.run_id)
    }

    pub fn metric_history(&self, run: &str, key: &str) -> Result<Vec<Metric>> {
        let mut all = Vec::new();
        let mut token = String::new();
        loop {
            let mut query = vec![
                ("run_id", run),
                ("metric_key", key),
                ("max_results", "25000"),
            ];
            if !token.is_empty() {
                query.push(("page_token", token.as_str()));
            }
            let v = self.mlflow_get("/metrics/get-history", &query)?;
            for m in v["metrics"].as_array().into_iter().flatten() {
                all.push(metric_from_json(m)?);
            }
            match v["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => token = t.to_string(),
                _ => break,
            }
        }
        Ok(all)
    }

    pub fn search_runs(&self, search: &SearchRuns) -> Result<Page<Run>> {
        self.ext_post(api::RUNS_SEARCH, search, Retry::Read)
    }

    pub fn delete_run(&self, run: &str) -> Result<()> {
        // The cached URI would let this handle keep writing artifacts into a deleted run.
        if let Ok(mut m) = self.artifact_uris.lock() {
            m.remove(run);
        }
        self.mlflow_post("/runs/delete", &json!({ "run_id": run }), Retry::Idempotent)
            .map(|_| ())
    }

    pub fn restore_run(&self, run: &str) -> Result<()> {
        self.mlflow_post(
            "/runs/restore",
            &json!({ "run_id": run }),
            Retry::Idempotent,
        )
        .map(|_| ())
    }

    pub fn reap_expired(&self) -> Result<u64> {
        let r: api::Reaped = self.ext_post(api::RUNS_REAP, &json!({}), Retry::Idempotent)?;
        Ok(r.killed)
    }

    // ---- artifacts

    /// The run's artifact folder under the server's artifact root; the run must be active.
    fn artifact_uri_for_writing(&self, run: &str) -> Result<String> {
        let cached = self
            .artifact_uris
            .lock()
            .ok()
            .and_then(|m| m.get(run).cloned());
        let uri = match cached {
            Some(uri) => uri,
            None => {
                let r = self.get_run(run)?;
                if r.info.lifecycle_stage != "active" {
                    return Err(Error::Invalid(format!(
                        "run {run} is deleted\n  hint: restore it before logging to it"
                    )));
                }
                r.info.artifact_uri
            }
        };
        proxied(run, &uri)?;
        Ok(uri)
    }

    pub fn log_artifact(
        &self,
        run: &str,
        path: &str,
        source: ArtifactSource<'_>,
    ) -> Result<ArtifactInfo> {
        validate_artifact_path(path)?;
        let uri = self.artifact_uri_for_writing(run)?;
        let (size, sha256, body) = match source {
            ArtifactSource::Bytes(b) => (
                b.len() as u64,
                hex::encode(Sha256::digest(b)),
                Body::Bytes(b),
            ),
            ArtifactSource::File(f) => {
                let (size, sha) = hash_file(f)?;
                (size, sha, Body::File(f))
            }
        };
        let target = format!(
            "{ARTIFACTS}/{}/{}",
            http::encode_path(&uri),
            http::encode_path(path)
        );
        self.http.put(&target, body)?;
        Ok(ArtifactInfo {
            path: path.to_string(),
            size,
            sha256,
            created_time: now_ms(),
        })
    }

    pub fn list_artifacts(&self, run: &str) -> Result<Vec<ArtifactInfo>> {
        let r: api::RunArtifacts = self.ext(api::RUNS_ARTIFACTS, &[("run_id", run)])?;
        Ok(r.artifacts)
    }

    /// Downloads an artifact through the proxy and checks it against the size and sha256
    /// the server recorded when it was written.
    pub fn read_artifact(&self, run: &str, path: &str) -> Result<Vec<u8>> {
        Ok(self.fetch_artifact(run, path)?.0)
    }

    fn fetch_artifact(&self, run: &str, path: &str) -> Result<(Vec<u8>, ArtifactInfo)> {
        validate_artifact_path(path)?;
        let listing: api::RunArtifacts = self.ext(api::RUNS_ARTIFACTS, &[("run_id", run)])?;
        let info = listing
            .artifacts
            .into_iter()
            .find(|a| a.path == path)
            .ok_or_else(|| {
                Error::not_found(format!("artifact '{path}' of run {run}"), &self.location)
            })?;
        proxied(run, &listing.artifact_uri)?;
        let target = format!(
            "{ARTIFACTS}/{}/{}",
            http::encode_path(&listing.artifact_uri),
            http::encode_path(path)
        );
        let bytes = self.http.get_bytes(&target, info.size)?;
        crate::artifacts::verify(Path::new(&self.http.url(&target, &[])), &bytes, &info)?;
        Ok((bytes, info))
    }

    /// A verified local copy of an artifact, kept in a cache folder under the temp folder
    /// by checksum (so a second call downloads nothing).
    pub fn artifact_path(&self, run: &str, path: &str) -> Result<PathBuf> {
        validate_artifact_path(path)?;
        let listing: api::RunArtifacts = self.ext(api::RUNS_ARTIFACTS, &[("run_id", run)])?;
        let info = listing
            .artifacts
            .iter()
            .find(|a| a.path == path)
            .cloned()
            .ok_or_else(|| {
                Error::not_found(format!("artifact '{path}' of run {run}"), &self.location)
            })?;
        let name = path.rsplit('/').next().unwrap_or(path);
        let user: String = default_user()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        let dir = std::env::temp_dir()
            .join(format!("whet-remote-artifacts-{user}"))
            .join(&info.sha256);
        let file = dir.join(name);
        if let Ok(bytes) = std::fs::read(&file)
            && crate::artifacts::verify(&file, &bytes, &info).is_ok()
        {
            return Ok(file);
        }
        let (bytes, _) = self.fetch_artifact(run, path)?;
        crate::artifacts::write_atomic(&file, ArtifactSource::Bytes(&bytes))?;
        Ok(file)
    }

    // ---- datasets

    pub fn log_dataset(&self, run: &str, dataset: &Dataset, context: &str) -> Result<()> {
        let req = api::LogDataset {
            run_id: run.to_string(),
            dataset: dataset.clone(),
            context: context.to_string(),
        };
        let _: Value = self.ext_post(api::RUNS_LOG_DATASET, &req, Retry::Idempotent)?;
        Ok(())
    }

    pub fn run_datasets(&self, run: &str) -> Result<Vec<(Dataset, String)>> {
        let r: api::RunDatasets = self.ext(api::RUNS_DATASETS, &[("run_id", run)])?;
        Ok(r.datasets)
    }

    // ---- registry

    pub fn register_model(
        &self,
        name: &str,
        run: &str,
        artifact_path: &str,
        metrics: &[(String, f64)],
    ) -> Result<i64> {
        let req = api::Register {
            name: name.to_string(),
            run_id: run.to_string(),
            artifact_path: artifact_path.to_string(),
            metrics: metrics.iter().cloned().collect::<BTreeMap<_, _>>(),
            user: default_user(),
        };
        // Not repeated once sent: a second try would make another version.
        let r: api::Registered = self.ext_post(api::VERSIONS_REGISTER, &req, Retry::Unsent)?;
        Ok(r.version)
    }

    pub fn set_alias(&self, name: &str, alias: &str, version: Option<i64>) -> Result<()> {
        let req = api::SetAlias {
            name: name.to_string(),
            alias: alias.to_string(),
            version,
            user: default_user(),
        };
        // Each move is a line in the alias history: not repeated once sent.
        let _: Value = self.ext_post(api::MODELS_ALIAS, &req, Retry::Unsent)?;
        Ok(())
    }

    pub fn get_model_version(&self, name: &str, which: &VersionRef) -> Result<ModelVersion> {
        let q = api::VersionQuery::new(name, which);
        let mut query = vec![("name", q.name.as_str())];
        if let Some(v) = &q.version {
            query.push(("version", v));
        }
        if let Some(a) = &q.alias {
            query.push(("alias", a));
        }
        let a: api::VersionAnswer = self.ext(api::VERSIONS_GET, &query)?;
        Ok(a.model_version)
    }

    pub fn model_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        let a: api::Versions = self.ext(api::VERSIONS_LIST, &[("name", name)])?;
        Ok(a.model_versions)
    }

    pub fn set_model_version_tag(
        &self,
        name: &str,
        version: i64,
        key: &str,
        value: &str,
    ) -> Result<()> {
        self.mlflow_post(
            "/model-versions/set-tag",
            &json!({ "name": name, "version": version.to_string(), "key": key, "value": value }),
            Retry::Idempotent,
        )
        .map(|_| ())
    }

    pub fn alias_history(&self, name: &str) -> Result<Vec<AliasMove>> {
        let a: api::AliasHistory = self.ext(api::MODELS_ALIAS_HISTORY, &[("name", name)])?;
        Ok(a.alias_history)
    }

    pub fn list_models(&self) -> Result<Vec<RegisteredModel>> {
        let a: api::Models = self.ext(api::MODELS_LIST, &[])?;
        Ok(a.registered_models)
    }

    pub fn status(&self, q: &crate::status::StatusQuery) -> Result<crate::status::StatusReport> {
        let experiment = q.experiment.clone().unwrap_or_default();
        self.ext(
            api::STATUS,
            &[
                ("since", q.since.as_str()),
                ("experiment", experiment.as_str()),
            ],
        )
    }

    pub fn gc(&self) -> Result<GcReport> {
        // gc may remove much; a lost answer is not a reason to run it again.
        self.ext_post(api::GC, &json!({}), Retry::Unsent)
    }

    // ---- the trial queue (its server must run on PostgreSQL; the server says so otherwise)

    pub fn queue_create_study(&self, study: &crate::QueueStudy) -> Result<()> {
        // A second try after a lost answer fails on the study id it already recorded.
        let _: Value = self.ext_post(api::QUEUE_STUDY_CREATE, study, Retry::Unsent)?;
        Ok(())
    }

    pub fn queue_study(&self, study_id: &str) -> Result<crate::QueueStudy> {
        self.ext(api::QUEUE_STUDY_GET, &[("study_id", study_id)])
    }

    pub fn queue_close_study(&self, study_id: &str) -> Result<()> {
        let req = api::StudyId {
            study_id: study_id.to_string(),
        };
        let _: Value = self.ext_post(api::QUEUE_STUDY_CLOSE, &req, Retry::Idempotent)?;
        Ok(())
    }

    pub fn queue_enqueue(
        &self,
        study_id: &str,
        experiment_id: ExperimentId,
        tasks: &[crate::NewTask],
    ) -> Result<Vec<i64>> {
        let req = api::Enqueue {
            study_id: study_id.to_string(),
            experiment_id,
            tasks: tasks.to_vec(),
        };
        // Not repeated once sent: a second try would queue the folds twice.
        let r: api::TaskKeys = self.ext_post(api::QUEUE_ENQUEUE, &req, Retry::Unsent)?;
        Ok(r.keys)
    }

    pub fn queue_claim_next(
        &self,
        done: Option<&crate::Completion>,
        owner: &str,
        experiment: Option<ExperimentId>,
        lease: Duration,
    ) -> Result<(Option<bool>, Option<crate::ClaimedTask>)> {
        let req = api::Claim {
            owner: owner.to_string(),
            experiment_id: experiment,
            lease_ms: lease.as_millis() as u64,
            done: done.cloned(),
        };
        // A claim repeated after a lost answer would hold a second task until its lease ran
        // out: sent once.
        let r: api::Claimed = self.ext_post(api::QUEUE_CLAIM, &req, Retry::Unsent)?;
        Ok((r.kept, r.task))
    }

    pub fn queue_heartbeat(&self, key: i64, attempt: i64, lease: Duration) -> Result<bool> {
        let req = api::Lease {
            key,
            attempt,
            lease_ms: lease.as_millis() as u64,
        };
        let r: api::Kept = self.ext_post(api::QUEUE_HEARTBEAT, &req, Retry::Idempotent)?;
        Ok(r.kept)
    }

    pub fn queue_complete(&self, key: i64, attempt: i64, result: &[u8]) -> Result<bool> {
        let req = crate::Completion {
            key,
            attempt,
            result: result.to_vec(),
        };
        // Repeating it stores nothing more (the task is done); it may only say `false`.
        let r: api::Kept = self.ext_post(api::QUEUE_COMPLETE, &req, Retry::Idempotent)?;
        Ok(r.kept)
    }

    pub fn queue_release(&self, key: i64, attempt: i64, error: &str) -> Result<bool> {
        let req = api::Release {
            key,
            attempt,
            error: error.to_string(),
        };
        let r: api::Kept = self.ext_post(api::QUEUE_RELEASE, &req, Retry::Idempotent)?;
        Ok(r.kept)
    }

    pub fn queue_task_state(&self, key: i64) -> Result<crate::TaskState> {
        self.ext(api::QUEUE_TASK, &[("key", &key.to_string())])
    }

    pub fn queue_cancel(&self, keys: &[i64]) -> Result<()> {
        let req = api::TaskKeys {
            keys: keys.to_vec(),
        };
        let _: Value = self.ext_post(api::QUEUE_CANCEL, &req, Retry::Idempotent)?;
        Ok(())
    }

    pub fn queue_tasks(&self, study_id: Option<&str>) -> Result<Vec<crate::TaskInfo>> {
        let r: api::Tasks = self.ext(api::QUEUE_TASKS, &[("study_id", study_id.unwrap_or(""))])?;
        Ok(r.tasks)
    }

    pub fn queue_counts(&self, study_id: Option<&str>) -> Result<crate::QueueCounts> {
        self.ext(api::QUEUE_COUNTS, &[("study_id", study_id.unwrap_or(""))])
    }

    /// What a server-only operation says when asked of a remote store.
    pub fn server_only(&self, what: &str) -> Error {
        Error::Invalid(format!(
            "{what} works on the database a server uses, not through the server at {}\n  hint: run it on the server's machine with --store naming that database (the SQLite file or postgres:// URL `whet server --store` was given)",
            self.location
        ))
    }

    /// Stops the heartbeat and ends the runs this handle still holds (KILLED, or FAILED when
    /// the process is panicking), as dropping a local store does.
    pub fn close(&self, status: RunStatus) {
        let heartbeat = self.heartbeat.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = heartbeat {
            drop(h.stop);
            let _ = h.thread.join();
        }
        let runs: Vec<RunId> = match self.owned.lock() {
            Ok(mut g) => std::mem::take(&mut *g).into_iter().collect(),
            Err(_) => return,
        };
        for run in runs {
            // Best effort: if this fails the lease still runs out and the server reaps the run.
            let _ = self.end_run(&run, status);
        }
    }
}

/// A location an MLflow client chose itself (a URI or absolute path) rather than one under
/// the server's artifact root.
fn is_absolute(uri: &str) -> bool {
    uri.starts_with('/') || uri.contains(":/")
}

/// Checks that the run's artifacts go through the server's artifact proxy.
fn proxied(run: &str, uri: &str) -> Result<()> {
    if is_absolute(uri) {
        return Err(Error::Invalid(format!(
            "run {run} keeps its artifacts at {uri}, outside the server's artifact store\n  hint: read and write them where they are; whet moves artifacts through the server only for runs whose artifacts it keeps"
        )));
    }
    Ok(())
}

fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// A metric point as LogBatch takes it; a point without a timestamp gets `now`.
fn metric_json(m: &Metric, now: i64) -> Value {
    json!({
        "key": m.key,
        "value": float_json(m.value),
        "timestamp": if m.timestamp_ms == 0 { now } else { m.timestamp_ms },
        "step": m.step,
    })
}

/// A double as MLflow writes it: a number, or a string for NaN and the infinities.
fn float_json(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else if v == f64::INFINITY {
        json!("Infinity")
    } else if v == f64::NEG_INFINITY {
        json!("-Infinity")
    } else {
        json!(v)
    }
}

fn bad_answer(what: &str, v: &Value) -> Error {
    Error::Invalid(format!(
        "the server's answer has no valid {what} ({})\n  hint: is this a whet server of the same version?",
        v.to_string().chars().take(200).collect::<String>()
    ))
}

/// An id MLflow sends as a string of digits (or, leniently, a number).
fn parse_id(v: &Value, what: &str) -> Result<i64> {
    match v {
        Value::String(s) => s.parse().map_err(|_| bad_answer(what, v)),
        Value::Number(n) => n.as_i64().ok_or_else(|| bad_answer(what, v)),
        _ => Err(bad_answer(what, v)),
    }
}

fn int_or_zero(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn experiment_from_json(v: &Value) -> Result<Experiment> {
    let location = text(&v["artifact_location"]);
    let tags = v["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (text(&t["key"]), text(&t["value"])))
        .collect();
    Ok(Experiment {
        experiment_id: parse_id(&v["experiment_id"], "experiment_id")?,
        name: text(&v["name"]),
        // Relative to the artifact root, as a local store keeps it.
        artifact_location: location
            .strip_prefix("mlflow-artifacts:/")
            .map(str::to_string)
            .unwrap_or(location),
        lifecycle_stage: text(&v["lifecycle_stage"]),
        creation_time: int_or_zero(&v["creation_time"]),
        last_update_time: int_or_zero(&v["last_update_time"]),
        tags,
    })
}

fn metric_from_json(v: &Value) -> Result<Metric> {
    let value = match &v["value"] {
        Value::Number(n) => n.as_f64().ok_or_else(|| bad_answer("metric value", v))?,
        Value::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            other => other.parse().map_err(|_| bad_answer("metric value", v))?,
        },
        _ => return Err(bad_answer("metric value", v)),
    };
    Ok(Metric {
        key: text(&v["key"]),
        value,
        step: int_or_zero(&v["step"]),
        timestamp_ms: int_or_zero(&v["timestamp"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlflow_experiments_and_metrics_read_back_as_whet_records() {
        let e = experiment_from_json(&json!({
            "experiment_id": "3", "name": "churn", "artifact_location": "mlflow-artifacts:/3",
            "lifecycle_stage": "active", "creation_time": 5, "last_update_time": 6,
            "tags": [{"key": "team", "value": "a"}]
        }))
        .unwrap();
        assert_eq!(
            (
                e.experiment_id,
                e.artifact_location.as_str(),
                e.tags["team"].as_str()
            ),
            (3, "3", "a")
        );
        let m = metric_from_json(&json!({"key": "auc", "value": "NaN", "timestamp": 7, "step": 2}))
            .unwrap();
        assert!(m.value.is_nan() && m.step == 2 && m.timestamp_ms == 7);
        let m = metric_from_json(&json!({"key": "auc", "value": 0.5, "timestamp": 7})).unwrap();
        assert_eq!((m.value, m.step), (0.5, 0));
        assert!(experiment_from_json(&json!({"experiment_id": "x"})).is_err());
    }

    #[test]
    fn remote_store_strings_are_recognised() {
        assert!(is_remote("http://h:5000") && is_remote("HTTPS://h") && is_remote(" http://x"));
        assert!(
            !is_remote("./whet.db") && !is_remote("postgres://u@h/db") && !is_remote("httpx.db")
        );
    }
}

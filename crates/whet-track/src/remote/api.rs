//! whet's extension API: what `whet server` answers under [`PREFIX`] beside MLflow's REST API,
//! for what a whet client needs and MLflow's messages cannot carry (whet's run fields such as
//! the data fingerprint, run leases, version metrics, the alias history, gc). The server
//! (whet-server's `whet_api.rs`) and the remote [`crate::Store`] share these types, so the two
//! sides cannot drift apart.
//!
//! Conventions: GETs take their arguments in the query string (all strings), POSTs a JSON
//! body; answers are JSON objects; errors have MLflow's shape (`error_code`, `message`).
//! Records are whet-track's own types as JSON, lossless (NaN metrics as `"NaN"`). Roles: GET
//! and `POST runs/search` read, other POSTs write, `POST gc` needs admin.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::*;

/// Where the extension API lives.
pub const PREFIX: &str = "/api/2.0/whet";

/// `GET`: [`Info`]. Also how a client checks that it talks to a whet server.
pub const INFO: &str = "/info";
/// `POST` [`StartRun`] → [`StartedRun`]: a RUNNING run holding a lease.
pub const RUNS_START: &str = "/runs/start";
/// `POST` [`RunIds`] → `{}`: renews the leases of these runs.
pub const RUNS_HEARTBEAT: &str = "/runs/heartbeat";
/// `POST` `{}` → [`Reaped`]: marks runs whose lease ran out KILLED.
pub const RUNS_REAP: &str = "/runs/reap-expired";
/// `GET ?prefix=` → [`Resolved`]: a full run id from a unique prefix.
pub const RUNS_RESOLVE: &str = "/runs/resolve";
/// `GET ?run_id=` → [`RunAnswer`].
pub const RUNS_GET: &str = "/runs/get";
/// `POST` [`SearchRuns`] (a read) → [`Page`] of [`Run`].
pub const RUNS_SEARCH: &str = "/runs/search";
/// `GET ?run_id=` → [`RunArtifacts`]: the recorded artifacts with size and sha256.
pub const RUNS_ARTIFACTS: &str = "/runs/artifacts";
/// `GET ?run_id=` → [`RunDatasets`].
pub const RUNS_DATASETS: &str = "/runs/datasets";
/// `POST` [`LogDataset`] → `{}`.
pub const RUNS_LOG_DATASET: &str = "/runs/log-dataset";
/// `POST` [`Register`] → [`Registered`]: whet's `register_model`.
pub const VERSIONS_REGISTER: &str = "/model-versions/register";
/// `GET ?name=[&version=N|&alias=A]` (neither: the latest) → [`VersionAnswer`].
pub const VERSIONS_GET: &str = "/model-versions/get";
/// `GET ?name=` → [`Versions`], newest first.
pub const VERSIONS_LIST: &str = "/model-versions/list";
/// `GET` → [`Models`].
pub const MODELS_LIST: &str = "/registered-models/list";
/// `POST` [`SetAlias`] → `{}`: sets or removes an alias, recording who moved it.
pub const MODELS_ALIAS: &str = "/registered-models/alias";
/// `GET ?name=` → [`AliasHistory`].
pub const MODELS_ALIAS_HISTORY: &str = "/registered-models/alias-history";
/// `GET ?since=7d[&experiment=E]` ([`StatusParams`]) → [`crate::status::StatusReport`]:
/// what `whet status` shows, gathered by the server.
pub const STATUS: &str = "/status";
/// `POST` `{}` → [`GcReport`]. Admin role.
pub const GC: &str = "/gc";

// The trial queue of distributed studies (whet-track's `core/queue.rs`, served only by a
// server on PostgreSQL). The training data does not travel here: the submitter uploads it as
// an artifact of the study run ([`queue_data_artifact`]) through the artifact proxy.

/// `POST` [`crate::QueueStudy`] → `{}`.
pub const QUEUE_STUDY_CREATE: &str = "/queue/studies/create";
/// `GET ?study_id=` → [`crate::QueueStudy`].
pub const QUEUE_STUDY_GET: &str = "/queue/studies/get";
/// `POST` [`StudyId`] → `{}`: closes the study, cancelling what it still has queued.
pub const QUEUE_STUDY_CLOSE: &str = "/queue/studies/close";
/// `POST` [`Enqueue`] → [`TaskKeys`].
pub const QUEUE_ENQUEUE: &str = "/queue/enqueue";
/// `POST` [`Claim`] → [`Claimed`]: stores the previous claim's result, if any, and claims the
/// next task, in one request (and one statement on the server). Not retried once sent.
pub const QUEUE_CLAIM: &str = "/queue/claim";
/// `POST` [`Lease`] → [`Kept`]: renews a claim's lease.
pub const QUEUE_HEARTBEAT: &str = "/queue/heartbeat";
/// `POST` [`crate::Completion`] → [`Kept`]: stores a claim's result.
pub const QUEUE_COMPLETE: &str = "/queue/complete";
/// `POST` [`Release`] → [`Kept`]: gives a claimed task back, with the reason.
pub const QUEUE_RELEASE: &str = "/queue/release";
/// `GET ?key=` → [`crate::TaskState`].
pub const QUEUE_TASK: &str = "/queue/task";
/// `POST` [`TaskKeys`] → `{}`: cancels tasks not yet done.
pub const QUEUE_CANCEL: &str = "/queue/cancel";
/// `GET [?study_id=]` → [`Tasks`], in queue order.
pub const QUEUE_TASKS: &str = "/queue/tasks";
/// `GET [?study_id=]` → [`crate::QueueCounts`].
pub const QUEUE_COUNTS: &str = "/queue/counts";

/// Where a study submitted through a server keeps its training data: an artifact of the
/// study run, named by its sha256, so that workers fetch it through the artifact proxy.
pub fn queue_data_artifact(sha256: &str) -> String {
    format!("queue-data/{sha256}.parquet")
}

/// What a whet server tells its clients about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Info {
    /// The server's whet version.
    pub version: String,
    pub schema_version: i64,
    /// "sqlite" or "postgres".
    pub backend: String,
    /// How long a run started through [`RUNS_START`] stays RUNNING without a heartbeat.
    pub lease_ms: u64,
}

/// [`NewRun`] on the wire; the run always holds a lease.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StartRun {
    pub experiment_id: ExperimentId,
    pub name: String,
    pub parent: Option<RunId>,
    pub user: String,
    pub source_command: String,
    pub data_fingerprint: Option<String>,
    pub tags: Vec<(String, String)>,
    pub start_time: Option<i64>,
}

impl StartRun {
    pub fn from_new_run(new: &NewRun) -> StartRun {
        StartRun {
            experiment_id: new.experiment,
            name: new.name.clone(),
            parent: new.parent.clone(),
            user: new.user.clone(),
            source_command: new.source_command.clone(),
            data_fingerprint: new.data_fingerprint.clone(),
            tags: new.tags.clone(),
            start_time: new.start_time,
        }
    }

    pub fn to_new_run(&self) -> NewRun {
        NewRun {
            experiment: self.experiment_id,
            name: self.name.clone(),
            parent: self.parent.clone(),
            user: self.user.clone(),
            source_command: self.source_command.clone(),
            data_fingerprint: self.data_fingerprint.clone(),
            tags: self.tags.clone(),
            lease: true,
            start_time: self.start_time,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartedRun {
    pub run_id: RunId,
    /// Relative to the server's artifact root: `<experiment>/<run>/artifacts`.
    pub artifact_uri: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunIds {
    pub run_ids: Vec<RunId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reaped {
    pub killed: u64,
}

/// The query of [`RUNS_GET`], [`RUNS_ARTIFACTS`] and [`RUNS_DATASETS`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunQuery {
    pub run_id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PrefixQuery {
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    pub run_id: RunId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunAnswer {
    pub run: Run,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunArtifacts {
    /// Where the run's artifacts are under the server's artifact root (what the artifact
    /// proxy's paths start with), or a URI an MLflow client chose for them.
    pub artifact_uri: String,
    pub artifacts: Vec<ArtifactInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDatasets {
    /// Each dataset with the context it was used in.
    pub datasets: Vec<(Dataset, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogDataset {
    pub run_id: RunId,
    pub dataset: Dataset,
    pub context: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Register {
    pub name: String,
    pub run_id: RunId,
    pub artifact_path: String,
    #[serde(with = "crate::model::json_float::map")]
    pub metrics: BTreeMap<String, f64>,
    /// Who registers it (empty: the server's user); a server with tokens records the token.
    #[serde(default)]
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registered {
    pub version: i64,
}

/// The query of [`VERSIONS_GET`]: `version` or `alias`, neither for the latest.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionQuery {
    pub name: String,
    pub version: Option<String>,
    pub alias: Option<String>,
}

impl VersionQuery {
    pub fn new(name: &str, which: &VersionRef) -> VersionQuery {
        let mut q = VersionQuery {
            name: name.to_string(),
            ..Default::default()
        };
        match which {
            VersionRef::Number(n) => q.version = Some(n.to_string()),
            VersionRef::Alias(a) => q.alias = Some(a.clone()),
            VersionRef::Latest => {}
        }
        q
    }

    /// Which version the query names; a version that is not a number is [`crate::Error::Invalid`].
    pub fn which(&self) -> crate::Result<VersionRef> {
        match (self.version.as_deref(), self.alias.as_deref()) {
            (Some(v), _) if !v.is_empty() => v.parse().map(VersionRef::Number).map_err(|_| {
                crate::Error::Invalid(format!(
                    "version '{v}' is not a number\n  hint: give a version number, or alias=NAME"
                ))
            }),
            (_, Some(a)) if !a.is_empty() => Ok(VersionRef::Alias(a.to_string())),
            _ => Ok(VersionRef::Latest),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionAnswer {
    pub model_version: ModelVersion,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NameQuery {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    pub model_versions: Vec<ModelVersion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Models {
    pub registered_models: Vec<RegisteredModel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetAlias {
    pub name: String,
    pub alias: String,
    /// None removes the alias.
    pub version: Option<i64>,
    /// Who moved it, for the alias history (empty: the server's user).
    #[serde(default)]
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasHistory {
    pub alias_history: Vec<AliasMove>,
}

/// The query of [`STATUS`]: the window (default 7d) and an optional experiment (name or id).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusParams {
    pub since: String,
    pub experiment: String,
}

impl StatusParams {
    pub fn query(&self) -> crate::Result<crate::status::StatusQuery> {
        let since = if self.since.trim().is_empty() {
            crate::status::DEFAULT_SINCE
        } else {
            &self.since
        };
        crate::status::StatusQuery::new(since, Some(&self.experiment))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StudyId {
    pub study_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enqueue {
    pub study_id: String,
    pub experiment_id: ExperimentId,
    pub tasks: Vec<crate::NewTask>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TaskKeys {
    pub keys: Vec<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claim {
    pub owner: String,
    pub experiment_id: Option<ExperimentId>,
    pub lease_ms: u64,
    /// The previous claim's result, stored before the next claim.
    pub done: Option<crate::Completion>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claimed {
    /// Whether `done` counted (None without one).
    pub kept: Option<bool>,
    pub task: Option<crate::ClaimedTask>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lease {
    pub key: i64,
    pub attempt: i64,
    pub lease_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub key: i64,
    pub attempt: i64,
    pub error: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Kept {
    pub kept: bool,
}

/// The query of [`QUEUE_TASK`]; the key as a string, as every GET argument.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskQuery {
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tasks {
    pub tasks: Vec<crate::TaskInfo>,
}

/// Bytes (a trial's result) as base64 in JSON: a third larger, instead of four times as an
/// array of numbers.
pub mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

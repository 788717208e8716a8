//! The data model. Names and units follow MLflow's REST API (ids as strings, times in
//! milliseconds since the epoch, `lifecycle_stage` active/deleted) so a REST layer maps 1:1.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub type ExperimentId = i64;
/// 32 lowercase hex digits, as MLflow's run_id.
pub type RunId = String;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunStatus {
    Running,
    Finished,
    Failed,
    Killed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "RUNNING" => Ok(RunStatus::Running),
            "FINISHED" => Ok(RunStatus::Finished),
            "FAILED" => Ok(RunStatus::Failed),
            "KILLED" => Ok(RunStatus::Killed),
            _ => Err(format!(
                "unknown run status '{s}'; use RUNNING, FINISHED, FAILED or KILLED"
            )),
        }
    }
}

/// The id of the experiment every store has, "Default", as MLflow clients expect.
pub const DEFAULT_EXPERIMENT_ID: ExperimentId = 0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    pub experiment_id: ExperimentId,
    pub name: String,
    /// Relative to the store's artifact root (the id, unless given at creation).
    pub artifact_location: String,
    pub lifecycle_stage: String,
    pub creation_time: i64,
    pub last_update_time: i64,
    pub tags: BTreeMap<String, String>,
}

/// How many active runs an experiment holds and when the last of them started or ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExperimentActivity {
    pub experiment_id: ExperimentId,
    pub runs: i64,
    /// Milliseconds since the epoch.
    pub last_activity: i64,
}

/// Which lifecycle stages a search returns (MLflow's ViewType).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewType {
    #[default]
    ActiveOnly,
    DeletedOnly,
    All,
}

/// `search_experiments` arguments.
#[derive(Debug, Clone, Default)]
pub struct SearchExperiments {
    /// MLflow's experiment filter: `name = 'x'`, `name LIKE 'x%'`, `tags.k = 'v'`,
    /// `creation_time > 123`, `last_update_time …`, joined by AND.
    pub filter: String,
    /// `name`, `experiment_id`, `creation_time`, `last_update_time`, each ASC or DESC;
    /// default `creation_time DESC, experiment_id ASC` (MLflow's).
    pub order_by: Vec<String>,
    pub view: ViewType,
    /// 0 means the default, 1000; at most 50,000.
    pub max_results: usize,
    pub page_token: Option<String>,
}

/// What `start_run` needs. `Default` gives an unnamed top-level run.
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    pub experiment: ExperimentId,
    /// Empty: a name is made from the run id.
    pub name: String,
    /// The study run whose trial this is.
    pub parent: Option<RunId>,
    /// Empty: the `USER` environment variable.
    pub user: String,
    pub source_command: String,
    pub data_fingerprint: Option<String>,
    pub tags: Vec<(String, String)>,
    /// Hold a lease, so that a run whose process dies is found and marked KILLED. The
    /// blocking [`crate::Store::start_run`] sets it (and renews the lease); runs created for
    /// MLflow clients do not hold one, since those clients keep runs RUNNING as long as they
    /// like and nothing renews a lease for them.
    pub lease: bool,
    /// None: now.
    pub start_time: Option<i64>,
}

/// One metric point. `timestamp_ms` 0 means "now".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub key: String,
    /// In JSON a number, or `"NaN"`, `"Infinity"`, `"-Infinity"` (JSON has no literal for
    /// them; MLflow writes them so too).
    #[serde(with = "json_float")]
    pub value: f64,
    pub step: i64,
    pub timestamp_ms: i64,
}

impl Metric {
    pub fn new(key: impl Into<String>, value: f64, step: i64) -> Metric {
        Metric {
            key: key.into(),
            value,
            step,
            timestamp_ms: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub run_id: RunId,
    pub experiment_id: ExperimentId,
    pub run_name: String,
    pub status: RunStatus,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub user_id: String,
    pub source_command: String,
    pub parent_run_id: Option<RunId>,
    pub data_fingerprint: Option<String>,
    /// Relative to the store's artifact root: `<experiment_id>/<run_id>/artifacts`.
    pub artifact_uri: String,
    pub lifecycle_stage: String,
}

/// A run with its params, tags, the latest value of each metric, its dataset inputs and the
/// logged models it produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub info: RunInfo,
    pub params: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, Metric>,
    pub tags: BTreeMap<String, String>,
    /// In the order they were first logged.
    pub inputs: Vec<DatasetInput>,
    /// By model id, then step.
    pub outputs: Vec<ModelOutput>,
    /// Ids of the logged models the run used (MLflow's model inputs), by the time each was first
    /// logged, then by id.
    #[serde(default)]
    pub model_inputs: Vec<String>,
}

/// A dataset used by a run and the input's tags (MLflow puts `mlflow.data.context`, e.g.
/// "training", there).
pub type DatasetInput = (Dataset, Vec<(String, String)>);

/// The tag key MLflow gives a dataset input's context.
pub const DATASET_CONTEXT_TAG: &str = "mlflow.data.context";

/// A logged model a run produced, at a step (MLflow's LoggedModelOutput).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelOutput {
    pub model_id: String,
    pub step: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactInfo {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub created_time: i64,
}

/// Where an artifact's bytes come from.
pub enum ArtifactSource<'a> {
    Bytes(&'a [u8]),
    File(&'a std::path::Path),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// The dataset's identity: one row per fingerprint, shared by the runs that used it.
    /// whet's own datasets use their content hash (and `digest` is the same); an MLflow
    /// dataset, whose identity is (name, digest), is stored as `mlflow:<name>:<digest>`.
    pub fingerprint: String,
    pub name: String,
    /// MLflow's digest of the data (whet: the fingerprint).
    pub digest: String,
    /// MLflow's source type, e.g. "local", "http", "code"; empty for whet's datasets.
    pub source_type: String,
    /// Where the data came from (a path or URL; for MLflow, its JSON source).
    pub source: String,
    /// JSON text.
    pub schema: String,
    /// JSON text.
    pub profile: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredModel {
    pub name: String,
    pub description: String,
    pub creation_time: i64,
    pub last_updated_time: i64,
    pub latest_version: Option<i64>,
    pub aliases: BTreeMap<String, i64>,
    pub tags: BTreeMap<String, String>,
    /// MLflow's `latest_versions`: the highest version in each stage that has one, stages in
    /// the order their lowest version has them (MLflow's order); without their aliases, as
    /// MLflow lists them.
    pub latest_versions: Vec<ModelVersion>,
}

/// What a model version's `source` is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// An artifact path inside the version's run, as whet registers models.
    #[default]
    RunArtifact,
    /// An opaque URI given by an MLflow client (`runs:/…`, `models:/m-…`,
    /// `mlflow-artifacts:/…`), kept verbatim.
    Uri,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::RunArtifact => "run_artifact",
            SourceKind::Uri => "uri",
        }
    }

    /// The stored text back; anything unknown is read as a URI, the kind that asks nothing
    /// of the store.
    pub fn parse(s: &str) -> SourceKind {
        match s {
            "run_artifact" => SourceKind::RunArtifact,
            _ => SourceKind::Uri,
        }
    }
}

/// MLflow's (deprecated) model version stage. A new version is in stage `None` (the string
/// "None" on the wire); [`crate::AsyncStore::transition_model_version_stage`] moves it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Stage {
    #[default]
    None,
    Staging,
    Production,
    Archived,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::None,
        Stage::Staging,
        Stage::Production,
        Stage::Archived,
    ];

    /// MLflow's canonical name: "None", "Staging", "Production", "Archived".
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::None => "None",
            Stage::Staging => "Staging",
            Stage::Production => "Production",
            Stage::Archived => "Archived",
        }
    }

    /// A stage name in any case, as MLflow accepts them ("staging", "PRODUCTION").
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }

    /// Staging and Production: the stages `archive_existing_versions` applies to.
    pub fn is_active(self) -> bool {
        matches!(self, Stage::Staging | Stage::Production)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = crate::Error;

    /// [`Stage::parse`], with MLflow's message for an unknown stage.
    fn from_str(s: &str) -> Result<Stage, crate::Error> {
        Stage::parse(s).ok_or_else(|| {
            crate::Error::Invalid(format!(
                "Invalid Model Version stage: {s}. Value must be one of None, Staging, Production, Archived."
            ))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub name: String,
    pub version: i64,
    /// Empty for a version not tied to a run.
    pub run_id: RunId,
    /// An artifact path inside the source run, or a URI: see `source_kind`.
    pub source: String,
    pub source_kind: SourceKind,
    pub status: String,
    pub status_message: String,
    /// MLflow's stage; [`Stage::None`] unless transitioned.
    #[serde(default)]
    pub current_stage: Stage,
    pub description: String,
    pub creation_time: i64,
    pub last_updated_time: i64,
    /// Values as [`Metric::value`]'s in JSON.
    #[serde(with = "json_float::map")]
    pub metrics: BTreeMap<String, f64>,
    pub aliases: Vec<String>,
    pub tags: BTreeMap<String, String>,
    /// The MLflow 3 logged model this version was made from.
    pub model_id: Option<String>,
    pub run_link: String,
    /// Who registered it (schema 6); empty when not known.
    #[serde(default)]
    pub user_id: String,
}

/// What `create_model_version` needs (MLflow's CreateModelVersion).
#[derive(Debug, Clone, Default)]
pub struct NewModelVersion {
    pub name: String,
    pub source: String,
    pub source_kind: SourceKind,
    /// Required for [`SourceKind::RunArtifact`].
    pub run_id: Option<RunId>,
    pub run_link: String,
    pub description: String,
    pub tags: Vec<(String, String)>,
    pub model_id: Option<String>,
    /// Who registers it; empty when not known.
    pub user_id: String,
}

/// Where a logged model is in its life (MLflow's LoggedModelStatus).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LoggedModelStatus {
    /// Created; its artifacts are being uploaded.
    #[default]
    Pending,
    Ready,
    Failed,
}

impl LoggedModelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LoggedModelStatus::Pending => "PENDING",
            LoggedModelStatus::Ready => "READY",
            LoggedModelStatus::Failed => "FAILED",
        }
    }
}

impl fmt::Display for LoggedModelStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LoggedModelStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "PENDING" => Ok(LoggedModelStatus::Pending),
            "READY" => Ok(LoggedModelStatus::Ready),
            "FAILED" => Ok(LoggedModelStatus::Failed),
            _ => Err(format!(
                "unknown logged model status '{s}'; use PENDING, READY or FAILED"
            )),
        }
    }
}

/// An MLflow 3 logged model: what `mlflow.<flavor>.log_model` creates, with its own
/// artifacts, params, tags and metrics, linked to the run that produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedModel {
    /// `m-` and 32 hex digits.
    pub model_id: String,
    pub experiment_id: ExperimentId,
    pub name: String,
    /// Relative to the store's artifact root: `<experiment_id>/models/<model_id>/artifacts`.
    pub artifact_location: String,
    pub creation_time: i64,
    pub last_updated_time: i64,
    pub source_run_id: Option<RunId>,
    pub status: LoggedModelStatus,
    pub status_message: String,
    /// Empty when not given.
    pub model_type: String,
    pub lifecycle_stage: String,
    pub tags: BTreeMap<String, String>,
    pub params: BTreeMap<String, String>,
    /// Every point, by key, then step, then timestamp.
    pub metrics: Vec<LoggedModelMetric>,
}

/// One metric point of a logged model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedModelMetric {
    pub key: String,
    pub value: f64,
    pub step: i64,
    pub timestamp_ms: i64,
    /// The run it was logged through.
    pub run_id: Option<RunId>,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
}

/// What `create_logged_model` needs (MLflow's CreateLoggedModel).
#[derive(Debug, Clone, Default)]
pub struct NewLoggedModel {
    pub experiment_id: ExperimentId,
    /// Empty: a name is made from the model id.
    pub name: String,
    pub model_type: String,
    pub source_run_id: Option<RunId>,
    pub params: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
}

/// A metric point logged to a run for a logged model (MLflow's Metric with `model_id`), and
/// the dataset it was computed on, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMetric {
    pub model_id: String,
    pub metric: Metric,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
}

/// What a server token may do, each role including the ones before it: `read` reads,
/// `write` also logs runs and registers models, `admin` also manages tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// True when this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("unknown role '{s}'; use read, write or admin")),
        }
    }
}

/// A server access token as listed: never its secret, which only `create_token` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub name: String,
    pub role: Role,
    pub created_time: i64,
    /// Updated at most once a minute, so within a minute of the truth.
    pub last_used_time: Option<i64>,
    pub revoked_time: Option<i64>,
}

/// One request the server recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub time: i64,
    /// Empty for a request without a token.
    pub token_name: String,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub detail: String,
}

/// One alias move: `version` None means the alias was removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasMove {
    pub alias: String,
    pub version: Option<i64>,
    pub previous_version: Option<i64>,
    pub moved_time: i64,
    pub user_id: String,
}

/// Names a model version: `3`, `latest`, or an alias such as `champion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRef {
    Number(i64),
    Alias(String),
    Latest,
}

impl VersionRef {
    pub fn parse(s: &str) -> VersionRef {
        if let Ok(n) = s.parse::<i64>() {
            VersionRef::Number(n)
        } else if s.eq_ignore_ascii_case("latest") {
            VersionRef::Latest
        } else {
            VersionRef::Alias(s.to_string())
        }
    }
}

/// Parses `NAME`, `NAME@alias` or `NAME/version` as the CLI writes them.
pub fn parse_model_ref(s: &str) -> (String, VersionRef) {
    if let Some((name, alias)) = s.rsplit_once('@') {
        return (name.to_string(), VersionRef::Alias(alias.to_string()));
    }
    if let Some((name, v)) = s.rsplit_once('/') {
        return (name.to_string(), VersionRef::parse(v));
    }
    (s.to_string(), VersionRef::Latest)
}

/// `search_runs` arguments. Empty `experiments` means all experiments.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchRuns {
    pub experiments: Vec<ExperimentId>,
    pub filter: String,
    /// e.g. `metrics.auc DESC`, `attributes.start_time`; default `start_time DESC`.
    pub order_by: Vec<String>,
    /// 0 means the default, 1000; at most 50,000.
    pub max_results: usize,
    pub page_token: Option<String>,
    /// Active runs (the default), deleted ones, or both.
    pub view: ViewType,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GcReport {
    pub runs_deleted: Vec<RunId>,
    /// Runs left in place, with the reason (e.g. a registered model version points at them).
    pub skipped: Vec<(RunId, String)>,
    pub artifact_bytes_freed: u64,
}

/// A double in JSON: a number, or the strings `"NaN"`, `"Infinity"` and `"-Infinity"` that
/// MLflow uses for what JSON cannot write (serde_json would write `null` and could not read
/// it back). Read: a number or any of those strings.
pub(crate) mod json_float {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    struct Out(f64);

    impl Serialize for Out {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let v = self.0;
            if v.is_finite() {
                s.serialize_f64(v)
            } else if v.is_nan() {
                s.serialize_str("NaN")
            } else if v > 0.0 {
                s.serialize_str("Infinity")
            } else {
                s.serialize_str("-Infinity")
            }
        }
    }

    struct In(f64);

    impl<'de> Deserialize<'de> for In {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<In, D::Error> {
            #[derive(Deserialize)]
            #[serde(untagged)]
            enum Any {
                Number(f64),
                Text(String),
            }
            match Any::deserialize(d)? {
                Any::Number(v) => Ok(In(v)),
                Any::Text(t) => match t.as_str() {
                    "NaN" => Ok(In(f64::NAN)),
                    "Infinity" | "inf" => Ok(In(f64::INFINITY)),
                    "-Infinity" | "-inf" => Ok(In(f64::NEG_INFINITY)),
                    other => other.parse::<f64>().map(In).map_err(|_| {
                        serde::de::Error::custom(format!("'{other}' is not a number"))
                    }),
                },
            }
        }
    }

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        Out(*v).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        In::deserialize(d).map(|v| v.0)
    }

    pub mod map {
        use super::*;

        pub fn serialize<S: Serializer>(
            m: &BTreeMap<String, f64>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.collect_map(m.iter().map(|(k, v)| (k, Out(*v))))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<BTreeMap<String, f64>, D::Error> {
            let m = BTreeMap::<String, In>::deserialize(d)?;
            Ok(m.into_iter().map(|(k, v)| (k, v.0)).collect())
        }
    }
}

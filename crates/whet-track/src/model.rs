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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    pub experiment_id: ExperimentId,
    pub name: String,
    pub artifact_location: String,
    pub lifecycle_stage: String,
    pub creation_time: i64,
    pub last_update_time: i64,
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
}

/// One metric point. `timestamp_ms` 0 means "now".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub key: String,
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

/// A run with its params, tags and the latest value of each metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub info: RunInfo,
    pub params: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, Metric>,
    pub tags: BTreeMap<String, String>,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// A content hash of the data; one row per fingerprint, shared by the runs that used it.
    pub fingerprint: String,
    pub name: String,
    /// Where the data came from (a path or URL).
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub name: String,
    pub version: i64,
    pub run_id: RunId,
    /// Artifact path inside the source run.
    pub source: String,
    pub status: String,
    pub description: String,
    pub creation_time: i64,
    pub last_updated_time: i64,
    pub metrics: BTreeMap<String, f64>,
    pub aliases: Vec<String>,
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
#[derive(Debug, Clone, Default)]
pub struct SearchRuns {
    pub experiments: Vec<ExperimentId>,
    pub filter: String,
    /// e.g. `metrics.auc DESC`, `attributes.start_time`; default `start_time DESC`.
    pub order_by: Vec<String>,
    /// 0 means the default, 1000; at most 50,000.
    pub max_results: usize,
    pub page_token: Option<String>,
    /// Include runs marked deleted.
    pub include_deleted: bool,
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

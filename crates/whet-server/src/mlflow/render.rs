//! whet-track's records as MLflow's JSON messages.

use serde_json::{Map, Value, json};
use whet_track::{Experiment, Metric, ModelVersion, RegisteredModel, Run, RunInfo, SourceKind};

use super::wire::{float_json, pairs_json};
use crate::state::AppState;

/// MLflow's system tags that whet keeps in run columns; a run shows them as tags too, so a run
/// `whet train` wrote looks to an MLflow client like one the client logged.
pub const RUN_NAME_TAG: &str = "mlflow.runName";
/// Read when a run is created; not added when a run is shown (MLflow does not either).
pub const USER_TAG: &str = "mlflow.user";
pub const PARENT_TAG: &str = "mlflow.parentRunId";
pub const SOURCE_NAME_TAG: &str = "mlflow.source.name";

pub fn experiment(state: &AppState, e: &Experiment) -> Value {
    let mut v = json!({
        "experiment_id": e.experiment_id.to_string(),
        "name": e.name,
        "artifact_location": state.artifact_uri(&e.artifact_location),
        "lifecycle_stage": e.lifecycle_stage,
        "last_update_time": e.last_update_time,
        "creation_time": e.creation_time,
    });
    if !e.tags.is_empty() {
        v["tags"] = pairs_json(&e.tags);
    }
    v
}

pub fn run_info(state: &AppState, i: &RunInfo) -> Value {
    let mut v = json!({
        "run_uuid": i.run_id,
        "run_id": i.run_id,
        "run_name": i.run_name,
        "experiment_id": i.experiment_id.to_string(),
        "user_id": i.user_id,
        "status": i.status.as_str(),
        "start_time": i.start_time,
        "artifact_uri": state.artifact_uri(&i.artifact_uri),
        "lifecycle_stage": i.lifecycle_stage,
    });
    if let Some(end) = i.end_time {
        v["end_time"] = json!(end);
    }
    v
}

pub fn metric(m: &Metric) -> Value {
    json!({
        "key": m.key,
        "value": float_json(m.value),
        "timestamp": m.timestamp_ms,
        "step": m.step,
    })
}

pub fn run(state: &AppState, r: &Run) -> Value {
    let mut tags = r.tags.clone();
    let system = [
        (RUN_NAME_TAG, Some(r.info.run_name.clone())),
        (PARENT_TAG, r.info.parent_run_id.clone()),
        (
            SOURCE_NAME_TAG,
            Some(r.info.source_command.clone()).filter(|s| !s.is_empty()),
        ),
    ];
    for (key, value) in system {
        if let Some(value) = value {
            tags.entry(key.to_string()).or_insert(value);
        }
    }
    let mut data = Map::new();
    if !r.metrics.is_empty() {
        data.insert(
            "metrics".into(),
            Value::Array(r.metrics.values().map(metric).collect()),
        );
    }
    if !r.params.is_empty() {
        data.insert("params".into(), pairs_json(&r.params));
    }
    data.insert("tags".into(), pairs_json(&tags));
    let mut inputs = Map::new();
    if !r.inputs.is_empty() {
        inputs.insert(
            "dataset_inputs".into(),
            Value::Array(
                r.inputs
                    .iter()
                    .map(|(d, tags)| {
                        let mut input = json!({
                            "dataset": {
                                "name": d.name,
                                "digest": d.digest,
                                "source_type": d.source_type,
                                "source": d.source,
                            }
                        });
                        if !d.schema.is_empty() {
                            input["dataset"]["schema"] = json!(d.schema);
                        }
                        if !d.profile.is_empty() {
                            input["dataset"]["profile"] = json!(d.profile);
                        }
                        if !tags.is_empty() {
                            input["tags"] = Value::Array(
                                tags.iter()
                                    .map(|(k, v)| json!({"key": k, "value": v}))
                                    .collect(),
                            );
                        }
                        input
                    })
                    .collect(),
            ),
        );
    }
    if !r.model_inputs.is_empty() {
        inputs.insert(
            "model_inputs".into(),
            r.model_inputs
                .iter()
                .map(|id| json!({"model_id": id}))
                .collect(),
        );
    }
    let mut v = json!({
        "info": run_info(state, &r.info),
        "data": Value::Object(data),
        "inputs": Value::Object(inputs),
    });
    if !r.outputs.is_empty() {
        v["outputs"] = json!({
            "model_outputs": r.outputs.iter().map(|o| json!({"model_id": o.model_id, "step": o.step})).collect::<Vec<_>>()
        });
    }
    v
}

pub fn model_version(v: &ModelVersion) -> Value {
    let mut out = json!({
        "name": v.name,
        "version": v.version.to_string(),
        "creation_timestamp": v.creation_time,
        "last_updated_timestamp": v.last_updated_time,
        "current_stage": v.current_stage.as_str(),
        "description": v.description,
        "source": version_source(v),
        "run_id": v.run_id,
        "status": v.status,
    });
    if !v.run_link.is_empty() {
        out["run_link"] = json!(v.run_link);
    }
    if !v.tags.is_empty() {
        out["tags"] = pairs_json(&v.tags);
    }
    if !v.aliases.is_empty() {
        out["aliases"] = json!(v.aliases);
    }
    if let Some(id) = &v.model_id {
        out["model_id"] = json!(id);
    }
    if !v.user_id.is_empty() {
        out["user_id"] = json!(v.user_id);
    }
    out
}

/// Where a version's files are: the URI a client gave, or for a version whet registered from
/// a run's artifact, MLflow's URI for that artifact (`runs:/<run>/<path>`, which clients
/// resolve through the run).
pub fn version_source(v: &ModelVersion) -> String {
    if v.source_kind == SourceKind::Uri || v.run_id.is_empty() {
        return v.source.clone();
    }
    format!("runs:/{}/{}", v.run_id, v.source.trim_start_matches('/'))
}

pub fn registered_model(m: &RegisteredModel) -> Value {
    let mut out = json!({
        "name": m.name,
        "creation_timestamp": m.creation_time,
        "last_updated_timestamp": m.last_updated_time,
        "description": m.description,
    });
    if !m.latest_versions.is_empty() {
        out["latest_versions"] =
            Value::Array(m.latest_versions.iter().map(model_version).collect());
    }
    if !m.tags.is_empty() {
        out["tags"] = pairs_json(&m.tags);
    }
    if !m.aliases.is_empty() {
        out["aliases"] = Value::Array(
            m.aliases
                .iter()
                .map(|(alias, version)| json!({"alias": alias, "version": version.to_string()}))
                .collect(),
        );
    }
    out
}

//! `/logged-models…`: MLflow 3's logged models. `mlflow.<flavor>.log_model` creates one
//! (PENDING), uploads its files under the model's own artifact location, then finalizes it.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use whet_track::{LoggedModel, LoggedModelStatus, NewLoggedModel};

use super::experiments::{max_results, tag_pairs};
use super::wire::{Input, KeyValue, float_json, int_opt, list, pairs_json, required, string_opt};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The status names of MLflow's LoggedModelStatus enum, by whet-track's short names.
fn status_json(status: LoggedModelStatus) -> &'static str {
    match status {
        LoggedModelStatus::Ready => "LOGGED_MODEL_READY",
        LoggedModelStatus::Failed => "LOGGED_MODEL_UPLOAD_FAILED",
        LoggedModelStatus::Pending => "LOGGED_MODEL_PENDING",
    }
}

fn status_from_json(status: &str) -> ApiResult<LoggedModelStatus> {
    match status {
        "LOGGED_MODEL_READY" | "READY" | "2" => Ok(LoggedModelStatus::Ready),
        "LOGGED_MODEL_UPLOAD_FAILED" | "FAILED" | "3" => Ok(LoggedModelStatus::Failed),
        "LOGGED_MODEL_PENDING" | "PENDING" | "1" => Ok(LoggedModelStatus::Pending),
        other => Err(ApiError::invalid(format!(
            "Invalid logged model status '{other}': use LOGGED_MODEL_READY, LOGGED_MODEL_PENDING or LOGGED_MODEL_UPLOAD_FAILED"
        ))),
    }
}

fn model_json(state: &AppState, m: &LoggedModel) -> Value {
    let mut info = json!({
        "model_id": m.model_id,
        "experiment_id": m.experiment_id.to_string(),
        "name": m.name,
        "creation_timestamp_ms": m.creation_time,
        "last_updated_timestamp_ms": m.last_updated_time,
        "artifact_uri": state.artifact_uri(&m.artifact_location),
        "status": status_json(m.status),
        "model_type": m.model_type,
    });
    if let Some(run) = &m.source_run_id {
        info["source_run_id"] = json!(run);
    }
    if !m.status_message.is_empty() {
        info["status_message"] = json!(m.status_message);
    }
    if !m.tags.is_empty() {
        info["tags"] = pairs_json(&m.tags);
    }
    let mut data = json!({});
    if !m.params.is_empty() {
        data["params"] = pairs_json(&m.params);
    }
    if !m.metrics.is_empty() {
        data["metrics"] = Value::Array(
            m.metrics
                .iter()
                .map(|x| {
                    let mut v = json!({
                        "key": x.key,
                        "value": float_json(x.value),
                        "timestamp": x.timestamp_ms,
                        "step": x.step,
                        "model_id": m.model_id,
                    });
                    if let Some(r) = &x.run_id {
                        v["run_id"] = json!(r);
                    }
                    if let Some(d) = &x.dataset_name {
                        v["dataset_name"] = json!(d);
                    }
                    if let Some(d) = &x.dataset_digest {
                        v["dataset_digest"] = json!(d);
                    }
                    v
                })
                .collect(),
        );
    }
    json!({ "info": info, "data": data })
}

#[derive(Deserialize)]
pub struct Create {
    #[serde(default, deserialize_with = "string_opt")]
    experiment_id: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    name: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    model_type: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    source_run_id: Option<String>,
    #[serde(default, deserialize_with = "list")]
    params: Vec<KeyValue>,
    #[serde(default, deserialize_with = "list")]
    tags: Vec<KeyValue>,
}

pub async fn create(
    State(state): State<AppState>,
    Input(req): Input<Create>,
) -> ApiResult<Json<Value>> {
    let experiment = super::wire::experiment_id(&req.experiment_id, "experiment_id")?;
    let m = state
        .store
        .create_logged_model(&NewLoggedModel {
            experiment_id: experiment,
            name: req.name.clone().unwrap_or_default(),
            model_type: req.model_type.clone().unwrap_or_default(),
            source_run_id: req.source_run_id.clone().filter(|r| !r.is_empty()),
            params: tag_pairs(&req.params)?,
            tags: tag_pairs(&req.tags)?,
        })
        .await?;
    Ok(Json(json!({ "model": model_json(&state, &m) })))
}

pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let m = state.store.get_logged_model(&id).await?;
    Ok(Json(json!({ "model": model_json(&state, &m) })))
}

#[derive(Deserialize)]
pub struct Finalize {
    #[serde(default, deserialize_with = "string_opt")]
    status: Option<String>,
}

pub async fn finalize(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Input(req): Input<Finalize>,
) -> ApiResult<Json<Value>> {
    let status = status_from_json(required(&req.status, "status")?)?;
    let m = state.store.finalize_logged_model(&id, status).await?;
    Ok(Json(json!({ "model": model_json(&state, &m) })))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.store.delete_logged_model(&id).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct Tags {
    #[serde(default, deserialize_with = "list")]
    tags: Vec<KeyValue>,
}

pub async fn set_tags(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Input(req): Input<Tags>,
) -> ApiResult<Json<Value>> {
    state
        .store
        .set_logged_model_tags(&id, &tag_pairs(&req.tags)?)
        .await?;
    Ok(Json(json!({})))
}

pub async fn delete_tag(
    State(state): State<AppState>,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    state.store.delete_logged_model_tag(&id, &key).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct Params {
    #[serde(default, deserialize_with = "list")]
    params: Vec<KeyValue>,
}

pub async fn log_params(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Input(req): Input<Params>,
) -> ApiResult<Json<Value>> {
    state
        .store
        .log_logged_model_params(&id, &tag_pairs(&req.params)?)
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct OrderBy {
    #[serde(default, deserialize_with = "string_opt")]
    field_name: Option<String>,
    #[serde(default)]
    ascending: Option<bool>,
}

#[derive(Deserialize)]
pub struct DatasetFilter {
    #[serde(default, deserialize_with = "string_opt")]
    dataset_name: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    dataset_digest: Option<String>,
}

#[derive(Deserialize)]
pub struct Search {
    #[serde(default, deserialize_with = "list")]
    experiment_ids: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    datasets: Vec<DatasetFilter>,
    #[serde(default, deserialize_with = "string_opt")]
    filter: Option<String>,
    #[serde(default, deserialize_with = "int_opt")]
    max_results: Option<i64>,
    #[serde(default, deserialize_with = "list")]
    order_by: Vec<OrderBy>,
    #[serde(default, deserialize_with = "string_opt")]
    page_token: Option<String>,
}

pub async fn search(
    State(state): State<AppState>,
    Input(req): Input<Search>,
) -> ApiResult<Json<Value>> {
    let experiments = req
        .experiment_ids
        .iter()
        .map(|e| super::wire::experiment_id(&Some(e.clone()), "experiment_ids"))
        .collect::<ApiResult<Vec<i64>>>()?;
    let order_by: Vec<String> = req
        .order_by
        .iter()
        .filter_map(|o| {
            o.field_name.as_ref().map(|f| {
                format!(
                    "{f} {}",
                    if o.ascending.unwrap_or(true) {
                        "ASC"
                    } else {
                        "DESC"
                    }
                )
            })
        })
        .collect();
    let datasets: Vec<(String, Option<String>)> = req
        .datasets
        .iter()
        .map(|d| {
            (
                d.dataset_name.clone().unwrap_or_default(),
                d.dataset_digest.clone().filter(|g| !g.is_empty()),
            )
        })
        .collect();
    let page = state
        .store
        .search_logged_models_on(
            &experiments,
            req.filter.as_deref().unwrap_or(""),
            &datasets,
            &order_by,
            max_results(req.max_results, 100)?,
            req.page_token.as_deref().filter(|t| !t.is_empty()),
        )
        .await?;
    let mut out = json!({
        "models": page.items.iter().map(|m| model_json(&state, m)).collect::<Vec<_>>()
    });
    if let Some(t) = page.next_page_token {
        out["next_page_token"] = json!(t);
    }
    Ok(Json(out))
}

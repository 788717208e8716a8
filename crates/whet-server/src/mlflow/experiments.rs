//! `/experiments/*`: create, get, get by name, search, rename, delete, restore, tags.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use whet_track::{SearchExperiments, ViewType};

use super::render;
use super::wire::{Input, KeyValue, experiment_id, int_opt, list, required, string_opt};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Create {
    #[serde(default, deserialize_with = "string_opt")]
    name: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    artifact_location: Option<String>,
    #[serde(default, deserialize_with = "list")]
    tags: Vec<KeyValue>,
}

pub async fn create(
    State(state): State<AppState>,
    Input(req): Input<Create>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    check_name_length(name)?;
    let tags = tag_pairs(&req.tags)?;
    for (k, v) in &tags {
        check_tag_length(k, v)?;
    }
    let location = req.artifact_location.as_deref().filter(|l| !l.is_empty());
    let id = state.store.create_experiment(name, location, &tags).await?;
    Ok(Json(json!({ "experiment_id": id.to_string() })))
}

#[derive(Deserialize)]
pub struct ById {
    #[serde(default, deserialize_with = "string_opt")]
    experiment_id: Option<String>,
}

pub async fn get(State(state): State<AppState>, Input(req): Input<ById>) -> ApiResult<Json<Value>> {
    let id = experiment_id(&req.experiment_id, "experiment_id")?;
    let e = state.store.get_experiment(id).await?;
    Ok(Json(
        json!({ "experiment": render::experiment(&state, &e) }),
    ))
}

#[derive(Deserialize)]
pub struct ByName {
    #[serde(default, deserialize_with = "string_opt")]
    experiment_name: Option<String>,
}

pub async fn get_by_name(
    State(state): State<AppState>,
    Input(req): Input<ByName>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.experiment_name, "experiment_name")?;
    match state.store.experiment_by_name(name).await? {
        Some(e) => Ok(Json(
            json!({ "experiment": render::experiment(&state, &e) }),
        )),
        None => Err(ApiError::not_found(format!(
            "Could not find experiment with name '{name}'"
        ))),
    }
}

#[derive(Deserialize)]
pub struct Search {
    #[serde(default, deserialize_with = "int_opt")]
    max_results: Option<i64>,
    #[serde(default, deserialize_with = "string_opt")]
    filter: Option<String>,
    #[serde(default, deserialize_with = "list")]
    order_by: Vec<String>,
    #[serde(default, deserialize_with = "string_opt")]
    page_token: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    view_type: Option<String>,
}

pub async fn search(
    State(state): State<AppState>,
    Input(req): Input<Search>,
) -> ApiResult<Json<Value>> {
    let page = state
        .store
        .search_experiments(&SearchExperiments {
            filter: req.filter.unwrap_or_default(),
            order_by: req.order_by,
            view: view_type(req.view_type.as_deref())?,
            max_results: max_results(req.max_results, 1000)?,
            page_token: req.page_token.filter(|t| !t.is_empty()),
        })
        .await?;
    let mut out = json!({
        "experiments": page.items.iter().map(|e| render::experiment(&state, e)).collect::<Vec<_>>()
    });
    if let Some(t) = page.next_page_token {
        out["next_page_token"] = json!(t);
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
pub struct Update {
    #[serde(default, deserialize_with = "string_opt")]
    experiment_id: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    new_name: Option<String>,
}

pub async fn update(
    State(state): State<AppState>,
    Input(req): Input<Update>,
) -> ApiResult<Json<Value>> {
    let id = experiment_id(&req.experiment_id, "experiment_id")?;
    if let Some(name) = req.new_name.as_deref().filter(|n| !n.is_empty()) {
        check_name_length(name)?;
        state.store.rename_experiment(id, name).await?;
    }
    Ok(Json(json!({})))
}

pub async fn delete(
    State(state): State<AppState>,
    Input(req): Input<ById>,
) -> ApiResult<Json<Value>> {
    let id = experiment_id(&req.experiment_id, "experiment_id")?;
    state.store.delete_experiment(id).await?;
    Ok(Json(json!({})))
}

pub async fn restore(
    State(state): State<AppState>,
    Input(req): Input<ById>,
) -> ApiResult<Json<Value>> {
    let id = experiment_id(&req.experiment_id, "experiment_id")?;
    state.store.restore_experiment(id).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct Tag {
    #[serde(default, deserialize_with = "string_opt")]
    experiment_id: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    key: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    value: Option<String>,
}

pub async fn set_tag(
    State(state): State<AppState>,
    Input(req): Input<Tag>,
) -> ApiResult<Json<Value>> {
    let id = experiment_id(&req.experiment_id, "experiment_id")?;
    let key = required(&req.key, "key")?;
    let value = req.value.as_deref().unwrap_or("");
    check_tag_length(key, value)?;
    state.store.set_experiment_tag(id, key, value).await?;
    Ok(Json(json!({})))
}

pub async fn delete_tag(
    State(state): State<AppState>,
    Input(req): Input<Tag>,
) -> ApiResult<Json<Value>> {
    let id = experiment_id(&req.experiment_id, "experiment_id")?;
    let key = required(&req.key, "key")?;
    state.store.delete_experiment_tag(id, key).await?;
    Ok(Json(json!({})))
}

/// MLflow's limits on experiments: names of 500 characters, tag keys of 250 and values of
/// 20,000 (longer ones are refused, not cut).
fn check_name_length(name: &str) -> ApiResult<()> {
    if name.chars().count() > 500 {
        return Err(ApiError::invalid(
            "'name' exceeds the maximum length of 500 characters",
        ));
    }
    Ok(())
}

fn check_tag_length(key: &str, value: &str) -> ApiResult<()> {
    if key.chars().count() > 250 {
        return Err(ApiError::invalid(
            "'key' exceeds the maximum length of 250 characters",
        ));
    }
    if value.chars().count() > 20_000 {
        return Err(ApiError::invalid(
            "'value' exceeds the maximum length of 20000 characters",
        ));
    }
    Ok(())
}

/// `ACTIVE_ONLY` (default), `DELETED_ONLY` or `ALL`, also as the enum's numbers 1, 2, 3.
pub fn view_type(v: Option<&str>) -> ApiResult<ViewType> {
    match v.unwrap_or("ACTIVE_ONLY") {
        "" | "ACTIVE_ONLY" | "1" => Ok(ViewType::ActiveOnly),
        "DELETED_ONLY" | "2" => Ok(ViewType::DeletedOnly),
        "ALL" | "3" => Ok(ViewType::All),
        other => Err(ApiError::invalid(format!(
            "Invalid view type '{other}': use ACTIVE_ONLY, DELETED_ONLY or ALL"
        ))),
    }
}

/// MLflow caps searches at 50,000 results per page and rejects more.
pub fn max_results(requested: Option<i64>, default: usize) -> ApiResult<usize> {
    match requested {
        None => Ok(default),
        Some(n) if n < 1 => Err(ApiError::invalid(format!(
            "Invalid value {n} for parameter 'max_results' supplied. It must be a positive integer"
        ))),
        Some(n) if n > 50_000 => Err(ApiError::invalid(format!(
            "Invalid value {n} for parameter 'max_results' supplied. It must be at most 50000"
        ))),
        Some(n) => Ok(n as usize),
    }
}

pub fn tag_pairs(tags: &[KeyValue]) -> ApiResult<Vec<(String, String)>> {
    tags.iter()
        .map(|t| {
            let key = required(&t.key, "key")?;
            Ok((key.to_string(), t.value.clone().unwrap_or_default()))
        })
        .collect()
}

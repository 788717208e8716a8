//! `/registered-models/*` and `/model-versions/*`: the model registry with tags and aliases.
//! Stages are deprecated in MLflow; every version is in stage "None".

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use whet_track::{NewModelVersion, SourceKind, VersionRef};

use super::experiments::{max_results, tag_pairs};
use super::render;
use super::sources;
use super::wire::{Input, KeyValue, int_opt, list, required, string_opt};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ModelIn {
    #[serde(default, deserialize_with = "string_opt")]
    name: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    new_name: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    description: Option<String>,
    #[serde(default, deserialize_with = "list")]
    tags: Vec<KeyValue>,
    #[serde(default, deserialize_with = "string_opt")]
    key: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    value: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    alias: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    version: Option<String>,
    #[serde(default, deserialize_with = "list")]
    stages: Vec<String>,
}

async fn model_json(state: &AppState, name: &str) -> ApiResult<Json<Value>> {
    let m = state.store.get_registered_model(name).await?;
    Ok(Json(
        json!({ "registered_model": render::registered_model(&m) }),
    ))
}

pub async fn create_model(
    State(state): State<AppState>,
    Input(req): Input<ModelIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    let tags = tag_pairs(&req.tags)?;
    state
        .store
        .create_registered_model(name, req.description.as_deref().unwrap_or(""), &tags)
        .await?;
    model_json(&state, name).await
}

pub async fn get_model(
    State(state): State<AppState>,
    Input(req): Input<ModelIn>,
) -> ApiResult<Json<Value>> {
    model_json(&state, required(&req.name, "name")?).await
}

pub async fn rename_model(
    State(state): State<AppState>,
    Input(req): Input<ModelIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    let new_name = required(&req.new_name, "new_name")?;
    state.store.rename_registered_model(name, new_name).await?;
    model_json(&state, new_name).await
}

pub async fn update_model(
    State(state): State<AppState>,
    Input(req): Input<ModelIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    if let Some(d) = &req.description {
        state.store.update_registered_model(name, d).await?;
    }
    model_json(&state, name).await
}

pub async fn delete_model(
    State(state): State<AppState>,
    Input(req): Input<ModelIn>,
) -> ApiResult<Json<Value>> {
    state
        .store
        .delete_registered_model(required(&req.name, "name")?)
        .await?;
    Ok(Json(json!({})))
}

pub async fn set_model_tag(
    State(state): State<AppState>,
    Input(req): Input<ModelIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    let key = required(&req.key, "key")?;
    state
        .store
        .set_registered_model_tag(name, key, req.value.as_deref().unwrap_or(""))
        .await?;
    Ok(Json(json!({})))
}

pub async fn delete_model_tag(
    State(state): State<AppState>,
    Input(req): Input<ModelIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    let key = required(&req.key, "key")?;
    state.store.delete_registered_model_tag(name, key).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct SearchIn {
    #[serde(default, deserialize_with = "string_opt")]
    filter: Option<String>,
    #[serde(default, deserialize_with = "int_opt")]
    max_results: Option<i64>,
    #[serde(default, deserialize_with = "list")]
    order_by: Vec<String>,
    #[serde(default, deserialize_with = "string_opt")]
    page_token: Option<String>,
}

pub async fn search_models(
    State(state): State<AppState>,
    Input(req): Input<SearchIn>,
) -> ApiResult<Json<Value>> {
    // MLflow's registry search pages 100 at a time by default and allows at most 1,000.
    if req.max_results.is_some_and(|n| n > 1000) {
        return Err(ApiError::invalid(format!(
            "Invalid value for request parameter max_results. It must be at most 1000, but got value {}",
            req.max_results.unwrap_or(0)
        )));
    }
    let page = state
        .store
        .search_registered_models(
            req.filter.as_deref().unwrap_or(""),
            &req.order_by,
            max_results(req.max_results, 100)?,
            req.page_token.as_deref().filter(|t| !t.is_empty()),
        )
        .await?;
    let mut out = json!({
        "registered_models": page.items.iter().map(render::registered_model).collect::<Vec<_>>()
    });
    if let Some(t) = page.next_page_token {
        out["next_page_token"] = json!(t);
    }
    Ok(Json(out))
}

pub async fn latest_versions(
    State(state): State<AppState>,
    Input(req): Input<ModelIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    let versions = state.store.latest_versions_in(name, &req.stages).await?;
    Ok(Json(json!({
        "model_versions": versions.iter().map(render::model_version).collect::<Vec<_>>()
    })))
}

fn version_number(version: &Option<String>) -> ApiResult<i64> {
    let v = required(version, "version")?;
    v.parse().map_err(|_| {
        ApiError::invalid(format!(
            "Parameter 'version' must be an integer, got '{v}'."
        ))
    })
}

pub async fn set_alias(
    State(state): State<AppState>,
    caller: Caller,
    Input(req): Input<ModelIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    let alias = required(&req.alias, "alias")?;
    let version = version_number(&req.version)?;
    state
        .store
        .set_alias_by(name, alias, Some(version), &caller.or(""))
        .await?;
    Ok(Json(json!({})))
}

pub async fn delete_alias(
    State(state): State<AppState>,
    caller: Caller,
    Input(req): Input<ModelIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    let alias = required(&req.alias, "alias")?;
    state
        .store
        .set_alias_by(name, alias, None, &caller.or(""))
        .await?;
    Ok(Json(json!({})))
}

pub async fn get_by_alias(
    State(state): State<AppState>,
    Input(req): Input<ModelIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    let alias = required(&req.alias, "alias")?;
    // A missing model is 404; a missing alias of an existing model is, in MLflow, a 400.
    state.store.get_registered_model(name).await?;
    let v = match state
        .store
        .get_model_version(name, &VersionRef::Alias(alias.to_string()))
        .await
    {
        Ok(v) => v,
        Err(whet_track::Error::NotFound { .. }) => {
            return Err(ApiError::invalid(format!(
                "Registered model alias {alias} not found."
            )));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Json(json!({ "model_version": render::model_version(&v) })))
}

#[derive(Deserialize)]
pub struct VersionIn {
    #[serde(default, deserialize_with = "string_opt")]
    name: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    version: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    source: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    run_id: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    run_link: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    description: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    model_id: Option<String>,
    #[serde(default, deserialize_with = "list")]
    tags: Vec<KeyValue>,
    #[serde(default, deserialize_with = "string_opt")]
    key: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    value: Option<String>,
}

async fn version_json(state: &AppState, name: &str, version: i64) -> ApiResult<Json<Value>> {
    let v = state
        .store
        .get_model_version(name, &VersionRef::Number(version))
        .await?;
    Ok(Json(json!({ "model_version": render::model_version(&v) })))
}

/// The logged model id of a `models:/m-…` source.
fn logged_model_id(source: &str) -> Option<&str> {
    source
        .strip_prefix("models:/")
        .filter(|id| id.starts_with("m-") && !id.contains('/'))
}

pub async fn create_version(
    State(state): State<AppState>,
    caller: Caller,
    Input(req): Input<VersionIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    let source = required(&req.source, "source")?;
    let model_id = req.model_id.clone().filter(|m| !m.is_empty());
    // MLflow gives a version made from a logged model that model's source run.
    let mut run_id = req.run_id.clone().filter(|r| !r.is_empty());
    // A local source must lie in the artifacts of the logged model or run named with it.
    let owner_root = if sources::is_local(source)? {
        match (model_id.as_deref(), run_id.as_deref()) {
            (Some(id), _) => {
                let m = state.store.get_logged_model(id).await?;
                Some(state.artifact_uri(&m.artifact_location))
            }
            (None, Some(run)) => {
                let r = state.store.get_run(run).await?;
                Some(state.artifact_uri(&r.info.artifact_uri))
            }
            (None, None) => None,
        }
    } else {
        None
    };
    let owner = if model_id.is_some() {
        sources::Owner::LoggedModel
    } else {
        sources::Owner::Run
    };
    sources::check(source, owner, owner_root.as_deref())?;
    if run_id.is_none()
        && let Some(id) = model_id.as_deref()
    {
        run_id = state.store.get_logged_model(id).await?.source_run_id;
    }
    let v = state
        .store
        .create_model_version(&NewModelVersion {
            name: name.to_string(),
            source: source.to_string(),
            source_kind: SourceKind::Uri,
            run_id,
            run_link: req.run_link.clone().unwrap_or_default(),
            description: req.description.clone().unwrap_or_default(),
            tags: tag_pairs(&req.tags)?,
            model_id: model_id.clone(),
            // MLflow's clients do not say who they are here: without tokens, nobody is known.
            user_id: caller.or(""),
        })
        .await?;
    if let Some(id) = model_id.as_deref() {
        record_version_on_logged_model(&state, id, &v.name, v.version).await?;
    }
    Ok(Json(json!({ "model_version": render::model_version(&v) })))
}

/// The tag MLflow's server keeps on a logged model listing the registered versions made
/// from it: `mlflow.modelVersions`, a JSON list written the way Python's `json.dumps` writes
/// it (`[{"name": "m", "version": 1}, ...]`), which the UI and scripts read.
const MODEL_VERSIONS_TAG: &str = "mlflow.modelVersions";

async fn record_version_on_logged_model(
    state: &AppState,
    model_id: &str,
    name: &str,
    version: i64,
) -> ApiResult<()> {
    let model = state.store.get_logged_model(model_id).await?;
    let mut entries: Vec<(String, i64)> = model
        .tags
        .get(MODEL_VERSIONS_TAG)
        .and_then(|t| serde_json::from_str::<Vec<Value>>(t).ok())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            Some((
                e.get("name")?.as_str()?.to_string(),
                e.get("version")?.as_i64()?,
            ))
        })
        .collect();
    entries.push((name.to_string(), version));
    let text = format!(
        "[{}]",
        entries
            .iter()
            .map(|(n, v)| format!("{{\"name\": {}, \"version\": {v}}}", json!(n)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    state
        .store
        .set_logged_model_tags(model_id, &[(MODEL_VERSIONS_TAG.to_string(), text)])
        .await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct TransitionIn {
    #[serde(default, deserialize_with = "string_opt")]
    name: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    version: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    stage: Option<String>,
    #[serde(default)]
    archive_existing_versions: Option<bool>,
}

/// MLflow's deprecated stages, still used by older scripts: moves a version to a stage,
/// optionally archiving the versions already there.
pub async fn transition_stage(
    State(state): State<AppState>,
    Input(req): Input<TransitionIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    let version = version_number(&req.version)?;
    let stage = required(&req.stage, "stage")?;
    let v = state
        .store
        .transition_model_version_stage(
            name,
            version,
            stage,
            req.archive_existing_versions.unwrap_or(false),
        )
        .await?;
    Ok(Json(json!({ "model_version": render::model_version(&v) })))
}

pub async fn get_version(
    State(state): State<AppState>,
    Input(req): Input<VersionIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    version_json(&state, name, version_number(&req.version)?).await
}

pub async fn update_version(
    State(state): State<AppState>,
    Input(req): Input<VersionIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    let version = version_number(&req.version)?;
    if let Some(d) = &req.description {
        state.store.update_model_version(name, version, d).await?;
    }
    version_json(&state, name, version).await
}

pub async fn delete_version(
    State(state): State<AppState>,
    Input(req): Input<VersionIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    state
        .store
        .delete_model_version(name, version_number(&req.version)?)
        .await?;
    Ok(Json(json!({})))
}

pub async fn search_versions(
    State(state): State<AppState>,
    Input(req): Input<SearchIn>,
) -> ApiResult<Json<Value>> {
    if req.max_results.is_some_and(|n| n > 200_000) {
        return Err(ApiError::invalid(format!(
            "Invalid value for request parameter max_results. It must be at most 200000, but got value {}",
            req.max_results.unwrap_or(0)
        )));
    }
    let page = state
        .store
        .search_model_versions(
            req.filter.as_deref().unwrap_or(""),
            &req.order_by,
            max_results(req.max_results, 10_000).or_else(|_| {
                if req.max_results.is_some_and(|n| n > 50_000) {
                    Ok(req.max_results.unwrap_or(0) as usize)
                } else {
                    Err(ApiError::invalid(format!(
                        "Invalid value {} for parameter 'max_results' supplied. It must be a positive integer",
                        req.max_results.unwrap_or(0)
                    )))
                }
            })?,
            req.page_token.as_deref().filter(|t| !t.is_empty()),
        )
        .await?;
    let mut out = json!({
        "model_versions": page.items.iter().map(render::model_version).collect::<Vec<_>>()
    });
    if let Some(t) = page.next_page_token {
        out["next_page_token"] = json!(t);
    }
    Ok(Json(out))
}

pub async fn set_version_tag(
    State(state): State<AppState>,
    Input(req): Input<VersionIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    let version = version_number(&req.version)?;
    let key = required(&req.key, "key")?;
    state
        .store
        .set_model_version_tag(name, version, key, req.value.as_deref().unwrap_or(""))
        .await?;
    Ok(Json(json!({})))
}

pub async fn delete_version_tag(
    State(state): State<AppState>,
    Input(req): Input<VersionIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    let version = version_number(&req.version)?;
    let key = required(&req.key, "key")?;
    state
        .store
        .delete_model_version_tag(name, version, key)
        .await?;
    Ok(Json(json!({})))
}

pub async fn download_uri(
    State(state): State<AppState>,
    Input(req): Input<VersionIn>,
) -> ApiResult<Json<Value>> {
    let name = required(&req.name, "name")?;
    let v = state
        .store
        .get_model_version(name, &VersionRef::Number(version_number(&req.version)?))
        .await?;
    Ok(Json(
        json!({ "artifact_uri": download_location(&state, v).await? }),
    ))
}

/// Where a version's files are: a version made from an MLflow 3 logged model is downloaded
/// from that model's files; a copy (`copy_model_version` gives it the source
/// `models:/<name>/<version>`) from the files of the version it copies, as MLflow's
/// registry resolves it when the copy is made.
async fn download_location(state: &AppState, mut v: whet_track::ModelVersion) -> ApiResult<String> {
    // a chain of copies is followed a few steps, not around a cycle
    for _ in 0..16 {
        if let Some(id) = logged_model_id(&v.source) {
            let m = state.store.get_logged_model(id).await?;
            return Ok(state.artifact_uri(&m.artifact_location));
        }
        match copied_version(&v.source) {
            Some((name, number)) if (name, number) != (v.name.as_str(), v.version) => {
                v = state
                    .store
                    .get_model_version(name, &VersionRef::Number(number))
                    .await?;
            }
            _ => break,
        }
    }
    Ok(render::version_source(&v))
}

/// The registered version a `models:/<name>/<version>` source names.
fn copied_version(source: &str) -> Option<(&str, i64)> {
    let (name, version) = source.strip_prefix("models:/")?.rsplit_once('/')?;
    let number = version.parse().ok()?;
    (!name.is_empty()).then_some((name, number))
}

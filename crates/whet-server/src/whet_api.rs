//! whet's extension API under `/api/2.0/whet/…`: what a whet client (`--store http://…`)
//! needs beside MLflow's REST API, which it uses for everything MLflow's messages can carry.
//! The wire types and paths are `whet_track::remote::api`, shared with the client; records
//! travel as whet-track's own types, so nothing MLflow's shape has no place for is lost (the
//! data fingerprint, version metrics, source kinds, sha256 of artifacts).
//!
//! Roles (`auth::needed_role`): GETs and `POST runs/search` read, other POSTs write, `POST gc`
//! needs admin. Handlers hold no policy: each is one call into the store.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::{Value, json};
use whet_track::remote::api;
use whet_track::{Page, Run, SearchRuns};

use crate::error::{ApiError, ApiResult};
use crate::mlflow::wire::Input;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    let api = Router::new()
        .route(api::INFO, get(info))
        .route(api::RUNS_START, post(start_run))
        .route(api::RUNS_HEARTBEAT, post(heartbeat))
        .route(api::RUNS_REAP, post(reap_expired))
        .route(api::RUNS_RESOLVE, get(resolve_run))
        .route(api::RUNS_GET, get(get_run))
        .route(api::RUNS_SEARCH, post(search_runs))
        .route(api::RUNS_ARTIFACTS, get(run_artifacts))
        .route(api::RUNS_DATASETS, get(run_datasets))
        .route(api::RUNS_LOG_DATASET, post(log_dataset))
        .route(api::VERSIONS_REGISTER, post(register))
        .route(api::VERSIONS_GET, get(get_version))
        .route(api::VERSIONS_LIST, get(list_versions))
        .route(api::MODELS_LIST, get(list_models))
        .route(api::MODELS_ALIAS, post(set_alias))
        .route(api::MODELS_ALIAS_HISTORY, get(alias_history))
        .route(api::STATUS, get(status))
        .route(api::GC, post(gc));
    Router::new().nest(api::PREFIX, api)
}

fn required<'a>(value: &'a str, name: &str) -> ApiResult<&'a str> {
    if value.is_empty() {
        return Err(ApiError::invalid(format!(
            "Missing value for required parameter '{name}'."
        )));
    }
    Ok(value)
}

async fn info(State(state): State<AppState>) -> ApiResult<Json<api::Info>> {
    Ok(Json(api::Info {
        version: env!("CARGO_PKG_VERSION").to_string(),
        schema_version: state.store.schema_version().await?,
        backend: if state.store.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        }
        .to_string(),
        lease_ms: state.store.lease().as_millis() as u64,
    }))
}

async fn start_run(
    State(state): State<AppState>,
    Input(req): Input<api::StartRun>,
) -> ApiResult<Json<api::StartedRun>> {
    let id = state.store.start_run(&req.to_new_run()).await?;
    let run = state.store.get_run(&id).await?;
    Ok(Json(api::StartedRun {
        run_id: id,
        artifact_uri: run.info.artifact_uri,
    }))
}

async fn heartbeat(
    State(state): State<AppState>,
    Input(req): Input<api::RunIds>,
) -> ApiResult<Json<Value>> {
    state.store.renew_leases(&req.run_ids).await?;
    Ok(Json(json!({})))
}

async fn reap_expired(State(state): State<AppState>) -> ApiResult<Json<api::Reaped>> {
    Ok(Json(api::Reaped {
        killed: state.store.reap_expired().await?,
    }))
}

async fn resolve_run(
    State(state): State<AppState>,
    Input(q): Input<api::PrefixQuery>,
) -> ApiResult<Json<api::Resolved>> {
    let prefix = required(&q.prefix, "prefix")?;
    Ok(Json(api::Resolved {
        run_id: state.store.resolve_run_id(prefix).await?,
    }))
}

async fn get_run(
    State(state): State<AppState>,
    Input(q): Input<api::RunQuery>,
) -> ApiResult<Json<api::RunAnswer>> {
    let run = state.store.get_run(required(&q.run_id, "run_id")?).await?;
    Ok(Json(api::RunAnswer { run }))
}

async fn search_runs(
    State(state): State<AppState>,
    Input(req): Input<SearchRuns>,
) -> ApiResult<Json<Page<Run>>> {
    Ok(Json(state.store.search_runs(&req).await?))
}

async fn run_artifacts(
    State(state): State<AppState>,
    Input(q): Input<api::RunQuery>,
) -> ApiResult<Json<api::RunArtifacts>> {
    let run = state.store.get_run(required(&q.run_id, "run_id")?).await?;
    let artifacts = state.store.list_artifacts(&run.info.run_id).await?;
    Ok(Json(api::RunArtifacts {
        artifact_uri: run.info.artifact_uri,
        artifacts,
    }))
}

async fn run_datasets(
    State(state): State<AppState>,
    Input(q): Input<api::RunQuery>,
) -> ApiResult<Json<api::RunDatasets>> {
    let run = required(&q.run_id, "run_id")?;
    // An unknown run is an error, not an empty list.
    state.store.get_run(run).await?;
    Ok(Json(api::RunDatasets {
        datasets: state.store.run_datasets(run).await?,
    }))
}

async fn log_dataset(
    State(state): State<AppState>,
    Input(req): Input<api::LogDataset>,
) -> ApiResult<Json<Value>> {
    state
        .store
        .log_dataset(&req.run_id, &req.dataset, &req.context)
        .await?;
    Ok(Json(json!({})))
}

async fn register(
    State(state): State<AppState>,
    Input(req): Input<api::Register>,
) -> ApiResult<Json<api::Registered>> {
    let metrics: Vec<(String, f64)> = req.metrics.into_iter().collect();
    let version = state
        .store
        .register_model(&req.name, &req.run_id, &req.artifact_path, &metrics)
        .await?;
    Ok(Json(api::Registered { version }))
}

async fn get_version(
    State(state): State<AppState>,
    Input(q): Input<api::VersionQuery>,
) -> ApiResult<Json<api::VersionAnswer>> {
    let name = required(&q.name, "name")?;
    let model_version = state.store.get_model_version(name, &q.which()?).await?;
    Ok(Json(api::VersionAnswer { model_version }))
}

async fn list_versions(
    State(state): State<AppState>,
    Input(q): Input<api::NameQuery>,
) -> ApiResult<Json<api::Versions>> {
    let name = required(&q.name, "name")?;
    Ok(Json(api::Versions {
        model_versions: state.store.model_versions(name, None).await?,
    }))
}

async fn list_models(State(state): State<AppState>) -> ApiResult<Json<api::Models>> {
    Ok(Json(api::Models {
        registered_models: state.store.list_models().await?,
    }))
}

async fn set_alias(
    State(state): State<AppState>,
    Input(req): Input<api::SetAlias>,
) -> ApiResult<Json<Value>> {
    state
        .store
        .set_alias_by(&req.name, &req.alias, req.version, &req.user)
        .await?;
    Ok(Json(json!({})))
}

async fn alias_history(
    State(state): State<AppState>,
    Input(q): Input<api::NameQuery>,
) -> ApiResult<Json<api::AliasHistory>> {
    let name = required(&q.name, "name")?;
    Ok(Json(api::AliasHistory {
        alias_history: state.store.alias_history(name).await?,
    }))
}

async fn gc(State(state): State<AppState>) -> ApiResult<Json<whet_track::GcReport>> {
    Ok(Json(state.store.gc().await?))
}

async fn status(
    State(state): State<AppState>,
    Input(q): Input<api::StatusParams>,
) -> ApiResult<Json<whet_track::status::StatusReport>> {
    Ok(Json(state.store.status(&q.query()?).await?))
}

//! whet's extension API under `/api/2.0/whet/…`: what a whet client (`--store http://…`)
//! needs beside MLflow's REST API, which it uses for everything MLflow's messages can carry.
//! The wire types and paths are `whet_track::remote::api`, shared with the client; records
//! travel as whet-track's own types, so nothing MLflow's shape has no place for is lost (the
//! data fingerprint, version metrics, source kinds, sha256 of artifacts).
//!
//! Roles (`auth::needed_role`): GETs and `POST runs/search` read, other POSTs write, `POST gc`
//! needs admin. Handlers hold no policy: each is one call into the store. The trial queue's
//! handlers too: the store refuses it on SQLite, and its leases, claims and results keep the
//! semantics they have on the database directly (`whet_track`'s `core/queue.rs`).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::{Value, json};
use whet_track::remote::api;
use whet_track::{Completion, Page, QueueCounts, QueueStudy, Run, SearchRuns, TaskState};

use crate::auth::Caller;
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
        .route(api::GC, post(gc))
        .route(api::QUEUE_STUDY_CREATE, post(queue_create_study))
        .route(api::QUEUE_STUDY_GET, get(queue_study))
        .route(api::QUEUE_STUDY_CLOSE, post(queue_close_study))
        .route(api::QUEUE_ENQUEUE, post(queue_enqueue))
        .route(api::QUEUE_CLAIM, post(queue_claim))
        .route(api::QUEUE_HEARTBEAT, post(queue_heartbeat))
        .route(api::QUEUE_COMPLETE, post(queue_complete))
        .route(api::QUEUE_RELEASE, post(queue_release))
        .route(api::QUEUE_TASK, get(queue_task))
        .route(api::QUEUE_CANCEL, post(queue_cancel))
        .route(api::QUEUE_TASKS, get(queue_tasks))
        .route(api::QUEUE_COUNTS, get(queue_counts));
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
    caller: Caller,
    Input(req): Input<api::Register>,
) -> ApiResult<Json<api::Registered>> {
    let metrics: Vec<(String, f64)> = req.metrics.into_iter().collect();
    let version = state
        .store
        .register_model_by(
            &req.name,
            &req.run_id,
            &req.artifact_path,
            &metrics,
            &caller.or(&req.user),
        )
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
    caller: Caller,
    Input(req): Input<api::SetAlias>,
) -> ApiResult<Json<Value>> {
    state
        .store
        .set_alias_by(&req.name, &req.alias, req.version, &caller.or(&req.user))
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

fn lease(ms: u64) -> std::time::Duration {
    std::time::Duration::from_millis(ms)
}

async fn queue_create_study(
    State(state): State<AppState>,
    Input(req): Input<QueueStudy>,
) -> ApiResult<Json<Value>> {
    state.store.queue_create_study(&req).await?;
    Ok(Json(json!({})))
}

async fn queue_study(
    State(state): State<AppState>,
    Input(q): Input<api::StudyId>,
) -> ApiResult<Json<QueueStudy>> {
    let id = required(&q.study_id, "study_id")?;
    Ok(Json(state.store.queue_study(id).await?))
}

async fn queue_close_study(
    State(state): State<AppState>,
    Input(q): Input<api::StudyId>,
) -> ApiResult<Json<Value>> {
    let id = required(&q.study_id, "study_id")?;
    state.store.queue_close_study(id).await?;
    Ok(Json(json!({})))
}

async fn queue_enqueue(
    State(state): State<AppState>,
    Input(req): Input<api::Enqueue>,
) -> ApiResult<Json<api::TaskKeys>> {
    let keys = state
        .store
        .queue_enqueue(&req.study_id, req.experiment_id, &req.tasks)
        .await?;
    Ok(Json(api::TaskKeys { keys }))
}

async fn queue_claim(
    State(state): State<AppState>,
    Input(req): Input<api::Claim>,
) -> ApiResult<Json<api::Claimed>> {
    let (kept, task) = state
        .store
        .queue_claim_next(
            req.done.as_ref(),
            &req.owner,
            req.experiment_id,
            lease(req.lease_ms),
        )
        .await?;
    Ok(Json(api::Claimed { kept, task }))
}

async fn queue_heartbeat(
    State(state): State<AppState>,
    Input(req): Input<api::Lease>,
) -> ApiResult<Json<api::Kept>> {
    let kept = state
        .store
        .queue_heartbeat(req.key, req.attempt, lease(req.lease_ms))
        .await?;
    Ok(Json(api::Kept { kept }))
}

async fn queue_complete(
    State(state): State<AppState>,
    Input(req): Input<Completion>,
) -> ApiResult<Json<api::Kept>> {
    let kept = state
        .store
        .queue_complete(req.key, req.attempt, &req.result)
        .await?;
    Ok(Json(api::Kept { kept }))
}

async fn queue_release(
    State(state): State<AppState>,
    Input(req): Input<api::Release>,
) -> ApiResult<Json<api::Kept>> {
    let kept = state
        .store
        .queue_release(req.key, req.attempt, &req.error)
        .await?;
    Ok(Json(api::Kept { kept }))
}

async fn queue_task(
    State(state): State<AppState>,
    Input(q): Input<api::TaskQuery>,
) -> ApiResult<Json<TaskState>> {
    let key = required(&q.key, "key")?;
    let key: i64 = key
        .parse()
        .map_err(|_| ApiError::invalid(format!("key '{key}' is not a task key (a number)")))?;
    Ok(Json(state.store.queue_task_state(key).await?))
}

async fn queue_cancel(
    State(state): State<AppState>,
    Input(req): Input<api::TaskKeys>,
) -> ApiResult<Json<Value>> {
    state.store.queue_cancel(&req.keys).await?;
    Ok(Json(json!({})))
}

async fn queue_tasks(
    State(state): State<AppState>,
    Input(q): Input<api::StudyId>,
) -> ApiResult<Json<api::Tasks>> {
    let study = Some(q.study_id.as_str()).filter(|s| !s.is_empty());
    Ok(Json(api::Tasks {
        tasks: state.store.queue_tasks(study).await?,
    }))
}

async fn queue_counts(
    State(state): State<AppState>,
    Input(q): Input<api::StudyId>,
) -> ApiResult<Json<QueueCounts>> {
    let study = Some(q.study_id.as_str()).filter(|s| !s.is_empty());
    Ok(Json(state.store.queue_counts(study).await?))
}

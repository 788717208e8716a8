//! MLflow's REST API, as the unchanged `mlflow` client uses it, under `/api/2.0/mlflow/…` and
//! the web UI's `/ajax-api/2.0/mlflow/…` alike. One file per resource; `wire` holds the JSON
//! conventions every handler shares.

mod experiments;
mod logged_models;
mod metrics;
mod registry;
mod render;
mod runs;
mod sources;
pub mod wire;

use axum::Router;
use axum::extract::Request;
use axum::routing::{delete, get, patch, post};
use serde_json::json;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Every MLflow endpoint whet answers, relative to the API prefix.
fn api() -> Router<AppState> {
    Router::new()
        // experiments
        .route("/experiments/create", post(experiments::create))
        .route("/experiments/get", get(experiments::get))
        .route("/experiments/get-by-name", get(experiments::get_by_name))
        .route(
            "/experiments/search",
            post(experiments::search).get(experiments::search),
        )
        .route("/experiments/list", get(experiments::search))
        .route("/experiments/update", post(experiments::update))
        .route("/experiments/delete", post(experiments::delete))
        .route("/experiments/restore", post(experiments::restore))
        .route(
            "/experiments/set-experiment-tag",
            post(experiments::set_tag),
        )
        .route(
            "/experiments/delete-experiment-tag",
            post(experiments::delete_tag),
        )
        // runs
        .route("/runs/create", post(runs::create))
        .route("/runs/get", get(runs::get))
        .route("/runs/update", post(runs::update))
        .route("/runs/delete", post(runs::delete))
        .route("/runs/restore", post(runs::restore))
        .route("/runs/search", post(runs::search).get(runs::search))
        .route("/runs/log-metric", post(runs::log_metric))
        .route("/runs/log-parameter", post(runs::log_param))
        .route("/runs/log-batch", post(runs::log_batch))
        .route("/runs/set-tag", post(runs::set_tag))
        .route("/runs/delete-tag", post(runs::delete_tag))
        .route("/runs/log-inputs", post(runs::log_inputs))
        .route("/runs/outputs", post(runs::log_outputs))
        .route("/runs/log-model", post(runs::log_model_history))
        .route("/metrics/get-history", get(metrics::history))
        .route(
            "/metrics/get-history-bulk-interval",
            get(metrics::history_bulk_interval),
        )
        .route("/artifacts/list", get(crate::artifacts::list_run_artifacts))
        // model registry
        .route("/registered-models/create", post(registry::create_model))
        .route("/registered-models/get", get(registry::get_model))
        .route("/registered-models/rename", post(registry::rename_model))
        .route("/registered-models/update", patch(registry::update_model))
        .route("/registered-models/delete", delete(registry::delete_model))
        .route(
            "/registered-models/search",
            get(registry::search_models).post(registry::search_models),
        )
        .route("/registered-models/set-tag", post(registry::set_model_tag))
        .route(
            "/registered-models/delete-tag",
            delete(registry::delete_model_tag),
        )
        .route(
            "/registered-models/get-latest-versions",
            post(registry::latest_versions).get(registry::latest_versions),
        )
        .route(
            "/registered-models/alias",
            post(registry::set_alias)
                .delete(registry::delete_alias)
                .get(registry::get_by_alias),
        )
        .route("/model-versions/create", post(registry::create_version))
        .route("/model-versions/get", get(registry::get_version))
        .route(
            "/model-versions/transition-stage",
            post(registry::transition_stage),
        )
        .route("/model-versions/update", patch(registry::update_version))
        .route("/model-versions/delete", delete(registry::delete_version))
        .route(
            "/model-versions/search",
            get(registry::search_versions).post(registry::search_versions),
        )
        .route("/model-versions/set-tag", post(registry::set_version_tag))
        .route(
            "/model-versions/delete-tag",
            delete(registry::delete_version_tag),
        )
        .route(
            "/model-versions/get-download-uri",
            get(registry::download_uri),
        )
        // logged models (MLflow 3)
        .route("/logged-models", post(logged_models::create))
        .route("/logged-models/search", post(logged_models::search))
        .route(
            "/logged-models/{model_id}",
            get(logged_models::get)
                .patch(logged_models::finalize)
                .delete(logged_models::delete),
        )
        .route(
            "/logged-models/{model_id}/tags",
            patch(logged_models::set_tags),
        )
        .route(
            "/logged-models/{model_id}/tags/{key}",
            delete(logged_models::delete_tag),
        )
        .route(
            "/logged-models/{model_id}/params",
            post(logged_models::log_params),
        )
        .route(
            "/logged-models/{model_id}/artifacts/directories",
            get(crate::artifacts::list_logged_model_artifacts),
        )
        .route(
            "/logged-models/{model_id}/artifacts/files",
            get(crate::artifacts::logged_model_artifact_file),
        )
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .nest("/api/2.0/mlflow", api())
        .nest("/ajax-api/2.0/mlflow", api())
        .route("/api/3.0/mlflow/server-info", get(server_info))
        .route("/ajax-api/3.0/mlflow/server-info", get(server_info))
}

/// What MLflow 3's client asks before choosing how to store artifacts and logged models.
async fn server_info() -> axum::Json<serde_json::Value> {
    // Multipart and workspaces must read false: true would make the client ask for presigned
    // URLs and send workspace headers, neither of which whet serves.
    axum::Json(json!({
        "store_type": "SqlStore",
        "workspaces_enabled": false,
        "trace_archival_enabled": false,
        "multipart_uploads_enabled": false,
        "multipart_downloads_enabled": false,
        "presigned_upload_run_id_supported": false,
        "presigned_upload_model_id_supported": false,
        "features_enabled": {"gateway": false},
    }))
}

pub async fn unknown_endpoint(req: Request) -> ApiError {
    ApiError::new(
        ErrorCode::EndpointNotFound,
        format!(
            "{} {} is not an endpoint of this server",
            req.method(),
            req.uri().path()
        ),
    )
}

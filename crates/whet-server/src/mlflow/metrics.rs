//! `/metrics/*`: a metric's full history, paged, and sampled histories of several runs.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::experiments::max_results;
use super::render;
use super::wire::{Input, int_opt, list, required, string_opt};
use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct History {
    #[serde(default, deserialize_with = "string_opt")]
    run_id: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    run_uuid: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    metric_key: Option<String>,
    #[serde(default, deserialize_with = "int_opt")]
    max_results: Option<i64>,
    #[serde(default, deserialize_with = "string_opt")]
    page_token: Option<String>,
}

pub async fn history(
    State(state): State<AppState>,
    Input(req): Input<History>,
) -> ApiResult<Json<Value>> {
    let run = match (&req.run_id, &req.run_uuid) {
        (Some(r), _) if !r.is_empty() => r.as_str(),
        (_, uuid) => required(uuid, "run_id")?,
    };
    let key = required(&req.metric_key, "metric_key")?;
    // Without max_results MLflow returns the whole history in one answer.
    let limit = match req.max_results {
        None => usize::MAX,
        n => max_results(n, 25_000)?,
    };
    let page = state
        .store
        .metric_history_page(
            run,
            key,
            limit,
            req.page_token.as_deref().filter(|t| !t.is_empty()),
        )
        .await?;
    let mut out = json!({
        "metrics": page.items.iter().map(render::metric).collect::<Vec<_>>()
    });
    if let Some(t) = page.next_page_token {
        out["next_page_token"] = json!(t);
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
pub struct BulkInterval {
    #[serde(default, deserialize_with = "list")]
    run_ids: Vec<String>,
    #[serde(default, deserialize_with = "string_opt")]
    metric_key: Option<String>,
    #[serde(default, deserialize_with = "int_opt")]
    start_step: Option<i64>,
    #[serde(default, deserialize_with = "int_opt")]
    end_step: Option<i64>,
    #[serde(default, deserialize_with = "int_opt")]
    max_results: Option<i64>,
}

/// The web UI's charts: each run's history of one metric between two steps, evenly sampled
/// down to `max_results` points per run (first and last step always kept).
pub async fn history_bulk_interval(
    State(state): State<AppState>,
    Input(req): Input<BulkInterval>,
) -> ApiResult<Json<Value>> {
    let key = required(&req.metric_key, "metric_key")?;
    let per_run = max_results(req.max_results, 320)?;
    let mut metrics = Vec::new();
    for run in &req.run_ids {
        let history = state.store.metric_history(run, key).await?;
        let mut history = history;
        // Charts run along steps; the store lists points by time.
        history.sort_by(|a, b| {
            a.step
                .cmp(&b.step)
                .then(a.timestamp_ms.cmp(&b.timestamp_ms))
        });
        let in_range: Vec<_> = history
            .into_iter()
            .filter(|m| req.start_step.is_none_or(|s| m.step >= s))
            .filter(|m| req.end_step.is_none_or(|e| m.step <= e))
            .collect();
        let n = in_range.len();
        let keep: Vec<usize> = if n <= per_run {
            (0..n).collect()
        } else {
            let mut idx: Vec<usize> = (0..per_run)
                .map(|i| i * (n - 1) / (per_run - 1).max(1))
                .collect();
            idx.dedup();
            idx
        };
        for i in keep {
            let mut m = render::metric(&in_range[i]);
            m["run_id"] = json!(run);
            metrics.push(m);
        }
    }
    Ok(Json(json!({ "metrics": metrics })))
}

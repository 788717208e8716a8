//! `/runs/*`: create, get, update, delete, restore, search, and logging metrics, params, tags,
//! inputs and outputs.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use whet_track::{Dataset, Metric, ModelMetric, ModelOutput, NewRun, RunStatus, SearchRuns};

use super::experiments::{max_results, tag_pairs, view_type};
use super::render::{self, PARENT_TAG, RUN_NAME_TAG, SOURCE_NAME_TAG, USER_TAG};
use super::wire::{Input, KeyValue, experiment_id, float_opt, int_opt, list, required, string_opt};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// MLflow's limits (mlflow/utils/validation.py): per log-batch request, and per value.
const MAX_METRICS_PER_BATCH: usize = 1000;
const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
const MAX_ENTITIES_PER_BATCH: usize = 1000;
const MAX_KEY_LENGTH: usize = 250;
const MAX_PARAM_VALUE_LENGTH: usize = 6000;
const MAX_TAG_VALUE_LENGTH: usize = 8000;

#[derive(Deserialize)]
pub struct Create {
    #[serde(default, deserialize_with = "string_opt")]
    experiment_id: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    user_id: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    run_name: Option<String>,
    #[serde(default, deserialize_with = "int_opt")]
    start_time: Option<i64>,
    #[serde(default, deserialize_with = "list")]
    tags: Vec<KeyValue>,
}

pub async fn create(
    State(state): State<AppState>,
    Input(req): Input<Create>,
) -> ApiResult<Json<Value>> {
    let experiment = experiment_id(&req.experiment_id, "experiment_id")?;
    let tags = tag_pairs(&req.tags)?
        .into_iter()
        .map(|(k, v)| {
            check_key(&k, "tag")?;
            Ok((k, truncated(v, MAX_TAG_VALUE_LENGTH)))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let tag = |key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let name = req
        .run_name
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| tag(RUN_NAME_TAG))
        .unwrap_or_default();
    let user = req
        .user_id
        .clone()
        .filter(|u| !u.is_empty())
        .or_else(|| tag(USER_TAG))
        .unwrap_or_default();
    let experiment_row = state.store.get_experiment(experiment).await?;
    if experiment_row.lifecycle_stage == "deleted" {
        return Err(ApiError::invalid(format!(
            "The experiment {experiment} must be in the 'active' state. Current state is deleted."
        )));
    }
    let mut parent = tag(PARENT_TAG).filter(|p| !p.is_empty());
    if let Some(p) = &parent
        && state.store.get_run(p).await.is_err()
    {
        // MLflow does not check the parent; keep the tag, skip the link.
        parent = None;
    }
    let new = NewRun {
        experiment,
        name,
        parent,
        user,
        source_command: tag(SOURCE_NAME_TAG).unwrap_or_default(),
        data_fingerprint: None,
        tags: tags.clone(),
        lease: false,
        start_time: req.start_time.filter(|&t| t > 0),
    };
    let id = state.store.start_run(&new).await?;
    let run = state.store.get_run(&id).await?;
    Ok(Json(json!({ "run": render::run(&state, &run) })))
}

#[derive(Deserialize)]
pub struct ById {
    #[serde(default, deserialize_with = "string_opt")]
    run_id: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    run_uuid: Option<String>,
}

impl ById {
    fn id(&self) -> ApiResult<&str> {
        run_id(&self.run_id, &self.run_uuid)
    }
}

/// `run_id`, or the older `run_uuid` the client still sends alongside it.
fn run_id<'a>(run_id: &'a Option<String>, run_uuid: &'a Option<String>) -> ApiResult<&'a str> {
    match (run_id.as_deref(), run_uuid.as_deref()) {
        (Some(id), _) if !id.is_empty() => Ok(id),
        (_, Some(id)) if !id.is_empty() => Ok(id),
        _ => required(&None, "run_id"),
    }
}

pub async fn get(State(state): State<AppState>, Input(req): Input<ById>) -> ApiResult<Json<Value>> {
    let run = state.store.get_run(req.id()?).await?;
    Ok(Json(json!({ "run": render::run(&state, &run) })))
}

#[derive(Deserialize)]
pub struct Update {
    #[serde(default, deserialize_with = "string_opt")]
    run_id: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    run_uuid: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    status: Option<String>,
    #[serde(default, deserialize_with = "int_opt")]
    end_time: Option<i64>,
    #[serde(default, deserialize_with = "string_opt")]
    run_name: Option<String>,
}

pub async fn update(
    State(state): State<AppState>,
    Input(req): Input<Update>,
) -> ApiResult<Json<Value>> {
    let id = run_id(&req.run_id, &req.run_uuid)?;
    let status = match req.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(parse_status(s)?),
    };
    let name = req.run_name.as_deref().filter(|n| !n.is_empty());
    let info = state
        .store
        .update_run(id, status, req.end_time, name)
        .await?;
    if let Some(name) = name {
        state
            .store
            .set_tags(id, &[(RUN_NAME_TAG.to_string(), name.to_string())])
            .await?;
    }
    Ok(Json(json!({ "run_info": render::run_info(&state, &info) })))
}

/// RUNNING, SCHEDULED (treated as RUNNING), FINISHED, FAILED, KILLED, or the enum's numbers.
fn parse_status(s: &str) -> ApiResult<RunStatus> {
    Ok(match s {
        "RUNNING" | "SCHEDULED" | "1" | "5" => RunStatus::Running,
        "FINISHED" | "3" => RunStatus::Finished,
        "FAILED" | "4" => RunStatus::Failed,
        "KILLED" | "2" => RunStatus::Killed,
        other => {
            return Err(ApiError::invalid(format!(
                "Invalid run status '{other}': use RUNNING, SCHEDULED, FINISHED, FAILED or KILLED"
            )));
        }
    })
}

pub async fn delete(
    State(state): State<AppState>,
    Input(req): Input<ById>,
) -> ApiResult<Json<Value>> {
    state.store.delete_run(req.id()?).await?;
    Ok(Json(json!({})))
}

pub async fn restore(
    State(state): State<AppState>,
    Input(req): Input<ById>,
) -> ApiResult<Json<Value>> {
    state.store.restore_run(req.id()?).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct Search {
    #[serde(default, deserialize_with = "list")]
    experiment_ids: Vec<String>,
    #[serde(default, deserialize_with = "string_opt")]
    filter: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    run_view_type: Option<String>,
    #[serde(default, deserialize_with = "int_opt")]
    max_results: Option<i64>,
    #[serde(default, deserialize_with = "list")]
    order_by: Vec<String>,
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
        .map(|e| experiment_id(&Some(e.clone()), "experiment_ids"))
        .collect::<ApiResult<Vec<i64>>>()?;
    let page = state
        .store
        .search_runs(&SearchRuns {
            experiments,
            filter: req.filter.unwrap_or_default(),
            order_by: req.order_by,
            max_results: max_results(req.max_results, 1000)?,
            page_token: req.page_token.filter(|t| !t.is_empty()),
            view: view_type(req.run_view_type.as_deref())?,
        })
        .await?;
    let mut out = json!({
        "runs": page.items.iter().map(|r| render::run(&state, r)).collect::<Vec<_>>()
    });
    if let Some(t) = page.next_page_token {
        out["next_page_token"] = json!(t);
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
pub struct MetricIn {
    #[serde(default, deserialize_with = "string_opt")]
    key: Option<String>,
    #[serde(default, deserialize_with = "float_opt")]
    value: Option<f64>,
    #[serde(default, deserialize_with = "int_opt")]
    timestamp: Option<i64>,
    #[serde(default, deserialize_with = "int_opt")]
    step: Option<i64>,
    #[serde(default, deserialize_with = "string_opt")]
    model_id: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    dataset_name: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    dataset_digest: Option<String>,
}

impl MetricIn {
    fn clone_in(&self) -> MetricIn {
        MetricIn {
            key: self.key.clone(),
            value: self.value,
            timestamp: self.timestamp,
            step: self.step,
            model_id: self.model_id.clone(),
            dataset_name: self.dataset_name.clone(),
            dataset_digest: self.dataset_digest.clone(),
        }
    }

    fn metric(&self) -> ApiResult<Metric> {
        self.metric_at("")
    }

    /// The metric, naming a missing field after where it sits in the request (`prefix`
    /// `metrics[2].` in a batch), as MLflow does.
    fn metric_at(&self, prefix: &str) -> ApiResult<Metric> {
        let key = required(&self.key, &format!("{prefix}key"))?;
        check_key(key, "metric")?;
        let missing = |field: &str| {
            ApiError::invalid(format!(
                "Missing value for required parameter '{prefix}{field}'. See the API docs for more information about request parameters."
            ))
        };
        let value = self.value.ok_or_else(|| missing("value"))?;
        let timestamp = self.timestamp.ok_or_else(|| missing("timestamp"))?;
        Ok(Metric {
            key: key.to_string(),
            value,
            step: self.step.unwrap_or(0),
            timestamp_ms: timestamp,
        })
    }
}

#[derive(Deserialize)]
pub struct LogMetric {
    #[serde(default, deserialize_with = "string_opt")]
    run_id: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    run_uuid: Option<String>,
    #[serde(flatten)]
    metric: MetricIn,
}

pub async fn log_metric(
    State(state): State<AppState>,
    Input(req): Input<LogMetric>,
) -> ApiResult<Json<Value>> {
    let id = run_id(&req.run_id, &req.run_uuid)?;
    log_metrics(&state, id, std::slice::from_ref(&req.metric)).await?;
    Ok(Json(json!({})))
}

/// Logs metrics to a run; those with a `model_id` also belong to that logged model (MLflow 3),
/// written with the run's in one transaction.
async fn log_metrics(state: &AppState, run: &str, metrics: &[MetricIn]) -> ApiResult<()> {
    let mut plain = Vec::new();
    let mut for_models = Vec::new();
    for m in metrics {
        let metric = m.metric()?;
        match m.model_id.as_deref().filter(|id| !id.is_empty()) {
            Some(model) => for_models.push(ModelMetric {
                model_id: model.to_string(),
                metric,
                dataset_name: m.dataset_name.clone().filter(|d| !d.is_empty()),
                dataset_digest: m.dataset_digest.clone().filter(|d| !d.is_empty()),
            }),
            None => plain.push(metric),
        }
    }
    if !plain.is_empty() {
        state.store.log_metrics(run, &plain).await?;
    }
    if !for_models.is_empty() {
        state.store.log_model_metrics(run, &for_models).await?;
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct LogParam {
    #[serde(default, deserialize_with = "string_opt")]
    run_id: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    run_uuid: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    key: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    value: Option<String>,
}

pub async fn log_param(
    State(state): State<AppState>,
    Input(req): Input<LogParam>,
) -> ApiResult<Json<Value>> {
    let id = run_id(&req.run_id, &req.run_uuid)?;
    let key = required(&req.key, "key")?;
    let value = truncated(
        req.value.clone().unwrap_or_default(),
        MAX_PARAM_VALUE_LENGTH,
    );
    check_key(key, "param")?;
    state
        .store
        .log_params(id, &[(key.to_string(), value)])
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct LogBatch {
    #[serde(default, deserialize_with = "string_opt")]
    run_id: Option<String>,
    #[serde(default, deserialize_with = "list")]
    metrics: Vec<MetricIn>,
    #[serde(default, deserialize_with = "list")]
    params: Vec<KeyValue>,
    #[serde(default, deserialize_with = "list")]
    tags: Vec<KeyValue>,
}

pub async fn log_batch(
    State(state): State<AppState>,
    Input(req): Input<LogBatch>,
) -> ApiResult<Json<Value>> {
    let id = required(&req.run_id, "run_id")?;
    let (nm, np, nt) = (req.metrics.len(), req.params.len(), req.tags.len());
    if nm > MAX_METRICS_PER_BATCH {
        return Err(ApiError::invalid(format!(
            "A batch logging request can contain at most {MAX_METRICS_PER_BATCH} metrics. Got {nm} metrics. Please split up metrics across multiple requests and try again."
        )));
    }
    if np > MAX_PARAMS_TAGS_PER_BATCH {
        return Err(ApiError::invalid(format!(
            "A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} params. Got {np} params. Please split up params across multiple requests and try again."
        )));
    }
    if nt > MAX_PARAMS_TAGS_PER_BATCH {
        return Err(ApiError::invalid(format!(
            "A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} tags. Got {nt} tags. Please split up tags across multiple requests and try again."
        )));
    }
    if nm + np + nt > MAX_ENTITIES_PER_BATCH {
        return Err(ApiError::invalid(format!(
            "A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} metrics, params, and tags in total. Got {} in total. Please split up across multiple requests and try again.",
            nm + np + nt
        )));
    }
    // Metrics for logged models go their own way; the rest are written with params and tags.
    for (i, m) in req.metrics.iter().enumerate() {
        m.metric_at(&format!("metrics[{i}]."))?;
    }
    let metrics = req
        .metrics
        .iter()
        .filter(|m| m.model_id.as_deref().is_none_or(str::is_empty))
        .map(MetricIn::metric)
        .collect::<ApiResult<Vec<_>>>()?;
    let model_metrics: Vec<&MetricIn> = req
        .metrics
        .iter()
        .filter(|m| m.model_id.as_deref().is_some_and(|id| !id.is_empty()))
        .collect();
    let params = tag_pairs(&req.params)?
        .into_iter()
        .map(|(k, v)| {
            check_key(&k, "param")?;
            Ok((k, truncated(v, MAX_PARAM_VALUE_LENGTH)))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let mut seen = std::collections::BTreeSet::new();
    let duplicates: Vec<&str> = params
        .iter()
        .filter(|(k, _)| !seen.insert(k.as_str()))
        .map(|(k, _)| k.as_str())
        .collect();
    if !duplicates.is_empty() {
        return Err(ApiError::invalid(format!(
            "Duplicate parameter keys have been submitted: {duplicates:?}. Please ensure the request contains only one param value per param key."
        )));
    }
    let tags = tag_pairs(&req.tags)?
        .into_iter()
        .map(|(k, v)| {
            check_key(&k, "tag")?;
            Ok((k, truncated(v, MAX_TAG_VALUE_LENGTH)))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    state.store.log_batch(id, &metrics, &params, &tags).await?;
    if let Some((_, name)) = tags.iter().find(|(k, _)| k == RUN_NAME_TAG) {
        state.store.update_run(id, None, None, Some(name)).await?;
    }
    if !model_metrics.is_empty() {
        let owned: Vec<MetricIn> = model_metrics.into_iter().map(MetricIn::clone_in).collect();
        log_metrics(&state, id, &owned).await?;
    }
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct SetTag {
    #[serde(default, deserialize_with = "string_opt")]
    run_id: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    run_uuid: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    key: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    value: Option<String>,
}

pub async fn set_tag(
    State(state): State<AppState>,
    Input(req): Input<SetTag>,
) -> ApiResult<Json<Value>> {
    let id = run_id(&req.run_id, &req.run_uuid)?;
    let key = required(&req.key, "key")?;
    let value = truncated(req.value.clone().unwrap_or_default(), MAX_TAG_VALUE_LENGTH);
    check_key(key, "tag")?;
    state
        .store
        .set_tags(id, &[(key.to_string(), value.clone())])
        .await?;
    // Renaming through the tag renames the run, as in MLflow.
    if key == RUN_NAME_TAG {
        state.store.update_run(id, None, None, Some(&value)).await?;
    }
    Ok(Json(json!({})))
}

pub async fn delete_tag(
    State(state): State<AppState>,
    Input(req): Input<SetTag>,
) -> ApiResult<Json<Value>> {
    let id = run_id(&req.run_id, &req.run_uuid)?;
    let key = required(&req.key, "key")?;
    state.store.delete_tag(id, key).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct DatasetIn {
    #[serde(default, deserialize_with = "string_opt")]
    name: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    digest: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    source_type: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    source: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    schema: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    profile: Option<String>,
}

#[derive(Deserialize)]
pub struct DatasetInput {
    #[serde(default, deserialize_with = "list")]
    tags: Vec<KeyValue>,
    dataset: Option<DatasetIn>,
}

#[derive(Deserialize)]
pub struct ModelRef {
    #[serde(default, deserialize_with = "string_opt")]
    model_id: Option<String>,
    #[serde(default, deserialize_with = "int_opt")]
    step: Option<i64>,
}

#[derive(Deserialize)]
pub struct LogInputs {
    #[serde(default, deserialize_with = "string_opt")]
    run_id: Option<String>,
    #[serde(default, deserialize_with = "list")]
    datasets: Vec<DatasetInput>,
    #[serde(default, deserialize_with = "list")]
    models: Vec<ModelRef>,
}

pub async fn log_inputs(
    State(state): State<AppState>,
    Input(req): Input<LogInputs>,
) -> ApiResult<Json<Value>> {
    let id = required(&req.run_id, "run_id")?;
    let mut inputs = Vec::with_capacity(req.datasets.len());
    for input in &req.datasets {
        let d = input
            .dataset
            .as_ref()
            .ok_or_else(|| ApiError::invalid("Missing value for required parameter 'dataset'."))?;
        let name = required(&d.name, "dataset.name")?;
        let digest = required(&d.digest, "dataset.digest")?;
        inputs.push((
            Dataset {
                fingerprint: format!("mlflow:{name}:{digest}"),
                name: name.to_string(),
                digest: digest.to_string(),
                source_type: d.source_type.clone().unwrap_or_default(),
                source: d.source.clone().unwrap_or_default(),
                schema: d.schema.clone().unwrap_or_default(),
                profile: d.profile.clone().unwrap_or_default(),
            },
            tag_pairs(&input.tags)?,
        ));
    }
    let models = req
        .models
        .iter()
        .map(|m| required(&m.model_id, "model_id").map(str::to_string))
        .collect::<ApiResult<Vec<_>>>()?;
    if !inputs.is_empty() || !models.is_empty() {
        state.store.log_inputs(id, &inputs, &models).await?;
    }
    Ok(Json(json!({})))
}

fn model_refs(models: &[ModelRef]) -> ApiResult<Vec<ModelOutput>> {
    models
        .iter()
        .map(|m| {
            Ok(ModelOutput {
                model_id: required(&m.model_id, "model_id")?.to_string(),
                step: m.step.unwrap_or(0),
            })
        })
        .collect()
}

#[derive(Deserialize)]
pub struct LogOutputs {
    #[serde(default, deserialize_with = "string_opt")]
    run_id: Option<String>,
    #[serde(default, deserialize_with = "list")]
    models: Vec<ModelRef>,
}

pub async fn log_outputs(
    State(state): State<AppState>,
    Input(req): Input<LogOutputs>,
) -> ApiResult<Json<Value>> {
    let id = required(&req.run_id, "run_id")?;
    state
        .store
        .log_outputs(id, &model_refs(&req.models)?)
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct LogModelHistory {
    #[serde(default, deserialize_with = "string_opt")]
    run_id: Option<String>,
    #[serde(default, deserialize_with = "string_opt")]
    model_json: Option<String>,
}

/// MLflow 2's `runs/log-model` records a model's metadata in the run's `mlflow.log-model.history`
/// tag; MLflow 3 clients still call it for older flavors.
pub async fn log_model_history(
    State(state): State<AppState>,
    Input(req): Input<LogModelHistory>,
) -> ApiResult<Json<Value>> {
    let id = required(&req.run_id, "run_id")?;
    let model = required(&req.model_json, "model_json")?;
    let entry: Value = serde_json::from_str(model)
        .map_err(|e| ApiError::invalid(format!("model_json is not JSON: {e}")))?;
    let run = state.store.get_run(id).await?;
    let key = "mlflow.log-model.history";
    let mut history: Vec<Value> = run
        .tags
        .get(key)
        .and_then(|h| serde_json::from_str(h).ok())
        .unwrap_or_default();
    history.push(entry);
    let text = serde_json::to_string(&history)
        .map_err(|e| ApiError::invalid(format!("cannot record the model: {e}")))?;
    state.store.set_tags(id, &[(key.to_string(), text)]).await?;
    Ok(Json(json!({})))
}

/// MLflow's name rules: at most 250 characters; letters, digits, `_ - . / space`; not `..` or
/// an absolute path (names become file paths in MLflow's file store).
fn check_key(key: &str, what: &str) -> ApiResult<()> {
    if key.len() > MAX_KEY_LENGTH {
        return Err(ApiError::invalid(format!(
            "'{}' exceeds the maximum length of {MAX_KEY_LENGTH} for a {what} name",
            key.chars().take(40).collect::<String>()
        )));
    }
    let ok_chars = key
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | '/' | ':'));
    let bad_path =
        key.starts_with('/') || key.contains("//") || key.split('/').any(|p| p == ".." || p == ".");
    if key.is_empty() || !ok_chars || bad_path {
        return Err(ApiError::invalid(format!(
            "Invalid {what} name: '{key}'. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/), and may not be '..' or start with '/'."
        )));
    }
    Ok(())
}

/// Values over MLflow's limit are cut to it, as MLflow's server does by default
/// (`MLFLOW_TRUNCATE_LONG_VALUES`), rather than refused.
fn truncated(value: String, max: usize) -> String {
    match value.char_indices().nth(max) {
        Some((cut, _)) => value[..cut].to_string(),
        None => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rules_follow_mlflow() {
        for ok in ["acc", "train/loss", "a b", "m-1.5", "ns:metric"] {
            assert!(check_key(ok, "metric").is_ok(), "{ok}");
        }
        for bad in ["", "/abs", "a/../b", "..", "a\nb", "x$y", "a\\b"] {
            assert!(check_key(bad, "metric").is_err(), "{bad:?}");
        }
        assert!(check_key("a//b", "metric").is_err());
        assert!(check_key(&"k".repeat(251), "param").is_err());
        assert_eq!(
            truncated("é".repeat(6001), MAX_PARAM_VALUE_LENGTH)
                .chars()
                .count(),
            6000
        );
        assert_eq!(truncated("short".into(), 6000), "short");
    }

    #[test]
    fn statuses_by_name_and_number() {
        assert_eq!(parse_status("FINISHED").unwrap(), RunStatus::Finished);
        assert_eq!(parse_status("3").unwrap(), RunStatus::Finished);
        assert_eq!(parse_status("SCHEDULED").unwrap(), RunStatus::Running);
        assert!(parse_status("DONE").is_err());
    }
}

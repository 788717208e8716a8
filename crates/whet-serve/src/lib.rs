//! whet-serve: a model as an HTTP scoring service (`whet serve`).
//!
//! `POST /predict` takes JSON records, JSON columns or CSV and answers predictions (and class
//! probabilities); `POST /invocations` speaks MLflow's scoring protocol and answers as
//! `mlflow models serve` does; `GET /health`, `/ready`, `/metadata`, and `/metrics` in
//! Prometheus' text format. Scoring is the model file's own Prep and predictor, the code
//! `whet predict` runs, so both give the same numbers.
//!
//! The served model sits behind a lock that requests hold only long enough to clone an `Arc`:
//! a watcher (the CLI's, polling the registry when the model was named by alias) hands over a
//! new version, which is checked on a few rows built from its reference profile and swapped
//! in whole; requests in flight finish on the version they started with. A version that fails
//! the check is refused, logged and counted, and the old one keeps serving.
//!
//! With `--drift-window`, checks of the served traffic are handed to a recorder (the CLI's,
//! which writes drift runs to the tracking store) on a thread of its own, rate-limited by
//! the window (see `drift`); a recorder that fails is logged and counted, never waited for.
//!
//! Modules: `input` (request bodies to a table), `explain` (SHAP values per row), `drift`
//! (the window of served rows against the training reference), `metrics` (counters and
//! histograms).
//!
//! **Invariant:** this crate reads no files and no store; it is given models.

pub mod drift;
pub mod explain;
pub mod input;
pub mod metrics;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use whet_data::Task;
use whet_data::reference::Distribution;
use whet_learn::model::Model;
use whet_learn::output::prediction_distributions;

use crate::drift::{DriftWindow, RecordCounts};
use crate::input::{BadInput, Protocol};
use crate::metrics::Metrics;

/// A model ready to serve and what names it.
pub struct ServedModel {
    pub model: Model,
    /// How logs name it: the file, or the registry reference.
    pub label: String,
    pub name: Option<String>,
    pub version: Option<i64>,
    pub alias: Option<String>,
    /// What `?explain=true` explains a linear model against, built once when the model is
    /// loaded (it costs a thousand rows through the Prep) instead of at every request.
    background: explain::Background,
}

impl ServedModel {
    pub fn new(
        model: Model,
        label: String,
        name: Option<String>,
        version: Option<i64>,
        alias: Option<String>,
    ) -> ServedModel {
        let background = explain::Background::of(&model);
        ServedModel {
            model,
            label,
            name,
            version,
            alias,
            background,
        }
    }
}

/// A check of the served traffic to record: its report and the model version it is of.
pub struct DriftRecord {
    pub report: whet_data::drift::DriftReport,
    /// Rows the window holds (`--drift-window`).
    pub window: usize,
    pub label: String,
    pub name: Option<String>,
    pub version: Option<i64>,
}

/// Writes a drift check to the tracking store; answers the run's id, or why it could not.
/// Called on a thread of its own, one check at a time.
pub type DriftRecorder = Box<dyn FnMut(&DriftRecord) -> Result<String, String> + Send>;

/// Asked every poll interval whether the model changed: `Ok(None)` for no change,
/// `Ok(Some(model))` for a new version to check and swap in, `Err` for a version that could not
/// be loaded (the old one keeps serving).
pub type Watcher = Box<dyn FnMut() -> Result<Option<ServedModel>, String> + Send>;

#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub host: IpAddr,
    pub port: u16,
    /// Tokio worker threads (default: one per core).
    pub workers: Option<usize>,
    /// Larger bodies get 413.
    pub max_body_bytes: usize,
    /// Requests with more rows get 413.
    pub max_batch_rows: usize,
    /// How often the watcher is asked.
    pub poll: Duration,
    /// Rows of served traffic compared with the model's training reference (`--drift-window`).
    pub drift_window: Option<usize>,
    /// At most one drift check recorded per this interval (plus one per verdict change).
    pub drift_record_every: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the model cannot be served: {0}")]
    Model(String),
    #[error(
        "cannot listen on {addr}: {source}\nhint: is another server using the port? pick another with --port"
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

struct Shared {
    model: RwLock<Arc<ServedModel>>,
    metrics: Metrics,
    config: ServeConfig,
    drift: Option<Mutex<DriftWindow>>,
    /// Hands checks to the recorder's thread, without waiting.
    recorder: Option<std::sync::mpsc::SyncSender<DriftRecord>>,
    records: Arc<RecordCounts>,
}

type AppState = Arc<Shared>;

/// Scores a few rows made from the model's reference profile (typical values, and a row of
/// missing values): a version that cannot score them, or scores them as NaN, is not served.
pub fn check_model(m: &Model) -> Result<(), String> {
    let mut names = Vec::new();
    let mut values = Vec::new();
    for step in &m.prep.steps {
        let name = step.column();
        let typical = match m.reference.column(name).map(|c| &c.distribution) {
            Some(Distribution::Numeric(n)) => n
                .quantiles
                .iter()
                .find(|q| q.0 == 0.5)
                .map_or(Value::Null, |q| json!(q.1)),
            Some(Distribution::Categorical(c)) => {
                c.levels.first().map_or(Value::Null, |l| json!(l.0))
            }
            None => Value::Null,
        };
        let typical = match step {
            whet_data::prep::Step::Numeric { .. } => typical,
            // The profile holds datetimes as epoch milliseconds; requests send dates as text.
            whet_data::prep::Step::Datetime { .. } => match typical.as_f64() {
                Some(ms) => json!(whet_data::datetime::format_iso(ms as i64)),
                None => Value::Null,
            },
            _ => match typical {
                Value::Number(n) => Value::String(n.to_string()),
                other => other,
            },
        };
        names.push(name.to_string());
        values.push(vec![typical, Value::Null]);
    }
    let cols = input::Columns {
        names,
        values,
        rows: 2,
    };
    let table = input::to_table(&m.prep, &cols).map_err(|e| e.message)?;
    let features = m
        .prep
        .transform(&table)
        .map_err(|e| e.to_string())?
        .features;
    let p = m.predictor.predict(&features);
    if p.n_rows != 2 || p.values.iter().any(|v| !v.is_finite()) {
        return Err(format!(
            "scoring its check rows gave {:?}, not finite predictions",
            p.values
        ));
    }
    Ok(())
}

/// Serves `model` until SIGINT or SIGTERM, then stops accepting connections and finishes the
/// requests in flight. `ready` is called with the bound address.
pub fn run(
    config: ServeConfig,
    model: ServedModel,
    watcher: Option<Watcher>,
    recorder: Option<DriftRecorder>,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    check_model(&model.model).map_err(ServeError::Model)?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = config.workers {
        builder.worker_threads(n.max(1));
    }
    let runtime = builder.enable_all().thread_name("whet-serve").build()?;
    let metrics = Metrics::default();
    metrics.set_prediction_buckets(prediction_buckets(&model.model));
    let recorder = recorder.filter(|_| config.drift_window.is_some());
    let record_every = recorder.as_ref().map(|_| config.drift_record_every);
    let (sender, receiver) = match recorder {
        // One check waiting beside the one being written: more means the store is slow.
        Some(r) => {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            (Some(tx), Some((r, rx)))
        }
        None => (None, None),
    };
    let state: AppState = Arc::new(Shared {
        model: RwLock::new(Arc::new(model)),
        metrics,
        drift: config
            .drift_window
            .map(|n| Mutex::new(DriftWindow::new(n, record_every))),
        recorder: sender,
        records: Arc::default(),
        config: config.clone(),
    });
    if let Some((recorder, rx)) = receiver {
        spawn_recorder(Arc::clone(&state.records), recorder, rx)?;
    }
    runtime.block_on(async move {
        let addr = SocketAddr::new(config.host, config.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let bound = listener.local_addr()?;
        if let Some(w) = watcher {
            tokio::spawn(watch(Arc::clone(&state), w));
        }
        let app = router(Arc::clone(&state));
        ready(bound);
        axum::serve(listener, app)
            .with_graceful_shutdown(whet_http::shutdown_signal())
            .await?;
        tracing::info!("stopped: requests in flight finished");
        Ok(())
    })
}

/// Bucket bounds for the prediction histogram: the reference profile's bin edges of the first
/// output, so the served distribution reads against the training one; deciles of [0, 1] for a
/// model without a profile.
fn prediction_buckets(m: &Model) -> Vec<f64> {
    match m.reference.predictions.first().map(|p| &p.distribution) {
        Some(Distribution::Numeric(n)) if !n.edges.is_empty() => n.edges.clone(),
        _ => (1..10).map(|i| i as f64 / 10.0).collect(),
    }
}

/// Asks the watcher on a thread of its own (it may block on a store, which may run a runtime
/// of its own) and swaps in what it hands over once checked.
async fn watch(state: AppState, mut watcher: Watcher) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<ServedModel, String>>(1);
    let poll = state.config.poll;
    let spawned = std::thread::Builder::new()
        .name("whet-serve-watch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(poll);
                let outcome = match watcher() {
                    Ok(None) => continue,
                    Ok(Some(new)) => match check_model(&new.model) {
                        Ok(()) => Ok(new),
                        Err(e) => Err(format!("refused {}: {e}", new.label)),
                    },
                    Err(e) => Err(e),
                };
                if tx.blocking_send(outcome).is_err() {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the model watcher: {e}; alias tracking is off");
        return;
    }
    while let Some(outcome) = rx.recv().await {
        match outcome {
            Ok(new) => {
                tracing::info!(
                    "now serving {} (version {})",
                    new.label,
                    new.version.map_or("?".into(), |v| v.to_string())
                );
                state
                    .metrics
                    .set_prediction_buckets(prediction_buckets(&new.model));
                match state.model.write() {
                    Ok(mut slot) => *slot = Arc::new(new),
                    Err(p) => *p.into_inner() = Arc::new(new),
                }
                state.metrics.reload(true);
            }
            Err(e) => {
                tracing::error!("{e}; the old version keeps serving");
                state.metrics.reload(false);
            }
        }
    }
}

/// The recorder's thread: a store may block (or run a runtime of its own), so it never runs
/// on the server's workers. It ends when the server's state, holding the sender, is dropped.
fn spawn_recorder(
    counts: Arc<RecordCounts>,
    mut recorder: DriftRecorder,
    rx: std::sync::mpsc::Receiver<DriftRecord>,
) -> Result<(), ServeError> {
    use std::sync::atomic::Ordering;
    std::thread::Builder::new()
        .name("whet-serve-drift-record".into())
        .spawn(move || {
            for record in rx {
                match recorder(&record) {
                    Ok(run) => {
                        counts.ok.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(
                            "recorded the drift check of the last {} rows served ({}) as run {run}",
                            record.report.rows,
                            if record.report.drift { "drift" } else { "no drift" }
                        );
                    }
                    Err(e) => {
                        counts.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(
                            "cannot record the drift check in the tracking store (serving goes on; /metrics and /drift show it): {e}"
                        );
                    }
                }
            }
        })?;
    Ok(())
}

/// Hands a check to the recorder; drops it (counted) when the recorder is still busy.
fn hand_to_recorder(state: &Shared, record: DriftRecord) {
    use std::sync::atomic::Ordering;
    let Some(tx) = &state.recorder else {
        return;
    };
    if tx.try_send(record).is_err() {
        state.records.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            "the drift recorder is busy (slow tracking store?): a check is not recorded"
        );
    }
}

fn current(state: &Shared) -> Arc<ServedModel> {
    match state.model.read() {
        Ok(m) => Arc::clone(&m),
        // A poisoned lock still holds a whole model: swaps replace the Arc in one step.
        Err(p) => Arc::clone(&p.into_inner()),
    }
}

fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/predict", post(predict))
        .route("/invocations", post(invocations))
        .route("/health", get(|| async { "OK" }))
        .route("/ping", get(|| async { "OK" }))
        .route("/ready", get(ready))
        .route("/metadata", get(metadata))
        .route("/metrics", get(metrics_text))
        .route("/drift", get(drift_json))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(whet_http::finish_unread_bodies))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        .with_state(state)
}

/// Counts every request by endpoint and status, with its latency; logs it at debug level.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    let endpoint = match path.as_str() {
        "/predict" | "/invocations" | "/health" | "/ping" | "/ready" | "/metadata" | "/metrics"
        | "/drift" => path.as_str(),
        _ => "other",
    };
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    state.metrics.request(endpoint, status, seconds);
    tracing::debug!(path = %path, status, ms = seconds * 1000.0, "request");
    response
}

fn error_response(e: &BadInput) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut body = json!({
        "error_code": if status == StatusCode::PAYLOAD_TOO_LARGE { "RESOURCE_LIMIT_EXCEEDED" } else { "BAD_REQUEST" },
        "message": e.message,
    });
    if let Some(c) = &e.column {
        body["column"] = json!(c);
    }
    if let Some(r) = e.row {
        body["row"] = json!(r);
    }
    if let Some(v) = &e.value {
        body["value"] = json!(v);
    }
    (status, axum::Json(body)).into_response()
}

#[derive(serde::Deserialize, Default)]
struct PredictQuery {
    #[serde(default)]
    explain: Option<bool>,
}

struct Scored {
    served: Arc<ServedModel>,
    predictions: whet_learn::data::Predictions,
    /// `?explain=true`: the SHAP values of the rows.
    shap: Option<Value>,
    /// With `--drift-window`: the rows' input values as the drift window keeps them.
    drift_inputs: Option<Vec<(String, whet_data::reference::ColumnValues)>>,
}

async fn score(
    state: &AppState,
    headers: &HeaderMap,
    body: Bytes,
    protocol: Protocol,
    explain: bool,
) -> Result<Scored, BadInput> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let served = current(state);
    let max_rows = state.config.max_batch_rows;
    let keep_drift = state.drift.is_some();
    let work = move || -> Result<Scored, BadInput> {
        let cols = input::parse_body(&content_type, &body, protocol)?;
        if cols.rows > max_rows {
            return Err(BadInput {
                status: 413,
                message: format!(
                    "{} rows in one request; this server takes at most {max_rows} (--max-batch-rows)",
                    cols.rows
                ),
                column: None,
                row: None,
                value: None,
            });
        }
        let table = input::to_table(&served.model.prep, &cols)?;
        let features = served
            .model
            .prep
            .transform(&table)
            .map_err(|e| BadInput {
                status: 400,
                message: e.to_string(),
                column: None,
                row: None,
                value: None,
            })?
            .features;
        let predictions = served.model.predictor.predict(&features);
        let shap = if explain {
            Some(
                explain::explain(&served.model, &served.background, &features).map_err(|why| {
                    BadInput {
                        status: 400,
                        message: format!("explain=true is not available for this model: {why}"),
                        column: None,
                        row: None,
                        value: None,
                    }
                })?,
            )
        } else {
            None
        };
        // Values the profile cannot read (it would have refused the table above) only cost
        // the window these rows.
        let drift_inputs = keep_drift
            .then(|| {
                whet_data::drift::input_values(&served.model.reference, &served.model.prep, &table)
                    .ok()
            })
            .flatten();
        Ok(Scored {
            served,
            predictions,
            shap,
            drift_inputs,
        })
    };
    // Small requests are scored on the worker; large ones, and explanations (TreeSHAP costs
    // far more than a prediction), move off it so they do not hold up the small ones queued
    // behind them.
    let scored = if body_is_small(headers) && !explain {
        work()
    } else {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| BadInput {
                status: 500,
                message: format!("scoring failed: {e}"),
                column: None,
                row: None,
                value: None,
            })?
    }?;
    let first = prediction_distributions(
        scored.served.model.metadata.task,
        &scored.served.model.metadata.classes,
        &scored.predictions,
    );
    if let Some((_, v)) = first.first() {
        state.metrics.scored(v.iter().copied());
    }
    let mut scored = scored;
    if let (Some(window), Some(inputs)) = (&state.drift, scored.drift_inputs.take()) {
        observe_drift(state, window, &scored.served, inputs, first);
    }
    Ok(scored)
}

/// Adds scored rows to the drift window and, when a check is due, runs it on a blocking
/// thread. Rows of a version no longer served are not added.
fn observe_drift(
    state: &AppState,
    window: &Mutex<DriftWindow>,
    served: &Arc<ServedModel>,
    inputs: Vec<(String, whet_data::reference::ColumnValues)>,
    predictions: Vec<(String, Vec<f64>)>,
) {
    if !Arc::ptr_eq(served, &current(state)) {
        return;
    }
    let address = Arc::as_ptr(served) as usize;
    let snapshot = match window.lock() {
        Ok(mut w) => w.push(address, &served.model.reference, inputs, predictions),
        Err(_) => return,
    };
    if let Some(snapshot) = snapshot {
        let state = Arc::clone(state);
        let served = Arc::clone(served);
        tokio::task::spawn_blocking(move || {
            let (generation, check) = snapshot.compare();
            let due = match &state.drift {
                Some(window) => match window.lock() {
                    Ok(mut w) => w.finish(generation, check),
                    Err(_) => None,
                },
                None => None,
            };
            if let Some(report) = due {
                hand_to_recorder(
                    &state,
                    DriftRecord {
                        report,
                        window: state.config.drift_window.unwrap_or(0),
                        label: served.label.clone(),
                        name: served.name.clone(),
                        version: served.version,
                    },
                );
            }
        });
    }
}

fn body_is_small(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n <= 16 * 1024)
}

/// Labels (classifiers) or values (regression), one per row.
fn labels(m: &Model, p: &whet_learn::data::Predictions) -> Vec<Value> {
    match m.metadata.task {
        Task::Regression => p.values.iter().map(|v| json!(v)).collect(),
        _ => p
            .classes()
            .into_iter()
            .map(|c| json!(m.metadata.classes.get(c).map_or("", String::as_str)))
            .collect(),
    }
}

/// Per row, each class's probability in `classes` order.
fn probabilities(m: &Model, p: &whet_learn::data::Predictions) -> Vec<Vec<f64>> {
    let k = m.metadata.classes.len();
    (0..p.n_rows)
        .map(|r| {
            if p.n_outputs == 1 {
                let v = p.values[r];
                (0..k)
                    .map(|c| if c + 1 == k { v } else { 1.0 - v })
                    .collect()
            } else {
                p.row(r).to_vec()
            }
        })
        .collect()
}

async fn predict(
    State(state): State<AppState>,
    Query(q): Query<PredictQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let explain = q.explain == Some(true);
    match score(&state, &headers, body, Protocol::Whet, explain).await {
        Ok(s) => {
            let m = &s.served.model;
            let mut out = json!({
                "predictions": labels(m, &s.predictions),
                "model": model_identity(&s.served),
            });
            if m.metadata.task != Task::Regression {
                out["classes"] = json!(m.metadata.classes);
                out["probabilities"] = json!(probabilities(m, &s.predictions));
            }
            if let Some(shap) = s.shap {
                out["shap"] = shap;
            }
            axum::Json(out).into_response()
        }
        Err(e) => error_response(&e),
    }
}

async fn invocations(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match score(&state, &headers, body, Protocol::Mlflow, false).await {
        Ok(s) => axum::Json(json!({ "predictions": labels(&s.served.model, &s.predictions) }))
            .into_response(),
        Err(e) => error_response(&e),
    }
}

fn model_identity(s: &ServedModel) -> Value {
    json!({
        "name": s.name,
        "version": s.version,
        "alias": s.alias,
        "source": s.label,
    })
}

async fn ready(State(state): State<AppState>) -> Response {
    let s = current(&state);
    axum::Json(json!({ "ready": true, "model": model_identity(&s) })).into_response()
}

async fn metadata(State(state): State<AppState>) -> Response {
    let s = current(&state);
    let m = &s.model;
    let inputs: Vec<Value> = m
        .prep
        .steps
        .iter()
        .map(|step| {
            let (kind, categories) = match step {
                whet_data::prep::Step::Numeric { .. } => ("number", None),
                whet_data::prep::Step::Boolean {
                    true_values,
                    false_values,
                    ..
                } => (
                    "boolean",
                    Some(
                        true_values
                            .iter()
                            .chain(false_values)
                            .cloned()
                            .collect::<Vec<_>>(),
                    ),
                ),
                whet_data::prep::Step::Categorical { categories, .. } => {
                    ("category", Some(categories.clone()))
                }
                whet_data::prep::Step::Datetime { .. } => ("datetime", None),
                whet_data::prep::Step::Text { .. } => ("text", None),
            };
            let mut v = json!({ "name": step.column(), "type": kind });
            if let Some(c) = categories {
                v["categories"] = json!(c);
            }
            v
        })
        .collect();
    let output = match m.metadata.task {
        Task::Regression => json!({ "prediction": "number" }),
        _ => json!({ "prediction": "class label", "classes": m.metadata.classes }),
    };
    axum::Json(json!({
        "model": model_identity(&s),
        "task": m.metadata.task,
        "target": m.metadata.target,
        "learner": m.predictor.learner_name(),
        "inputs": inputs,
        "output": output,
        "metrics": m.metadata.metrics,
        "train_rows": m.metadata.train_rows,
        "model_whet_version": m.metadata.whet_version,
        "whet_version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    let s = current(&state);
    let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
    let labels = format!(
        "name=\"{}\",version=\"{}\",alias=\"{}\",source=\"{}\"",
        esc(s.name.as_deref().unwrap_or("")),
        s.version.map_or(String::new(), |v| v.to_string()),
        esc(s.alias.as_deref().unwrap_or("")),
        esc(&s.label)
    );
    let prediction_name = s
        .model
        .reference
        .predictions
        .first()
        .map_or("prediction", |p| p.name.as_str())
        .to_string();
    let mut text = state.metrics.render(&labels, &prediction_name);
    if let Some(window) = &state.drift
        && let Ok(w) = window.lock()
    {
        w.render(&mut text);
    }
    if state.recorder.is_some() {
        state.records.render(&mut text);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn drift_json(State(state): State<AppState>) -> Response {
    match &state.drift {
        Some(window) => match window.lock() {
            Ok(w) => axum::Json(w.to_json(state.recorder.as_ref().map(|_| &*state.records)))
                .into_response(),
            Err(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the drift window is unavailable",
            )
                .into_response(),
        },
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({
                "error_code": "RESOURCE_DOES_NOT_EXIST",
                "message": "drift is not tracked; start the server with --drift-window N",
            })),
        )
            .into_response(),
    }
}

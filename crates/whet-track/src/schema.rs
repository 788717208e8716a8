//! Schema migrations, applied in order when a store is opened.
//!
//! Each migration is one SQL text shared by both back ends; the few type names that differ
//! are written as placeholders and filled in per back end, so the two schemas cannot drift.
//! Applied versions are recorded in `whet_schema`; a store newer than this build is refused.

/// (version, SQL). Never edit a released entry: add a new one.
pub const MIGRATIONS: &[(i64, &str)] = &[(1, V1), (2, V2), (3, V3), (4, V4), (5, V5), (6, V6)];

pub const LATEST: i64 = 6;

const V1: &str = r#"
CREATE TABLE experiments (
    experiment_id {serial},
    name TEXT NOT NULL UNIQUE,
    artifact_location TEXT NOT NULL,
    lifecycle_stage TEXT NOT NULL DEFAULT 'active',
    creation_time BIGINT NOT NULL,
    last_update_time BIGINT NOT NULL
);
CREATE TABLE experiment_tags (
    experiment_id BIGINT NOT NULL REFERENCES experiments(experiment_id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (experiment_id, key)
);
CREATE TABLE runs (
    run_key {serial},
    run_uuid TEXT NOT NULL UNIQUE,
    experiment_id BIGINT NOT NULL REFERENCES experiments(experiment_id),
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time BIGINT NOT NULL,
    end_time BIGINT,
    user_id TEXT NOT NULL,
    source_command TEXT NOT NULL,
    parent_run_uuid TEXT,
    data_fingerprint TEXT,
    artifact_uri TEXT NOT NULL,
    lifecycle_stage TEXT NOT NULL DEFAULT 'active',
    deleted_time BIGINT,
    lease_until BIGINT,
    lease_owner TEXT
);
CREATE INDEX runs_experiment_start ON runs (experiment_id, start_time);
CREATE INDEX runs_parent ON runs (parent_run_uuid);
CREATE INDEX runs_status_lease ON runs (status, lease_until);
CREATE TABLE params (
    run_key BIGINT NOT NULL REFERENCES runs(run_key),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_key, key)
);
CREATE INDEX params_key_value ON params (key, value);
CREATE TABLE tags (
    run_key BIGINT NOT NULL REFERENCES runs(run_key),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_key, key)
);
CREATE INDEX tags_key_value ON tags (key, value);
CREATE TABLE metrics (
    run_key BIGINT NOT NULL,
    key TEXT NOT NULL,
    step BIGINT NOT NULL,
    timestamp BIGINT NOT NULL,
    value {double} NOT NULL,
    is_nan BIGINT NOT NULL
);
CREATE INDEX metrics_run_key_step ON metrics (run_key, key, step);
CREATE TABLE latest_metrics (
    run_key BIGINT NOT NULL REFERENCES runs(run_key),
    key TEXT NOT NULL,
    step BIGINT NOT NULL,
    timestamp BIGINT NOT NULL,
    value {double} NOT NULL,
    is_nan BIGINT NOT NULL,
    PRIMARY KEY (run_key, key)
);
CREATE INDEX latest_metrics_key_value ON latest_metrics (key, value);
CREATE TABLE artifacts (
    run_key BIGINT NOT NULL REFERENCES runs(run_key),
    path TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_time BIGINT NOT NULL,
    PRIMARY KEY (run_key, path)
);
CREATE TABLE datasets (
    dataset_id {serial},
    fingerprint TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    schema_json TEXT NOT NULL,
    profile_json TEXT NOT NULL,
    created_time BIGINT NOT NULL
);
CREATE TABLE run_inputs (
    run_key BIGINT NOT NULL REFERENCES runs(run_key),
    dataset_id BIGINT NOT NULL REFERENCES datasets(dataset_id),
    context TEXT NOT NULL,
    PRIMARY KEY (run_key, dataset_id)
);
CREATE TABLE registered_models (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    creation_time BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL
);
CREATE TABLE model_versions (
    name TEXT NOT NULL REFERENCES registered_models(name),
    version BIGINT NOT NULL,
    run_uuid TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    description TEXT NOT NULL,
    creation_time BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX model_versions_run ON model_versions (run_uuid);
CREATE TABLE model_version_metrics (
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    key TEXT NOT NULL,
    value {double} NOT NULL,
    PRIMARY KEY (name, version, key)
);
CREATE TABLE model_aliases (
    name TEXT NOT NULL REFERENCES registered_models(name),
    alias TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (name, alias)
);
CREATE TABLE model_alias_history (
    id {serial},
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    version BIGINT,
    previous_version BIGINT,
    moved_time BIGINT NOT NULL,
    user_id TEXT NOT NULL
);
CREATE INDEX model_alias_history_name ON model_alias_history (name, alias, id);
"#;

/// What an MLflow-compatible server needs on top of V1: experiment 0, registry and model
/// version tags, version sources that are not whet run artifacts, MLflow dataset identity and
/// input tags, run outputs, MLflow 3 logged models, and access tokens with an audit log.
///
/// Experiment 0 ("Default") is inserted with an explicit id; neither back end's serial moves
/// for it, so ids handed out by `get_or_create_experiment` still start at 1. If a V1 store
/// already has an experiment called "Default", experiment 0 is named "Default (0)" instead
/// (names are unique; MLflow clients find the default experiment by id, not by name).
///
/// `registered_models.last_version` is the highest version number ever given, so that a
/// deleted version's number is never handed out again (MLflow keeps a redacted row for the
/// same reason). `experiments.deleted_time` marks which runs a deleted experiment took with it,
/// so that restoring it restores those runs and not runs deleted on their own before.
const V2: &str = r#"
INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
SELECT 0,
       CASE WHEN EXISTS (SELECT 1 FROM experiments WHERE name = 'Default') THEN 'Default (0)' ELSE 'Default' END,
       '0', 'active', {now}, {now}
WHERE NOT EXISTS (SELECT 1 FROM experiments WHERE experiment_id = 0);
ALTER TABLE experiments ADD COLUMN deleted_time BIGINT;
CREATE INDEX experiments_creation ON experiments (creation_time);
CREATE INDEX runs_experiment_lifecycle ON runs (experiment_id, lifecycle_stage);
CREATE TABLE registered_model_tags (
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (name, key)
);
CREATE INDEX registered_model_tags_key_value ON registered_model_tags (key, value);
CREATE TABLE model_version_tags (
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (name, version, key)
);
ALTER TABLE registered_models ADD COLUMN last_version BIGINT NOT NULL DEFAULT 0;
UPDATE registered_models SET last_version =
    COALESCE((SELECT MAX(v.version) FROM model_versions v WHERE v.name = registered_models.name), 0);
ALTER TABLE model_versions ADD COLUMN source_kind TEXT NOT NULL DEFAULT 'run_artifact';
ALTER TABLE model_versions ADD COLUMN model_id TEXT;
ALTER TABLE model_versions ADD COLUMN run_link TEXT NOT NULL DEFAULT '';
ALTER TABLE model_versions ADD COLUMN status_message TEXT NOT NULL DEFAULT '';
CREATE INDEX model_versions_updated ON model_versions (last_updated_time);
ALTER TABLE datasets ADD COLUMN digest TEXT NOT NULL DEFAULT '';
ALTER TABLE datasets ADD COLUMN source_type TEXT NOT NULL DEFAULT '';
UPDATE datasets SET digest = fingerprint;
ALTER TABLE run_inputs ADD COLUMN tags_json TEXT NOT NULL DEFAULT '[]';
UPDATE run_inputs SET tags_json =
    '[{"key":"mlflow.data.context","value":"' || REPLACE(REPLACE(context, '\', '\\'), '"', '\"') || '"}]'
WHERE context <> '';
CREATE TABLE run_outputs (
    run_key BIGINT NOT NULL REFERENCES runs(run_key),
    model_id TEXT NOT NULL,
    step BIGINT NOT NULL,
    PRIMARY KEY (run_key, model_id, step)
);
CREATE TABLE logged_models (
    model_id TEXT PRIMARY KEY,
    experiment_id BIGINT NOT NULL REFERENCES experiments(experiment_id),
    name TEXT NOT NULL,
    artifact_location TEXT NOT NULL,
    creation_time BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    source_run_uuid TEXT,
    status TEXT NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    model_type TEXT NOT NULL DEFAULT '',
    lifecycle_stage TEXT NOT NULL DEFAULT 'active'
);
CREATE INDEX logged_models_experiment ON logged_models (experiment_id, creation_time);
CREATE TABLE logged_model_tags (
    model_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);
CREATE TABLE logged_model_params (
    model_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);
CREATE TABLE logged_model_metrics (
    model_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value {double} NOT NULL,
    is_nan BIGINT NOT NULL,
    step BIGINT NOT NULL,
    timestamp BIGINT NOT NULL,
    run_uuid TEXT,
    dataset_name TEXT,
    dataset_digest TEXT
);
CREATE INDEX logged_model_metrics_model_key ON logged_model_metrics (model_id, key, timestamp);
CREATE TABLE tokens (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_time BIGINT NOT NULL,
    last_used_time BIGINT,
    revoked_time BIGINT
);
CREATE TABLE audit_log (
    id {serial},
    time BIGINT NOT NULL,
    token_name TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status BIGINT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (time);
"#;

/// MLflow's rules that V2 did not keep: identical metric points are stored once, and model
/// versions have a stage.
///
/// `metrics` is rebuilt without duplicate points (same run, key, step, timestamp, value and
/// NaN flag; NaN is stored as 0 with `is_nan` set, so equality is plain on both back ends) under
/// a unique index, which inserts skip conflicts on. The index leads with (run_key, key,
/// timestamp, step, value): MLflow's history order, so it replaces the old (run_key, key,
/// step) index. `model_versions.current_stage` is MLflow's deprecated stage, "None" until a
/// version is transitioned.
const V3: &str = r#"
CREATE TABLE metrics_v3 (
    run_key BIGINT NOT NULL,
    key TEXT NOT NULL,
    step BIGINT NOT NULL,
    timestamp BIGINT NOT NULL,
    value {double} NOT NULL,
    is_nan BIGINT NOT NULL
);
INSERT INTO metrics_v3 (run_key, key, step, timestamp, value, is_nan)
SELECT DISTINCT run_key, key, step, timestamp, value, is_nan FROM metrics;
DROP TABLE metrics;
ALTER TABLE metrics_v3 RENAME TO metrics;
CREATE UNIQUE INDEX metrics_point ON metrics (run_key, key, timestamp, step, value, is_nan);
ALTER TABLE model_versions ADD COLUMN current_stage TEXT NOT NULL DEFAULT 'None';
CREATE INDEX model_versions_stage ON model_versions (name, current_stage, version);
"#;

/// The trial queue of distributed studies (`whet train --workers remote`, `whet worker`; see
/// `core/queue.rs`). Created on both back ends so the schemas stay one, used on PostgreSQL only.
///
/// `trial_queue_studies`: one row per distributed study, with the recipe a worker prepares the
/// data by and the sha256 of the data it prepares. `trial_queue_data`: the training data as
/// Parquet, once per content (workers need only the database, not the submitter's artifact
/// folder). `trial_queue`: one task per (trial, fold); `attempts` counts claims and is the
/// lease token a result must carry, so a result from a claim whose lease ran out is ignored.
const V4: &str = r#"
CREATE TABLE trial_queue_studies (
    study_id TEXT PRIMARY KEY,
    experiment_id BIGINT NOT NULL REFERENCES experiments(experiment_id),
    run_uuid TEXT NOT NULL,
    recipe TEXT NOT NULL,
    data_sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    created_time BIGINT NOT NULL
);
CREATE TABLE trial_queue_data (
    sha256 TEXT PRIMARY KEY,
    bytes {blob} NOT NULL,
    size BIGINT NOT NULL,
    created_time BIGINT NOT NULL
);
CREATE TABLE trial_queue (
    task_key {serial},
    study_id TEXT NOT NULL REFERENCES trial_queue_studies(study_id),
    experiment_id BIGINT NOT NULL,
    trial BIGINT NOT NULL,
    fold BIGINT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    result {blob},
    result_owner TEXT,
    created_time BIGINT NOT NULL,
    finished_time BIGINT
);
CREATE INDEX trial_queue_state ON trial_queue (state, task_key);
CREATE INDEX trial_queue_study ON trial_queue (study_id, trial, fold);
"#;

/// MLflow 3's model inputs: the logged models a run used (e.g. an evaluation run of a model),
/// once per model, listed in the order they were first logged.
const V5: &str = r#"
CREATE TABLE run_model_inputs (
    run_key BIGINT NOT NULL REFERENCES runs(run_key),
    model_id TEXT NOT NULL,
    created_time BIGINT NOT NULL,
    PRIMARY KEY (run_key, model_id)
);
"#;

/// Who registered each model version: the token name on a server that requires tokens, the
/// name a whet client sends, or the local user; empty when nobody is known (an MLflow client
/// on a server without tokens, and every version registered before this migration).
const V6: &str = r#"
ALTER TABLE model_versions ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
"#;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The migration's statements for one back end; `{now}` is the time of applying it (ms).
pub fn statements(sql: &str, backend: Backend, now: i64) -> Vec<String> {
    let (serial, double, blob) = match backend {
        // INTEGER PRIMARY KEY makes the column SQLite's rowid: no extra index.
        Backend::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL", "BLOB"),
        Backend::Postgres => ("BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION", "BYTEA"),
    };
    sql.replace("{serial}", serial)
        .replace("{double}", double)
        .replace("{blob}", blob)
        .replace("{now}", &now.to_string())
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

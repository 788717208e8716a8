//! Schema migrations, applied in order when a store is opened.
//!
//! Each migration is one SQL text shared by both back ends; the few type names that differ
//! are written as placeholders and filled in per back end, so the two schemas cannot drift.
//! Applied versions are recorded in `whet_schema`; a store newer than this build is refused.

/// (version, SQL). Never edit a released entry: add a new one.
pub const MIGRATIONS: &[(i64, &str)] = &[(1, V1)];

pub const LATEST: i64 = 1;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The migration's statements for one back end.
pub fn statements(sql: &str, backend: Backend) -> Vec<String> {
    let (serial, double) = match backend {
        // INTEGER PRIMARY KEY makes the column SQLite's rowid: no extra index.
        Backend::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL"),
        Backend::Postgres => ("BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION"),
    };
    sql.replace("{serial}", serial)
        .replace("{double}", double)
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

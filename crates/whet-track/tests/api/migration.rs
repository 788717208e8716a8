//! A store written by a build that knew only schema V1 (or V2) opens with the later
//! migrations applied and its data intact.

use whet_track::*;

use crate::common::{Api, postgres_spec, say_skipped, sqlite_spec};

/// What a V1 build wrote: two experiments (one of them named "Default"), a run with a param,
/// metrics and an artifact, a dataset used in a context with a quote in it, and a registered
/// model with a version and an alias.
const V1_DATA: &[&str] = &[
    "INSERT INTO experiments (name, artifact_location, creation_time, last_update_time) VALUES ('churn', '1', 100, 100)",
    "INSERT INTO experiments (name, artifact_location, creation_time, last_update_time) VALUES ('Default', '2', 200, 200)",
    "INSERT INTO runs (run_uuid, experiment_id, name, status, start_time, end_time, user_id, source_command, artifact_uri) \
     VALUES ('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 1, 'study', 'FINISHED', 300, 400, 'ann', 'whet train', '1/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/artifacts')",
    "INSERT INTO params (run_key, key, value) SELECT run_key, 'lr', '0.1' FROM runs",
    "INSERT INTO metrics (run_key, key, step, timestamp, value, is_nan) SELECT run_key, 'auc', 0, 310, 0.8, 0 FROM runs",
    "INSERT INTO metrics (run_key, key, step, timestamp, value, is_nan) SELECT run_key, 'auc', 1, 320, 0.9, 0 FROM runs",
    "INSERT INTO latest_metrics (run_key, key, step, timestamp, value, is_nan) SELECT run_key, 'auc', 1, 320, 0.9, 0 FROM runs",
    "INSERT INTO artifacts (run_key, path, size, sha256, created_time) SELECT run_key, 'model.whet', 3, 'abc', 330 FROM runs",
    "INSERT INTO datasets (fingerprint, name, source, schema_json, profile_json, created_time) VALUES ('fp1', 'churn.csv', 'data/churn.csv', '{}', '{}', 290)",
    "INSERT INTO run_inputs (run_key, dataset_id, context) SELECT r.run_key, d.dataset_id, 'train \"a\\b' FROM runs r, datasets d",
    "INSERT INTO registered_models (name, description, creation_time, last_updated_time) VALUES ('churn', 'first', 500, 500)",
    "INSERT INTO model_versions (name, version, run_uuid, source, status, description, creation_time, last_updated_time) \
     VALUES ('churn', 1, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'model.whet', 'READY', '', 500, 500)",
    "INSERT INTO model_aliases (name, alias, version) VALUES ('churn', 'champion', 1)",
];

const RUN: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn upgrade(spec: String, dir: std::path::PathBuf) {
    testing::create_at_version(&spec, 1).unwrap();
    testing::execute(&spec, V1_DATA).unwrap();
    let a = Api::open(spec, dir);
    check(&a);
}

fn check(a: &Api) {
    assert_eq!(a.run(a.s.schema_version()).unwrap(), SCHEMA_VERSION);
    // Experiment 0 exists; the name "Default" was taken, so it gets another.
    let zero = a.run(a.s.get_experiment(0)).unwrap();
    assert_eq!(zero.name, "Default (0)");
    assert_eq!(zero.artifact_location, "0");
    let ids: Vec<i64> = a
        .run(a.s.list_experiments())
        .unwrap()
        .iter()
        .map(|e| e.experiment_id)
        .collect();
    assert_eq!(ids, [0, 1, 2]);
    assert_eq!(a.run(a.s.get_or_create_experiment("new")).unwrap(), 3);
    // The run and its data are as they were.
    let r = a.run(a.s.get_run(RUN)).unwrap();
    assert_eq!(r.info.run_name, "study");
    assert_eq!(r.info.status, RunStatus::Finished);
    assert_eq!(r.params["lr"], "0.1");
    assert_eq!(r.metrics["auc"].value, 0.9);
    assert_eq!(a.run(a.s.metric_history(RUN, "auc")).unwrap().len(), 2);
    assert_eq!(
        a.run(a.s.list_artifacts(RUN)).unwrap()[0].path,
        "model.whet"
    );
    // The old context became the input's tag, quotes and backslashes intact, and the
    // dataset's digest is its fingerprint.
    let context = "train \"a\\b".to_string();
    assert_eq!(
        r.inputs,
        vec![(
            Dataset {
                fingerprint: "fp1".into(),
                name: "churn.csv".into(),
                digest: "fp1".into(),
                source_type: String::new(),
                source: "data/churn.csv".into(),
                schema: "{}".into(),
                profile: "{}".into(),
            },
            vec![(DATASET_CONTEXT_TAG.to_string(), context.clone())]
        )]
    );
    assert_eq!(a.run(a.s.run_datasets(RUN)).unwrap()[0].1, context);
    // The registry: the version is a run artifact, and the next version number follows it.
    let v = a
        .run(a.s.get_model_version("churn", &VersionRef::Alias("champion".into())))
        .unwrap();
    assert_eq!(
        (v.version, v.run_id.as_str(), v.source.as_str()),
        (1, RUN, "model.whet")
    );
    // Who registered it was not recorded before schema 6: nobody is named.
    assert_eq!(v.user_id, "");
    assert_eq!(
        a.run(a.s.register_model("churn", RUN, "model.whet", &[]))
            .unwrap(),
        2
    );
    assert_eq!(
        a.run(a.s.get_model_version("churn", &VersionRef::Latest))
            .unwrap()
            .version,
        2
    );
}

#[test]
fn v1_store_upgrades_sqlite() {
    let (spec, dir) = sqlite_spec("v1-upgrade");
    upgrade(spec, dir);
}

#[test]
fn v1_store_upgrades_postgres() {
    match postgres_spec("v1-upgrade") {
        Some((spec, dir)) => upgrade(spec, dir),
        None => say_skipped("v1_store_upgrades_postgres"),
    }
}

/// What a V2 build wrote that V3 changes: a metric point stored twice (V2 appended identical
/// points; so did it NaN points), and model versions without a stage.
const V2_DATA: &[&str] = &[
    "INSERT INTO experiments (name, artifact_location, creation_time, last_update_time) VALUES ('churn', '1', 100, 100)",
    "INSERT INTO runs (run_uuid, experiment_id, name, status, start_time, end_time, user_id, source_command, artifact_uri) \
     VALUES ('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 1, 'study', 'FINISHED', 300, 400, 'ann', '', '1/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/artifacts')",
    "INSERT INTO metrics (run_key, key, step, timestamp, value, is_nan) SELECT run_key, 'auc', 1, 320, 0.9, 0 FROM runs",
    "INSERT INTO metrics (run_key, key, step, timestamp, value, is_nan) SELECT run_key, 'auc', 1, 320, 0.9, 0 FROM runs",
    "INSERT INTO metrics (run_key, key, step, timestamp, value, is_nan) SELECT run_key, 'auc', 0, 310, 0.8, 0 FROM runs",
    "INSERT INTO metrics (run_key, key, step, timestamp, value, is_nan) SELECT run_key, 'auc', 1, 320, 0, 1 FROM runs",
    "INSERT INTO metrics (run_key, key, step, timestamp, value, is_nan) SELECT run_key, 'auc', 1, 320, 0, 1 FROM runs",
    "INSERT INTO latest_metrics (run_key, key, step, timestamp, value, is_nan) SELECT run_key, 'auc', 1, 320, 0.9, 0 FROM runs",
    "INSERT INTO registered_models (name, description, creation_time, last_updated_time, last_version) VALUES ('churn', '', 500, 500, 2)",
    "INSERT INTO model_versions (name, version, run_uuid, source, status, description, creation_time, last_updated_time, source_kind) \
     VALUES ('churn', 1, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'runs:/a/model', 'READY', '', 500, 500, 'uri')",
    "INSERT INTO model_versions (name, version, run_uuid, source, status, description, creation_time, last_updated_time, source_kind) \
     VALUES ('churn', 2, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'runs:/a/model', 'READY', '', 600, 600, 'uri')",
];

fn upgrade_v2(spec: String, dir: std::path::PathBuf) {
    testing::create_at_version(&spec, 2).unwrap();
    testing::execute(&spec, V2_DATA).unwrap();
    let a = Api::open(spec, dir);
    assert_eq!(a.run(a.s.schema_version()).unwrap(), SCHEMA_VERSION);
    // Each point once, in MLflow's order (timestamp, step, value; NaN is stored as 0).
    let points = |a: &Api| -> Vec<(i64, i64, String)> {
        a.run(a.s.metric_history(RUN, "auc"))
            .unwrap()
            .iter()
            .map(|m| (m.timestamp_ms, m.step, m.value.to_string()))
            .collect()
    };
    let expected = [
        (310, 0, "0.8".to_string()),
        (320, 1, "NaN".to_string()),
        (320, 1, "0.9".to_string()),
    ];
    assert_eq!(points(&a), expected);
    // The unique index holds from now on: the same points again add nothing.
    let again = [
        Metric {
            key: "auc".into(),
            value: 0.9,
            step: 1,
            timestamp_ms: 320,
        },
        Metric {
            key: "auc".into(),
            value: f64::NAN,
            step: 1,
            timestamp_ms: 320,
        },
    ];
    a.run(a.s.log_metrics(RUN, &again)).unwrap();
    assert_eq!(points(&a), expected);
    assert_eq!(a.run(a.s.get_run(RUN)).unwrap().metrics["auc"].value, 0.9);
    // Existing versions are in stage None; the latest per stage is the highest.
    let versions = a.run(a.s.model_versions("churn", None)).unwrap();
    assert!(versions.iter().all(|v| v.current_stage == Stage::None));
    let latest = a.run(a.s.latest_versions("churn")).unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].version, 2);
    let v = a
        .run(a.s.transition_model_version_stage("churn", 1, "production", false))
        .unwrap();
    assert_eq!(v.current_stage, Stage::Production);
}

#[test]
fn v2_store_upgrades_sqlite() {
    let (spec, dir) = sqlite_spec("v2-upgrade");
    upgrade_v2(spec, dir);
}

#[test]
fn v2_store_upgrades_postgres() {
    match postgres_spec("v2-upgrade") {
        Some((spec, dir)) => upgrade_v2(spec, dir),
        None => say_skipped("v2_store_upgrades_postgres"),
    }
}

//! One suite for both back ends: every test runs on SQLite, and on PostgreSQL when
//! WHET_TEST_POSTGRES_URL is set (each test in a fresh schema).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use whet_track::*;

struct Ctx {
    spec: String,
    dir: PathBuf,
}

impl Ctx {
    fn open(&self) -> Store {
        self.open_lease(DEFAULT_LEASE)
    }

    fn open_lease(&self, lease: Duration) -> Store {
        Store::open_with(
            &self.spec,
            OpenOptions {
                artifact_root: Some(self.dir.join("artifacts")),
                lease,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("open {}: {e}", self.spec))
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "whet-track-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sqlite(name: &str) -> Ctx {
    let dir = temp_dir(name);
    Ctx {
        spec: dir.join("whet.db").display().to_string(),
        dir,
    }
}

fn postgres(name: &str) -> Option<Ctx> {
    let base = std::env::var("WHET_TEST_POSTGRES_URL").ok()?;
    let spec = testing::fresh_postgres_schema(&base).expect("create test schema");
    Some(Ctx {
        spec,
        dir: temp_dir(name),
    })
}

/// Written past libtest's capture so that the skip shows in a passing run's output.
fn say_skipped(test: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {test} (WHET_TEST_POSTGRES_URL not set)"
    );
}

/// Defines `NAME::sqlite` and `NAME::postgres` running `body` on each back end.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[test]
            fn sqlite() {
                let ctx = super::sqlite(stringify!($name));
                ($body)(&ctx);
            }
            #[test]
            fn postgres() {
                match super::postgres(stringify!($name)) {
                    Some(ctx) => ($body)(&ctx),
                    None => super::say_skipped(concat!(stringify!($name), "::postgres")),
                }
            }
        }
    };
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn new_run(exp: ExperimentId, name: &str) -> NewRun {
    NewRun {
        experiment: exp,
        name: name.into(),
        user: "tester".into(),
        source_command: "whet test".into(),
        ..Default::default()
    }
}

both!(migrations_on_open, |ctx: &super::Ctx| {
    let s = ctx.open();
    assert_eq!(s.schema_version().unwrap(), whet_track::SCHEMA_VERSION);
    let exp = s.get_or_create_experiment("a").unwrap();
    drop(s);
    // Reopening applies nothing twice and keeps the data.
    let s = ctx.open();
    assert_eq!(s.schema_version().unwrap(), whet_track::SCHEMA_VERSION);
    assert_eq!(s.get_or_create_experiment("a").unwrap(), exp);
    // "a" and the Default experiment 0 every store has.
    assert_eq!(s.list_experiments().unwrap().len(), 2);
});

both!(log_batch_and_end_is_one_write, |ctx: &super::Ctx| {
    use whet_track::*;
    let s = ctx.open();
    let exp = s.get_or_create_experiment("batch").unwrap();
    let run = s.start_run(&super::new_run(exp, "trial 1")).unwrap();
    // A tag given twice keeps its last value; the run-name tag renames the run; 250 tags
    // take two statements.
    let mut tags = super::kv(&[("a", "1"), ("a", "2"), (RUN_NAME_TAG, "renamed")]);
    tags.extend((0..250).map(|i| (format!("t{i}"), i.to_string())));
    let params = super::kv(&[("learner", "gbdt")]);
    let metrics = [Metric {
        key: "cv_auc".into(),
        value: 0.9,
        step: 0,
        timestamp_ms: 1,
    }];
    s.log_batch_and_end(&run, &params, &metrics, &tags, RunStatus::Finished)
        .unwrap();
    let r = s.get_run(&run).unwrap();
    assert_eq!(r.info.status, RunStatus::Finished);
    assert!(r.info.end_time.is_some());
    assert_eq!(r.info.run_name, "renamed");
    assert_eq!(r.tags.get("a").map(String::as_str), Some("2"));
    assert_eq!(r.tags.get("t249").map(String::as_str), Some("249"));
    assert_eq!(r.params.get("learner").map(String::as_str), Some("gbdt"));
    assert_eq!(r.metrics.get("cv_auc").map(|m| m.value), Some(0.9));
    // An invalid key fails the whole write: the run stays RUNNING, with nothing logged.
    let other = s.start_run(&super::new_run(exp, "trial 2")).unwrap();
    let bad = super::kv(&[("ok", "1"), ("", "no key")]);
    assert!(
        s.log_batch_and_end(&other, &[], &[], &bad, RunStatus::Finished)
            .is_err()
    );
    let r = s.get_run(&other).unwrap();
    assert_eq!(r.info.status, RunStatus::Running);
    assert!(!r.tags.contains_key("ok"));
});

both!(run_lifecycle, |ctx: &super::Ctx| {
    use whet_track::*;
    let s = ctx.open();
    let exp = s.get_or_create_experiment("churn").unwrap();
    let parent = s
        .start_run(&NewRun {
            data_fingerprint: Some("fp1".into()),
            tags: super::kv(&[("team", "x")]),
            ..super::new_run(exp, "study")
        })
        .unwrap();
    assert_eq!(parent.len(), 32);
    assert!(parent.chars().all(|c| c.is_ascii_hexdigit()));
    let child = s
        .start_run(&NewRun {
            parent: Some(parent.clone()),
            ..super::new_run(exp, "trial 1")
        })
        .unwrap();
    let r = s.get_run(&parent).unwrap();
    assert_eq!(r.info.status, RunStatus::Running);
    assert_eq!(r.info.run_name, "study");
    assert_eq!(r.info.user_id, "tester");
    assert_eq!(r.info.source_command, "whet test");
    assert_eq!(r.info.data_fingerprint.as_deref(), Some("fp1"));
    assert_eq!(r.info.end_time, None);
    assert_eq!(r.info.lifecycle_stage, "active");
    assert_eq!(r.info.artifact_uri, format!("{exp}/{parent}/artifacts"));
    assert_eq!(r.tags.get("team").map(String::as_str), Some("x"));
    s.set_tags(&parent, &super::kv(&[("team", "y"), ("note", "n")]))
        .unwrap();
    s.end_run(&child, RunStatus::Failed).unwrap();
    s.end_run(&parent, RunStatus::Finished).unwrap();
    let r = s.get_run(&parent).unwrap();
    assert_eq!(r.info.status, RunStatus::Finished);
    assert!(r.info.end_time.unwrap() >= r.info.start_time);
    assert_eq!(r.tags.get("team").map(String::as_str), Some("y"));
    let c = s.get_run(&child).unwrap();
    assert_eq!(c.info.parent_run_id.as_deref(), Some(parent.as_str()));
    assert_eq!(c.info.status, RunStatus::Failed);
    assert_eq!(s.resolve_run_id(&child[..10]).unwrap(), child);
    // Unknown things are errors that say what was missing.
    let e = s.get_run("0123456789abcdef0123456789abcdef").unwrap_err();
    assert!(e.to_string().contains("not found"), "{e}");
    let e = s
        .start_run(&NewRun {
            parent: Some("ffffffffffffffffffffffffffffffff".into()),
            ..super::new_run(exp, "orphan")
        })
        .unwrap_err();
    assert!(e.to_string().contains("parent run"), "{e}");
    // Soft delete hides a run from searches until restored.
    s.delete_run(&child).unwrap();
    let all = s.search_runs(&SearchRuns::default()).unwrap();
    assert_eq!(all.items.len(), 1);
    s.restore_run(&child).unwrap();
    assert_eq!(
        s.search_runs(&SearchRuns::default()).unwrap().items.len(),
        2
    );
});

both!(params_are_immutable, |ctx: &super::Ctx| {
    let s = ctx.open();
    let exp = s.get_or_create_experiment("e").unwrap();
    let run = s.start_run(&super::new_run(exp, "r")).unwrap();
    s.log_params(&run, &super::kv(&[("lr", "0.1"), ("leaves", "31")]))
        .unwrap();
    // The same value again is fine (retries are idempotent).
    s.log_params(&run, &super::kv(&[("lr", "0.1")])).unwrap();
    let e = s
        .log_params(&run, &super::kv(&[("depth", "6"), ("lr", "0.2")]))
        .unwrap_err();
    assert!(matches!(e, whet_track::Error::ParamConflict { .. }), "{e}");
    assert!(
        e.to_string().contains("'lr'") && e.to_string().contains("0.1"),
        "{e}"
    );
    // The failed batch wrote nothing.
    let r = s.get_run(&run).unwrap();
    assert_eq!(r.params.len(), 2);
    assert_eq!(r.params["lr"], "0.1");
    // Conflicts inside one batch are caught too.
    let e = s
        .log_params(&run, &super::kv(&[("x", "1"), ("x", "2")]))
        .unwrap_err();
    assert!(matches!(e, whet_track::Error::ParamConflict { .. }), "{e}");
});

both!(metric_history_and_latest, |ctx: &super::Ctx| {
    use whet_track::Metric;
    let s = ctx.open();
    let exp = s.get_or_create_experiment("e").unwrap();
    let run = s.start_run(&super::new_run(exp, "r")).unwrap();
    let m = |k: &str, v: f64, step: i64, ts: i64| Metric {
        key: k.into(),
        value: v,
        step,
        timestamp_ms: ts,
    };
    s.log_metrics(&run, &[m("loss", 0.9, 0, 1000), m("loss", 0.5, 2, 1002)])
        .unwrap();
    // An older step logged later must not replace the latest value.
    s.log_metrics(
        &run,
        &[m("loss", 0.7, 1, 1003), m("auc", f64::NAN, 0, 1003)],
    )
    .unwrap();
    s.log_metrics(
        &run,
        &[m("auc", 0.8, 1, 1004), m("auc", f64::INFINITY, 1, 1004)],
    )
    .unwrap();
    // History comes in MLflow's order: by timestamp, then step, then value.
    let h = s.metric_history(&run, "loss").unwrap();
    let steps: Vec<i64> = h.iter().map(|m| m.step).collect();
    let values: Vec<f64> = h.iter().map(|m| m.value).collect();
    assert_eq!(steps, [0, 2, 1]);
    assert_eq!(values, [0.9, 0.5, 0.7]);
    assert_eq!(h[1].timestamp_ms, 1002);
    let auc = s.metric_history(&run, "auc").unwrap();
    assert!(auc[0].value.is_nan());
    assert_eq!(auc.len(), 3);
    let r = s.get_run(&run).unwrap();
    assert_eq!(r.metrics["loss"].value, 0.5);
    assert_eq!(r.metrics["loss"].step, 2);
    // Same step and time: the larger value wins, as in MLflow.
    assert_eq!(r.metrics["auc"].value, f64::INFINITY);
    // Timestamp 0 means now.
    s.log_metrics(&run, &[Metric::new("t", 1.0, 0)]).unwrap();
    assert!(s.metric_history(&run, "t").unwrap()[0].timestamp_ms > 1_600_000_000_000);
    // A large batch is one call.
    let batch: Vec<Metric> = (0..1500).map(|i| Metric::new("big", i as f64, i)).collect();
    s.log_metrics(&run, &batch).unwrap();
    assert_eq!(s.metric_history(&run, "big").unwrap().len(), 1500);
    assert_eq!(s.get_run(&run).unwrap().metrics["big"].value, 1499.0);
});

/// 30 runs in two experiments with known metrics, params and tags.
fn seed_search(s: &Store) -> (ExperimentId, ExperimentId, Vec<String>) {
    let a = s.get_or_create_experiment("a").unwrap();
    let b = s.get_or_create_experiment("b").unwrap();
    let mut ids = Vec::new();
    for i in 0..30 {
        let exp = if i < 20 { a } else { b };
        let id = s.start_run(&new_run(exp, &format!("run {i:02}"))).unwrap();
        let learner = ["gbdt", "linear", "knn"][i % 3];
        s.log_params(&id, &kv(&[("learner", learner), ("i", &i.to_string())]))
            .unwrap();
        s.log_metrics(&id, &[Metric::new("auc", 0.5 + i as f64 / 100.0, 0)])
            .unwrap();
        if i % 2 == 0 {
            s.log_metrics(&id, &[Metric::new("loss", 1.0 - i as f64 / 100.0, 0)])
                .unwrap();
        }
        s.set_tags(&id, &kv(&[("team", if i % 4 == 0 { "X" } else { "y" })]))
            .unwrap();
        let status = if i % 5 == 0 {
            RunStatus::Failed
        } else {
            RunStatus::Finished
        };
        s.end_run(&id, status).unwrap();
        ids.push(id);
        // Distinct start times keep the default order well defined.
        std::thread::sleep(Duration::from_millis(2));
    }
    (a, b, ids)
}

fn names(p: &Page<Run>) -> Vec<String> {
    p.items.iter().map(|r| r.info.run_name.clone()).collect()
}

both!(search_filter_order_pages, |ctx: &super::Ctx| {
    use whet_track::*;
    let s = ctx.open();
    let (a, b, ids) = super::seed_search(&s);
    let q = |filter: &str, order: &[&str]| SearchRuns {
        experiments: vec![a, b],
        filter: filter.into(),
        order_by: order.iter().map(|o| o.to_string()).collect(),
        ..Default::default()
    };
    let run = |f: &str| s.search_runs(&q(f, &["attributes.run_name"])).unwrap();
    assert_eq!(run("").items.len(), 30);
    assert_eq!(
        super::names(&run("metrics.auc > 0.75")),
        ["run 26", "run 27", "run 28", "run 29"]
    );
    assert_eq!(
        super::names(&run(
            "metrics.auc >= 0.6 and params.learner = 'gbdt' and tags.team = 'X' and attributes.status = 'FINISHED'"
        )),
        ["run 12", "run 24"]
    );
    assert_eq!(run("metrics.loss < 0.79").items.len(), 4);
    assert_eq!(run("params.learner != 'gbdt'").items.len(), 20);
    // Lists are only for run ids (and dataset fields), as in MLflow.
    for f in [
        "params.learner IN ('knn', 'linear')",
        "params.learner NOT IN ('knn', 'linear')",
    ] {
        let e = s.search_runs(&q(f, &[])).unwrap_err();
        assert!(matches!(e, Error::Filter(_)), "{f}: {e}");
    }
    assert_eq!(
        run(&format!(
            "attributes.run_id NOT IN ('{}', '{}')",
            ids[0], ids[1]
        ))
        .items
        .len(),
        28
    );
    assert_eq!(run("params.learner LIKE 'g%'").items.len(), 10);
    // LIKE is case-sensitive on both back ends, ILIKE is not.
    assert_eq!(run("tags.team LIKE 'x'").items.len(), 0);
    assert_eq!(run("tags.team ILIKE 'x'").items.len(), 8);
    assert_eq!(run("attributes.run_name = 'run 07'").items.len(), 1);
    assert_eq!(run("attributes.status != 'FINISHED'").items.len(), 6);
    assert_eq!(run("tags.missing IS NULL").items.len(), 30);
    assert_eq!(run("metrics.`auc` = 0.5").items.len(), 1);
    assert_eq!(
        run(&format!("attributes.run_id = '{}'", ids[3]))
            .items
            .len(),
        1
    );
    let only_b = s
        .search_runs(&SearchRuns {
            experiments: vec![b],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(only_b.items.len(), 10);
    // Default order: newest first.
    assert_eq!(only_b.items[0].info.run_name, "run 29");
    // Order by a metric; runs without it come last whatever the direction.
    let by_loss = s.search_runs(&q("", &["metrics.loss DESC"])).unwrap();
    assert_eq!(by_loss.items[0].info.run_name, "run 00");
    assert!(!by_loss.items[29].metrics.contains_key("loss"));
    let by_loss = s.search_runs(&q("", &["metrics.loss ASC"])).unwrap();
    assert_eq!(by_loss.items[0].info.run_name, "run 28");
    assert!(!by_loss.items[29].metrics.contains_key("loss"));
    let by_param = s
        .search_runs(&q("", &["params.learner", "metrics.auc DESC"]))
        .unwrap();
    assert_eq!(by_param.items[0].info.run_name, "run 27");
    // Pages: 7 at a time, every run exactly once, in order.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = s
            .search_runs(&SearchRuns {
                max_results: 7,
                page_token: token.clone(),
                ..q("", &["metrics.auc"])
            })
            .unwrap();
        seen.extend(super::names(&page));
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    let expected: Vec<String> = (0..30).map(|i| format!("run {i:02}")).collect();
    assert_eq!(seen, expected);
    // A token only works for the search that made it.
    let page = s
        .search_runs(&SearchRuns {
            max_results: 7,
            ..q("", &["metrics.auc"])
        })
        .unwrap();
    let e = s
        .search_runs(&SearchRuns {
            max_results: 7,
            page_token: page.next_page_token,
            ..q("metrics.auc > 0", &["metrics.auc"])
        })
        .unwrap_err();
    assert!(matches!(e, Error::PageToken(_)), "{e}");
    let e = s
        .search_runs(&SearchRuns {
            page_token: Some("garbage!".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(e, Error::PageToken(_)), "{e}");
    // Filter errors come back as errors, not as empty results.
    let e = s.search_runs(&q("metrics.auc > 'x'", &[])).unwrap_err();
    assert!(e.to_string().contains("position 14"), "{e}");
});

both!(registry_and_aliases, |ctx: &super::Ctx| {
    use whet_track::*;
    let s = ctx.open();
    let exp = s.get_or_create_experiment("e").unwrap();
    let r1 = s.start_run(&super::new_run(exp, "r1")).unwrap();
    let r2 = s.start_run(&super::new_run(exp, "r2")).unwrap();
    // Registering needs the artifact to exist.
    let e = s
        .register_model("churn", &r1, "model.whet", &[])
        .unwrap_err();
    assert!(e.to_string().contains("model.whet"), "{e}");
    s.log_artifact(&r1, "model.whet", ArtifactSource::Bytes(b"one"))
        .unwrap();
    s.log_artifact(&r2, "model/model.whet", ArtifactSource::Bytes(b"two"))
        .unwrap();
    let v1 = s
        .register_model("churn", &r1, "model.whet", &[("auc".into(), 0.8)])
        .unwrap();
    let v2 = s
        .register_model("churn", &r2, "model", &[("auc".into(), 0.9)])
        .unwrap();
    assert_eq!((v1, v2), (1, 2));
    s.set_alias("churn", "champion", 1).unwrap();
    s.set_alias("churn", "champion", 2).unwrap();
    s.set_alias("churn", "challenger", 1).unwrap();
    let champ = s
        .get_model_version("churn", &VersionRef::Alias("champion".into()))
        .unwrap();
    assert_eq!(champ.version, 2);
    assert_eq!(champ.run_id, r2);
    assert_eq!(champ.source, "model");
    assert_eq!(champ.metrics["auc"], 0.9);
    assert_eq!(champ.aliases, ["champion"]);
    assert_eq!(
        s.get_model_version("churn", &VersionRef::Latest)
            .unwrap()
            .version,
        2
    );
    assert_eq!(
        s.get_model_version("churn", &VersionRef::Number(1))
            .unwrap()
            .run_id,
        r1
    );
    let h = s.alias_history("churn").unwrap();
    let moves: Vec<(String, Option<i64>, Option<i64>)> = h
        .iter()
        .map(|m| (m.alias.clone(), m.version, m.previous_version))
        .collect();
    assert_eq!(
        moves,
        [
            ("champion".to_string(), Some(1), None),
            ("champion".to_string(), Some(2), Some(1)),
            ("challenger".to_string(), Some(1), None),
        ]
    );
    s.delete_alias("churn", "challenger").unwrap();
    assert_eq!(s.alias_history("churn").unwrap().len(), 4);
    let e = s
        .get_model_version("churn", &VersionRef::Alias("challenger".into()))
        .unwrap_err();
    assert!(e.to_string().contains("churn@challenger"), "{e}");
    assert!(s.set_alias("churn", "champion", 9).is_err());
    assert!(s.set_alias("churn", "latest", 1).is_err());
    assert!(s.set_alias("churn", "3", 1).is_err());
    let models = s.list_models().unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].latest_version, Some(2));
    assert_eq!(models[0].aliases.get("champion"), Some(&2));
    assert_eq!(s.model_versions("churn").unwrap().len(), 2);
    assert_eq!(
        whet_track::parse_model_ref("churn@champion"),
        ("churn".to_string(), VersionRef::Alias("champion".into()))
    );
    assert_eq!(
        whet_track::parse_model_ref("churn/3"),
        ("churn".to_string(), VersionRef::Number(3))
    );
    // The model file reads back through the registry.
    assert_eq!(
        s.read_artifact(&champ.run_id, "model/model.whet").unwrap(),
        b"two"
    );
});

both!(artifacts_are_verified, |ctx: &super::Ctx| {
    use whet_track::*;
    let s = ctx.open();
    let exp = s.get_or_create_experiment("e").unwrap();
    let run = s.start_run(&super::new_run(exp, "r")).unwrap();
    let info = s
        .log_artifact(&run, "plots/roc.svg", ArtifactSource::Bytes(b"<svg/>"))
        .unwrap();
    assert_eq!(info.size, 6);
    assert_eq!(info.sha256.len(), 64);
    let src = ctx.dir.join("model.bin");
    std::fs::write(&src, vec![7u8; 100_000]).unwrap();
    s.log_artifact(&run, "model.bin", ArtifactSource::File(&src))
        .unwrap();
    assert_eq!(s.read_artifact(&run, "model.bin").unwrap().len(), 100_000);
    let file = ctx
        .dir
        .join("artifacts")
        .join(exp.to_string())
        .join(&run)
        .join("artifacts/plots/roc.svg");
    assert!(file.exists(), "layout <root>/<exp>/<run>/artifacts/<path>");
    assert_eq!(s.read_artifact(&run, "plots/roc.svg").unwrap(), b"<svg/>");
    // No temp files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
    std::fs::write(&file, b"<svg>").unwrap();
    let e = s.read_artifact(&run, "plots/roc.svg").unwrap_err();
    assert!(matches!(e, Error::ArtifactChecksum { .. }), "{e}");
    assert!(e.to_string().contains("roc.svg"), "{e}");
    assert!(s.artifact_path(&run, "plots/roc.svg").is_err());
    // Paths cannot escape the run's folder.
    for bad in ["../x", "/etc/passwd", "a//b", "a/./b", ""] {
        assert!(
            s.log_artifact(&run, bad, ArtifactSource::Bytes(b"x"))
                .is_err(),
            "{bad}"
        );
    }
    let listed: Vec<String> = s
        .list_artifacts(&run)
        .unwrap()
        .into_iter()
        .map(|a| a.path)
        .collect();
    assert_eq!(listed, ["model.bin", "plots/roc.svg"]);
});

both!(datasets_are_shared, |ctx: &super::Ctx| {
    use whet_track::*;
    let s = ctx.open();
    let exp = s.get_or_create_experiment("e").unwrap();
    let d = Dataset {
        fingerprint: "abc".into(),
        name: "churn.csv".into(),
        source: "examples/churn.csv".into(),
        schema: r#"{"columns":[]}"#.into(),
        profile: "{}".into(),
        ..Default::default()
    };
    let r1 = s.start_run(&super::new_run(exp, "r1")).unwrap();
    let r2 = s.start_run(&super::new_run(exp, "r2")).unwrap();
    s.log_dataset(&r1, &d, "training").unwrap();
    s.log_dataset(&r2, &d, "evaluation").unwrap();
    s.log_dataset(&r2, &d, "training").unwrap();
    // A whet dataset's digest is its fingerprint.
    let stored = Dataset {
        digest: "abc".into(),
        ..d.clone()
    };
    let got = s.run_datasets(&r2).unwrap();
    assert_eq!(got, vec![(stored.clone(), "training".to_string())]);
    assert_eq!(s.run_datasets(&r1).unwrap().len(), 1);
    // The context is the input's mlflow.data.context tag, and the run carries its inputs.
    let context = vec![(DATASET_CONTEXT_TAG.to_string(), "training".to_string())];
    assert_eq!(s.get_run(&r2).unwrap().inputs, vec![(stored, context)]);
});

both!(gc_removes_deleted_runs, |ctx: &super::Ctx| {
    use whet_track::*;
    let s = ctx.open();
    let exp = s.get_or_create_experiment("e").unwrap();
    let keep = s.start_run(&super::new_run(exp, "keep")).unwrap();
    let gone = s.start_run(&super::new_run(exp, "gone")).unwrap();
    let registered = s.start_run(&super::new_run(exp, "registered")).unwrap();
    for r in [&keep, &gone, &registered] {
        s.log_artifact(r, "m.bin", ArtifactSource::Bytes(b"12345"))
            .unwrap();
        s.log_metrics(r, &[Metric::new("x", 1.0, 0)]).unwrap();
        s.end_run(r, RunStatus::Finished).unwrap();
    }
    s.register_model("m", &registered, "m.bin", &[]).unwrap();
    s.delete_run(&gone).unwrap();
    s.delete_run(&registered).unwrap();
    let report = s.gc().unwrap();
    assert_eq!(report.runs_deleted, vec![gone.clone()]);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].0, registered);
    assert_eq!(report.artifact_bytes_freed, 5);
    assert!(s.get_run(&gone).is_err());
    let root = ctx.dir.join("artifacts").join(exp.to_string());
    assert!(!root.join(&gone).exists());
    assert!(root.join(&keep).exists());
    assert_eq!(s.read_artifact(&keep, "m.bin").unwrap(), b"12345");
    assert_eq!(s.read_artifact(&registered, "m.bin").unwrap(), b"12345");
    assert!(s.gc().unwrap().runs_deleted.is_empty());
});

both!(four_writers_lose_nothing, |ctx: &super::Ctx| {
    use whet_track::*;
    let s = ctx.open();
    let exp = s.get_or_create_experiment("e").unwrap();
    drop(s);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let spec = ctx.spec.clone();
            let root = ctx.dir.join("artifacts");
            std::thread::spawn(move || {
                // A handle per writer: separate connections, like separate processes.
                let s = Store::open_with(
                    &spec,
                    OpenOptions {
                        artifact_root: Some(root),
                        ..Default::default()
                    },
                )
                .unwrap();
                let mut runs = Vec::new();
                for r in 0..3 {
                    let run = s
                        .start_run(&super::new_run(exp, &format!("w{w} r{r}")))
                        .unwrap();
                    for b in 0..10 {
                        let batch: Vec<Metric> = (0..20)
                            .map(|i| Metric::new(format!("m{i}"), (b * 20 + i) as f64, b))
                            .collect();
                        s.log_metrics(&run, &batch).unwrap();
                    }
                    s.log_params(&run, &super::kv(&[("writer", &w.to_string())]))
                        .unwrap();
                    s.end_run(&run, RunStatus::Finished).unwrap();
                    runs.push(run);
                }
                let v = {
                    let a = s
                        .log_artifact(&runs[0], "m", ArtifactSource::Bytes(b"m"))
                        .unwrap();
                    assert_eq!(a.size, 1);
                    s.register_model("shared", &runs[0], "m", &[]).unwrap()
                };
                (runs, v)
            })
        })
        .collect();
    let mut all_runs = Vec::new();
    let mut versions = Vec::new();
    for w in writers {
        let (runs, v) = w.join().expect("writer thread");
        all_runs.extend(runs);
        versions.push(v);
    }
    versions.sort();
    assert_eq!(versions, [1, 2, 3, 4]);
    let s = ctx.open();
    let page = s.search_runs(&SearchRuns::default()).unwrap();
    assert_eq!(page.items.len(), 12);
    for run in &all_runs {
        let r = s.get_run(run).unwrap();
        assert_eq!(r.info.status, RunStatus::Finished);
        assert_eq!(r.metrics.len(), 20);
        for i in 0..20 {
            assert_eq!(s.metric_history(run, &format!("m{i}")).unwrap().len(), 10);
        }
    }
});

/// Child side of `killed_process_is_detected`: starts a run with a short lease, prints its id
/// and waits to be killed. Does nothing unless the parent test set the variables.
#[test]
fn child_process_holding_a_run() {
    let (Ok(spec), Ok(root)) = (
        std::env::var("WHET_TRACK_CHILD_STORE"),
        std::env::var("WHET_TRACK_CHILD_ROOT"),
    ) else {
        return;
    };
    let s = Store::open_with(
        &spec,
        OpenOptions {
            artifact_root: Some(root.into()),
            lease: Duration::from_millis(600),
            ..Default::default()
        },
    )
    .unwrap();
    let exp = s.get_or_create_experiment("e").unwrap();
    let run = s.start_run(&new_run(exp, "doomed")).unwrap();
    s.log_metrics(&run, &[Metric::new("loss", 1.0, 0)]).unwrap();
    println!("RUN {run}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::thread::sleep(Duration::from_secs(60));
}

fn killed_process_is_detected_on(ctx: &Ctx) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_holding_a_run",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WHET_TRACK_CHILD_STORE", &ctx.spec)
        .env("WHET_TRACK_CHILD_ROOT", ctx.dir.join("artifacts"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut run = None;
    use std::io::BufRead;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // libtest prints "test NAME ... " before the child's own output on the same line.
        if let Some(at) = line.find("RUN ") {
            run = Some(line[at + 4..].trim().to_string());
            break;
        }
    }
    let run = run.expect("child printed its run id");
    // While the child lives its heartbeat keeps the run RUNNING past one lease.
    std::thread::sleep(Duration::from_millis(900));
    let s = ctx.open();
    assert_eq!(s.get_run(&run).unwrap().info.status, RunStatus::Running);
    drop(s);
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let s = ctx.open();
    let r = s.get_run(&run).unwrap();
    assert_eq!(r.info.status, RunStatus::Killed);
    assert!(r.info.end_time.is_some());
    assert_eq!(r.metrics["loss"].value, 1.0, "what the run logged is kept");
}

both!(killed_process_is_detected, |ctx: &super::Ctx| {
    super::killed_process_is_detected_on(ctx)
});

both!(dropped_store_ends_its_runs, |ctx: &super::Ctx| {
    use whet_track::*;
    let s = ctx.open();
    let exp = s.get_or_create_experiment("e").unwrap();
    let run = s.start_run(&super::new_run(exp, "r")).unwrap();
    drop(s);
    assert_eq!(
        ctx.open().get_run(&run).unwrap().info.status,
        RunStatus::Killed
    );
});

#[test]
fn corrupted_sqlite_file_is_named() {
    let dir = temp_dir("corrupt");
    let db = dir.join("whet.db");
    std::fs::write(&db, vec![0x5au8; 8192]).unwrap();
    let e = match Store::open(db.to_str().unwrap()) {
        Ok(_) => panic!("opened a corrupt file"),
        Err(e) => e,
    };
    let msg = e.to_string();
    assert!(matches!(e, Error::Corrupt { .. }), "{msg}");
    assert!(msg.contains(db.to_str().unwrap()), "{msg}");
    assert!(msg.contains("hint"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn locked_sqlite_file_is_named() {
    let ctx = sqlite("locked");
    let s = ctx.open();
    let exp = s.get_or_create_experiment("e").unwrap();
    let run = s.start_run(&new_run(exp, "r")).unwrap();
    let guard = testing::lock_sqlite(Path::new(&ctx.spec)).unwrap();
    let quick = Store::open_with(
        &ctx.spec,
        OpenOptions {
            artifact_root: Some(ctx.dir.join("artifacts")),
            busy_timeout: Duration::from_millis(200),
            ..Default::default()
        },
    );
    let e = match quick {
        Ok(_) => panic!("opened a locked store"),
        Err(e) => e,
    };
    let msg = e.to_string();
    assert!(matches!(e, Error::Locked { .. }), "{msg}");
    assert!(msg.contains(&ctx.spec) && msg.contains("hint"), "{msg}");
    drop(guard);
    // Once the lock is gone the same handle works again.
    s.log_metrics(&run, &[Metric::new("x", 1.0, 0)]).unwrap();
    s.end_run(&run, RunStatus::Finished).unwrap();
}

#[test]
fn bad_locations_are_clear() {
    let dir = temp_dir("badloc");
    let e = Store::open(dir.to_str().unwrap()).err().unwrap();
    assert!(e.to_string().contains("is a directory"), "{e}");
    let e = Store::open(dir.join("no/such/whet.db").to_str().unwrap())
        .err()
        .unwrap();
    assert!(e.to_string().contains("does not exist"), "{e}");
    let e = Store::open("postgres://whet:secret@127.0.0.1:1/nodb")
        .err()
        .unwrap();
    let msg = e.to_string();
    assert!(msg.contains("127.0.0.1:1"), "{msg}");
    assert!(!msg.contains("secret"), "password leaked: {msg}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn store_spec_precedence() {
    assert_eq!(store_spec(Some("x.db")), "x.db");
    // The environment is shared by the tests of this binary; only read it.
    let expected = std::env::var("WHET_STORE")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_STORE.to_string());
    assert_eq!(store_spec(None), expected);
    let _ = Path::new(DEFAULT_STORE);
}

both!(
    metric_order_with_filter_on_same_metric,
    |ctx: &super::Ctx| {
        use whet_track::*;
        let s = ctx.open();
        let exp = s.get_or_create_experiment("e").unwrap();
        for (i, v) in [0.3, 0.9, f64::NAN, 0.7, 0.5].iter().enumerate() {
            let r = s.start_run(&super::new_run(exp, &format!("r{i}"))).unwrap();
            s.log_metrics(&r, &[Metric::new("auc", *v, 0)]).unwrap();
        }
        let names = |filter: &str, order: &str| {
            super::names(
                &s.search_runs(&SearchRuns {
                    filter: filter.into(),
                    order_by: vec![order.into()],
                    ..Default::default()
                })
                .unwrap(),
            )
        };
        assert_eq!(
            names("metrics.auc > 0.4", "metrics.auc DESC"),
            ["r1", "r3", "r4"]
        );
        assert_eq!(
            names("metrics.auc > 0.4", "metrics.auc ASC"),
            ["r4", "r3", "r1"]
        );
        assert_eq!(
            names("metrics.auc >= 0.3 and metrics.auc < 0.8", "metrics.auc"),
            ["r0", "r4", "r3"]
        );
        // NaN matches != (and only !=), and sorts after the numbers.
        assert_eq!(
            names("metrics.auc != 0.5", "metrics.auc DESC"),
            ["r1", "r3", "r0", "r2"]
        );
        assert_eq!(
            names(
                "metrics.auc != 0.5 and metrics.auc > 0.2",
                "metrics.auc ASC"
            ),
            ["r0", "r3", "r1"]
        );
        // Without a filter on it, runs whose metric is NaN or missing come last.
        assert_eq!(
            names("", "metrics.auc DESC"),
            ["r1", "r3", "r4", "r0", "r2"]
        );
    }
);

both!(tokens_from_the_cli, |ctx: &super::Ctx| {
    use whet_track::*;
    let s = ctx.open();
    let secret = s.create_token("laptop", Role::Read).unwrap();
    assert!(secret.starts_with(TOKEN_PREFIX));
    let listed = s.list_tokens().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].role),
        ("laptop", Role::Read)
    );
    assert!(listed[0].revoked_time.is_none());
    s.revoke_token("laptop").unwrap();
    assert!(s.list_tokens().unwrap()[0].revoked_time.is_some());
    assert!(s.audit_log(10).unwrap().is_empty());
});

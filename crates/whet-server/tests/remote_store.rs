//! `whet_track::Store` opened on a `whet server` URL, against a server running in this
//! process: every operation gives what a local store on the server's database gives (same
//! records, NaN metrics and all), errors come back as the same variants, tokens and roles are
//! enforced, and a client that dies leaves its runs KILLED once the lease runs out.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use whet_server::{AuthMode, ServerConfig};
use whet_track::*;

fn tmp(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("whet-remote-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Serves the store in `dir` on a free loopback port for the rest of the test process.
fn serve(dir: &Path, auth: AuthMode, lease: Duration) -> String {
    let mut config = ServerConfig::new(dir.join("whet.db").to_string_lossy().to_string());
    config.port = 0;
    config.artifacts_destination = Some(dir.join("art"));
    config.auth = auth;
    config.lease = lease;
    config.workers = Some(2);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = whet_server::run(config, move |addr| {
            let _ = tx.send(addr);
        });
        if let Err(e) = r {
            panic!("server: {e}");
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server started");
    format!("http://{addr}")
}

fn remote(url: &str, token: Option<&str>) -> Result<Store> {
    Store::open_with(
        url,
        OpenOptions {
            token: token.map(str::to_string),
            ..Default::default()
        },
    )
}

/// A local handle on the server's own database, to compare with.
fn local(dir: &Path) -> Store {
    Store::open_with(
        dir.join("whet.db").to_str().unwrap(),
        OpenOptions {
            artifact_root: Some(dir.join("art")),
            ..Default::default()
        },
    )
    .unwrap()
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

#[test]
fn a_remote_store_gives_what_a_local_store_on_the_same_database_gives() {
    let dir = tmp("same");
    let url = serve(&dir, AuthMode::Off, DEFAULT_LEASE);
    let s = remote(&url, None).unwrap();
    let l = local(&dir);
    assert!(s.is_remote() && !l.is_remote());
    assert_eq!(s.location(), url);
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(!s.is_postgres());

    let exp = s.get_or_create_experiment("churn").unwrap();
    assert_eq!(s.get_or_create_experiment("churn").unwrap(), exp);
    assert_eq!(
        s.experiment_by_name("churn")
            .unwrap()
            .unwrap()
            .experiment_id,
        exp
    );
    assert!(s.experiment_by_name("nope").unwrap().is_none());
    assert_eq!(
        json(&s.list_experiments().unwrap()),
        json(&l.list_experiments().unwrap())
    );

    let study = s
        .start_run(&NewRun {
            experiment: exp,
            name: "study".into(),
            source_command: "whet train churn.csv".into(),
            data_fingerprint: Some("sha256:abc".into()),
            tags: vec![("whet.kind".into(), "study".into())],
            ..Default::default()
        })
        .unwrap();
    let trial = s
        .start_run(&NewRun {
            experiment: exp,
            parent: Some(study.clone()),
            ..Default::default()
        })
        .unwrap();
    // More than MLflow's 100 params per batch: sent in several.
    let params: Vec<(String, String)> =
        (0..150).map(|i| (format!("p{i}"), i.to_string())).collect();
    s.log_params(&trial, &params).unwrap();
    s.log_params(&trial, &params[..3]).unwrap();
    s.log_metrics(
        &trial,
        &[
            Metric::new("fold_auc", 0.8, 0),
            Metric::new("fold_auc", 0.9, 1),
            Metric::new("loss", f64::NAN, 0),
            Metric::new("gain", f64::INFINITY, 0),
        ],
    )
    .unwrap();
    s.set_tags(&trial, &[("whet.status".into(), "completed".into())])
        .unwrap();
    let conflict = s
        .log_params(&trial, &[("p1".into(), "other".into())])
        .unwrap_err();
    assert!(
        matches!(&conflict, Error::Invalid(m) if m.contains("p1")),
        "{conflict:?}"
    );
    assert_eq!(s.metric_history(&trial, "fold_auc").unwrap().len(), 2);
    assert_eq!(
        json(&s.metric_history(&trial, "fold_auc").unwrap()),
        json(&l.metric_history(&trial, "fold_auc").unwrap())
    );

    // Artifacts go through the proxy and come back checked.
    let file = dir.join("model.bin");
    std::fs::write(&file, vec![7u8; 100_000]).unwrap();
    let info = s
        .log_artifact(&study, "model.whet", ArtifactSource::File(&file))
        .unwrap();
    s.log_artifact(&trial, "oof.parquet", ArtifactSource::Bytes(b"oof"))
        .unwrap();
    let listed = s.list_artifacts(&study).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].size, &listed[0].sha256),
        (info.size, &info.sha256)
    );
    assert_eq!(
        s.read_artifact(&study, "model.whet").unwrap(),
        vec![7u8; 100_000]
    );
    assert_eq!(l.read_artifact(&trial, "oof.parquet").unwrap(), b"oof");
    let cached = s.artifact_path(&study, "model.whet").unwrap();
    assert_eq!(std::fs::read(&cached).unwrap(), vec![7u8; 100_000]);
    assert!(matches!(
        s.read_artifact(&study, "nope.bin"),
        Err(Error::NotFound { .. })
    ));

    let dataset = Dataset {
        fingerprint: "sha256:abc".into(),
        digest: "sha256:abc".into(),
        name: "churn".into(),
        source: "churn.csv".into(),
        ..Default::default()
    };
    s.log_dataset(&study, &dataset, "train").unwrap();
    assert_eq!(
        s.run_datasets(&study).unwrap(),
        vec![(dataset, "train".to_string())]
    );

    s.end_run(&trial, RunStatus::Finished).unwrap();
    s.log_metrics(&study, &[Metric::new("cv_auc", 0.85, 0)])
        .unwrap();
    let version = s
        .register_model(
            "churn",
            &study,
            "model.whet",
            &[("cv_auc".into(), 0.85), ("odd".into(), f64::NAN)],
        )
        .unwrap();
    assert_eq!(version, 1);
    s.end_run(&study, RunStatus::Finished).unwrap();

    // Whole runs, with what MLflow's run message has no place for.
    for run in [&study, &trial] {
        assert_eq!(
            json(&s.get_run(run).unwrap()),
            json(&l.get_run(run).unwrap())
        );
    }
    let r = s.get_run(&study).unwrap();
    assert_eq!(r.info.data_fingerprint.as_deref(), Some("sha256:abc"));
    assert_eq!(r.info.source_command, "whet train churn.csv");
    assert_eq!(r.info.status, RunStatus::Finished);
    let t = s.get_run(&trial).unwrap();
    assert_eq!(t.info.parent_run_id.as_deref(), Some(study.as_str()));
    assert!(t.metrics["loss"].value.is_nan());
    assert_eq!(t.params.len(), 150);
    assert!(s.artifact_location(&r.info).starts_with(&format!(
        "{url}/api/2.0/mlflow-artifacts/artifacts/{exp}/{study}/artifacts"
    )));

    assert_eq!(s.resolve_run_id(&study[..8]).unwrap(), study);
    let search = SearchRuns {
        experiments: vec![exp],
        filter: "tags.whet.kind = 'study'".into(),
        ..Default::default()
    };
    let page = s.search_runs(&search).unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(json(&page), json(&l.search_runs(&search).unwrap()));

    // The registry.
    s.set_alias("churn", "champion", 1).unwrap();
    let v = s
        .get_model_version("churn", &VersionRef::Alias("champion".into()))
        .unwrap();
    assert_eq!(v.version, 1);
    assert_eq!(v.source_kind, SourceKind::RunArtifact);
    assert_eq!(v.metrics["cv_auc"], 0.85);
    assert!(
        !v.metrics.contains_key("odd"),
        "a NaN version metric is not stored"
    );
    assert_eq!(
        json(&s.model_versions("churn").unwrap()),
        json(&l.model_versions("churn").unwrap())
    );
    assert_eq!(
        json(&s.list_models().unwrap()),
        json(&l.list_models().unwrap())
    );
    s.delete_alias("churn", "champion").unwrap();
    let history = s.alias_history("churn").unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history, l.alias_history("churn").unwrap());
    let me = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    assert_eq!(history[0].user_id, me, "the mover is the client's user");

    // Delete, restore, gc.
    let doomed = s
        .start_run(&NewRun {
            experiment: exp,
            ..Default::default()
        })
        .unwrap();
    s.log_artifact(&doomed, "x.txt", ArtifactSource::Bytes(b"x"))
        .unwrap();
    s.end_run(&doomed, RunStatus::Finished).unwrap();
    s.delete_run(&doomed).unwrap();
    s.delete_run(&doomed).unwrap();
    s.restore_run(&doomed).unwrap();
    s.delete_run(&doomed).unwrap();
    assert!(matches!(
        s.log_artifact(&doomed, "y.txt", ArtifactSource::Bytes(b"y")),
        Err(Error::Invalid(_))
    ));
    s.delete_run(&study).unwrap();
    let report = s.gc().unwrap();
    assert_eq!(report.runs_deleted, vec![doomed.clone()]);
    assert_eq!(report.skipped.len(), 1, "the registered study is kept");
    assert!(matches!(s.get_run(&doomed), Err(Error::NotFound { .. })));
    assert_eq!(s.reap_expired().unwrap(), 0);

    // What only the server's own database can do.
    assert!(matches!(s.list_tokens(), Err(Error::Invalid(m)) if m.contains("server")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn remote_errors_are_the_variants_a_local_store_gives() {
    let dir = tmp("errors");
    let url = serve(&dir, AuthMode::Off, DEFAULT_LEASE);
    let s = remote(&url, None).unwrap();
    let missing = "0123456789abcdef0123456789abcdef";
    match s.get_run(missing) {
        Err(Error::NotFound { what, location }) => {
            assert_eq!(what, format!("run {missing}"));
            assert_eq!(location, url);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.resolve_run_id("beef"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(s.resolve_run_id("xy"), Err(Error::Invalid(_))));
    assert!(matches!(
        s.end_run(missing, RunStatus::Finished),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.get_model_version("nope", &VersionRef::Latest),
        Err(Error::NotFound { .. })
    ));
    let exp = s.get_or_create_experiment("e").unwrap();
    let run = s
        .start_run(&NewRun {
            experiment: exp,
            ..Default::default()
        })
        .unwrap();
    assert!(matches!(
        s.register_model("m", &run, "not-logged.whet", &[]),
        Err(Error::NotFound { .. }) | Err(Error::Invalid(_))
    ));
    assert!(matches!(
        s.log_artifact(&run, "../escape", ArtifactSource::Bytes(b"x")),
        Err(Error::Invalid(_))
    ));
    drop(s);
    assert_eq!(
        local(&dir).get_run(&run).unwrap().info.status,
        RunStatus::Killed,
        "dropping a remote store ends its runs, as a local one does"
    );

    // Nobody listening: the URL and how to start a server.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let e = remote(&format!("http://127.0.0.1:{port}"), None)
        .err()
        .unwrap();
    let text = e.to_string();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && text.contains("whet server"),
        "{text}"
    );
    assert!(matches!(
        remote("http://user:pw@h:1", None),
        Err(Error::Invalid(_))
    ));

    // A server needs a database, not another server.
    let e = whet_server::run(ServerConfig::new(url.clone()), |_| {})
        .err()
        .unwrap();
    assert!(e.to_string().contains("not a database"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tokens_and_roles_hold_for_a_remote_store() {
    let dir = tmp("auth");
    let url = serve(&dir, AuthMode::On, DEFAULT_LEASE);
    let (read, write, admin) = {
        let l = local(&dir);
        (
            l.create_token("reader", Role::Read).unwrap(),
            l.create_token("writer", Role::Write).unwrap(),
            l.create_token("root", Role::Admin).unwrap(),
        )
    };
    let e = remote(&url, Some("whet_not-a-token")).err().unwrap();
    assert!(matches!(e, Error::Denied { status: 401, .. }), "{e:?}");
    assert!(e.to_string().contains("token"), "{e}");

    let r = remote(&url, Some(&read)).unwrap();
    assert!(!r.list_experiments().unwrap().is_empty());
    assert!(
        r.search_runs(&SearchRuns::default())
            .unwrap()
            .items
            .is_empty()
    );
    let e = r.get_or_create_experiment("x").err().unwrap();
    assert!(matches!(e, Error::Denied { status: 403, .. }), "{e:?}");
    assert!(e.to_string().contains("read role"), "{e}");

    let w = remote(&url, Some(&write)).unwrap();
    let exp = w.get_or_create_experiment("x").unwrap();
    let run = w
        .start_run(&NewRun {
            experiment: exp,
            ..Default::default()
        })
        .unwrap();
    w.log_artifact(&run, "a.txt", ArtifactSource::Bytes(b"a"))
        .unwrap();
    w.end_run(&run, RunStatus::Finished).unwrap();
    assert_eq!(r.read_artifact(&run, "a.txt").unwrap(), b"a");
    w.delete_run(&run).unwrap();
    assert!(matches!(w.gc(), Err(Error::Denied { status: 403, .. })));
    let a = remote(&url, Some(&admin)).unwrap();
    assert_eq!(a.gc().unwrap().runs_deleted, vec![run]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Child side of `a_killed_client_leaves_its_run_killed`: starts a run through the server,
/// prints its id and waits to be killed. Does nothing unless the parent set the variable.
#[test]
fn child_client_holding_a_run() {
    let Ok(url) = std::env::var("WHET_REMOTE_CHILD_URL") else {
        return;
    };
    let s = remote(&url, None).unwrap();
    let exp = s.get_or_create_experiment("e").unwrap();
    let run = s
        .start_run(&NewRun {
            experiment: exp,
            ..Default::default()
        })
        .unwrap();
    s.log_metrics(&run, &[Metric::new("loss", 1.0, 0)]).unwrap();
    println!("RUN {run}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_killed_client_leaves_its_run_killed_once_the_lease_runs_out() {
    let dir = tmp("lease");
    let url = serve(&dir, AuthMode::Off, Duration::from_millis(900));
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_client_holding_a_run",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WHET_REMOTE_CHILD_URL", &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut run = None;
    use std::io::BufRead;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(at) = line.find("RUN ") {
            run = Some(line[at + 4..].trim().to_string());
            break;
        }
    }
    let run = run.expect("the child printed its run id");
    let s = remote(&url, None).unwrap();
    // The child's heartbeat keeps the run RUNNING past two leases.
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(s.get_run(&run).unwrap().info.status, RunStatus::Running);
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let page = s.search_runs(&SearchRuns::default()).unwrap();
    let r = page.items.iter().find(|r| r.info.run_id == run).unwrap();
    assert_eq!(r.info.status, RunStatus::Killed);
    assert!(r.info.end_time.is_some());
    assert_eq!(r.metrics["loss"].value, 1.0);
    let _ = std::fs::remove_dir_all(&dir);
}

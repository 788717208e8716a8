//! The CLI with `--store http://…`: `whet train`, `whet runs`, `whet run show`, `whet model
//! alias|show` and `whet predict models:/…` against a `whet server` process, giving what the
//! same commands give on the server's database directly; and tokens enforced on the way.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

mod common;
use common::fresh_dir;

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/churn.csv")
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// `whet server --port 0` over the store in `dir`; the URL comes from its ready line.
    fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_whet"))
            .args(["server", "--port", "0", "--store"])
            .arg(dir.join("whet.db"))
            .arg("--artifacts-destination")
            .arg(dir.join("art"))
            .args(extra)
            .env("WHET_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server {
            child,
            url: format!("http://{addr}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `whet --store STORE ARGS…` with no token unless given, and nothing from the environment
/// choosing another store.
fn whet(store: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_whet"));
    c.arg("--store")
        .arg(store)
        .args(args)
        .env_remove("WHET_STORE")
        .env_remove("WHET_ARTIFACTS")
        .env_remove("WHET_TOKEN")
        .env_remove("MLFLOW_TRACKING_TOKEN");
    if let Some(t) = token {
        c.env("WHET_TOKEN", t);
    }
    c.output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_str(&ok(o)).unwrap()
}

#[test]
fn train_inspect_alias_and_predict_through_a_server() {
    let dir = fresh_dir("flow");
    let server = Server::start(&dir, &[]);
    let url = server.url.as_str();
    let db = dir.join("whet.db").display().to_string();
    let model = dir.join("model.whet");
    let data = example();
    let data = data.to_str().unwrap();

    let report = json(&whet(
        url,
        None,
        &[
            "train",
            data,
            "--target",
            "churned",
            "--trials",
            "3",
            "--test-size",
            "0.2",
            "--json",
            "--quiet",
            "--out",
            model.to_str().unwrap(),
        ],
    ));
    let tracking = &report["tracking"];
    assert_eq!(tracking["store"], url);
    assert_eq!(tracking["registered_model"], "churn");
    assert_eq!(tracking["model_version"], 1);
    let study = tracking["run_id"].as_str().unwrap().to_string();

    // The model went through the artifact proxy into the server's folder, byte for byte.
    let runs = json(&whet(url, None, &["runs", "--json"]));
    let items = runs["runs"].as_array().unwrap();
    assert_eq!(items.len(), 4, "the study and its 3 trials");
    let study_run = items
        .iter()
        .find(|r| r["info"]["run_id"] == study.as_str())
        .unwrap();
    assert_eq!(study_run["info"]["status"], "FINISHED");
    assert!(study_run["info"]["data_fingerprint"].is_string());
    let uri = study_run["info"]["artifact_uri"].as_str().unwrap();
    assert_eq!(
        std::fs::read(dir.join("art").join(uri).join("model.whet")).unwrap(),
        std::fs::read(&model).unwrap()
    );
    // Every trial's out-of-fold predictions too.
    for t in items
        .iter()
        .filter(|r| r["info"]["run_id"] != study.as_str())
    {
        let uri = t["info"]["artifact_uri"].as_str().unwrap();
        assert!(
            dir.join("art").join(uri).join("oof.parquet").is_file(),
            "{t}"
        );
        // Params, scores and status arrive in one LogBatch per trial.
        assert!(t["params"]["learner"].is_string(), "{t}");
        assert!(t["tags"]["whet.status"].is_string(), "{t}");
        if t["tags"]["whet.status"] == "completed" {
            assert!(t["metrics"]["cv_roc_auc"]["value"].is_number(), "{t}");
        }
        assert_eq!(t["info"]["status"], "FINISHED", "{t}");
    }
    // The same listing as on the server's database itself.
    assert_eq!(runs, json(&whet(&db, None, &["runs", "--json"])));

    let show = ok(&whet(url, None, &["run", "show", &study[..8]]));
    assert!(show.contains(&format!("run {study}")), "{show}");
    assert!(
        show.contains(&format!("{url}/api/2.0/mlflow-artifacts/artifacts/{uri}")),
        "{show}"
    );
    assert!(
        show.contains("model.whet") && show.contains("trials.jsonl"),
        "{show}"
    );
    assert!(show.contains("children    3 runs"), "{show}");

    let alias = ok(&whet(
        url,
        None,
        &["model", "alias", "churn", "1", "champion"],
    ));
    assert!(alias.contains("churn@champion"), "{alias}");
    let shown = json(&whet(url, None, &["model", "show", "churn", "--json"]));
    assert_eq!(shown["versions"][0]["aliases"][0], "champion");
    assert!(shown["versions"][0]["metrics"].as_object().unwrap().len() > 1);
    assert_eq!(shown["alias_history"].as_array().unwrap().len(), 1);
    assert_eq!(
        shown,
        json(&whet(&db, None, &["model", "show", "churn", "--json"]))
    );
    let models = json(&whet(url, None, &["models", "--json"]));
    assert_eq!(models["models"][0]["name"], "churn");

    // Predicting with the registered model (downloaded, checksum-verified) gives what the
    // --out file gives.
    let remote_csv = dir.join("remote.csv");
    let local_csv = dir.join("local.csv");
    ok(&whet(
        url,
        None,
        &[
            "predict",
            "models:/churn@champion",
            data,
            "--proba",
            "-q",
            "-o",
            remote_csv.to_str().unwrap(),
        ],
    ));
    ok(&whet(
        &db,
        None,
        &[
            "predict",
            model.to_str().unwrap(),
            data,
            "--proba",
            "-q",
            "-o",
            local_csv.to_str().unwrap(),
        ],
    ));
    assert_eq!(
        std::fs::read(&remote_csv).unwrap(),
        std::fs::read(&local_csv).unwrap()
    );

    // Delete, restore and compare through the server.
    let trial = items
        .iter()
        .find(|r| r["info"]["run_id"] != study.as_str())
        .unwrap()["info"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&whet(url, None, &["run", "delete", &trial[..10]]));
    let active = json(&whet(url, None, &["runs", "--json"]));
    assert_eq!(active["runs"].as_array().unwrap().len(), 3);
    ok(&whet(url, None, &["run", "restore", &trial]));
    let cmp = json(&whet(
        url,
        None,
        &["run", "compare", &study, &trial, "--json"],
    ));
    assert_eq!(cmp["runs"].as_array().unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `whet server token create` prints the secret as the last line of stdout.
fn token(dir: &Path, name: &str, role: &str) -> String {
    let out = ok(&whet(
        &dir.join("whet.db").display().to_string(),
        None,
        &["server", "token", "create", "--name", name, "--role", role],
    ));
    out.lines().last().unwrap().trim().to_string()
}

#[test]
fn a_server_with_auth_needs_a_token_and_a_big_enough_role() {
    let dir = fresh_dir("auth");
    let read = token(&dir, "reader", "read");
    let server = Server::start(&dir, &["--auth", "on"]);
    let url = server.url.as_str();

    let o = whet(url, None, &["runs"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(url) && err.contains("WHET_TOKEN"), "{err}");

    ok(&whet(url, Some(&read), &["runs"]));
    let data = example();
    let o = whet(
        url,
        Some(&read),
        &[
            "train",
            data.to_str().unwrap(),
            "--target",
            "churned",
            "--trials",
            "1",
            "--quiet",
            "--out",
            dir.join("m.whet").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("read role") && err.contains("WHET_TOKEN"),
        "{err}"
    );
    assert!(!dir.join("m.whet").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nobody_listening_is_named_with_a_hint() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let o = whet(&url, None, &["models"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&url) && err.contains("whet server"), "{err}");
}

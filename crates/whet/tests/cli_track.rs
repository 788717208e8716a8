//! `whet runs`, `whet run ...`, `whet models`, `whet model ...`, `whet gc` against a store
//! filled through the library, as `whet train` will fill it.

use std::path::PathBuf;
use std::process::{Command, Output};

use whet_track::{ArtifactSource, Metric, NewRun, RunStatus, Store};

struct Fixture {
    dir: PathBuf,
    db: String,
    study: String,
    trials: Vec<String>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture(name: &str) -> Fixture {
    let dir =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("whet-cli-track-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("whet.db").display().to_string();
    let s = Store::open(&db).unwrap();
    let exp = s.get_or_create_experiment("churn").unwrap();
    let study = s
        .start_run(&NewRun {
            experiment: exp,
            name: "study".into(),
            source_command: "whet train churn.csv".into(),
            ..Default::default()
        })
        .unwrap();
    let mut trials = Vec::new();
    for (i, learner) in ["gbdt", "linear", "gbdt"].iter().enumerate() {
        let t = s
            .start_run(&NewRun {
                experiment: exp,
                name: format!("trial {i}"),
                parent: Some(study.clone()),
                ..Default::default()
            })
            .unwrap();
        s.log_params(
            &t,
            &[
                ("learner".into(), learner.to_string()),
                ("seed".into(), "7".into()),
                ("num_leaves".into(), (15 + i * 16).to_string()),
            ],
        )
        .unwrap();
        s.log_metrics(
            &t,
            &[
                Metric::new("cv_auc", 0.80 + i as f64 * 0.05, 0),
                Metric::new("cv_logloss", 0.5 - i as f64 * 0.1, 0),
            ],
        )
        .unwrap();
        s.end_run(&t, RunStatus::Finished).unwrap();
        trials.push(t);
    }
    s.log_artifact(
        &study,
        "model.whet",
        ArtifactSource::Bytes(b"WHETMDL\0fake"),
    )
    .unwrap();
    s.log_metrics(&study, &[Metric::new("cv_auc", 0.95, 0)])
        .unwrap();
    s.end_run(&study, RunStatus::Finished).unwrap();
    Fixture {
        dir,
        db,
        study,
        trials,
    }
}

fn whet(f: &Fixture, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_whet"))
        .arg("--store")
        .arg(&f.db)
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}\nstdout: {}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(o)).unwrap()
}

#[test]
fn runs_lists_filters_sorts_and_pages() {
    let f = fixture("runs");
    let text = ok(&whet(&f, &["runs"]));
    assert!(text.contains("trial 2") && text.contains("study"), "{text}");
    assert!(text.contains("FINISHED"), "{text}");
    let v = json(&whet(
        &f,
        &[
            "runs",
            "--experiment",
            "churn",
            "--filter",
            "params.learner = 'gbdt' and metrics.cv_auc > 0.85",
            "--json",
        ],
    ));
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["info"]["run_name"], "trial 2");
    assert_eq!(runs[0]["info"]["parent_run_id"], f.study.as_str());
    let v = json(&whet(
        &f,
        &[
            "runs",
            "--sort",
            "metrics.cv_auc DESC",
            "--limit",
            "2",
            "--json",
        ],
    ));
    let names: Vec<&str> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["info"]["run_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["study", "trial 2"]);
    let token = v["next_page_token"].as_str().unwrap().to_string();
    let v = json(&whet(
        &f,
        &[
            "runs",
            "--sort",
            "metrics.cv_auc DESC",
            "--limit",
            "2",
            "--page-token",
            &token,
            "--json",
        ],
    ));
    assert_eq!(v["runs"].as_array().unwrap().len(), 2);
    assert!(v["next_page_token"].is_null());
    // The sorted metric becomes a column of the table.
    let text = ok(&whet(&f, &["runs", "--sort", "metrics.cv_logloss"]));
    assert!(
        text.lines().next().unwrap().contains("cv_logloss"),
        "{text}"
    );
}

#[test]
fn bad_filter_and_unknown_things_are_clear_errors() {
    let f = fixture("errors");
    // A filter or sort order that does not parse is a usage error (2), like any bad argument.
    let o = whet(&f, &["runs", "--filter", "metrics.cv_auc > 'high'"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("position 17") && err.contains("^"), "{err}");
    // A bad sort order is called one, with its own hint.
    let o = whet(&f, &["runs", "--sort", "metrics.cv_auc SIDEWAYS"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("invalid sort order at position 15")
            && err.contains("ASC")
            && !err.contains("filter"),
        "{err}"
    );
    // A misspelt status is refused with the statuses there are, not answered with no runs.
    let o = whet(&f, &["runs", "--filter", "attributes.status = 'BOGUS'"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("'BOGUS' is not a run status") && err.contains("FINISHED, FAILED, KILLED"),
        "{err}"
    );
    let o = whet(&f, &["runs", "--experiment", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("churn"));
    let o = whet(&f, &["run", "show", "0000000000000000000000000000000f"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not found"));
    let o = whet(&f, &["model", "show", "ghost"]);
    assert_eq!(o.status.code(), Some(1));
    // A damaged store names its file.
    let bad = f.dir.join("bad.db");
    std::fs::write(&bad, b"this is not a database at all, not even close").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_whet"))
        .arg("--store")
        .arg(&bad)
        .arg("runs")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(bad.to_str().unwrap()) && err.contains("damaged"),
        "{err}"
    );
}

#[test]
fn run_show_and_compare() {
    let f = fixture("show");
    let text = ok(&whet(&f, &["run", "show", &f.trials[1][..8]]));
    assert!(text.contains("trial 1"), "{text}");
    assert!(
        text.contains("learner") && text.contains("linear"),
        "{text}"
    );
    assert!(text.contains(&f.study), "parent shown: {text}");
    let text = ok(&whet(&f, &["run", "show", &f.study]));
    assert!(text.contains("children    3 runs"), "{text}");
    assert!(text.contains("model.whet"), "{text}");
    let v = json(&whet(&f, &["run", "show", &f.study, "--json"]));
    assert_eq!(v["run"]["info"]["source_command"], "whet train churn.csv");
    assert_eq!(v["artifacts"][0]["size"], 12);
    let ids: Vec<&str> = f.trials.iter().map(String::as_str).collect();
    let mut args = vec!["run", "compare"];
    args.extend(&ids);
    let text = ok(&whet(&f, &args));
    assert!(text.contains("params: 2 differ, 1 the same"), "{text}");
    assert!(
        text.contains("num_leaves") && !text.contains("  seed"),
        "{text}"
    );
    assert!(text.contains("cv_auc"), "{text}");
    args.push("--json");
    let v = json(&whet(&f, &args));
    assert_eq!(v["params_differing"]["learner"][1], "linear");
    assert_eq!(v["params_same"]["seed"], "7");
    assert!((v["metrics"]["cv_auc"][2].as_f64().unwrap() - 0.9).abs() < 1e-12);
    // compare needs two runs
    assert_eq!(whet(&f, &["run", "compare", ids[0]]).status.code(), Some(2));
}

#[test]
fn registry_commands() {
    let f = fixture("registry");
    assert!(ok(&whet(&f, &["models"])).contains("no registered models"));
    let out = ok(&whet(
        &f,
        &["model", "register", &f.study, "--name", "churn"],
    ));
    assert!(out.contains("churn version 1"), "{out}");
    let v = json(&whet(
        &f,
        &[
            "model",
            "register",
            &f.study,
            "--name",
            "churn",
            "--artifact",
            "model.whet",
            "--json",
        ],
    ));
    assert_eq!(v["version"], 2);
    // A trial has no model file.
    let o = whet(&f, &["model", "register", &f.trials[0], "--name", "churn"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--artifact"));
    ok(&whet(&f, &["model", "alias", "churn", "1", "champion"]));
    let out = ok(&whet(&f, &["model", "alias", "churn", "2", "champion"]));
    assert!(out.contains("moved from version 1 to 2"), "{out}");
    let v = json(&whet(&f, &["model", "show", "churn@champion", "--json"]));
    assert_eq!(v["version"], 2);
    assert_eq!(v["run_id"], f.study.as_str());
    assert_eq!(v["metrics"]["cv_auc"], 0.95);
    let v = json(&whet(&f, &["model", "show", "churn/1", "--json"]));
    assert_eq!(v["version"], 1);
    let text = ok(&whet(&f, &["model", "show", "churn"]));
    assert!(
        text.contains("2 versions") && text.contains("1 → 2"),
        "{text}"
    );
    let text = ok(&whet(&f, &["models"]));
    assert!(text.contains("champion→2"), "{text}");
    let v = json(&whet(&f, &["models", "--json"]));
    assert_eq!(v["models"][0]["latest_version"], 2);
    let o = whet(&f, &["model", "alias", "churn", "9", "champion"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn delete_and_gc() {
    let f = fixture("gc");
    ok(&whet(&f, &["run", "delete", &f.trials[0]]));
    let v = json(&whet(&f, &["runs", "--json"]));
    assert_eq!(v["runs"].as_array().unwrap().len(), 3);
    let v = json(&whet(&f, &["gc", "--json"]));
    assert_eq!(v["runs_deleted"][0], f.trials[0].as_str());
    assert!(whet(&f, &["run", "show", &f.trials[0]]).status.code() == Some(1));
    let out = ok(&whet(&f, &["gc"]));
    assert!(out.contains("removed 0 deleted runs"), "{out}");
}

#[test]
fn store_comes_from_the_environment() {
    let f = fixture("env");
    let o = Command::new(env!("CARGO_BIN_EXE_whet"))
        .env("WHET_STORE", &f.db)
        .args(["runs", "--json"])
        .output()
        .unwrap();
    assert_eq!(json(&o)["runs"].as_array().unwrap().len(), 4);
    // Without flag or variable the store is ./whet.db in the working directory.
    let cwd = f.dir.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_whet"))
        .env_remove("WHET_STORE")
        .current_dir(&cwd)
        .args(["runs"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no store at ./whet.db") && err.contains("whet train"),
        "{err}"
    );
    assert!(
        !cwd.join("whet.db").exists(),
        "listing runs must not leave an empty store behind"
    );
    std::fs::copy(&f.db, cwd.join("whet.db")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_whet"))
        .env_remove("WHET_STORE")
        .current_dir(&cwd)
        .args(["runs", "--json"])
        .output()
        .unwrap();
    assert_eq!(json(&o)["runs"].as_array().unwrap().len(), 4);
}

#[test]
fn a_listing_of_zero_runs_is_a_usage_error() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_whet"))
        .args(["runs", "-n", "0", "--store"])
        .arg(
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("whet-n0-{}.db", std::process::id())),
        )
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

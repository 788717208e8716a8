//! `whet train` and `whet predict` end to end: the JSON contract, reproducibility, budgets,
//! degenerate data, and prediction output. Helpers here, tests by concept in the modules.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "../common/mod.rs"]
mod common;
use common::tmp;

/// Every run goes to one store in this test process's temporary folder, never ./whet.db.
fn whet() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_whet"));
    c.env("WHET_STORE", tmp("whet.db"))
        .env_remove("WHET_ARTIFACTS");
    c
}

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/churn.csv")
}

fn write(name: &str, text: &str) -> PathBuf {
    let p = tmp(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn json(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn train(data: &Path, target: &str, out: &Path, extra: &[&str]) -> Output {
    whet()
        .arg("train")
        .arg(data)
        .args(["--target", target, "--json", "--quiet", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// `whet predict MODEL examples/churn.csv --proba`: the CSV it prints.
fn predict_proba(model: &Path) -> Vec<u8> {
    let p = whet()
        .arg("predict")
        .arg(model)
        .arg(example())
        .args(["--proba", "-q"])
        .output()
        .unwrap();
    assert!(p.status.success(), "{}", stderr(&p));
    p.stdout
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

mod predict;
mod refusals;
/// The runs of a store as `whet runs --json` lists them (status, tags).
fn runs_json(store: &Path) -> Vec<serde_json::Value> {
    let o = whet()
        .env("WHET_STORE", store)
        .args(["runs", "--json", "-n", "1000"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v.get("runs")
        .and_then(|r| r.as_array())
        .or_else(|| v.as_array())
        .cloned()
        .unwrap_or_default()
}

mod report;
mod store;
mod validation;

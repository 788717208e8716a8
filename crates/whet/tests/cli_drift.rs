//! `whet drift` end to end: a 0.2 standard deviation shift of one column in 10,000 rows is
//! found, unchanged data is not flagged, a new category and a column turning mostly missing are
//! named; the exit code says which; the result is a tracked run linked to the model version.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::tmp;

fn whet(store: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_whet"));
    c.env("WHET_STORE", store).env_remove("WHET_ARTIFACTS");
    c
}

struct Lcg(u64);

impl Lcg {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

#[derive(Default, Clone, Copy)]
struct Change {
    shift_x1: f64,
    new_colour: bool,
    missing_x2: f64,
}

/// `x1`, `x2` standard normal, `colour` of three levels, `y` a noisy function of them.
fn data(path: &Path, rows: usize, seed: u64, change: Change) {
    let mut rng = Lcg(seed);
    let mut s = String::from("x1,x2,colour,y\n");
    for _ in 0..rows {
        let x1 = rng.normal() + change.shift_x1;
        let x2 = rng.normal();
        let u = rng.uniform();
        let colour = if change.new_colour && u < 0.2 {
            "purple"
        } else if u < 0.5 {
            "red"
        } else if u < 0.8 {
            "green"
        } else {
            "blue"
        };
        let y = x1 + 0.5 * x2 + if colour == "red" { 1.0 } else { 0.0 } + 0.3 * rng.normal();
        let x2 = if rng.uniform() < change.missing_x2 {
            String::new()
        } else {
            format!("{x2:.5}")
        };
        writeln!(s, "{x1:.5},{x2},{colour},{y:.5}").unwrap();
    }
    std::fs::write(path, s).unwrap();
}

/// A small GBDT on 10,000 rows, its reference predictions from a separate validation file.
fn model(store: &Path) -> PathBuf {
    let (train, valid, out) = (tmp("train.csv"), tmp("valid.csv"), tmp("model.whet"));
    if out.exists() {
        return out;
    }
    data(&train, 10_000, 1, Change::default());
    data(&valid, 5_000, 2, Change::default());
    let o = whet(store)
        .arg("fit")
        .arg(&train)
        .args([
            "--target",
            "y",
            "--quiet",
            "-p",
            "num_iterations=40",
            "--valid",
        ])
        .arg(&valid)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

fn drift(store: &Path, model: &str, data: &Path, extra: &[&str]) -> (Output, serde_json::Value) {
    let o = whet(store)
        .args(["drift", model])
        .arg(data)
        .args(["--json", "--quiet"])
        .args(extra)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o, v)
}

fn column<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == name)
        .unwrap()
}

#[test]
fn drift_is_found_named_and_exits_3_and_unchanged_data_exits_0() {
    let store = tmp("drift.db");
    let m = model(&store);
    let m = m.to_str().unwrap();

    let same = tmp("same.csv");
    data(&same, 10_000, 3, Change::default());
    let (o, v) = drift(&store, m, &same, &["--no-track"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{v:#}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(v["drift"], false);
    assert_eq!(v["rows"], 10_000);

    let shifted = tmp("shifted.csv");
    data(
        &shifted,
        10_000,
        4,
        Change {
            shift_x1: 0.2,
            ..Change::default()
        },
    );
    let (o, v) = drift(&store, m, &shifted, &["--no-track"]);
    assert_eq!(o.status.code(), Some(3), "{v:#}");
    assert_eq!(v["drift"], true);
    let x1 = column(&v, "x1");
    assert_ne!(x1["severity"], "none", "{x1:#}");
    // KS gap of a 0.2 sd shift between two normals: 2·Φ(0.1) − 1 ≈ 0.08.
    let gap = x1["statistic"].as_f64().unwrap();
    assert!((0.06..0.10).contains(&gap), "{gap}");
    assert_eq!(column(&v, "x2")["severity"], "none");
    assert_eq!(column(&v, "colour")["severity"], "none");
    assert!(v["drifted"].as_array().unwrap().contains(&"x1".into()));

    let changed = tmp("changed.csv");
    data(
        &changed,
        3_000,
        5,
        Change {
            new_colour: true,
            missing_x2: 0.8,
            ..Change::default()
        },
    );
    let html = tmp("drift.html");
    let (o, v) = drift(
        &store,
        m,
        &changed,
        &["--no-track", "--html", html.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(3));
    let colour = column(&v, "colour");
    assert_eq!(colour["unseen_levels"][0][0], "purple", "{colour:#}");
    let share = colour["unseen_fraction"].as_f64().unwrap();
    assert!((0.17..0.23).contains(&share), "{share}");
    let x2 = column(&v, "x2");
    assert_eq!(x2["severity"], "major", "{x2:#}");
    assert!(x2["reasons"].to_string().contains("missing rate"), "{x2:#}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("purple") && page.contains("<table>"));
}

#[test]
fn a_registered_model_gets_a_drift_run_linked_to_its_version() {
    let store = tmp("registry.db");
    // Register through a short study, which logs the model file as an artifact.
    let train = tmp("reg-train.csv");
    data(&train, 600, 9, Change::default());
    let o = whet(&store)
        .arg("train")
        .arg(&train)
        .args([
            "--target",
            "y",
            "--trials",
            "2",
            "--quiet",
            "--experiment",
            "demand",
        ])
        .arg("--out")
        .arg(tmp("reg.whet"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let new = tmp("reg-new.csv");
    data(
        &new,
        600,
        10,
        Change {
            shift_x1: 1.0,
            ..Change::default()
        },
    );
    let (o, v) = drift(&store, "models:/demand/1", &new, &[]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let run_id = v["tracking"]["run_id"].as_str().unwrap().to_string();
    let o = whet(&store)
        .args(["run", "show", &run_id, "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let tags = run["run"]["tags"].to_string();
    assert!(tags.contains("\"whet.kind\":\"drift\""), "{tags}");
    assert!(tags.contains("\"whet.drift.verdict\":\"drift\""), "{tags}");
    assert!(tags.contains("\"whet.model.name\":\"demand\""), "{tags}");
    assert!(tags.contains("\"whet.model.version\":\"1\""), "{tags}");
}

#[test]
fn bad_input_gives_clear_errors_and_no_output_file() {
    let store = tmp("bad.db");
    let m = model(&store);
    let m = m.to_str().unwrap();
    let lacking = tmp("lacking.csv");
    std::fs::write(&lacking, "x1,y\n0.1,1\n0.2,2\n").unwrap();
    let html = tmp("never.html");
    let (o, _) = drift(
        &store,
        m,
        &lacking,
        &["--no-track", "--html", html.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("x2") && err.contains("colour"), "{err}");
    assert!(!html.exists());

    let not_model = tmp("not-a-model.whet");
    std::fs::write(&not_model, "hello").unwrap();
    let (o, _) = drift(
        &store,
        not_model.to_str().unwrap(),
        &lacking,
        &["--no-track"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a whet model file"));

    let (o, _) = drift(&store, "models:/nobody@champion", &lacking, &["--no-track"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nobody"));

    let (o, _) = drift(&store, m, &lacking, &["--alpha", "2"]);
    assert_eq!(o.status.code(), Some(2));
}

/// A study model refit on every training row, with no test holdout, has no predictions on rows
/// it did not learn from: its profile keeps no prediction reference (the fold models'
/// out-of-fold predictions spread differently from the refit model's and made unchanged data
/// read as prediction drift), the report says why, and unchanged data passes.
#[test]
fn a_refit_model_without_a_holdout_compares_no_predictions_and_unchanged_data_passes() {
    let store = tmp("refit.db");
    let (train, model) = (tmp("refit-train.csv"), tmp("refit.whet"));
    data(&train, 1_500, 21, Change::default());
    let o = whet(&store)
        .arg("train")
        .arg(&train)
        .args([
            "--target", "y", "--trials", "3", "--final", "refit", "--quiet",
        ])
        .arg("--out")
        .arg(&model)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let same = tmp("refit-same.csv");
    data(&same, 1_500, 40, Change::default());
    let (o, v) = drift(&store, model.to_str().unwrap(), &same, &["--no-track"]);
    assert_eq!(o.status.code(), Some(0), "{v}");
    assert_eq!(v["predictions"].as_array().map(Vec::len), Some(0), "{v}");
    let why = v["predictions_not_compared"].as_str().unwrap_or_default();
    assert!(why.contains("refit") && why.contains("--test-size"), "{v}");
    // Inputs are still compared: a shifted column is found.
    let moved = tmp("refit-moved.csv");
    data(
        &moved,
        1_500,
        23,
        Change {
            shift_x1: 1.0,
            ..Change::default()
        },
    );
    let (o, v) = drift(&store, model.to_str().unwrap(), &moved, &["--no-track"]);
    assert_eq!(o.status.code(), Some(3), "{v}");
    assert_eq!(v["drifted"][0], "x1", "{v}");
}

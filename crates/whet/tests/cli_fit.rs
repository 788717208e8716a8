//! `whet fit` end to end: metrics, model files, determinism, and bad parameters.

use std::path::PathBuf;
use std::process::Command;

mod common;
use common::tmp;

fn whet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_whet"))
}

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/churn.csv")
}

#[test]
fn fit_reports_metrics_and_writes_model() {
    let out = tmp("gbdt.whet");
    let o = whet()
        .args(["fit"])
        .arg(example())
        .args([
            "--target",
            "churned",
            "--learner",
            "gbdt",
            "--json",
            "--quiet",
        ])
        .args(["-p", "num_iterations=30", "-p", "num_leaves=15"])
        .arg("--test")
        .arg(example())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["task"], "binary");
    assert!(v["fit_seconds"].as_f64().unwrap() > 0.0);
    assert!(v["test_predict_seconds"].as_f64().unwrap() > 0.0);
    let auc = v["test_metrics"]["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.9 && auc <= 1.0, "{auc}");
    assert_eq!(v["iterations"], 30);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..8], b"WHETMDL\0");
}

#[test]
fn same_seed_same_model_whatever_the_threads() {
    let mut files = Vec::new();
    for (i, threads) in ["1", "2", "2"].iter().enumerate() {
        let out = tmp(&format!("det-{i}.whet"));
        let o = whet()
            .args(["--threads", threads, "fit"])
            .arg(example())
            .args(["--target", "churned", "--quiet", "--seed", "7"])
            .args([
                "-p",
                "num_iterations=20",
                "-p",
                "bagging_fraction=0.8",
                "-p",
                "feature_fraction=0.7",
            ])
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let model = std::fs::read(&out).unwrap();
        files.push(model);
    }
    // The metadata holds the fit time, so compare the models after decoding.
    let decode = |b: &[u8]| whet_learn::model::Model::from_bytes(b, "m").unwrap();
    let (a, b, c) = (decode(&files[0]), decode(&files[1]), decode(&files[2]));
    assert_eq!(a.predictor, b.predictor);
    assert_eq!(b.predictor, c.predictor);
}

#[test]
fn every_learner_fits_the_example() {
    for learner in ["gbdt", "rf", "et", "linear", "knn"] {
        let o = whet()
            .args(["fit"])
            .arg(example())
            .args([
                "--target",
                "churned",
                "--learner",
                learner,
                "--json",
                "--quiet",
                "-p",
            ])
            .arg(match learner {
                "knn" => "k=10",
                "linear" => "alpha=0.001",
                _ => "num_iterations=20",
            })
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{learner}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let auc = v["train_metrics"]["roc_auc"].as_f64().unwrap();
        assert!(auc > 0.85, "{learner}: train AUC {auc}");
    }
}

#[test]
fn bad_parameters_are_clear_errors() {
    for (param, needle) in [
        ("num_leaves=1", "num_leaves"),
        ("learning_rate=0", "learning_rate"),
        ("lambda_l2=-1", "lambda_l2"),
        ("lambda_l1=-0.1", "lambda_l1"),
        ("num_leaves=lots", "num_leaves"),
        ("frobnicate=3", "unknown parameter 'frobnicate'"),
        ("num_leavs=8", "did you mean 'num_leaves'"),
        ("feature_fraction=1.5", "(0, 1]"),
        ("no_equals_sign", "KEY=VALUE"),
    ] {
        let out = tmp("never.whet");
        let o = whet()
            .args(["fit"])
            .arg(example())
            .args(["--target", "churned", "--quiet", "-p", param, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{param} is a usage error: {err}");
        assert!(err.contains(needle), "{param}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.exists(), "no model file may be written on error");
    }
    let o = whet()
        .args(["fit"])
        .arg(example())
        .args(["--target", "churned", "--learner", "svm"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown learner 'svm'"));
    // `whet train --learners` and `whet fit --learner` take the same names and aliases.
    let o = whet()
        .args(["fit"])
        .arg(example())
        .args([
            "--target",
            "churned",
            "--learner",
            "lightgbm",
            "--json",
            "-q",
        ])
        .args(["-p", "num_iterations=5"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["learner"], "gbdt");
    let o = whet()
        .args(["fit"])
        .arg(example())
        .args(["--target", "churn"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("did you mean 'churned'"));
}

#[test]
fn weight_column_is_used_and_checked() {
    let o = whet()
        .args(["fit"])
        .arg(example())
        .args([
            "--target",
            "churned",
            "--weight",
            "tenure_months",
            "--json",
            "--quiet",
            "-p",
            "num_iterations=10",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The weight column is not a feature: 45 features without weights, one fewer with them.
    assert_eq!(v["features"], 44);
    let o = whet()
        .args(["fit"])
        .arg(example())
        .args([
            "--target",
            "churned",
            "--weight",
            "monthly_charges",
            "--quiet",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("negative"), "{err}");
}

#[test]
fn a_log_target_fit_predicts_in_the_targets_units_and_refuses_classes() {
    let fit = |learner: &str, log: bool, out: &std::path::Path| {
        let mut c = whet();
        c.args(["fit"])
            .arg(example())
            .args(["--target", "tenure_months", "--learner", learner])
            .args(["--json", "--quiet", "--out"])
            .arg(out);
        if log {
            c.arg("--log-target");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let (plain_out, log_out) = (tmp("plain.whet"), tmp("log.whet"));
    let plain = fit("linear", false, &plain_out);
    let log = fit("linear", true, &log_out);
    assert_eq!(log["params"]["target"], "log1p");
    assert!(plain["params"].get("target").is_none());
    // Scored in the target's units: the RMSE is of the same size either way, not of logs.
    let rmse = |v: &serde_json::Value| v["train_metrics"]["rmse"].as_f64().unwrap();
    let ratio = rmse(&log) / rmse(&plain);
    assert!(
        ratio > 0.5 && ratio < 2.0,
        "{} vs {}",
        rmse(&log),
        rmse(&plain)
    );
    // Only the log-target model needs a reader of model format 4.
    let version = |p: &std::path::Path| {
        let b = std::fs::read(p).unwrap();
        u32::from_le_bytes(b[8..12].try_into().unwrap())
    };
    assert_eq!((version(&plain_out), version(&log_out)), (3, 4));
    let o = whet()
        .args(["fit"])
        .arg(example())
        .args(["--target", "churned", "--log-target", "--quiet"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    // A usage error: exit 2, like every other argument that does not fit the data.
    assert!(
        o.status.code() == Some(2) && err.contains("--log-target is for regression"),
        "{err}"
    );
}

#[test]
fn a_linear_fit_that_stops_at_max_iter_says_so() {
    let run = |max_iter: &str| {
        let o = whet()
            .args(["fit"])
            .arg(example())
            .args([
                "--target",
                "churned",
                "--learner",
                "linear",
                "--json",
                "--quiet",
            ])
            .args(["-p", &format!("max_iter={max_iter}"), "-p", "alpha=0.001"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("did not converge in"))
    };
    assert!(run("1"), "one pass cannot converge");
    assert!(!run("1000"), "the default budget converges on the example");
}

/// When two copies of the bins would crowd the memory available, `whet fit` keeps them once
/// (`low_memory`), says so, and fits the model it fits with both; an explicit
/// `low_memory=false` is the user's choice and is kept.
#[test]
fn a_fit_short_of_memory_keeps_its_bins_once_and_fits_the_same_model() {
    let fit = |memory: Option<&str>, params: &[&str], name: &str| {
        let out = tmp(name);
        let mut cmd = whet();
        if let Some(bytes) = memory {
            cmd.env("WHET_MEMORY_AVAILABLE", bytes);
        }
        let o = cmd
            .args(["fit"])
            .arg(example())
            .args(["--target", "churned", "--json", "--quiet"])
            .args(["-p", "num_iterations=20"])
            .args(params.iter().flat_map(|p| ["-p", p]))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let model = whet_learn::model::Model::from_bytes(&std::fs::read(&out).unwrap(), "m");
        (v, model.unwrap())
    };
    let notes = |v: &serde_json::Value| v["notes"].to_string();
    let (plain, plain_model) = fit(None, &[], "mem-plain.whet");
    assert!(!notes(&plain).contains("low_memory"), "{}", notes(&plain));
    // A few kilobytes "available": far less than two copies of the example's bins need.
    let (short, short_model) = fit(Some("20000"), &[], "mem-short.whet");
    assert!(
        notes(&short).contains("the bins are kept once (low_memory=true"),
        "{}",
        notes(&short)
    );
    let (asked, asked_model) = fit(None, &["low_memory=true"], "mem-asked.whet");
    assert_eq!(short_model.predictor, asked_model.predictor);
    assert_eq!(short["train_metrics"], plain["train_metrics"]);
    assert_eq!(asked["train_metrics"], plain["train_metrics"]);
    assert_ne!(
        short_model.predictor, plain_model.predictor,
        "low_memory is recorded"
    );
    let (kept, kept_model) = fit(Some("20000"), &["low_memory=false"], "mem-kept.whet");
    assert!(!notes(&kept).contains("low_memory"), "{}", notes(&kept));
    assert_eq!(kept_model.predictor, plain_model.predictor);
}

//! `whet review` and `whet compare` end to end: reports, determinism, the store record, the
//! verdict's exit code, and clear errors (with no report file) on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

mod common;
use common::scratch;

fn whet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_whet"))
}

fn run(args: &[&str]) -> Output {
    whet().args(args).output().unwrap()
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

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

struct Fixture {
    test: PathBuf,
    gbdt: PathBuf,
    linear: PathBuf,
    plan_model: PathBuf,
    charges_model: PathBuf,
}

/// Churn split 1,400 / 600 rows; a GBDT and a logistic model of `churned`, a multiclass
/// model of `plan` and a regression of `monthly_charges`.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let d = scratch();
        let text = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/churn.csv"),
        )
        .unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let (train, test) = (d.join("train.csv"), d.join("test.csv"));
        std::fs::write(&train, format!("{}\n", lines[..1401].join("\n"))).unwrap();
        std::fs::write(
            &test,
            format!("{}\n{}\n", lines[0], lines[1401..].join("\n")),
        )
        .unwrap();
        let fit = |target: &str, learner: &str, out: &str| {
            let out = d.join(out);
            ok(&run(&[
                "fit",
                p(&train),
                "--target",
                target,
                "--learner",
                learner,
                "--quiet",
                "-p",
                if learner == "gbdt" {
                    "num_iterations=40"
                } else {
                    "alpha=0.01"
                },
                "--out",
                p(&out),
            ]));
            out
        };
        Fixture {
            gbdt: fit("churned", "gbdt", "gbdt.whet"),
            linear: fit("churned", "linear", "linear.whet"),
            plan_model: fit("plan", "gbdt", "plan.whet"),
            charges_model: fit("monthly_charges", "gbdt", "charges.whet"),
            test,
        }
    })
}

fn review_json(model: &Path, data: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "review",
        p(model),
        p(data),
        "--json",
        "--quiet",
        "--no-track",
        "--resamples",
        "200",
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(&run(&args))).unwrap()
}

fn metric<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap()
}

#[test]
fn binary_review_has_intervals_curves_explanations_slices_and_a_page() {
    let f = fixture();
    let html = scratch().join("binary.html");
    let store = scratch().join("binary.db");
    let o = run(&[
        "review",
        p(&f.gbdt),
        p(&f.test),
        "--json",
        "--quiet",
        "--resamples",
        "200",
        "--html",
        p(&html),
        "--store",
        p(&store),
    ]);
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(v["model"]["task"], "binary");
    assert_eq!(v["data"]["rows"], 600);
    let auc = metric(&v, "roc_auc");
    let (val, lo, hi) = (
        auc["value"].as_f64().unwrap(),
        auc["lo"].as_f64().unwrap(),
        auc["hi"].as_f64().unwrap(),
    );
    assert!(lo < val && val < hi && val > 0.8 && hi <= 1.0, "{auc}");
    for name in [
        "pr_auc",
        "log_loss",
        "brier",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "ece",
    ] {
        assert!(metric(&v, name)["lo"].is_number(), "{name} has no interval");
    }
    let b = &v["binary"];
    assert!(b["roc"].as_array().unwrap().len() > 10);
    assert!(
        b["f1_optimal"]["f1"].as_f64().unwrap()
            >= metric(&v, "f1")["value"].as_f64().unwrap() - 1e-12
    );
    let cm = v["confusion"]["matrix"].as_array().unwrap();
    let total: u64 = cm
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert_eq!(total, 600);
    let ex = &v["explanations"];
    assert!(ex["shap"]["method"].as_str().unwrap().contains("TreeSHAP"));
    assert!(ex["importance"].as_array().unwrap().len() >= 5);
    assert!(
        v["slices"]["slices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["label"] == "plan = basic")
    );
    let checks: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(checks.contains(&"calibration") && checks.contains(&"overfitting"));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.starts_with("<!DOCTYPE html>") && page.contains("<svg") && page.contains("ROC curve")
    );
    // Every column of every table says what it holds.
    assert!(!page.contains("<th></th>"), "a table column has no header");
    // Self-contained: nothing is fetched.
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http") && !page.contains("<script")
    );
    // Recorded as a review run in the store.
    let runs = ok(&run(&[
        "runs",
        "--store",
        p(&store),
        "--experiment",
        "reviews",
        "--json",
    ]));
    assert!(runs.contains("\"review\""), "{runs}");
}

#[test]
fn drift_against_the_training_profile_in_the_model() {
    let f = fixture();
    let v = review_json(&f.gbdt, &f.test, &["--slices", "none", "--no-explain"]);
    let check = |v: &serde_json::Value| -> serde_json::Value {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "data drift")
            .unwrap()
            .clone()
    };
    // The same population as training: no column moved.
    assert_eq!(check(&v)["verdict"], "pass", "{}", check(&v));
    assert!(
        v["drift"]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["column"] == "tenure_months")
    );
    // Charges raised by 100: that column (and the predictions it moves) shift.
    let shifted = scratch().join("shifted.csv");
    let text = std::fs::read_to_string(&f.test).unwrap();
    let moved: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut cells: Vec<String> = l.split(',').map(str::to_string).collect();
            if i > 0 {
                let x: f64 = cells[7].parse().unwrap();
                cells[7] = format!("{:.2}", x + 100.0);
            }
            cells.join(",") + "\n"
        })
        .collect();
    std::fs::write(&shifted, moved).unwrap();
    let v = review_json(&f.gbdt, &shifted, &["--slices", "none", "--no-explain"]);
    assert_eq!(check(&v)["verdict"], "warn");
    assert!(
        check(&v)["summary"]
            .as_str()
            .unwrap()
            .contains("'monthly_charges'")
    );
    assert_eq!(v["drift"]["columns"][0]["column"], "monthly_charges");
}

#[test]
fn same_seed_same_review() {
    let f = fixture();
    let a = review_json(&f.gbdt, &f.test, &["--seed", "4"]);
    let b = review_json(&f.gbdt, &f.test, &["--seed", "4"]);
    assert_eq!(a, b);
    let c = review_json(&f.gbdt, &f.test, &["--seed", "5"]);
    assert_ne!(metric(&a, "roc_auc")["lo"], metric(&c, "roc_auc")["lo"]);
    assert_eq!(
        metric(&a, "roc_auc")["value"],
        metric(&c, "roc_auc")["value"]
    );
}

#[test]
fn multiclass_and_regression_reviews() {
    let f = fixture();
    let v = review_json(&f.plan_model, &f.test, &["--slices", "region"]);
    assert_eq!(v["model"]["task"], "multiclass");
    for name in [
        "log_loss",
        "accuracy",
        "f1_macro",
        "f1_weighted",
        "precision[basic]",
        "recall[premium]",
        "f1[standard]",
    ] {
        assert!(metric(&v, name)["value"].is_number(), "{name}");
    }
    assert_eq!(v["confusion"]["matrix"].as_array().unwrap().len(), 3);
    assert!(
        v["slices"]["slices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["column"] == "region")
    );

    let v = review_json(
        &f.charges_model,
        &f.test,
        &["--slices", "none", "--no-explain"],
    );
    assert_eq!(v["model"]["task"], "regression");
    for name in ["rmse", "mae", "r2", "mape"] {
        assert!(metric(&v, name)["lo"].is_number(), "{name}");
    }
    let reg = &v["regression"];
    let counted: u64 = reg["residual_counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(counted, 600);
    assert!(v["slices"]["slices"].as_array().unwrap().is_empty());
    assert!(v.get("explanations").is_none());
}

#[test]
fn compare_gives_a_verdict_and_its_exit_code() {
    let f = fixture();
    // A model against itself: a gain of exactly 0, never `better`.
    let o = run(&[
        "compare",
        p(&f.gbdt),
        p(&f.gbdt),
        p(&f.test),
        "--json",
        "--quiet",
        "--no-track",
        "--resamples",
        "200",
    ]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "indistinguishable");
    assert_eq!(v["metrics"][0]["gain"]["value"], 0.0);
    let tests: Vec<&str> = v["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tests, ["DeLong", "McNemar"]);
    // Linear vs GBDT: whatever the verdict, the exit code says it.
    let store = scratch().join("compare.db");
    let html = scratch().join("compare.html");
    let o = run(&[
        "compare",
        p(&f.linear),
        p(&f.gbdt),
        p(&f.test),
        "--json",
        "--quiet",
        "--resamples",
        "200",
        "--store",
        p(&store),
        "--html",
        p(&html),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let want = match v["verdict"].as_str().unwrap() {
        "better" => 0,
        "indistinguishable" => 3,
        _ => 4,
    };
    assert_eq!(o.status.code(), Some(want));
    let gain = &v["metrics"][0]["gain"];
    assert!(gain["lo"].as_f64().unwrap() <= gain["value"].as_f64().unwrap());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Verdict"));
    assert!(!page.contains("<th></th>"), "a table column has no header");
    let runs = ok(&run(&[
        "runs",
        "--store",
        p(&store),
        "--experiment",
        "comparisons",
        "--json",
    ]));
    assert!(runs.contains("whet.compare.verdict"), "{runs}");
}

#[test]
fn bad_input_is_a_clear_error_and_writes_no_report() {
    let f = fixture();
    let d = scratch();
    let html = d.join("never.html");
    let no_target = d.join("no_target.csv");
    let text = std::fs::read_to_string(&f.test).unwrap();
    let cut: String = text
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    std::fs::write(&no_target, cut).unwrap();
    // monthly_charges as classes: a classification dataset for the regression model.
    let classes = d.join("classes.csv");
    let relabelled: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut cells: Vec<String> = l.split(',').map(str::to_string).collect();
            if i > 0 {
                cells[7] = if i % 2 == 0 {
                    "high".into()
                } else {
                    "low".into()
                };
            }
            cells.join(",") + "\n"
        })
        .collect();
    std::fs::write(&classes, relabelled).unwrap();
    let unseen = d.join("unseen.csv");
    std::fs::write(&unseen, text.replacen(",no\n", ",maybe\n", 1)).unwrap();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["review", p(&f.gbdt), p(&no_target)],
            1,
            "no column 'churned'",
        ),
        (vec!["review", p(&f.gbdt), p(&unseen)], 1, "never saw"),
        (
            vec!["review", p(&f.charges_model), p(&classes)],
            1,
            "does not fit a regression model",
        ),
        (
            vec!["review", p(&f.gbdt), p(&f.test), "--threshold", "1.5"],
            2,
            "--threshold",
        ),
        (
            vec!["review", p(&f.gbdt), p(&f.test), "--slices", "nope"],
            2,
            "no column 'nope'",
        ),
        (
            vec!["review", p(&f.gbdt), p(&f.test), "--metric", "rmse"],
            2,
            "not a binary metric",
        ),
        (
            vec!["compare", p(&f.gbdt), p(&f.plan_model), p(&f.test)],
            1,
            "binary model and the challenger a multiclass",
        ),
        (
            vec!["compare", p(&f.gbdt), p(&f.gbdt), p(&no_target)],
            1,
            "no column 'churned'",
        ),
    ];
    for (mut args, code, message) in cases {
        args.extend([
            "--html",
            p(&html),
            "--no-track",
            "--quiet",
            "--resamples",
            "20",
        ]);
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert!(
            err.contains(message) && err.contains("hint"),
            "{args:?}: {err}"
        );
        assert!(!html.exists(), "{args:?} left a report behind");
    }
}

#[test]
fn promote_moves_the_alias_only_for_a_better_version_and_keeps_the_evidence() {
    let f = fixture();
    let d = scratch();
    let store = d.join("promote.db");
    let train = d.join("train.csv");
    // Version 1: a logistic model; version 2: boosted trees.
    for learner in ["linear", "gbdt"] {
        let out = d.join(format!("promote-{learner}.whet"));
        ok(&run(&[
            "train",
            p(&train),
            "--target",
            "churned",
            "--trials",
            "1",
            "--learners",
            learner,
            "--out",
            p(&out),
            "--experiment",
            "churn",
            "--quiet",
            "--store",
            p(&store),
        ]));
    }
    let promote = |version: &str, force: bool| {
        let mut args = vec![
            "model",
            "promote",
            "churn",
            "--version",
            version,
            "--alias",
            "champion",
            "--data",
            p(&f.test),
            "--resamples",
            "200",
            "--quiet",
            "--store",
            p(&store),
        ];
        if force {
            args.push("--force");
        }
        run(&args)
    };
    // Nothing holds the alias yet: it moves.
    ok(&promote("1", false));
    let o = promote("2", false);
    let shown = |v: &str| -> serde_json::Value {
        serde_json::from_str(&ok(&run(&[
            "model",
            "show",
            &format!("churn/{v}"),
            "--json",
            "--store",
            p(&store),
        ])))
        .unwrap()
    };
    let evidence = shown("2")["tags"]["whet.promote.champion"]
        .as_str()
        .unwrap()
        .to_string();
    let verdict = evidence.split_whitespace().next().unwrap().to_string();
    // `whet status` reads what train and promote recorded: the studies' metric and its
    // direction, and which version the comparison was against, for which alias, and whether
    // the alias moved.
    let status: serde_json::Value =
        serde_json::from_str(&ok(&run(&["status", "--json", "--store", p(&store)]))).unwrap();
    let churn = status["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "churn")
        .unwrap();
    assert_eq!(
        churn["metric"],
        serde_json::json!({"name": "roc_auc", "key": "cv_roc_auc", "direction": "maximize"})
    );
    let runs: serde_json::Value = serde_json::from_str(&ok(&run(&[
        "runs",
        "-e",
        "churn",
        "--json",
        "--store",
        p(&store),
    ])))
    .unwrap();
    let studies: Vec<&serde_json::Value> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["tags"]["whet.kind"] == "study")
        .collect();
    assert_eq!(studies.len(), 2);
    for r in studies {
        assert_eq!(r["tags"]["whet.metric"], "roc_auc");
        assert_eq!(r["tags"]["whet.metric.direction"], "maximize");
    }
    let v2 = status["models"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == 2)
        .unwrap();
    assert_eq!(v2["compare"]["verdict"], verdict.as_str());
    assert_eq!(v2["compare"]["against_version"], 1);
    assert_eq!(v2["compare"]["alias"], "champion");
    assert_eq!(v2["compare"]["promoted"], verdict == "better");
    assert_eq!(v2["compare"]["data"], p(&f.test));
    let holder = shown("2")["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "champion");
    match verdict.as_str() {
        "better" => assert!(o.status.success() && holder, "{evidence}"),
        other => {
            assert_eq!(
                o.status.code(),
                Some(if other == "worse" { 4 } else { 3 }),
                "{evidence}"
            );
            assert!(!holder && String::from_utf8_lossy(&o.stderr).contains("stays on version 1"));
            // --force moves it, and says so in the evidence.
            ok(&promote("2", true));
            let tags = &shown("2")["tags"];
            assert!(
                tags["whet.promote.champion"]
                    .as_str()
                    .unwrap()
                    .contains("forced")
            );
            assert!(
                shown("2")["aliases"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a == "champion")
            );
        }
    }
}

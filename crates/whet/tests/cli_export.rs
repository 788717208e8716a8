//! `whet export MODEL --onnx OUT.onnx`: the parts that cannot be exported are refused by name
//! with no file written, and exported models of every learner and task, run in onnxruntime,
//! predict what `whet predict` predicts. onnxruntime comes from the Python in
//! WHET_TEST_MLFLOW_PYTHON (`.ci/run` makes it with `.ci/mlflow.sh`, whose requirements pin
//! onnx and onnxruntime); without it the comparison says it was skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::tmp;

fn whet() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_whet"));
    c.env("WHET_STORE", tmp("whet.db"))
        .env_remove("WHET_ARTIFACTS");
    c
}

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/churn.csv")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    o
}

/// `whet fit` on the example with the text column ignored (hashed text has no ONNX form).
fn fit(target: &str, learner: &str, params: &[&str], out: &Path, keep_text: bool) {
    let mut c = whet();
    c.arg("fit")
        .arg(example())
        .args([
            "--target",
            target,
            "--learner",
            learner,
            "--seed",
            "7",
            "-q",
        ])
        .arg("--out")
        .arg(out);
    if !keep_text {
        c.args(["--types", "last_comment=ignore"]);
    }
    for p in params {
        if p.starts_with("--") {
            c.arg(p);
        } else {
            c.args(["-p", p]);
        }
    }
    ok(c.output().unwrap());
}

fn export(model: &str, out: &Path) -> Output {
    whet()
        .arg("export")
        .arg(model)
        .arg("--onnx")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn parts_without_an_exact_onnx_form_are_refused_by_name_and_nothing_is_written() {
    let knn = tmp("knn.whet");
    fit("churned", "knn", &["k=5"], &knn, false);
    let out = tmp("knn.onnx");
    let o = export(knn.to_str().unwrap(), &out);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("k-nearest-neighbours") && e.contains("hint:"),
        "{e}"
    );
    assert!(!out.exists());

    // The trees split on hashed token counts of `last_comment`.
    let text = tmp("text.whet");
    fit("churned", "gbdt", &["n_estimators=30"], &text, true);
    let o = export(text.to_str().unwrap(), &out);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("text column 'last_comment'"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());

    // An ensemble names the member that cannot be exported.
    let model = tmp("knn_ensemble.whet");
    ok(whet()
        .arg("train")
        .arg(example())
        .args([
            "--target",
            "churned",
            "--trials",
            "3",
            "--seed",
            "2",
            "--learners",
            "knn",
        ])
        .args([
            "--folds",
            "2",
            "--final",
            "bag",
            "--types",
            "last_comment=ignore",
            "-q",
        ])
        .args(["--experiment", "knn-bag", "--out"])
        .arg(&model)
        .output()
        .unwrap());
    let o = export(model.to_str().unwrap(), &out);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("k-nearest-neighbours"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());

    let o = export("missing.whet", &out);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.whet"), "{}", stderr(&o));
}

#[test]
fn the_export_reports_its_inputs_typed_like_the_training_columns() {
    let model = tmp("gbdt_inputs.whet");
    fit("churned", "gbdt", &["n_estimators=10"], &model, false);
    let out = tmp("gbdt_inputs.onnx");
    let o = ok(whet()
        .args(["export", model.to_str().unwrap(), "--json", "--onnx"])
        .arg(&out)
        .output()
        .unwrap());
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let inputs: Vec<(String, String)> = doc["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                i["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let find = |n: &str| {
        inputs
            .iter()
            .find(|(name, _)| name == n)
            .map(|(_, t)| t.as_str())
    };
    assert_eq!(find("plan"), Some("string"));
    assert_eq!(find("autopay"), Some("string"));
    assert_eq!(find("age"), Some("double"));
    assert_eq!(find("signup_date"), Some("double"));
    assert_eq!(find("customer_id"), None, "ids are dropped: {inputs:?}");
    assert_eq!(
        doc["outputs"],
        serde_json::json!(["label", "probabilities"])
    );
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(bytes.len() as u64, doc["bytes"].as_u64().unwrap());
    // ModelProto field 1 (ir_version) = 10 comes first.
    assert_eq!(&bytes[..2], &[0x08, 10]);
}

/// The example with values a user may send that training never had: other case and
/// surrounding space in the boolean column, unseen and missing categories, missing dates.
fn awkward_rows() -> PathBuf {
    let text = std::fs::read_to_string(example()).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let cols: Vec<&str> = header.split(',').collect();
    let at = |n: &str| cols.iter().position(|c| *c == n).unwrap();
    let (autopay, plan, date, age) = (at("autopay"), at("plan"), at("signup_date"), at("age"));
    let mut out = vec![header.to_string()];
    for (i, line) in lines.take(400).enumerate() {
        let mut f: Vec<String> = line.split(',').map(str::to_string).collect();
        if f.len() != cols.len() {
            continue;
        }
        match i % 7 {
            0 => f[autopay] = format!(" {} ", f[autopay].to_uppercase()),
            1 => f[autopay] = "Yes".into(),
            2 => f[plan] = "platinum".into(),
            3 => f[plan] = String::new(),
            4 => f[date] = String::new(),
            5 => f[age] = "1e3".into(),
            _ => {}
        }
        out.push(f.join(","));
    }
    let p = tmp("awkward.csv");
    std::fs::write(&p, out.join("\n") + "\n").unwrap();
    p
}

/// A categorical column of 600 levels (`zip`, more than a one-byte bin holds) that decides
/// the target with a numeric column beside it; and rows to predict with unseen and missing
/// zips among known ones.
fn zip_csvs() -> (PathBuf, PathBuf) {
    let zip = |i: usize| (i * 7919) % 600;
    let mut train = vec!["zip,x,y".to_string()];
    for i in 0..6000 {
        let positive = (zip(i) * 31 % 600 < 300) != (i % 10 == 0);
        train.push(format!(
            "z{},{},{}",
            zip(i),
            i % 13,
            if positive { "yes" } else { "no" }
        ));
    }
    let mut new = vec!["zip,x,y".to_string()];
    for i in 0..300 {
        let z = match i % 5 {
            0 => "z9999".to_string(),
            1 => String::new(),
            _ => format!("z{}", zip(i * 3)),
        };
        new.push(format!("{z},{},no", i % 13));
    }
    let (a, b) = (tmp("zip_train.csv"), tmp("zip_new.csv"));
    std::fs::write(&a, train.join("\n") + "\n").unwrap();
    std::fs::write(&b, new.join("\n") + "\n").unwrap();
    (a, b)
}

/// `whet fit --learner gbdt` on [`zip_csvs`]'s training rows, to `out`.
fn fit_zip(train: &Path, out: &Path) {
    ok(whet()
        .arg("fit")
        .arg(train)
        .args(["--target", "y", "-p", "n_estimators=30", "-q", "--out"])
        .arg(out)
        .output()
        .unwrap());
}

#[test]
fn a_categorical_of_600_levels_is_split_level_by_level_and_written_as_format_5() {
    let (train, new) = zip_csvs();
    let model = tmp("zip.whet");
    fit_zip(&train, &model);
    let bytes = std::fs::read(&model).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 5);
    let pred = tmp("zip_pred.csv");
    ok(whet()
        .arg("predict")
        .arg(&model)
        .arg(&new)
        .arg("-o")
        .arg(&pred)
        .args(["-q", "--proba"])
        .output()
        .unwrap());
    assert_eq!(std::fs::read_to_string(&pred).unwrap().lines().count(), 301);
    // Every level is told apart: the training rows' labels are 90% the zip's own.
    let o = ok(whet()
        .arg("fit")
        .arg(&train)
        .args(["--target", "y", "-p", "n_estimators=30", "-q", "--json"])
        .output()
        .unwrap());
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let accuracy = r["train_metrics"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.88, "{r}");
}

fn check_in_onnxruntime(python: &str, model: &str, onnx: &Path, data: &Path, classifier: bool) {
    let pred = onnx.with_extension("csv");
    let mut c = whet();
    c.arg("predict")
        .arg(model)
        .arg(data)
        .arg("-o")
        .arg(&pred)
        .arg("-q");
    if classifier {
        c.arg("--proba");
    }
    ok(c.output().unwrap());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/onnx_check.py");
    let o = Command::new(python)
        .arg(&script)
        .arg(onnx)
        .arg(data)
        .arg(&pred)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(o.status.success(), "{model}: {}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(r["rows"].as_u64().unwrap() > 100, "{r}");
    if classifier {
        assert_eq!(r["label_mismatches"], 0, "{model}: {r}");
        assert!(r["max_abs_diff"].as_f64().unwrap() <= 1e-5, "{model}: {r}");
    } else {
        assert!(r["max_rel_diff"].as_f64().unwrap() <= 1e-5, "{model}: {r}");
    }
}

#[test]
fn exported_models_of_every_learner_and_task_predict_as_whet_predict_in_onnxruntime() {
    let Ok(python) = std::env::var("WHET_TEST_MLFLOW_PYTHON") else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: onnxruntime comparison (WHET_TEST_MLFLOW_PYTHON not set; `source .ci/mlflow.sh && setup_mlflow_venv` makes one)"
        );
        return;
    };
    let awkward = awkward_rows();
    // (target, classifier, extra parameters per learner)
    let tasks = [
        ("churned", true),
        ("region", true),
        ("monthly_charges", false),
    ];
    for (target, classifier) in tasks {
        for (learner, params) in [
            ("gbdt", vec!["n_estimators=40"]),
            ("rf", vec!["n_estimators=15"]),
            ("et", vec!["n_estimators=15"]),
            ("linear", vec![]),
            ("linear", vec!["cat_encoding=target"]),
            ("linear", vec!["cat_encoding=ordinal"]),
        ] {
            let name = format!("{target}_{learner}_{}", params.join("_"));
            let model = tmp(&format!("{name}.whet"));
            fit(target, learner, &params, &model, false);
            let onnx = tmp(&format!("{name}.onnx"));
            ok(export(model.to_str().unwrap(), &onnx));
            check_in_onnxruntime(
                &python,
                model.to_str().unwrap(),
                &onnx,
                &example(),
                classifier,
            );
            check_in_onnxruntime(
                &python,
                model.to_str().unwrap(),
                &onnx,
                &awkward,
                classifier,
            );
        }
    }
    // Models of ln(1 + y): the export adds e^p − 1.
    for (learner, params) in [
        ("gbdt", vec!["n_estimators=30", "--log-target"]),
        ("linear", vec!["cat_encoding=target", "--log-target"]),
    ] {
        let model = tmp(&format!("log_{learner}.whet"));
        fit("tenure_months", learner, &params, &model, false);
        let onnx = tmp(&format!("log_{learner}.onnx"));
        ok(export(model.to_str().unwrap(), &onnx));
        check_in_onnxruntime(&python, model.to_str().unwrap(), &onnx, &awkward, false);
    }
    // Poisson regression and a binary model fitted with the multiclass objective.
    for (name, target, params, classifier) in [
        (
            "poisson",
            "support_tickets",
            ["objective=poisson", "n_estimators=30"],
            false,
        ),
        (
            "binary_softmax",
            "churned",
            ["objective=multiclass", "n_estimators=30"],
            true,
        ),
    ] {
        let model = tmp(&format!("{name}.whet"));
        fit(target, "gbdt", &params, &model, false);
        let onnx = tmp(&format!("{name}.onnx"));
        ok(export(model.to_str().unwrap(), &onnx));
        check_in_onnxruntime(
            &python,
            model.to_str().unwrap(),
            &onnx,
            &awkward,
            classifier,
        );
    }
    // Category sets of several 256-level blocks (a categorical of 600 levels).
    let (train, new) = zip_csvs();
    let model = tmp("zip_onnx.whet");
    fit_zip(&train, &model);
    let onnx = tmp("zip.onnx");
    ok(export(model.to_str().unwrap(), &onnx));
    for data in [&train, &new] {
        check_in_onnxruntime(&python, model.to_str().unwrap(), &onnx, data, true);
    }
    // What `whet train` makes: ensembles of trials and bags of fold models, read through the
    // registry like any registered model.
    for (experiment, target, final_, classifier) in [
        ("onnx-bin", "churned", "refit", true),
        ("onnx-multi", "region", "bag", true),
        ("onnx-reg", "monthly_charges", "bag", false),
    ] {
        let model = tmp(&format!("{experiment}.whet"));
        ok(whet()
            .arg("train")
            .arg(example())
            .args([
                "--target", target, "--trials", "6", "--seed", "4", "--folds", "3",
            ])
            .args(["--learners", "gbdt,rf,et,linear", "--final", final_])
            .args([
                "--types",
                "last_comment=ignore",
                "-q",
                "--experiment",
                experiment,
            ])
            .arg("--out")
            .arg(&model)
            .output()
            .unwrap());
        let reference = format!("models:/{experiment}/1");
        let onnx = tmp(&format!("{experiment}.onnx"));
        ok(export(&reference, &onnx));
        check_in_onnxruntime(&python, &reference, &onnx, &awkward, classifier);
    }
}

#[test]
fn a_file_that_is_not_a_model_and_an_unknown_alias_are_clear_errors_with_no_file() {
    let not_model = tmp("not-a-model.whet");
    std::fs::write(&not_model, "hello").unwrap();
    let out = tmp("never.onnx");
    let o = export(not_model.to_str().unwrap(), &out);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not a whet model file"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert!(!out.exists());

    let o = export("models:/nobody@champion", &out);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("nobody"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert!(!out.exists());
}

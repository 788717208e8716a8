//! `whet train` and `whet predict` end to end: the JSON contract, reproducibility, budgets,
//! degenerate data, and prediction output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

fn tmp(name: &str) -> PathBuf {
    // One directory per test binary under target/tmp, emptied when the binary starts,
    // so runs neither collide with nor pile up after earlier ones.
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("whet-cli-train");
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    });
    dir.join(name)
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

#[test]
fn train_reports_leaderboard_and_test_score_and_predict_uses_the_model() {
    let model = tmp("churn.whet");
    let o = train(
        &example(),
        "churned",
        &model,
        &[
            "--trials",
            "8",
            "--test-size",
            "0.2",
            "--learners",
            "gbdt,linear,et",
            "--experiment",
            "contract",
        ],
    );
    let v = json(&o);
    assert_eq!(v["model_path"], model.display().to_string());
    assert_eq!(v["task"], "binary");
    assert_eq!(v["metric"], "roc_auc");
    let cv = v["cv_score"].as_f64().unwrap();
    assert!(cv > 0.8 && cv < 1.0, "cv {cv}");
    let test_auc = v["test_metrics"]["roc_auc"].as_f64().unwrap();
    assert!(test_auc > 0.75, "test auc {test_auc}");
    // The short review: the same test score, now with its interval, and where to go next.
    let review = &v["test_review"];
    let rows = review["rows"].as_u64().unwrap();
    assert!(
        rows > 0 && rows < v["train_rows"].as_u64().unwrap(),
        "{review}"
    );
    assert!(
        review["interval_method"]
            .as_str()
            .unwrap()
            .starts_with("percentile bootstrap, 1000 resamples stratified by class"),
        "{review}"
    );
    let auc = review["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "roc_auc")
        .unwrap();
    let (value, lo, hi) = (
        auc["value"].as_f64().unwrap(),
        auc["lo"].as_f64().unwrap(),
        auc["hi"].as_f64().unwrap(),
    );
    assert!((value - test_auc).abs() < 1e-9, "{auc} vs {test_auc}");
    assert!(lo < value && value < hi && hi - lo < 0.3, "{auc}");
    assert_eq!(
        v["review_command"],
        format!("whet review {} DATA", model.display())
    );
    let board = v["leaderboard"].as_array().unwrap();
    assert!(!board.is_empty());
    assert_eq!(v["trials"], 8);
    // Ranked best first.
    let scores: Vec<f64> = board
        .iter()
        .map(|r| r["cv_score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let learners: Vec<&str> = board
        .iter()
        .map(|r| r["learner"].as_str().unwrap())
        .collect();
    assert!(
        learners
            .iter()
            .all(|l| ["gbdt", "linear", "et"].contains(l))
    );
    assert!(
        v["dropped_columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "customer_id"),
        "id column dropped: {}",
        v["dropped_columns"]
    );
    // The study is a tracked run with one child run per trial, and the model is registered.
    let study = v["tracking"]["run_id"].as_str().unwrap().to_string();
    assert_eq!(v["tracking"]["experiment"], "contract");
    assert_eq!(v["tracking"]["registered_model"], "contract");
    assert!(v["tracking"]["model_version"].as_i64().unwrap() >= 1);
    let runs = whet()
        .args(["runs", "-e", "contract", "--json", "-n", "100", "--filter"])
        .arg("tags.whet.kind = 'trial'")
        .output()
        .unwrap();
    let runs = json(&runs);
    let trials: Vec<&serde_json::Value> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["info"]["parent_run_id"] == study.as_str())
        .collect();
    assert_eq!(trials.len(), 8);
    for r in &trials {
        assert!(
            r["metrics"]["cv_roc_auc"]["value"].is_number() || r["tags"]["whet.status"] == "failed",
            "{r}"
        );
    }
    // Every completed trial keeps its out-of-fold predictions, keyed by the training file's
    // data rows: its CV score is the mean of the fold AUCs recomputed from them.
    let labels: Vec<f64> = std::fs::read_to_string(example())
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| f64::from(u8::from(l.ends_with(",yes"))))
        .collect();
    let store = whet_track::Store::open(tmp("whet.db").to_str().unwrap()).unwrap();
    let mut checked = 0;
    for r in trials
        .iter()
        .filter(|r| r["tags"]["whet.status"] == "completed")
    {
        let id = r["info"]["run_id"].as_str().unwrap();
        let file = tmp(&format!("oof-{id}.parquet"));
        std::fs::write(&file, store.read_artifact(id, "oof.parquet").unwrap()).unwrap();
        let t = whet_data::load::load(
            &file,
            &whet_data::LoadOptions::default(),
            &whet_data::csv::NoProgress,
        )
        .unwrap();
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["data_row", "fold", "prediction", "proba_no", "proba_yes"]
        );
        use arrow_array::cast::AsArray;
        use arrow_array::types::{Float64Type, Int64Type};
        // whet reads integer columns as Int64.
        let rows = t.array(0).as_primitive::<Int64Type>().values().to_vec();
        let folds = t.array(1).as_primitive::<Int64Type>().values().to_vec();
        let p_yes = t.array(4).as_primitive::<Float64Type>().values().to_vec();
        assert_eq!(rows.len(), 1600, "every training row once");
        let mut distinct = rows.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 1600);
        assert!(rows.iter().all(|&d| (1..=2000).contains(&d)));
        let mut fold_aucs = Vec::new();
        for f in 1..=5i64 {
            let at: Vec<usize> = (0..rows.len()).filter(|&i| folds[i] == f).collect();
            let y: Vec<f64> = at.iter().map(|&i| labels[rows[i] as usize - 1]).collect();
            let p = whet_learn::data::Predictions {
                n_rows: at.len(),
                n_outputs: 1,
                values: at.iter().map(|&i| p_yes[i]).collect(),
            };
            fold_aucs.push(whet_learn::metrics::evaluate(
                whet_learn::metrics::Metric::RocAuc,
                &y,
                &p,
                None,
            ));
        }
        let mean = fold_aucs.iter().sum::<f64>() / 5.0;
        let cv = r["metrics"]["cv_roc_auc"]["value"].as_f64().unwrap();
        assert!((mean - cv).abs() < 1e-9, "{mean} vs {cv}");
        checked += 1;
    }
    assert!(checked >= 3, "{checked} completed trials");
    // --no-oof: the trial runs keep no predictions.
    let o = train(
        &example(),
        "churned",
        &tmp("no-oof.whet"),
        &[
            "--trials",
            "2",
            "--learners",
            "linear",
            "--experiment",
            "no-oof",
            "--no-oof",
        ],
    );
    let no_oof_study = json(&o)["tracking"]["run_id"].as_str().unwrap().to_string();
    let runs = json(
        &whet()
            .args(["runs", "-e", "no-oof", "--json", "--filter"])
            .arg("tags.whet.kind = 'trial'")
            .output()
            .unwrap(),
    );
    let trial_runs: Vec<&serde_json::Value> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["info"]["parent_run_id"] == no_oof_study.as_str())
        .collect();
    assert_eq!(trial_runs.len(), 2);
    for r in trial_runs {
        let id = r["info"]["run_id"].as_str().unwrap();
        assert!(store.list_artifacts(id).unwrap().is_empty());
    }
    let shown = whet()
        .args(["model", "show", "contract", "--json"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(shown.contains(&study), "{shown}");

    let preds = tmp("churn-preds.csv");
    let p = whet()
        .arg("predict")
        .arg(&model)
        .arg(example())
        .args([
            "--proba",
            "--id",
            "customer_id",
            "-q",
            "--chunk-rows",
            "300",
            "-o",
        ])
        .arg(&preds)
        .output()
        .unwrap();
    assert!(p.status.success(), "{}", stderr(&p));
    let text = std::fs::read_to_string(&preds).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "customer_id,prediction,proba_no,proba_yes"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2000);
    assert!(rows[0].starts_with("C100000,"));
    for r in &rows {
        let f: Vec<&str> = r.split(',').collect();
        let (a, b): (f64, f64) = (f[2].parse().unwrap(), f[3].parse().unwrap());
        assert!((a + b - 1.0).abs() < 1e-9, "{r}");
        assert_eq!(f[1], if b >= 0.5 { "yes" } else { "no" }, "{r}");
    }
}

/// The text report ends with the short review of the final model on `--test` and the
/// `whet review` command for that file; without a test set there is no review to show, only
/// the command.
#[test]
fn train_ends_with_a_short_review_and_the_command_for_the_full_one() {
    let model = tmp("short-review.whet");
    let run = |extra: &[&str]| {
        let o = whet()
            .arg("train")
            .arg(example())
            .args([
                "--target",
                "churned",
                "--trials",
                "2",
                "--learners",
                "linear",
            ])
            .args(["--experiment", "short-review", "--out"])
            .arg(&model)
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let test = example().display().to_string();
    let out = run(&["--test", &test]);
    let rows = std::fs::read_to_string(example()).unwrap().lines().count() - 1;
    assert!(
        out.contains(&format!(
            "review of the final model on the {rows} test rows (95% intervals: percentile bootstrap"
        )),
        "{out}"
    );
    let auc_line = out
        .lines()
        .find(|l| l.trim_start().starts_with("ROC AUC"))
        .unwrap_or_else(|| panic!("no ROC AUC line: {out}"));
    let numbers: Vec<f64> = auc_line
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        numbers.len() == 3 && numbers[1] < numbers[0] && numbers[0] < numbers[2],
        "{auc_line}"
    );
    assert!(
        out.contains(&format!(
            "full review (slices, explanations, checks): whet review {} {test}",
            model.display()
        )),
        "{out}"
    );
    let out = run(&[]);
    assert!(!out.contains("review of the final model"), "{out}");
    assert!(
        out.contains("full review (slices, explanations, checks): whet review"),
        "{out}"
    );
}

#[test]
fn same_trials_and_seed_give_the_same_model_on_any_thread_count() {
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        let model = tmp(&format!("det-{threads}.whet"));
        let o = whet()
            .args(["--threads", threads, "train"])
            .arg(example())
            .args([
                "--target", "churned", "--trials", "6", "--seed", "3", "--json", "-q",
            ])
            .arg("--out")
            .arg(&model)
            .output()
            .unwrap();
        let v = json(&o);
        let predictions = predict_proba(&model);
        // Everything but the wall times.
        let board: Vec<String> = v["leaderboard"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {}",
                    r["trial"], r["learner"], r["params"], r["cv_score"]
                )
            })
            .collect();
        outputs.push((v["cv_score"].as_f64().unwrap(), board, predictions));
    }
    assert_eq!(outputs[0].0.to_bits(), outputs[1].0.to_bits());
    assert_eq!(outputs[0].1, outputs[1].1);
    assert!(outputs[0].2 == outputs[1].2, "predictions differ");
}

#[test]
fn the_final_model_is_a_bag_or_a_refit_and_the_report_says_which_and_why() {
    let run = |name: &str, extra: &[&str]| {
        let model = tmp(name);
        let mut args = vec!["--trials", "4", "--seed", "1", "--learners", "gbdt,linear"];
        args.extend_from_slice(extra);
        let v = json(&train(&example(), "churned", &model, &args));
        (v, predict_proba(&model))
    };
    let (auto, auto_preds) = run("final-auto.whet", &[]);
    // A trial budget leaves time for every outer fold of the nested comparison.
    let c = &auto["refit_comparison"];
    assert_eq!(c["folds_compared"], 5, "{auto}");
    assert_eq!(c["folds"], 5);
    let (bag_score, refit_score) = (
        c["bag_score"].as_f64().unwrap(),
        c["refit_score"].as_f64().unwrap(),
    );
    let (gain, se) = (
        c["refit_gain"].as_f64().unwrap(),
        c["refit_gain_se"].as_f64().unwrap(),
    );
    // The refit must lead pooled and fold by fold by more than one standard error.
    let strategy = if refit_score > bag_score && gain > se {
        "refit"
    } else {
        "bag"
    };
    assert_eq!(auto["final_strategy"], strategy);
    let detail = auto["final_model_detail"].as_str().unwrap();
    assert!(
        detail.contains("nested cross-validation on 5 of 5 folds"),
        "{detail}"
    );

    let (bag, bag_preds) = run("final-bag.whet", &["--final", "bag"]);
    assert_eq!(bag["final_strategy"], "bag");
    assert!(bag.get("refit_comparison").is_none());
    assert!(
        bag["final_model_detail"]
            .as_str()
            .unwrap()
            .contains("fold models")
    );
    let (refit, refit_preds) = run("final-refit.whet", &["--final", "refit"]);
    assert_eq!(refit["final_strategy"], "refit");
    assert!(
        refit["final_model_detail"]
            .as_str()
            .unwrap()
            .contains("refit on all 2000 training rows")
    );
    assert_ne!(bag_preds, refit_preds);
    assert_eq!(
        auto_preds,
        if strategy == "refit" {
            refit_preds
        } else {
            bag_preds
        }
    );

    let o = train(
        &example(),
        "churned",
        &tmp("final-bad.whet"),
        &["--final", "best"],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("use auto, bag or refit"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_time_budget_is_honoured() {
    let o = train(
        &example(),
        "churned",
        &tmp("budget.whet"),
        &["--time", "3s"],
    );
    let v = json(&o);
    let elapsed = v["elapsed_seconds"].as_f64().unwrap();
    // Budget + 5%, plus slack for a loaded test machine.
    assert!(elapsed <= 3.15 + 1.0, "elapsed {elapsed}");
    assert_eq!(v["stopped_by"], "time_budget");
    assert!(v["trials_completed"].as_u64().unwrap() >= 1);
}

#[test]
fn a_budget_too_small_for_one_trial_still_gives_a_model_and_says_so() {
    let model = tmp("tiny-budget.whet");
    let o = train(&example(), "churned", &model, &["--time", "1ms"]);
    let v = json(&o);
    assert_eq!(v["stopped_by"], "too_small_budget");
    let notes = v["notes"].to_string();
    assert!(notes.contains("budget ran out"), "{notes}");
    assert!(model.exists());
}

#[test]
fn regression_with_fewer_rows_than_folds_uses_fewer_folds() {
    let data = write(
        "few.csv",
        "x,y\n1,2.0\n2,4.1\n3,5.9\n4,8.2\n5,9.9\n6,12.1\n",
    );
    let o = train(
        &data,
        "y",
        &tmp("few.whet"),
        &["--trials", "3", "--folds", "10", "--learners", "linear"],
    );
    let v = json(&o);
    assert_eq!(v["task"], "regression");
    assert_eq!(v["metric"], "rmse");
    assert_eq!(v["cv"], "shuffled 6-fold cross-validation");
    assert!(v["notes"].to_string().contains("only 6 rows"));
    assert!(v["cv_score"].as_f64().unwrap() < 1.0);
}

#[test]
fn large_data_is_validated_on_a_stratified_holdout_unless_folds_are_given() {
    // 100,000 rows: the size from which a tenth of the rows scores a model well.
    let mut text = String::with_capacity(2_000_000);
    text.push_str("a,b,label\n");
    for i in 0..100_000u64 {
        let a = (i * 7919) % 1000;
        let b = (i * 104_729) % 97;
        let label = u8::from(a + b * 5 > 700);
        text.push_str(&format!("{a},{b},{label}\n"));
    }
    let data = write("large.csv", &text);
    let o = train(
        &data,
        "label",
        &tmp("large.whet"),
        &["--trials", "1", "--learners", "linear"],
    );
    let v = json(&o);
    assert_eq!(v["cv"], "stratified 10% holdout");
    assert!(
        v["notes"].to_string().contains("10% holdout"),
        "{}",
        v["notes"]
    );
    assert!(
        v["final_model_detail"]
            .as_str()
            .unwrap()
            .contains("90% of rows outside the holdout"),
        "{}",
        v["final_model_detail"]
    );
    let o = train(
        &data,
        "label",
        &tmp("large3.whet"),
        &["--trials", "1", "--learners", "linear", "--folds", "3"],
    );
    assert_eq!(json(&o)["cv"], "stratified 3-fold cross-validation");
}

#[test]
fn a_class_with_one_row_degrades_stratification_with_a_note() {
    let mut text = String::from("a,b,label\n");
    for i in 0..60 {
        let label = if i == 59 {
            "rare"
        } else if i % 2 == 0 {
            "x"
        } else {
            "y"
        };
        text.push_str(&format!("{},{},{label}\n", i % 7, (i * 13) % 11));
    }
    let data = write("rare.csv", &text);
    let o = train(
        &data,
        "label",
        &tmp("rare.whet"),
        &["--trials", "3", "--learners", "gbdt,linear"],
    );
    let v = json(&o);
    assert_eq!(v["task"], "multiclass");
    let notes = v["notes"].to_string();
    assert!(notes.contains("fewer than 5 rows"), "{notes}");
}

#[test]
fn only_constant_features_is_a_clear_error() {
    let data = write(
        "const.csv",
        "a,b,y\n1,k,0\n1,k,1\n1,k,0\n1,k,1\n1,k,1\n1,k,0\n",
    );
    let model = tmp("const.whet");
    let o = train(&data, "y", &model, &["--trials", "2"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("no usable feature columns"), "{e}");
    assert!(!model.exists());
}

#[test]
fn data_too_big_for_memory_is_refused_before_loading() {
    let model = tmp("mem.whet");
    let o = whet()
        .env("WHET_MEMORY_AVAILABLE", "1000")
        .arg("train")
        .arg(example())
        .args(["--target", "churned", "--trials", "2", "-q", "--out"])
        .arg(&model)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("needs an estimated") && e.contains("available"),
        "{e}"
    );
    assert!(!model.exists());
}

#[test]
fn group_and_time_ordered_cross_validation() {
    let o = train(
        &example(),
        "churned",
        &tmp("group.whet"),
        &["--trials", "2", "--learners", "linear", "--group", "region"],
    );
    let v = json(&o);
    assert_eq!(v["cv"], "group 5-fold cross-validation by 'region'");
    assert!(v["dropped_columns"].to_string().contains("region"));
    let o = train(
        &example(),
        "churned",
        &tmp("time.whet"),
        &[
            "--trials",
            "2",
            "--learners",
            "linear",
            "--time-order",
            "signup_date",
        ],
    );
    let v = json(&o);
    assert_eq!(
        v["cv"],
        "time-ordered 5-fold cross-validation by 'signup_date'"
    );
    assert!(v["cv_score"].as_f64().unwrap() > 0.6);
}

#[test]
fn predict_names_missing_and_drifted_columns_with_file_rows() {
    let model = tmp("small.whet");
    let data = write(
        "train-small.csv",
        &(0..200).fold(String::from("x,c,y\n"), |mut s, i| {
            let x = i % 40;
            s.push_str(&format!("{x},{},{}\n", ["a", "b"][i % 2], x * 2 + i % 3));
            s
        }),
    );
    // x predicts y so well that it looks like leakage; keep it.
    json(&train(
        &data,
        "y",
        &model,
        &["--trials", "2", "--learners", "gbdt", "--keep", "x"],
    ));

    let missing = write("missing.csv", "x\n1\n2\n");
    let o = whet()
        .arg("predict")
        .arg(&model)
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("c"), "{}", stderr(&o));
    assert!(stderr(&o).contains("lacks column"), "{}", stderr(&o));

    // Row 250 of the file holds text in a numeric column; chunks of 100 rows must still name it.
    let mut text = String::from("x,c\n");
    for i in 0..300 {
        let x = if i == 249 {
            "oops".to_string()
        } else {
            i.to_string()
        };
        text.push_str(&format!("{x},a\n"));
    }
    let drift = write("drift.csv", &text);
    let out = tmp("drift-preds.csv");
    let o = whet()
        .arg("predict")
        .arg(&model)
        .arg(&drift)
        .args(["--chunk-rows", "100", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("row 250") && e.contains("oops"), "{e}");
    assert!(!out.exists(), "no partial output");

    // Regression output as Parquet, read back through whet profile.
    let pq = tmp("preds.parquet");
    let o = whet()
        .arg("predict")
        .arg(&model)
        .arg(&data)
        .arg("-o")
        .arg(&pq)
        .args(["--id", "x", "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = whet()
        .arg("profile")
        .arg(&pq)
        .arg("--json")
        .output()
        .unwrap();
    let v = json(&o);
    assert_eq!(v["rows"], 200);
    let names: Vec<&str> = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["x", "prediction"]);

    // Parquet input streams in chunks too, and predicts exactly what the same rows as CSV do.
    let pq_in = tmp("score.parquet");
    {
        use arrow_array::{ArrayRef, Int64Array, StringArray};
        use arrow_schema::{DataType, Field, Schema};
        use std::sync::Arc;
        let schema = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int64, true),
            Field::new("c", DataType::Utf8, true),
        ]));
        let mut sink = whet_data::sink::BatchSink::create(Some(&pq_in), schema).unwrap();
        let xs: Vec<i64> = (0..300).map(|i| i % 40).collect();
        let cs: Vec<&str> = (0..300).map(|i| ["a", "b", "z"][i % 3]).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(xs)),
            Arc::new(StringArray::from(cs)),
        ];
        sink.write(columns).unwrap();
        sink.finish().unwrap();
    }
    let csv_in = write(
        "score.csv",
        &(0..300).fold(String::from("x,c\n"), |mut s, i| {
            s.push_str(&format!("{},{}\n", i % 40, ["a", "b", "z"][i % 3]));
            s
        }),
    );
    let predict_to = |input: &Path, out: &Path| {
        let o = whet()
            .arg("predict")
            .arg(&model)
            .arg(input)
            .args(["--chunk-rows", "64", "-q", "-o"])
            .arg(out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read_to_string(out).unwrap()
    };
    let from_parquet = predict_to(&pq_in, &tmp("from-parquet.csv"));
    let from_csv = predict_to(&csv_in, &tmp("from-csv.csv"));
    assert_eq!(from_parquet.lines().count(), 301);
    assert_eq!(from_parquet, from_csv);
    let o = whet().arg("predict").arg(&model).arg(&pq).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("lacks column the model needs: c"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_options_are_clear_errors() {
    for (args, want) in [
        (vec!["--metric", "bogus"], "unknown metric"),
        (vec!["--metric", "rmse"], "does not apply"),
        (vec!["--learners", "svm"], "unknown learner"),
        (vec!["--time", "ten"], "not a duration"),
        (vec!["--folds", "1"], "at least 2"),
        (vec!["--trials", "0"], "at least 1"),
        (vec!["--test-size", "1.5"], "between 0 and 1"),
        (vec!["--time", "0s"], "must be positive"),
        (vec!["--learners", ""], "unknown learner"),
    ] {
        let o = whet()
            .arg("train")
            .arg(example())
            .args(["--target", "churned", "-q"])
            .args(&args)
            .output()
            .unwrap();
        // Every argument error is a usage error: exit code 2, as the README says.
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(want), "{args:?}: {e}");
    }
}

#[test]
fn four_processes_training_into_one_store_lose_nothing() {
    let store = tmp("shared-four.db");
    let children: Vec<_> = (0..4)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_whet"))
                .env("WHET_STORE", &store)
                .arg("train")
                .arg(example())
                .args([
                    "--target",
                    "churned",
                    "--trials",
                    "3",
                    "--learners",
                    "linear",
                ])
                .args(["--json", "-q", "--experiment", "four", "--seed"])
                .arg(i.to_string())
                .arg("--out")
                .arg(tmp(&format!("four-{i}.whet")))
                .spawn_with_output()
        })
        .collect();
    let mut studies = Vec::new();
    for c in children {
        let o = c.join().unwrap();
        let v = json(&o);
        studies.push(v["tracking"]["run_id"].as_str().unwrap().to_string());
    }
    let runs = Command::new(env!("CARGO_BIN_EXE_whet"))
        .env("WHET_STORE", &store)
        .args(["runs", "-e", "four", "--json", "-n", "100"])
        .output()
        .unwrap();
    let runs = json(&runs);
    let runs = runs["runs"].as_array().unwrap();
    // 4 studies × (1 study run + 3 trial runs), all finished.
    assert_eq!(runs.len(), 16);
    assert!(runs.iter().all(|r| r["info"]["status"] == "FINISHED"));
    for s in &studies {
        let children = runs
            .iter()
            .filter(|r| r["info"]["parent_run_id"] == s.as_str())
            .count();
        assert_eq!(children, 3, "study {s}");
    }
    let models = Command::new(env!("CARGO_BIN_EXE_whet"))
        .env("WHET_STORE", &store)
        .args(["model", "show", "four", "--json"])
        .output()
        .unwrap();
    let models = json(&models);
    assert_eq!(models["versions"].as_array().unwrap().len(), 4);
}

/// Runs a command on its own thread so several can run at once.
trait SpawnWithOutput {
    fn spawn_with_output(&mut self) -> std::thread::JoinHandle<Output>;
}

impl SpawnWithOutput for Command {
    fn spawn_with_output(&mut self) -> std::thread::JoinHandle<Output> {
        let child = self
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::spawn(move || child.wait_with_output().unwrap())
    }
}

#[test]
fn an_unwritable_out_is_refused_before_any_training() {
    let missing = tmp("no-such-folder").join("m.whet");
    // A store of its own: that it is never created shows nothing was loaded or trained.
    let store = tmp("never-opened.db");
    let o = whet()
        .env("WHET_STORE", &store)
        .arg("train")
        .arg(example())
        .args(["--target", "churned", "--time", "10s", "-q", "--out"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    assert!(!store.exists(), "refused only after opening the store");
    let folder = tmp("out-is-a-folder");
    std::fs::create_dir_all(&folder).unwrap();
    let o = train(&example(), "churned", &folder, &["--trials", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is a folder"), "{}", stderr(&o));
}

#[test]
fn targets_no_model_can_learn_are_refused_and_nothing_is_registered() {
    let store = tmp("refused-targets.db");
    let cases: [(&str, &str, &[&str], &str); 3] = [
        (
            "inf-target.csv",
            "x,y\n1,2.5\n2,inf\n3,-Infinity\n4,1.5\n5,2.5\n6,3.5\n",
            &[],
            "infinite in 2 rows (data rows 2, 3)",
        ),
        (
            "huge-target.csv",
            "x,y\n1,2\n2,1e300\n3,4\n4,5\n5,6\n",
            &["--task", "regression"],
            "overflow",
        ),
        ("two-rows.csv", "x,y\n1,a\n2,b\n", &[], "too few rows"),
    ];
    for (name, text, extra, want) in cases {
        let data = write(name, text);
        let model = tmp(&format!("{name}.whet"));
        let o = whet()
            .env("WHET_STORE", &store)
            .arg("train")
            .arg(&data)
            .args(["--target", "y", "--trials", "2", "-q", "--out"])
            .arg(&model)
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{name}: {}", stderr(&o));
        assert!(!model.exists(), "{name}: a model was written");
    }
    let models = whet()
        .env("WHET_STORE", &store)
        .args(["models"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&models.stdout);
    assert!(
        !listed.contains("inf-target") && !listed.contains("two-rows"),
        "a refused study registered a model: {listed}"
    );
}

/// "NaN" in a regression target is a missing value, not a number to learn: its rows are
/// dropped and counted like empty targets, and the model trains on the rest with a finite CV.
/// ("inf" and "-Infinity" are refused, above.)
#[test]
fn nan_strings_in_a_regression_target_are_dropped_and_counted() {
    let mut text = String::from("x,y\n");
    for i in 0..30 {
        let y = if i % 10 == 3 {
            "NaN".to_string()
        } else {
            format!("{}", 2 * i + 1)
        };
        text.push_str(&format!("{i},{y}\n"));
    }
    let data = write("nan-target.csv", &text);
    let model = tmp("nan-target.whet");
    let v = json(&train(&data, "y", &model, &["--trials", "1"]));
    assert_eq!(v["task"], "regression");
    assert_eq!(v["train_rows"], 27, "{v}");
    assert!(
        v["notes"]
            .to_string()
            .contains("dropped 3 rows without a target"),
        "{}",
        v["notes"]
    );
    assert!(v["cv_score"].as_f64().is_some_and(f64::is_finite), "{v}");
    let p = whet()
        .arg("predict")
        .arg(&model)
        .arg(&data)
        .output()
        .unwrap();
    assert!(p.status.success(), "{}", stderr(&p));
    let out = String::from_utf8_lossy(&p.stdout);
    let predictions: Vec<f64> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.rsplit(',').next()?.parse().ok())
        .collect();
    assert_eq!(predictions.len(), 30, "{out}");
    assert!(predictions.iter().all(|p| p.is_finite()), "{out}");
}

#[test]
fn predict_takes_a_registered_model_by_alias_or_version() {
    let store = tmp("registry-predict.db");
    let model = tmp("registry-predict.whet");
    let o = whet()
        .env("WHET_STORE", &store)
        .arg("train")
        .arg(example())
        .args([
            "--target",
            "churned",
            "--trials",
            "2",
            "--experiment",
            "churn-reg",
        ])
        .args(["--json", "-q", "--out"])
        .arg(&model)
        .output()
        .unwrap();
    let v = json(&o);
    let version = v["tracking"]["model_version"].as_i64().unwrap().to_string();
    let alias = whet()
        .env("WHET_STORE", &store)
        .args(["model", "alias", "churn-reg", &version, "champion", "-q"])
        .output()
        .unwrap();
    assert!(alias.status.success(), "{}", stderr(&alias));
    let from_file = predict_proba(&model);
    for reference in [
        "models:/churn-reg@champion".to_string(),
        format!("models:/churn-reg/{version}"),
        "models:/churn-reg".to_string(),
    ] {
        let p = whet()
            .env("WHET_STORE", &store)
            .args(["predict", &reference])
            .arg(example())
            .args(["--proba", "-q"])
            .output()
            .unwrap();
        assert!(p.status.success(), "{reference}: {}", stderr(&p));
        assert!(p.stdout == from_file, "{reference}: other predictions");
    }
    let p = whet()
        .env("WHET_STORE", &store)
        .args(["predict", "models:/churn-reg@nosuch"])
        .arg(example())
        .output()
        .unwrap();
    assert_eq!(p.status.code(), Some(1));
    assert!(stderr(&p).contains("nosuch"), "{}", stderr(&p));
}

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

#[test]
fn ctrl_c_stops_the_search_keeps_finished_trials_and_still_writes_a_model() {
    let store = tmp("interrupted.db");
    let model = tmp("interrupted.whet");
    let child = whet()
        .env("WHET_STORE", &store)
        .arg("train")
        .arg(example())
        .args([
            "--target", "churned", "--time", "120s", "--json", "-q", "--out",
        ])
        .arg(&model)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until some trials have finished, then press Ctrl-C.
    let finished = |runs: &[serde_json::Value]| {
        runs.iter()
            .filter(|r| r.to_string().contains("\"trial\"") && r.to_string().contains("FINISHED"))
            .count()
    };
    let mut waited = 0;
    while !store.exists() || finished(&runs_json(&store)) < 2 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        waited += 1;
        assert!(waited < 600, "no trial finished in two minutes");
    }
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stopped_by"], "interrupted");
    assert!(
        v["notes"].to_string().contains("stopped on request"),
        "{}",
        v["notes"]
    );
    assert!(v["trials_completed"].as_u64().unwrap() >= 1);
    assert!(model.exists(), "no model written");
    let runs = runs_json(&store);
    assert!(
        runs.iter().all(|r| !r.to_string().contains("\"RUNNING\"")),
        "runs left RUNNING: {runs:?}"
    );
}

#[test]
fn predictions_go_only_to_files_named_csv_or_parquet() {
    let model = tmp("out-ext.whet");
    let o = train(&example(), "churned", &model, &["--trials", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = tmp("predictions.json");
    let p = whet()
        .args(["predict"])
        .arg(&model)
        .arg(example())
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(p.status.code(), Some(2), "{}", stderr(&p));
    assert!(stderr(&p).contains(".csv or .parquet"), "{}", stderr(&p));
    assert!(!out.exists());
}

/// SIGTERM (what a service manager or `kill` sends) is Ctrl-C: stopped before any trial
/// finished, there is nothing to build a model from, so the study and its trial are KILLED at
/// once (not left RUNNING for the lease to expire), no model is written and the exit code is
/// 130.
#[test]
fn sigterm_before_any_trial_finished_kills_the_study_and_writes_nothing() {
    // Rows enough that one GBDT trial of an unoptimised build takes seconds.
    let mut text = String::from("a,b,c,d,e,f,y\n");
    let mut state: u64 = 7;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 40) as f64 / (1u64 << 24) as f64
    };
    for _ in 0..60_000 {
        let x: Vec<f64> = (0..6).map(|_| next()).collect();
        let y = u8::from(x[0] + x[1] * x[2] + 0.3 * next() > 0.9);
        let cells: Vec<String> = x.iter().map(|v| format!("{v:.4}")).collect();
        text.push_str(&format!("{},{y}\n", cells.join(",")));
    }
    let data = write("sigterm.csv", &text);
    let store = tmp("sigterm.db");
    let model = tmp("sigterm.whet");
    let child = whet()
        .env("WHET_STORE", &store)
        .arg("train")
        .arg(&data)
        .args([
            "--target",
            "y",
            "--learners",
            "gbdt",
            "--time",
            "300s",
            "-q",
        ])
        .arg("--out")
        .arg(&model)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let running =
        |runs: &[serde_json::Value]| runs.iter().any(|r| r.to_string().contains("\"RUNNING\""));
    let mut waited = 0;
    while !store.exists() || !running(&runs_json(&store)) {
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
        assert!(waited < 600, "the study never started");
    }
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("stopped"), "{err}");
    assert!(!model.exists(), "a model was written");
    let runs = runs_json(&store);
    assert!(!running(&runs), "runs left RUNNING: {runs:?}");
    assert!(
        runs.iter().any(|r| r.to_string().contains("\"KILLED\"")),
        "no run marked KILLED: {runs:?}"
    );
}

/// `--out` checked at the start can still fail at the end (the folder removed meanwhile): the
/// model was given to the store first, so the error says where it is and it still predicts.
#[test]
fn a_model_whose_out_fails_at_the_end_is_kept_in_the_store() {
    let store = tmp("late-out.db");
    let folder = tmp("late-out-folder");
    std::fs::create_dir_all(&folder).unwrap();
    let model = folder.join("m.whet");
    let child = whet()
        .env("WHET_STORE", &store)
        .arg("train")
        .arg(example())
        .args(["--target", "churned", "--time", "4s", "-q", "--out"])
        .arg(&model)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut waited = 0;
    while !store.exists()
        || !runs_json(&store)
            .iter()
            .any(|r| r.to_string().contains("\"RUNNING\""))
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
        assert!(waited < 300, "the study never started");
    }
    std::fs::remove_dir_all(&folder).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the model is safe in the tracking store"),
        "{err}"
    );
    let show = err
        .split("`whet model show ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no model reference in: {err}"))
        .to_string();
    let p = whet()
        .env("WHET_STORE", &store)
        .arg("predict")
        .arg(format!("models:/{show}"))
        .arg(example())
        .args(["--proba", "-q"])
        .output()
        .unwrap();
    assert!(p.status.success(), "{}", stderr(&p));
    assert_eq!(p.stdout.iter().filter(|&&b| b == b'\n').count(), 2001);
}

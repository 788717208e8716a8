//! The report and the model: the JSON contract, the short review, reproducibility, bag or refit.

use super::*;

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

//! Input train refuses or repairs, and output it never loses: bad options, unlearnable targets, unwritable paths.

use super::*;

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

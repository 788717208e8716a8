//! Budgets and the validation plan: time limits, folds, holdouts, stratification, groups and time order.

use super::*;

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

//! `whet predict`: column checks with file rows, registry references, output formats.

use super::*;

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

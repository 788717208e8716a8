//! `whet serve` as a process over HTTP: every body format gives exactly `whet predict`'s
//! numbers, MLflow's scoring protocol answers as `mlflow models serve` does, bad bodies get the
//! right 4xx naming column, row and value, an alias moved under load is followed without a
//! failed request, and SIGTERM drains and exits cleanly.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

mod common;
use common::{exchange, tmp};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/churn.csv")
}

fn whet(store: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_whet"));
    c.env("WHET_STORE", store).env_remove("WHET_ARTIFACTS");
    c
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(store: &Path, model: &str, extra: &[&str]) -> Server {
        let mut child = whet(store)
            .args(["serve", model, "--port", "0"])
            .args(extra)
            .env("WHET_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Server {
            child,
            url: format!("http://{addr}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn post(agent: &ureq::Agent, url: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    let mut r = agent
        .post(url)
        .header("Content-Type", content_type)
        .send(body)
        .unwrap();
    let status = r.status().as_u16();
    let v = r.body_mut().read_json::<Value>().unwrap_or(Value::Null);
    (status, v)
}

fn get_text(agent: &ureq::Agent, url: &str) -> (u16, String) {
    let mut r = agent.get(url).call().unwrap();
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap_or_default())
}

/// A CSV line split on commas (the example file quotes nothing).
fn fields(line: &str) -> Vec<String> {
    line.split(',').map(str::to_string).collect()
}

/// The first `n` rows of the example, without the target, as (header, rows of text).
fn rows(n: usize) -> (Vec<String>, Vec<Vec<String>>) {
    rows_without("churned", n)
}

/// The first `n` rows of the example without column `target`, as (header, rows of text).
fn rows_without(target: &str, n: usize) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(example()).unwrap();
    let mut lines = text.lines();
    let header = fields(lines.next().unwrap());
    let t = header.iter().position(|h| h == target).unwrap();
    let strip = |mut v: Vec<String>| {
        v.remove(t);
        v
    };
    let body = lines.take(n).map(|l| strip(fields(l))).collect();
    (strip(header), body)
}

/// JSON for a CSV field: a number when it reads as one, null when empty, else the text.
fn cell(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else if let Ok(x) = s.parse::<f64>() {
        json!(x)
    } else {
        json!(s)
    }
}

fn records(header: &[String], rows: &[Vec<String>]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                let m: Map<String, Value> = header
                    .iter()
                    .zip(r)
                    .map(|(h, v)| (h.clone(), cell(v)))
                    .collect();
                Value::Object(m)
            })
            .collect(),
    )
}

fn fit_model(out: &Path, extra: &[&str]) {
    fit_target(out, "churned", &["-p", "num_iterations=30"], extra);
}

fn fit_target(out: &Path, target: &str, learner: &[&str], extra: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_whet"))
        .arg("fit")
        .arg(example())
        .args(["--target", target, "--quiet"])
        .args(learner)
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn every_body_format_scores_exactly_as_whet_predict() {
    let store = tmp("formats.db");
    let model = tmp("churn.whet");
    fit_model(&model, &[]);
    let n = 40;
    let (header, body_rows) = rows(n);
    // whet predict on the same rows.
    let input = tmp("rows.csv");
    let mut csv = header.join(",") + "\n";
    for r in &body_rows {
        csv += &(r.join(",") + "\n");
    }
    std::fs::write(&input, &csv).unwrap();
    let o = whet(&store)
        .arg("predict")
        .arg(&model)
        .arg(&input)
        .arg("--proba")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let batch = String::from_utf8(o.stdout).unwrap();
    let mut lines = batch.lines();
    let out_header = fields(lines.next().unwrap());
    assert_eq!(out_header, ["prediction", "proba_no", "proba_yes"]);
    let expected: Vec<(String, f64, f64)> = lines
        .map(|l| {
            let f = fields(l);
            (f[0].clone(), f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    assert_eq!(expected.len(), n);

    let s = Server::start(&store, model.to_str().unwrap(), &[]);
    let a = agent();
    let recs = records(&header, &body_rows);
    let columns: Map<String, Value> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            (
                h.clone(),
                Value::Array(body_rows.iter().map(|r| cell(&r[i])).collect()),
            )
        })
        .collect();
    let predict = format!("{}/predict", s.url);
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("application/json", recs.to_string().into_bytes()),
        (
            "application/json",
            Value::Object(columns.clone()).to_string().into_bytes(),
        ),
        ("text/csv", csv.clone().into_bytes()),
    ];
    for (ct, body) in &bodies {
        let (status, v) = post(&a, &predict, ct, body);
        assert_eq!(status, 200, "{ct}: {v}");
        assert_eq!(v["classes"], json!(["no", "yes"]));
        for (i, (label, p_no, p_yes)) in expected.iter().enumerate() {
            assert_eq!(v["predictions"][i], json!(label), "{ct} row {i}");
            let p = &v["probabilities"][i];
            assert_eq!(p[0].as_f64().unwrap(), *p_no, "{ct} row {i}");
            assert_eq!(p[1].as_f64().unwrap(), *p_yes, "{ct} row {i}");
        }
    }

    // MLflow's scoring protocol: each input shape, answered as {"predictions": [...]}.
    let rows_json: Vec<Value> = body_rows
        .iter()
        .map(|r| Value::Array(r.iter().map(|c| cell(c)).collect()))
        .collect();
    let invocations = format!("{}/invocations", s.url);
    let labels: Vec<Value> = expected.iter().map(|e| json!(e.0)).collect();
    for body in [
        json!({"dataframe_split": {"columns": header, "data": rows_json}}),
        json!({"dataframe_records": recs}),
        json!({"instances": recs}),
        json!({"inputs": Value::Object(columns)}),
    ] {
        let (status, v) = post(
            &a,
            &invocations,
            "application/json",
            body.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v, json!({ "predictions": labels }));
    }
    let (status, v) = post(&a, &invocations, "text/csv", csv.as_bytes());
    assert_eq!((status, &v["predictions"]), (200, &json!(labels)));

    // An unknown category is not an error: it scores as unseen, as in batch prediction.
    let mut odd = recs[0].clone();
    odd["plan"] = json!("platinum-plus");
    let (status, v) = post(
        &a,
        &predict,
        "application/json",
        json!([odd]).to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{v}");

    let (status, meta) = get_text(&a, &format!("{}/metadata", s.url));
    assert_eq!(status, 200);
    let meta: Value = serde_json::from_str(&meta).unwrap();
    let plan = meta["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "plan")
        .unwrap();
    assert_eq!(plan["type"], "category");
    assert!(
        plan["categories"]
            .as_array()
            .unwrap()
            .contains(&json!("basic"))
    );
    assert_eq!(meta["output"]["classes"], json!(["no", "yes"]));

    let (status, metrics) = get_text(&a, &format!("{}/metrics", s.url));
    assert_eq!(status, 200);
    // 3 /predict bodies of 40 rows, 5 /invocations of 40, and the one odd row.
    assert!(metrics.contains("whet_rows_scored_total 321"), "{metrics}");
    assert!(
        metrics.contains("whet_requests_total{endpoint=\"/invocations\",status=\"200\"} 5"),
        "{metrics}"
    );
    assert!(metrics.contains("whet_request_duration_seconds_bucket{endpoint=\"/predict\""));
    assert!(
        metrics.contains("whet_prediction_count{output=\"proba_yes\"} 321"),
        "{metrics}"
    );
}

#[test]
fn bad_bodies_get_the_right_4xx() {
    let store = tmp("bad.db");
    let model = tmp("bad.whet");
    fit_model(&model, &["-p", "num_iterations=5"]);
    let s = Server::start(
        &store,
        model.to_str().unwrap(),
        &["--max-batch-rows", "10", "--max-body-mb", "1"],
    );
    let a = agent();
    let predict = format!("{}/predict", s.url);
    let (header, body_rows) = rows(3);
    let mut recs = records(&header, &body_rows);

    let (status, v) = post(&a, &predict, "application/json", b"{not json");
    assert_eq!(status, 400, "{v}");

    let mut no_age = recs.clone();
    for r in no_age.as_array_mut().unwrap() {
        r.as_object_mut().unwrap().remove("age");
    }
    let (status, v) = post(
        &a,
        &predict,
        "application/json",
        no_age.to_string().as_bytes(),
    );
    assert_eq!(status, 400);
    assert_eq!(v["column"], "age", "{v}");

    recs[1]["tenure_months"] = json!("twelve");
    let (status, v) = post(
        &a,
        &predict,
        "application/json",
        recs.to_string().as_bytes(),
    );
    assert_eq!(status, 400);
    assert_eq!(
        (&v["column"], &v["row"], &v["value"]),
        (&json!("tenure_months"), &json!(2), &json!("\"twelve\"")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("row 2"));

    let (header, many) = rows(11);
    let big = records(&header, &many);
    let (status, v) = post(&a, &predict, "application/json", big.to_string().as_bytes());
    assert_eq!(status, 413, "{v}");

    // The server may answer 413 and close before the client has written the whole body, so
    // the client sees either the 413 or its write cut off; either way the server lives on.
    let huge = vec![b' '; 2 << 20];
    match a
        .post(&predict)
        .header("Content-Type", "application/json")
        .send(&huge[..])
    {
        Ok(r) => assert_eq!(r.status().as_u16(), 413),
        Err(ureq::Error::Io(e)) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "{e}"
        ),
        Err(e) => panic!("{e}"),
    }

    let (status, v) = post(
        &a,
        &format!("{}/invocations", s.url),
        "application/json",
        recs.to_string().as_bytes(),
    );
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("dataframe_split"));

    let (status, _) = post(&a, &predict, "application/xml", b"<a/>");
    assert_eq!(status, 415);

    // Still serving after all that.
    let (status, _) = get_text(&a, &format!("{}/health", s.url));
    assert_eq!(status, 200);

    // A query refused before the body is read, the body arriving after the head: the
    // kept-alive connection still carries the next request.
    let addr = s.url.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let body = recs.to_string();
    let head = format!(
        "POST /predict?explain=maybe HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let pause = std::time::Duration::from_millis(300);
    let (status, _) = exchange(&mut conn, &head, body.as_bytes(), pause).unwrap();
    assert!(status.contains(" 400 "), "{status}");
    let health = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let (status, _) = exchange(&mut conn, &health, b"", pause)
        .unwrap_or_else(|e| panic!("the next request on the connection: {e}"));
    assert!(status.contains(" 200 "), "{status}");
}

fn train_version(store: &Path, seed: &str) {
    let o = whet(store)
        .arg("train")
        .arg(example())
        .args([
            "--target", "churned", "--trials", "1", "--quiet", "--seed", seed,
        ])
        .args(["--experiment", "churn", "--out"])
        .arg(tmp(&format!("v{seed}.whet")))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn alias(store: &Path, version: &str) {
    let o = whet(store)
        .args(["model", "alias", "churn", version, "live"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn served_version(a: &ureq::Agent, url: &str) -> Value {
    let (_, text) = get_text(a, &format!("{url}/ready"));
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    v["model"]["version"].clone()
}

#[test]
fn an_alias_moved_under_load_is_followed_without_a_failed_request() {
    let store = tmp("alias.db");
    train_version(&store, "1");
    train_version(&store, "2");
    alias(&store, "1");
    let s = Server::start(&store, "models:/churn@live", &["--poll-seconds", "0.2"]);
    let a = agent();
    assert_eq!(served_version(&a, &s.url), json!(1));

    let (header, body_rows) = rows(5);
    let body = records(&header, &body_rows).to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let (url, body) = (format!("{}/predict", s.url), body.clone());
            let (stop, ok, failed) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed));
            std::thread::spawn(move || {
                let a = agent();
                while !stop.load(Ordering::Relaxed) {
                    let (status, _) = post(&a, &url, "application/json", body.as_bytes());
                    if status == 200 { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    alias(&store, "2");
    let moved = Instant::now();
    while served_version(&a, &s.url) != json!(2) {
        assert!(
            moved.elapsed() < Duration::from_secs(2),
            "version 2 not served within 2 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(ok.load(Ordering::Relaxed) > 10);
    let (_, metrics) = get_text(&a, &format!("{}/metrics", s.url));
    assert!(
        metrics.contains("whet_model_reloads_total{result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("version=\"2\""), "{metrics}");

    // SIGTERM: the server drains and exits cleanly.
    let mut s = s;
    // SAFETY: sends a signal to our own child process.
    unsafe {
        libc::kill(s.child.id() as i32, libc::SIGTERM);
    }
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// Mean of a numeric column of the example (the training target of the regression models).
fn example_mean(column: &str) -> f64 {
    let text = std::fs::read_to_string(example()).unwrap();
    let mut lines = text.lines();
    let c = fields(lines.next().unwrap())
        .iter()
        .position(|h| h == column)
        .unwrap();
    let v: Vec<f64> = lines.map(|l| fields(l)[c].parse().unwrap()).collect();
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn explain_contributions_plus_base_give_the_raw_score() {
    let store = tmp("explain.db");
    let gbdt: &[&str] = &["-p", "num_iterations=25"];
    let linear: &[&str] = &["--learner", "linear"];
    let rf: &[&str] = &["--learner", "rf", "-p", "num_iterations=10"];
    let cases: [(&str, &[&str], &str, &str); 7] = [
        ("gbdt-binary", gbdt, "churned", "logistic"),
        ("gbdt-regression", gbdt, "monthly_charges", "identity"),
        ("gbdt-multiclass", gbdt, "region", "softmax"),
        ("linear-binary", linear, "churned", "logistic"),
        ("linear-regression", linear, "monthly_charges", "identity"),
        ("linear-multiclass", linear, "region", "softmax"),
        ("rf-binary", rf, "churned", "shares"),
    ];
    let a = agent();
    let n = 12;
    for (name, learner, target, link) in cases {
        let model = tmp(&format!("{name}.whet"));
        fit_target(&model, target, learner, &[]);
        let s = Server::start(&store, model.to_str().unwrap(), &[]);
        let (header, body_rows) = rows_without(target, n);
        let body = records(&header, &body_rows).to_string();
        let (status, v) = post(
            &a,
            &format!("{}/predict?explain=true", s.url),
            "application/json",
            body.as_bytes(),
        );
        assert_eq!(status, 200, "{name}: {v}");
        let shap = &v["shap"];
        assert_eq!(shap["link"], link, "{name}: {shap}");
        let outputs: Vec<String> = shap["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap().to_string())
            .collect();
        let contributions = shap["contributions"].as_array().unwrap();
        assert_eq!(contributions.len(), n, "{name}");
        let mut distinct = std::collections::BTreeSet::new();
        for (r, row) in contributions.iter().enumerate() {
            // Per output: the raw score the link turns into the prediction.
            let raw: Vec<f64> = outputs
                .iter()
                .map(|o| {
                    let per_column = row[o].as_object().unwrap();
                    // Named by the columns the caller sent: a date's parts and a text's
                    // tokens are summed into their column.
                    for c in ["signup_date", "last_comment", "plan", "age"] {
                        assert!(
                            per_column.contains_key(c),
                            "{name}: no {c} in {per_column:?}"
                        );
                    }
                    assert!(!per_column.contains_key(target));
                    let sum: f64 = per_column.values().map(|x| x.as_f64().unwrap()).sum();
                    distinct.insert(format!("{sum:.9}"));
                    sum + shap["base_values"][o].as_f64().unwrap()
                })
                .collect();
            let close = |got: f64, want: f64| {
                assert!(
                    (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                    "{name} row {r}: contributions + base give {got}, the prediction is {want}"
                )
            };
            match link {
                "identity" => close(raw[0], v["predictions"][r].as_f64().unwrap()),
                "logistic" => {
                    assert_eq!(outputs, ["yes"], "{name}: the positive class");
                    close(
                        1.0 / (1.0 + (-raw[0]).exp()),
                        v["probabilities"][r][1].as_f64().unwrap(),
                    )
                }
                "shares" => close(
                    raw[0].clamp(0.0, 1.0),
                    v["probabilities"][r][1].as_f64().unwrap(),
                ),
                "softmax" => {
                    assert_eq!(json!(outputs), v["classes"], "{name}: one output per class");
                    let max = raw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let total: f64 = raw.iter().map(|x| (x - max).exp()).sum();
                    for (c, x) in raw.iter().enumerate() {
                        close(
                            (x - max).exp() / total,
                            v["probabilities"][r][c].as_f64().unwrap(),
                        );
                    }
                }
                other => panic!("unexpected link {other}"),
            }
        }
        // Rows are explained each on their own, not all alike (a 10-tree forest gives few
        // distinct scores).
        assert!(distinct.len() >= 4, "{name}: {distinct:?}");
        // A row's explanation is the same in a later request of other rows: the background a
        // linear model is explained against belongs to the model, not to a request.
        let again = records(&header, &body_rows[3..7]).to_string();
        let (status, w) = post(
            &a,
            &format!("{}/predict?explain=true", s.url),
            "application/json",
            again.as_bytes(),
        );
        assert_eq!(status, 200, "{name}: {w}");
        assert_eq!(w["shap"]["base_values"], shap["base_values"], "{name}");
        assert_eq!(
            w["shap"]["contributions"].as_array().unwrap()[..],
            contributions[3..7],
            "{name}"
        );
        if target == "monthly_charges" && !name.starts_with("rf") {
            // The base is the mean training score: trees under their covers, the linear model
            // against its stored reference profile.
            let base = shap["base_values"]["monthly_charges"].as_f64().unwrap();
            let mean = example_mean("monthly_charges");
            assert!(
                (base - mean).abs() < 0.02 * mean,
                "{name}: base {base}, training mean {mean}"
            );
        }
    }

    // A kNN model has no exact SHAP values: 400 saying why; plain scoring still works.
    let model = tmp("knn.whet");
    fit_target(&model, "churned", &["--learner", "knn"], &[]);
    let s = Server::start(&store, model.to_str().unwrap(), &[]);
    let (header, body_rows) = rows(3);
    let body = records(&header, &body_rows).to_string();
    let (status, v) = post(
        &a,
        &format!("{}/predict?explain=true", s.url),
        "application/json",
        body.as_bytes(),
    );
    assert_eq!(status, 400, "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(
        message.contains("explain=true") && message.contains("kNN"),
        "{message}"
    );
    let (status, _) = post(
        &a,
        &format!("{}/predict", s.url),
        "application/json",
        body.as_bytes(),
    );
    assert_eq!(status, 200);
}

/// The value of an unlabelled or labelled metric line, e.g. `whet_drift_verdict` or
/// `whet_drift_psi{feature="age"}`.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Polls GET /drift until `checks` checks are done (they run off the request path).
fn drift_after(a: &ureq::Agent, url: &str, checks: u64) -> Value {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, text) = get_text(a, &format!("{url}/drift"));
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        if v["checks"].as_u64().unwrap() >= checks {
            return v;
        }
        assert!(Instant::now() < until, "no drift check after 20 s: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn drift_window_flags_shifted_traffic_and_not_unshifted() {
    let store = tmp("drift.db");
    let model = tmp("drift.whet");
    fit_model(&model, &["-p", "num_iterations=10"]);
    let s = Server::start(&store, model.to_str().unwrap(), &["--drift-window", "400"]);
    let a = agent();
    let predict = format!("{}/predict", s.url);
    let (header, all) = rows(1200);
    let charges = header.iter().position(|h| h == "monthly_charges").unwrap();
    let send = |batch: &[Vec<String>]| {
        let (status, v) = post(
            &a,
            &predict,
            "application/json",
            records(&header, batch).to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{v}");
    };
    let (_, before) = get_text(&a, &format!("{}/drift", s.url));
    assert!(before.contains("\"rows_seen\":0"), "{before}");

    // Rows like the training data: the window fills at 400 and is checked; no drift.
    for batch in all[..400].chunks(50) {
        send(batch);
    }
    let v = drift_after(&a, &s.url, 1);
    assert_eq!(v["drift"], false, "{v}");
    assert_eq!(v["rows_in_window"], 400);
    let (_, m) = get_text(&a, &format!("{}/metrics", s.url));
    assert_eq!(metric(&m, "whet_drift_verdict"), Some(0.0), "{m}");
    assert_eq!(metric(&m, "whet_drift_window_rows"), Some(400.0), "{m}");
    let calm = metric(&m, "whet_drift_psi{feature=\"monthly_charges\"}").unwrap();
    assert!(calm < 0.1, "{m}");

    // The same customers charged three times as much: checked every 40 rows; once they fill
    // the window the verdict flips and the column's PSI is far above the calm one.
    let shifted: Vec<Vec<String>> = all[400..]
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Ok(x) = r[charges].parse::<f64>() {
                r[charges] = format!("{}", x * 3.0);
            }
            r
        })
        .collect();
    for batch in shifted[..400].chunks(40) {
        send(batch);
    }
    // A check is not started while one runs; more traffic starts the next one.
    let until = Instant::now() + Duration::from_secs(20);
    let mut more = shifted[400..].chunks(40);
    let v = loop {
        let (_, t) = get_text(&a, &format!("{}/drift", s.url));
        let v: Value = serde_json::from_str(&t).unwrap();
        if v["checked_at_rows_seen"].as_u64() >= Some(800) {
            break v;
        }
        assert!(Instant::now() < until, "{v}");
        if let Some(batch) = more.next() {
            send(batch);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(v["drift"], true, "{v}");
    let drifted: Vec<&str> = v["report"]["drifted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(drifted.contains(&"monthly_charges"), "{drifted:?}");
    let (_, m) = get_text(&a, &format!("{}/metrics", s.url));
    assert_eq!(metric(&m, "whet_drift_verdict"), Some(1.0), "{m}");
    let psi = metric(&m, "whet_drift_psi{feature=\"monthly_charges\"}").unwrap();
    assert!(psi > 1.0 && psi > 10.0 * calm, "PSI {psi}, calm {calm}");
    assert_eq!(
        metric(&m, "whet_drift_drifted{feature=\"monthly_charges\"}"),
        Some(1.0)
    );
    // An unshifted column stays calm in the same window.
    assert_eq!(
        metric(&m, "whet_drift_drifted{feature=\"support_tickets\"}"),
        Some(0.0),
        "{m}"
    );
    // Without --drift-window, GET /drift says how to turn it on.
    let plain = Server::start(&store, model.to_str().unwrap(), &[]);
    let (status, text) = get_text(&a, &format!("{}/drift", plain.url));
    assert_eq!(status, 404);
    assert!(text.contains("--drift-window"), "{text}");
}

/// Polls GET /drift until `done` holds of it.
fn drift_until(
    a: &ureq::Agent,
    url: &str,
    what: &str,
    mut done: impl FnMut(&Value) -> bool,
) -> Value {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, text) = get_text(a, &format!("{url}/drift"));
        let v: Value = serde_json::from_str(&text).unwrap();
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < until, "not {what} after 30 s: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn drift_window_checks_are_recorded_as_drift_runs_of_the_served_version() {
    let store = tmp("drift-record.db");
    // Trained on the first 1000 rows with a test holdout, served the others: the reference
    // profile's predictions are then the final model's on rows it did not learn from, as
    // the served ones are (out-of-fold predictions of other models, or training rows, would
    // differ in spread).
    let text = std::fs::read_to_string(example()).unwrap();
    let train = tmp("drift-record-train.csv");
    let first: Vec<&str> = text.lines().take(1001).collect();
    std::fs::write(&train, first.join("\n") + "\n").unwrap();
    let o = whet(&store)
        .arg("train")
        .arg(&train)
        .args([
            "--target", "churned", "--trials", "1", "--quiet", "--seed", "1",
        ])
        // `city` has 120 levels, too sparse in 700 reference rows for a calm verdict at 400.
        .args(["--test-size", "0.3", "--types", "city=ignore"])
        .args(["--experiment", "churn", "--out"])
        .arg(tmp("drift-record.whet"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = Server::start(&store, "models:/churn/1", &["--drift-window", "400"]);
    let a = agent();
    let predict = format!("{}/predict", s.url);
    let (header, all) = rows(2000);
    let all = all[1000..].to_vec();
    let charges = header.iter().position(|h| h == "monthly_charges").unwrap();
    let send = |batch: &[Vec<String>]| {
        let (status, v) = post(
            &a,
            &predict,
            "application/json",
            records(&header, batch).to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{v}");
    };
    let shifted: Vec<Vec<String>> = all[..400]
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Ok(x) = r[charges].parse::<f64>() {
                r[charges] = format!("{}", x * 3.0);
            }
            r
        })
        .collect();

    // The first check of the version (drift) is recorded at once.
    for batch in shifted.chunks(100) {
        send(batch);
    }
    let v = drift_until(&a, &s.url, "recorded", |v| v["recorded"]["ok"] == 1);
    assert_eq!(v["drift"], true, "{v}");

    // Unshifted traffic: checks every 40 rows; the first one without drift is recorded (the
    // verdict changed), the ones after it are not (the same verdict within 600 s).
    let mut calm = all[400..].chunks(40);
    let v = drift_until(&a, &s.url, "calm", |v| {
        if v["drift"] == false && v["checked_at_rows_seen"].as_u64() >= Some(800) {
            return true;
        }
        if let Some(batch) = calm.next() {
            send(batch);
        }
        false
    });
    let checks = v["checks"].as_u64().unwrap();
    drift_until(&a, &s.url, "recorded twice", |v| v["recorded"]["ok"] == 2);
    let mut more = calm;
    let v = drift_until(&a, &s.url, "checked again", |v| {
        if v["checks"].as_u64().unwrap() >= checks + 2 {
            return true;
        }
        if let Some(batch) = more.next() {
            send(batch);
        }
        false
    });
    assert_eq!(v["drift"], false, "{v}");
    std::thread::sleep(Duration::from_millis(500));
    let (_, text) = get_text(&a, &format!("{}/drift", s.url));
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["recorded"],
        json!({"ok": 2, "failed": 0, "dropped": 0}),
        "{v}"
    );
    let (_, m) = get_text(&a, &format!("{}/metrics", s.url));
    assert_eq!(
        metric(&m, "whet_drift_records_total{outcome=\"ok\"}"),
        Some(2.0),
        "{m}"
    );

    // In the store: two drift runs of version 1 of 'churn', newest first, in the model's
    // experiment; `whet status` shows the latest verdict of the version.
    let o = whet(&store)
        .args(["runs", "--json", "-f", "tags.whet.kind = 'drift'"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listed: Value = serde_json::from_slice(&o.stdout).unwrap();
    let runs = listed["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{listed}");
    let tags = |r: &Value| r["tags"].clone();
    let verdicts: Vec<Value> = runs
        .iter()
        .map(|r| tags(r)["whet.drift.verdict"].clone())
        .collect();
    assert_eq!(verdicts, [json!("none"), json!("drift")], "{listed}");
    for r in runs {
        let t = tags(r);
        assert_eq!(t["whet.model.name"], "churn", "{r}");
        assert_eq!(t["whet.model.version"], "1", "{r}");
        assert_eq!(t["whet.drift.source"], "serve", "{r}");
        assert_eq!(t["whet.drift.window"], "400", "{r}");
    }
    assert!(
        tags(&runs[1])["whet.drift.columns"]
            .as_str()
            .unwrap()
            .contains("monthly_charges"),
        "{listed}"
    );
    let o = whet(&store).args(["status", "--json"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let status: Value = serde_json::from_slice(&o.stdout).unwrap();
    let model = status["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "churn")
        .unwrap_or_else(|| panic!("{status}"));
    let v1 = model["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == 1)
        .unwrap_or_else(|| panic!("{model}"));
    assert_eq!(v1["drift"]["verdict"], "none", "{v1}");
    assert!(
        v1["drift"]["data"]
            .as_str()
            .unwrap()
            .contains("served traffic"),
        "{v1}"
    );
}

#[test]
fn an_unreachable_store_costs_the_drift_records_not_the_service() {
    let store = tmp("drift-unreachable.db");
    let model = tmp("drift-unreachable.whet");
    fit_model(&model, &["-p", "num_iterations=10"]);
    // Nothing listens on port 1 of loopback.
    let s = Server::start(
        &store,
        model.to_str().unwrap(),
        &["--drift-window", "200", "--store", "http://127.0.0.1:1"],
    );
    let a = agent();
    let (header, all) = rows(400);
    let body = |batch: &[Vec<String>]| records(&header, batch).to_string();
    let mut batches = all.chunks(50);
    let v = drift_until(&a, &s.url, "a failed record", |v| {
        if v["recorded"]["failed"].as_u64() >= Some(1) {
            return true;
        }
        if let Some(b) = batches.next() {
            let (status, v) = post(
                &a,
                &format!("{}/predict", s.url),
                "application/json",
                body(b).as_bytes(),
            );
            assert_eq!(status, 200, "{v}");
        }
        false
    });
    assert_eq!(v["recorded"]["ok"], 0, "{v}");
    let (_, m) = get_text(&a, &format!("{}/metrics", s.url));
    assert!(
        metric(&m, "whet_drift_records_total{outcome=\"failed\"}") >= Some(1.0),
        "{m}"
    );
    // Still scoring, and still checking drift in /metrics.
    let (status, _) = post(
        &a,
        &format!("{}/predict", s.url),
        "application/json",
        body(&all[..5]).as_bytes(),
    );
    assert_eq!(status, 200);
    assert!(metric(&m, "whet_drift_checks_total") >= Some(1.0), "{m}");
}

/// MLflow's own scoring client (`mlflow.pyfunc.scoring_server.client.ScoringServerClient`,
/// which writes a DataFrame's missing values as Python's bare `NaN`) and the `requests` calls
/// MLflow documents for `mlflow models serve`, run by the pinned mlflow in
/// WHET_TEST_MLFLOW_PYTHON (.ci/mlflow.sh makes it; CI always sets it).
const MLFLOW_CLIENT: &str = r#"
import json, sys
import pandas as pd
import requests
from mlflow.pyfunc.scoring_server.client import ScoringServerClient

host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
df = pd.read_csv(path)
client = ScoringServerClient(host, port)
client.wait_server_ready(timeout=20)
out = {"missing_cells": int(df.isna().sum().sum())}
out["client"] = client.invoke(df).get_predictions(predictions_format="ndarray").tolist()
url = f"http://{host}:{port}/invocations"
def post(payload):
    r = requests.post(url, data=json.dumps(payload), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()["predictions"]
out["dataframe_split"] = post({"dataframe_split": df.to_dict(orient="split")})
out["dataframe_records"] = post({"dataframe_records": df.to_dict(orient="records")})
out["instances"] = post({"instances": df.to_dict(orient="records")})
r = requests.post(url, data=df.to_csv(index=False), headers={"Content-Type": "text/csv"})
assert r.status_code == 200, r.text
out["csv"] = r.json()["predictions"]
print(json.dumps(out))
"#;

#[test]
fn mlflow_scoring_client_and_documented_calls_get_whet_predictions() {
    let Ok(python) = std::env::var("WHET_TEST_MLFLOW_PYTHON") else {
        eprintln!(
            "skipped: MLflow scoring client (WHET_TEST_MLFLOW_PYTHON not set; `source .ci/mlflow.sh && setup_mlflow_venv` makes one)"
        );
        return;
    };
    let store = tmp("mlflow-client.db");
    let model = tmp("mlflow-client.whet");
    fit_model(&model, &["-p", "num_iterations=10"]);
    let s = Server::start(&store, model.to_str().unwrap(), &[]);
    // Rows with missing ages among them: the client sends those as NaN.
    let (header, body_rows) = rows(60);
    let csv = tmp("mlflow-client.csv");
    let text: Vec<String> = std::iter::once(header.join(","))
        .chain(body_rows.iter().map(|r| r.join(",")))
        .collect();
    std::fs::write(&csv, text.join("\n") + "\n").unwrap();
    let addr = s.url.trim_start_matches("http://");
    let (host, port) = addr.rsplit_once(':').unwrap();
    let o = Command::new(&python)
        .args(["-c", MLFLOW_CLIENT, host, port])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(got["missing_cells"].as_u64().unwrap() > 0, "{got}");
    let (status, want) = post(
        &agent(),
        &format!("{}/predict", s.url),
        "application/json",
        records(&header, &body_rows).to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{want}");
    for call in [
        "client",
        "dataframe_split",
        "dataframe_records",
        "instances",
        "csv",
    ] {
        assert_eq!(got[call], want["predictions"], "{call}: {got}");
    }
}

#[test]
fn a_file_that_is_not_a_model_and_an_unknown_alias_are_refused_before_listening() {
    let store = tmp("refused.db");
    let not_model = tmp("not-a-model.whet");
    std::fs::write(&not_model, "hello").unwrap();
    let o = whet(&store)
        .args(["serve", not_model.to_str().unwrap(), "--port", "0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("not a whet model file"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(o.stdout.is_empty(), "it never said it was serving");

    train_version(&store, "1");
    let o = whet(&store)
        .args(["serve", "models:/churn@nosuch", "--port", "0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("nosuch"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(o.stdout.is_empty());
}

//! `whet status` over a store seeded with a known history through the library, as the whet
//! commands write it: studies over ten days (one before the window, one better inside it, one
//! failed, one killed, one running with its trials), a model with a champion and a challenger,
//! a review, a comparison and a drift check. Every fact and every plan line of `--json` is
//! checked; the text view fits in 100 columns; a `whet server` over the same database gives
//! the same report to `--store http://…`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};
use whet_track::{ArtifactSource, Metric, NewRun, RunStatus, Store};

mod common;
use common::fresh_dir;

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn whet(store: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_whet"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("WHET_STORE")
        .env_remove("WHET_TOKEN")
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
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

/// What the seeding wrote, for the checks.
struct Seeded {
    db: String,
    /// Kept open: it holds the leases of the running study and trial.
    store: Store,
    before: String,
    better: String,
    failed: String,
    killed: String,
    running: String,
    failed_trial: String,
    review: String,
    compare: String,
    drift: String,
}

fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn set_end(db: &str, run: &str, end: i64) {
    whet_track::testing::execute(
        db,
        &[&format!(
            "UPDATE runs SET end_time = {end} WHERE run_uuid = '{run}'"
        )],
    )
    .unwrap();
}

/// A study as `whet train` records it: started at `start`, with its score, ended (status,
/// time) unless still running.
struct Study<'a> {
    name: &'a str,
    start: i64,
    cv: Option<f64>,
    end: Option<(RunStatus, i64)>,
    extra: &'a [(&'a str, &'a str)],
}

fn study(s: &Store, db: &str, exp: i64, st: Study) -> String {
    let Study {
        name,
        start,
        cv,
        end,
        extra,
    } = st;
    let mut t = tags(&[
        ("whet.kind", "study"),
        ("target", "churned"),
        ("whet.metric", "roc_auc"),
        ("whet.metric.direction", "maximize"),
    ]);
    t.extend(tags(extra));
    let id = s
        .start_run(&NewRun {
            experiment: exp,
            name: name.into(),
            source_command: "whet train churn.csv --target churned".into(),
            tags: t,
            start_time: Some(start),
            ..Default::default()
        })
        .unwrap();
    s.log_params(
        &id,
        &[
            ("metric".into(), "roc_auc".into()),
            ("data".into(), "churn.csv".into()),
            ("trial_budget".into(), "10".into()),
        ],
    )
    .unwrap();
    if let Some(v) = cv {
        s.log_metrics(
            &id,
            &[
                Metric::new("cv_roc_auc", v, 0),
                Metric::new("test_roc_auc", v - 0.01, 0),
            ],
        )
        .unwrap();
    }
    if let Some((status, at)) = end {
        s.end_run(&id, status).unwrap();
        set_end(db, &id, at);
    }
    id
}

fn trial(
    s: &Store,
    exp: i64,
    parent: &str,
    i: usize,
    start: i64,
    cv: f64,
    status: RunStatus,
) -> String {
    let id = s
        .start_run(&NewRun {
            experiment: exp,
            name: format!("trial {i} gbdt"),
            parent: Some(parent.to_string()),
            tags: tags(&[("whet.kind", "trial"), ("whet.trial", &i.to_string())]),
            start_time: Some(start),
            ..Default::default()
        })
        .unwrap();
    match status {
        RunStatus::Failed => {
            s.set_tags(
                &id,
                &tags(&[("whet.status", "failed"), ("whet.message", "diverged")]),
            )
            .unwrap();
            s.end_run(&id, status).unwrap();
        }
        RunStatus::Running => {
            s.log_metrics(&id, &[Metric::new("cv_roc_auc", cv, 0)])
                .unwrap();
        }
        _ => {
            s.log_metrics(&id, &[Metric::new("cv_roc_auc", cv, 0)])
                .unwrap();
            s.set_tags(&id, &tags(&[("whet.status", "completed")]))
                .unwrap();
            s.end_run(&id, status).unwrap();
        }
    }
    id
}

fn seed(dir: &Path, now: i64) -> Seeded {
    let db = dir.join("whet.db").display().to_string();
    let s = Store::open(&db).unwrap();
    let churn = s.get_or_create_experiment("churn").unwrap();

    // Only activity a month ago: not in a 7-day window.
    let old = s.get_or_create_experiment("old").unwrap();
    let o = s
        .start_run(&NewRun {
            experiment: old,
            name: "ancient".into(),
            start_time: Some(now - 30 * DAY),
            ..Default::default()
        })
        .unwrap();
    s.end_run(&o, RunStatus::Failed).unwrap();
    set_end(&db, &o, now - 30 * DAY + HOUR);

    // Before the window: the best is 0.80.
    let before = study(
        &s,
        &db,
        churn,
        Study {
            name: "train churn v1",
            start: now - 10 * DAY,
            cv: Some(0.80),
            end: Some((RunStatus::Finished, now - 10 * DAY + HOUR)),
            extra: &[],
        },
    );
    // In the window: 0.85, with one failed trial of three.
    let better = study(
        &s,
        &db,
        churn,
        Study {
            name: "train churn v2",
            start: now - 3 * DAY,
            cv: Some(0.85),
            end: Some((RunStatus::Finished, now - 3 * DAY + HOUR)),
            extra: &[],
        },
    );
    trial(
        &s,
        churn,
        &better,
        1,
        now - 3 * DAY,
        0.84,
        RunStatus::Finished,
    );
    trial(
        &s,
        churn,
        &better,
        2,
        now - 3 * DAY,
        0.85,
        RunStatus::Finished,
    );
    let failed_trial = trial(&s, churn, &better, 3, now - 3 * DAY, 0.0, RunStatus::Failed);
    let failed = study(
        &s,
        &db,
        churn,
        Study {
            name: "train churn big",
            start: now - 2 * DAY,
            cv: None,
            end: Some((RunStatus::Failed, now - 2 * DAY + HOUR)),
            extra: &[("whet.error", "whet train stopped with an error")],
        },
    );
    let killed = study(
        &s,
        &db,
        churn,
        Study {
            name: "train churn stopped",
            start: now - 5 * DAY,
            cv: None,
            end: Some((RunStatus::Killed, now - 5 * DAY + HOUR)),
            extra: &[],
        },
    );
    // Running for an hour: 3 of 10 trials done, one running.
    let running = study(
        &s,
        &db,
        churn,
        Study {
            name: "train churn now",
            start: now - HOUR,
            cv: None,
            end: None,
            extra: &[],
        },
    );
    for (i, cv) in [0.81, 0.86, 0.83].iter().enumerate() {
        trial(
            &s,
            churn,
            &running,
            i + 1,
            now - HOUR,
            *cv,
            RunStatus::Finished,
        );
    }
    trial(&s, churn, &running, 4, now - HOUR, 0.0, RunStatus::Running);

    // The registry: v1 from the old study is champion, v2 the challenger.
    for run in [&before, &better] {
        s.log_artifact(run, "model.whet", ArtifactSource::Bytes(b"model"))
            .unwrap();
    }
    assert_eq!(
        s.register_model("churn", &before, "model.whet", &[])
            .unwrap(),
        1
    );
    assert_eq!(
        s.register_model("churn", &better, "model.whet", &[])
            .unwrap(),
        2
    );
    s.set_alias("churn", "champion", 1).unwrap();
    s.set_alias("churn", "challenger", 2).unwrap();
    whet_track::testing::execute(
        &db,
        &[
            &format!(
                "UPDATE model_alias_history SET moved_time = {} WHERE alias = 'champion'",
                now - 9 * DAY
            ),
            &format!(
                "UPDATE model_alias_history SET moved_time = {} WHERE alias = 'challenger'",
                now - 2 * DAY
            ),
        ],
    )
    .unwrap();

    // A review of v1 (none of v2), v2 better than v1, and v1 drifting.
    let judged = |exp: &str, name: &str, t: Vec<(String, String)>, m: &[(&str, f64)]| {
        let e = s.get_or_create_experiment(exp).unwrap();
        let id = s
            .start_run(&NewRun {
                experiment: e,
                name: name.into(),
                tags: t,
                start_time: Some(now - DAY),
                ..Default::default()
            })
            .unwrap();
        let points: Vec<Metric> = m.iter().map(|(k, v)| Metric::new(*k, *v, 0)).collect();
        s.log_metrics(&id, &points).unwrap();
        s.end_run(&id, RunStatus::Finished).unwrap();
        set_end(&db, &id, now - DAY + HOUR);
        id
    };
    let review = judged(
        "reviews",
        "review models:/churn@champion",
        tags(&[
            ("whet.kind", "review"),
            ("whet.model.name", "churn"),
            ("whet.model.version", "1"),
            (
                "whet.review.model",
                "models:/churn@champion (version 1 of 'churn')",
            ),
            ("whet.review.data", "holdout.csv"),
        ]),
        &[("check_warnings", 1.0), ("roc_auc", 0.79)],
    );
    let compare = judged(
        "comparisons",
        "compare champion vs v2",
        tags(&[
            ("whet.kind", "compare"),
            ("whet.model.name", "churn"),
            ("whet.model.version", "2"),
            (
                "whet.compare.champion",
                "models:/churn@champion (version 1 of 'churn')",
            ),
            (
                "whet.compare.challenger",
                "models:/churn/2 (version 2 of 'churn')",
            ),
            ("whet.compare.champion.name", "churn"),
            ("whet.compare.champion.version", "1"),
            ("whet.compare.metric", "roc_auc"),
            ("whet.compare.verdict", "better"),
            ("whet.compare.data", "holdout.csv"),
        ]),
        &[("gain", 0.03)],
    );
    let drift = judged(
        "churn",
        "drift new.csv",
        tags(&[
            ("whet.kind", "drift"),
            ("whet.model.name", "churn"),
            ("whet.model.version", "1"),
            ("whet.drift.verdict", "drift"),
            ("whet.drift.columns", "tenure,plan,prediction"),
            ("whet.drift.data", "new.csv"),
        ]),
        &[("drift", 1.0)],
    );
    Seeded {
        db,
        store: s,
        before,
        better,
        failed,
        killed,
        running,
        failed_trial,
        review,
        compare,
        drift,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn status_reports_every_fact_and_plans_from_them() {
    let dir = fresh_dir("facts");
    let now = now_ms();
    let f = seed(&dir, now);
    let r: Value = serde_json::from_str(&ok(&whet(&f.db, &["status", "--json"]))).unwrap();

    // The window.
    assert_eq!(r["window"]["since"], "7d");
    let start = r["window"]["start_time"].as_i64().unwrap();
    let end = r["window"]["end_time"].as_i64().unwrap();
    assert_eq!(end - start, 7 * DAY);
    assert!(end >= now && end - now < 10 * 60_000, "generated now");
    assert_eq!(r["experiment"], Value::Null);

    // Experiments with activity in the window, by name; "old" is not one.
    let names: Vec<&str> = r["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["churn", "comparisons", "reviews"]);
    let churn = &r["experiments"][0];
    // better + 3 trials, failed, killed, running + 4 trials, the drift run.
    assert_eq!(
        churn["runs"],
        json!({"total": 12, "running": 2, "finished": 7, "failed": 2, "killed": 1})
    );
    assert_eq!(churn["studies"], 4);
    assert_eq!(
        churn["metric"],
        json!({"name": "roc_auc", "key": "cv_roc_auc", "direction": "maximize"})
    );
    assert_eq!(churn["best"]["run_id"], f.better.as_str());
    assert_eq!(churn["best"]["run_name"], "train churn v2");
    assert!(close(churn["best"]["value"].as_f64().unwrap(), 0.85));
    assert!(close(churn["best"]["test_value"].as_f64().unwrap(), 0.84));
    assert_eq!(churn["best"]["end_time"], now - 3 * DAY + HOUR);
    assert_eq!(churn["best_at_start"]["run_id"], f.before.as_str());
    assert!(close(
        churn["best_at_start"]["value"].as_f64().unwrap(),
        0.80
    ));
    assert_eq!(churn["trend"], "improved");
    assert!(close(churn["delta"].as_f64().unwrap(), 0.05));
    assert!(close(churn["gain"].as_f64().unwrap(), 0.05));
    let attention = churn["attention"].as_array().unwrap();
    let summary: Vec<(&str, &str, Value)> = attention
        .iter()
        .map(|a| {
            (
                a["run_id"].as_str().unwrap(),
                a["reason"].as_str().unwrap(),
                a["failed_trials"].clone(),
            )
        })
        .collect();
    // Newest first; the failed trial is counted on its study, not listed.
    assert_eq!(
        summary,
        [
            (f.failed.as_str(), "failed", Value::Null),
            (f.better.as_str(), "failed_trials", json!(1)),
            (f.killed.as_str(), "killed", Value::Null),
        ]
    );
    assert!(
        !attention
            .iter()
            .any(|a| a["run_id"] == f.failed_trial.as_str())
    );
    assert_eq!(attention[0]["status"], "FAILED");
    assert_eq!(attention[0]["kind"], "study");
    assert_eq!(attention[0]["error"], "whet train stopped with an error");
    assert_eq!(attention[0]["end_time"], now - 2 * DAY + HOUR);
    assert_eq!(attention[2]["status"], "KILLED");
    let reviews = &r["experiments"][2];
    assert_eq!(reviews["runs"]["total"], 1);
    assert_eq!(reviews["metric"], Value::Null);
    assert_eq!(reviews["trend"], "no_score");

    // The running study.
    let studies = r["studies"].as_array().unwrap();
    assert_eq!(studies.len(), 1);
    let st = &studies[0];
    assert_eq!(st["run_id"], f.running.as_str());
    assert_eq!(st["experiment"], "churn");
    assert_eq!(st["start_time"], now - HOUR);
    assert_eq!(
        st["trials"],
        json!({"queued": null, "running": 1, "done": 3, "failed": 0, "killed": 0})
    );
    assert_eq!(st["trial_budget"], 10);
    assert_eq!(st["time_budget_ms"], Value::Null);
    assert!(close(st["progress"].as_f64().unwrap(), 0.3));
    assert!(close(st["best_so_far"].as_f64().unwrap(), 0.86));
    assert_eq!(st["workers_alive"], 1);
    // 3 of 10 trials in an hour: the rest in about 2 h 20 min more.
    let finish = st["estimated_finish"].as_i64().unwrap();
    let elapsed = st["elapsed_ms"].as_i64().unwrap();
    assert!((HOUR..HOUR + 10 * 60_000).contains(&elapsed), "{elapsed}");
    assert!(
        (finish - (now - HOUR + elapsed * 10 / 3)).abs() < 1000,
        "{finish}"
    );

    // The model: aliases with their times, the versions with their verdicts.
    let models = r["models"].as_array().unwrap();
    assert_eq!(models.len(), 1);
    let m = &models[0];
    assert_eq!(m["name"], "churn");
    assert_eq!(m["latest_version"], 2);
    assert_eq!(
        m["aliases"],
        json!([
            {"alias": "challenger", "version": 2, "since": now - 2 * DAY,
             "moved_by": m["aliases"][0]["moved_by"], "previous_version": null},
            {"alias": "champion", "version": 1, "since": now - 9 * DAY,
             "moved_by": m["aliases"][1]["moved_by"], "previous_version": null},
        ])
    );
    let versions = m["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    let (v2, v1) = (&versions[0], &versions[1]);
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["aliases"], json!(["challenger"]));
    assert_eq!(v2["run_id"], f.better.as_str());
    assert_eq!(v2["experiment"], "churn");
    assert_eq!(v2["target"], "churned");
    assert_eq!(v2["train_data"], "churn.csv");
    assert_eq!(v2["review"], Value::Null);
    assert_eq!(v2["drift"], Value::Null);
    let c = &v2["compare"];
    assert_eq!(c["run_id"], f.compare.as_str());
    assert_eq!(c["verdict"], "better");
    assert_eq!(c["against_version"], 1);
    assert_eq!(c["alias"], "champion");
    assert_eq!(c["metric"], "roc_auc");
    assert!(close(c["gain"].as_f64().unwrap(), 0.03));
    assert_eq!(c["data"], "holdout.csv");
    assert_eq!(c["promoted"], Value::Null);
    assert_eq!(c["time"], now - DAY + HOUR);
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["aliases"], json!(["champion"]));
    assert_eq!(
        v1["review"],
        json!({"run_id": f.review, "time": now - DAY + HOUR, "data": "holdout.csv", "check_warnings": 1})
    );
    assert_eq!(v1["compare"], Value::Null);
    assert_eq!(
        v1["drift"],
        json!({"run_id": f.drift, "time": now - DAY + HOUR, "verdict": "drift",
               "drifted": ["tenure", "plan", "prediction"], "data": "new.csv"})
    );

    // The plan, in order, every line.
    let day = |ms: i64| whet_track::status::date(ms);
    let plan: Vec<(String, String, String)> = r["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["text"].as_str().unwrap().to_string(),
                p["command"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        (
            "retrain",
            format!(
                "churn@champion v1 drifted on 3 columns (drift run {}, {}): retrain on fresh labelled data",
                &f.drift[..12],
                day(now - DAY + HOUR)
            ),
            "whet train new.csv --target churned --experiment churn".to_string(),
        ),
        (
            "promote",
            format!(
                "churn v2 is better than churn@champion v1 (compare {}, {})",
                &f.compare[..12],
                day(now - DAY + HOUR)
            ),
            "whet model promote churn --version 2 --alias champion --data holdout.csv".to_string(),
        ),
        (
            "inspect_run",
            format!(
                "study run 'train churn big' in churn failed on {}: whet train stopped with an error",
                day(now - 2 * DAY + HOUR)
            ),
            format!("whet run show {}", &f.failed[..12]),
        ),
        (
            "inspect_run",
            format!(
                "study run 'train churn stopped' in churn killed on {}",
                day(now - 5 * DAY + HOUR)
            ),
            format!("whet run show {}", &f.killed[..12]),
        ),
        (
            "inspect_trials",
            "study 'train churn v2' in churn has 1 failed trial".to_string(),
            format!(
                "whet runs -e churn -f \"attributes.parent_run_id = '{}' and attributes.status = 'FAILED'\"",
                f.better
            ),
        ),
        (
            "review",
            "no review for churn@challenger v2".to_string(),
            "whet review models:/churn/2 holdout.csv".to_string(),
        ),
    ];
    let want: Vec<(String, String, String)> = want
        .into_iter()
        .map(|(k, t, c)| (k.to_string(), t, c))
        .collect();
    assert_eq!(plan, want);
    assert_eq!(r["plan"][0]["model"], "churn");
    assert_eq!(r["plan"][0]["version"], 1);
    assert_eq!(r["plan"][0]["run_id"], f.drift.as_str());
    assert_eq!(r["plan"][2]["experiment"], "churn");
    assert_eq!(r["plan"][2]["run_id"], f.failed.as_str());

    // The commands of the plan are ones whet takes: the failed trials' filter finds the trial.
    let listed: Value = serde_json::from_str(&ok(&whet(
        &f.db,
        &[
            "runs",
            "-e",
            "churn",
            "-f",
            &format!(
                "attributes.parent_run_id = '{}' and attributes.status = 'FAILED'",
                f.better
            ),
            "--json",
        ],
    )))
    .unwrap();
    assert_eq!(listed["runs"][0]["info"]["run_id"], f.failed_trial.as_str());
    assert_eq!(listed["runs"].as_array().unwrap().len(), 1);

    // A shorter window: the 3-day-old study and its failed trials fall out, the best is now
    // from before the window, and so unchanged.
    let r2: Value =
        serde_json::from_str(&ok(&whet(&f.db, &["status", "--since", "36h", "--json"]))).unwrap();
    let churn2 = &r2["experiments"][0];
    assert_eq!(churn2["trend"], "unchanged");
    assert_eq!(churn2["best_at_start"]["run_id"], f.better.as_str());
    assert!(close(churn2["gain"].as_f64().unwrap(), 0.0));
    assert_eq!(churn2["attention"].as_array().unwrap().len(), 0);

    // One experiment: its models only; the bookkeeping experiments go.
    let r3: Value = serde_json::from_str(&ok(&whet(
        &f.db,
        &["status", "--experiment", "old", "--json"],
    )))
    .unwrap();
    assert_eq!(r3["experiment"], "old");
    assert_eq!(r3["experiments"], json!([]), "nothing in old in the window");
    assert_eq!(r3["models"], json!([]));
    assert_eq!(r3["plan"], json!([]));

    // Usage errors exit 2 with a hint; an unknown experiment names the known ones.
    let bad = whet(&f.db, &["status", "--since", "7"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("7d"));
    let bad = whet(&f.db, &["status", "--experiment", "nope"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("known experiments"));

    // The text view: every line within 100 columns, no colour when piped, the plan's
    // commands shown (wrapped with shell continuations where long).
    let text = ok(&whet(&f.db, &["status"]));
    for line in text.lines() {
        assert!(
            line.chars().count() <= 100,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    assert!(!text.contains('\x1b'), "colour only on a terminal");
    for needle in [
        "EXPERIMENTS",
        "STUDIES RUNNING",
        "MODELS",
        "PLAN",
        "improved by 0.05 from 0.8",
        "$ whet model promote churn --version 2 --alias champion --data holdout.csv",
        "$ whet train new.csv --target churned --experiment churn",
        "trials: 3 done of 10, 1 running",
        "DRIFT 3 cols",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let filter_lines: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("$ whet runs -e churn"))
        .take(2)
        .collect();
    assert!(filter_lines[0].ends_with(" \\"), "{text}");

    // The same report through a whet server (the server's clock and location aside).
    let server = Server::start(&dir);
    let remote: Value =
        serde_json::from_str(&ok(&whet(&server.url, &["status", "--json"]))).unwrap();
    for key in ["experiments", "models", "plan"] {
        assert_eq!(remote[key], r[key], "{key} through the server");
    }
    assert_eq!(remote["studies"][0]["trials"], r["studies"][0]["trials"]);
    assert_eq!(
        remote["store"], r["store"],
        "the server reports on its database"
    );
    // The endpoint refuses a bad window as a 400 with MLflow's error shape.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent
        .get(&format!("{}/api/2.0/whet/status?since=soon", server.url))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    drop(server);
    drop(f.store);
    let _ = std::fs::remove_dir_all(&dir);
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_whet"))
            .args(["server", "--port", "0", "--store"])
            .arg(dir.join("whet.db"))
            .arg("--artifacts-destination")
            .arg(dir.join("art"))
            .env("WHET_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
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

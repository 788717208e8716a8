//! The web UI in a real browser: headless Chromium driven over WebDriver (chromedriver, spoken
//! to with plain HTTP) against `whet server` over a store seeded by a real `whet train` study
//! and runs logged through the REST API. Every page loads without console errors; filters
//! (valid and invalid), sorting, a run's charts, comparing and reloading are checked against
//! what the REST API itself answers, and the status page against whet's status report. Each
//! step saves a 1280×800 screenshot under `target/ui-screens/` for people to look at.
//!
//! Skips (saying so) only when chromedriver is missing and WHET_REQUIRE_BROWSER is unset;
//! CI sets it, so CI never skips.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    if let Ok(p) = std::env::var("WHET_CHROMEDRIVER") {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Browser {
    agent: ureq::Agent,
    session: String,
    _driver: Killed,
    screens: PathBuf,
}

impl Browser {
    fn start(chromedriver: &Path) -> Browser {
        let port = free_port();
        let driver = Killed(
            Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
        );
        let base = format!("http://127.0.0.1:{port}");
        let agent = agent();
        let started = Instant::now();
        while agent.get(&format!("{base}/status")).call().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not answer"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut options = json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,800", "--hide-scrollbars", "--force-device-scale-factor=1"]
        });
        for bin in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
            if Path::new(bin).exists() {
                options["binary"] = json!(bin);
                break;
            }
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let mut r = agent
            .post(&format!("{base}/session"))
            .send_json(&caps)
            .expect("new session");
        let v: Value = r.body_mut().read_json().expect("session json");
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        let screens = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screens");
        std::fs::create_dir_all(&screens).expect("screenshot folder");
        let b = Browser {
            agent,
            session: format!("{base}/session/{id}"),
            _driver: driver,
            screens,
        };
        // The viewport, not the window, is what the screenshots show.
        let inner = b.js("return [window.innerWidth, window.innerHeight]", json!([]));
        let (w, h) = (
            inner[0].as_i64().unwrap_or(0),
            inner[1].as_i64().unwrap_or(0),
        );
        if (w, h) != (1280, 800) {
            b.cmd(
                "POST",
                "window/rect",
                json!({"width": 1280 + (1280 - w), "height": 800 + (800 - h)}),
            );
        }
        b
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/{path}", self.session);
        let mut r = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self.agent.post(&url).send_json(&body),
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        let v: Value = r.body_mut().read_json().unwrap_or(Value::Null);
        assert!(status < 300, "{method} {path} → {status}: {v}");
        v["value"].clone()
    }

    fn go(&self, url: &str) {
        self.cmd("POST", "url", json!({ "url": url }));
        self.wait_ready();
    }

    fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "execute/sync",
            json!({"script": script, "args": args}),
        )
    }

    /// Waits until `script` returns something truthy; its value.
    fn wait_for(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let v = self.js(script, json!([]));
            let truthy = match &v {
                Value::Null | Value::Bool(false) => false,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if started.elapsed() > Duration::from_secs(20) {
                self.screenshot(&format!("timeout-{}", what.replace(' ', "-")));
                panic!("timed out waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_ready(&self) {
        self.wait_for(
            "the page's data",
            "return document.body.dataset.ready === '1'",
        );
    }

    /// Waits until the runs table has finished loading and shows `n` rows.
    fn wait_ready_rows(&self, n: usize) {
        self.wait_for(
            "rows",
            &format!("return document.body.dataset.ready === '1' && document.getElementById('runs').getAttribute('aria-busy') === 'false' && document.querySelectorAll('#runs .grid-row').length === {n}"),
        );
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "element",
            json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("element/{id}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("element/{id}/clear"), json!({}));
        self.cmd(
            "POST",
            &format!("element/{id}/value"),
            json!({ "text": text }),
        );
    }

    fn screenshot(&self, name: &str) {
        let v = self.cmd("GET", "screenshot", Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("screenshot is base64");
        assert_eq!(&png[1..4], b"PNG");
        let w = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
        let h = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
        assert_eq!((w, h), (1280, 800), "screenshot size");
        std::fs::write(self.screens.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Console errors since the last call, except those `allowed` matches.
    fn console_errors(&self, allowed: &[&str]) -> Vec<String> {
        let v = self.cmd("POST", "se/log", json!({"type": "browser"}));
        v.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .filter(|m| !allowed.iter().any(|a| m.contains(a)))
            .collect()
    }

    fn assert_clean(&self, page: &str) {
        let errors = self.console_errors(&[]);
        assert!(errors.is_empty(), "console errors on {page}: {errors:#?}");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.session).call();
    }
}

struct Server {
    _child: Killed,
    url: String,
}

fn start_server(db: &Path, artifacts: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_whet"))
        .args(["server", "--port", "0", "--store"])
        .arg(db)
        .arg("--artifacts-destination")
        .arg(artifacts)
        .env("WHET_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("whet server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("address line");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Server {
        _child: Killed(child),
        url: format!("http://{addr}"),
    }
}

fn api(agent: &ureq::Agent, s: &Server, path: &str, body: Value) -> Value {
    let mut r = agent
        .post(&format!("{}/api/2.0/mlflow/{path}", s.url))
        .send_json(&body)
        .expect("request");
    let status = r.status().as_u16();
    let v: Value = r.body_mut().read_json().unwrap_or(Value::Null);
    assert_eq!(status, 200, "{path}: {v}");
    v
}

fn names_of(v: &Value) -> Vec<String> {
    v["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            r["info"]["run_name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// Two API runs with 25-step loss histories and different params, one still running.
fn log_api_runs(agent: &ureq::Agent, s: &Server) -> (String, Vec<String>) {
    let exp = api(agent, s, "experiments/create", json!({"name": "api-runs"}));
    let exp = exp["experiment_id"].as_str().expect("id").to_string();
    let mut ids = Vec::new();
    for (i, (lr, depth)) in [("0.1", "4"), ("0.03", "4"), ("0.3", "6")]
        .iter()
        .enumerate()
    {
        let r = api(
            agent,
            s,
            "runs/create",
            json!({"experiment_id": exp, "run_name": format!("api-{i}"), "start_time": 1_700_000_000_000i64 + i as i64 * 60_000,
                   "tags": [{"key": "mlflow.source.name", "value": "train.py"}, {"key": "mlflow.user", "value": "ana"}]}),
        );
        let id = r["run"]["info"]["run_id"]
            .as_str()
            .expect("run id")
            .to_string();
        let metrics: Vec<Value> = (0..25)
            .map(|step| {
                json!({"key": "loss", "value": 1.0 / (1.0 + step as f64 * (i as f64 + 1.0) * 0.3), "timestamp": 1_700_000_000_000i64 + step * 1000, "step": step})
            })
            .chain(std::iter::once(json!({"key": "accuracy", "value": 0.7 + i as f64 * 0.05, "timestamp": 1_700_000_030_000i64, "step": 0})))
            .collect();
        api(
            agent,
            s,
            "runs/log-batch",
            json!({"run_id": id, "metrics": metrics,
                   "params": [{"key": "lr", "value": lr}, {"key": "depth", "value": depth}]}),
        );
        if i == 2 {
            // A history longer than a chart shows: the run page reads it sampled.
            for start in (0..6000i64).step_by(1000) {
                let points: Vec<Value> = (start..start + 1000)
                    .map(|step| json!({"key": "long", "value": (step % 97) as f64, "timestamp": 1_700_000_000_000i64 + step, "step": step}))
                    .collect();
                api(
                    agent,
                    s,
                    "runs/log-batch",
                    json!({"run_id": id, "metrics": points}),
                );
            }
        }
        if i < 2 {
            api(
                agent,
                s,
                "runs/update",
                json!({"run_id": id, "status": "FINISHED", "end_time": 1_700_000_000_000i64 + i as i64 * 60_000 + 95_000}),
            );
        }
        ids.push(id);
    }
    (exp, ids)
}

/// chromedriver, or None (saying the test is skipped) when it is missing and
/// WHET_REQUIRE_BROWSER is unset.
fn chromedriver_for(test: &str) -> Option<PathBuf> {
    let found = find_on_path("chromedriver");
    if found.is_none() {
        if std::env::var_os("WHET_REQUIRE_BROWSER").is_some() {
            panic!(
                "WHET_REQUIRE_BROWSER is set but chromedriver is not on PATH (apt-get install chromium chromium-driver)"
            );
        }
        eprintln!(
            "SKIPPED {test}: no chromedriver on PATH (apt-get install chromium chromium-driver; CI sets WHET_REQUIRE_BROWSER=1 so it never skips)"
        );
    }
    found
}

/// More runs than the table's first page (100) holds: scrolling to the end reads the next
/// page with the first page's token (a longer page after a short one, which the server once
/// refused), and every run shows up exactly once, in the server's order.
#[test]
fn the_runs_table_scrolls_past_its_first_page_to_every_run() {
    let Some(chromedriver) =
        chromedriver_for("the_runs_table_scrolls_past_its_first_page_to_every_run")
    else {
        return;
    };
    const RUNS: usize = 250;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("whet-ui-scroll");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let server = start_server(&dir.join("whet.db"), &dir.join("whet-artifacts"));
    let agent = agent();
    let exp = api(
        &agent,
        &server,
        "experiments/create",
        json!({"name": "many-runs"}),
    );
    let exp = exp["experiment_id"].as_str().expect("id").to_string();
    for i in 0..RUNS {
        let start = 1_700_000_000_000i64 + i as i64 * 1000;
        let r = api(
            &agent,
            &server,
            "runs/create",
            json!({"experiment_id": exp, "run_name": format!("run-{i:03}"), "start_time": start, "user_id": "ana"}),
        );
        let id = r["run"]["info"]["run_id"].as_str().expect("run id");
        api(
            &agent,
            &server,
            "runs/update",
            json!({"run_id": id, "status": "FINISHED", "end_time": start + 500}),
        );
    }
    // Newest first, as the table asks.
    let want: Vec<String> = (0..RUNS).rev().map(|i| format!("run-{i:03}")).collect();

    let b = Browser::start(&chromedriver);
    b.go(&format!("{}/#/experiments/{exp}", server.url));
    b.wait_for(
        "first rows",
        "return document.querySelectorAll('#runs .grid-row').length > 0",
    );
    // Every row drawn on the way down, by its index in the table: a run listed twice (or a
    // page repeated) would show under two indexes.
    b.js("window.__rows = {};", json!([]));
    let collect = "const g = document.getElementById('runs');
        for (const r of g.querySelectorAll('.grid-row')) window.__rows[r.dataset.index] = r.querySelector('.name a').textContent;
        return g.getAttribute('aria-busy') === 'false' && g.scrollTop + g.clientHeight >= g.scrollHeight - 1
          && document.getElementById('count').textContent.startsWith('250 runs')";
    let started = Instant::now();
    loop {
        if b.js(collect, json!([])) == json!(true) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the table did not reach its end: {}",
            b.js("return [document.getElementById('count').textContent, document.querySelector('.error') && document.querySelector('.error').textContent]", json!([]))
        );
        // Less than a screen at a time, so that no row is skipped between two looks.
        b.js(
            "const g = document.getElementById('runs'); g.scrollTop += g.clientHeight / 2;",
            json!([]),
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let rows = b.js("return window.__rows", json!([]));
    let rows = rows.as_object().expect("rows by index");
    let mut seen: Vec<(usize, String)> = rows
        .iter()
        .map(|(k, v)| {
            (
                k.parse().expect("index"),
                v.as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    seen.sort();
    let indexes: Vec<usize> = seen.iter().map(|(k, _)| *k).collect();
    assert_eq!(indexes, (0..RUNS).collect::<Vec<_>>(), "every row once");
    let names: Vec<String> = seen.into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, want, "every run once, newest first");
    assert_eq!(
        b.js(
            "return document.getElementById('count').textContent",
            json!([])
        ),
        "250 runs"
    );
    b.screenshot("14-runs-scrolled-to-end");
    b.assert_clean("runs scrolled to the end");
}

#[test]
fn the_ui_works_in_a_real_browser() {
    let Some(chromedriver) = chromedriver_for("the_ui_works_in_a_real_browser") else {
        return;
    };
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("whet-ui-test");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = dir.join("whet.db");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/churn.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_whet"))
        .arg("train")
        .arg(&data)
        .args([
            "--target",
            "churned",
            "--trials",
            "10",
            "--folds",
            "3",
            "--experiment",
            "churn",
            "-q",
            "--out",
        ])
        .arg(dir.join("churn.whet"))
        .arg("--store")
        .arg(&db)
        .env("USER", "ana-ui-test")
        .output()
        .expect("whet train runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The artifacts `whet train` wrote beside the store are the server's too.
    // A review of the registered version: the registry page links to it.
    let out = Command::new(env!("CARGO_BIN_EXE_whet"))
        .args(["review", "models:/churn/1"])
        .arg(&data)
        .args(["--resamples", "200", "--no-explain", "-q", "--store"])
        .arg(&db)
        .output()
        .expect("whet review runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = start_server(&db, &dir.join("whet-artifacts"));
    let agent = agent();
    let (api_exp, api_ids) = log_api_runs(&agent, &server);
    let mut r = agent
        .get(&format!(
            "{}/api/2.0/mlflow/experiments/get-by-name?experiment_name=churn",
            server.url
        ))
        .call()
        .expect("get-by-name");
    let churn: Value = r.body_mut().read_json().expect("json");
    let churn_id = churn["experiment"]["experiment_id"]
        .as_str()
        .expect("churn id")
        .to_string();
    let churn_runs = api(
        &agent,
        &server,
        "runs/search",
        json!({"experiment_ids": [churn_id], "max_results": 1000}),
    );
    let churn_count = churn_runs["runs"].as_array().map_or(0, Vec::len);
    assert_eq!(churn_count, 11, "a study run and 10 trials");

    let b = Browser::start(&chromedriver);
    let base = &server.url;

    // Experiments: both, with their run counts.
    b.go(&format!("{base}/"));
    let rows = b.js(
        "return [...document.querySelectorAll('#experiments tbody tr')].map(r => [...r.cells].map(c => c.textContent))",
        json!([]),
    );
    let rows = rows.as_array().expect("rows");
    let find = |name: &str| {
        rows.iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {rows:?}"))
    };
    assert_eq!(find("churn")[1], "11");
    assert_eq!(find("api-runs")[1], "3");
    let study = churn_runs["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| {
            r["data"]["tags"].as_array().is_some_and(|t| {
                t.iter()
                    .any(|t| t["key"] == "whet.kind" && t["value"] == "study")
            })
        })
        .expect("the study run");
    let study_id = study["info"]["run_id"]
        .as_str()
        .expect("study id")
        .to_string();
    let study_auc = study["data"]["metrics"]
        .as_array()
        .expect("study metrics")
        .iter()
        .find(|m| m["key"] == "cv_roc_auc")
        .and_then(|m| m["value"].as_f64())
        .expect("the study's cv_roc_auc");
    // The best study on the primary metric, linked; an experiment without studies has none.
    let best = b.js(
        "const td = [...document.querySelectorAll('#experiments tbody tr')].find(r => r.cells[0].textContent === 'churn').querySelector('.best-cell'); const a = td.querySelector('a'); return [td.dataset.metric, Number(a.textContent), a.getAttribute('href')]",
        json!([]),
    );
    assert_eq!(best[0], "roc_auc");
    let shown_auc = best[1].as_f64().expect("best value");
    assert!(
        (shown_auc - study_auc).abs() <= 1e-4 * study_auc.abs().max(1.0),
        "{shown_auc} vs {study_auc}"
    );
    assert_eq!(best[2], format!("#/studies/{study_id}"));
    assert_eq!(find("api-runs")[3], "");
    b.screenshot("01-experiments");
    b.assert_clean("experiments");

    // The study page: leaderboard of all 10 trials (completed ones ranked by CV score), the
    // best score so far after each completed trial, the final model and its version.
    b.go(&format!("{base}/#/studies/{study_id}"));
    b.wait_ready();
    let board = b.wait_for(
        "leaderboard",
        "const r = [...document.querySelectorAll('#leaderboard tbody tr')]; return r.length && r.map(x => [x.cells[0].textContent, x.cells[3].textContent])",
    );
    let board = board.as_array().expect("leaderboard rows");
    assert_eq!(board.len(), 10, "every trial is listed: {board:?}");
    let ranked: Vec<f64> = board
        .iter()
        .filter(|r| r[0] != "")
        .map(|r| {
            r[1].as_str()
                .unwrap_or_default()
                .parse::<f64>()
                .expect("score")
        })
        .collect();
    assert!(!ranked.is_empty());
    assert!(
        ranked.windows(2).all(|w| w[0] >= w[1]),
        "best first for roc_auc: {ranked:?}"
    );
    let overall = b.js(
        "return Number(document.querySelector(\"#best-over-time g.series[data-label='overall']\").dataset.points)",
        json!([]),
    );
    assert_eq!(
        overall,
        json!(ranked.len()),
        "one point per completed trial"
    );
    let last_best = b.js(
        "const pts = [...document.querySelectorAll(\"#best-over-time g.series[data-label='overall'] circle title\")]; return pts[pts.length - 1].textContent.split(': ').pop()",
        json!([]),
    );
    assert_eq!(
        last_best.as_str().unwrap_or_default().parse::<f64>().ok(),
        Some(ranked[0]),
        "the best so far ends at the leaderboard's best"
    );
    assert!(
        b.js("return !!document.querySelector('#study-final')", json!([])) == json!(true),
        "the finished study's report is shown"
    );
    let registered = b.js(
        "return [...document.querySelectorAll('#study-scores .stat')].map(s => s.textContent).join(' | ')",
        json!([]),
    );
    assert!(
        registered.as_str().unwrap_or_default().contains("churn v1"),
        "{registered}"
    );
    b.screenshot("11-study");
    b.js(
        "document.getElementById('best-over-time').scrollIntoView()",
        json!([]),
    );
    b.screenshot("11b-study-search");
    b.assert_clean("study");
    b.click("#learner");
    let learner = b.js(
        "const s = document.getElementById('learner'); return s.options[1] && s.options[1].value",
        json!([]),
    );
    let learner = learner.as_str().expect("a learner").to_string();
    b.js(
        "const s = document.getElementById('learner'); s.value = arguments[0]; s.dispatchEvent(new Event('change'));",
        json!([learner]),
    );
    b.wait_ready();
    let learners = b.wait_for(
        "filtered leaderboard",
        "return location.hash.includes('learner=') && [...new Set([...document.querySelectorAll('#leaderboard tbody tr')].map(x => x.cells[2].textContent))]",
    );
    assert_eq!(
        learners,
        json!([learner]),
        "the learner filter keeps only its trials"
    );

    // The study's dataset: the profile report logged with it.
    b.go(&format!("{base}/#/runs/{study_id}"));
    b.wait_ready();
    b.wait_for(
        "study link",
        "return !!document.getElementById('study-link')",
    );
    b.click("#datasets a.profile-link");
    b.wait_ready();
    let cols = b.wait_for(
        "profile columns",
        "return document.querySelectorAll('#profile-columns tbody tr').length",
    );
    let header = std::fs::read_to_string(&data).expect("churn.csv");
    let n_cols = header.lines().next().unwrap_or_default().split(',').count();
    assert_eq!(
        cols,
        json!(n_cols),
        "one profile row per column of churn.csv"
    );
    b.screenshot("12-dataset-profile");
    b.assert_clean("dataset profile");

    // A trial's out-of-fold predictions: a Parquet artifact previewed as a table.
    b.go(&format!("{base}/#/studies/{study_id}"));
    b.wait_ready();
    b.click("#leaderboard tbody tr:first-child td:nth-child(2) a");
    b.wait_ready();
    b.wait_for(
        "oof artifact",
        "return !!document.querySelector(\"li[data-artifact='oof.parquet'] button\")",
    );
    b.click("li[data-artifact='oof.parquet'] button");
    let preview = b.wait_for(
        "parquet preview",
        "const t = document.querySelector(\"li[data-artifact='oof.parquet'] table\"); return t && [[...t.querySelectorAll('thead th')].map(x => x.textContent.split(' ')[0]), t.querySelectorAll('tbody tr').length]",
    );
    assert_eq!(
        preview[0].as_array().and_then(|h| h.first()).cloned(),
        Some(json!("data_row")),
        "{preview}"
    );
    assert_eq!(preview[1], 50, "the first 50 rows");
    b.js(
        "document.querySelector(\"li[data-artifact='oof.parquet']\").scrollIntoView(); window.scrollBy(0, -60)",
        json!([]),
    );
    b.screenshot("13-parquet-preview");
    b.assert_clean("parquet preview");

    // The study's runs: one study row with its 10 trials collapsed; expanding shows them.
    b.go(&format!("{base}/"));
    b.wait_ready();
    b.click(&format!("#experiments a[href='#/experiments/{churn_id}']"));
    b.wait_ready();
    let shown = b.wait_for(
        "runs rows",
        "return document.querySelectorAll('#runs .grid-row').length",
    );
    assert_eq!(shown, 1, "trials are grouped under the study");
    b.click("#runs .grid-row .twisty");
    let shown = b.wait_for(
        "expanded rows",
        "const n = document.querySelectorAll('#runs .grid-row').length; return n > 1 && n",
    );
    assert_eq!(shown, 11);
    b.screenshot("02-study-runs");
    b.assert_clean("study runs");

    // API runs: a valid filter gives exactly what the server gives.
    b.go(&format!("{base}/#/experiments/{api_exp}"));
    b.type_into("#filter", "params.depth = '4'\u{E007}");
    b.wait_ready_rows(2);
    let expected = api(
        &agent,
        &server,
        "runs/search",
        json!({"experiment_ids": [api_exp], "filter": "params.depth = '4'"}),
    );
    let mut shown: Vec<String> = b
        .js("return [...document.querySelectorAll('#runs .grid-row .name a')].map(a => a.textContent)", json!([]))
        .as_array()
        .expect("names")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    let mut want = names_of(&expected);
    shown.sort();
    want.sort();
    assert_eq!(shown, want);
    b.screenshot("03-valid-filter");
    b.assert_clean("valid filter");

    // An invalid filter: an inline error marking the token the server points at.
    b.type_into("#filter", "params.depth = '4' AND bogus.x = 1\u{E007}");
    let marked = b.wait_for("filter error", "const m = document.querySelector('#filter-error mark'); return m && !document.getElementById('filter-error').hidden && m.textContent");
    assert_eq!(marked, "bogus.x", "the mark is on the bad token");
    b.screenshot("04-invalid-filter");
    let errors = b.console_errors(&[
        "runs/search - Failed to load resource: the server responded with a status of 400",
    ]);
    assert!(
        errors.is_empty(),
        "console errors on invalid filter: {errors:#?}"
    );

    // Sort by a metric column added with the column picker: the server's order.
    b.type_into("#filter", "\u{E007}");
    b.wait_ready_rows(3);
    b.click(".picker summary");
    b.click(".picker input[data-col='metrics.loss']");
    b.click(".picker summary");
    b.click(".grid-head [data-col='metrics.loss']");
    b.wait_for("sorted header", "return location.hash.includes('order=')");
    b.wait_ready_rows(3);
    let expected = names_of(&api(
        &agent,
        &server,
        "runs/search",
        json!({"experiment_ids": [api_exp], "order_by": ["metrics.loss DESC"]}),
    ));
    let names = || -> Vec<String> {
        b.js("return [...document.querySelectorAll('#runs .grid-row')].sort((a,b)=>a.dataset.index-b.dataset.index).map(r => r.querySelector('.name a').textContent)", json!([]))
            .as_array()
            .expect("names")
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(names(), expected);
    b.click("body");
    b.screenshot("05-sorted-by-metric");
    b.assert_clean("sort");

    // Reload: the same view (sort, columns) from the URL alone.
    let before = b.js("return location.href", json!([]));
    b.cmd("POST", "refresh", json!({}));
    b.wait_ready();
    b.wait_ready_rows(3);
    assert_eq!(b.js("return location.href", json!([])), before);
    assert_eq!(names(), expected);
    assert_eq!(
        b.js("return document.querySelector(\".grid-head [data-col='metrics.loss']\").getAttribute('aria-sort')", json!([])),
        "descending"
    );
    b.assert_clean("reload");

    // Keyboard: move to the first row, select it and the next, then compare.
    let grid = b.find("#runs");
    b.cmd("POST", &format!("element/{grid}/click"), json!({}));
    b.cmd(
        "POST",
        &format!("element/{grid}/value"),
        json!({"text": "\u{E011} \u{E015} "}),
    );
    b.wait_for(
        "two selected",
        "return document.querySelectorAll('#runs .grid-row.selected').length === 2",
    );
    b.click("#compare");
    b.wait_ready();
    let diff = b.wait_for("compare tables", "return [...document.querySelectorAll('#compare-params tr.diff th')].map(t => t.textContent).join(',')");
    assert_eq!(diff, "lr", "only lr differs between the first two by loss");
    let best = b.js(
        "return document.querySelectorAll('#compare-metrics td.best').length",
        json!([]),
    );
    assert_eq!(best, 2, "one best per metric");
    let series = b.js("return [...document.querySelectorAll(\"figure[data-metric='loss'] g.series\")].map(g => Number(g.dataset.points))", json!([]));
    assert_eq!(series, json!([25, 25]));
    // Parameters against a metric: one line per run; the scatter: one point per run.
    assert_eq!(
        b.js(
            "return document.querySelectorAll('#parallel path.line').length",
            json!([])
        ),
        2
    );
    assert_eq!(
        b.js(
            "return Number(document.querySelector('#scatter g.series').dataset.points)",
            json!([])
        ),
        2
    );
    b.screenshot("06-compare");
    b.assert_clean("compare");

    // A run: one chart point per logged step; the log scale is kept in the URL across a reload.
    b.go(&format!("{base}/#/runs/{}", api_ids[0]));
    let points = b.wait_for(
        "loss chart",
        "return document.querySelectorAll(\"figure[data-metric='loss'] circle.pt\").length",
    );
    assert_eq!(points, 25);
    b.click("#log");
    b.wait_ready();
    b.wait_for("log in URL", "return location.hash.includes('log=1')");
    b.cmd("POST", "refresh", json!({}));
    b.wait_ready();
    assert_eq!(
        b.js("return document.getElementById('log').checked", json!([])),
        true
    );
    assert_eq!(
        b.js(
            "return document.querySelectorAll(\"figure[data-metric='loss'] circle.pt\").length",
            json!([])
        ),
        25
    );
    b.screenshot("07-run");
    b.assert_clean("run");

    // A running run shows as live.
    b.go(&format!("{base}/#/runs/{}", api_ids[2]));
    assert_eq!(
        b.js("return !document.getElementById('live').hidden", json!([])),
        true
    );
    let long = b.wait_for(
        "sampled history",
        "const f = document.querySelector(\"figure[data-metric='long']\"); return f && [f.dataset.sampled, Number(f.querySelector('g.series').dataset.points)]",
    );
    assert_eq!(
        long,
        json!(["1", 4000]),
        "a 6,000-step history is drawn from 4,000 sampled points"
    );
    b.assert_clean("running run");

    // The registry: the study registered a version.
    b.go(&format!("{base}/#/models"));
    let model = b.wait_for(
        "a model",
        "const a = document.querySelector('#models tbody a'); return a && a.textContent",
    );
    b.screenshot("08-models");
    b.click("#models tbody a");
    // The model page, not the list still marked ready before the click's navigation.
    let versions = b.wait_for(
        "versions",
        "return document.body.dataset.ready === '1' && location.hash.startsWith('#/models/') && document.querySelectorAll('#versions tbody tr').length",
    );
    assert_eq!(versions, 1, "{model} has the study's version");
    let check = b.js(
        "const a = document.querySelector('#versions tr[data-version=\"1\"] td.checks a'); return a && [a.textContent, a.getAttribute('href')]",
        json!([]),
    );
    assert!(
        check[0].as_str().unwrap_or_default().starts_with("review"),
        "the version's review is linked: {check}"
    );
    let scores = b.js(
        "return document.querySelector('#versions tr[data-version=\"1\"]').textContent",
        json!([]),
    );
    assert!(
        scores
            .as_str()
            .unwrap_or_default()
            .contains(&format!("cv_roc_auc {}", &format!("{study_auc:.5}")[..6])),
        "the version's CV score is shown: {scores}"
    );
    // Who registered it: `whet train` ran as this user (USER, set below).
    let by = b.js(
        "const t = document.querySelector('#versions'); const i = [...t.querySelectorAll('thead th')].findIndex(th => th.textContent === 'Registered by'); return t.querySelector('tr[data-version=\"1\"]').cells[i].textContent",
        json!([]),
    );
    assert_eq!(by, "ana-ui-test", "the version's registrant is shown");
    b.screenshot("09-model");
    b.assert_clean("model");

    // Status: the same report `whet status --json` gives, as a page: the plan's steps in
    // order with their commands, and the experiments of the window.
    let mut r = agent
        .get(&format!("{base}/api/2.0/whet/status?since=30d"))
        .call()
        .expect("status");
    assert_eq!(r.status().as_u16(), 200);
    let report: Value = r.body_mut().read_json().expect("status json");
    let want_plan: Vec<Value> = report["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .map(|p| {
            json!([
                p["kind"],
                format!("$ {}", p["command"].as_str().unwrap_or_default())
            ])
        })
        .collect();
    // The study's model has a review but no alias yet.
    let kinds: Vec<&Value> = report["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .map(|p| &p["kind"])
        .collect();
    assert_eq!(kinds, [&json!("set_alias")], "{report:#}");
    b.go(&format!("{base}/#/status?since=30d"));
    let plan = b.wait_for(
        "plan",
        "const l = [...document.querySelectorAll('#status-plan li')]; return l.length && l.map(li => [li.dataset.kind, li.querySelector('code').textContent])",
    );
    assert_eq!(plan, json!(want_plan));
    let names = b.js(
        "return [...document.querySelectorAll('#status-experiments tbody tr')].map(r => r.dataset.name)",
        json!([]),
    );
    let want_names: Vec<&Value> = report["experiments"]
        .as_array()
        .expect("experiments")
        .iter()
        .map(|e| &e["name"])
        .collect();
    assert_eq!(names, json!(want_names));
    // The API runs started in 2023: outside the window; the review is in its own experiment.
    assert_eq!(names, json!(["churn", "reviews"]));
    assert_eq!(
        b.js("return document.querySelector('#status-experiments tr[data-name=churn] td[data-trend]').dataset.trend", json!([])),
        "first"
    );
    assert_eq!(
        b.js(
            "return document.querySelectorAll('#status-models tbody tr').length",
            json!([])
        ),
        1
    );
    assert_eq!(
        b.js("return document.querySelector('#since').value", json!([])),
        "30d"
    );
    b.screenshot("10-status");
    b.assert_clean("status");

    let _ = std::fs::remove_dir_all(&dir);
}

//! `whet server` as a process: bad requests get MLflow-shaped 4xx answers and never take the
//! server down, acknowledged writes survive `kill -9`, tokens and roles are enforced, and an
//! open port without authentication is refused. (The mlflow client's view is the Python
//! suite in crates/whet-server/tests/mlflow_compat, run by tests/server_mlflow_client.rs.)

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

mod common;
use common::{exchange, fresh_dir};

struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts `whet server` on a free loopback port over the store in `dir`.
    fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_whet"))
            .args(["server", "--port", "0", "--store"])
            .arg(dir.join("whet.db"))
            .arg("--artifacts-destination")
            .arg(dir.join("artifacts"))
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
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server {
            child,
            url: format!("http://{addr}"),
        }
    }

    fn api(&self, path: &str) -> String {
        format!("{}/api/2.0/mlflow/{path}", self.url)
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

/// (status, JSON body or Null)
fn post(agent: &ureq::Agent, url: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
    let mut req = agent.post(url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut r = req.send_json(body).unwrap();
    let status = r.status().as_u16();
    let v = r.body_mut().read_json::<Value>().unwrap_or(Value::Null);
    (status, v)
}

fn post_raw(agent: &ureq::Agent, url: &str, body: &[u8]) -> (u16, Value) {
    let mut r = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap();
    let status = r.status().as_u16();
    let v = r.body_mut().read_json::<Value>().unwrap_or(Value::Null);
    (status, v)
}

fn get(agent: &ureq::Agent, url: &str) -> (u16, Value) {
    // On a machine at load 15+ a pooled keep-alive connection was, rarely, found closed when
    // the next GET went out ("Peer disconnected"; seen with the builds of the last two days,
    // root cause not found: curl shows the server keeping connections open after 4xx). HTTP
    // clients (urllib3 under MLflow's) send an idempotent request again on a fresh connection
    // then; so does this one, once.
    let mut r = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            eprintln!("GET {url}: {e}; sent again on a new connection");
            agent.get(url).call().unwrap()
        }
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = r.status().as_u16();
    let v = r.body_mut().read_json::<Value>().unwrap_or(Value::Null);
    (status, v)
}

fn create_run(agent: &ureq::Agent, s: &Server, token: Option<&str>) -> String {
    let (status, v) = post(
        agent,
        &s.api("runs/create"),
        &json!({"experiment_id": "0", "start_time": 1}),
        token,
    );
    assert_eq!(status, 200, "{v}");
    v["run"]["info"]["run_id"].as_str().unwrap().to_string()
}

#[test]
fn bad_requests_get_a_4xx_in_mlflow_shape_and_the_server_keeps_serving() {
    let dir = fresh_dir("bad");
    let s = Server::start(&dir, &["--max-request-mib", "1"]);
    let a = agent();
    let run = create_run(&a, &s, None);
    let cases: Vec<(&str, u16, &str, (u16, Value))> = vec![
        (
            "malformed JSON",
            400,
            "BAD_REQUEST",
            post_raw(&a, &s.api("experiments/create"), b"{not json"),
        ),
        (
            "a JSON list for an object",
            400,
            "INVALID_PARAMETER_VALUE",
            post_raw(&a, &s.api("runs/log-batch"), b"[1, 2]"),
        ),
        (
            "a number for a name",
            400,
            "INVALID_PARAMETER_VALUE",
            post(&a, &s.api("experiments/create"), &json!({"name": 5}), None),
        ),
        (
            "a metric value that is not a number",
            400,
            "INVALID_PARAMETER_VALUE",
            post(
                &a,
                &s.api("runs/log-metric"),
                &json!({"run_id": run, "key": "m", "value": "abc", "timestamp": 1}),
                None,
            ),
        ),
        (
            "an unknown run",
            404,
            "RESOURCE_DOES_NOT_EXIST",
            get(&a, &s.api(&format!("runs/get?run_id={}", "f".repeat(32)))),
        ),
        (
            "an unknown endpoint",
            404,
            "ENDPOINT_NOT_FOUND",
            get(&a, &s.api("no/such/thing")),
        ),
        (
            "more than 1000 metrics in a batch",
            400,
            "INVALID_PARAMETER_VALUE",
            post(
                &a,
                &s.api("runs/log-batch"),
                &json!({"run_id": run, "metrics": (0..1001).map(|i| json!({"key": "m", "value": i, "timestamp": 1, "step": i})).collect::<Vec<_>>()}),
                None,
            ),
        ),
        (
            "an artifact path leaving the root",
            400,
            "INVALID_PARAMETER_VALUE",
            get(
                &a,
                &format!(
                    "{}/api/2.0/mlflow-artifacts/artifacts?path=0/../../etc",
                    s.url
                ),
            ),
        ),
    ];
    for (what, want_status, want_code, (status, body)) in cases {
        assert_eq!(status, want_status, "{what}: {body}");
        assert_eq!(body["error_code"], want_code, "{what}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: no message in {body}"
        );
    }
    // A body over --max-request-mib: the server may answer 413 and close before the client
    // has written all of it, so the client sees the 413 or its write cut off.
    let big = format!(
        "{{\"run_id\": \"{run}\", \"tags\": [], \"x\": \"{}\"}}",
        "y".repeat(2 << 20)
    );
    match a
        .post(&s.api("runs/log-batch"))
        .header("Content-Type", "application/json")
        .send(big.as_bytes())
    {
        Ok(mut r) => {
            let body = r.body_mut().read_json::<Value>().unwrap_or(Value::Null);
            assert_eq!(r.status().as_u16(), 413, "{body}");
            assert_eq!(body["error_code"], "REQUEST_LIMIT_EXCEEDED", "{body}");
        }
        Err(ureq::Error::Io(e)) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "{e}"
        ),
        Err(e) => panic!("{e}"),
    }
    let (status, _) = get(&a, &format!("{}/health", s.url));
    assert_eq!(status, 200, "the server stopped serving after bad requests");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_acknowledged_point_survives_kill_9_once() {
    let dir = fresh_dir("kill9");
    let mut server = Server::start(&dir, &[]);
    let a = agent();
    let runs: Vec<String> = (0..8).map(|_| create_run(&a, &server, None)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let url = server.api("runs/log-batch");
    let writers: Vec<_> = runs
        .iter()
        .cloned()
        .map(|run| {
            let (url, stop) = (url.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let a = agent();
                let mut acknowledged = Vec::new();
                let mut step = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    let points: Vec<Value> = (0..10)
                        .map(|i| json!({"key": "loss", "value": 0.5, "timestamp": 7, "step": step + i}))
                        .collect();
                    let sent = a
                        .post(&url)
                        .send_json(json!({"run_id": run, "metrics": points}));
                    match sent {
                        Ok(r) if r.status().as_u16() == 200 => acknowledged.extend(step..step + 10),
                        // The server is gone: what was not acknowledged may or may not be there.
                        _ => break,
                    }
                    step += 10;
                }
                (run, acknowledged)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    // SIGKILL: no shutdown, no flush.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let results: Vec<(String, Vec<i64>)> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(
        results.iter().all(|(_, acked)| !acked.is_empty()),
        "some writer never got an answer"
    );
    let server = Server::start(&dir, &[]);
    for (run, acked) in results {
        let (status, v) = get(
            &a,
            &server.api(&format!("metrics/get-history?run_id={run}&metric_key=loss")),
        );
        assert_eq!(status, 200, "{v}");
        let mut steps: Vec<i64> = v["metrics"]
            .as_array()
            .map(|m| m.iter().map(|p| p["step"].as_i64().unwrap()).collect())
            .unwrap_or_default();
        steps.sort_unstable();
        let n = steps.len();
        steps.dedup();
        assert_eq!(n, steps.len(), "run {run}: a point was stored twice");
        let missing: Vec<&i64> = acked
            .iter()
            .filter(|s| steps.binary_search(s).is_err())
            .collect();
        assert!(
            missing.is_empty(),
            "run {run}: {} acknowledged points lost, e.g. step {}",
            missing.len(),
            missing[0]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `whet server token create` prints the secret as the last line of stdout.
fn token(dir: &Path, name: &str, role: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_whet"))
        .args([
            "server", "token", "create", "--name", name, "--role", role, "--store",
        ])
        .arg(dir.join("whet.db"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn tokens_and_roles_are_enforced_and_writes_are_audited() {
    let dir = fresh_dir("auth");
    // The store must exist before tokens go into it.
    let reader = token(&dir, "dashboard", "read");
    let writer = token(&dir, "ci-job", "write");
    let s = Server::start(&dir, &["--auth", "on"]);
    let a = agent();
    let create = |tok: Option<&str>, name: &str| {
        post(
            &a,
            &s.api("experiments/create"),
            &json!({"name": name}),
            tok,
        )
    };
    let (status, body) = create(None, "e1");
    assert_eq!(
        (status, body["error_code"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let (status, body) = create(Some("whet_not-a-real-token"), "e1");
    assert_eq!(
        (status, body["error_code"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let (status, body) = create(Some(&reader), "e1");
    assert_eq!(
        (status, body["error_code"].as_str()),
        (403, Some("PERMISSION_DENIED"))
    );
    let (status, body) = create(Some(&writer), "e1");
    assert_eq!(status, 200, "{body}");
    // A model version records the token that registered it, as MLflow's user_id, and so
    // does an alias move; the whet client's claimed name does not override the token.
    let (status, body) = post(
        &a,
        &s.api("registered-models/create"),
        &json!({"name": "m"}),
        Some(&writer),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &a,
        &s.api("model-versions/create"),
        &json!({"name": "m", "source": "s3://bucket/m"}),
        Some(&writer),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model_version"]["user_id"], "ci-job", "{body}");
    let (status, body) = post(
        &a,
        &s.api("registered-models/alias"),
        &json!({"name": "m", "alias": "champion", "version": "1"}),
        Some(&writer),
    );
    assert_eq!(status, 200, "{body}");
    let mut r = a
        .get(&s.api("model-versions/get?name=m&version=1"))
        .header("Authorization", &format!("Bearer {reader}"))
        .call()
        .unwrap();
    let got: Value = r.body_mut().read_json().unwrap();
    assert_eq!(got["model_version"]["user_id"], "ci-job", "{got}");
    let mut r = a
        .get(&format!(
            "{}/api/2.0/whet/registered-models/alias-history?name=m",
            s.url
        ))
        .header("Authorization", &format!("Bearer {reader}"))
        .call()
        .unwrap();
    let moves: Value = r.body_mut().read_json().unwrap();
    assert_eq!(moves["alias_history"][0]["user_id"], "ci-job", "{moves}");
    // Reads, including the searches MLflow sends as POST, are allowed to a read token.
    let (status, body) = post(&a, &s.api("experiments/search"), &json!({}), Some(&reader));
    assert_eq!(status, 200, "{body}");
    // HTTP Basic with the token as password works too (MLFLOW_TRACKING_USERNAME/PASSWORD).
    let mut r = a
        .get(&s.api("experiments/get-by-name?experiment_name=e1"))
        .header(
            "Authorization",
            &format!("Basic {}", base64_encode(&format!("anyone:{reader}"))),
        )
        .call()
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "{:?}",
        r.body_mut().read_to_string()
    );
    // The server writes its audit log in batches after answering: read it until the last
    // audited request is there (a killed server would lose what it had not written yet).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let entries = loop {
        let audit = Command::new(env!("CARGO_BIN_EXE_whet"))
            .args(["server", "audit", "--json", "--store"])
            .arg(dir.join("whet.db"))
            .output()
            .unwrap();
        assert!(
            audit.status.success(),
            "{}",
            String::from_utf8_lossy(&audit.stderr)
        );
        let entries: Value = serde_json::from_slice(&audit.stdout).unwrap();
        let entries = entries.as_array().cloned().unwrap_or_default();
        if entries.len() >= 2 || std::time::Instant::now() > deadline {
            break entries;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(s);
    let who = |status: i64| {
        entries
            .iter()
            .filter(|e| {
                e["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("experiments/create"))
            })
            .filter(|e| e["status"] == status)
            .map(|e| e["token_name"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(who(200), vec!["ci-job"], "{entries:?}");
    assert_eq!(who(403), vec!["dashboard"], "{entries:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends a request whose body arrives well after its head, then a second request on the same
/// connection, three times: an answer sent on the head alone would leave the body unread, and
/// the connection would close under the next request.
fn assert_connection_survives(addr: &str, path: &str, status: &str) {
    let body = br#"{"name":"x"}"#;
    let post = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let get = format!(
        "GET /api/2.0/mlflow/experiments/get?experiment_id=0 HTTP/1.1\r\nHost: {addr}\r\n\r\n"
    );
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    for round in 0..3 {
        let (answer, headers) =
            exchange(&mut conn, &post, body, Duration::from_millis(300)).unwrap();
        assert!(answer.contains(status), "{path}, round {round}: {answer}");
        assert!(
            !headers.contains(&"connection: close".to_string()),
            "{headers:?}"
        );
        exchange(&mut conn, &get, b"", Duration::ZERO).unwrap_or_else(|e| {
            panic!("{path}, round {round}: the next request on the connection: {e}")
        });
    }
}

#[test]
fn a_request_answered_before_its_body_was_read_leaves_the_connection_usable() {
    let dir = fresh_dir("unread-open");
    let s = Server::start(&dir, &[]);
    let addr = s.url.trim_start_matches("http://").to_string();
    assert_connection_survives(&addr, "/api/2.0/mlflow/no-such-endpoint", " 404 ");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);

    let dir = fresh_dir("unread-auth");
    let s = Server::start(&dir, &["--auth", "on"]);
    let addr = s.url.trim_start_matches("http://").to_string();
    assert_connection_survives(&addr, "/api/2.0/mlflow/experiments/create", " 401 ");
    // A body too big to read for a refusal is left unread, and the answer says so.
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let upload = format!(
        "PUT /api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/big.bin HTTP/1.1\r\n\
         Host: {addr}\r\nContent-Length: {}\r\n\r\n",
        64 << 20
    );
    let (status, headers) = exchange(&mut conn, &upload, b"", Duration::ZERO).unwrap();
    assert!(status.contains(" 401 "), "{status}");
    assert!(
        headers.contains(&"connection: close".to_string()),
        "{headers:?}"
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

fn base64_encode(s: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = s.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn an_open_port_without_authentication_is_refused() {
    let dir = fresh_dir("open");
    let out = Command::new(env!("CARGO_BIN_EXE_whet"))
        .args([
            "server", "--host", "0.0.0.0", "--port", "0", "--auth", "off", "--store",
        ])
        .arg(dir.join("whet.db"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without authentication"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_ui_is_served_with_etags_without_a_token_and_its_data_endpoint_needs_one() {
    let dir = fresh_dir("ui");
    let reader = token(&dir, "viewer", "read");
    let s = Server::start(&dir, &["--auth", "on"]);
    let a = agent();
    let mut r = a.get(&format!("{}/", s.url)).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/html; charset=utf-8"
    );
    let html = r.body_mut().read_to_string().unwrap();
    assert!(html.contains("/ui/app.js"), "{html}");
    let r = a.get(&format!("{}/ui/app.js", s.url)).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = a
        .get(&format!("{}/ui/app.js", s.url))
        .header("If-None-Match", &etag)
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 304);
    let r = a.get(&format!("{}/ui/nope.js", s.url)).call().unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // The data is not open: the UI's endpoint needs a token like the rest of the API.
    let activity = format!("{}/api/2.0/whet/ui/experiments", s.url);
    assert_eq!(get(&a, &activity).0, 401);
    let writer = token(&dir, "writer", "write");
    let (status, v) = post(
        &a,
        &s.api("experiments/create"),
        &json!({"name": "ui-activity"}),
        Some(&writer),
    );
    assert_eq!(status, 200, "{v}");
    let e = v["experiment_id"].as_str().unwrap().to_string();
    for start in [1_000, 5_000] {
        let (status, v) = post(
            &a,
            &s.api("runs/create"),
            &json!({"experiment_id": e, "start_time": start}),
            Some(&writer),
        );
        assert_eq!(status, 200, "{v}");
    }
    let mut r = a
        .get(&activity)
        .header("Authorization", &format!("Bearer {reader}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.body_mut().read_json().unwrap();
    let row = v["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| {
            x["experiment_id"]
                .as_i64()
                .map(|n| n.to_string())
                .as_deref()
                == Some(e.as_str())
        })
        .unwrap_or_else(|| panic!("experiment {e} missing from {v}"));
    assert_eq!(row["runs"], 2);
    assert_eq!(row["last_activity"], 5_000);
    assert!(row.get("best").is_none(), "no study, no best: {row}");

    // JSON answers are gzip-compressed for clients that ask, and only for them (above 1 KiB).
    for i in 0..8 {
        let (status, v) = post(
            &a,
            &s.api("runs/create"),
            &json!({"experiment_id": e, "start_time": 10_000 + i, "run_name": format!("a run with a long enough name {i}")}),
            Some(&writer),
        );
        assert_eq!(status, 200, "{v}");
    }
    let search = |gzip: bool| {
        let mut req = a
            .post(s.api("runs/search"))
            .header("Authorization", &format!("Bearer {reader}"))
            .header("Content-Type", "application/json");
        if gzip {
            req = req.header("Accept-Encoding", "gzip, deflate");
        }
        let mut r = req
            .send(json!({"experiment_ids": [e]}).to_string())
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let encoding = r
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = r.body_mut().read_to_vec().unwrap();
        (encoding, body)
    };
    let (plain_encoding, plain) = search(false);
    let (gz_encoding, gz) = search(true);
    assert_eq!(plain_encoding, None);
    assert_eq!(gz_encoding.as_deref(), Some("gzip"));
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unzipped).unwrap();
    assert_eq!(unzipped, plain, "the same answer, compressed");
    assert!(gz.len() < plain.len());

    // The Parquet preview: a file that is not Parquet and a path out of the root are 400s
    // that name the artifact, never the server's own path; a missing one is 404.
    let preview = format!("{}/api/2.0/whet/ui/preview", s.url);
    let put = a
        .put(format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/{e}/r/artifacts/notes.parquet",
            s.url
        ))
        .header("Authorization", &format!("Bearer {writer}"))
        .send(&b"not parquet at all"[..])
        .unwrap();
    assert_eq!(put.status().as_u16(), 200);
    for (path, status, says) in [
        (
            format!("{e}/r/artifacts/notes.parquet"),
            400,
            "notes.parquet",
        ),
        ("../../etc/passwd".to_string(), 400, "Invalid path"),
        (
            format!("{e}/r/artifacts/absent.parquet"),
            404,
            "absent.parquet",
        ),
    ] {
        let mut r = a
            .get(&preview)
            .query("path", &path)
            .header("Authorization", &format!("Bearer {reader}"))
            .call()
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        let v: Value = r.body_mut().read_json().unwrap();
        let m = v["message"].as_str().unwrap_or_default();
        assert!(m.contains(says), "{path}: {v}");
        assert!(!m.contains(&dir.display().to_string()), "{path}: {v}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn whet_ui_refuses_a_missing_store_and_serves_an_existing_one_on_loopback() {
    let dir = fresh_dir("ui-cmd");
    let out = Command::new(env!("CARGO_BIN_EXE_whet"))
        .args(["ui", "--store"])
        .arg(dir.join("absent.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no store at") && err.contains("hint:"),
        "{err}"
    );

    token(&dir, "creates-the-store", "read");
    let mut child = Command::new(env!("CARGO_BIN_EXE_whet"))
        .args(["ui", "-q", "--store"])
        .arg(dir.join("whet.db"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line:?}");
    // No token needed: loopback only, auth off.
    let (status, v) = get(&agent(), &format!("{url}api/2.0/whet/ui/experiments"));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200, "{v}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Fills the file system holding `dir` until a write fails; returns the filler's path.
fn fill_disk(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        if f.write_all(&block).is_err() {
            break;
        }
    }
    // Small writes may still fit in the last partial block: take that too.
    while f.write_all(&[0u8; 512]).is_ok() {}
    let _ = f.sync_all();
    path
}

/// A full disk under the store and the artifacts gives 503 with a message that says so, the
/// server keeps answering reads, and writes work again once space is freed. Needs a small file
/// system of its own (CI mounts an 8 MB tmpfs and sets WHET_TEST_SMALL_FS to it; it skips,
/// saying so, when the variable is unset and WHET_REQUIRE_SMALL_FS is not).
#[test]
fn a_full_disk_gives_503_and_reads_keep_working() {
    let Some(root) = std::env::var_os("WHET_TEST_SMALL_FS") else {
        assert!(
            std::env::var_os("WHET_REQUIRE_SMALL_FS").is_none(),
            "WHET_REQUIRE_SMALL_FS is set but WHET_TEST_SMALL_FS is not"
        );
        eprintln!(
            "SKIPPED a_full_disk_gives_503_and_reads_keep_working: WHET_TEST_SMALL_FS is unset (see .ci/smallfs.sh)"
        );
        return;
    };
    let dir = PathBuf::from(root).join("server-full-disk");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let server = Server::start(&dir, &[]);
    let a = agent();
    let run = create_run(&a, &server, None);
    let (status, v) = post(
        &a,
        &server.api("experiments/create"),
        &json!({"name": "kept"}),
        None,
    );
    assert_eq!(status, 200, "{v}");

    let filler = fill_disk(&dir);
    // Enough new metric rows that SQLite must grow its files.
    let batch = |tag: &str| {
        let metrics: Vec<Value> = (0..1000)
            .map(|i| json!({"key": format!("{tag}_metric_with_a_long_name_{i:04}"), "value": i, "timestamp": 1, "step": 0}))
            .collect();
        json!({"run_id": run, "metrics": metrics})
    };
    let (status, v) = post(&a, &server.api("runs/log-batch"), &batch("full"), None);
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error_code"], "TEMPORARILY_UNAVAILABLE", "{v}");
    let message = v["message"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        message.contains("full") || message.contains("space"),
        "the message should say the disk is full: {v}"
    );
    let upload = a
        .put(format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/0/{run}/artifacts/big.bin",
            server.url
        ))
        .send(&vec![7u8; 256 * 1024][..])
        .unwrap();
    assert_eq!(upload.status().as_u16(), 503);
    assert!(
        !dir.join("artifacts/0")
            .join(&run)
            .join("artifacts/big.bin")
            .exists(),
        "a failed upload must leave no partial file"
    );

    // Reads keep working while the disk is full.
    let (status, v) = get(&a, &server.api(&format!("runs/get?run_id={run}")));
    assert_eq!(status, 200, "{v}");
    let (status, v) = get(
        &a,
        &server.api("experiments/get-by-name?experiment_name=kept"),
    );
    assert_eq!(status, 200, "{v}");
    let (status, v) = post(
        &a,
        &server.api("runs/search"),
        &json!({"experiment_ids": ["0"]}),
        None,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["runs"].as_array().map(Vec::len), Some(1), "{v}");

    // Freed space: writes are accepted again without a restart.
    std::fs::remove_file(&filler).unwrap();
    let (status, v) = post(&a, &server.api("runs/log-batch"), &batch("after"), None);
    assert_eq!(status, 200, "{v}");
    let (status, v) = get(&a, &server.api(&format!("runs/get?run_id={run}")));
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["run"]["data"]["metrics"].as_array().map(Vec::len),
        Some(1000),
        "only the batch sent after space was freed is stored: {}",
        v["run"]["data"]["metrics"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

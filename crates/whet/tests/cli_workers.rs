//! Distributed trials (`whet train --workers remote`, `whet worker`) against a real
//! PostgreSQL: the URL comes from WHET_TEST_POSTGRES_URL (CI's `.ci/run` starts one through
//! `.ci/postgres.sh`); without it the PostgreSQL tests say they are skipped. Each test gets a
//! fresh schema.
//!
//! What is checked: 3 workers give the local run's trials, scores and model, with two
//! trials' folds in flight at once (from the queue's finish times), and so do 2
//! workers and a submitter that reach the queue through a `whet server` on that PostgreSQL
//! with tokens (a read token's worker is refused and takes nothing; a damaged data artifact is
//! reported and the fold stays queued); a worker killed (SIGKILL) while it holds a trial loses
//! it when its lease runs out, another worker fits it, and every trial is recorded once; a
//! worker cut off from the database for a few seconds carries on, and so does one cut off from
//! the whet server it goes through; bad input (a SQLite store or a server on one, a store of a
//! newer schema, corrupt training data) gives a clear error and loses no trial.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use whet_learn::model::Model;

mod common;
use common::tmp;

/// 400 rows: two numeric columns, a category, a date and a binary target with noise (small,
/// so 40 trials take seconds; a category and a date, so the Parquet round trip of the upload
/// is exercised beyond numbers).
fn example() -> PathBuf {
    static DATA: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DATA.get_or_init(|| {
        let mut state: u64 = 0x5EED;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut csv = String::from("x0,x1,plan,since,y\n");
        for i in 0..400 {
            let (a, b, n) = (next() * 2.0 - 1.0, next(), next() - 0.5);
            let plan = ["basic", "plus", "pro"][(next() * 3.0) as usize % 3];
            let bonus = if plan == "pro" { 0.4 } else { 0.0 };
            let y = if a + bonus + n * 0.9 > 0.0 {
                "yes"
            } else {
                "no"
            };
            let x1 = if i % 17 == 0 {
                String::new()
            } else {
                format!("{b:.4}")
            };
            csv.push_str(&format!(
                "{a:.4},{x1},{plan},2024-{:02}-{:02},{y}\n",
                1 + i % 12,
                1 + i % 28
            ));
        }
        let p = tmp("data.csv");
        std::fs::write(&p, csv).unwrap();
        p
    })
    .clone()
}

fn whet(artifacts: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_whet"));
    c.env_remove("WHET_STORE")
        .env_remove("WHET_TOKEN")
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .env("WHET_ARTIFACTS", artifacts)
        .env("XDG_CACHE_HOME", artifacts.join("cache"));
    c
}

/// A fresh PostgreSQL schema's URL, or None (and a note) without WHET_TEST_POSTGRES_URL.
fn postgres(test: &str) -> Option<String> {
    match std::env::var("WHET_TEST_POSTGRES_URL") {
        Ok(base) => Some(whet_track::testing::fresh_postgres_schema(&base).unwrap()),
        Err(_) => {
            let _ = writeln!(
                std::io::stderr(),
                "skipped: {test} (WHET_TEST_POSTGRES_URL not set)"
            );
            None
        }
    }
}

const TRIALS: &str = "40";
const SEED: &str = "3";

fn train_args(out: &Path) -> Vec<String> {
    vec![
        "train".into(),
        example().display().to_string(),
        "--target".into(),
        "y".into(),
        "--trials".into(),
        TRIALS.into(),
        "--seed".into(),
        SEED.into(),
        "--experiment".into(),
        "demo".into(),
        "--json".into(),
        "--quiet".into(),
        "--out".into(),
        out.display().to_string(),
    ]
}

fn spawn_worker(store: &str, dir: &Path, name: &str, extra: &[&str]) -> Child {
    worker_command(store, dir, name, extra).spawn().unwrap()
}

fn worker_command(store: &str, dir: &Path, name: &str, extra: &[&str]) -> Command {
    let mut c = whet(dir);
    c.args(["worker", "--store", store, "--threads", "1", "--cache"])
        .arg(dir.join(format!("cache-{name}")))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn spawn_train(store: &str, dir: &Path, out: &Path) -> Child {
    train_command(store, dir, out).spawn().unwrap()
}

fn train_command(store: &str, dir: &Path, out: &Path) -> Command {
    let mut c = whet(dir);
    c.args(train_args(out))
        .args(["--store", store, "--workers", "remote"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Waits for a child, killing it (and failing) after `limit`.
fn wait_for(mut child: Child, limit: Duration, what: &str) -> Output {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!(
                "{what} did not finish in {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigterm(child: &Child) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
}

fn report(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The study's trial log (`trials.jsonl` of its run), each trial without its wall-clock field.
fn trials(r: &serde_json::Value, store: &str, dir: &Path) -> Vec<String> {
    let options = whet_track::OpenOptions {
        artifact_root: Some(dir.to_path_buf()),
        ..Default::default()
    };
    let handle = whet_track::Store::open_with(store, options).unwrap();
    let run = r["tracking"]["run_id"].as_str().unwrap();
    let log = handle.read_artifact(run, "trials.jsonl").unwrap();
    String::from_utf8(log)
        .unwrap()
        .lines()
        .map(|line| {
            let mut t: serde_json::Value = serde_json::from_str(line).unwrap();
            t.as_object_mut().unwrap().remove("fit_seconds");
            serde_json::to_string(&t).unwrap()
        })
        .collect()
}

/// The model's MessagePack encoding without its one wall-clock field.
fn model_encoding(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let mut model = Model::from_bytes(&bytes, "test").unwrap();
    model.metadata.fit_seconds = 0.0;
    model.encoded().unwrap()
}

/// The single-process run every distributed run is compared with (SQLite store).
fn local_run(dir: &Path) -> (Vec<String>, Vec<u8>) {
    let out = dir.join("local.whet");
    let db = dir.join("local.db").display().to_string();
    let o = whet(dir)
        .args(train_args(&out))
        .args(["--store", &db])
        .output()
        .unwrap();
    (trials(&report(&o), &db, dir), model_encoding(&out))
}

fn study_dir(name: &str) -> PathBuf {
    let d = tmp(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn three_workers_give_the_local_runs_trials_scores_and_model() {
    let Some(store) = postgres("three_workers_give_the_local_runs_trials_scores_and_model") else {
        return;
    };
    let dir = study_dir("three");
    let (local, local_model) = local_run(&dir);
    assert_eq!(local.len(), 40);

    let workers: Vec<Child> = (0..3)
        .map(|i| spawn_worker(&store, &dir, &format!("w{i}"), &[]))
        .collect();
    let out = dir.join("remote.whet");
    let remote = report(&wait_for(
        spawn_train(&store, &dir, &out),
        Duration::from_secs(600),
        "the distributed study",
    ));
    assert_eq!(trials(&remote, &store, &dir), local);
    assert!(model_encoding(&out) == local_model, "model differs");

    // SIGTERM drains: each worker exits cleanly after its current trial.
    for w in &workers {
        sigterm(w);
    }
    let mut fitted = 0;
    for w in workers {
        let o = wait_for(w, Duration::from_secs(60), "a worker after SIGTERM");
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "{err}");
        fitted += err
            .lines()
            .filter(|l| l.starts_with("trial ") && l.contains(" of study "))
            .count();
    }
    // Every trial's folds ran on the workers, none on the submitter.
    let store_handle = whet_track::Store::open(&store).unwrap();
    let tasks = store_handle.queue_tasks(None).unwrap();
    let done: Vec<_> = tasks.iter().filter(|t| t.state == "done").collect();
    assert_eq!(fitted, done.len());
    let mut by_trial: Vec<i64> = done.iter().map(|t| t.trial).collect();
    by_trial.dedup();
    assert_eq!(by_trial, (0..40).collect::<Vec<i64>>());
    assert!(
        tasks
            .iter()
            .all(|t| t.state == "done" || t.state == "cancelled")
    );
    // Two trials' folds were in flight at once: trial k+1 is queued while trial k's folds
    // are fitted (the search proposes one trial ahead), so a worker that finds trial k's
    // folds all taken fits one of k+1's. Folds are claimed in queue order, trial k's first,
    // so a fold of k+1 done before one of k's was fitted while that one was.
    let finished = whet_track::testing::queue_finish_times(&store).unwrap();
    let overlaps = finished
        .iter()
        .filter(|&&(trial, _, at)| {
            finished
                .iter()
                .any(|&(earlier, _, then)| earlier + 1 == trial && then > at)
        })
        .count();
    assert!(
        overlaps > 0,
        "no fold of a trial finished before the previous trial's last fold: {finished:?}"
    );

    // --once on an empty queue: exits at once, successfully.
    let o = wait_for(
        spawn_worker(&store, &dir, "once", &["--once"]),
        Duration::from_secs(60),
        "whet worker --once",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_killed_workers_trial_is_fitted_again_elsewhere_and_counted_once() {
    let Some(store) = postgres("a_killed_workers_trial_is_fitted_again_elsewhere_and_counted_once")
    else {
        return;
    };
    let dir = study_dir("killed");
    let (local, local_model) = local_run(&dir);
    let handle = whet_track::Store::open(&store).unwrap();
    let out = dir.join("remote.whet");
    let train = spawn_train(&store, &dir, &out);
    // The victim alone first, so that it is the one holding a trial when it dies.
    let mut victim = spawn_worker(&store, &dir, "victim", &["--lease", "2s"]);
    let victim_owner = format!("pid {}", victim.id());
    let started = Instant::now();
    let held = loop {
        let tasks = handle.queue_tasks(None).unwrap();
        // Past the first few trials, so the kill lands in the middle of the study.
        let done = tasks.iter().filter(|t| t.state == "done").count();
        if let Some(t) = tasks.iter().find(|t| {
            t.state == "running"
                && done >= 10
                && t.owner
                    .as_deref()
                    .is_some_and(|o| o.ends_with(&victim_owner))
        }) {
            victim.kill().unwrap();
            break t.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the victim never held a trial"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = victim.wait();
    let helpers: Vec<Child> = (0..2)
        .map(|i| spawn_worker(&store, &dir, &format!("h{i}"), &["--lease", "2s"]))
        .collect();
    let remote = report(&wait_for(
        train,
        Duration::from_secs(600),
        "the study after a worker was killed",
    ));
    for h in &helpers {
        sigterm(h);
    }
    for h in helpers {
        wait_for(h, Duration::from_secs(60), "a helper after SIGTERM");
    }
    // Every trial exactly once, and the same as the local run's.
    let log = trials(&remote, &store, &dir);
    let ids: Vec<u64> = log
        .iter()
        .map(|t| {
            serde_json::from_str::<serde_json::Value>(t).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, (0..40).collect::<Vec<u64>>());
    assert_eq!(log, local);
    assert!(model_encoding(&out) == local_model, "model differs");
    // The killed worker's fold was claimed again and fitted by another worker.
    let again = handle
        .queue_tasks(None)
        .unwrap()
        .into_iter()
        .find(|t| t.key == held.key)
        .unwrap();
    assert!(again.attempts >= 2, "{again:?}");
    if again.state == "done" {
        assert!(
            !again
                .owner
                .as_deref()
                .unwrap_or("")
                .ends_with(&victim_owner),
            "{again:?}"
        );
    }
}

/// A TCP relay to PostgreSQL that can be cut: while cut, open connections are closed and new
/// ones refused, as when a worker's network goes away.
struct Relay {
    port: u16,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (c, o) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if c.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                o.lock().unwrap().push(client.try_clone().unwrap());
                o.lock().unwrap().push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Relay { port, cut, open }
    }

    fn cut_for(&self, d: Duration) {
        self.cut.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        std::thread::sleep(d);
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// host:port of a postgres:// URL, and the URL with another port on 127.0.0.1.
fn through_relay(url: &str) -> (String, impl Fn(u16) -> String + '_) {
    let rest = url.split_once("://").unwrap().1;
    let authority_end = rest.find('/').unwrap();
    let authority = &rest[..authority_end];
    let host_port = authority.rsplit_once('@').map_or(authority, |a| a.1);
    let user = authority.rsplit_once('@').map(|a| a.0);
    let path = &rest[authority_end..];
    (host_port.to_string(), move |port| match user {
        Some(u) => format!("postgres://{u}@127.0.0.1:{port}{path}"),
        None => format!("postgres://127.0.0.1:{port}{path}"),
    })
}

#[test]
fn a_worker_that_loses_the_database_for_a_few_seconds_carries_on() {
    let Some(store) = postgres("a_worker_that_loses_the_database_for_a_few_seconds_carries_on")
    else {
        return;
    };
    let dir = study_dir("outage");
    let (local, _) = local_run(&dir);
    let (target, via) = through_relay(&store);
    let relay = Relay::start(target);
    let worker_url = via(relay.port);
    let handle = whet_track::Store::open(&store).unwrap();
    let out = dir.join("remote.whet");
    let train = spawn_train(&store, &dir, &out);
    let worker = spawn_worker(&worker_url, &dir, "cut", &["--lease", "20s"]);
    let started = Instant::now();
    while handle
        .queue_tasks(None)
        .unwrap()
        .iter()
        .filter(|t| t.state == "done")
        .count()
        < 20
    {
        assert!(started.elapsed() < Duration::from_secs(300), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    relay.cut_for(Duration::from_secs(4));
    let remote = report(&wait_for(
        train,
        Duration::from_secs(600),
        "the study after the outage",
    ));
    assert_eq!(trials(&remote, &store, &dir), local);
    sigterm(&worker);
    let o = wait_for(worker, Duration::from_secs(60), "the worker after SIGTERM");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("lost the database"), "{err}");
    assert!(err.contains("the database is back"), "{err}");
}

#[test]
fn remote_workers_are_refused_on_sqlite() {
    let dir = study_dir("sqlite");
    let o = whet(&dir)
        .args(train_args(&dir.join("m.whet")))
        .args(["--workers", "remote", "--store"])
        .arg(dir.join("s.db"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--workers remote needs a PostgreSQL store"),
        "{err}"
    );
    let o = whet(&dir)
        .args(["worker", "--once", "--store"])
        .arg(dir.join("s.db"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("SQLite"));
    // The final stage goes to a worker only when there are workers.
    let o = whet(&dir)
        .args(train_args(&dir.join("m.whet")))
        .args(["--final-on", "worker", "--store"])
        .arg(dir.join("s.db"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--final-on worker needs --workers remote"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // Through a whet server on SQLite: the same refusal, naming the server.
    let server = Server::start(
        &dir.join("server.db").display().to_string(),
        &dir.join("art"),
        &[],
    );
    let o = whet(&dir)
        .args(train_args(&dir.join("m.whet")))
        .args(["--workers", "remote", "--store", &server.url])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the whet server at") && err.contains("runs on SQLite"),
        "{err}"
    );
    let o = whet(&dir)
        .args(["worker", "--once", "--store", &server.url])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("a whet server on SQLite"), "{err}");
}

#[test]
fn a_worker_refuses_a_store_of_a_newer_schema() {
    let Some(store) = postgres("a_worker_refuses_a_store_of_a_newer_schema") else {
        return;
    };
    let dir = study_dir("newer");
    drop(whet_track::Store::open(&store).unwrap());
    whet_track::testing::execute(
        &store,
        &["INSERT INTO whet_schema (version, applied_time) VALUES (999, 0)"],
    )
    .unwrap();
    let o = whet(&dir)
        .args(["worker", "--once", "--store", &store])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("999"), "{err}");
}

#[test]
fn corrupt_training_data_is_reported_and_the_trial_stays_queued() {
    let Some(store) = postgres("corrupt_training_data_is_reported_and_the_trial_stays_queued")
    else {
        return;
    };
    let dir = study_dir("corrupt");
    let handle = whet_track::Store::open(&store).unwrap();
    let out = dir.join("remote.whet");
    let train = spawn_train(&store, &dir, &out);
    let started = Instant::now();
    while handle.queue_tasks(None).unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "nothing queued"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // One byte more: the content no longer matches its sha256.
    whet_track::testing::execute(
        &store,
        &["UPDATE trial_queue_data SET bytes = bytes || '\\x00'::bytea"],
    )
    .unwrap();
    let o = wait_for(
        spawn_worker(&store, &dir, "bad", &["--once"]),
        Duration::from_secs(120),
        "a worker on corrupt data",
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("does not match its content"), "{err}");
    let first = handle.queue_tasks(None).unwrap().remove(0);
    assert_eq!(first.state, "queued", "{first:?}");
    assert!(
        first
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("does not match its content")),
        "{first:?}"
    );
    // Repaired, the same study finishes with no trial lost.
    whet_track::testing::execute(
        &store,
        &["UPDATE trial_queue_data SET bytes = substring(bytes from 1 for size::int)"],
    )
    .unwrap();
    let worker = spawn_worker(&store, &dir, "good", &[]);
    let o = wait_for(train, Duration::from_secs(600), "the repaired study");
    let remote = report(&o);
    assert_eq!(trials(&remote, &store, &dir).len(), 40);
    sigterm(&worker);
    wait_for(worker, Duration::from_secs(60), "the worker after SIGTERM");
}

/// `whet server` on a free loopback port over `store`, its artifacts in `artifacts`.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(store: &str, artifacts: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_whet"))
            .args(["server", "--port", "0", "--store", store])
            .arg("--artifacts-destination")
            .arg(artifacts)
            .args(extra)
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

/// `whet server token create` on the store: the secret is the last line of stdout.
fn token(store: &str, name: &str, role: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_whet"))
        .args(["server", "token", "create", "--name", name, "--role", role])
        .args(["--store", store])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn workers_through_a_server_give_the_local_runs_trials_and_model_and_a_read_token_is_refused() {
    let Some(store) = postgres(
        "workers_through_a_server_give_the_local_runs_trials_and_model_and_a_read_token_is_refused",
    ) else {
        return;
    };
    let dir = study_dir("server");
    let (local, local_model) = local_run(&dir);
    let write = token(&store, "trainer", "write");
    let read = token(&store, "viewer", "read");
    let art = dir.join("art");
    let server = Server::start(&store, &art, &["--auth", "on"]);
    let url = server.url.as_str();
    let handle = whet_track::Store::open(&store).unwrap();

    let out = dir.join("remote.whet");
    // The final stage (bag or refit, and the refit) on a worker too: the same model still.
    let train = train_command(url, &dir, &out)
        .args(["--final-on", "worker"])
        .env("WHET_TOKEN", &write)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while handle.queue_tasks(None).unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "nothing queued"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The data went through the artifact proxy, not into the queue's table.
    let study = handle
        .queue_study(&handle.queue_tasks(None).unwrap()[0].study_id)
        .unwrap();
    assert!(handle.queue_data(&study.data_sha256).is_err());
    let artifact = whet_track::remote::api::queue_data_artifact(&study.data_sha256);
    assert!(
        handle
            .list_artifacts(&study.run_id)
            .unwrap()
            .iter()
            .any(|a| a.path == artifact && a.sha256 == study.data_sha256),
        "no data artifact {artifact}"
    );

    // A read token may look but not claim: a clear error, and the trial stays queued.
    let o = wait_for(
        worker_command(url, &dir, "reader", &["--once"])
            .env("WHET_TOKEN", &read)
            .spawn()
            .unwrap(),
        Duration::from_secs(60),
        "a worker with a read token",
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot claim a trial") && err.contains("read role"),
        "{err}"
    );
    assert!(err.contains("WHET_TOKEN"), "{err}");
    let first = handle.queue_tasks(None).unwrap().remove(0);
    assert_eq!(
        (first.state.as_str(), first.attempts),
        ("queued", 0),
        "{first:?}"
    );

    // The data artifact damaged on the server: the download does not match the recorded
    // sha256, the worker says so, and the fold goes back to the queue.
    let uri = handle.get_run(&study.run_id).unwrap().info.artifact_uri;
    let file = art.join(uri).join(&artifact);
    let good = std::fs::read(&file).unwrap();
    let mut bad = good.clone();
    bad.push(0);
    std::fs::write(&file, &bad).unwrap();
    let o = wait_for(
        worker_command(url, &dir, "damaged", &["--once"])
            .env("WHET_TOKEN", &write)
            .spawn()
            .unwrap(),
        Duration::from_secs(120),
        "a worker on a damaged data artifact",
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is damaged: expected sha256"), "{err}");
    let first = handle.queue_tasks(None).unwrap().remove(0);
    assert_eq!(first.state, "queued", "{first:?}");
    assert!(
        first
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("is damaged")),
        "{first:?}"
    );
    std::fs::write(&file, &good).unwrap();

    let workers: Vec<Child> = (0..2)
        .map(|i| {
            worker_command(url, &dir, &format!("s{i}"), &[])
                .env("WHET_TOKEN", &write)
                .spawn()
                .unwrap()
        })
        .collect();
    let remote = report(&wait_for(
        train,
        Duration::from_secs(600),
        "the distributed study through a server",
    ));
    assert_eq!(trials(&remote, &store, &art), local);
    assert!(model_encoding(&out) == local_model, "model differs");
    for w in &workers {
        sigterm(w);
    }
    let mut fitted = 0;
    let mut final_stages = Vec::new();
    for w in workers {
        let o = wait_for(w, Duration::from_secs(60), "a worker after SIGTERM");
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "{err}");
        fitted += err
            .lines()
            .filter(|l| l.starts_with("trial ") && l.contains(" of study "))
            .count();
        final_stages.extend(
            err.lines()
                .filter(|l| l.starts_with("the final stage of study "))
                .map(str::to_string),
        );
    }
    assert_eq!(final_stages.len(), 1, "{final_stages:?}");
    assert!(
        final_stages[0].contains(&format!(
            "final model: {}",
            remote["final_strategy"].as_str().unwrap()
        )),
        "{final_stages:?} vs {}",
        remote["final_strategy"]
    );
    let tasks = handle.queue_tasks(None).unwrap();
    assert_eq!(
        fitted + 1,
        tasks.iter().filter(|t| t.state == "done").count()
    );
    assert!(
        tasks
            .iter()
            .all(|t| t.state == "done" || t.state == "cancelled")
    );
}

#[test]
fn a_worker_that_loses_the_server_for_a_few_seconds_carries_on() {
    let Some(store) = postgres("a_worker_that_loses_the_server_for_a_few_seconds_carries_on")
    else {
        return;
    };
    let dir = study_dir("server-outage");
    let (local, _) = local_run(&dir);
    let art = dir.join("art");
    let server = Server::start(&store, &art, &["--auth", "off"]);
    let relay = Relay::start(server.url.trim_start_matches("http://").to_string());
    let worker_url = format!("http://127.0.0.1:{}", relay.port);
    let handle = whet_track::Store::open(&store).unwrap();
    let out = dir.join("remote.whet");
    let train = spawn_train(&server.url, &dir, &out);
    let worker = spawn_worker(&worker_url, &dir, "cut", &["--lease", "20s"]);
    let started = Instant::now();
    while handle
        .queue_tasks(None)
        .unwrap()
        .iter()
        .filter(|t| t.state == "done")
        .count()
        < 20
    {
        assert!(started.elapsed() < Duration::from_secs(300), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    relay.cut_for(Duration::from_secs(4));
    let remote = report(&wait_for(
        train,
        Duration::from_secs(600),
        "the study after the server outage",
    ));
    assert_eq!(trials(&remote, &store, &art), local);
    sigterm(&worker);
    let o = wait_for(worker, Duration::from_secs(60), "the worker after SIGTERM");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("lost the server"), "{err}");
    assert!(err.contains("the server is back"), "{err}");
}

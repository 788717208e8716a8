//! The store under train: concurrent processes, Ctrl-C and SIGTERM leave every run in its true state.

use super::*;

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

//! Ctrl-C (SIGINT) during `whet predict`, `whet profile` and `whet fit`: the first stops the command at
//! its next step with exit code 130 and leaves no output file (a previous one unchanged); the
//! second ends the process at once. (`whet train`'s Ctrl-C and SIGTERM are in cli_train/store.rs.)
//!
//! No sleeps decide anything: each test waits until the child is demonstrably at work (its
//! temporary output file exists, or /proc shows it reading the input) before signalling, and
//! the inputs are large enough that the work lasts seconds after that.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::tmp;

fn whet() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_whet"));
    c.env("WHET_STORE", tmp("whet.db"))
        .env_remove("WHET_ARTIFACTS");
    c
}

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/churn.csv")
}

/// examples/churn.csv's 2,000 rows a hundred times (17 MB): seconds of work for predict and
/// profile, so a signal sent once they have started arrives while they still run.
fn big_churn() -> PathBuf {
    static FILE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let text = std::fs::read_to_string(example()).unwrap();
        let (header, rows) = text.split_once('\n').unwrap();
        let mut big = String::with_capacity(rows.len() * 100 + header.len() + 1);
        big.push_str(header);
        big.push('\n');
        for _ in 0..100 {
            big.push_str(rows);
        }
        let p = tmp("big-churn.csv");
        std::fs::write(&p, big).unwrap();
        p
    })
    .clone()
}

fn spawn(c: &mut Command) -> Child {
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Polls `ready` until it holds; fails if the child ends first or after two minutes.
fn wait_until(child: &mut Child, what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("whet ended ({status}) before {what}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "waited two minutes for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The child's exit and output; kills it and fails if it does not end within `limit`.
fn finish(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("whet still running {limit:?} after the signal");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn sigint(child: &Child) {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
}

/// Whether process `pid` has `path` open or memory-mapped, i.e. is reading it.
fn reading(pid: u32, path: &Path) -> bool {
    let Ok(path) = path.canonicalize() else {
        return false;
    };
    let mapped = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .is_ok_and(|m| m.contains(&*path.to_string_lossy()));
    let open = std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
        fds.flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|p| p == path))
    });
    mapped || open
}

/// Whether a SIGINT sent to `pid` is still pending, i.e. its handler has not run yet.
fn sigint_pending(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().any(|line| {
        let Some((key, mask)) = line.split_once(':') else {
            return false;
        };
        (key == "SigPnd" || key == "ShdPnd")
            && u64::from_str_radix(mask.trim(), 16)
                .is_ok_and(|m| m & (1 << (libc::SIGINT - 1)) != 0)
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn ctrl_c_during_predict_leaves_the_previous_output_file_unchanged() {
    let model = tmp("churn.whet");
    let o = whet()
        .arg("train")
        .arg(example())
        .args(["--target", "churned", "--trials", "1", "-q", "--out"])
        .arg(&model)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = tmp("predictions.csv");
    std::fs::write(&out, "earlier predictions\n").unwrap();
    let data = big_churn();
    // Small chunks: the stop is checked between them.
    let mut child = spawn(
        whet()
            .arg("predict")
            .arg(&model)
            .arg(&data)
            .args(["--chunk-rows", "1000", "-q", "-o"])
            .arg(&out),
    );
    // The sink's temporary file appears beside the output just before the first chunk.
    let partial = tmp(&format!(".predictions.csv.tmp-{}", child.id()));
    wait_until(&mut child, "predicting started", || partial.exists());
    sigint(&child);
    let o = finish(child, Duration::from_secs(60));
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("stopped on request after"), "{err}");
    assert!(err.contains("no predictions were written"), "{err}");
    assert!(o.stdout.is_empty(), "{}", text(&o.stdout));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "earlier predictions\n",
        "the previous output was replaced"
    );
    assert!(!partial.exists(), "the temporary file was left behind");
}

#[test]
fn ctrl_c_during_profile_writes_no_report() {
    let data = big_churn();
    let html = tmp("stopped-report.html");
    let mut child = spawn(
        whet()
            .arg("profile")
            .arg(&data)
            .args(["--target", "churned", "--html"])
            .arg(&html),
    );
    let pid = child.id();
    wait_until(&mut child, "the data was being read", || {
        reading(pid, &data)
    });
    sigint(&child);
    let o = finish(child, Duration::from_secs(60));
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("stopped on request"), "{err}");
    assert!(err.contains("no profile was written"), "{err}");
    assert!(
        o.stdout.is_empty(),
        "a profile was printed: {}",
        text(&o.stdout)
    );
    assert!(!html.exists(), "a report was written");
    let leftovers: Vec<_> = std::fs::read_dir(html.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("stopped-report"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The first Ctrl-C waits for the end of the load (seconds here); a second one does not.
#[test]
fn a_second_ctrl_c_ends_profile_at_once() {
    let data = big_churn();
    let html = tmp("twice-report.html");
    let mut child = spawn(
        whet()
            .arg("profile")
            .arg(&data)
            .args(["--target", "churned", "--html"])
            .arg(&html),
    );
    let pid = child.id();
    wait_until(&mut child, "the data was being read", || {
        reading(pid, &data)
    });
    sigint(&child);
    // Two signals sent back to back can merge into one: wait until the first was handled.
    wait_until(&mut child, "the first Ctrl-C was handled", || {
        !sigint_pending(pid)
    });
    sigint(&child);
    let o = finish(child, Duration::from_secs(10));
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    // Ended by the second signal, not at the next step the first one waits for.
    assert!(!err.contains("stopped on request"), "{err}");
    assert!(!html.exists(), "a report was written");
}

/// A fit of thousands of rounds on 200,000 rows lasts minutes; Ctrl-C once the data is read
/// (the fit is under way) stops it at its next round without writing the model.
#[test]
fn ctrl_c_during_fit_stops_it_and_writes_no_model() {
    let data = big_churn();
    let model = tmp("stopped-fit.whet");
    let mut child = spawn(
        whet()
            .arg("fit")
            .arg(&data)
            .args([
                "--target",
                "churned",
                "-p",
                "num_iterations=100000",
                "-p",
                "learning_rate=0.001",
                "--out",
            ])
            .arg(&model),
    );
    let pid = child.id();
    wait_until(&mut child, "the data was being read", || {
        reading(pid, &data)
    });
    wait_until(&mut child, "the data was read", || !reading(pid, &data));
    sigint(&child);
    let o = finish(child, Duration::from_secs(60));
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("stopped on request"), "{err}");
    assert!(err.contains("no model was written"), "{err}");
    assert!(
        o.stdout.is_empty(),
        "a report was printed: {}",
        text(&o.stdout)
    );
    assert!(!model.exists(), "a model was written");
}

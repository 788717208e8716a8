//! The fuzz targets' committed corpus (fuzz/corpus/<target>/: the seeds and every input that
//! once crashed or hung a target) replayed through the targets' own code on each `cargo test`,
//! without the instrumented fuzzing build: a fixed crash or hang that comes back fails here.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

// targets.rs names whet-track's filter grammar as `crate::track::filter`, as the fuzz crate
// (which compiles that one file) provides it.
mod track {
    pub use whet_track::filter;
}

#[path = "../../../fuzz/src/targets.rs"]
mod targets;

/// libFuzzer's -timeout in .ci/fuzz.sh is 10 s per input in an optimised build; an unoptimised
/// test build gets more room, and a hang (a loop over claimed sizes) takes far longer still.
const PER_INPUT: Duration = Duration::from_secs(30);

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_fuzz_input_runs_without_a_panic_or_a_hang() {
    let scratch =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-corpus-{}", std::process::id()));
    let mut replayed = 0;
    for target in targets::NAMES {
        let files = corpus(target);
        assert!(!files.is_empty(), "no committed corpus for {target}");
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let (done, wait) = mpsc::channel();
            let dir = scratch.join(target);
            let started = Instant::now();
            // A thread per input so that a hang is reported by name; a panic in it is caught
            // by join below and named the same way.
            let worker = std::thread::spawn(move || {
                targets::run(target, &data, &dir);
                let _ = done.send(());
            });
            match wait.recv_timeout(PER_INPUT) {
                Ok(()) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!(
                        "{target}: {} still running after {PER_INPUT:?}",
                        file.display()
                    )
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {}
            }
            if worker.join().is_err() {
                panic!("{target}: {} panicked", file.display());
            }
            assert!(
                started.elapsed() < PER_INPUT,
                "{target}: {} took {:?}",
                file.display(),
                started.elapsed()
            );
            replayed += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(replayed >= 60, "only {replayed} inputs replayed");
}

//! The unchanged `mlflow` Python client against `whet server`: runs the compatibility suite in
//! crates/whet-server/tests/mlflow_compat (see its README) with this build's binary. Needs a
//! Python with the suite's pinned requirements in WHET_TEST_MLFLOW_PYTHON (`.ci/run` makes
//! one with `.ci/mlflow.sh`); without it the test says it was skipped.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_mlflow_client_works_against_whet_server() {
    let Ok(python) = std::env::var("WHET_TEST_MLFLOW_PYTHON") else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: the mlflow compatibility suite (WHET_TEST_MLFLOW_PYTHON not set; `source .ci/mlflow.sh && setup_mlflow_venv` makes one)"
        );
        return;
    };
    let suite =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../whet-server/tests/mlflow_compat");
    let out = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE"])
        .arg(&suite)
        .env("WHET_COMPAT_SERVER", "whet")
        .env("WHET_BIN", env!("CARGO_BIN_EXE_whet"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().last().unwrap_or("").to_string();
    {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "mlflow compatibility suite: {summary}");
    }
    assert!(
        out.status.success(),
        "the mlflow client disagrees with whet server:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

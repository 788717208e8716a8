#!/usr/bin/env bash
# whet's web UI against MLflow's UI with 100,000 runs in one experiment, in headless Chromium:
# first rows, bytes, sort, filter, scroll to the end, a 100,000-step history (bench/ui_100k.py).
# Run from anywhere:  bash bench/ui_100k.sh            (about 15-25 minutes on 2 shared cores)
#   WHET_BENCH_NO_BUILD=1   use the existing $CARGO_TARGET_DIR/release/whet
#   MLFLOW_PYTHON=PATH      a python with mlflow 3.17.2 (default: ../shared/peers/setup.sh --with-mlflow)
#   WHET_BENCH_WORK=DIR     scratch folder (default bench/data/ui; emptied)
#   extra arguments go to the driver, e.g. --runs 20000 --rounds 1
# Needs chromium and chromedriver (apt-get install chromium chromium-driver).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if [ "${WHET_BENCH_NO_BUILD:-0}" != 1 ]; then
    cargo build --release -q -p whet
fi
PY="${MLFLOW_PYTHON:-$(bash ../shared/peers/setup.sh --with-mlflow | tail -1)}"
command -v chromedriver >/dev/null || { echo "chromedriver not found: apt-get install chromium chromium-driver" >&2; exit 1; }
work="${WHET_BENCH_WORK:-bench/data/ui}"
rm -rf "$work"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
cp "$CARGO_TARGET_DIR/release/whet" "$work/whet-bin"
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' (+ uncommitted changes)')"
"$PY" -c 'import mlflow; print("mlflow", mlflow.__version__)'
chromium --version 2>/dev/null || true
echo "date: $(date -u)"
echo "nproc: $(nproc)"
echo "load before: $(uptime)"
"$PY" bench/ui_100k.py --whet "$work/whet-bin" --mlflow-python "$PY" --work "$work" --out "$work/results.json" "$@"
echo "load after: $(uptime)"

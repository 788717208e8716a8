#!/usr/bin/env bash
# `whet serve` (release) against `mlflow models serve --env-manager local` with the equivalent
# LightGBM model, same run, loopback, wrk as the load generator (apt-get install wrk).
# See bench/serve_vs_mlflow.py for what is measured.
# usage: bash bench/serve_vs_mlflow.sh [--dataset mlc_churn] [--duration 20] [--sustained 60]
#   WHET_BENCH_NO_BUILD=1   use the existing target/release/whet
#   MLFLOW_PYTHON=PATH      a python with mlflow and lightgbm (default /work/venv-mlflow/bin/python)
#   WHET_BENCH_WORK=DIR     scratch folder (default bench/data/serve; emptied)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if [ "${WHET_BENCH_NO_BUILD:-0}" != 1 ]; then
  cargo build --release -q -p whet
fi
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
PY="${MLFLOW_PYTHON:-/work/venv-mlflow/bin/python}"
work="${WHET_BENCH_WORK:-bench/data/serve}"
rm -rf "$work"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
# Measure a copy: others rebuild the target folder while this runs.
cp "$CARGO_TARGET_DIR/release/whet" "$work/whet-bin"
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.lock || echo ' (+ uncommitted changes)')"
"$PY" -c 'import mlflow, lightgbm, platform; print(f"python {platform.python_version()}, mlflow {mlflow.__version__}, lightgbm {lightgbm.__version__}")'
echo "wrk: $(wrk --version 2>&1 | head -1)"
echo "date: $(date -u)"
echo "nproc: $(nproc)"
lscpu | grep -E 'Model name' || true
echo "load before: $(uptime)"
"$PY" bench/serve_vs_mlflow.py --whet "$work/whet-bin" --mlflow-python "$PY" --work "$work" "$@"
echo "load after: $(uptime)"

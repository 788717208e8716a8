#!/usr/bin/env bash
# `whet server` against `mlflow server` 3.17.2 over HTTP on loopback, both with a SQLite store
# and proxied artifacts (MLflow: its default uvicorn, 4 workers), one client script for both
# (bench/server_vs_mlflow.py, raw REST with http.client), interleaved whet/MLflow:
#  - log-batch ingest from 8 client processes, each to its own run, 1,000 points per request;
#  - runs/search "metrics.m > 0.5 and params.p = 'x'" ordered by metrics.m DESC, 100 results,
#    over 20,000 runs of one experiment (MLflow: 500 over REST, the rest cloned in its SQLite
#    file, since it creates ~20-60 runs/s; MLflow's queries stop after MLFLOW_SEARCH_BUDGET s);
#  - idle RSS (MLflow: its whole process tree), start-up to the first 200 on /health, and a
#    100 MB artifact PUT/GET with the server's RSS sampled every 50 ms.
# Run from anywhere:  bash bench/server_vs_mlflow.sh        (10-13 minutes on 2 shared cores, plus the build)
#   WHET_BENCH_NO_BUILD=1   use the existing $CARGO_TARGET_DIR/release/whet
#   MLFLOW_PYTHON=PATH      a python with mlflow installed (default: ../shared/peers/setup.sh --with-mlflow)
#   WHET_BENCH_WORK=DIR     scratch folder (default bench/data/server; emptied)
#   extra arguments go to the driver, e.g. --rounds 5 --sections ingest,search (see --help)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

if [ "${WHET_BENCH_NO_BUILD:-0}" != 1 ]; then
    cargo build --release -q -p whet
fi
PY="${MLFLOW_PYTHON:-$(bash ../shared/peers/setup.sh --with-mlflow | tail -1)}"

work="${WHET_BENCH_WORK:-bench/data/server}"
rm -rf "$work"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
# Measure a copy: others rebuild the target folder while this runs.
cp "$CARGO_TARGET_DIR/release/whet" "$work/whet-bin"

echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.lock || echo ' (+ uncommitted changes)')"
echo "binary: $CARGO_TARGET_DIR/release/whet, built $(date -u -r "$CARGO_TARGET_DIR/release/whet" '+%F %T UTC'), sha256 $(sha256sum "$work/whet-bin" | cut -c1-12)"
"$PY" -c 'import mlflow, platform; print(f"python {platform.python_version()}, mlflow {mlflow.__version__}")'
echo "date: $(date -u)"
echo "nproc: $(nproc)"
lscpu | grep -E 'Model name|^CPU\(s\)' || true
echo "disk: $(df -h "$work" | tail -1)"
echo "load before: $(uptime)"

"$PY" bench/server_vs_mlflow.py --whet "$work/whet-bin" --mlflow-python "$PY" --work "$work" \
    --mlflow-search-budget "${MLFLOW_SEARCH_BUDGET:-180}" --out "$work/results.json" "$@" \
    | tee "$work/results.txt" | sed -n '/^| measure/,$p'
echo "load after: $(uptime)"
echo "results: $work/results.json, server logs: $work/{whet,mlflow}/server.err"

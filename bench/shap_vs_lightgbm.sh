#!/usr/bin/env bash
# whet's TreeSHAP against LightGBM's pred_contrib on the same trees (issue 16): a whet GBDT
# (100 trees) fitted on a shared dataset is written as a LightGBM text model
# (crates/whet-learn/examples/shap_lightgbm.rs), LightGBM loads it and computes pred_contrib
# on the same features, and the two sets of SHAP values are compared (goal: within 1e-6).
# diabetes (regression, squared error: covers are row counts, the model as fitted) and
# breast_cancer (binary: covers replaced by the row counts, see the example's doc).
# Run from anywhere:  bash bench/shap_vs_lightgbm.sh [DATASETS_DIR]
# PEERS_PYTHON: a python with lightgbm and numpy (default ~/.cache/whet-peers/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
DATASETS="${1:-/work/shared/datasets}"
PY="${PEERS_PYTHON:-$HOME/.cache/whet-peers/bin/python}"
cargo build -q -p whet
cargo build -q -p whet-learn --example shap_lightgbm
WHET="$PWD/target/debug/whet"
EXAMPLE="$PWD/target/debug/examples/shap_lightgbm"
WORK="$PWD/bench/data/shap_vs_lightgbm"
mkdir -p "$WORK"
echo "commit: $(git rev-parse --short HEAD)"
echo "date: $(date -u)"
echo "load: $(uptime)"
run() { # DATASET TARGET [--count-covers]
  local name="$1" target="$2"; shift 2
  echo
  echo "## $name ($target) $*"
  "$WHET" fit "$DATASETS/$name.csv" --target "$target" --learner gbdt -p num_iterations=100 \
    --out "$WORK/$name.whet" -q > /dev/null
  "$EXAMPLE" "$WORK/$name.whet" "$DATASETS/$name.csv" "$WORK/$name" "$@"
  "$PY" bench/shap_vs_lightgbm.py "$WORK/$name"
}
run diabetes progression
run breast_cancer diagnosis --count-covers

#!/usr/bin/env bash
# `whet train` against FLAML AutoML on every dataset in ../shared/datasets (issue 4): same 80/20 split as
# ../shared/peers/reference.py (seed 0, stratified for classification), 60 s budget each, 2 threads.
# Run from anywhere:  bash bench/automl_vs_flaml.sh  [args passed to automl_vs_flaml.py, e.g. --datasets iris,titanic
#                     --budget 60 --skip-flaml]
# Output: machine facts, then a markdown table row per dataset as it finishes and a summary; the same rows go to
# bench/data/automl/results-<UTC time>.tsv. Splits and models land in bench/data/automl/ (gitignored).
# Also runs LightGBM, sklearn HistGradientBoosting (native categoricals) and RandomForest defaults on the same
# split and judges whet against the best of them (--skip-defaults leaves them out).
# Takes about 2 x budget per dataset (whet, then FLAML; never at the same time): ~45 min for 20 datasets at 60 s.
# WHET_BENCH_NO_BUILD=1 skips the cargo build (use the existing target/release/whet).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${WHET_BENCH_NO_BUILD:-0}" != 1 ]; then
  cargo build --release -q -p whet
fi

# Python peers (FLAML, LightGBM, scikit-learn, pandas); setup.sh prints the venv's python last.
PY="$(bash ../shared/peers/setup.sh | tail -1)"
# LightGBM's OpenMP threads keep their library default (spin, then sleep): OMP_WAIT_POLICY=passive
# made every parallel region wait on a futex wake-up, up to 6× slower fits on small data.
unset WHET_STORE
# FLAML calls scikit-learn's `delayed` outside its `Parallel`, and scikit-learn warns on every call:
# 25,000 lines of the same warning buried the table in the last full run's log.
export PYTHONWARNINGS="ignore::UserWarning:sklearn.utils.parallel"

echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo " (+ uncommitted changes in crates/: $(git diff --stat HEAD -- crates | tail -1 | sed 's/^ *//'))")"
echo "date: $(date -u)"
echo "nproc: $(nproc)"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GB total, " $7 " GB available"}')"
echo "load before: $(uptime)"
echo

"$PY" bench/automl_vs_flaml.py "$@"
echo
echo "load after: $(uptime)"

#!/usr/bin/env bash
# `whet review` and `whet compare` of a 1,000,000-row test set with 100-tree GBDTs and 1,000
# resamples (issue 16), and Evidently's classification report on the same rows in the same run.
# Data: higgs_like_1m.csv from ../shared/datasets/make_synthetic.py (pass its path); the models
# are fitted on its first 100,000 rows. EVIDENTLY_PYTHON: a python with `evidently` and pandas
# (a scratch venv; not a whet dependency); unset skips Evidently.
# Run from anywhere:  bash bench/review_1m.sh /path/to/higgs_like_1m.csv
# WHET_BENCH_NO_BUILD=1 skips the cargo build (uses target/release/whet).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="$(realpath "$1")"
if [ "${WHET_BENCH_NO_BUILD:-0}" != 1 ]; then
  cargo build --release -q -p whet
fi
WHET="$PWD/target/release/whet"
WORK="$PWD/bench/data/review_1m"
mkdir -p "$WORK"
cd "$WORK"
export WHET_STORE="$WORK/whet.db"
echo "commit: $(git rev-parse --short HEAD)"
echo "date: $(date -u)"
echo "nproc: $(nproc)"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "load before: $(uptime)"
head -100001 "$DATA" > train100k.csv
[ -f a.whet ] || "$WHET" fit train100k.csv --target label --learner gbdt -p num_iterations=100 --out a.whet -q > /dev/null
[ -f b.whet ] || "$WHET" fit train100k.csv --target label --learner gbdt -p num_iterations=100 -p learning_rate=0.05 --out b.whet -q > /dev/null
t() { /usr/bin/time -f "%e s wall, %U s user, %S s sys, %M KB max RSS" "$@"; }
echo
echo "## whet review a.whet (1,000 resamples, default slices)"
t "$WHET" review a.whet "$DATA" --no-track -q --json > review.json
echo "## whet review a.whet --slices none"
t "$WHET" review a.whet "$DATA" --no-track -q --json --slices none > /dev/null
echo "## whet review a.whet --slices none --no-explain --resamples 10 (load, predict, curves, checks)"
t "$WHET" review a.whet "$DATA" --no-track -q --json --slices none --no-explain --resamples 10 > /dev/null
echo "## whet compare a.whet b.whet (1,000 resamples, default slices)"
t "$WHET" compare a.whet b.whet "$DATA" --no-track -q --json > compare.json || true
echo "## whet compare a.whet b.whet --slices none"
t "$WHET" compare a.whet b.whet "$DATA" --no-track -q --json --slices none > /dev/null || true
if [ -n "${EVIDENTLY_PYTHON:-}" ]; then
  echo "## Evidently classification preset on the same rows (probabilities from whet predict)"
  [ -f proba.csv ] || "$WHET" predict a.whet "$DATA" --proba -q > proba.csv
  t "$EVIDENTLY_PYTHON" "$OLDPWD/bench/evidently_classification.py" "$DATA" proba.csv label evidently.html
fi
echo
echo "load after: $(uptime)"

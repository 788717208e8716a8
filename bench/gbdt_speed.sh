#!/usr/bin/env bash
# whet's GBDT fit time against LightGBM's (bench/gbdt_speed.py): 160k and 1M rows × 28, same
# parameters, 2 threads, median of 3; then batch (1 and 2 threads) and single-row prediction
# of both tools on the same trees (bench/lgbm_predict.c on LightGBM's C API). Run from anywhere:
#   bash bench/gbdt_speed.sh [--rows 160000,1000000] [--reps 3]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p whet-learn --example gbdt_speed
PY="$(bash ../shared/peers/setup.sh | tail -1)"
export LGBM_PREDICT="$PWD/target/release/lgbm_predict"
cc -O2 -Wall -o "$LGBM_PREDICT" bench/lgbm_predict.c -ldl -lm
# LightGBM's OpenMP threads keep their library default (spin, then sleep): OMP_WAIT_POLICY=passive
# made every parallel region wait on a futex wake-up, up to 6× slower fits on small data.
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' (+ uncommitted changes in crates/)')"
"$PY" -c 'import lightgbm, platform; print(f"python {platform.python_version()}, lightgbm {lightgbm.__version__}")'
echo "date: $(date -u), nproc: $(nproc), $(lscpu | grep 'Model name' | sed 's/  */ /g')"
echo "load before: $(uptime)"
"$PY" bench/gbdt_speed.py "$@"
echo "load after: $(uptime)"

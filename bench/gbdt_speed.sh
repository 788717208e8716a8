#!/usr/bin/env bash
# whet's GBDT fit time against LightGBM's (bench/gbdt_speed.py): 160k and 1M rows × 28, same
# parameters, 2 threads, median of 3, plus single-row latency. Run from anywhere:
#   bash bench/gbdt_speed.sh [--rows 160000,1000000] [--reps 3]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p whet-learn --example gbdt_speed
PY="$(bash ../shared/peers/setup.sh | tail -1)"
export OMP_WAIT_POLICY=passive
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' (+ uncommitted changes in crates/)')"
"$PY" -c 'import lightgbm, platform; print(f"python {platform.python_version()}, lightgbm {lightgbm.__version__}")'
echo "date: $(date -u), nproc: $(nproc), $(lscpu | grep 'Model name' | sed 's/  */ /g')"
echo "load before: $(uptime)"
"$PY" bench/gbdt_speed.py "$@"
echo "load after: $(uptime)"

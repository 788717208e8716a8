#!/usr/bin/env bash
# whet gbdt vs LightGBM on many classes and few rows (bench/many_classes_speed.py): a 32-class
# 1,500-row set and digits, same parameters, 2 threads, median of 3. Run from anywhere:
#   bash bench/many_classes_speed.sh [--reps 3] [--datasets many32,digits]
# WHET_BENCH_NO_BUILD=1 skips the release build; WHET_BIN names another binary.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${WHET_BENCH_NO_BUILD:-}" ] || cargo build --release -q -p whet
PY="$(bash ../shared/peers/setup.sh | tail -1)"
# LightGBM's OpenMP threads keep their library default (spin, then sleep): OMP_WAIT_POLICY=passive
# made every parallel region wait on a futex wake-up, up to 6× slower fits on small data.
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' (+ uncommitted changes in crates/)')"
"$PY" -c 'import lightgbm, platform; print(f"python {platform.python_version()}, lightgbm {lightgbm.__version__}")'
echo "date: $(date -u), nproc: $(nproc), $(lscpu | grep 'Model name' | sed 's/  */ /g')"
echo "load before: $(uptime)"
"$PY" bench/many_classes_speed.py "$@"
echo "load after: $(uptime)"

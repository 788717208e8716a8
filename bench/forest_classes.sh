#!/usr/bin/env bash
# Multiclass forests (bench/forest_classes.py): whet rf/et of this build (and optionally a base
# build) against scikit-learn's forests on many32 and digits, then `whet train --time 60s`.
#   bash bench/forest_classes.sh [--base OTHER_WHET] [--reps 3] [--train-time 60s]
# WHET_BENCH_NO_BUILD=1 skips the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${WHET_BENCH_NO_BUILD:-}" ] || cargo build --release -q -p whet
PY="$(bash ../shared/peers/setup.sh | tail -1)"
# scikit-learn keeps its threading defaults (OMP_WAIT_POLICY is not set: passive slowed the
# OpenMP-based peers of the other scripts up to 6×, see bench/RESULTS.md).
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' (+ uncommitted changes in crates/)')"
"$PY" -c 'import sklearn, platform; print(f"python {platform.python_version()}, scikit-learn {sklearn.__version__}")'
echo "date: $(date -u), nproc: $(nproc)"
echo "load before: $(uptime)"
"$PY" bench/forest_classes.py --whet target/release/whet "$@"
echo "load after: $(uptime)"

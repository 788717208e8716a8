#!/usr/bin/env bash
# The statistical behaviour of `whet compare` (issue 16): 200 seeded replicates of 1,000 rows,
# 1,000 paired bootstrap resamples each, under the null (challenger noise = champion noise) and
# with a real gain (challenger noise 0.5 of the champion's). Prints a markdown table.
# Run from anywhere:  bash bench/compare_calibration.sh [REPLICATES] [ROWS] [RESAMPLES] [NOISE ...]
# From 200,000 rows on the intervals come from the bag of little bootstraps, as in whet compare;
# WHET_BLB_MIN_ROWS=N moves that threshold (0: that path at any size), to check it on fewer rows.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "commit: $(git rev-parse --short HEAD)"
echo "date: $(date -u)"
echo "nproc: $(nproc)"
echo "load before: $(uptime)"
echo
# The test profile (opt-level 1, dependencies at 2) reuses what `cargo test -p whet-review`
# built; a release build of whet-review alone would rebuild every dependency for its features.
cargo run --profile test -q -p whet-review --example compare_calibration -- "$@"
echo
echo "load after: $(uptime)"

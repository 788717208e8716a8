#!/usr/bin/env bash
# A short coverage-guided fuzzing pass over every target (fuzz/): builds them, runs each for
# FUZZ_SECONDS (default 20) from the committed corpus, and fails on any crash, hang (10 s per
# input) or memory blow-up (2 GB). The hour-long runs are bench/fuzz.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-20}"
# The instrumented build of arrow and parquet is most of this script's time; outside the clone
# it is kept between CI runs on the same machine, so only whet's own crates are rebuilt.
export WHET_FUZZ_TARGET_DIR="${WHET_FUZZ_TARGET_DIR:-/var/tmp/whet-fuzz-target}"
bin_dir="$(bash fuzz/build.sh --quiet | tail -n 1)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
for target in csv parquet model filter duration params; do
    bash fuzz/run.sh "$bin_dir" "$target" "$seconds" "$work" || failed=1
done
exit "$failed"

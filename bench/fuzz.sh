#!/usr/bin/env bash
# Long fuzzing runs: each target for SECONDS (default 3600), one after another, printing
# executions per second and libFuzzer's coverage (cov: edges, ft: features) per target.
# The corpus each run grows is kept in fuzz/corpus-run/ (not committed) so a later run
# continues from it; crashing inputs land in fuzz/corpus-run/artifacts/.
# Usage: bash bench/fuzz.sh [SECONDS] [TARGET...]
# FUZZ_CLOCK=cpu makes SECONDS each target's CPU time (see fuzz/run.sh), FUZZ_JOBS=N runs N
# targets at a time (default 1): `FUZZ_CLOCK=cpu FUZZ_JOBS=2 nice -n 19 bash bench/fuzz.sh`
# gives every target an hour of a core on this 2-core machine, even while it is shared.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-3600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(csv parquet model filter duration params)
bin_dir="$(bash fuzz/build.sh --quiet | tail -n 1)"
work="$PWD/fuzz/corpus-run"
mkdir -p "$work"
echo "machine: $(nproc) cores, $(uname -srm); rustc $(rustc -V | cut -d' ' -f2)"
jobs="${FUZZ_JOBS:-1}"
failed=0
running=0
for target in "${targets[@]}"; do
    bash fuzz/run.sh "$bin_dir" "$target" "$seconds" "$work" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done
exit "$failed"

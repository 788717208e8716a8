#!/usr/bin/env bash
# Long fuzzing runs: each target for SECONDS (default 3600), one after another, printing
# executions per second and libFuzzer's coverage (cov: edges, ft: features) per target.
# The corpus each run grows is kept in fuzz/corpus-run/ (not committed) so a later run
# continues from it; crashing inputs land in fuzz/corpus-run/artifacts/.
# Usage: bash bench/fuzz.sh [SECONDS] [TARGET...]
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
failed=0
for target in "${targets[@]}"; do
    bash fuzz/run.sh "$bin_dir" "$target" "$seconds" "$work" || failed=1
done
exit "$failed"

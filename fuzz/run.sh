#!/usr/bin/env bash
# Runs one built fuzz target for SECONDS and prints one summary line:
#   TARGET seconds=S execs=N execs_per_s=R cov=C ft=F status=ok|CRASH
# Usage: fuzz/run.sh BIN_DIR TARGET SECONDS WORK_DIR
# The committed seeds (fuzz/corpus/TARGET) are read, never written; what libFuzzer learns goes
# to WORK_DIR/corpus/TARGET, and a crashing input to WORK_DIR/artifacts/TARGET/.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin_dir="$1" target="$2" seconds="$3" work="$4"
mkdir -p "$work/corpus/$target" "$work/artifacts/$target"
log="$work/$target.log"
# -timeout: an input taking 10 s is a hang; -rss_limit_mb: 2 GB is unbounded memory (and
# malloc_limit_mb follows it, so one huge allocation is caught as it is asked for).
"$bin_dir/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/$target/" \
    "$work/corpus/$target" "$here/corpus/$target" >"$log" 2>&1
rc=$?
last="$(grep -E '^#[0-9]+' "$log" | tail -n 1)"
cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
status=ok
if [ "$rc" -ne 0 ]; then
    status=CRASH
fi
echo "$target seconds=$seconds execs=${execs:-?} execs_per_s=${rate:-?} cov=${cov:-?} ft=${ft:-?} status=$status"
if [ "$status" != ok ]; then
    # The crash report and the input that caused it, so a CI log alone reproduces it.
    grep -vE '^#[0-9]+' "$log" | tail -n 60 >&2
    for f in "$work/artifacts/$target"/*; do
        [ -f "$f" ] || continue
        echo "input $f (base64):" >&2
        base64 -w0 "$f" >&2
        echo >&2
    done
    exit 1
fi

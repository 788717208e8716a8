#!/usr/bin/env bash
# Runs one built fuzz target for SECONDS and prints one summary line:
#   TARGET seconds=S execs=N execs_per_s=R cov=C ft=F status=ok|CRASH
# Usage: fuzz/run.sh BIN_DIR TARGET SECONDS WORK_DIR
# With FUZZ_CLOCK=cpu, SECONDS counts the target's CPU time (user + system) instead of wall
# time, summed over runs in the same WORK_DIR: on a shared machine a wall-clock hour can be
# minutes of fuzzing, and a run stopped early (say, for a quiet benchmark) resumes its budget.
# The committed seeds (fuzz/corpus/TARGET) are read, never written; what libFuzzer learns goes
# to WORK_DIR/corpus/TARGET, and a crashing input to WORK_DIR/artifacts/TARGET/.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin_dir="$1" target="$2" seconds="$3" work="$4"
mkdir -p "$work/corpus/$target" "$work/artifacts/$target"
log="$work/$target.log"
# -timeout: an input taking 10 s is a hang; -rss_limit_mb: 2 GB is unbounded memory (and
# malloc_limit_mb follows it, so one huge allocation is caught as it is asked for).
flags=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$work/artifacts/$target/" "$work/corpus/$target" "$here/corpus/$target")
if [ "${FUZZ_CLOCK:-wall}" = cpu ]; then
    spent_file="$work/$target.cpu-seconds"
    spent="$(cat "$spent_file" 2>/dev/null || echo 0)"
    if [ "$spent" -ge "$seconds" ]; then
        echo "$target cpu_seconds=$spent of $seconds: budget already spent"
        exit 0
    fi
    # libFuzzer's -timeout is wall time: a niced fuzzer on a busy machine can wait longer than
    # that for the CPU on an input that takes milliseconds. Here it is raised, and a reported
    # hang is run again alone under a CPU-time limit (10 s, as -timeout in wall mode): only an
    # input that uses that much CPU is a hang; a starved one is noted and fuzzing goes on.
    flags[0]=-timeout=60
    tick="$(getconf CLK_TCK)"
    rc=0
    while [ "$spent" -lt "$seconds" ]; do
        left=$((seconds - spent))
        # libFuzzer exits with 72 when interrupted; it prints its final stats first.
        "$bin_dir/$target" "${flags[@]}" >"$log" 2>&1 &
        pid=$!
        # Record each run's CPU time on exit too, so a run stopped from outside keeps its share.
        used=0
        trap 'kill -INT "$pid" 2>/dev/null; wait "$pid"; echo $((spent + used)) >"$spent_file"; exit 130' INT TERM
        while kill -0 "$pid" 2>/dev/null; do
            # Fields 14 and 15 of /proc/PID/stat: user and system time in clock ticks.
            read -r -a stat <"/proc/$pid/stat" 2>/dev/null || break
            used=$(((stat[13] + stat[14]) / tick))
            if [ "$used" -ge "$left" ]; then
                kill -INT "$pid" 2>/dev/null
                break
            fi
            sleep 5
        done
        wait "$pid"
        rc=$?
        trap - INT TERM
        spent=$((spent + used))
        echo "$spent" >"$spent_file"
        if [ "$rc" -eq 72 ] || [ "$rc" -eq 0 ]; then
            rc=0
            break
        fi
        unit="$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)"
        if grep -q 'ERROR: libFuzzer: timeout' "$log" && [ -f "$unit" ] &&
            (ulimit -t 10; timeout 600 "$bin_dir/$target" -runs=1 -timeout=0 "$unit") >/dev/null 2>&1; then
            echo "$target: $(basename "$unit") took under 10 s of CPU alone: a starved run, not a hang" \
                >>"$work/$target.starved"
            mkdir -p "$work/starved/$target"
            mv "$unit" "$work/starved/$target/"
            continue
        fi
        break
    done
    seconds="cpu:$spent"
else
    "$bin_dir/$target" -max_total_time="$seconds" "${flags[@]}" >"$log" 2>&1
    rc=$?
fi
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

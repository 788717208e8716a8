#!/usr/bin/env bash
# Distributed trials: wall time of the same study (--trials 200 --seed 1) with 1 and 2
# `whet worker`s (--threads 1 each), against the single-process run (--threads 1, and
# --threads 2, which fits two trials' folds at once in one process), and the
# queue's overhead per fold (claim + result, as each worker reports it at exit) with 8 workers.
#
#   WHET_TEST_POSTGRES_URL=postgres://… [VIA=postgres|server] [WORKERS="1 2 8"] [TRIALS=200] [SKIP_LOCAL=1] \
#     [CEILING=1] bash bench/workers.sh [DATA TARGET]
#
# CEILING=1 also runs the one-thread study alone and two copies side by side: the throughput
# two processes get from this machine, the most two workers can gain here.
#
# VIA=server puts a `whet server` (on the same PostgreSQL, --auth off) between the workers,
# the submitter and the database: every queue call is then an HTTP request.
# Needs a PostgreSQL URL (source .ci/postgres.sh && start_postgres gives one). Uses
# target/release/whet unless WHET_BIN names another binary; WHET_BENCH_NO_BUILD=1 skips the
# build. Every run gets a fresh schema.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-/work/shared/datasets/credit_data.csv}
TARGET=${2:-Status}
TRIALS=${TRIALS:-200}
VIA=${VIA:-postgres}
WORKERS=${WORKERS:-1 2 8}
: "${WHET_TEST_POSTGRES_URL:?set WHET_TEST_POSTGRES_URL (source .ci/postgres.sh && start_postgres)}"
BIN=${WHET_BIN:-target/release/whet}
if [ -z "${WHET_BENCH_NO_BUILD:-}" ] && [ -z "${WHET_BIN:-}" ]; then
    cargo build --release -p whet
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/whet-bench-workers.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export WHET_ARTIFACTS=$WORK/artifacts XDG_CACHE_HOME=$WORK/cache

fresh_schema() {
    local s="bench_$(date +%s%N)"
    psql -q "$WHET_TEST_POSTGRES_URL" -c "CREATE SCHEMA $s" >/dev/null
    echo "${WHET_TEST_POSTGRES_URL}?options=-c%20search_path%3D$s"
}

now() { date +%s.%N; }

# CPU seconds used so far by the PostgreSQL server on this machine: every live postgres
# process, plus the postmaster's count of its exited children (backends of closed sessions).
pg_cpu() {
    python3 - <<'PY'
import os
tick = os.sysconf("SC_CLK_TCK")
total = 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        continue
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    if not name.startswith("postgres"):
        continue
    f = stat[stat.rindex(")") + 2 :].split()
    total += int(f[11]) + int(f[12])  # utime, stime
    # The postmaster (its parent is not a postgres process) holds its children's totals.
    try:
        parent = open(f"/proc/{f[1]}/stat").read()
        parent_name = parent[parent.index("(") + 1 : parent.rindex(")")]
    except OSError:
        parent_name = ""
    if not parent_name.startswith("postgres"):
        total += int(f[13]) + int(f[14])  # cutime, cstime
print(f"{total / tick:.2f}")
PY
}

# Where a run's wall time went: before the search (load, prepare, upload), the trials, and
# ensemble selection plus the final model. "trials done at" is the wall time to finish the
# study's trials, the figure the speed-up is judged on; the rest does not depend on workers.
phases() { # report.json wall_seconds
    python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
wall = float(sys.argv[2])
search, trials = r["search_seconds"], r["trials_seconds"]
before = wall - search
print(f"  trials done at {before + trials:.2f} s (before the search {before:.2f} s, trials {trials:.2f} s,"
      f" ensemble and final model {search - trials:.2f} s)")
PY
}

echo "data: $DATA ($TARGET), $TRIALS trials, seed 1, queue via $VIA"
echo "binary: $BIN ($(stat -c %y "$BIN" | cut -d. -f1))"
echo "date: $(date)"
echo "nproc: $(nproc)"
echo "load before: $(uptime)"

TRAIN=("$DATA" --target "$TARGET" --trials "$TRIALS" --seed 1 --json --quiet)

if [ "${SKIP_LOCAL:-0}" != 1 ]; then
t0=$(now)
"$BIN" --threads 1 train "${TRAIN[@]}" --out "$WORK/local.whet" --store "$WORK/local.db" >"$WORK/local.json"
t1=$(now)
echo "single process (--threads 1): $(echo "$t1 - $t0" | bc) s"
phases "$WORK/local.json" "$(echo "$t1 - $t0" | bc)"
# The same study on two threads: folds of two trials fitted at once (crates/whet-automl/src/local.rs).
t0=$(now)
"$BIN" --threads 2 train "${TRAIN[@]}" --out "$WORK/local2.whet" --store "$WORK/local2.db" >"$WORK/local2.json"
t1=$(now)
echo "single process (--threads 2): $(echo "$t1 - $t0" | bc) s"
phases "$WORK/local2.json" "$(echo "$t1 - $t0" | bc)"
python3 - "$WORK/local.json" "$WORK/local2.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
print(f"  cv_score --threads 1 {a['cv_score']} --threads 2 {b['cv_score']}: {'same' if a['cv_score'] == b['cv_score'] else 'DIFFERENT'}")
PY
fi

if [ "${CEILING:-0}" = 1 ]; then
# What the machine gives two processes at once: the same one-thread study twice side by side,
# against once alone. Two workers cannot beat 2 × alone / side-by-side on this machine
# (shared caches, memory bandwidth, or two vCPUs on one physical core).
t0=$(now)
"$BIN" --threads 1 train "${TRAIN[@]}" --out "$WORK/alone.whet" --store "$WORK/alone.db" >/dev/null
t1=$(now)
"$BIN" --threads 1 train "${TRAIN[@]}" --out "$WORK/pair1.whet" --store "$WORK/pair1.db" >/dev/null &
p1=$!
"$BIN" --threads 1 train "${TRAIN[@]}" --out "$WORK/pair2.whet" --store "$WORK/pair2.db" >/dev/null
wait "$p1"
t2=$(now)
alone=$(echo "$t1 - $t0" | bc)
pair=$(echo "$t2 - $t1" | bc)
echo "ceiling: one study alone $alone s, two at once $pair s: the machine runs two at $(echo "scale=2; 2 * $alone / $pair" | bc)× the throughput of one"
fi

run_remote() { # workers
    local n=$1 url pids=() server=""
    url=$(fresh_schema)
    if [ "$VIA" = server ]; then
        "$BIN" server --port 0 --auth off --store "$url" --artifacts-destination "$WORK/server-art-$n" \
            >"$WORK/server-$n.out" 2>"$WORK/server-$n.log" &
        server=$!
        for _ in $(seq 1 100); do
            grep -q "http://" "$WORK/server-$n.out" 2>/dev/null && break
            sleep 0.1
        done
        url=$(grep -o "http://[0-9.:]*" "$WORK/server-$n.out" | head -n 1)
    fi
    for i in $(seq 1 "$n"); do
        /usr/bin/time -o "$WORK/w$n-$i.time" -f "%U %S" \
            "$BIN" worker --store "$url" --threads 1 --cache "$WORK/cache-$n-$i" 2>"$WORK/w$n-$i.log" &
        pids+=($!)
    done
    local s e pg0 pg1
    pg0=$(pg_cpu)
    s=$(now)
    /usr/bin/time -o "$WORK/submitter-$n.time" -f "%U %S" \
        "$BIN" --threads 1 train "${TRAIN[@]}" --out "$WORK/remote$n.whet" --store "$url" --workers remote >"$WORK/remote$n.json"
    e=$(now)
    pg1=$(pg_cpu)
    # The workers are /usr/bin/time's children: TERM goes to them (time would die of it).
    for p in "${pids[@]}"; do pkill -TERM -P "$p" || true; done
    wait "${pids[@]}" || true
    if [ -n "$server" ]; then kill -TERM "$server"; wait "$server" || true; fi
    echo "$n worker(s): $(echo "$e - $s" | bc) s"
    phases "$WORK/remote$n.json" "$(echo "$e - $s" | bc)"
    read -r su ss <"$WORK/submitter-$n.time"
    echo "  submitter CPU: $su s user + $ss s sys = $(echo "scale=1; 100 * ($su + $ss) / ($e - $s)" | bc)% of one core over the run"
    grep -h "queue time" "$WORK"/w"$n"-*.log | sed 's/^/  /'
    cat "$WORK"/w"$n"-*.time | awk -v pg="$(echo "$pg1 - $pg0" | bc)" -v sub_cpu="$(echo "$su + $ss" | bc)" -v wall="$(echo "$e - $s" | bc)" -v nproc="$(nproc)" \
        '{ w += $1 + $2 } END { printf "  CPU: workers %.1f s, submitter %.1f s, PostgreSQL %.1f s; machine %.0f%% busy with these over the run\n", w, sub_cpu, pg, 100 * (w + sub_cpu + pg) / (nproc * wall) }'
    [ -f "$WORK/local.json" ] || return 0
    python3 - "$WORK/local.json" "$WORK/remote$n.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
same = a["cv_score"] == b["cv_score"]
print(f"  cv_score local {a['cv_score']} remote {b['cv_score']}: {'same' if same else 'DIFFERENT'}")
PY
}

for n in $WORKERS; do run_remote "$n"; done
echo "load after: $(uptime)"

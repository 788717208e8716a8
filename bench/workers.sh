#!/usr/bin/env bash
# Distributed trials: wall time of the same study (--trials 200 --seed 1) with 1 and 2
# `whet worker`s (--threads 1 each), against the single-process run (--threads 1, and
# --threads 2, which fits two trials' folds at once in one process), and the
# queue's overhead per fold (claim + result, as each worker reports it at exit) with 8 workers.
#
#   WHET_TEST_POSTGRES_URL=postgres://… [VIA=postgres|server] [WORKERS="1 2 8"] [TRIALS=200] [SKIP_LOCAL=1] \
#     bash bench/workers.sh [DATA TARGET]
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
# The same study on two threads: folds of two trials fitted at once (crates/whet-automl/src/local.rs).
t0=$(now)
"$BIN" --threads 2 train "${TRAIN[@]}" --out "$WORK/local2.whet" --store "$WORK/local2.db" >"$WORK/local2.json"
t1=$(now)
echo "single process (--threads 2): $(echo "$t1 - $t0" | bc) s"
python3 - "$WORK/local.json" "$WORK/local2.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
print(f"  cv_score --threads 1 {a['cv_score']} --threads 2 {b['cv_score']}: {'same' if a['cv_score'] == b['cv_score'] else 'DIFFERENT'}")
PY
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
        "$BIN" worker --store "$url" --threads 1 --cache "$WORK/cache-$n-$i" 2>"$WORK/w$n-$i.log" &
        pids+=($!)
    done
    local s e
    s=$(now)
    /usr/bin/time -o "$WORK/submitter-$n.time" -f "%U %S" \
        "$BIN" --threads 1 train "${TRAIN[@]}" --out "$WORK/remote$n.whet" --store "$url" --workers remote >"$WORK/remote$n.json"
    e=$(now)
    kill -TERM "${pids[@]}"
    wait "${pids[@]}" || true
    if [ -n "$server" ]; then kill -TERM "$server"; wait "$server" || true; fi
    echo "$n worker(s): $(echo "$e - $s" | bc) s"
    read -r su ss <"$WORK/submitter-$n.time"
    echo "  submitter CPU: $su s user + $ss s sys = $(echo "scale=1; 100 * ($su + $ss) / ($e - $s)" | bc)% of one core over the run"
    grep -h "queue time" "$WORK"/w"$n"-*.log | sed 's/^/  /'
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

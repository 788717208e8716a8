#!/usr/bin/env bash
# The trial queue's overhead per fold without fitting: 8 threads (each its own store handle,
# as separate `whet worker` processes have) drain 2,000 tasks, each call storing the previous
# result (4 kB) and claiming the next, as `whet worker` does; directly on PostgreSQL and
# through a `whet server` on it (--auth off). Prints the queue time per task (p50, p95, mean),
# and the same with the result and the next claim as two calls (how workers did it before).
# Back to back, the workers saturate the queue (its capacity, tasks/s); with FIT_MS (default
# 20) each worker sleeps that long between calls as if fitting the fold on another machine,
# which is the overhead a study pays per fold and per 5-fold trial.
#
#   WHET_TEST_POSTGRES_URL=postgres://… [WORKERS=8] [TASKS=2000] [PROFILE=release] bash bench/queue_overhead.sh
#
# The example is built with PROFILE (default dev; release measures what a released worker pays).
# Uses target/debug/whet for the server unless WHET_BIN names another binary.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${WHET_TEST_POSTGRES_URL:?set WHET_TEST_POSTGRES_URL (source .ci/postgres.sh && start_postgres)}"
WORKERS=${WORKERS:-8}
TASKS=${TASKS:-2000}
FIT_MS=${FIT_MS:-20}
BIN=${WHET_BIN:-target/debug/whet}
PROFILE=${PROFILE:-dev}
cargo build -q -p whet-track --example queue_bench --profile "$PROFILE"
BENCH=target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")/examples/queue_bench
WORK=$(mktemp -d "${TMPDIR:-/tmp}/whet-bench-queue.XXXXXX")
server=""
cleanup() {
    if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

fresh_schema() {
    local s="qbench_$(date +%s%N)"
    psql -q "$WHET_TEST_POSTGRES_URL" -c "CREATE SCHEMA $s" >/dev/null
    echo "${WHET_TEST_POSTGRES_URL}?options=-c%20search_path%3D$s"
}

echo "date: $(date) · nproc: $(nproc) · load before: $(uptime | sed 's/.*load average: //')"
for mode in "" --two-calls; do
    echo "postgres direct ${mode:-(one call)}, back to back:"
    "$BENCH" --store "$(fresh_schema)" --workers "$WORKERS" --tasks "$TASKS" $mode
done
echo "postgres direct (one call), ${FIT_MS} ms fits:"
"$BENCH" --store "$(fresh_schema)" --workers "$WORKERS" --tasks "$TASKS" --fit-ms "$FIT_MS"

url=$(fresh_schema)
"$BIN" server --port 0 --auth off --store "$url" --artifacts-destination "$WORK/art" \
    >"$WORK/server.out" 2>"$WORK/server.log" &
server=$!
for _ in $(seq 1 100); do
    grep -q "http://" "$WORK/server.out" 2>/dev/null && break
    sleep 0.1
done
server_url=$(grep -o "http://[0-9.:]*" "$WORK/server.out" | head -n 1)
for mode in "" --two-calls; do
    echo "through whet server ${mode:-(one call)}, back to back:"
    "$BENCH" --store "$server_url" --workers "$WORKERS" --tasks "$TASKS" $mode
done
echo "through whet server (one call), ${FIT_MS} ms fits:"
"$BENCH" --store "$server_url" --workers "$WORKERS" --tasks "$TASKS" --fit-ms "$FIT_MS"
echo "load after: $(uptime | sed 's/.*load average: //')"

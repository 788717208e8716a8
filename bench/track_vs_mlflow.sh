#!/usr/bin/env bash
# whet-track against the MLflow tracking server (SQLite back end, loopback), in one run:
#  - ingest of 1,000 runs x 50 metrics x 100 steps by each side's fastest path
#    (whet: the Rust API, one batch per run; MLflow: MlflowClient.log_batch, 1,000 per call);
#  - p50/p95 of the search "metrics.auc > 0.9" (100 results) over 20,000 runs.
# Run from anywhere:  bash bench/track_vs_mlflow.sh   (MLFLOW_BUDGET=seconds caps MLflow's ingest;
# beyond it the rate is extrapolated from the runs done, and the output says so; MLFLOW_QUERIES
# sets how many searches are timed on MLflow, 20 by default since each takes seconds there)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

cargo build --release -q -p whet-track --example track_bench
PY="$(bash ../shared/peers/setup.sh --with-mlflow | tail -1)"

work="bench/data/track"
rm -rf "$work"
mkdir -p "$work"
work="$(cd "$work" && pwd)"

port=""
for p in $(seq 5500 5600); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "no free port in 5500-5600" >&2; exit 1; }

echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' (+ uncommitted changes)')"
"$PY" -c 'import mlflow, platform; print(f"python {platform.python_version()}, mlflow {mlflow.__version__}")'
echo "date: $(date -u)"
echo "nproc: $(nproc)"
lscpu | grep -E 'Model name|^CPU\(s\)' || true
echo "load before: $(uptime)"

"$PY" -m mlflow server --backend-store-uri "sqlite:///$work/mlflow.db" \
    --default-artifact-root "$work/mlartifacts" --host 127.0.0.1 --port "$port" \
    >"$work/mlflow-server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    if "$PY" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=1)" 2>/dev/null; then
        break
    fi
    sleep 1
done
echo "mlflow server up on 127.0.0.1:$port (pid $server)"

echo "== mlflow"
"$PY" bench/track_vs_mlflow.py --uri "http://127.0.0.1:$port" --db "$work/mlflow.db" \
    --budget "${MLFLOW_BUDGET:-300}" --queries "${MLFLOW_QUERIES:-20}" | tee "$work/mlflow.json"
kill $server 2>/dev/null || true
wait $server 2>/dev/null || true

echo "== whet"
./target/release/examples/track_bench --store "$work/whet.db" | tee "$work/whet.json"
echo "load after: $(uptime)"

"$PY" - "$work/mlflow.json" "$work/whet.json" <<'PYEOF'
import json, sys
# MLflow's client prints "View run ..." lines on stdout too: the result is the last JSON line.
def last_json(path):
    return json.loads([l for l in open(path) if l.startswith("{")][-1])
m = last_json(sys.argv[1])
w = last_json(sys.argv[2])
mi, ms = m["ingest"], m["search"]
print()
print("| measure | whet | MLflow | ratio |")
print("|---|---|---|---|")
note = f" (extrapolated from {mi['runs_done']} runs)" if mi["extrapolated"] else ""
print(f"| ingest, metric points/s | {w['points_per_second']:,.0f} | {mi['points_per_second']:,.0f}{note} | {w['points_per_second']/mi['points_per_second']:.1f}x |")
print(f"| ingest of 1,000 x 50 x 100 points, s | {w['ingest_seconds']:.1f} | {mi['estimated_full_seconds']:.0f}{' (est.)' if mi['extrapolated'] else ''} | |")
for k, label in (("search", "search"), ("sorted_search", "search ordered by metrics.auc DESC")):
    print(f"| {label} p50, ms | {w[k+'_p50_ms']:.2f} | {ms[k+'_p50_ms']:.1f} | {ms[k+'_p50_ms']/w[k+'_p50_ms']:.0f}x |")
    print(f"| {label} p95, ms | {w[k+'_p95_ms']:.2f} | {ms[k+'_p95_ms']:.1f} | {ms[k+'_p95_ms']/w[k+'_p95_ms']:.0f}x |")
PYEOF

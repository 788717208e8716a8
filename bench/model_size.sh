#!/usr/bin/env bash
# Model file size and load time for the README's main job (`--time 30s --test-size 0.2`) and the
# issue's `--time 10s` job on examples/churn.csv: trials, final model, file size (the train
# report's model_bytes), run artifacts written to the store's folder, and load time (read +
# decompress + decode, median of 21) by crates/whet-learn/examples/model_load.rs. Time budgets
# make trial counts (and so model sizes) depend on the machine's load: the report prints them.
# Usage: bash bench/model_size.sh   (WHET=path to a release build; built if absent)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${WHET:-}" ]; then
    cargo build --release -q -p whet
    WHET=target/release/whet
fi
# With -p whet too, so the features (and artifacts) are the ones the whet build used.
cargo build --release -q -p whet -p whet-learn --example model_load
LOAD=target/release/examples/model_load
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F)"
for job in "30s --test-size 0.2" "10s"; do
    name="${job%% *}"
    # shellcheck disable=SC2086
    "$WHET" train examples/churn.csv --target churned --time $job --seed 0 --json --quiet \
        --store "$OUT/$name.db" --out "$OUT/$name.whet" > "$OUT/$name.json"
    artifacts=$(du -sb "$OUT/whet-artifacts" | cut -f1)
    rm -rf "$OUT/whet-artifacts"
    python3 - "$OUT/$name.json" "$job" "$artifacts" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"--time {sys.argv[2]}: {r.get('trials_completed')} trials, final {r.get('final_strategy')}, "
      f"model {r['model_bytes'] / 1e6:.2f} MB, run artifacts {int(sys.argv[3]) / 1e6:.2f} MB")
PY
    "$LOAD" "$OUT/$name.whet" 21
done

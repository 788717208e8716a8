#!/usr/bin/env bash
# Bag of fold models vs refit on all rows, on the same trials (issue 4's final-model choice).
# For each dataset (the 80/20 splits bench/automl_vs_flaml.sh writes to bench/data/automl/):
# `whet train --trials N --final auto|bag|refit` on the 80%, then print the nested comparison
# auto made and the test score of each final model. A trial budget makes the three runs fit
# the same trials, so only the final step differs.
# Usage: bash bench/bag_vs_refit.sh seattle_weather diabetes ...   (TRIALS=60 WHET=path)
set -euo pipefail
cd "$(dirname "$0")/.."
WHET="${WHET:-target/release/whet}"
TRIALS="${TRIALS:-60}"
DIR=bench/data/automl
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for d in "$@"; do
  target=$(awk -F'\t' -v f="$d.csv" '$1 == f {print $3}' ../shared/datasets/MANIFEST.tsv)
  if [ -z "$target" ] || [ ! -f "$DIR/${d}_train.csv" ]; then
    echo "$d: no split in $DIR (run bench/automl_vs_flaml.sh --datasets $d first)" >&2
    continue
  fi
  for f in auto bag refit; do
    "$WHET" train "$DIR/${d}_train.csv" --target "$target" --trials "$TRIALS" \
      --test "$DIR/${d}_test.csv" --seed 0 --threads 2 --json --quiet \
      --out "$OUT/$d-$f.whet" --final "$f" --store "$OUT/runs.db" > "$OUT/$d-$f.json"
  done
  python3 - "$OUT" "$d" <<'PY'
import json, sys
out, d = sys.argv[1:]
r = {f: json.load(open(f"{out}/{d}-{f}.json")) for f in ("auto", "bag", "refit")}
metric = r["auto"]["metric"]
c = r["auto"].get("refit_comparison") or {}
se = c.get("refit_gain_se")
print(f"| {d} | {metric} | bag {c.get('bag_score', float('nan')):.5f}, refit {c.get('refit_score', float('nan')):.5f}, "
      f"gain {c.get('refit_gain', float('nan')):.5f} ± {se if se is not None else float('nan'):.5f} "
      f"({c.get('folds_compared')}/{c.get('folds')}) | {r['auto']['final_strategy']} | "
      f"{r['bag']['test_metrics'][metric]:.5f} | {r['refit']['test_metrics'][metric]:.5f} |")
PY
done

#!/usr/bin/env bash
# whet's GBDT against LightGBM (same data, split, parameters, 2 threads) plus single-row predict latency.
# Run from anywhere:  bash bench/gbdt_vs_lightgbm.sh  [extra args passed to gbdt_vs_lightgbm.py]
# Output: machine facts, the markdown table from bench/gbdt_vs_lightgbm.py and gbdt_speed's JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."

# The whet binary and the gbdt_speed example. `--examples` alone would not rebuild target/release/whet.
cargo build --release -q -p whet -p whet-learn --bins --examples

# Python peers (LightGBM, scikit-learn, pandas); setup.sh prints the venv's python last.
PY="$(bash ../shared/peers/setup.sh | tail -1)"
# LightGBM's OpenMP threads keep their library default (spin, then sleep): OMP_WAIT_POLICY=passive
# made every parallel region wait on a futex wake-up, up to 6× slower fits on small data.

echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo " (+ uncommitted changes in crates/: $(git diff --stat HEAD -- crates | tail -1 | sed 's/^ *//'); diff sha256 $(git diff HEAD -- crates | sha256sum | cut -c1-12))")"
echo "whet binary: $(stat -c '%y' target/release/whet), gbdt_speed: $(stat -c '%y' target/release/examples/gbdt_speed)"
"$PY" -c 'import lightgbm, sklearn, pandas, numpy, platform; print(f"python {platform.python_version()}, lightgbm {lightgbm.__version__}, scikit-learn {sklearn.__version__}, pandas {pandas.__version__}, numpy {numpy.__version__}")'
echo "date: $(date -u)"
echo "nproc: $(nproc)"
free -g
lscpu | head -15
echo "load before: $(uptime)"
echo

"$PY" bench/gbdt_vs_lightgbm.py --rounds 100,500 --datasets higgs,birthdays,flights_late,fertility_morekids "$@"
echo
echo "load after table: $(uptime)"
echo
# The higgs set exists once a run has included it (`--datasets higgs,...`, the default).
if [ -f bench/data/higgs_like_1m.csv ]; then
  echo "gbdt_speed (bench/data/higgs_like_1m.csv, target label, 100 rounds, default params: 31 leaves, lr 0.1, max_bin 255; rayon default pool = all cores):"
  ./target/release/examples/gbdt_speed bench/data/higgs_like_1m.csv label 100
  echo
fi
echo "load after: $(uptime)"

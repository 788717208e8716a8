#!/usr/bin/env bash
# `whet drift` false alarms on 100 seeded random halves of a shared dataset's held-out rows
# (goal <= 5%), and detection of a 0.2 SD shift in 10,000 synthetic rows. See the .py file.
# usage: bash bench/drift_false_alarm.sh [--dataset mlc_churn] [--resplits 100] [--synthetic-seeds 20]
# WHET_BENCH_NO_BUILD=1 skips the release build; --whet PATH picks another binary.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${WHET_BENCH_NO_BUILD:-0}" != 1 ]; then
  cargo build --release -q -p whet
fi
PY="${WHET_PEERS_PYTHON:-$HOME/.cache/whet-peers/bin/python}"
unset WHET_STORE
echo "commit: $(git rev-parse --short HEAD)"
echo "date: $(date -u)"
echo "nproc: $(nproc)"
echo "load before: $(uptime)"
echo
"$PY" bench/drift_false_alarm.py "$@"
echo
echo "load after: $(uptime)"

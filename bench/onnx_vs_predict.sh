#!/usr/bin/env bash
# `whet export --onnx` in onnxruntime against `whet predict` on the shared datasets' test splits
# (reference.py's 80/20 split): the largest difference per dataset and onnxruntime's single-row
# latency. Needs a Python with onnx, onnxruntime, pandas and scikit-learn: WHET_ONNX_PYTHON, else
# the peers' venv made with `bash ../shared/peers/setup.sh --with-onnx`.
# usage: bash bench/onnx_vs_predict.sh [--datasets iris,titanic] [--max-rows 20000] [--trials 4]
# WHET_BENCH_NO_BUILD=1 skips the release build; --whet PATH picks another binary.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${WHET_BENCH_NO_BUILD:-0}" != 1 ]; then
  cargo build --release -q -p whet
fi
PY="${WHET_ONNX_PYTHON:-$(bash ../shared/peers/setup.sh --with-onnx | tail -1)}"
unset WHET_STORE
echo "commit: $(git rev-parse --short HEAD)"
echo "date: $(date -u)"
echo "nproc: $(nproc)"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "load before: $(uptime)"
echo "onnxruntime: $("$PY" -c 'import onnxruntime; print(onnxruntime.__version__)')"
echo
"$PY" bench/onnx_vs_predict.py "$@"
echo
echo "load after: $(uptime)"

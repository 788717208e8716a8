#!/usr/bin/env bash
# MLflow's own tracking and registry server tests, run against `whet server`.
#
# Usage: bench/mlflow_own_tests.sh DIR [pytest args...]
#
# DIR holds MLflow's test_rest_tracking.py and test_model_registry.py, taken unchanged from
# MLflow's repository (tests/tracking/; see bench/RESULTS.md for the commits used). This
# script fetches nothing and the repository holds none of MLflow's code: the files come
# from wherever you read MLflow's sources.
#
# bench/mlflow_own_tests/ is our pytest plugin: it stands in for the helpers MLflow's
# fixtures call (initialize_backend_stores, ServerThread, get_safe_port, invoke_cli_runner),
# so that each fixture starts `whet server --auth off` on a free loopback port with a fresh
# SQLite store and artifact folder instead of MLflow's in-process server. MLflow's test
# files stay unedited.
#
# Environment: PYTHON (default /work/venv-mlflow/bin/python: mlflow 3.17.2 + pytest),
# WORK (default /tmp/whet-mlflow-own-tests), WHET_BIN (default: cargo build -p whet here).
set -euo pipefail

if [ $# -lt 1 ] || [ ! -f "$1/test_rest_tracking.py" ] || [ ! -f "$1/test_model_registry.py" ]; then
    echo "usage: $0 DIR [pytest args...]  (DIR holds MLflow's test_rest_tracking.py and test_model_registry.py)" >&2
    exit 2
fi
src=$(cd "$1" && pwd)
shift
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
python=${PYTHON:-/work/venv-mlflow/bin/python}
work=${WORK:-/tmp/whet-mlflow-own-tests}

rm -rf "$work"
mkdir -p "$work"
cp -r "$here/mlflow_own_tests/." "$work/"
cp "$src/test_rest_tracking.py" "$src/test_model_registry.py" "$work/tests/tracking/"

if [ -z "${WHET_BIN:-}" ]; then
    (cd "$repo" && cargo build -q -p whet)
    # a copy, so that a rebuild does not disturb a run
    cp "$repo/target/debug/whet" "$work/whet-bin"
    WHET_BIN="$work/whet-bin"
fi
export WHET_BIN

cd "$work"
exec "$python" -m pytest tests/tracking -q -rfEsxX -p no:cacheprovider "$@"

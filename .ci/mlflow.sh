# Sourced by .ci/run (and usable by hand: `source .ci/mlflow.sh && setup_mlflow_venv`).
# Creates a throw-away Python virtualenv with the pinned mlflow client (and what the
# compatibility suite of `whet server` needs) and exports its interpreter as
# WHET_TEST_MLFLOW_PYTHON. A value already in WHET_TEST_MLFLOW_PYTHON is used as it is.

setup_mlflow_venv() {
    if [ -n "${WHET_TEST_MLFLOW_PYTHON:-}" ]; then
        echo "mlflow: using WHET_TEST_MLFLOW_PYTHON from the environment"
        return 0
    fi
    local requirements
    requirements="$(pwd)/crates/whet-server/tests/mlflow_compat/requirements.txt"
    WHET_MLFLOW_VENV=$(mktemp -d /tmp/whet-mlflow-venv.XXXXXX)
    python3 -m venv "$WHET_MLFLOW_VENV" ||
        { echo "mlflow: python3 -m venv failed (install python3-venv)" >&2; return 1; }
    "$WHET_MLFLOW_VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$WHET_MLFLOW_VENV/bin/pip" install -q -r "$requirements" ||
        { echo "mlflow: installing $requirements failed" >&2; return 1; }
    export WHET_TEST_MLFLOW_PYTHON="$WHET_MLFLOW_VENV/bin/python"
    export WHET_MLFLOW_VENV
    echo "mlflow: $("$WHET_TEST_MLFLOW_PYTHON" -c 'import mlflow; print(mlflow.__version__)') in $WHET_MLFLOW_VENV"
}

remove_mlflow_venv() {
    if [ -n "${WHET_MLFLOW_VENV:-}" ] && [ -d "$WHET_MLFLOW_VENV" ]; then
        rm -rf "$WHET_MLFLOW_VENV"
    fi
}

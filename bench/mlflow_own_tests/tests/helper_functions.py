# Minimal stand-ins (our code) for the two names MLflow's tests import from
# tests/helper_functions.py.
from whet_plugin import free_port

LOCALHOST = "127.0.0.1"


def get_safe_port():
    return free_port()

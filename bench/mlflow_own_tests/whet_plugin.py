"""A pytest plugin (whet project code) that runs MLflow's own server tests against
`whet server`, leaving MLflow's test files unchanged.

MLflow's fixtures start the server in two steps:
    initialize_backend_stores(backend_uri, default_artifact_root=...)
    with ServerThread(app, get_safe_port()) as url: ...
This plugin records the arguments of the first (patching mlflow.server.handlers before the
test modules import it) and provides `ServerThread` (tests/tracking/integration_test_utils.py)
that starts `$WHET_BIN server --auth off` on a free loopback port with a fresh SQLite store
and proxied-artifact folder, and `--default-artifact-root` set to the recorded root. A
FileStore backend (`file:` URI) is skipped: whet has one store, SQL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

# The client reads these at import or call time. No network, no retries: a 5xx must fail at
# once instead of being retried for minutes.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
for _k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_NAME",
           "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"):
    os.environ.pop(_k, None)

import pytest  # noqa: E402
import requests  # noqa: E402

WHET_BIN = os.environ.get("WHET_BIN", "/work/scratch/whet-bin")
_backend = {"uri": None, "default_artifact_root": None}


def _record_backend(backend_store_uri, default_artifact_root=None, *args, **kwargs):
    _backend["uri"] = backend_store_uri
    _backend["default_artifact_root"] = default_artifact_root


def install():
    import mlflow.server.handlers as handlers

    handlers.initialize_backend_stores = _record_backend
    _stub_newer_modules()


def _stub_newer_modules():
    """MLflow's test file at that commit imports a module newer than the pinned client
    (mlflow.server.request_context, used by one in-process handler test): a stand-in lets
    the file be collected; that test then fails and is listed as out of scope."""
    import sys
    import types

    try:
        import mlflow.server.request_context  # noqa: F401
    except ImportError:
        m = types.ModuleType("mlflow.server.request_context")

        class RequestShim:
            def __init__(self, **kwargs):
                self.__dict__.update(kwargs)

        m.RequestShim = RequestShim
        m.clear_request = lambda: None
        m.set_request = lambda request: None
        sys.modules["mlflow.server.request_context"] = m


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def whet_server(workdir: Path, default_artifact_root: str | None = None):
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        WHET_BIN, "server", "--host", "127.0.0.1", "--port", str(port), "--auth", "off",
        "--store", str(workdir / "whet.db"),
        "--artifacts-destination", str(workdir / "proxied-artifacts"),
    ]
    if default_artifact_root is not None:
        cmd += ["--default-artifact-root", default_artifact_root]
    log_path = workdir / "whet-server.log"
    log = open(log_path, "wb")
    env = dict(os.environ)
    env.setdefault("WHET_LOG", "warn")
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"whet server exited with {proc.returncode}: "
                                   + log_path.read_text(errors="replace"))
            try:
                if requests.get(url + "/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("whet server not ready after 60 s")
            time.sleep(0.05)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        log.close()


class ServerThread:
    """Stands in for MLflow's ServerThread(app, port): `with ServerThread(...) as url`."""

    def __init__(self, app=None, port=None):
        self._cm = None
        self._workdir = None

    def __enter__(self) -> str:
        uri = _backend["uri"] or ""
        if str(uri).startswith("file:"):
            pytest.skip("FileStore backend: whet has one store (SQL)")
        self._workdir = Path(tempfile.mkdtemp(prefix="whet-own-tests-"))
        self._cm = whet_server(self._workdir, _backend["default_artifact_root"])
        return self._cm.__enter__()

    def __exit__(self, *exc):
        if self._cm is not None:
            self._cm.__exit__(*exc)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        return None

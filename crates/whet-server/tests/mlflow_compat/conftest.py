"""Fixtures of the MLflow compatibility suite: the server under test, a reference MLflow server,
and a fresh experiment per test.

The server under test is chosen by WHET_COMPAT_SERVER (or --server):
  mlflow  a real `mlflow server` (SQLite backend, proxied artifacts) in a temp dir;
  whet    `$WHET_BIN server --host 127.0.0.1 --port P --store <tmp>/whet.db
           --artifacts-destination <tmp>/artifacts` (auth is off on loopback by default).
Tests that compare results also start a reference `mlflow server` (once per session).
"""

from __future__ import annotations

import os

# The client reads these when mlflow is imported or at call time: set them before any test
# module imports mlflow. Nothing here may reach the network: telemetry off, no retries (a 5xx
# must fail the test at once instead of being retried with back-off for minutes).
_CLIENT_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "120",
    "MLFLOW_RECORD_ENV_VARS_IN_MODEL_LOGGING": "false",
    "GIT_PYTHON_REFRESH": "quiet",
    "PYTHONDONTWRITEBYTECODE": "1",
}
for _k, _v in _CLIENT_ENV.items():
    os.environ[_k] = _v
for _k in (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_RUN_ID",
):
    os.environ.pop(_k, None)

import pathlib  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[3]
sys.path.insert(0, str(HERE))

import compat_helpers as H  # noqa: E402

STARTUP_TIMEOUT_S = float(os.environ.get("WHET_COMPAT_STARTUP_TIMEOUT", "120"))


# ---------------------------------------------------------------------------------------------
# options and markers


def pytest_addoption(parser):
    parser.addoption(
        "--server",
        choices=["mlflow", "whet"],
        default=None,
        help="server under test (default: $WHET_COMPAT_SERVER, else whet)",
    )


def _server_kind(config) -> str:
    kind = config.getoption("--server") or os.environ.get("WHET_COMPAT_SERVER") or "whet"
    if kind not in ("mlflow", "whet"):
        raise pytest.UsageError(f"WHET_COMPAT_SERVER must be mlflow or whet, not {kind!r}")
    return kind


def _whet_bin() -> pathlib.Path | None:
    env = os.environ.get("WHET_BIN")
    if env:
        p = pathlib.Path(env)
        if not p.is_absolute():
            # relative to the current directory first, then to the repository root
            p = p if p.exists() else REPO_ROOT / p
        return p
    for cand in (REPO_ROOT / "target/release/whet", REPO_ROOT / "target/debug/whet"):
        if cand.exists():
            return cand
    return None


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "whet_only: whet's own contract (tokens, body limits, stricter input checks); "
        "skipped when the server under test is mlflow",
    )
    config.addinivalue_line(
        "markers", "reference: compares the server under test with a reference mlflow server"
    )
    kind = _server_kind(config)
    config._whet_compat_kind = kind
    if kind == "whet":
        b = _whet_bin()
        if b is None or not b.exists():
            raise pytest.UsageError(
                "WHET_COMPAT_SERVER=whet needs the whet binary: set WHET_BIN=target/release/whet "
                "(build it with `cargo build --release -p whet`), or run against real MLflow "
                "with WHET_COMPAT_SERVER=mlflow"
            )


def pytest_report_header(config):
    kind = config._whet_compat_kind
    extra = f" ({_whet_bin()})" if kind == "whet" else ""
    import mlflow

    return [f"mlflow_compat: server under test = {kind}{extra}; client mlflow {mlflow.__version__}"]


def pytest_collection_modifyitems(config, items):
    if config._whet_compat_kind == "mlflow":
        skip = pytest.mark.skip(reason="whet-only contract (server under test is mlflow)")
        for item in items:
            if "whet_only" in item.keywords:
                item.add_marker(skip)
    for item in items:
        if "reference" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.reference)


# ---------------------------------------------------------------------------------------------
# server processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server process on a free loopback port, in its own process group."""

    def __init__(self, name: str, kind: str, workdir: pathlib.Path, auth: bool = False):
        self.name = name
        self.kind = kind
        self.workdir = workdir
        self.auth = auth
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "server.log"
        self.store = workdir / ("whet.db" if kind == "whet" else "mlflow.db")
        self.artifacts = workdir / "artifacts"
        self.extra_args: list[str] = []  # e.g. --default-artifact-root, set by before_start
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        if self.kind == "mlflow":
            return [
                sys.executable, "-m", "mlflow", "server",
                "--backend-store-uri", f"sqlite:///{self.store}",
                "--artifacts-destination", str(self.artifacts),
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--workers", os.environ.get("WHET_COMPAT_MLFLOW_WORKERS", "1"),
                *self.extra_args,
            ]  # fmt: skip
        cmd = [
            str(_whet_bin()), "server",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--store", str(self.store),
            "--artifacts-destination", str(self.artifacts),
        ]  # fmt: skip
        if self.auth:
            cmd += ["--auth", "on"]
        return cmd + self.extra_args

    def launch(self) -> "Server":
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("WHET_LOG", "warn")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.command(),
            cwd=self.workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        return self

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT_S) -> "Server":
        """Ready when GET /health (MLflow has it) or the Default experiment answers 200; a
        server with auth on is ready as soon as it answers anything below 500."""
        deadline = time.monotonic() + timeout
        probes = ["/health", "/api/2.0/mlflow/experiments/get?experiment_id=0"]
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} server exited with {self.proc.returncode} during start-up:\n"
                    f"$ {' '.join(self.command())}\n{self.log_tail()}"
                )
            for p in probes:
                try:
                    r = requests.get(self.url + p, timeout=2)
                except requests.RequestException:
                    continue
                if r.status_code == 200 or (self.auth and r.status_code < 500):
                    return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} server not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=5)
        # uvicorn's workers and MLflow's job runner share the group: make sure none is left
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()

    def run_cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Runs `$WHET_BIN <args>` (e.g. `server token create ...`)."""
        return subprocess.run(
            [str(_whet_bin()), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.workdir,
        )


class _Pool:
    """Starts the session's servers once; the reference starts in parallel with the server
    under test when any collected test compares results."""

    def __init__(self, root: pathlib.Path, kind: str):
        self.root = root
        self.kind = kind
        self.servers: dict[str, Server] = {}
        self.ready: set[str] = set()

    def launch(self, name: str, kind: str) -> Server:
        if name not in self.servers:
            self.servers[name] = Server(name, kind, self.root / name).launch()
        return self.servers[name]

    def get(self, name: str, kind: str) -> Server:
        s = self.launch(name, kind)
        if name not in self.ready:
            s.wait_ready()
            self.ready.add(name)
        return s

    def stop_all(self):
        for s in self.servers.values():
            s.stop()


@pytest.fixture(scope="session")
def _pool(request):
    root = pathlib.Path(tempfile.mkdtemp(prefix="whet-mlflow-compat-"))
    pool = _Pool(root, request.config._whet_compat_kind)
    yield pool
    pool.stop_all()
    if os.environ.get("WHET_COMPAT_KEEP_TMP"):
        print(f"\nmlflow_compat: kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def sut(_pool, request) -> Server:
    """The server under test (session-scoped)."""
    if any(i.get_closest_marker("reference") for i in request.session.items):
        _pool.launch("reference", "mlflow")
    return _pool.get("sut", _pool.kind)


@pytest.fixture(scope="session")
def reference(_pool) -> Server:
    """A real MLflow server (session-scoped), the reference for comparisons."""
    return _pool.get("reference", "mlflow")


@pytest.fixture(scope="session")
def server_kind(request) -> str:
    return request.config._whet_compat_kind


@pytest.fixture(scope="session")
def start_server(tmp_path_factory):
    """Starts an extra server of the kind under test, e.g. with auth on; stopped at the end of
    the session."""
    started: list[Server] = []

    def start(kind: str, auth: bool = False, before_start=None) -> Server:
        s = Server(f"{kind}-extra{len(started)}", kind, tmp_path_factory.mktemp("extra"), auth)
        if before_start is not None:
            before_start(s)
        s.launch()
        started.append(s)
        return s.wait_ready()

    yield start
    for s in started:
        s.stop()


# ---------------------------------------------------------------------------------------------
# per-test client state


@pytest.fixture(autouse=True)
def _tracking(request, monkeypatch):
    """Points the fluent API at the server under test and leaves no active run behind."""
    import mlflow

    server = request.getfixturevalue("sut")
    for k in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(k, raising=False)
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)


@pytest.fixture
def client(sut):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=sut.url, registry_uri=sut.url)


@pytest.fixture
def uniq(request) -> str:
    """A name unique to this test invocation (experiment and model names are global)."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:48].strip("-")
    return f"{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def experiment_id(client, uniq) -> str:
    """A fresh experiment, also made the active one."""
    import mlflow

    exp = mlflow.set_experiment(uniq)
    return exp.experiment_id


@pytest.fixture
def rest(sut) -> H.Rest:
    """Raw HTTP against the server under test."""
    return H.Rest(sut.url)


@pytest.fixture
def compare(sut, reference, uniq) -> H.Comparator:
    """Runs one scenario against the server under test and the reference MLflow server."""
    return H.Comparator(sut, reference, uniq)

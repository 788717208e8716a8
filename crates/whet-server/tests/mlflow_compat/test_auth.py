"""whet's own contract, tokens: no token -> 401, read token cannot write -> 403
PERMISSION_DENIED, a write token works as Bearer (MLFLOW_TRACKING_TOKEN) and as the Basic
password (MLFLOW_TRACKING_USERNAME/PASSWORD). Skipped when the server under test is mlflow.

The server with auth on is started by this module: tokens are created beforehand with
`$WHET_BIN server token create --store <store> --name NAME --role read|write|admin`, which prints
the token on stdout's last line."""

import mlflow
import pytest
from mlflow import MlflowClient

from compat_helpers import API, ARTIFACTS, Rest, assert_error, raises_mlflow

pytestmark = pytest.mark.whet_only


@pytest.fixture(scope="module")
def authed(start_server, server_kind):
    if server_kind != "whet":
        pytest.skip("whet-only")
    tokens = {}

    def create_tokens(server):
        server.workdir.mkdir(parents=True, exist_ok=True)
        for role in ("read", "write", "admin"):
            p = server.run_cli("server", "token", "create", "--store", str(server.store),
                               "--name", f"compat-{role}", "--role", role)
            assert p.returncode == 0, f"token create failed:\n{p.stdout}\n{p.stderr}"
            lines = [ln.strip() for ln in p.stdout.splitlines() if ln.strip()]
            assert lines, f"token create printed nothing:\n{p.stderr}"
            tokens[role] = lines[-1]

    server = start_server("whet", auth=True, before_start=create_tokens)
    server.tokens = tokens
    return server


@pytest.fixture
def use_server(authed, monkeypatch):
    """Points the fluent API at the auth server for one test (the autouse fixture restores)."""
    mlflow.set_tracking_uri(authed.url)
    mlflow.set_registry_uri(authed.url)
    return authed


def _hdr(token):
    return {"Authorization": f"Bearer {token}"}


def test_no_token_is_401(authed):
    rest = Rest(authed.url)
    r = rest.get(f"{API}/experiments/get", params={"experiment_id": "0"})
    assert r.status_code == 401, r.text
    if "json" in r.headers.get("Content-Type", ""):
        assert r.json()["error_code"] == "UNAUTHENTICATED"
    r = rest.post(f"{API}/experiments/create", json={"name": "x"})
    assert r.status_code == 401
    r = rest.put(f"{ARTIFACTS}/0/x/artifacts/a.txt", data=b"x")
    assert r.status_code == 401
    r = rest.get(ARTIFACTS, params={"path": "0"})
    assert r.status_code == 401


def test_client_without_token_raises_unauthenticated(use_server):
    with raises_mlflow("UNAUTHENTICATED"):
        MlflowClient(use_server.url).get_experiment("0")


def test_unknown_token_is_401(authed):
    rest = Rest(authed.url, headers=_hdr("not-a-real-token"))
    assert rest.get(f"{API}/experiments/get", params={"experiment_id": "0"}).status_code == 401
    rest = Rest(authed.url, headers={"Authorization": "Basic bm9ib2R5Om5vcGU="})  # nobody:nope
    assert rest.get(f"{API}/experiments/get", params={"experiment_id": "0"}).status_code == 401


def test_read_token_can_read(authed):
    rest = Rest(authed.url, headers=_hdr(authed.tokens["read"]))
    r = rest.get(f"{API}/experiments/get", params={"experiment_id": "0"})
    assert r.status_code == 200, r.text
    r = rest.post(f"{API}/experiments/search", json={"max_results": 10})
    assert r.status_code == 200, r.text


def test_read_token_can_use_the_clients_post_searches(use_server, monkeypatch, uniq):
    """Some reads are POSTs: runs/search, experiments/search, logged-models/search,
    registered-models/get-latest-versions. A read token must be allowed to make them."""
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", use_server.tokens["write"])
    c = MlflowClient(use_server.url)
    eid = c.create_experiment(uniq)
    c.create_run(eid)
    c.create_logged_model(eid, name="m")
    c.create_registered_model(uniq)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", use_server.tokens["read"])
    c = MlflowClient(use_server.url)
    assert len(c.search_runs([eid])) == 1
    assert len(mlflow.search_runs([eid])) == 1
    assert [e.name for e in c.search_experiments(filter_string=f"name = '{uniq}'")] == [uniq]
    assert [m.name for m in c.search_logged_models([eid])] == ["m"]
    assert c.get_latest_versions(uniq) == []
    assert [m.name for m in c.search_registered_models(filter_string=f"name = '{uniq}'")] == [uniq]


def test_read_token_cannot_write_403_permission_denied(authed, use_server, monkeypatch, uniq):
    rest = Rest(authed.url, headers=_hdr(authed.tokens["read"]))
    assert_error(rest.post(f"{API}/experiments/create", json={"name": uniq}), 403, "PERMISSION_DENIED")
    r = rest.put(f"{ARTIFACTS}/0/{'a' * 32}/artifacts/x.txt", data=b"x")
    assert_error(r, 403, "PERMISSION_DENIED")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", authed.tokens["read"])
    with raises_mlflow("PERMISSION_DENIED"):
        MlflowClient(authed.url).create_experiment(uniq)


def test_write_token_works_with_mlflow_tracking_token(use_server, monkeypatch, uniq, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", use_server.tokens["write"])
    _full_session(use_server, uniq, tmp_path)


def test_write_token_works_as_basic_auth_password(use_server, monkeypatch, uniq, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "anyone")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", use_server.tokens["write"])
    _full_session(use_server, uniq, tmp_path)


def test_a_model_version_names_the_token_that_registered_it(use_server, monkeypatch, uniq):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", use_server.tokens["write"])
    client = MlflowClient(use_server.url)
    client.create_registered_model(uniq)
    v = client.create_model_version(uniq, "s3://bucket/model")
    assert v.user_id == "compat-write"
    assert client.get_model_version(uniq, v.version).user_id == "compat-write"
    found = client.search_model_versions(f"name = '{uniq}'")
    assert [x.user_id for x in found] == ["compat-write"]


def test_admin_token_can_write(use_server, monkeypatch, uniq):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", use_server.tokens["admin"])
    eid = MlflowClient(use_server.url).create_experiment(uniq)
    assert MlflowClient(use_server.url).get_experiment(eid).name == uniq


def test_read_token_can_download_what_write_token_logged(use_server, monkeypatch, uniq, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", use_server.tokens["write"])
    mlflow.set_experiment(uniq)
    f = tmp_path / "a.txt"
    f.write_text("secret")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(f))
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", use_server.tokens["read"])
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/a.txt") == "secret"
    with raises_mlflow("PERMISSION_DENIED"):
        MlflowClient(use_server.url).log_param(run.info.run_id, "p", "1")


def _full_session(server, name, tmp_path):
    """Tracking, artifacts and registry with the credentials in the environment."""
    client = MlflowClient(server.url)
    mlflow.set_experiment(name)
    f = tmp_path / "a.txt"
    f.write_text("hello")
    with mlflow.start_run() as run:
        mlflow.log_param("p", "1")
        mlflow.log_metric("m", 1.0)
        mlflow.log_artifact(str(f))
    rid = run.info.run_id
    assert client.get_run(rid).data.params == {"p": "1"}
    assert [a.path for a in client.list_artifacts(rid)] == ["a.txt"]
    assert mlflow.artifacts.load_text(f"runs:/{rid}/a.txt") == "hello"
    client.create_registered_model(name)
    mv = client.create_model_version(name, f"runs:/{rid}/model", run_id=rid)
    client.set_registered_model_alias(name, "prod", mv.version)
    assert client.get_model_version_by_alias(name, "prod").version == "1"

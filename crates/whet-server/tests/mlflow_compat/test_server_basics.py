"""What every client session touches first: health, server-info, the Default experiment, the
shape of ids and artifact URIs."""

import re

import mlflow

from compat_helpers import API, assert_error


def test_health_answers_200(rest):
    r = rest.get("/health")
    assert r.status_code == 200


def test_server_info_is_json_with_multipart_disabled(rest):
    """The client reads /api/3.0/mlflow/server-info before proxied downloads; multipart must be
    off (otherwise the client asks for presigned URLs)."""
    r = rest.get("/api/3.0/mlflow/server-info")
    assert r.status_code == 200, r.text
    info = r.json()
    assert isinstance(info, dict)
    assert not info.get("multipart_uploads_enabled")
    assert not info.get("multipart_downloads_enabled")
    assert not info.get("workspaces_enabled")


def test_default_experiment_has_id_0(client):
    e = client.get_experiment("0")
    assert e.experiment_id == "0"
    assert e.name == "Default"
    assert e.lifecycle_stage == "active"
    assert e.artifact_location == "mlflow-artifacts:/0"
    assert client.get_experiment_by_name("Default").experiment_id == "0"


def test_default_experiment_raw_shape(rest):
    r = rest.get(f"{API}/experiments/get", params={"experiment_id": "0"})
    assert r.status_code == 200
    e = r.json()["experiment"]
    assert e["experiment_id"] == "0"  # a JSON string, not a number
    assert e["name"] == "Default"
    assert isinstance(e["creation_time"], int) and isinstance(e["last_update_time"], int)


def test_ids_and_artifact_uris_have_mlflow_shape(client, experiment_id):
    assert re.fullmatch(r"[0-9]+", experiment_id)
    exp = client.get_experiment(experiment_id)
    assert exp.artifact_location == f"mlflow-artifacts:/{experiment_id}"
    with mlflow.start_run() as run:
        pass
    rid = run.info.run_id
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    got = client.get_run(rid)
    assert got.info.artifact_uri == f"mlflow-artifacts:/{experiment_id}/{rid}/artifacts"
    assert got.info.experiment_id == experiment_id


def test_run_json_uses_strings_for_ids_and_numbers_for_times(rest, experiment_id):
    r = rest.post(f"{API}/runs/create", json={"experiment_id": experiment_id, "start_time": 1700000000000})
    assert r.status_code == 200, r.text
    info = r.json()["run"]["info"]
    assert isinstance(info["run_id"], str) and info["run_id"] == info["run_uuid"]
    assert info["experiment_id"] == experiment_id
    assert info["start_time"] == 1700000000000  # a JSON number
    assert info["status"] == "RUNNING"
    assert info["lifecycle_stage"] == "active"


def test_ajax_api_prefix_is_not_required_but_api_prefix_is(rest):
    """The client only ever calls /api/2.0/...; an unknown route is a 404 (never a 5xx)."""
    r = rest.get("/api/2.0/mlflow/no-such-endpoint")
    assert r.status_code == 404
    r = rest.post("/api/2.0/mlflow/no-such-endpoint", json={})
    assert r.status_code == 404


def test_unknown_experiment_is_404_resource_does_not_exist_json(rest):
    r = rest.get(f"{API}/experiments/get", params={"experiment_id": "987654"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")

"""Behaviour MLflow's own server tests pin (tests/tracking/test_rest_tracking.py and
test_model_registry.py in MLflow's repository), checked here in our own words so that both
servers are held to it: error wording clients and scripts match on, the registry's default
order, what a copied or logged-model version points at, and the checks on a version's
source."""

import time

import pytest

from compat_helpers import API, raises_mlflow


@pytest.fixture
def run_id(client, experiment_id):
    return client.create_run(experiment_id).info.run_id


# --- a wrong JSON type names the parameter and the value sent --------------------------------


def test_wrong_type_error_names_the_parameter_and_the_value(rest, run_id):
    r = rest.post(f"{API}/experiments/create", json={"name": 123})
    assert r.status_code == 400
    assert "Invalid value 123 for parameter 'name'" in r.json()["message"]
    r = rest.post(f"{API}/runs/log-metric",
                  json={"run_id": run_id, "key": "m", "value": 1, "timestamp": 5, "step": "foo"})
    assert r.status_code == 400
    assert "Invalid value \"foo\" for parameter 'step'" in r.json()["message"]
    r = rest.post(f"{API}/runs/set-tag", json={"run_id": 31, "key": "k", "value": "v"})
    assert r.status_code == 400
    assert "Invalid value 31 for parameter 'run_id' supplied" in r.json()["message"]
    r = rest.post(f"{API}/runs/log-batch", json={"run_id": run_id, "tags": "foo"})
    assert r.status_code == 400
    assert "Invalid value \"foo\" for parameter 'tags' supplied" in r.json()["message"]


# --- not found / already exists in MLflow's words --------------------------------------------


def test_not_found_and_already_exists_messages_are_mlflows(client, rest, uniq, run_id):
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST") as e:
        client.delete_tag("f" * 32, "k")
    assert f"Run with id={'f' * 32} not found" in str(e.value)
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST") as e:
        client.delete_tag(run_id, "nosuch")
    assert "No tag with name: nosuch" in str(e.value)
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST") as e:
        client.get_registered_model(uniq)
    assert f"Registered Model with name={uniq} not found" in str(e.value)
    client.create_registered_model(uniq)
    with raises_mlflow("RESOURCE_ALREADY_EXISTS") as e:
        client.create_registered_model(uniq)
    assert f"Registered Model (name={uniq}) already exists" in str(e.value)
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST") as e:
        client.get_model_version(uniq, "3")
    assert f"Model Version (name={uniq}, version=3) not found" in str(e.value)
    r = rest.get(f"{API}/runs/get", params={"run_id": "f" * 32})
    assert ".db" not in r.json()["message"]  # no server file paths in messages


def test_missing_logged_model_tag_says_no_tag_with_key(client, experiment_id):
    m = client.create_logged_model(experiment_id)
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST") as e:
        client.delete_logged_model_tag(m.model_id, "nosuch")
    assert "No tag with key" in str(e.value)


# --- registry ----------------------------------------------------------------------------------


def test_search_model_versions_default_order_is_most_recently_updated_first(client, uniq):
    a, b = f"{uniq}-a", f"{uniq}-b"
    for name in (a, b):
        client.create_registered_model(name)
    for name in (a, b, a):
        time.sleep(0.005)
        client.create_model_version(name, "runs:/r/model", "r")
    found = [(v.name, v.version) for v in client.search_model_versions(f"name LIKE '{uniq}-%'")]
    assert found == [(a, "2"), (b, "1"), (a, "1")]
    time.sleep(0.005)
    client.update_model_version(a, "1", description="touched")
    found = [(v.name, v.version) for v in client.search_model_versions(f"name LIKE '{uniq}-%'")]
    assert found == [(a, "1"), (a, "2"), (b, "1")]


def test_copied_model_version_downloads_from_the_version_it_copies(client, uniq):
    client.create_registered_model(uniq)
    src = client.create_model_version(uniq, "runs:/r1/model", "r1")
    copy = client.copy_model_version(f"models:/{uniq}/{src.version}", uniq)
    assert client.get_model_version(uniq, copy.version).source == f"models:/{uniq}/1"
    assert client.get_model_version_download_uri(uniq, copy.version) == "runs:/r1/model"


def test_model_version_from_a_logged_model_is_listed_in_its_model_versions_tag(
        client, uniq, experiment_id):
    client.create_registered_model(uniq)
    m = client.create_logged_model(experiment_id)
    for _ in range(2):
        client.create_model_version(uniq, source=m.model_uri, model_id=m.model_id)
    tag = client.get_logged_model(m.model_id).tags["mlflow.modelVersions"]
    assert tag == f'[{{"name": "{uniq}", "version": 1}}, {{"name": "{uniq}", "version": 2}}]'


def test_search_logged_models_datasets_clause_keeps_models_with_metrics_on_them(
        client, experiment_id, run_id):
    on, off = client.create_logged_model(experiment_id), client.create_logged_model(experiment_id)
    client.log_metric(run_id, "acc", 0.9, dataset_name="ds", dataset_digest="123",
                      model_id=on.model_id)
    client.log_metric(run_id, "acc", 0.8, dataset_name="other", dataset_digest="9",
                      model_id=off.model_id)
    found = client.search_logged_models(
        experiment_ids=[experiment_id], datasets=[{"dataset_name": "ds", "dataset_digest": "123"}])
    assert [m.model_id for m in found] == [on.model_id]
    found = client.search_logged_models(
        experiment_ids=[experiment_id], datasets=[{"dataset_name": "ds", "dataset_digest": "x"}])
    assert list(found) == []


@pytest.mark.parametrize("source", [
    "mlflow-artifacts:/models/../../../",
    "s3a://bucket/api/2.0/mlflow-artifacts/artifacts/../../../",
    "s3://bucket/models/./model",
    "mlflow-artifacts:/models/..%2f..%2fartifacts",
    "mlflow-artifacts:/models/artifact%00",
])
def test_model_version_source_with_relative_parts_is_refused(rest, client, uniq, run_id, source):
    client.create_registered_model(uniq)
    r = rest.post(f"{API}/model-versions/create",
                  json={"name": uniq, "source": source, "run_id": run_id})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "If supplying a source as an http, https," in r.json()["message"]


def test_model_version_local_source_needs_the_runs_artifact_folder(rest, client, uniq, run_id):
    client.create_registered_model(uniq)
    for body in ({"source": "/tmp"}, {"source": "/tmp", "run_id": run_id},
                 {"source": "file:///tmp/x"}):
        r = rest.post(f"{API}/model-versions/create", json={"name": uniq, **body})
        assert r.status_code == 400, (body, r.text)
        assert "To use a local path as a model version" in r.json()["message"]
    for source in (f"runs:/{run_id}/model", f"runs:/{run_id}/a///b", f"runs:/{run_id}/m/..../"):
        r = rest.post(f"{API}/model-versions/create",
                      json={"name": uniq, "source": source, "run_id": run_id})
        assert r.status_code == 200, (source, r.text)


def test_batch_metric_missing_field_is_named_by_its_place_in_the_batch(rest, run_id):
    r = rest.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": [
        {"key": "ok", "value": 1.0, "timestamp": 5}, {"key": "mae", "value": 2.5}]})
    assert r.status_code == 400
    assert "Missing value for required parameter 'metrics[1].timestamp'" in r.json()["message"]
    r = rest.post(f"{API}/runs/log-metric",
                  json={"run_id": run_id, "key": 31, "value": 1, "timestamp": 5})
    assert r.status_code == 400
    assert "Invalid value 31 for parameter 'key' supplied" in r.json()["message"]


def test_writing_to_a_deleted_run_says_it_must_be_active(client, run_id):
    client.delete_run(run_id)
    with raises_mlflow("INVALID_PARAMETER_VALUE") as e:
        client.set_tag(run_id, "k", "v")
    assert f"The run {run_id} must be in the 'active' state" in str(e.value)

"""Error handling: MLflow's error JSON and codes, limits, and bad input that must get a 4xx,
never a 5xx (the client retries 5xx with exponential back-off)."""

import json

import pytest
from mlflow.entities import Metric, Param, RunTag

from compat_helpers import API, BASE_TS, assert_client_error, assert_error, raises_mlflow


@pytest.fixture
def run_id(client, experiment_id):
    return client.create_run(experiment_id).info.run_id


def _metrics(n, prefix="m"):
    return [{"key": f"{prefix}{i}", "value": 1.0, "timestamp": BASE_TS, "step": 0} for i in range(n)]


def _kv(n, prefix):
    return [{"key": f"{prefix}{i}", "value": "1"} for i in range(n)]


# --- log-batch limits (the client splits big batches itself, so these are raw) -------------


def test_log_batch_accepts_exactly_1000_metrics_100_params_100_tags(rest, run_id, client):
    r = rest.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": _metrics(1000)})
    assert r.status_code == 200, r.text
    r = rest.post(f"{API}/runs/log-batch", json={"run_id": run_id, "params": _kv(100, "p"),
                                                 "tags": _kv(100, "t")})
    assert r.status_code == 200, r.text
    data = client.get_run(run_id).data
    assert len(data.metrics) == 1000 and len(data.params) == 100


def test_log_batch_rejects_more_than_1000_metrics(rest, run_id, client):
    r = rest.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": _metrics(1001)})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert client.get_run(run_id).data.metrics == {}  # all or nothing


def test_log_batch_rejects_more_than_100_params(rest, run_id):
    r = rest.post(f"{API}/runs/log-batch", json={"run_id": run_id, "params": _kv(101, "p")})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_log_batch_rejects_more_than_100_tags(rest, run_id):
    r = rest.post(f"{API}/runs/log-batch", json={"run_id": run_id, "tags": _kv(101, "t")})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_log_batch_rejects_more_than_1000_entries_in_total(rest, run_id):
    r = rest.post(f"{API}/runs/log-batch",
                  json={"run_id": run_id, "metrics": _metrics(950), "params": _kv(60, "p")})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_log_batch_rejects_duplicate_param_keys(rest, run_id):
    r = rest.post(f"{API}/runs/log-batch",
                  json={"run_id": run_id, "params": [{"key": "d", "value": "1"}, {"key": "d", "value": "1"}]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_log_batch_metric_missing_value_or_timestamp_is_invalid_parameter_value(rest, run_id):
    r = rest.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": [{"key": "k", "timestamp": 1}]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    r = rest.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": [{"key": "k", "value": 1.0}]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_log_batch_to_missing_run_is_resource_does_not_exist(rest):
    r = rest.post(f"{API}/runs/log-batch", json={"run_id": "f" * 32, "metrics": _metrics(1)})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_client_splits_large_batches_itself(client, run_id):
    client.log_batch(run_id, metrics=[Metric(f"m{i}", 1.0, BASE_TS, 0) for i in range(1500)],
                     params=[Param(f"p{i}", "1") for i in range(150)],
                     tags=[RunTag(f"t{i}", "1") for i in range(150)])
    d = client.get_run(run_id).data
    assert len(d.metrics) == 1500 and len(d.params) == 150


def test_long_param_and_tag_values_are_truncated_like_mlflow(rest, run_id, client):
    """MLflow truncates param values to 6000 and run tag values to 8000 characters (server side
    too) instead of rejecting them."""
    r = rest.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "long", "value": "x" * 8001})
    assert r.status_code == 200, r.text
    r = rest.post(f"{API}/runs/set-tag", json={"run_id": run_id, "key": "longtag", "value": "y" * 9000})
    assert r.status_code == 200, r.text
    d = client.get_run(run_id).data
    assert d.params["long"] == "x" * 6000
    assert d.tags["longtag"] == "y" * 8000


def test_experiment_name_and_tag_length_limits(client, uniq):
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.create_experiment("x" * 501)
    eid = client.create_experiment(uniq)
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.set_experiment_tag(eid, "k", "x" * 20001)


# --- malformed requests ---------------------------------------------------------------------


def test_malformed_json_is_400(rest):
    r = rest.post(f"{API}/experiments/create", data=b"{not json",
                  headers={"Content-Type": "application/json"})
    assert_error(r, 400, ("INVALID_PARAMETER_VALUE", "BAD_REQUEST", "MALFORMED_REQUEST"))


def test_wrong_field_type_is_invalid_parameter_value(rest):
    r = rest.post(f"{API}/experiments/create", json={"name": 123})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    r = rest.post(f"{API}/runs/search", json={"experiment_ids": ["0"], "max_results": "abc"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    r = rest.post(f"{API}/runs/log-metric",
                  json={"run_id": "f" * 32, "key": "m", "value": "abc", "timestamp": 1})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    r = rest.get(f"{API}/experiments/search", params={"max_results": "x"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_missing_required_field_is_invalid_parameter_value(rest):
    assert_error(rest.post(f"{API}/experiments/create", json={}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(rest.get(f"{API}/experiments/get"), 400, "INVALID_PARAMETER_VALUE")
    assert_error(rest.get(f"{API}/metrics/get-history", params={"run_id": "f" * 32}), 400,
                 "INVALID_PARAMETER_VALUE")


@pytest.mark.whet_only
def test_json_array_body_is_400_not_500(rest):
    """MLflow 3.17 crashes with an HTML 500 on a JSON array body; whet must not."""
    r = rest.post(f"{API}/experiments/create", json=[1, 2])
    assert_error(r, 400, ("INVALID_PARAMETER_VALUE", "BAD_REQUEST", "MALFORMED_REQUEST"))


@pytest.mark.whet_only
def test_create_run_without_experiment_id_is_400_invalid_parameter_value(rest):
    """MLflow answers 400 BAD_REQUEST with a leaked SQL error; whet says which field is missing."""
    assert_error(rest.post(f"{API}/runs/create", json={}), 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("method,path,kw", [
    ("POST", f"{API}/experiments/create", {"data": b"\xff\xfe\x00garbage", "headers": {"Content-Type": "application/json"}}),
    ("POST", f"{API}/runs/log-batch", {"data": b'{"run_id": "' + b"a" * 32 + b'", "metrics": {}}', "headers": {"Content-Type": "application/json"}}),
    ("POST", f"{API}/runs/log-batch", {"json": {"run_id": 5, "metrics": "x"}}),
    ("POST", f"{API}/runs/log-metric", {"json": {"run_id": ["x"], "key": {}, "value": [], "timestamp": "t"}}),
    ("POST", f"{API}/experiments/search", {"json": {"max_results": -1}}),
    ("GET", f"{API}/runs/get", {"params": {"run_id": "x" * 5000}}),
    ("GET", f"{API}/registered-models/get", {"params": {}}),
    ("GET", f"{API}/model-versions/get", {"params": {"name": "x"}}),
    ("POST", f"{API}/registered-models/alias", {"json": {"name": "x"}}),
    ("GET", f"{API}/logged-models/not-a-model-id", {}),
    ("POST", f"{API}/logged-models/search", {"json": {"experiment_ids": "0"}}),
    ("GET", f"{API}/experiments/create", {}),
    ("PUT", f"{API}/experiments/create", {"json": {"name": "x"}}),
    ("DELETE", f"{API}/runs/get", {}),
    ("GET", f"{API}/no/such/endpoint", {}),
    ("POST", "/api/2.0/nosuch", {"json": {}}),
])
def test_bad_requests_get_a_4xx_never_a_5xx(rest, method, path, kw):
    r = rest.request(method, path, **kw)
    assert_client_error(r)


@pytest.mark.parametrize("method,path,kw", [
    ("POST", f"{API}/runs/search", {"json": {"experiment_ids": [None]}}),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts", {"params": {"path": "\x00"}}),
    ("POST", f"{API}/runs/search", {"json": {"experiment_ids": ["0"], "filter": ""}}),
    ("POST", f"{API}/experiments/search", {"json": {"filter": "", "order_by": []}}),
    ("GET", f"{API}/metrics/get-history", {"params": {"run_id": "f" * 32, "metric_key": "m"}}),
])
def test_odd_but_harmless_requests_never_get_a_5xx(rest, method, path, kw):
    """MLflow answers these 200 (an empty result); a 4xx is acceptable too, a 5xx is not."""
    r = rest.request(method, path, **kw)
    assert r.status_code < 500, f"{r.status_code}: {r.text[:300]}"


def test_unknown_endpoint_is_404(rest):
    assert rest.get(f"{API}/nosuch").status_code == 404
    assert rest.post(f"{API}/nosuch", json={}).status_code == 404


def test_wrong_method_on_known_endpoint_is_404_or_405(rest):
    assert rest.get(f"{API}/experiments/create").status_code in (404, 405)


def test_error_json_shape_is_error_code_and_message(rest):
    r = rest.get(f"{API}/runs/get", params={"run_id": "f" * 32})
    assert r.status_code == 404
    body = r.json()
    assert body["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert isinstance(body["message"], str) and body["message"]
    assert json.loads(r.text) == body

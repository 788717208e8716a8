"""Metric history: ordering, many points, the client's 25000-point pages and REST paging."""

from mlflow.entities import Metric

from compat_helpers import API, BASE_TS, assert_error


def _log_series(client, rid, key, n):
    ms = [Metric(key, i / 10, BASE_TS + i, i) for i in range(n)]
    for i in range(0, n, 1000):
        client.log_batch(rid, metrics=ms[i:i + 1000])


def test_get_metric_history_is_ordered_by_timestamp_then_step_then_value(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    client.log_metric(rid, "a", 5.0, timestamp=1000, step=5)
    client.log_metric(rid, "a", 2.0, timestamp=2000, step=2)
    client.log_metric(rid, "a", 4.0, timestamp=1000, step=1)
    client.log_metric(rid, "a", 3.0, timestamp=1000, step=1)
    h = client.get_metric_history(rid, "a")
    assert [(m.timestamp, m.step, m.value) for m in h] == [
        (1000, 1, 3.0), (1000, 1, 4.0), (1000, 5, 5.0), (2000, 2, 2.0)]
    assert all(m.key == "a" for m in h)


def test_get_metric_history_of_unknown_key_is_empty(client, experiment_id, rest):
    rid = client.create_run(experiment_id).info.run_id
    assert client.get_metric_history(rid, "nosuch") == []
    r = rest.get(f"{API}/metrics/get-history", params={"run_id": rid, "metric_key": "nosuch"})
    assert r.status_code == 200
    assert r.json().get("metrics", []) == []


def test_get_metric_history_of_unknown_run_is_empty_or_404(rest):
    """MLflow 3.17 answers 200 {} for a run that does not exist; 404 RESOURCE_DOES_NOT_EXIST
    is accepted too."""
    r = rest.get(f"{API}/metrics/get-history", params={"run_id": "f" * 32, "metric_key": "m"})
    if r.status_code == 200:
        assert r.json().get("metrics", []) == []
    else:
        assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_get_metric_history_with_many_points_pages_through_the_client(client, experiment_id):
    """MlflowClient.get_metric_history asks for pages of 25000 points (max_results=25000) and
    follows next_page_token: 25500 points need two pages."""
    rid = client.create_run(experiment_id).info.run_id
    n = 25_500
    _log_series(client, rid, "series", n)
    h = client.get_metric_history(rid, "series")
    assert len(h) == n
    assert [m.step for m in h] == list(range(n))
    assert h[-1].value == (n - 1) / 10 and h[-1].timestamp == BASE_TS + n - 1
    assert client.get_run(rid).data.metrics["series"] == (n - 1) / 10


def test_get_metric_history_rest_paging_covers_every_point_once(client, experiment_id, rest):
    rid = client.create_run(experiment_id).info.run_id
    n = 2_345
    _log_series(client, rid, "series", n)
    steps, token, pages = [], None, 0
    while True:
        params = {"run_id": rid, "metric_key": "series", "max_results": 1000}
        if token:
            params["page_token"] = token
        r = rest.get(f"{API}/metrics/get-history", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        page = body.get("metrics", [])
        assert len(page) <= 1000
        steps += [m["step"] for m in page]
        pages += 1
        token = body.get("next_page_token")
        if not token:
            break
        assert pages < 10
    assert pages == 3
    assert steps == list(range(n))


def test_get_metric_history_without_max_results_returns_everything(client, experiment_id, rest):
    rid = client.create_run(experiment_id).info.run_id
    _log_series(client, rid, "s", 1500)
    r = rest.get(f"{API}/metrics/get-history", params={"run_id": rid, "metric_key": "s"})
    assert r.status_code == 200
    body = r.json()
    assert len(body["metrics"]) == 1500 and not body.get("next_page_token")
    m = body["metrics"][3]
    assert m == {"key": "s", "value": 0.3, "timestamp": BASE_TS + 3, "step": 3}


def test_get_metric_history_max_results_zero_is_invalid_parameter_value(client, experiment_id, rest):
    rid = client.create_run(experiment_id).info.run_id
    r = rest.get(f"{API}/metrics/get-history",
                 params={"run_id": rid, "metric_key": "s", "max_results": 0})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")

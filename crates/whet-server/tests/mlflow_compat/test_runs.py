"""Runs: start/end, nesting, params, metrics, tags, batches, NaN and ±inf, deletion."""

import math

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType

from compat_helpers import API, BASE_TS, assert_error, is_neg_inf, is_pos_inf, raises_mlflow


def test_start_run_end_run_finishes_it(client, experiment_id):
    with mlflow.start_run(run_name="my-run", tags={"t1": "v1"}, description="desc here") as run:
        assert run.info.status == "RUNNING"
        live = client.get_run(run.info.run_id)
        assert live.info.status == "RUNNING" and live.info.end_time is None
    r = client.get_run(run.info.run_id)
    assert r.info.status == "FINISHED"
    assert r.info.run_name == "my-run"
    assert r.data.tags["mlflow.runName"] == "my-run"
    assert r.data.tags["t1"] == "v1"
    assert r.data.tags["mlflow.note.content"] == "desc here"
    assert r.info.end_time >= r.info.start_time > 1_600_000_000_000
    assert r.info.lifecycle_stage == "active"
    assert r.info.experiment_id == experiment_id


def test_run_without_name_gets_a_generated_one(client, experiment_id):
    with mlflow.start_run() as run:
        pass
    r = client.get_run(run.info.run_id)
    assert r.info.run_name
    assert r.data.tags["mlflow.runName"] == r.info.run_name


def test_exception_in_run_block_marks_it_failed(client, experiment_id):
    with pytest.raises(ValueError):
        with mlflow.start_run() as run:
            raise ValueError("boom")
    assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_end_run_with_status_killed(client, experiment_id):
    run = mlflow.start_run()
    mlflow.end_run(status="KILLED")
    assert client.get_run(run.info.run_id).info.status == "KILLED"


def test_nested_runs_carry_parent_run_id_tag(client, experiment_id):
    with mlflow.start_run(run_name="parent") as p:
        with mlflow.start_run(run_name="child", nested=True) as c:
            pass
    child = client.get_run(c.info.run_id)
    assert child.data.tags["mlflow.parentRunId"] == p.info.run_id
    assert client.get_parent_run(c.info.run_id).info.run_id == p.info.run_id
    kids = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{p.info.run_id}'",
                              output_format="list")
    assert [k.info.run_id for k in kids] == [c.info.run_id]


def test_start_run_with_existing_run_id_resumes_it(client, experiment_id):
    with mlflow.start_run() as run:
        mlflow.log_param("p", "1")
    with mlflow.start_run(run_id=run.info.run_id):
        assert client.get_run(run.info.run_id).info.status == "RUNNING"
        mlflow.log_metric("m", 2.0)
    r = client.get_run(run.info.run_id)
    assert r.info.status == "FINISHED"
    assert r.data.params == {"p": "1"} and r.data.metrics == {"m": 2.0}


def test_log_params_metrics_tags_round_trip(client, experiment_id):
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"depth": 5, "name": "gbdt", "none": None})
        mlflow.log_metric("loss", 0.5)
        mlflow.log_metric("loss", 0.4, step=1)
        mlflow.log_metric("acc", 0.9, step=3, timestamp=BASE_TS)
        mlflow.log_metrics({"m1": 1, "m2": 2.5}, step=2)
        mlflow.set_tag("tag1", "val")
        mlflow.set_tags({"tag2": "v2", "tag3": 3})
        mlflow.delete_tag("tag2")
    r = client.get_run(run.info.run_id)
    assert r.data.params == {"lr": "0.01", "depth": "5", "name": "gbdt", "none": "None"}
    assert r.data.metrics == {"loss": 0.4, "acc": 0.9, "m1": 1.0, "m2": 2.5}
    user_tags = {k: v for k, v in r.data.tags.items() if not k.startswith("mlflow.")}
    assert user_tags == {"tag1": "val", "tag3": "3"}
    acc = client.get_metric_history(run.info.run_id, "acc")
    assert [(m.value, m.timestamp, m.step) for m in acc] == [(0.9, BASE_TS, 3)]


def test_log_batch_metrics_params_tags(client, experiment_id):
    run = client.create_run(experiment_id)
    rid = run.info.run_id
    client.log_batch(
        rid,
        metrics=[Metric("b1", 1.0, BASE_TS + 1, 0), Metric("b1", 2.0, BASE_TS + 2, 1)],
        params=[Param("bp", "x")],
        tags=[RunTag("bt", "y")],
    )
    client.log_batch(rid)  # an empty batch is fine
    r = client.get_run(rid)
    assert r.data.metrics == {"b1": 2.0}
    assert r.data.params == {"bp": "x"}
    assert r.data.tags["bt"] == "y"
    hist = client.get_metric_history(rid, "b1")
    assert [(m.value, m.timestamp, m.step) for m in hist] == [(1.0, BASE_TS + 1, 0), (2.0, BASE_TS + 2, 1)]


def test_log_param_same_value_twice_is_accepted(client, experiment_id):
    run = client.create_run(experiment_id)
    client.log_param(run.info.run_id, "p", "1")
    client.log_param(run.info.run_id, "p", "1")
    client.log_batch(run.info.run_id, params=[Param("p", "1")])
    assert client.get_run(run.info.run_id).data.params == {"p": "1"}


def test_log_param_changing_value_is_invalid_parameter_value(client, experiment_id, rest):
    run = client.create_run(experiment_id)
    rid = run.info.run_id
    client.log_param(rid, "p", "1")
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.log_param(rid, "p", "2")
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.log_batch(rid, params=[Param("p", "3")])
    assert_error(rest.post(f"{API}/runs/log-parameter", json={"run_id": rid, "key": "p", "value": "4"}),
                 400, "INVALID_PARAMETER_VALUE")
    assert client.get_run(rid).data.params == {"p": "1"}


def test_run_metric_is_value_at_highest_step_then_latest_timestamp_then_max_value(client, experiment_id):
    """The run's latest metric is not the last one logged: highest step wins, then the latest
    timestamp, then the largest value."""
    rid = client.create_run(experiment_id).info.run_id
    client.log_metric(rid, "a", 5.0, timestamp=1000, step=5)
    client.log_metric(rid, "a", 2.0, timestamp=2000, step=2)
    client.log_metric(rid, "b", 1.0, timestamp=1000, step=1)
    client.log_metric(rid, "b", 3.0, timestamp=3000, step=1)
    client.log_metric(rid, "b", 2.0, timestamp=2000, step=1)
    client.log_metric(rid, "c", 1.0, timestamp=1000, step=1)
    client.log_metric(rid, "c", 7.0, timestamp=1000, step=1)
    client.log_metric(rid, "c", 3.0, timestamp=1000, step=1)
    assert client.get_run(rid).data.metrics == {"a": 5.0, "b": 3.0, "c": 7.0}


def test_nan_and_inf_metrics_round_trip(client, experiment_id):
    """The client sends NaN/±inf as the JSON strings "NaN", "Infinity", "-Infinity". NaN comes
    back as NaN; ±inf as ±inf (MLflow itself returns ±1.7976931348623157e308)."""
    with mlflow.start_run() as run:
        mlflow.log_metric("nan", float("nan"))
        mlflow.log_metric("pinf", float("inf"))
        mlflow.log_metric("ninf", float("-inf"))
        mlflow.log_metric("zero", 0.0)
        mlflow.log_metric("neg", -1.5e-300)
    client.log_batch(run.info.run_id, metrics=[
        Metric("bnan", float("nan"), BASE_TS, 0),
        Metric("binf", float("inf"), BASE_TS, 0),
        Metric("bninf", float("-inf"), BASE_TS, 0),
    ])
    m = client.get_run(run.info.run_id).data.metrics
    assert math.isnan(m["nan"]) and math.isnan(m["bnan"])
    assert is_pos_inf(m["pinf"]) and is_pos_inf(m["binf"])
    assert is_neg_inf(m["ninf"]) and is_neg_inf(m["bninf"])
    assert m["zero"] == 0.0 and m["neg"] == -1.5e-300
    assert math.isnan(client.get_metric_history(run.info.run_id, "nan")[0].value)
    assert is_pos_inf(client.get_metric_history(run.info.run_id, "pinf")[0].value)
    assert is_neg_inf(client.get_metric_history(run.info.run_id, "bninf")[0].value)


def test_nan_metric_raw_request_and_response_use_json_strings(rest, client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    for key, value in [("n", "NaN"), ("p", "Infinity"), ("m", "-Infinity")]:
        r = rest.post(f"{API}/runs/log-metric",
                      json={"run_id": rid, "key": key, "value": value, "timestamp": BASE_TS, "step": 0})
        assert r.status_code == 200, r.text
    r = rest.get(f"{API}/runs/get", params={"run_id": rid})
    assert r.status_code == 200
    metrics = {m["key"]: m["value"] for m in r.json()["run"]["data"]["metrics"]}
    # JSON has no NaN literal: it must be the string "NaN" (protobuf's JSON mapping)
    assert metrics["n"] == "NaN"
    assert metrics["p"] in ("Infinity", 1.7976931348623157e308)
    assert metrics["m"] in ("-Infinity", -1.7976931348623157e308)


def test_metric_numbers_may_be_sent_as_json_strings(rest, client, experiment_id):
    """Protobuf's JSON mapping accepts int64/double fields as strings too."""
    rid = client.create_run(experiment_id).info.run_id
    r = rest.post(f"{API}/runs/log-metric",
                  json={"run_id": rid, "key": "sn", "value": "1.5", "timestamp": "2", "step": "3"})
    assert r.status_code == 200, r.text
    h = client.get_metric_history(rid, "sn")
    assert [(x.value, x.timestamp, x.step) for x in h] == [(1.5, 2, 3)]


def test_log_metric_without_timestamp_is_invalid_parameter_value(rest, client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    r = rest.post(f"{API}/runs/log-metric", json={"run_id": rid, "key": "k", "value": 1.0})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_set_tag_mlflow_run_name_renames_the_run(client, experiment_id):
    rid = client.create_run(experiment_id, run_name="orig").info.run_id
    client.set_tag(rid, "mlflow.runName", "via-tag")
    assert client.get_run(rid).info.run_name == "via-tag"
    client.update_run(rid, name="via-update")
    r = client.get_run(rid)
    assert r.info.run_name == "via-update" and r.data.tags["mlflow.runName"] == "via-update"


def test_update_run_name_status_and_set_terminated(client, experiment_id):
    run = client.create_run(experiment_id, run_name="orig", tags={"x": "y"}, start_time=BASE_TS)
    rid = run.info.run_id
    assert run.info.start_time == BASE_TS
    client.update_run(rid, name="renamed")
    client.update_run(rid, status="FAILED")
    assert client.get_run(rid).info.status == "FAILED"
    client.set_terminated(rid, status="KILLED", end_time=BASE_TS + 9999)
    r = client.get_run(rid)
    assert (r.info.run_name, r.info.status, r.info.start_time, r.info.end_time) == (
        "renamed", "KILLED", BASE_TS, BASE_TS + 9999)
    assert r.data.tags["mlflow.runName"] == "renamed" and r.data.tags["x"] == "y"


def test_delete_tag_missing_is_resource_does_not_exist(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.delete_tag(rid, "nosuch")


def test_delete_and_restore_run(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    client.set_terminated(rid)
    client.delete_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    flt = f"attributes.run_id = '{rid}'"
    assert client.search_runs([experiment_id], flt) == []
    assert len(client.search_runs([experiment_id], flt, run_view_type=ViewType.DELETED_ONLY)) == 1
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.log_param(rid, "p", "1")
    client.restore_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "active"
    assert len(client.search_runs([experiment_id], flt)) == 1


def test_unknown_run_is_resource_does_not_exist(client, rest):
    missing = "0" * 32
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.get_run(missing)
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.log_metric(missing, "m", 1.0)
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.set_tag(missing, "k", "v")
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.delete_run(missing)
    assert_error(rest.get(f"{API}/runs/get", params={"run_id": "f" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")


def test_create_run_in_missing_experiment_is_resource_does_not_exist(client):
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.create_run("987654")


def test_get_run_accepts_run_uuid_and_run_id_query_params(rest, client, experiment_id):
    """The client sends both run_uuid and run_id (same value) on GETs and in POST bodies."""
    rid = client.create_run(experiment_id).info.run_id
    for params in ({"run_id": rid}, {"run_uuid": rid}, {"run_uuid": rid, "run_id": rid}):
        r = rest.get(f"{API}/runs/get", params=params)
        assert r.status_code == 200, (params, r.text)
        assert r.json()["run"]["info"]["run_id"] == rid
    r = rest.post(f"{API}/runs/log-parameter", json={"run_uuid": rid, "key": "k", "value": "v"})
    assert r.status_code == 200, r.text


def test_invalid_metric_names_are_invalid_parameter_value(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.log_metric(rid, "../bad", 1.0)
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.log_metric(rid, "m" * 251, 1.0)
    client.log_metric(rid, "m" * 250, 1.0)


def test_identical_metric_points_are_stored_once(client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    client.log_metric(rid, "d", 1.0, timestamp=1000, step=1)
    client.log_metric(rid, "d", 1.0, timestamp=1000, step=1)
    client.log_batch(rid, metrics=[Metric("e", 1.0, 1, 1), Metric("e", 1.0, 1, 1)])
    assert len(client.get_metric_history(rid, "d")) == 1
    assert len(client.get_metric_history(rid, "e")) == 1


def test_runs_data_matches_reference(compare):
    """get_run after a mixed session: params, latest metrics, tags, status (ids and times
    aside) equal MLflow's."""
    from compat_helpers import run_record

    def scenario(side):
        eid = side.client.create_experiment(side.prefix)
        mlflow.set_experiment(experiment_id=eid)
        with mlflow.start_run(run_name="parent") as p:
            mlflow.log_params({"a": 1, "b": "x"})
            mlflow.log_metrics({"m": 1.0, "n": float("nan")}, step=0)
            mlflow.log_metric("m", 0.5, step=1)
            mlflow.set_tags({"t": "1", "u": "2"})
            mlflow.delete_tag("u")
            with mlflow.start_run(run_name="child", nested=True) as c:
                mlflow.log_metric("inf", float("inf"))
        return [run_record(side.client.get_run(x.info.run_id)) for x in (p, c)]

    compare.same(scenario, "runs")

"""Dataset inputs: mlflow.log_input with a pandas dataset (runs/log-inputs)."""

import json

import mlflow
import pandas as pd

from compat_helpers import API


def _dataset(name="train-df"):
    df = pd.DataFrame({"a": [1, 2, 3], "b": [0.1, 0.2, 0.3], "y": [0, 1, 0]})
    return mlflow.data.from_pandas(df, source="file:///tmp/train.csv", name=name, targets="y")


def _inputs(run):
    out = []
    for di in run.inputs.dataset_inputs:
        d = di.dataset
        out.append({
            "name": d.name, "digest": d.digest, "source_type": d.source_type,
            "source": json.loads(d.source), "schema": json.loads(d.schema),
            "profile": json.loads(d.profile),
            "tags": sorted((t.key, t.value) for t in di.tags),
        })
    return sorted(out, key=lambda x: (x["name"], x["tags"]))


def test_log_input_pandas_dataset_round_trips(client, experiment_id):
    ds = _dataset()
    with mlflow.start_run() as run:
        mlflow.log_input(ds, context="training", tags={"extra": "t"})
    (got,) = _inputs(client.get_run(run.info.run_id))
    assert got["name"] == "train-df"
    assert got["digest"] == ds.digest
    assert got["source_type"] == "local"
    assert got["source"] == {"uri": "file:///tmp/train.csv"}
    assert [c["name"] for c in got["schema"]["mlflow_colspec"]] == ["a", "b", "y"]
    assert got["profile"] == {"num_rows": 3, "num_elements": 9}
    assert got["tags"] == [("extra", "t"), ("mlflow.data.context", "training")]


def test_log_input_raw_request_shape(rest, client, experiment_id):
    rid = client.create_run(experiment_id).info.run_id
    body = {"run_id": rid, "datasets": [{
        "tags": [{"key": "mlflow.data.context", "value": "eval"}],
        "dataset": {"name": "d", "digest": "abc123", "source_type": "local",
                    "source": "{\"uri\": \"x\"}", "schema": "{}", "profile": "{}"},
    }]}
    r = rest.post(f"{API}/runs/log-inputs", json=body)
    assert r.status_code == 200, r.text
    r = rest.get(f"{API}/runs/get", params={"run_id": rid})
    di = r.json()["run"]["inputs"]["dataset_inputs"]
    assert di[0]["dataset"]["name"] == "d" and di[0]["dataset"]["digest"] == "abc123"
    assert di[0]["tags"] == [{"key": "mlflow.data.context", "value": "eval"}]


def test_log_inputs_match_reference(compare):
    def scenario(side):
        eid = side.client.create_experiment(side.prefix)
        mlflow.set_experiment(experiment_id=eid)
        with mlflow.start_run() as run:
            mlflow.log_input(_dataset("a"), context="training")
            mlflow.log_input(_dataset("a"), context="training")  # the same input twice
            mlflow.log_input(_dataset("b"), context="eval")
        return _inputs(side.client.get_run(run.info.run_id))

    compare.same(scenario, "dataset inputs")


def test_search_runs_by_dataset_matches_reference(compare):
    def scenario(side):
        eid = side.client.create_experiment(side.prefix)
        mlflow.set_experiment(experiment_id=eid)
        for name, ctx in [("a", "training"), ("b", "eval")]:
            with mlflow.start_run(run_name=f"run-{name}"):
                mlflow.log_input(_dataset(name), context=ctx)
        c = side.client
        return {
            "name": [r.info.run_name for r in c.search_runs([eid], "dataset.name = 'a'")],
            "context": [r.info.run_name for r in c.search_runs([eid], "dataset.context = 'eval'")],
        }

    compare.same(scenario, "search by dataset")


def test_model_inputs_round_trip_and_match_reference(compare):
    from mlflow.entities import LoggedModelInput

    def scenario(side):
        eid = side.client.create_experiment(side.prefix)
        a = side.client.create_logged_model(eid, name="a")
        b = side.client.create_logged_model(eid, name="b")
        rid = side.client.create_run(eid).info.run_id
        side.client.log_inputs(rid, models=[LoggedModelInput(a.model_id)])
        side.client.log_inputs(rid, datasets=[], models=[LoggedModelInput(b.model_id),
                                                          LoggedModelInput(a.model_id)])
        got = side.client.get_run(rid).inputs.model_inputs
        ids = {a.model_id: "a", b.model_id: "b"}
        return sorted(ids[m.model_id] for m in got)

    compare.same(scenario, "model inputs")

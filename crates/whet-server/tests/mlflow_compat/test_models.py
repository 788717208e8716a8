"""MLflow 3 models: mlflow.sklearn.log_model with registration, loading by models:/name@alias,
and the logged-model API (create, get, tags, params, finalize, search, delete)."""

import re
import warnings

import mlflow
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from compat_helpers import API, ARTIFACTS, assert_error, raises_mlflow

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning)

X = np.array([[0, 0], [1, 1], [0, 1], [1, 0], [2, 2], [3, 1], [0.5, 2.5], [2.5, 0.2]], dtype=float)
Y = np.array([0, 1, 0, 1, 1, 1, 0, 1])


@pytest.fixture(scope="module")
def model():
    return LogisticRegression().fit(X, Y)


def test_sklearn_log_model_register_and_load_by_alias_predicts_the_same(client, uniq, experiment_id, model):
    with mlflow.start_run() as run:
        mlflow.log_param("C", 1.0)
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=uniq,
                                        input_example=X[:2], pip_requirements=["scikit-learn"])
        mlflow.log_metric("acc", 1.0, model_id=info.model_id)
    assert re.fullmatch(r"m-[0-9a-f]{32}", info.model_id)
    assert info.model_uri == f"models:/{info.model_id}"
    assert str(info.registered_model_version) == "1"
    client.set_registered_model_alias(uniq, "prod", info.registered_model_version)

    want_pred = model.predict(X)
    want_proba = model.predict_proba(X)
    by_alias = mlflow.pyfunc.load_model(f"models:/{uniq}@prod")
    np.testing.assert_array_equal(by_alias.predict(X), want_pred)
    by_version = mlflow.sklearn.load_model(f"models:/{uniq}/1")
    np.testing.assert_allclose(by_version.predict_proba(X), want_proba)
    by_id = mlflow.sklearn.load_model(f"models:/{info.model_id}")
    np.testing.assert_array_equal(by_id.predict(X), want_pred)
    by_run = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(by_run.predict(X), want_pred)

    mv = client.get_model_version(uniq, "1")
    assert mv.source == f"models:/{info.model_id}"
    assert mv.run_id == run.info.run_id  # filled in from the logged model's source run
    assert client.get_model_version_download_uri(uniq, "1") == \
        f"mlflow-artifacts:/{experiment_id}/models/{info.model_id}/artifacts"

    lm = client.get_logged_model(info.model_id)
    assert lm.status == "READY"
    assert lm.source_run_id == run.info.run_id
    assert lm.artifact_location == f"mlflow-artifacts:/{experiment_id}/models/{info.model_id}/artifacts"
    assert lm.params == {"C": "1.0"}
    assert [(m.key, m.value) for m in lm.metrics] == [("acc", 1.0)]
    assert lm.metrics[0].run_id == run.info.run_id and lm.metrics[0].model_id == info.model_id

    r = client.get_run(run.info.run_id)
    assert [o.model_id for o in r.outputs.model_outputs] == [info.model_id]


def test_logged_model_artifacts_are_listed_under_models_prefix(client, uniq, experiment_id, model, rest):
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="m", pip_requirements=["scikit-learn"])
    names = sorted(f.path for f in client.list_logged_model_artifacts(info.model_id))
    assert {"MLmodel", "model.skops", "requirements.txt"} <= set(names) or \
        {"MLmodel", "model.pkl", "requirements.txt"} <= set(names)
    r = rest.get(ARTIFACTS, params={"path": f"{experiment_id}/models/{info.model_id}/artifacts"})
    assert r.status_code == 200
    assert {f["path"] for f in r.json()["files"]} == set(names)


def test_create_logged_model_get_tags_params_finalize(client, experiment_id):
    with mlflow.start_run() as run:
        lm = client.create_logged_model(experiment_id, name="m1", source_run_id=run.info.run_id,
                                        tags={"a": "1"}, params={"p": "1"}, model_type="clf")
    assert re.fullmatch(r"m-[0-9a-f]{32}", lm.model_id)
    assert lm.status == "PENDING"
    got = client.get_logged_model(lm.model_id)
    assert (got.name, got.experiment_id, got.model_type, got.source_run_id) == (
        "m1", experiment_id, "clf", run.info.run_id)
    assert got.tags == {"a": "1"} and got.params == {"p": "1"}
    assert got.artifact_location == f"mlflow-artifacts:/{experiment_id}/models/{lm.model_id}/artifacts"
    client.set_logged_model_tags(lm.model_id, {"b": "2"})
    client.delete_logged_model_tag(lm.model_id, "a")
    client.log_model_params(lm.model_id, {"p2": "2"})
    fin = client.finalize_logged_model(lm.model_id, "READY")
    assert fin.status == "READY"
    got = client.get_logged_model(lm.model_id)
    assert got.tags == {"b": "2"} and got.params == {"p": "1", "p2": "2"}
    assert got.status == "READY"
    assert got.last_updated_timestamp >= got.creation_timestamp


def test_initialize_logged_model_and_finalize_failed(client, experiment_id):
    lm = mlflow.initialize_logged_model(name="m2", experiment_id=experiment_id)
    assert client.finalize_logged_model(lm.model_id, "FAILED").status == "FAILED"
    assert client.get_logged_model(lm.model_id).status == "FAILED"


def test_delete_logged_model(client, experiment_id):
    lm = client.create_logged_model(experiment_id, name="gone")
    client.delete_logged_model(lm.model_id)
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.get_logged_model(lm.model_id)
    assert [m.model_id for m in client.search_logged_models([experiment_id])] == []


def test_missing_logged_model_is_resource_does_not_exist(client, rest):
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.get_logged_model("m-" + "0" * 32)
    assert_error(rest.get(f"{API}/logged-models/m-{'0' * 32}"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_search_logged_models_filter_order_and_pages(client, experiment_id):
    ids = []
    for name, tag in [("m1", "x"), ("m2", "y"), ("m3", "x")]:
        ids.append(client.create_logged_model(experiment_id, name=name, tags={"t": tag}).model_id)
    client.finalize_logged_model(ids[0], "READY")
    all_ = client.search_logged_models([experiment_id])
    assert [m.name for m in all_] == ["m3", "m2", "m1"]  # newest first
    asc = client.search_logged_models([experiment_id],
                                      order_by=[{"field_name": "creation_time", "ascending": True}])
    assert [m.name for m in asc] == ["m1", "m2", "m3"]
    assert [m.name for m in client.search_logged_models([experiment_id], filter_string="name = 'm2'")] == ["m2"]
    tagged = client.search_logged_models([experiment_id], filter_string="tags.t = 'x'")
    assert sorted(m.name for m in tagged) == ["m1", "m3"]
    p1 = client.search_logged_models([experiment_id], max_results=2)
    assert len(p1) == 2 and p1.token
    p2 = client.search_logged_models([experiment_id], max_results=2, page_token=p1.token)
    assert [m.name for m in p2] == ["m1"] and not p2.token
    df = mlflow.search_logged_models(experiment_ids=[experiment_id])
    assert sorted(df["name"]) == ["m1", "m2", "m3"]


def test_search_logged_models_matches_reference(compare):
    def scenario(side):
        c = side.client
        eid = c.create_experiment(side.prefix)
        run = c.create_run(eid)
        for i, (name, tag) in enumerate([("a", "x"), ("b", "y"), ("c", "x"), ("a", "z")]):
            lm = c.create_logged_model(eid, name=name, tags={"t": tag}, params={"i": str(i)},
                                       source_run_id=run.info.run_id if i % 2 == 0 else None)
            if i < 2:
                c.finalize_logged_model(lm.model_id, "READY")
        rec = lambda ms: [(m.name, m.status, dict(m.tags), dict(m.params)) for m in ms]  # noqa: E731
        return {
            "all": rec(c.search_logged_models([eid])),
            "name": rec(c.search_logged_models([eid], filter_string="name = 'a'")),
            "tag": rec(c.search_logged_models([eid], filter_string="tags.t = 'x'")),
            "run": rec(c.search_logged_models(
                [eid], filter_string=f"source_run_id = '{run.info.run_id}'")),
            "name_asc": rec(c.search_logged_models(
                [eid], order_by=[{"field_name": "name", "ascending": True},
                                 {"field_name": "creation_time", "ascending": True}])),
        }

    compare.same(scenario, "search_logged_models")


def test_runs_uri_resolves_logged_model_by_name_lookup(client, experiment_id, rest):
    """For runs:/<run>/<name>/... the client searches logged models with filter
    name = '<name>' in the run's experiment and keeps the one whose source_run_id matches."""
    r = rest.post(f"{API}/logged-models/search",
                  json={"experiment_ids": [experiment_id], "filter": "name = 'nothing'"})
    assert r.status_code == 200, r.text
    assert r.json().get("models", []) == []


def test_logged_model_raw_shapes(rest, experiment_id):
    r = rest.post(f"{API}/logged-models", json={"experiment_id": experiment_id, "name": "raw",
                                                "params": [{"key": "p", "value": "1"}],
                                                "tags": [{"key": "t", "value": "v"}]})
    assert r.status_code == 200, r.text
    info = r.json()["model"]["info"]
    mid = info["model_id"]
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["experiment_id"] == experiment_id
    assert isinstance(info["creation_timestamp_ms"], int)
    assert info["artifact_uri"] == f"mlflow-artifacts:/{experiment_id}/models/{mid}/artifacts"
    r = rest.patch(f"{API}/logged-models/{mid}", json={"model_id": mid, "status": "LOGGED_MODEL_READY"})
    assert r.status_code == 200 and r.json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    r = rest.patch(f"{API}/logged-models/{mid}/tags", json={"tags": [{"key": "k", "value": "v"}]})
    assert r.status_code == 200
    r = rest.delete(f"{API}/logged-models/{mid}/tags/k")
    assert r.status_code == 200
    r = rest.post(f"{API}/logged-models/{mid}/params",
                  json={"model_id": mid, "params": [{"key": "q", "value": "2"}]})
    assert r.status_code == 200
    r = rest.get(f"{API}/logged-models/{mid}")
    model = r.json()["model"]
    assert {t["key"]: t["value"] for t in model["info"].get("tags", [])} == {"t": "v"}
    assert {p["key"]: p["value"] for p in model["data"]["params"]} == {"p": "1", "q": "2"}
    r = rest.post(f"{API}/logged-models/search", json={"experiment_ids": [experiment_id], "max_results": 1})
    assert r.status_code == 200 and len(r.json()["models"]) == 1


def test_logged_model_files_are_listed_and_read_as_mlflows_ui_reads_them(client, rest, experiment_id, model):
    info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
    lm = client.get_logged_model(info.model_id)
    ui = "/ajax-api/2.0/mlflow/logged-models"

    listed = rest.get(f"{ui}/{info.model_id}/artifacts/directories")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["root_uri"] == lm.artifact_location
    files = {f["path"]: f for f in body["files"]}
    assert {"MLmodel", "requirements.txt"} <= set(files)
    assert not files["MLmodel"]["is_dir"] and files["MLmodel"]["file_size"] > 0
    # The same listing is a public API endpoint (ListLoggedModelArtifacts).
    assert rest.get(f"{API}/logged-models/{info.model_id}/artifacts/directories").json() == body

    mlmodel = rest.get(f"{ui}/{info.model_id}/artifacts/files", params={"artifact_file_path": "MLmodel"})
    assert mlmodel.status_code == 200
    assert info.model_id in mlmodel.text
    assert int(mlmodel.headers["Content-Length"]) == files["MLmodel"]["file_size"]

    missing_param = rest.get(f"{ui}/{info.model_id}/artifacts/files")
    assert missing_param.status_code == 400
    escape = rest.get(f"{ui}/{info.model_id}/artifacts/files", params={"artifact_file_path": "../x"})
    assert escape.status_code == 400
    unknown = rest.get(f"{ui}/m-{'0' * 32}/artifacts/directories")
    assert unknown.status_code == 404

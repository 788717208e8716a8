"""Model registry: registered models, versions from runs, aliases, tags, stages, search,
rename, delete, download URIs."""

import warnings

import mlflow
import pytest

from compat_helpers import (
    API,
    assert_error,
    model_version_record,
    raises_mlflow,
    registered_model_record,
)

warnings.filterwarnings("ignore", category=FutureWarning)


@pytest.fixture
def run_id(experiment_id):
    with mlflow.start_run() as run:
        mlflow.log_text("x", "model/MLmodel")
    return run.info.run_id


def test_create_registered_model_and_versions_from_a_run(client, uniq, run_id):
    rm = client.create_registered_model(uniq, tags={"owner": "me"}, description="first")
    assert rm.name == uniq and rm.description == "first" and rm.tags == {"owner": "me"}
    mv1 = client.create_model_version(uniq, f"runs:/{run_id}/model", run_id=run_id,
                                      tags={"v": "1"}, description="v1 desc")
    mv2 = client.create_model_version(uniq, f"runs:/{run_id}/model", run_id=run_id)
    assert (mv1.version, mv2.version) == ("1", "2")  # strings
    assert mv1.status == "READY"  # the client waits while PENDING_REGISTRATION
    assert mv1.current_stage == "None"
    assert mv1.source == f"runs:/{run_id}/model" and mv1.run_id == run_id
    assert mv1.tags == {"v": "1"} and mv1.description == "v1 desc"
    got = client.get_model_version(uniq, "1")
    assert (got.version, got.description, got.tags) == ("1", "v1 desc", {"v": "1"})
    rm = client.get_registered_model(uniq)
    assert [v.version for v in rm.latest_versions] == ["2"]


def test_create_registered_model_duplicate_is_resource_already_exists(client, uniq, rest):
    client.create_registered_model(uniq)
    with raises_mlflow("RESOURCE_ALREADY_EXISTS"):
        client.create_registered_model(uniq)
    assert_error(rest.post(f"{API}/registered-models/create", json={"name": uniq}), 400,
                 "RESOURCE_ALREADY_EXISTS")


def test_create_registered_model_without_name_is_invalid_parameter_value(client):
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.create_registered_model("")


def test_aliases_set_move_get_and_delete(client, uniq, run_id):
    client.create_registered_model(uniq)
    for _ in range(2):
        client.create_model_version(uniq, f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias(uniq, "champion", "1")
    client.set_registered_model_alias(uniq, "challenger", 2)
    mv = client.get_model_version_by_alias(uniq, "champion")
    assert mv.version == "1" and mv.aliases == ["champion"]
    assert client.get_registered_model(uniq).aliases == {"champion": "1", "challenger": "2"}
    client.set_registered_model_alias(uniq, "champion", "2")  # moves the alias
    assert client.get_registered_model(uniq).aliases == {"champion": "2", "challenger": "2"}
    assert sorted(client.get_model_version(uniq, "2").aliases) == ["challenger", "champion"]
    assert client.get_model_version(uniq, "1").aliases == []
    client.delete_registered_model_alias(uniq, "challenger")
    assert client.get_registered_model(uniq).aliases == {"champion": "2"}


def test_missing_alias_is_invalid_parameter_value(client, uniq, rest):
    """MLflow answers 400 INVALID_PARAMETER_VALUE (not 404) for an unknown alias."""
    client.create_registered_model(uniq)
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.get_model_version_by_alias(uniq, "nosuch")
    assert_error(rest.get(f"{API}/registered-models/alias", params={"name": uniq, "alias": "nosuch"}),
                 400, "INVALID_PARAMETER_VALUE")


def test_alias_on_missing_model_is_resource_does_not_exist(client, uniq):
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.set_registered_model_alias(uniq + "-nope", "a", "1")


def test_update_descriptions_and_tags(client, uniq, run_id):
    client.create_registered_model(uniq, tags={"owner": "me"}, description="first")
    client.create_model_version(uniq, f"runs:/{run_id}/model", run_id=run_id, tags={"v": "1"})
    client.update_registered_model(uniq, description="second")
    client.update_model_version(uniq, "1", description="new desc")
    client.set_registered_model_tag(uniq, "k", "v")
    client.delete_registered_model_tag(uniq, "owner")
    client.set_model_version_tag(uniq, "1", "mk", "mv")
    client.delete_model_version_tag(uniq, "1", "v")
    rm = client.get_registered_model(uniq)
    assert rm.description == "second" and rm.tags == {"k": "v"}
    mv = client.get_model_version(uniq, "1")
    assert mv.description == "new desc" and mv.tags == {"mk": "mv"}


def test_stages_and_get_latest_versions(client, uniq, run_id):
    client.create_registered_model(uniq)
    for _ in range(3):
        client.create_model_version(uniq, f"runs:/{run_id}/model", run_id=run_id)
    mv = client.transition_model_version_stage(uniq, "1", "Staging")
    assert mv.current_stage == "Staging"
    client.transition_model_version_stage(uniq, "2", "Production")
    assert [v.version for v in client.get_latest_versions(uniq, stages=["Staging"])] == ["1"]
    assert [v.version for v in client.get_latest_versions(uniq, stages=["None"])] == ["3"]
    latest = sorted((v.current_stage, v.version) for v in client.get_latest_versions(uniq))
    assert latest == [("None", "3"), ("Production", "2"), ("Staging", "1")]
    client.transition_model_version_stage(uniq, "3", "Production", archive_existing_versions=True)
    assert client.get_model_version(uniq, "2").current_stage == "Archived"


def test_get_model_version_download_uri(client, uniq, run_id, rest):
    client.create_registered_model(uniq)
    client.create_model_version(uniq, f"runs:/{run_id}/model", run_id=run_id)
    assert client.get_model_version_download_uri(uniq, "1") == f"runs:/{run_id}/model"
    r = rest.get(f"{API}/model-versions/get-download-uri", params={"name": uniq, "version": "1"})
    assert r.status_code == 200 and r.json() == {"artifact_uri": f"runs:/{run_id}/model"}


def test_rename_registered_model_keeps_versions_and_aliases(client, uniq, run_id):
    client.create_registered_model(uniq)
    client.create_model_version(uniq, f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias(uniq, "prod", "1")
    client.rename_registered_model(uniq, uniq + "-renamed")
    assert client.get_registered_model(uniq + "-renamed").name == uniq + "-renamed"
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.get_registered_model(uniq)
    assert client.get_model_version(uniq + "-renamed", "1").name == uniq + "-renamed"
    assert client.get_model_version_by_alias(uniq + "-renamed", "prod").version == "1"


def test_delete_model_version_and_registered_model(client, uniq, run_id):
    client.create_registered_model(uniq)
    for _ in range(2):
        client.create_model_version(uniq, f"runs:/{run_id}/model", run_id=run_id)
    client.delete_model_version(uniq, "2")
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.get_model_version(uniq, "2")
    # version numbers are not reused
    assert client.create_model_version(uniq, f"runs:/{run_id}/model", run_id=run_id).version == "3"
    client.delete_registered_model(uniq)
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.get_registered_model(uniq)
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.get_model_version(uniq, "1")


def test_missing_model_and_version_are_resource_does_not_exist(client, uniq, rest):
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.get_registered_model(uniq)
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.get_model_version(uniq, "1")
    assert_error(rest.get(f"{API}/registered-models/get", params={"name": uniq}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    assert_error(rest.get(f"{API}/model-versions/get", params={"name": uniq, "version": "1"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")


def test_non_integer_version_is_invalid_parameter_value(client, rest, uniq):
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.get_model_version(uniq, "abc")


def test_search_registered_models_with_the_clients_prompt_filter(client, uniq, rest):
    """search_registered_models appends AND tag.`mlflow.prompt.is_prompt` != 'true' to every
    filter and sends it as GET query parameters (max_results=100)."""
    client.create_registered_model(uniq + "-a", tags={"k": "v"})
    client.create_registered_model(uniq + "-b")
    # the client refuses to create a prompt as a model: make one the way the prompt API does
    r = rest.post(f"{API}/registered-models/create",
                  json={"name": uniq + "-prompt", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]})
    assert r.status_code == 200, r.text
    got = client.search_registered_models(filter_string=f"name LIKE '{uniq}%'")
    assert [m.name for m in got] == [uniq + "-a", uniq + "-b"]
    got = client.search_registered_models(filter_string=f"name LIKE '{uniq}%' AND tags.k = 'v'")
    assert [m.name for m in got] == [uniq + "-a"]
    r = rest.get(f"{API}/registered-models/search", params={
        "filter": f"name LIKE '{uniq}%' AND tag.`mlflow.prompt.is_prompt` != 'true'", "max_results": 100})
    assert r.status_code == 200, r.text
    assert [m["name"] for m in r.json()["registered_models"]] == [uniq + "-a", uniq + "-b"]


def test_search_model_versions(client, uniq, run_id):
    client.create_registered_model(uniq)
    for i in range(3):
        client.create_model_version(uniq, f"runs:/{run_id}/model", run_id=run_id, tags={"i": str(i)})
    got = client.search_model_versions(f"name = '{uniq}'")
    assert sorted(v.version for v in got) == ["1", "2", "3"]
    got = client.search_model_versions(f"run_id = '{run_id}'")
    assert sorted(v.version for v in got) == ["1", "2", "3"]
    got = client.search_model_versions(f"name = '{uniq}' and tags.i = '1'")
    assert [v.version for v in got] == ["2"]


def test_search_registered_models_and_versions_match_reference(compare):
    def scenario(side):
        c, p = side.client, side.prefix
        eid = c.create_experiment(p)
        run = c.create_run(eid)
        rid = run.info.run_id
        for suffix, tags in [("b", {"team": "x"}), ("a", {"team": "y"}), ("c", {})]:
            c.create_registered_model(f"{p}-{suffix}", tags=tags, description=f"d-{suffix}")
            for _ in range(2):
                c.create_model_version(f"{p}-{suffix}", f"runs:/{rid}/model", run_id=rid)
        c.set_registered_model_alias(f"{p}-a", "prod", "2")
        c.transition_model_version_stage(f"{p}-b", "1", "Staging")
        out = {}
        for key, kw in {
            "default": dict(filter_string=f"name LIKE '{p}-%'"),
            "name_desc": dict(filter_string=f"name LIKE '{p}-%'", order_by=["name DESC"]),
            "tag": dict(filter_string=f"name LIKE '{p}-%' AND tags.team = 'x'"),
            "ilike": dict(filter_string=f"name ILIKE '{p.upper()}-A'"),
            "eq": dict(filter_string=f"name = '{p}-c'"),
        }.items():
            out[key] = [registered_model_record(m) for m in c.search_registered_models(**kw)]
        pages, token = [], None
        while True:
            page = c.search_registered_models(filter_string=f"name LIKE '{p}-%'", max_results=2,
                                              page_token=token)
            pages.append([m.name for m in page])
            token = page.token
            if not token:
                break
        out["pages"] = pages
        out["versions"] = sorted(
            (model_version_record(v) for v in c.search_model_versions(f"name LIKE '{p}-%'")),
            key=lambda r: (r["name"], r["version"]))
        out["versions_by_run"] = len(c.search_model_versions(f"run_id = '{rid}'"))
        return _strip(out, p)

    compare.same(scenario, "registry search")


def _strip(o, prefix):
    if isinstance(o, str):
        return o.replace(prefix, "<p>")
    if isinstance(o, dict):
        return {_strip(k, prefix): _strip(v, prefix) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_strip(x, prefix) for x in o]
    return o


def test_registry_search_max_results_limits(client, rest):
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.search_registered_models(max_results=1001)
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.search_model_versions(max_results=200_001)
    assert rest.get(f"{API}/registered-models/search", params={"max_results": 1000}).status_code == 200


def test_registry_raw_shapes(rest, client, uniq, run_id):
    r = rest.post(f"{API}/registered-models/create", json={"name": uniq, "description": "d"})
    assert r.status_code == 200, r.text
    rm = r.json()["registered_model"]
    assert rm["name"] == uniq and isinstance(rm["creation_timestamp"], int)
    r = rest.post(f"{API}/model-versions/create",
                  json={"name": uniq, "source": f"runs:/{run_id}/model", "run_id": run_id})
    mv = r.json()["model_version"]
    assert mv["version"] == "1"  # a JSON string: the client fails to parse a number here
    assert mv["status"] == "READY" and mv["current_stage"] == "None"
    r = rest.post(f"{API}/registered-models/alias", json={"name": uniq, "alias": "prod", "version": "1"})
    assert r.status_code == 200
    r = rest.get(f"{API}/registered-models/get", params={"name": uniq})
    rm = r.json()["registered_model"]
    assert rm["aliases"] == [{"alias": "prod", "version": "1"}]
    assert [v["version"] for v in rm["latest_versions"]] == ["1"]
    # DELETE endpoints carry a JSON body
    r = rest.delete(f"{API}/registered-models/alias", json={"name": uniq, "alias": "prod"})
    assert r.status_code == 200, r.text
    r = rest.delete(f"{API}/model-versions/delete", json={"name": uniq, "version": "1"})
    assert r.status_code == 200, r.text
    r = rest.delete(f"{API}/registered-models/delete", json={"name": uniq})
    assert r.status_code == 200, r.text

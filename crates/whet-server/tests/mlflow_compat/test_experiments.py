"""Experiments: set/create/get/get-by-name/search/rename/delete/restore, experiment tags."""

import mlflow
from mlflow.entities import ViewType

from compat_helpers import API, assert_error, experiment_record, raises_mlflow


def test_set_experiment_creates_it_once(client, uniq):
    e1 = mlflow.set_experiment(uniq)
    e2 = mlflow.set_experiment(uniq)
    e3 = mlflow.set_experiment(experiment_id=e1.experiment_id)
    assert e1.experiment_id == e2.experiment_id == e3.experiment_id
    assert e1.name == uniq
    assert len(client.search_experiments(filter_string=f"name = '{uniq}'")) == 1


def test_create_experiment_returns_string_id_and_get_returns_it(client, uniq):
    eid = client.create_experiment(uniq, tags={"team": "a", "k2": "v2"})
    assert isinstance(eid, str) and eid.isdigit()
    e = client.get_experiment(eid)
    assert e.name == uniq
    assert e.tags == {"team": "a", "k2": "v2"}
    assert e.lifecycle_stage == "active"
    assert e.artifact_location == f"mlflow-artifacts:/{eid}"
    assert e.creation_time > 1_600_000_000_000 and e.last_update_time >= e.creation_time


def test_create_experiment_keeps_explicit_artifact_location(client, uniq):
    eid = client.create_experiment(uniq, artifact_location="mlflow-artifacts:/custom-loc")
    assert client.get_experiment(eid).artifact_location == "mlflow-artifacts:/custom-loc"


def test_get_experiment_by_name(client, uniq):
    eid = client.create_experiment(uniq)
    assert client.get_experiment_by_name(uniq).experiment_id == eid


def test_get_experiment_by_name_missing_returns_none(client, uniq, rest):
    assert client.get_experiment_by_name(uniq + "-nope") is None
    r = rest.get(f"{API}/experiments/get-by-name", params={"experiment_name": uniq + "-nope"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_create_experiment_duplicate_name_is_resource_already_exists(client, uniq, rest):
    client.create_experiment(uniq)
    with raises_mlflow("RESOURCE_ALREADY_EXISTS"):
        client.create_experiment(uniq)
    assert_error(rest.post(f"{API}/experiments/create", json={"name": uniq}), 400,
                 "RESOURCE_ALREADY_EXISTS")


def test_create_experiment_empty_name_is_invalid_parameter_value(client):
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.create_experiment("")


def test_rename_experiment(client, uniq):
    eid = client.create_experiment(uniq)
    client.rename_experiment(eid, uniq + "-renamed")
    assert client.get_experiment(eid).name == uniq + "-renamed"
    assert client.get_experiment_by_name(uniq) is None
    assert client.get_experiment_by_name(uniq + "-renamed").experiment_id == eid


def test_rename_experiment_to_taken_name_is_400(client, uniq):
    """MLflow 3.17 answers 400 BAD_REQUEST (a leaked SQL integrity error); whet may say
    RESOURCE_ALREADY_EXISTS. Either way a 400 and the name is unchanged."""
    a = client.create_experiment(uniq + "-a")
    client.create_experiment(uniq + "-b")
    with raises_mlflow(("RESOURCE_ALREADY_EXISTS", "BAD_REQUEST", "INVALID_PARAMETER_VALUE")):
        client.rename_experiment(a, uniq + "-b")
    assert client.get_experiment(a).name == uniq + "-a"


def test_delete_and_restore_experiment(client, uniq):
    eid = client.create_experiment(uniq)
    client.delete_experiment(eid)
    e = client.get_experiment(eid)
    assert e.lifecycle_stage == "deleted"
    # still found by name, with its stage
    assert client.get_experiment_by_name(uniq).lifecycle_stage == "deleted"
    assert client.search_experiments(filter_string=f"name = '{uniq}'") == []
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=f"name = '{uniq}'")
    assert [x.experiment_id for x in deleted] == [eid]
    everything = client.search_experiments(view_type=ViewType.ALL, filter_string=f"name = '{uniq}'")
    assert [x.experiment_id for x in everything] == [eid]
    client.restore_experiment(eid)
    assert client.get_experiment(eid).lifecycle_stage == "active"


def test_deleted_experiment_name_stays_taken(client, uniq):
    eid = client.create_experiment(uniq)
    client.delete_experiment(eid)
    with raises_mlflow("RESOURCE_ALREADY_EXISTS"):
        client.create_experiment(uniq)


def test_set_experiment_refuses_deleted_experiment(client, uniq):
    eid = client.create_experiment(uniq)
    client.delete_experiment(eid)
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        mlflow.set_experiment(uniq)


def test_create_run_in_deleted_experiment_is_invalid_parameter_value(client, uniq):
    eid = client.create_experiment(uniq)
    client.delete_experiment(eid)
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.create_run(eid)


def test_delete_experiment_deletes_its_runs_and_restore_brings_them_back(client, uniq):
    eid = client.create_experiment(uniq)
    run = client.create_run(eid)
    client.delete_experiment(eid)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    assert client.search_runs([eid]) == []
    assert len(client.search_runs([eid], run_view_type=ViewType.ALL)) == 1
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.log_metric(run.info.run_id, "m", 1.0)
    client.restore_experiment(eid)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "active"


def test_delete_missing_experiment_is_resource_does_not_exist(client):
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.delete_experiment("987654")
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.rename_experiment("987654", "x")


def test_get_experiment_with_non_numeric_id_is_invalid_parameter_value(client, rest):
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.get_experiment("abc")
    assert_error(rest.get(f"{API}/experiments/get", params={"experiment_id": "abc"}), 400,
                 "INVALID_PARAMETER_VALUE")


def test_experiment_tags_set_overwrite_and_delete(client, uniq):
    eid = client.create_experiment(uniq)
    client.set_experiment_tag(eid, "k", "v")
    client.set_experiment_tag(eid, "k", "v2")
    mlflow.set_experiment(experiment_id=eid)
    mlflow.set_experiment_tags({"a": "1", "b": "2"})
    assert client.get_experiment(eid).tags == {"k": "v2", "a": "1", "b": "2"}
    client.delete_experiment_tag(eid, "a")
    assert client.get_experiment(eid).tags == {"k": "v2", "b": "2"}


def test_delete_missing_experiment_tag_is_resource_does_not_exist(client, uniq):
    eid = client.create_experiment(uniq)
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        client.delete_experiment_tag(eid, "nope")


def test_search_experiments_filter_order_and_pages(client, uniq):
    for i in range(5):
        client.create_experiment(f"{uniq}-{i}", tags={"idx": str(i), "parity": "even" if i % 2 == 0 else "odd"})
    got = client.search_experiments(filter_string=f"name LIKE '{uniq}-%'", order_by=["name DESC"])
    assert [e.name for e in got] == [f"{uniq}-{i}" for i in (4, 3, 2, 1, 0)]
    page1 = client.search_experiments(max_results=2, filter_string=f"name LIKE '{uniq}-%'",
                                      order_by=["name ASC"])
    assert [e.name for e in page1] == [f"{uniq}-0", f"{uniq}-1"] and page1.token
    page2 = client.search_experiments(max_results=2, filter_string=f"name LIKE '{uniq}-%'",
                                      order_by=["name ASC"], page_token=page1.token)
    page3 = client.search_experiments(max_results=2, filter_string=f"name LIKE '{uniq}-%'",
                                      order_by=["name ASC"], page_token=page2.token)
    assert [e.name for e in page2] == [f"{uniq}-2", f"{uniq}-3"]
    assert [e.name for e in page3] == [f"{uniq}-4"]
    assert not page3.token
    tagged = client.search_experiments(filter_string=f"name LIKE '{uniq}-%' AND tags.parity = 'odd'")
    assert sorted(e.name for e in tagged) == [f"{uniq}-1", f"{uniq}-3"]


def test_search_experiments_matches_reference(compare):
    def scenario(side):
        c = side.client
        for i, tag in enumerate(["x", "y", "x", "z"]):
            eid = c.create_experiment(f"{side.prefix}-{i}", tags={"t": tag})
            if i == 3:
                c.delete_experiment(eid)
        p = side.prefix
        out = {}
        for name, kw in {
            "default_order": dict(filter_string=f"name LIKE '{p}-%'"),
            "name_asc": dict(filter_string=f"name LIKE '{p}-%'", order_by=["name ASC"]),
            "created_asc": dict(filter_string=f"name LIKE '{p}-%'", order_by=["creation_time ASC"]),
            "tag_filter": dict(filter_string=f"name LIKE '{p}-%' AND tags.t = 'x'"),
            "ilike": dict(filter_string=f"name ILIKE '{p.upper()}-%'"),
            "deleted_only": dict(filter_string=f"name LIKE '{p}-%'", view_type=ViewType.DELETED_ONLY),
            "all": dict(filter_string=f"name LIKE '{p}-%'", view_type=ViewType.ALL,
                        order_by=["name DESC"]),
            "attr_name": dict(filter_string=f"attribute.name = '{p}-1'"),
        }.items():
            out[name] = [experiment_record(e, p) for e in c.search_experiments(**kw)]
        return out

    compare.same(scenario, "search_experiments results")


def test_search_experiments_max_results_over_50000_is_invalid_parameter_value(client, rest):
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.search_experiments(max_results=50001)
    assert_error(rest.post(f"{API}/experiments/search", json={"max_results": 50001}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert rest.post(f"{API}/experiments/search", json={"max_results": 50000}).status_code == 200


def test_search_experiments_also_answers_get_with_query_params(rest):
    r = rest.get(f"{API}/experiments/search", params={"max_results": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body.get("experiments", [])) <= 2

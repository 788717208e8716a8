"""search_runs against the reference MLflow server: filters (metrics, params, tags, attributes,
LIKE/ILIKE, IN), order_by (NaN and missing values), max_results and page tokens, view types,
and the DataFrame that mlflow.search_runs builds. The data set is built once per module on both
servers with fixed start times, so every order is deterministic."""

import uuid

import mlflow
import pytest
from mlflow.entities import Metric, Param, ViewType

import compat_helpers as H
from compat_helpers import API, BASE_TS, assert_error, raises_mlflow, run_names

NAN, INF = float("nan"), float("inf")
MISSING = object()

# name, status, params, metrics, tags
RUNS_A = [
    ("r0", "FINISHED", {"learner": "gbdt", "depth": "1"}, {"auc": 0.5, "loss": 0.9}, {"group": "even"}),
    ("r1", "FINISHED", {"learner": "rf", "depth": "2"}, {"auc": 0.55, "loss": NAN}, {"group": "odd"}),
    ("r2", "FAILED", {"learner": "gbdt", "depth": "10"}, {"auc": 0.6}, {"group": "even"}),
    ("r3", "FINISHED", {"learner": "linear", "depth": "3"}, {"auc": NAN, "loss": 0.5}, {"group": "odd"}),
    ("r4", "KILLED", {"learner": "gbdt", "depth": "20"}, {"loss": 0.4}, {"group": "even"}),
    ("r5", "FINISHED", {"learner": "rf", "depth": "5"}, {"auc": 0.75, "loss": -INF},
     {"group": "odd", "team": "core"}),
    ("r6", "FINISHED", {"learner": "knn"}, {"auc": INF, "loss": 0.3}, {"group": "EVEN"}),
    ("r7-deleted", "FINISHED", {"learner": "gbdt", "depth": "7"}, {"auc": 0.8}, {"group": "even"}),
]
RUNS_B = [
    ("b0", "FINISHED", {"learner": "gbdt", "depth": "4"}, {"auc": 0.9}, {"group": "even"}),
    ("b1", "FINISHED", {"learner": "rf", "depth": "6"}, {"auc": 0.2}, {"group": "odd"}),
]


def _make(client, eid, specs, t0):
    ids = {}
    for i, (name, status, params, metrics, tags) in enumerate(specs):
        start = t0 + i * 1000
        run = client.create_run(eid, start_time=start, run_name=name, tags=tags)
        rid = run.info.run_id
        client.log_batch(
            rid,
            metrics=[Metric(k, v, start + 1, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
        )
        client.set_terminated(rid, status=status, end_time=start + 500)
        ids[name] = rid
    return ids


@pytest.fixture(scope="module")
def data(sut, reference):
    """Two experiments on each server: A (8 runs, one deleted, one nested child) and B."""
    prefix = f"search-runs-{uuid.uuid4().hex[:8]}"
    cmp = H.Comparator(sut, reference, prefix)

    def build(side):
        c = side.client
        a = c.create_experiment(f"{side.prefix}-A")
        b = c.create_experiment(f"{side.prefix}-B")
        ids = _make(c, a, RUNS_A, BASE_TS)
        ids.update(_make(c, b, RUNS_B, BASE_TS + 100_000))
        child = c.create_run(a, start_time=BASE_TS + 50_000, run_name="r0-child",
                             tags={"mlflow.parentRunId": ids["r0"], "group": "child"})
        c.log_metric(child.info.run_id, "auc", 0.1, timestamp=BASE_TS + 50_001)
        c.set_terminated(child.info.run_id, end_time=BASE_TS + 50_500)
        ids["r0-child"] = child.info.run_id
        c.delete_run(ids["r7-deleted"])
        return {"A": a, "B": b, "ids": ids}

    cmp.built = cmp.setup(build)
    return cmp


def _ctx(data, side):
    return data.built[side.name]


def _names(data, filter_string="", order_by=None, view=ViewType.ACTIVE_ONLY, exps=("A",),
           max_results=1000):
    def scenario(side):
        ctx = _ctx(data, side)
        runs = side.client.search_runs([ctx[e] for e in exps], filter_string,
                                       run_view_type=view, max_results=max_results,
                                       order_by=order_by)
        return run_names(runs)

    return scenario


def test_search_runs_default_order_is_start_time_descending(data):
    got = data.same(_names(data), "default order")
    assert got == ["r0-child", "r6", "r5", "r4", "r3", "r2", "r1", "r0"]


def test_search_runs_filter_on_metric_and_param(data):
    got = data.same(_names(data, "metrics.auc > 0.52 and params.learner = 'gbdt'"))
    assert got == ["r2"]
    data.same(_names(data, "metrics.auc >= 0.55 AND params.learner != 'gbdt'"))
    data.same(_names(data, "metrics.loss <= 0.5 and tags.group = 'even'"))


@pytest.mark.parametrize("flt", [
    "metrics.auc > 0",
    "metrics.auc < 0.6",
    "metrics.auc = 0.6",
    "metrics.auc != 0.6",
    "metrics.auc >= 0.75",
    "metrics.auc <= 0.55",
    "metrics.loss < 0",
    "metrics.loss > 0.35",
    "metrics.loss != 0.5",
])
def test_search_runs_metric_comparisons_with_nan_inf_and_missing(data, flt):
    """NaN never satisfies <, >, =, but does satisfy !=; a run without the metric matches
    nothing; ±inf compare as numbers."""
    data.same(_names(data, flt), flt)


def test_search_runs_filter_like_and_ilike(data):
    for flt in [
        "params.learner LIKE 'g%'",
        "params.learner LIKE '%r%'",
        "params.learner LIKE 'GB%'",
        "params.learner ILIKE 'GB%'",
        "tags.group LIKE 'even'",
        "tags.group ILIKE 'even'",
        "attributes.run_name LIKE 'r_'",
        "attributes.run_name ILIKE 'R%CHILD'",
        "tags.`mlflow.runName` LIKE '%child'",
    ]:
        data.same(_names(data, flt), flt)


def test_search_runs_filter_run_id_in_and_not_in(data):
    def scenario(side):
        ids = _ctx(data, side)["ids"]
        a = _ctx(data, side)["A"]
        pick = f"('{ids['r1']}', '{ids['r3']}', '{ids['b0']}')"
        c = side.client
        return {
            "in": run_names(c.search_runs([a], f"attributes.run_id IN {pick}")),
            "not_in": run_names(c.search_runs([a], f"attributes.run_id NOT IN {pick}")),
            "eq": run_names(c.search_runs([a], f"attributes.run_id = '{ids['r2']}'")),
        }

    got = data.same(scenario)
    assert got["in"] == ["r3", "r1"]


def test_search_runs_filter_on_attributes(data):
    for flt in [
        "attributes.status = 'FINISHED'",
        "attributes.status != 'FINISHED'",
        "attribute.status = 'KILLED'",
        "status = 'FAILED'",
        "attributes.run_name = 'r3'",
        "run_name = 'r3'",
        f"attributes.start_time > {BASE_TS + 2500}",
        f"attributes.start_time <= {BASE_TS + 2000}",
        f"attributes.end_time < {BASE_TS + 1600}",
        "attributes.user_id = 'unknown' and metrics.auc > 0.7",
    ]:
        data.same(_names(data, flt), flt)


def test_search_runs_filter_on_tags_including_backticked_keys(data):
    def scenario(side):
        ids = _ctx(data, side)["ids"]
        c, a = side.client, _ctx(data, side)["A"]
        return {
            "tag": run_names(c.search_runs([a], "tags.team = 'core'")),
            "runName": run_names(c.search_runs([a], "tags.`mlflow.runName` = 'r4'")),
            "dotted": run_names(c.search_runs([a], "tags.mlflow.runName = 'r4'")),
            "parent": run_names(c.search_runs([a], f"tags.mlflow.parentRunId = '{ids['r0']}'")),
            "dq": run_names(c.search_runs([a], 'tags."group" = \'odd\'')),
        }

    got = data.same(scenario)
    assert got["parent"] == ["r0-child"]


def test_search_runs_is_null_and_is_not_null(data):
    for flt in [
        "params.depth IS NULL",
        "params.depth IS NOT NULL",
        "tags.team IS NULL",
        "tags.team IS NOT NULL",
    ]:
        data.same(_names(data, flt), flt)


@pytest.mark.parametrize("order", [
    ["metrics.auc DESC"],
    ["metrics.auc ASC"],
    ["metrics.auc"],
    ["metrics.loss DESC"],
    ["metrics.loss ASC"],
])
def test_search_runs_order_by_metric_puts_nan_then_missing_last(data, order):
    data.same(_names(data, order_by=order), str(order))


def test_search_runs_order_by_param_is_lexicographic_with_missing_last(data):
    got = data.same(_names(data, order_by=["params.depth ASC"]))
    assert got.index("r2") < got.index("r4") < got.index("r3")  # "10" < "20" < "3"
    data.same(_names(data, order_by=["params.depth DESC"]))


def test_search_runs_order_by_tags_attributes_and_several_keys(data):
    for order in [
        ["tags.group ASC"],
        ["attributes.run_name DESC"],
        ["attributes.status ASC", "metrics.auc DESC"],
        ["params.learner ASC", "metrics.loss DESC"],
        ["attributes.end_time ASC"],
        ["attributes.start_time ASC"],
        ["tags.`mlflow.runName` ASC"],
    ]:
        data.same(_names(data, order_by=order), str(order))


def test_search_runs_max_results_and_page_tokens_match_reference(data):
    def scenario(side):
        c, a = side.client, _ctx(data, side)["A"]
        pages, token = [], None
        while True:
            page = c.search_runs([a], max_results=3, order_by=["metrics.auc DESC"], page_token=token)
            pages.append(run_names(page))
            token = page.token
            if not token:
                break
            assert len(pages) < 10
        first2 = run_names(c.search_runs([a], max_results=2))
        return {"pages": pages, "first2": first2}

    got = data.same(scenario, "pages")
    assert [len(p) for p in got["pages"]] == [3, 3, 2]


def test_search_runs_page_token_ends_on_exact_multiple(data):
    def scenario(side):
        c, b = side.client, _ctx(data, side)["B"]
        p1 = c.search_runs([b], max_results=2)
        out = [run_names(p1), bool(p1.token)]
        if p1.token:
            p2 = c.search_runs([b], max_results=2, page_token=p1.token)
            out += [run_names(p2), bool(p2.token)]
        return out

    data.same(scenario)


def test_search_runs_view_types(data):
    data.same(_names(data, view=ViewType.DELETED_ONLY), "DELETED_ONLY")
    got = data.same(_names(data, view=ViewType.ALL), "ALL")
    assert "r7-deleted" in got


def test_search_runs_over_two_experiments(data):
    got = data.same(_names(data, exps=("A", "B"), order_by=["metrics.auc DESC"]))
    assert got[0] == "r6" and "b0" in got and "b1" in got
    data.same(_names(data, "params.learner = 'rf'", exps=("A", "B")))


def test_search_runs_dataframe_matches_reference(data):
    def scenario(side):
        ctx = _ctx(data, side)
        out = {}
        out["all"] = H.df_records(mlflow.search_runs([ctx["A"]]))
        out["filtered"] = H.df_records(mlflow.search_runs(
            [ctx["A"], ctx["B"]], "metrics.auc > 0.5", order_by=["metrics.auc DESC"]))
        out["max2"] = H.df_records(mlflow.search_runs([ctx["A"]], max_results=2,
                                                      order_by=["params.depth ASC"]))
        out["empty"] = H.df_records(mlflow.search_runs([ctx["A"]], "params.learner = 'nope'"))
        out["by_name"] = H.df_records(mlflow.search_runs(
            experiment_names=[f"{side.prefix}-B"], order_by=["attributes.run_name ASC"]))
        return out

    got = data.same(scenario, "search_runs DataFrames")
    cols = got["all"]["columns"]
    for c in ["status", "metrics.auc", "metrics.loss", "params.learner", "params.depth",
              "tags.group", "tags.mlflow.runName"]:
        assert c in cols


def test_search_runs_dataframe_keeps_id_and_time_columns(data):
    def scenario(side):
        df = mlflow.search_runs([_ctx(data, side)["B"]], order_by=["attributes.run_name ASC"])
        return {
            "columns": sorted(c for c in df.columns if not c.startswith(("metrics.", "params.", "tags."))),
            "ids_ok": list(df["run_id"]) == [_ctx(data, side)["ids"]["b0"], _ctx(data, side)["ids"]["b1"]],
            "exp_ok": set(df["experiment_id"]) == {_ctx(data, side)["B"]},
            "start": [int(t.value // 1_000_000) for t in df["start_time"]],
        }

    got = data.same(scenario)
    assert got["ids_ok"] and got["exp_ok"]


def test_search_runs_list_output_format(data):
    def scenario(side):
        runs = mlflow.search_runs([_ctx(data, side)["B"]], output_format="list",
                                  order_by=["attributes.run_name ASC"])
        return [H.run_record(r) for r in runs]

    data.same(scenario)


def test_search_runs_in_on_params_is_invalid_parameter_value(data):
    def scenario(side):
        side.client.search_runs([_ctx(data, side)["A"]], "params.depth IN ('1', '2')")

    got = data.same(scenario, allow_error=True)
    assert isinstance(got, H.Raised) and got.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("flt", [
    "metrics.auc >>> 1",
    "foo = 'bar'",
    "params.learner = gbdt",
    "attributes.run_name IN ('r1', 'r2')",
    "metrics.auc LIKE '0.5'",
    "params.learner > 'a'",
    "tags.group = 'x' OR tags.group = 'y'",
])
def test_search_runs_invalid_filter_is_invalid_parameter_value(client, data, flt, rest):
    ids = data.built["under-test"]
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.search_runs([ids["A"]], flt)
    r = rest.post(f"{API}/runs/search", json={"experiment_ids": [ids["A"]], "filter": flt})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("order", [["nosuch.x DESC"], ["metrics.auc SIDEWAYS"], ["attributes.nosuch"]])
def test_search_runs_invalid_order_by_is_invalid_parameter_value(client, data, order):
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.search_runs([data.built["under-test"]["A"]], order_by=order)


def test_search_runs_max_results_limits(client, data, rest):
    a = data.built["under-test"]["A"]
    with raises_mlflow("INVALID_PARAMETER_VALUE"):
        client.search_runs([a], max_results=50001)
    assert_error(rest.post(f"{API}/runs/search", json={"experiment_ids": [a], "max_results": 50001}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(rest.post(f"{API}/runs/search", json={"experiment_ids": [a], "max_results": 0}),
                 400, "INVALID_PARAMETER_VALUE")
    r = rest.post(f"{API}/runs/search", json={"experiment_ids": [a], "max_results": 50000})
    assert r.status_code == 200 and len(r.json()["runs"]) == 8


def test_search_runs_bad_page_token_is_invalid_parameter_value(data, rest):
    a = data.built["under-test"]["A"]
    r = rest.post(f"{API}/runs/search", json={"experiment_ids": [a], "page_token": "garbage"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_search_runs_raw_empty_result_and_shape(data, rest):
    a = data.built["under-test"]["A"]
    r = rest.post(f"{API}/runs/search", json={"experiment_ids": [a], "filter": "params.learner = 'nope'"})
    assert r.status_code == 200
    body = r.json()
    assert body.get("runs", []) == [] and not body.get("next_page_token")
    r = rest.post(f"{API}/runs/search", json={"experiment_ids": [a], "max_results": 1})
    body = r.json()
    assert len(body["runs"]) == 1 and isinstance(body["next_page_token"], str)
    run = body["runs"][0]
    assert set(run) >= {"info", "data"}
    assert run["info"]["run_name"] == "r0-child"
    assert run["info"]["experiment_id"] == a


def test_search_runs_experiment_ids_must_be_a_list(rest):
    assert_error(rest.post(f"{API}/runs/search", json={"experiment_ids": "0"}), 400,
                 "INVALID_PARAMETER_VALUE")

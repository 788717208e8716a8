"""Helpers shared by the MLflow compatibility tests: raw REST calls, MLflow's error shape,
reference comparisons and the normalisation that drops ids and times before comparing."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import pprint
from typing import Any, Callable

import pytest
import requests

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
BASE_TS = 1_700_000_000_000  # a fixed epoch-ms timestamp for deterministic data


# ---------------------------------------------------------------------------------------------
# raw REST


class Rest:
    """Raw HTTP against one server: what the client would send, or what it never would."""

    def __init__(self, base: str, headers: dict[str, str] | None = None):
        self.base = base.rstrip("/")
        self.headers = dict(headers or {})
        self.session = requests.Session()

    def request(self, method: str, path: str, **kw) -> requests.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        kw.setdefault("timeout", 60)
        return self.session.request(method, self.base + path, headers=headers, **kw)

    def get(self, path: str, params=None, **kw) -> requests.Response:
        return self.request("GET", path, params=params, **kw)

    def post(self, path: str, json=None, **kw) -> requests.Response:
        return self.request("POST", path, json=json, **kw)

    def patch(self, path: str, json=None, **kw) -> requests.Response:
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path: str, json=None, **kw) -> requests.Response:
        return self.request("DELETE", path, json=json, **kw)

    def put(self, path: str, data=None, **kw) -> requests.Response:
        return self.request("PUT", path, data=data, **kw)


def body_of(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text


def assert_error(resp: requests.Response, status: int, code: str | tuple[str, ...]):
    """MLflow's error shape: HTTP `status` and a JSON object {"error_code": code, "message": str}
    (extra keys such as sqlstate/error_class are allowed)."""
    codes = (code,) if isinstance(code, str) else code
    assert resp.status_code == status, (
        f"expected HTTP {status} {codes}, got {resp.status_code}: {resp.text[:600]}"
    )
    ctype = resp.headers.get("Content-Type", "")
    assert "json" in ctype, f"error body must be JSON, got Content-Type {ctype!r}: {resp.text[:300]}"
    body = resp.json()
    assert isinstance(body, dict), body
    assert body.get("error_code") in codes, f"expected error_code in {codes}, got {body}"
    assert isinstance(body.get("message"), str) and body["message"], body


def assert_client_error(resp: requests.Response):
    """Any 4xx, never a 5xx (the client retries 5xx with long back-off)."""
    assert 400 <= resp.status_code < 500, f"expected 4xx, got {resp.status_code}: {resp.text[:500]}"


@contextlib.contextmanager
def raises_mlflow(code: str | tuple[str, ...]):
    """The unchanged client raises MlflowException carrying this error_code."""
    from mlflow.exceptions import MlflowException

    codes = (code,) if isinstance(code, str) else code
    with pytest.raises(MlflowException) as ei:
        yield ei
    assert ei.value.error_code in codes, f"expected {codes}, got {ei.value.error_code}: {ei.value}"


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_pos_inf(v: float) -> bool:
    """+inf as MLflow returns it: inf itself, or the largest double (MLflow's SQL store clamps
    ±inf to ±1.7976931348623157e308 and sends that back)."""
    return v == math.inf or v >= 1.7976931348623157e308


def is_neg_inf(v: float) -> bool:
    return v == -math.inf or v <= -1.7976931348623157e308


# ---------------------------------------------------------------------------------------------
# normalisation for comparisons


def norm_value(v):
    """Makes values comparable with ==: NaN -> 'NaN', ±inf and ±max-double -> '±inf',
    pandas/numpy scalars -> Python ones, missing -> None."""
    try:
        import numpy as np

        if isinstance(v, np.generic):
            v = v.item()
    except ImportError:  # pragma: no cover
        pass
    if v is None:
        return None
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if is_pos_inf(v):
            return "+inf"
        if is_neg_inf(v):
            return "-inf"
        return v
    if isinstance(v, dict):
        return {k: norm_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [norm_value(x) for x in v]
    return v


ID_OR_TIME_COLUMNS = {"run_id", "experiment_id", "artifact_uri", "start_time", "end_time"}
ID_LIKE_TAGS = ("mlflow.parentRunId", "mlflow.source.git", "mlflow.log-model.history")


def df_records(df) -> dict:
    """A search_runs DataFrame without ids and times: sorted columns, rows in order."""
    cols = sorted(
        c
        for c in df.columns
        if c not in ID_OR_TIME_COLUMNS and not any(c.startswith("tags." + t) for t in ID_LIKE_TAGS)
    )
    rows = [{c: _cell(row[c]) for c in cols} for _, row in df[cols].iterrows()]
    return {"columns": cols, "rows": rows}


def _cell(v):
    if v is None or isinstance(v, float):
        return norm_value(v)
    try:
        import pandas as pd

        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return norm_value(v)


def run_record(run, with_data: bool = True) -> dict:
    """A Run without ids and times."""
    info = run.info
    rec = {
        "run_name": info.run_name,
        "status": info.status,
        "lifecycle_stage": info.lifecycle_stage,
        "user_id": info.user_id,
    }
    if with_data:
        rec["metrics"] = norm_value(dict(run.data.metrics))
        rec["params"] = dict(run.data.params)
        rec["tags"] = {
            k: v for k, v in run.data.tags.items() if not any(k.startswith(t) for t in ID_LIKE_TAGS)
        }
    return rec


def run_names(runs) -> list[str]:
    return [r.info.run_name for r in runs]


def experiment_record(e, prefix: str = "") -> dict:
    return {
        "name": e.name.replace(prefix, "<p>") if prefix else e.name,
        "lifecycle_stage": e.lifecycle_stage,
        "tags": {k: v for k, v in e.tags.items()},
    }


def model_version_record(mv) -> dict:
    return {
        "name": mv.name,
        "version": mv.version,
        "current_stage": mv.current_stage,
        "description": mv.description or "",
        "status": mv.status,
        "tags": dict(mv.tags or {}),
        "aliases": sorted(mv.aliases or []),
    }


def registered_model_record(rm) -> dict:
    return {
        "name": rm.name,
        "description": rm.description or "",
        "tags": dict(rm.tags or {}),
        "aliases": dict(rm.aliases or {}),
        "latest_versions": sorted(
            (mv.version, mv.current_stage) for mv in (rm.latest_versions or [])
        ),
    }


# ---------------------------------------------------------------------------------------------
# reference comparison


class Raised:
    """A scenario's MlflowException, compared by error code only."""

    def __init__(self, error_code: str, message: str):
        self.error_code = error_code
        self.message = message

    def __eq__(self, other):
        return isinstance(other, Raised) and other.error_code == self.error_code

    def __repr__(self):
        return f"Raised({self.error_code}: {self.message[:200]!r})"


class Side:
    """One server as seen by a scenario: its URL, a client bound to it, the name prefix."""

    def __init__(self, name: str, server, prefix: str):
        from mlflow import MlflowClient

        self.name = name
        self.server = server
        self.url = server.url
        self.prefix = prefix
        self.client = MlflowClient(tracking_uri=self.url, registry_uri=self.url)
        self.rest = Rest(self.url)

    @contextlib.contextmanager
    def active(self):
        import mlflow

        prev_t, prev_r = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
        mlflow.set_tracking_uri(self.url)
        mlflow.set_registry_uri(self.url)
        try:
            yield self
        finally:
            while mlflow.active_run() is not None:
                mlflow.end_run()
            mlflow.set_tracking_uri(prev_t)
            mlflow.set_registry_uri(prev_r)

    def __repr__(self):
        return f"<{self.name} {self.url}>"


class Comparator:
    """Runs the same scenario against the server under test and the reference MLflow server
    and compares what it returns (scenarios return data already stripped of ids and times)."""

    def __init__(self, sut, reference, prefix: str):
        self.sides = [Side("under-test", sut, prefix), Side("reference", reference, prefix)]

    @property
    def sut(self) -> Side:
        return self.sides[0]

    @property
    def ref(self) -> Side:
        return self.sides[1]

    @staticmethod
    def _call(fn: Callable[[Side], Any], side: Side):
        from mlflow.exceptions import MlflowException

        with side.active():
            try:
                return fn(side)
            except MlflowException as e:
                return Raised(e.error_code, e.message)

    def run(self, fn: Callable[[Side], Any]) -> tuple[Any, Any]:
        return self._call(fn, self.sut), self._call(fn, self.ref)

    def same(self, fn: Callable[[Side], Any], what: str = "result", allow_error: bool = False) -> Any:
        """Asserts both sides return equal results (errors compare by error_code); a scenario
        that raises on the reference is a broken test unless allow_error."""
        got, want = self.run(fn)
        if os.environ.get("WHET_COMPAT_SHOW"):
            print(f"\n[{what}] reference: {pprint.pformat(want, width=110)[:3000]}")
        if isinstance(want, Raised) and not allow_error:
            raise AssertionError(f"{what}: the scenario fails on the reference MLflow server: {want}")
        if got != want:
            raise AssertionError(
                f"{what} differs from the reference MLflow server\n"
                f"--- under test:\n{pprint.pformat(got, width=110)}\n"
                f"--- reference:\n{pprint.pformat(want, width=110)}"
            )
        return got

    def setup(self, fn: Callable[[Side], Any]) -> dict[str, Any]:
        """Runs a set-up scenario on both sides and returns {side name: result}."""
        out = {}
        for side in self.sides:
            res = self._call(fn, side)
            if isinstance(res, Raised):
                raise AssertionError(f"set-up failed on {side}: {res}")
            out[side.name] = res
        return out


def dumps(o) -> str:
    return json.dumps(o, indent=1, default=str)[:4000]

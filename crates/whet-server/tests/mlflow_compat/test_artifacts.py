"""Artifacts through the mlflow-artifacts proxy: uploads (PUT), listings, downloads, nested
directories, a few-MB file, empty files (sent chunked), odd file names, path traversal."""

import os
import pathlib
from urllib.parse import quote

import mlflow
import pytest

from compat_helpers import ARTIFACTS, assert_error, raises_mlflow, sha256_file


def _write(path: pathlib.Path, data: bytes) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def logged(tmp_path, experiment_id):
    """A finished run with a small tree of artifacts."""
    src = tmp_path / "src"
    _write(src / "hello.txt", b"hello world\n")
    _write(src / "tree/x.txt", b"x" * 100)
    _write(src / "tree/a/y.txt", b"y" * 100)
    _write(src / "tree/a/b/z.bin", os.urandom(100))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(src / "hello.txt"))
        mlflow.log_artifact(str(src / "hello.txt"), artifact_path="sub/dir")
        mlflow.log_artifacts(str(src / "tree"), artifact_path="tree")
        mlflow.log_text("some text", "notes/t.txt")
        mlflow.log_dict({"a": 1, "b": [1, 2]}, "cfg.json")
    return run, src


def _ls(client, rid, path=None):
    return sorted((f.path, f.is_dir, f.file_size) for f in client.list_artifacts(rid, path))


def test_list_artifacts_root_and_subdirectories(client, logged):
    run, _ = logged
    rid = run.info.run_id
    root = _ls(client, rid)
    assert root[0][:2] == ("cfg.json", False) and root[0][2] > 0
    assert root[1:] == [
        ("hello.txt", False, 12),
        ("notes", True, None),
        ("sub", True, None),
        ("tree", True, None),
    ]
    assert _ls(client, rid, "tree") == [("tree/a", True, None), ("tree/x.txt", False, 100)]
    assert _ls(client, rid, "tree/a") == [("tree/a/b", True, None), ("tree/a/y.txt", False, 100)]
    assert _ls(client, rid, "sub/dir") == [("sub/dir/hello.txt", False, 12)]


def test_list_artifacts_of_a_file_or_missing_path_is_empty(client, logged):
    """The client decides file-vs-directory by listing: a file must list as empty."""
    run, _ = logged
    assert client.list_artifacts(run.info.run_id, "hello.txt") == []
    assert client.list_artifacts(run.info.run_id, "nosuch") == []


def test_list_artifacts_of_run_without_artifacts_is_empty(client, experiment_id):
    with mlflow.start_run() as run:
        pass
    assert client.list_artifacts(run.info.run_id) == []


def test_download_single_file_and_directory(client, logged, tmp_path):
    run, src = logged
    rid = run.info.run_id
    p = mlflow.artifacts.download_artifacts(run_id=rid, artifact_path="hello.txt", dst_path=str(tmp_path / "d1"))
    assert pathlib.Path(p).read_bytes() == b"hello world\n"
    d = client.download_artifacts(rid, "tree", str(tmp_path / "d2"))
    got = sorted(str(q.relative_to(d)) for q in pathlib.Path(d).rglob("*") if q.is_file())
    assert got == ["a/b/z.bin", "a/y.txt", "x.txt"]
    assert (pathlib.Path(d) / "a/b/z.bin").read_bytes() == (src / "tree/a/b/z.bin").read_bytes()


def test_download_all_artifacts_of_a_run(logged, tmp_path):
    run, _ = logged
    d = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(tmp_path / "all"))
    got = sorted(str(q.relative_to(d)) for q in pathlib.Path(d).rglob("*") if q.is_file())
    assert got == ["cfg.json", "hello.txt", "notes/t.txt", "sub/dir/hello.txt", "tree/a/b/z.bin",
                   "tree/a/y.txt", "tree/x.txt"]


def test_load_text_and_dict_by_runs_uri(logged):
    run, _ = logged
    rid = run.info.run_id
    assert mlflow.artifacts.load_text(f"runs:/{rid}/notes/t.txt") == "some text"
    assert mlflow.artifacts.load_dict(f"runs:/{rid}/cfg.json") == {"a": 1, "b": [1, 2]}


def test_download_missing_artifact_is_resource_does_not_exist(logged):
    run, _ = logged
    with raises_mlflow("RESOURCE_DOES_NOT_EXIST"):
        mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="nosuch.txt")


def test_log_and_download_a_few_megabyte_file(client, experiment_id, tmp_path):
    big = _write(tmp_path / "big.bin", os.urandom(5 * 1024 * 1024 + 123))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(big), artifact_path="data")
    assert _ls(client, run.info.run_id, "data") == [("data/big.bin", False, big.stat().st_size)]
    p = mlflow.artifacts.download_artifacts(artifact_uri=f"runs:/{run.info.run_id}/data/big.bin",
                                            dst_path=str(tmp_path / "dl"))
    assert sha256_file(p) == sha256_file(big)


def test_empty_file_uploaded_chunked_round_trips(client, experiment_id, tmp_path):
    """The client uploads an empty file with Transfer-Encoding: chunked and no Content-Length."""
    empty = _write(tmp_path / "empty.txt", b"")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(empty))
    (f,) = client.list_artifacts(run.info.run_id)
    assert f.path == "empty.txt" and not f.is_dir and f.file_size in (0, None)
    p = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="empty.txt",
                                            dst_path=str(tmp_path / "dl"))
    assert pathlib.Path(p).read_bytes() == b""


def test_file_names_with_spaces_and_unicode(client, experiment_id, tmp_path):
    odd = _write(tmp_path / "with space é+%.txt", b"odd")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(odd), artifact_path="dir with space")
    assert _ls(client, run.info.run_id, "dir with space") == [("dir with space/with space é+%.txt", False, 3)]
    p = mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                            artifact_path="dir with space/with space é+%.txt",
                                            dst_path=str(tmp_path / "dl"))
    assert pathlib.Path(p).read_bytes() == b"odd"


def test_overwriting_an_artifact_replaces_it(client, experiment_id, tmp_path):
    f = _write(tmp_path / "v.txt", b"first")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(f))
        f.write_bytes(b"second version")
        mlflow.log_artifact(str(f))
    assert _ls(client, run.info.run_id) == [("v.txt", False, 14)]
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/v.txt") == "second version"


def test_artifact_rest_urls_and_listing_shape(client, experiment_id, rest, tmp_path):
    """Uploads go to PUT /api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<path>;
    listings are GET /api/2.0/mlflow-artifacts/artifacts?path=<exp>/<run>/artifacts[/<dir>]
    and name entries by basename; downloads are GET on the same URL as the upload."""
    with mlflow.start_run() as run:
        pass
    rid = run.info.run_id
    base = f"{experiment_id}/{rid}/artifacts"
    r = rest.put(f"{ARTIFACTS}/{base}/raw/x.txt", data=b"abc")
    assert r.status_code == 200, r.text
    r = rest.get(ARTIFACTS, params={"path": base})
    assert r.status_code == 200 and _files(r) == [{"path": "raw", "is_dir": True}]
    r = rest.get(ARTIFACTS, params={"path": f"{base}/raw"})
    assert r.status_code == 200
    assert _files(r) == [{"path": "x.txt", "is_dir": False, "file_size": 3}]
    r = rest.get(ARTIFACTS, params={"path": f"{base}/raw/x.txt"})
    assert r.status_code == 200 and r.json().get("files", []) == []
    r = rest.get(ARTIFACTS, params={"path": f"{base}/nope"})
    assert r.status_code == 200 and r.json().get("files", []) == []
    r = rest.get(f"{ARTIFACTS}/{base}/raw/x.txt")
    assert r.status_code == 200 and r.content == b"abc"
    assert _ls(client, rid) == [("raw", True, None)]
    assert mlflow.artifacts.load_text(f"runs:/{rid}/raw/x.txt") == "abc"


def _files(resp):
    """Listing entries; a directory has no file_size (absent or null)."""
    return [{k: v for k, v in f.items() if v is not None} for f in resp.json().get("files", [])]


def test_download_missing_artifact_raw_is_404_json(experiment_id, rest):
    with mlflow.start_run() as run:
        pass
    r = rest.get(f"{ARTIFACTS}/{experiment_id}/{run.info.run_id}/artifacts/nope.txt")
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize("path", ["../etc", "/etc", "0/../../etc", "a/../../b", "../../../../etc/passwd"])
def test_list_artifacts_path_traversal_is_rejected_with_400(rest, path):
    assert_error(rest.get(ARTIFACTS, params={"path": path}), 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("encoded", ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "0/..%2F..%2F..%2Fetc%2Fpasswd"])
def test_download_path_traversal_is_rejected_with_400(rest, encoded):
    assert_error(rest.get(f"{ARTIFACTS}/{encoded}"), 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("encoded", ["..%2F..%2Fevil-compat.txt", "%2Ftmp%2Fevil-compat.txt",
                                     "0/..%2F..%2F..%2Fevil-compat.txt"])
def test_upload_path_traversal_is_rejected_with_400_and_writes_nothing(rest, sut, encoded):
    assert_error(rest.put(f"{ARTIFACTS}/{encoded}", data=b"x"), 400, "INVALID_PARAMETER_VALUE")
    root = sut.workdir.parent
    assert not list(root.rglob("evil-compat.txt"))
    assert not pathlib.Path("/tmp/evil-compat.txt").exists()


@pytest.mark.whet_only
@pytest.mark.parametrize("encoded", ["%2E%2E/%2E%2E/etc/passwd", "0/%2E%2E/%2E%2E/%2E%2E/etc/passwd"])
def test_percent_encoded_dot_segments_are_rejected_with_400(rest, sut, encoded):
    """MLflow 3.17 answers these with an HTML 404 from its router; whet must say 400."""
    assert_error(rest.get(f"{ARTIFACTS}/{encoded}"), 400, "INVALID_PARAMETER_VALUE")
    assert_error(rest.put(f"{ARTIFACTS}/{encoded.replace('etc/passwd', 'evil-compat.txt')}", data=b"x"),
                 400, "INVALID_PARAMETER_VALUE")
    assert not list(sut.workdir.parent.rglob("evil-compat.txt"))


def test_artifact_upload_url_is_quoted_path(rest, experiment_id):
    """Names are percent-encoded in the URL path; the stored name is the decoded one."""
    with mlflow.start_run() as run:
        pass
    base = f"{experiment_id}/{run.info.run_id}/artifacts"
    name = "a b é.txt"
    r = rest.put(f"{ARTIFACTS}/{base}/{quote(name)}", data=b"q")
    assert r.status_code == 200, r.text
    r = rest.get(ARTIFACTS, params={"path": base})
    assert _files(r) == [{"path": name, "is_dir": False, "file_size": 1}]


def test_artifacts_under_a_local_default_artifact_root_are_listed_by_the_server(
    start_server, server_kind, tmp_path, monkeypatch
):
    """With `--default-artifact-root file:///…` clients write artifacts there themselves; the
    server's listings (a run's artifacts/list, a logged model's artifacts/directories) read
    that folder, as MLflow's server does."""
    from mlflow import MlflowClient

    from compat_helpers import API, Rest

    root = tmp_path / "client-written"
    root.mkdir()

    def with_root(s):
        s.extra_args = ["--default-artifact-root", root.as_uri()]

    server = start_server(server_kind, before_start=with_root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    mlflow.set_tracking_uri(server.url)
    client = MlflowClient(server.url)
    exp = client.create_experiment("local-root")
    run = client.create_run(exp)
    assert run.info.artifact_uri.startswith(root.as_uri() + "/")
    src = _write(tmp_path / "src" / "notes.txt", b"written by the client\n")
    client.log_artifact(run.info.run_id, str(src), artifact_path="docs")
    assert (root / exp / run.info.run_id / "artifacts" / "docs" / "notes.txt").is_file()

    rest = Rest(server.url)
    listed = rest.get(f"{API}/artifacts/list", params={"run_id": run.info.run_id, "path": "docs"})
    assert listed.status_code == 200, listed.text
    assert listed.json()["root_uri"] == run.info.artifact_uri
    assert [(f["path"], f.get("file_size")) for f in listed.json()["files"]] == [("docs/notes.txt", 22)]

    model = client.create_logged_model(experiment_id=exp)
    client.log_model_artifact(model.model_id, str(src))
    files = rest.get(f"{API}/logged-models/{model.model_id}/artifacts/directories").json()
    assert files["root_uri"] == model.artifact_location
    assert [f["path"] for f in files["files"]] == ["notes.txt"]

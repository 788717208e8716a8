"""Request size limits: a JSON body over whet's limit gets 413 (whet-only: MLflow has no such
limit), while artifact uploads are not held to the JSON limit."""

import os
import select
import socket
import time

import mlflow
import pytest

from compat_helpers import API, Rest


def _stream_oversized(url: str, path: str, declared: int, send_up_to: int, timeout: float = 60):
    """POSTs a JSON body of `declared` bytes, sending at most `send_up_to` and stopping as soon
    as the server answers; returns the status code (None if the server never answered)."""
    host, port = url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\nConnection: close\r\n\r\n").encode()
    sock.sendall(head + b'{"run_id": "' + b"a" * 32 + b'", "tags": [{"key": "k", "value": "')
    chunk = b"x" * (1 << 20)
    sent, deadline = 0, time.monotonic() + timeout
    try:
        while sent < send_up_to and time.monotonic() < deadline:
            r, _, _ = select.select([sock], [], [], 0)
            if r:
                break
            sock.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = b""
    try:
        sock.settimeout(10)
        while b"\r\n" not in data:
            part = sock.recv(4096)
            if not part:
                break
            data += part
    except (socket.timeout, ConnectionResetError):
        pass
    finally:
        sock.close()
    if not data.startswith(b"HTTP/1."):
        return None
    return int(data.split(b" ", 2)[1])


@pytest.mark.whet_only
def test_oversized_json_body_is_413(sut):
    """A JSON request body over the server's limit (default 32 MiB) gets 413, whether the
    server decides from Content-Length or while reading."""
    limit = int(os.environ.get("WHET_COMPAT_OVERSIZE_BYTES", str(96 << 20)))
    status = _stream_oversized(sut.url, f"{API}/runs/log-batch", declared=limit,
                               send_up_to=limit)
    assert status == 413, f"expected 413, got {status}"
    # the server is still healthy afterwards
    assert Rest(sut.url).get("/health").status_code == 200


def test_large_artifact_upload_is_not_limited_by_the_json_limit(sut, client, experiment_id, tmp_path):
    """Artifacts have their own (much larger) limit: 40 MiB goes through."""
    f = tmp_path / "big.bin"
    with open(f, "wb") as fh:
        fh.truncate(40 << 20)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(f))
    assert [(a.path, a.file_size) for a in client.list_artifacts(run.info.run_id)] == [("big.bin", 40 << 20)]

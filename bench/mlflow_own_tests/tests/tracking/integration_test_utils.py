# whet project code standing in for MLflow's tests/tracking/integration_test_utils.py: the
# names the rebuilt tests import, with ServerThread starting `whet server`.
import contextlib
import shutil
import tempfile
from pathlib import Path

import requests

from whet_plugin import ServerThread, whet_server  # noqa: F401


@contextlib.contextmanager
def _init_server(backend_uri, root_artifact_uri, extra_env=None, app=None):
    workdir = Path(tempfile.mkdtemp(prefix="whet-own-tests-"))
    try:
        with whet_server(workdir, root_artifact_uri) as url:
            yield url
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _send_rest_tracking_post_request(tracking_server_uri, api_path, json_payload, auth=None):
    return requests.post(tracking_server_uri + api_path, json=json_payload, auth=auth)

# whet project code: loads the plugin before MLflow's test modules are imported.
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import whet_plugin  # noqa: E402

whet_plugin.install()


@pytest.fixture
def db_uri(tmp_path):
    # MLflow's tests/conftest.py gives a cached SQLite URI; whet ignores the backend URI.
    return f"sqlite:///{tmp_path}/unused.db"

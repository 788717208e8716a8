# Minimal stand-in (our code) for tests/integration/utils.py::invoke_cli_runner.
from click.testing import CliRunner


def invoke_cli_runner(*args, **kwargs):
    res = CliRunner().invoke(*args, **kwargs)
    assert res.exit_code == 0, f"Got non-zero exit code {res.exit_code}. Output is: {res.output}"
    return res

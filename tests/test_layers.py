"""Import boundaries: a worker process loads no HTTP layer, and the client nothing of the service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules_after_importing(*modules: str) -> set[str]:
    code = "import json, sys\n" + "".join(f"import {m}\n" for m in modules) + "print(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout))


def test_the_worker_side_does_not_import_the_http_layer():
    loaded = _modules_after_importing(
        "discreet.service.tasks.queue", "discreet.service.tasks.celery_worker", "discreet.service.tasks.work",
        "discreet.service.tasks.callbacks", "discreet.service.tasks.views",
    )
    assert "fastapi" not in loaded
    assert not {m for m in loaded if m == "discreet.service.api" or m.startswith("discreet.service.api.")}


def test_the_client_imports_neither_fastapi_nor_the_service():
    loaded = _modules_after_importing("discreet.client")
    assert "fastapi" not in loaded
    assert not {m for m in loaded if m == "discreet.service" or m.startswith("discreet.service.")}


@pytest.mark.parametrize(("command", "missing"), [
    (["serve"], "fastapi"), (["worker"], "celery"), (["keys", "list"], "sqlalchemy"),
    (["keys", "create", "tenant"], "sqlalchemy"), (["keys", "revoke", "x"], "sqlalchemy"),
])
def test_service_commands_name_the_extra_when_it_is_missing(command, missing, tmp_path):
    # a None entry in sys.modules makes `import` fail the way an absent package does
    code = (f"import sys\nsys.modules[{missing!r}] = None\n"
            f"from discreet.cli import app\napp({command!r})")
    env = {**os.environ, "PYTHONPATH": str(SRC), "DISCREET_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "pip install 'discreet[service]'" in done.stderr and missing in done.stderr


def test_the_library_cli_and_client_load_without_the_service_extra():
    blocked = ["fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "psycopg", "multipart",
               "python_multipart", "limits", "celery", "kombu", "redis"]
    code = ("import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in blocked)
            + "import discreet, discreet.cli, discreet.client, discreet.pipeline, discreet.settings\n")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

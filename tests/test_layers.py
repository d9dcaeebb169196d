"""Import boundaries: a worker process loads no HTTP layer, and the client nothing of the service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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

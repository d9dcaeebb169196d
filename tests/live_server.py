"""A real `discreet serve` in a subprocess, on a free port and a temporary store, for the client and web tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

START_DEADLINE_SECONDS = 120  # a hang guard while the server starts, not a speed requirement


@dataclass(frozen=True)
class LiveServer:
    url: str
    key: str
    webhook_secret: str
    log: Path  # what the server printed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _discreet(*args: str) -> list[str]:
    """The `discreet` command run by this interpreter, wherever its console script was installed."""
    return [sys.executable, "-c", "from discreet.cli import app; app()", *args]


@contextmanager
def live_server(data_dir: Path, tenant: str = "web-and-client-tests", **settings: str) -> Iterator[LiveServer]:
    """Start ``discreet serve`` with one API key of ``tenant``; ``settings`` become DISCREET_* variables."""
    env = {
        **os.environ,
        "DISCREET_DATA_DIR": str(data_dir),
        "DISCREET_THREADS": "1",
        "DISCREET_WORKERS": "1",
        **{f"DISCREET_{name.upper()}": value for name, value in settings.items()},
    }
    env.pop("DISCREET_DATABASE_URL", None)
    created = subprocess.run(
        _discreet("keys", "create", tenant), env=env, capture_output=True, text=True, check=True
    )
    key = json.loads(created.stdout)
    port = _free_port()
    log = (data_dir / "serve.log").open("w")
    process = subprocess.Popen(
        _discreet("serve", "--host", "127.0.0.1", "--port", str(port)), env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"discreet serve exited with {process.returncode}: {(data_dir / 'serve.log').read_text()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"discreet serve not ready: {(data_dir / 'serve.log').read_text()}")
            time.sleep(0.2)
        yield LiveServer(url, key["key"], key["webhook_secret"], data_dir / "serve.log")
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()

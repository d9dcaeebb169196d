"""A real server process: killed mid-task, restarted, and the queued work completes; SIGTERM exits cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from service_support import b64, face_image, wait_until

from discreet.service.store import Store
from discreet.states import FINISHED, TaskStatus


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(data: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DISCREET_DATA_DIR": str(data), "DISCREET_WORKERS": "1", "DISCREET_SHUTDOWN_GRACE_SECONDS": "10"}
    env.pop("DISCREET_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-c", "from discreet.cli import app; app()", "serve", "--port", str(port)],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )

    def ready() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, "the server to be ready")
    return process


def test_killed_server_resumes_its_tasks(tmp_path, data_dir):
    port, log = _free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    image = face_image(data_dir)
    server = _start(tmp_path, port, log)
    try:
        body = {"tasks": [{"data_id": f"img-{n}", "image_base64": b64(image)} for n in range(12)]}
        ids = [t["task_id"] for t in httpx.post(f"{base}/v1/scan/async", json=body, timeout=30).json()["tasks"]]

        def one_running() -> bool:
            listed = httpx.get(f"{base}/v1/tasks", params={"ids": ",".join(ids)}, timeout=5).json()["tasks"]
            return any(t["status"] == TaskStatus.RUNNING for t in listed)

        wait_until(one_running, "a task to run")
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)

        store = Store(f"sqlite:///{tmp_path / 'discreet.sqlite3'}")
        statuses_at_kill = store.tasks.count_by_status()
        store.close()
        assert statuses_at_kill.get(TaskStatus.RUNNING, 0) + statuses_at_kill.get("queued", 0) > 0

        server = _start(tmp_path, port, log)

        def all_finished() -> list[dict] | None:
            listed = httpx.get(f"{base}/v1/tasks", params={"ids": ",".join(ids)}, timeout=5).json()["tasks"]
            return listed if all(t["status"] in FINISHED for t in listed) else None

        finished = wait_until(all_finished, "the resumed tasks to finish", deadline=120)
        assert [t["status"] for t in finished] == ["succeeded"] * len(ids)
        assert "re-queued" in log.read_text()

        httpx.post(f"{base}/v1/scan/async", json=body, timeout=30)
        server.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert server.wait(timeout=60) in (0, -signal.SIGTERM)
        assert "workers stopped" in log.read_text()
        store = Store(f"sqlite:///{tmp_path / 'discreet.sqlite3'}")
        assert TaskStatus.RUNNING not in store.tasks.count_by_status()  # the task in hand finished; the rest stay queued
        store.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

"""A Discreet cluster on this machine, for tests and benchmarks: its own redis-server on a free
port, a fresh PostgreSQL database (dropped after), N ``discreet serve`` API processes and M
``discreet worker`` processes, and a callback receiver that counts deliveries per task.

    with local_cluster(tmp, apis=2, workers=2) as cluster:
        ids = cluster.submit(images, callback=True)
        views = cluster.wait(ids)
"""

from __future__ import annotations

import base64
import itertools
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg

FINISHED = ("succeeded", "failed", "canceled")
START_DEADLINE_SECONDS = 180  # a hang guard while processes start on a loaded machine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def discreet_command(*args: str, wrapper: Path | None = None) -> list[str]:
    """The ``discreet`` command of this interpreter; ``wrapper`` is a script run instead of the plain CLI."""
    if wrapper:
        return [sys.executable, str(wrapper), *args]
    return [sys.executable, "-c", "from discreet.cli import app; app()", *args]


def wait_until(check: Any, what: str, deadline: float) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"gave up waiting for {what}")


class RedisServer:
    """A redis-server without persistence, like the shared one; ``restart()`` empties it (shutdown nosave)."""

    def __init__(self, workdir: Path) -> None:
        self.port, self.workdir = free_port(), workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(self._pong, "redis-server to answer", 30)

    def stop(self) -> None:
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"], capture_output=True, timeout=30, check=False)
        if self.process:
            self.process.wait(timeout=30)

    def _pong(self) -> bool:
        answer = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True, check=False)
        return answer.stdout.strip() == "PONG"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new database on 127.0.0.1:5432 (trust auth), dropped at the end; yields its SQLAlchemy URL."""
    reasons = []
    for user in ("postgres", "root"):
        try:
            admin = psycopg.connect(host="127.0.0.1", port=5432, user=user, dbname="test", autocommit=True,
                                    connect_timeout=3)
            break
        except psycopg.OperationalError as exc:
            reasons.append(f"{user}: {str(exc).strip()}")
    else:
        raise ConnectionError("PostgreSQL at 127.0.0.1:5432 is unreachable: " + " | ".join(reasons))
    name = f"discreet_cluster_{secrets.token_hex(4)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@dataclass
class CallbackReceiver:
    """Counts callbacks by ``webhook-id`` (the task id)."""

    port: int = 0
    deliveries: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@contextmanager
def callback_receiver() -> Iterator[CallbackReceiver]:
    receiver = CallbackReceiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with receiver.lock:
                receiver.deliveries[self.headers.get("webhook-id", "")] += 1
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Process:
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def children(self) -> list[int]:
        """Pids of the worker's pool processes (where tasks run)."""
        pid = self.popen.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except FileNotFoundError:
            return []

    def pause(self, paused: bool = True) -> None:
        """SIGSTOP (or SIGCONT) the process and its pool: nothing it runs can end while paused."""
        os.killpg(self.popen.pid, signal.SIGSTOP if paused else signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the process and its pool at once, as when a machine fails."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=30)

    def terminate(self, grace: float = 30) -> None:
        if not self.alive():
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()


class Cluster:
    def __init__(self, workdir: Path, database_url: str, redis: RedisServer, **settings: Any) -> None:
        self.workdir, self.database_url, self.redis = workdir, database_url, redis
        self.env = {
            **os.environ,
            "DISCREET_DATABASE_URL": database_url,
            "DISCREET_BROKER_URL": redis.url,
            "DISCREET_DATA_DIR": str(workdir),
            "DISCREET_THREADS": "1",
            "DISCREET_URL_ALLOWLIST": "127.0.0.1",
            "DISCREET_RATE_LIMIT": "1000000/minute",
            "DISCREET_PRELOAD_MODELS": "false",
            **{f"DISCREET_{name.upper()}": str(value) for name, value in settings.items()},
        }
        self.apis: list[Process] = []
        self.workers: list[Process] = []
        self._names = itertools.count()
        self._http = httpx.Client(timeout=60)

    @property
    def urls(self) -> list[str]:
        return [p.url for p in self.apis]  # type: ignore[attr-defined]

    def _spawn(self, command: list[str], kind: str, env: dict[str, str]) -> Process:
        log = self.workdir / f"{kind}-{next(self._names)}.log"
        popen = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                 start_new_session=True)
        return Process(popen, log)

    def start_api(self) -> Process:
        port = free_port()
        process = self._spawn(discreet_command("serve", "--port", str(port)), "api", self.env)
        process.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]

        def ready() -> bool:
            assert process.alive(), process.log.read_text()
            try:
                return self._http.get(process.url + "/readyz", timeout=2).status_code == 200  # type: ignore[attr-defined]
            except httpx.HTTPError:
                return False

        wait_until(ready, "an API process to be ready", START_DEADLINE_SECONDS)
        self.apis.append(process)
        return process

    def start_worker(self, concurrency: int = 1, wrapper: Path | None = None) -> Process:
        process = self._spawn(discreet_command("worker", "--concurrency", str(concurrency), wrapper=wrapper),
                              "worker", self.env)

        def ready() -> bool:
            assert process.alive(), process.log.read_text()
            return "ready." in process.log.read_text(errors="replace")

        wait_until(ready, "a worker to be ready", START_DEADLINE_SECONDS)
        self.workers.append(process)
        return process

    def submit(self, images: Sequence[tuple[str, bytes]], *, batch: int = 20, callback: bool = True,
               scenes: Sequence[str] = ("faces",)) -> list[str]:
        """Queue the images as async tasks, batches spread round-robin over the API processes."""
        ids: list[str] = []
        apis = itertools.cycle(self.urls)
        for start in range(0, len(images), batch):
            body: dict[str, Any] = {
                "scenes": list(scenes),
                "tasks": [{"data_id": data_id, "image_base64": base64.b64encode(data).decode()}
                          for data_id, data in images[start:start + batch]],
            }
            if callback:
                body["callback_url"] = self.receiver.url
            answer = self._http.post(next(apis) + "/v1/scan/async", json=body)
            answer.raise_for_status()
            ids += [t["task_id"] for t in answer.json()["tasks"]]
        return ids

    def views(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        apis = itertools.cycle(self.urls)
        views: list[dict[str, Any]] = []
        for start in range(0, len(ids), 100):
            answer = self._http.get(next(apis) + "/v1/tasks", params={"ids": ",".join(ids[start:start + 100])})
            answer.raise_for_status()
            views += answer.json()["tasks"]
        return views

    def wait(self, ids: Sequence[str], deadline: float, callbacks: bool = True) -> list[dict[str, Any]]:
        """Wait until every task has ended (and, with ``callbacks``, every callback has arrived); returns
        their views from the API. Progress is read from the store, so waiting costs the cluster little."""
        def ended() -> bool:
            unfinished = self.sql("SELECT count(*) FROM tasks WHERE id = ANY(%s) AND status <> ALL(%s)",
                                  list(ids), list(FINISHED))[0][0]
            return unfinished == 0 and (not callbacks or len(self.receiver.deliveries) >= len(ids))

        wait_until(ended, f"{len(ids)} tasks to end", deadline)
        return self.views(ids)

    def sql(self, query: str, *params: Any) -> list[tuple]:
        with psycopg.connect(self.database_url.replace("postgresql+psycopg", "postgresql")) as connection:
            return connection.execute(query, params).fetchall()

    def close(self) -> None:
        for process in [*self.apis, *self.workers]:
            process.terminate()
        self._http.close()


@contextmanager
def local_cluster(workdir: Path, *, apis: int = 1, workers: int = 1, concurrency: int = 1,
                  worker_wrapper: Path | None = None, **settings: Any) -> Iterator[Cluster]:
    if not shutil.which("redis-server"):
        raise FileNotFoundError("redis-server is not installed")
    redis = RedisServer(workdir)
    redis.start()
    try:
        with postgres_database() as database_url, callback_receiver() as receiver:
            cluster = Cluster(workdir, database_url, redis, **settings)
            cluster.receiver = receiver  # type: ignore[attr-defined]
            try:
                for _ in range(apis):
                    cluster.start_api()
                for _ in range(workers):
                    cluster.start_worker(concurrency, worker_wrapper)
                yield cluster
            finally:
                cluster.close()
    finally:
        redis.stop()

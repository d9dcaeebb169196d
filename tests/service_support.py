"""Helpers of the service tests: an app on a temporary store, a local HTTP server, polling."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from discreet.service.api.app import create_app
from discreet.settings import ServiceSettings

DEADLINE_SECONDS = 60  # a hang guard for polling, not a speed requirement


def face_image(data_dir: Path) -> bytes:
    return (data_dir / "dlib-faces" / "2008_002470.jpg").read_bytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def settings(tmp_path: Path, **overrides: Any) -> ServiceSettings:
    return ServiceSettings(**{"data_dir": tmp_path, "database_url": None, **overrides})


#: Anonymous (no-key) requests are served only to a loopback Host from a loopback client.
LOOPBACK = {"base_url": "http://127.0.0.1", "client": ("127.0.0.1", 50000)}


@contextmanager
def client(tmp_path: Path, **overrides: Any) -> Iterator[TestClient]:
    with TestClient(create_app(settings(tmp_path, **overrides)), **LOOPBACK) as test_client:
        yield test_client


def wait_until(check: Callable[[], Any], what: str, deadline: float = DEADLINE_SECONDS) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def wait_for_task(test_client: Any, task_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        view = test_client.get(f"/v1/tasks/{task_id}", headers=headers).json()
        return view if view.get("status") in ("succeeded", "failed", "canceled") else None

    return wait_until(finished, f"task {task_id} to finish")


@dataclass
class Received:
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class LocalServer:
    """A real HTTP server on 127.0.0.1: serves an image, redirects, slow and large bodies, and
    records POSTs (callbacks), answering them with the statuses queued in ``post_statuses``."""

    image: bytes
    received: list[Received] = field(default_factory=list)
    post_statuses: list[int] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def local_server(image: bytes) -> Iterator[LocalServer]:
    state = LocalServer(image)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path == "/image.jpg":
                self._answer(200, state.image, "image/jpeg")
            elif path == "/redirect":
                self.send_response(302)
                self.send_header("Location", query.removeprefix("to="))
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/big":
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.end_headers()  # no Content-Length: the reader must count and cut
                try:
                    for _ in range(64):
                        self.wfile.write(b"\0" * 65536)
                except (BrokenPipeError, ConnectionResetError):
                    pass
            elif path == "/slow":
                time.sleep(2)
                self._answer(200, state.image, "image/jpeg")
            else:
                self._answer(404, b"not here", "text/plain")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.received.append(Received(self.path, body, dict(self.headers.items())))
            self._answer(state.post_statuses.pop(0) if state.post_statuses else 204, b"", "text/plain")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def dripping_server(byte_interval: float = 0.1, max_bytes: int = 400) -> Iterator[int]:
    """A hostile server on 127.0.0.1 that sends its status line and headers one byte at a time.

    Every connection is bounded: at most ``max_bytes`` bytes, and it stops when the client closes
    or the block ends. Yields the port.
    """
    import socket

    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nX-Padding: " + b"a" * max_bytes + b"\r\n\r\n"
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)

    def drip(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1.0)
            try:
                conn.recv(65536)
                for byte in head[:max_bytes]:
                    if stop.is_set():
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(byte_interval)
            except OSError:
                return  # the client gave up, as it should

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        listener.close()

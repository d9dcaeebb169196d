"""The hostile corpus (tests/hostile_corpus.py): each input gets the error docs/hostile-inputs.md
documents, from the library and from a real server, whose memory stays bounded meanwhile."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
from pathlib import Path
from typing import Self

import httpx
import psutil
import pytest
from hostile_corpus import corpus, png_declaring
from live_server import live_server

from discreet.errors import DiscreetError
from discreet.imaging import decode

REPO = Path(__file__).resolve().parents[1]
PHOTO = "dlib-faces/2008_002470.jpg"
# Generous: the server holds a ~105 MB request while parsing it, and a refused task's bytes stay
# reachable from its exception's traceback until Python's cycle collector runs, so RSS climbs in
# ~100 MB steps and falls back (measured: 276 to 580 MB and back to 507 over ten such requests).
PEAK_GROWTH_MB = 1200
LASTING_GROWTH_MB = 600


def _documented() -> dict[str, str]:
    """input -> error code, from the table in docs/hostile-inputs.md."""
    rows = re.findall(r"^\| (.+?) \| `?([a-z_]+|scanned)`? \|", (REPO / "docs" / "hostile-inputs.md").read_text(), re.MULTILINE)
    return {name: code for name, code in rows}


@pytest.fixture(scope="module")
def hostile(data_dir):
    return corpus(data_dir / PHOTO)


def test_the_documentation_lists_every_hostile_input_with_its_code(hostile):
    documented = _documented()
    for item in hostile:
        assert documented.get(item.name) == (item.code or "scanned"), item.name


def test_the_library_gives_each_hostile_input_its_documented_code(hostile):
    for item in hostile:
        try:
            decode(item.data)
            got = None
        except DiscreetError as exc:
            got = exc.code
        assert got == item.code, item.name


class RssSampler:
    """Samples a process's resident memory in a thread; ``peak`` is the highest seen."""

    def __init__(self, process: psutil.Process) -> None:
        self.process, self.peak, self._stop = process, process.memory_info().rss, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _server_process(port: str) -> psutil.Process:
    return next(child for child in psutil.Process().children(recursive=True)
                if "serve" in child.cmdline() and port in child.cmdline())


def _claim_body_of(url: str, size: int, key: str) -> bytes:
    """Send only the headers of a request claiming a ``size``-byte body; the answer's first bytes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall(f"POST /v1/scan HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
                           f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode())
        return connection.recv(4096)


def _slot_codes(client: httpx.Client, files: list[tuple[str, tuple[str, bytes, str]]]) -> dict[str, str | None]:
    answer = client.post("/v1/scan", data={"request": json.dumps({"scenes": ["faces"]})}, files=files)
    assert answer.status_code == 200, answer.text
    return {r["data_id"]: r.get("error", {}).get("code") for r in answer.json()["results"]}


def test_a_real_server_answers_each_hostile_input_and_its_memory_stays_bounded(hostile, data_dir, tmp_path):
    with live_server(tmp_path) as server:
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}, timeout=300)
        photo = (data_dir / PHOTO).read_bytes()
        assert _slot_codes(client, [("warm-up", ("p.jpg", photo, "image/jpeg"))]) == {"warm-up": None}
        process = _server_process(server.url.rsplit(":", 1)[1])
        baseline = process.memory_info().rss
        with RssSampler(process) as sampler:
            # each input as a task of its own, with a content type that lies about half of them
            files = [(f"h{i}", ("x.png", item.data, "image/jpeg" if i % 2 else "text/plain"))
                     for i, item in enumerate(hostile)]
            codes = _slot_codes(client, files)
            assert [codes[f"h{i}"] for i in range(len(hostile))] == [item.code for item in hostile]

            # the same by base64 in JSON, and through /v1/anonymize
            as_json = client.post("/v1/scan", json={"scenes": ["codes"], "tasks": [
                {"data_id": item.name, "image_base64": base64.b64encode(item.data).decode()}
                for item in hostile]})
            assert [r.get("error", {}).get("code") for r in as_json.json()["results"]] == [i.code for i in hostile]
            for item in hostile:
                if item.code is not None:
                    answer = client.post("/v1/anonymize", files={"image": ("x", item.data, "image/png")})
                    assert (answer.status_code, answer.json()["error"]["code"]) == (422, item.code), item.name

            # 100 tasks of the largest size one request can carry: each a bomb padded to 1.05 MB
            bomb = png_declaring(30_000, 30_000)
            padded = bomb + b"\0" * (1_050_000 - len(bomb))
            after_each_round = []
            for _round in range(3):
                codes = _slot_codes(client, [(f"big{i}", ("b.png", padded, "image/png")) for i in range(100)])
                assert set(codes.values()) == {"image_too_large"} and len(codes) == 100
                after_each_round.append(process.memory_info().rss)

            # requests themselves hostile
            too_many = client.post("/v1/scan", json={"tasks": [{"data_id": str(i), "url": "http://x"}
                                                              for i in range(101)]})
            assert (too_many.status_code, too_many.json()["error"]["code"]) == (413, "too_many_tasks")
            assert b" 413 " in _claim_body_of(server.url, 2 << 30, server.key).split(b"\r\n", 1)[0]
            no_boundary = client.post("/v1/scan", content=b"--x\r\n", headers={"Content-Type": "multipart/form-data"})
            assert (no_boundary.status_code, no_boundary.json()["error"]["code"]) == (400, "invalid_request")
            not_json = client.post("/v1/scan", content=photo, headers={"Content-Type": "image/jpeg"})
            assert (not_json.status_code, not_json.json()["error"]["code"]) == (400, "invalid_request")
        after = process.memory_info().rss
        assert client.get("/readyz").status_code == 200  # the server is still whole
    mb = 1 << 20
    print(f"server RSS: baseline {baseline / mb:.0f} MB, peak {sampler.peak / mb:.0f} MB, after {after / mb:.0f} MB, "
          f"after each 105 MB round {[round(rss / mb) for rss in after_each_round]} MB")
    assert sampler.peak - baseline < PEAK_GROWTH_MB * mb
    assert after - baseline < LASTING_GROWTH_MB * mb

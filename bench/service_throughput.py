"""Synchronous-scan throughput of the HTTP service beside calling ``discreet.scan`` in one process.

    python bench/service_throughput.py [--data ../shared/data] [--requests 48] [--scan-concurrency 1]

Starts ``discreet serve`` on a free loopback port with a temporary store, then sends ``POST /v1/scan``
requests (one task each, the image as base64 JSON, faces scene) from 1, 4 and 16 client threads,
and prints requests a second and p50/p99 latency for each, next to images a second of a plain
``discreet.scan`` loop over the same images in this process (measured before and after, and averaged). The server runs
``--scan-concurrency`` scans at once (default 1, so both sides have the same CPU budget and the
ratio is the service's overhead). Every request is checked to carry a result. CPU is shared with
whatever else runs on the machine: run it twice and read the figures side by side.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

import discreet

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, data_dir: str, scan_concurrency: int) -> subprocess.Popen:
    env = {**os.environ, "DISCREET_DATA_DIR": data_dir, "DISCREET_RATE_LIMIT": "1000000/minute",
           "DISCREET_SCAN_CONCURRENCY": str(scan_concurrency)}
    env.pop("DISCREET_DATABASE_URL", None)
    server = subprocess.Popen([sys.executable, "-c", "from discreet.cli import app; app()", "serve", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not become ready")


def direct(images: list[bytes], count: int) -> float:
    for image in images[:2]:
        discreet.scan(image, ["faces"])  # warm-up: model load
    started = time.perf_counter()
    for n in range(count):
        discreet.scan(images[n % len(images)], ["faces"])
    return count / (time.perf_counter() - started)


def through_service(base: str, images: list[bytes], count: int, concurrency: int) -> tuple[float, float, float, int]:
    """Served req/s, p50 and p99 ms of the served requests, and how many were refused 503 ``overloaded``
    (the admission bound: answered at once, no work done, not counted as served)."""
    bodies = [{"scenes": ["faces"], "tasks": [{"data_id": str(n), "image_base64": base64.b64encode(i).decode()}]}
              for n, i in enumerate(images)]
    client = httpx.Client(base_url=base, timeout=120, limits=httpx.Limits(max_connections=concurrency))

    def one(n: int) -> float | None:
        started = time.perf_counter()
        answer = client.post("/v1/scan", json=bodies[n % len(bodies)])
        elapsed = time.perf_counter() - started
        if answer.status_code == 503 and answer.json().get("error", {}).get("code") == "overloaded":
            return None  # refused by the admission bound: an answer, not a crash of the bench
        body = answer.json()
        result = (body.get("results") or [{}])[0]
        if answer.status_code != 200 or "faces" not in result:
            raise SystemExit(f"unexpected answer: {answer.status_code} {body}")
        return elapsed

    for n in range(2):
        one(n)
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        answers = list(pool.map(one, range(count)))
    elapsed = time.perf_counter() - started
    client.close()
    latencies = sorted(a for a in answers if a is not None)
    overloaded = len(answers) - len(latencies)
    if not latencies:
        return 0.0, float("nan"), float("nan"), overloaded
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, p99 * 1000, overloaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("DISCREET_DATA", REPO.parent / "shared" / "data")))
    parser.add_argument("--requests", type=int, default=48, help="requests (and direct scans) per measurement")
    parser.add_argument("--scan-concurrency", type=int, default=1, help="scans the server runs at once")
    args = parser.parse_args()
    images = [p.read_bytes() for p in sorted((args.data / "dlib-faces").glob("*.jpg"))]
    if not images:
        raise SystemExit(f"no images in {args.data / 'dlib-faces'}")

    direct_before = direct(images, args.requests)
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_server(port, data_dir, args.scan_concurrency)
        try:
            rows = [(c, *through_service(f"http://127.0.0.1:{port}", images, args.requests, c)) for c in (1, 4, 16)]
        finally:
            server.terminate()
            server.wait(timeout=60)
    direct_after = direct(images, args.requests)  # measured on both sides, as the machine's load drifts
    direct_rate = (direct_before + direct_after) / 2
    print(f"{len(images)} images from dlib-faces, faces scene, {args.requests} requests a level, "
          f"server scan concurrency {args.scan_concurrency}, {os.cpu_count()} CPUs (shared)")
    print(f"direct discreet.scan, one process, one loop: {direct_rate:.2f} img/s "
          f"(mean of {direct_before:.2f} before and {direct_after:.2f} after the service runs)\n")
    print("| client concurrency | served req/s | % of direct | p50 ms | p99 ms | 503 overloaded |")
    print("|---:|---:|---:|---:|---:|---:|")
    for concurrency, rate, p50, p99, overloaded in rows:
        print(f"| {concurrency} | {rate:.2f} | {100 * rate / direct_rate:.0f}% | {p50:.0f} | {p99:.0f} | "
              f"{overloaded} of {args.requests} |")


if __name__ == "__main__":
    main()

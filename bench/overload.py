"""Overload: drive the synchronous API at several times what this machine serves, and see it hold.

    python bench/overload.py                 # 4x capacity for 60 s
    python bench/overload.py --factor 4 --seconds 60

Starts a real ``discreet serve`` (temporary store, one API key, per-key rate limit lifted so that
admission control is what answers), measures its capacity with a closed loop of clients, then runs
Locust headless at ``factor`` x that rate (users sending at exponential intervals, a Poisson stream;
at a lower CPU priority than the server, so that on a shared machine it takes what the server leaves)
against POST /v1/scan while submitting one async task a second. Prints: offered vs served rate, p50/p99 latency of admitted requests, answers by status (and
whether every refusal carried Retry-After), async tasks submitted vs finished (none may be lost),
whether the server and its worker survived, and the server's peak resident memory.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DISCREET_DATA", REPO.parent / "shared" / "data"))
PHOTO = DATA / "dlib-faces" / "2008_002470.jpg"
sys.path.insert(0, str(REPO / "tests"))
from live_server import live_server  # the one way the project starts a real server

CAPACITY_SECONDS = 15
MEMORY_BOUND_MB = 1500
LOAD_GENERATOR_NICENESS = 10  # the bound stated in the README: what a 2-core box may give the server


def _scan_body() -> dict:
    return {"scenes": ["faces"], "tasks": [{"data_id": "photo", "image_base64": base64.b64encode(PHOTO.read_bytes()).decode()}]}


def measure_capacity(client: httpx.Client, clients: int) -> float:
    """Requests served per second by a closed loop of ``clients`` (never over the admission bound)."""
    body, served, deadline = _scan_body(), [], time.monotonic() + CAPACITY_SECONDS

    def loop() -> None:
        while time.monotonic() < deadline:
            if client.post("/v1/scan", json=body).status_code == 200:
                served.append(1)

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        for _ in range(clients):
            pool.submit(loop)
    return len(served) / (time.monotonic() - started)


class AsyncSubmitter(threading.Thread):
    """Submits one async scan a second while the overload runs; keeps every id it was given."""

    def __init__(self, client: httpx.Client, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.client, self.stop, self.ids, self.refused = client, stop, [], Counter()

    def run(self) -> None:
        body = _scan_body()
        while not self.stop.wait(1.0):
            answer = self.client.post("/v1/scan/async", json=body)
            if answer.status_code == 202:
                self.ids.extend(task["task_id"] for task in answer.json()["tasks"])
            else:
                self.refused[answer.status_code] += 1


class RssSampler(threading.Thread):
    def __init__(self, process: psutil.Process, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.process, self.stop, self.peak = process, stop, 0

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.peak = max(self.peak, self.process.memory_info().rss)


def wait_for_tasks(client: httpx.Client, ids: list[str], deadline_seconds: float = 600) -> Counter:
    """Final status of every task (polled until none is queued or running)."""
    deadline, statuses = time.monotonic() + deadline_seconds, Counter()
    while time.monotonic() < deadline:
        statuses = Counter()
        for start in range(0, len(ids), 100):
            batch = client.get("/v1/tasks", params={"ids": ",".join(ids[start:start + 100])}).json()["tasks"]
            statuses.update(task["status"] for task in batch)
            statuses["missing"] += len(ids[start:start + 100]) - len(batch)
        if not statuses["queued"] and not statuses["running"]:
            break
        time.sleep(1)
    return statuses


def run_locust(url: str, key: str, offered: float, seconds: int, record: Path) -> None:
    # enough users that those waiting on slow answers do not cut the rate, few enough that a user's
    # mean wait (1 s) is far below uvicorn's 5 s keep-alive: a connection closed while reused reads as
    # a failure (status 0), and exponential waits have a long tail (the locustfile cuts it at 4 s)
    users = max(16, math.ceil(offered))
    env = {**os.environ, "OVERLOAD_PHOTO": str(PHOTO), "OVERLOAD_KEY": key, "OVERLOAD_RECORD": str(record),
           "OVERLOAD_RATE_PER_USER": str(offered / users)}
    locust = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("overload_locustfile.py")), "--headless",
         "--host", url, "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{seconds}s",
         "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "120"],
        env=env, stdout=subprocess.DEVNULL,
    )
    # The generator shares this machine's cores with the server it measures: at a lower priority it
    # takes what the server leaves, as a generator on another machine would; a starved generator
    # shows as an offered rate below the target.
    psutil.Process(locust.pid).nice(LOAD_GENERATOR_NICENESS)
    locust.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=float, default=4.0, help="offered rate as a multiple of capacity")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--capacity-clients", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="discreet-overload-") as folder, \
            live_server(Path(folder), rate_limit="1000000/minute") as server:
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}, timeout=120)
        port = server.url.rsplit(":", 1)[1]
        process = next(child for child in psutil.Process().children(recursive=True)
                       if "serve" in child.cmdline() and port in child.cmdline())
        capacity_started, capacity_cpu = time.monotonic(), sum(process.cpu_times()[:2])
        capacity = measure_capacity(client, args.capacity_clients)
        capacity_cpu = (sum(process.cpu_times()[:2]) - capacity_cpu) / (time.monotonic() - capacity_started)
        offered_target = capacity * args.factor
        stop = threading.Event()
        sampler, submitter = RssSampler(process, stop), AsyncSubmitter(client, stop)
        sampler.start()
        submitter.start()
        record = Path(folder) / "answers.jsonl"
        started, server_cpu = time.monotonic(), sum(process.cpu_times()[:2])
        locust_cpu = sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2])
        run_locust(server.url, server.key, offered_target, args.seconds, record)
        elapsed = time.monotonic() - started
        server_cpu = sum(process.cpu_times()[:2]) - server_cpu
        locust_cpu = sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]) - locust_cpu
        stop.set()
        submitter.join()
        statuses = wait_for_tasks(client, submitter.ids)
        sampler.join()
        alive = process.is_running() and client.get("/readyz").status_code == 200
        answers = [json.loads(line) for line in record.read_text().splitlines()]

    by_status = Counter(a["status"] for a in answers)
    admitted = np.array([a["ms"] for a in answers if a["status"] == 200])
    refused = [a for a in answers if a["status"] in (429, 503)]
    figures = {
        "capacity_req_per_s": round(capacity, 2),
        "offered_target_req_per_s": round(offered_target, 2),
        "offered_req_per_s": round(len(answers) / elapsed, 2),
        "served_req_per_s": round(by_status[200] / elapsed, 2),
        "served_share_of_capacity": round(by_status[200] / elapsed / capacity, 2),  # the target is 0.85 or more
        "seconds": round(elapsed, 1),
        "answers_by_status": dict(sorted(by_status.items())),
        "refusals_with_retry_after": f"{sum(1 for a in refused if a['retry_after'])}/{len(refused)}",
        "admitted_p50_ms": round(float(np.percentile(admitted, 50)), 1) if admitted.size else None,
        "admitted_p99_ms": round(float(np.percentile(admitted, 99)), 1) if admitted.size else None,
        "async_submitted": len(submitter.ids),
        "async_refused_by_status": dict(submitter.refused),
        "async_final_status": dict(statuses),
        "async_lost": len(submitter.ids) - statuses["succeeded"] - statuses["failed"],
        "server_and_worker_alive": alive,
        # cores the server had, of the machine's 2 (shared): how much of a drop is the machine's, not the server's
        "server_cpu_share_capacity_phase": round(capacity_cpu, 2),
        "server_cpu_share": round(server_cpu / elapsed, 2),
        # requests served per core-second in each phase: what overload costs the server per answer
        "served_per_server_core_capacity_phase": round(capacity / capacity_cpu, 2) if capacity_cpu else None,
        "served_per_server_core": round(by_status[200] / server_cpu, 2) if server_cpu else None,
        "load_generator_cpu_share": round(locust_cpu / elapsed, 2),
        "machine_load_average": round(os.getloadavg()[0], 1),
        "server_peak_rss_mb": round(sampler.peak / (1 << 20)),
        "memory_bound_mb": MEMORY_BOUND_MB,
    }
    print(json.dumps(figures, indent=2))
    healthy = (alive and figures["async_lost"] == 0 and sampler.peak < MEMORY_BOUND_MB << 20
               and set(by_status) <= {200, 429, 503} and len(refused) == sum(1 for a in refused if a["retry_after"]))
    sys.exit(0 if healthy else 1)


if __name__ == "__main__":
    main()

"""Locust users for bench/overload.py: each POSTs one photo to /v1/scan at random intervals (a Poisson stream).

Every answer's status, latency and Retry-After are appended to $OVERLOAD_RECORD as JSON lines, so
the bench can split admitted from refused requests (Locust's own percentiles mix them).
"""

from __future__ import annotations

import base64
import json
import os
import random
import time
from pathlib import Path

from locust import task
from locust.contrib.fasthttp import FastHttpUser

PHOTO = base64.b64encode(Path(os.environ["OVERLOAD_PHOTO"]).read_bytes()).decode()
# serialised once: the load generator shares the machine with the server, so what it spends per
# request is taken from the server being measured
BODY = json.dumps({"scenes": ["faces"], "tasks": [{"data_id": "photo", "image_base64": PHOTO}]})
RATE_PER_USER = float(os.environ["OVERLOAD_RATE_PER_USER"])
RECORD = open(os.environ["OVERLOAD_RECORD"], "a", buffering=1)  # noqa: SIM115 - open for the run's length


class Scanner(FastHttpUser):
    # geventhttpclient, not requests: about half the CPU per request here
    network_timeout = 120.0

    def wait_time(self) -> float:
        # Exponential waits make the users together a Poisson stream, as independent clients are.
        # With a constant throughput each user keeps the phase it has: one pause of the server (or
        # of Locust) that held every user at once put them all in phase, and they sent in waves,
        # every wave mostly refused and the server idle between waves.
        # cut at 4 s: a longer wait outlives uvicorn's 5 s keep-alive and the reused connection fails
        # counted from the last request's start, not its answer, so slow answers do not lower the
        # offered rate below the one asked for
        return max(0.0, min(random.expovariate(RATE_PER_USER), 4.0) - self.last_took)

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Bearer {os.environ['OVERLOAD_KEY']}", "Content-Type": "application/json"}
        self.last_took = 0.0

    @task
    def scan(self) -> None:
        started = time.perf_counter()
        with self.client.post("/v1/scan", data=BODY, headers=self.headers, catch_response=True) as answer:
            self.last_took = time.perf_counter() - started
            RECORD.write(json.dumps({"status": answer.status_code, "ms": self.last_took * 1000,
                                     "retry_after": answer.headers.get("Retry-After")}) + "\n")
            if answer.status_code in (429, 503):
                answer.success()  # a refusal with Retry-After is the expected answer to overload

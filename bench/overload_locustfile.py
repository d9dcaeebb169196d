"""Locust users for bench/overload.py: each POSTs one photo to /v1/scan at random intervals (a Poisson stream).

Every answer's status, latency and Retry-After are appended to $OVERLOAD_RECORD as JSON lines, so
the bench can split admitted from refused requests (Locust's own percentiles mix them).
"""

from __future__ import annotations

import base64
import json
import os
import random
from pathlib import Path

from locust import HttpUser, task

PHOTO = base64.b64encode(Path(os.environ["OVERLOAD_PHOTO"]).read_bytes()).decode()
RATE_PER_USER = float(os.environ["OVERLOAD_RATE_PER_USER"])
RECORD = open(os.environ["OVERLOAD_RECORD"], "a", buffering=1)  # noqa: SIM115 - open for the run's length


class Scanner(HttpUser):
    def wait_time(self) -> float:
        # Exponential waits make the users together a Poisson stream, as independent clients are.
        # With a constant throughput each user keeps the phase it has: one pause of the server (or
        # of Locust) that held every user at once put them all in phase, and they sent in waves,
        # every wave mostly refused and the server idle between waves.
        # cut at 4 s: a longer wait outlives uvicorn's 5 s keep-alive and the reused connection fails
        return min(random.expovariate(RATE_PER_USER), 4.0)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {os.environ['OVERLOAD_KEY']}"

    @task
    def scan(self) -> None:
        body = {"scenes": ["faces"], "tasks": [{"data_id": "photo", "image_base64": PHOTO}]}
        with self.client.post("/v1/scan", json=body, catch_response=True, timeout=120) as answer:
            RECORD.write(json.dumps({"status": answer.status_code, "ms": answer.elapsed.total_seconds() * 1000,
                                     "retry_after": answer.headers.get("Retry-After")}) + "\n")
            if answer.status_code in (429, 503):
                answer.success()  # a refusal with Retry-After is the expected answer to overload

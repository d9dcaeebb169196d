"""Locust users for bench/overload.py: each POSTs one photo to /v1/scan at a constant rate.

Every answer's status, latency and Retry-After are appended to $OVERLOAD_RECORD as JSON lines, so
the bench can split admitted from refused requests (Locust's own percentiles mix them).
"""

from __future__ import annotations

import base64
import json
import os
import random
from pathlib import Path

import gevent
from locust import HttpUser, constant_throughput, task

PHOTO = base64.b64encode(Path(os.environ["OVERLOAD_PHOTO"]).read_bytes()).decode()
RATE_PER_USER = float(os.environ["OVERLOAD_RATE_PER_USER"])
RECORD = open(os.environ["OVERLOAD_RECORD"], "a", buffering=1)  # noqa: SIM115 - open for the run's length


class Scanner(HttpUser):
    wait_time = constant_throughput(RATE_PER_USER)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {os.environ['OVERLOAD_KEY']}"
        # Users all started at once would send in waves (a burst every period, idle between), which
        # starves the server between bursts; a random phase spreads their requests over the period.
        gevent.sleep(random.uniform(0, 1 / RATE_PER_USER))

    @task
    def scan(self) -> None:
        body = {"scenes": ["faces"], "tasks": [{"data_id": "photo", "image_base64": PHOTO}]}
        with self.client.post("/v1/scan", json=body, catch_response=True, timeout=120) as answer:
            RECORD.write(json.dumps({"status": answer.status_code, "ms": answer.elapsed.total_seconds() * 1000,
                                     "retry_after": answer.headers.get("Retry-After")}) + "\n")
            if answer.status_code in (429, 503):
                answer.success()  # a refusal with Retry-After is the expected answer to overload

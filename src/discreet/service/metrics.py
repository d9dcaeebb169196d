"""Prometheus metrics (prometheus-client), defined once per process."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("discreet_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "discreet_http_request_seconds", "time to answer an HTTP request", ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TASKS = Counter("discreet_tasks_total", "tasks ended, by mode (sync or async) and outcome", ["mode", "outcome"])
QUEUE_DEPTH = Gauge("discreet_queue_depth", "tasks in the store by status", ["status"])
CALLBACKS = Counter("discreet_callback_attempts_total", "callback delivery attempts by result", ["result"])
BROKER_DEPTH = Gauge("discreet_broker_queue_depth", "messages waiting in the broker (scale-out mode)")
WORKERS = Gauge("discreet_workers", "worker processes (scale-out) or threads (embedded) taking queued tasks")
TASK_LATENCY = Gauge(
    "discreet_task_latency_seconds", "latency of the tasks that ended in the last 5 minutes, from the store",
    ["stage", "quantile"],
)
TASKS_RECENT = Gauge("discreet_tasks_ended_recent", "tasks that ended in the last 5 minutes")
LATENCY_WINDOW = timedelta(minutes=5)
QUANTILES = (0.5, 0.95, 0.99)


def record_latencies(rows: Sequence[tuple[datetime, datetime | None, datetime]]) -> None:
    """Quantiles of queue wait (created to started), run (started to finished) and total time."""
    TASKS_RECENT.set(len(rows))
    stages = {
        "wait": [(s - c).total_seconds() for c, s, _ in rows if s],
        "run": [(f - s).total_seconds() for _, s, f in rows if s],
        "total": [(f - c).total_seconds() for c, _, f in rows],
    }
    for stage, values in stages.items():
        ordered = sorted(values)
        for q in QUANTILES:
            value = ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
            TASK_LATENCY.labels(stage, str(q)).set(value)

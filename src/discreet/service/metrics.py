"""Prometheus metrics (prometheus-client), defined once per process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("discreet_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "discreet_http_request_seconds", "time to answer an HTTP request", ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TASKS = Counter("discreet_tasks_total", "tasks ended, by mode (sync or async) and outcome", ["mode", "outcome"])
QUEUE_DEPTH = Gauge("discreet_queue_depth", "tasks in the store by status", ["status"])
CALLBACKS = Counter("discreet_callback_attempts_total", "callback delivery attempts by result", ["result"])

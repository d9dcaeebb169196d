"""``discreet status``: the queue figures of a running service, read from its ``/metrics``."""

from __future__ import annotations

import math

import httpx
from prometheus_client.parser import text_string_to_metric_families

from discreet.errors import DiscreetError


def read_status(url: str) -> dict[str, float | int | None]:
    try:
        answer = httpx.get(url.rstrip("/") + "/metrics", timeout=10)
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        raise DiscreetError(f"cannot read {url}/metrics: {exc}", code="service_unreachable") from exc
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(answer.text) for s in family.samples}

    def value(name: str, **labels: str) -> float | None:
        found = samples.get((name, tuple(sorted(labels.items()))))
        return None if found is None or math.isnan(found) else found

    figures: dict[str, float | int | None] = {
        "tasks queued": value("discreet_queue_depth", status="queued"),
        "tasks running": value("discreet_queue_depth", status="running"),
        "broker queue depth": value("discreet_broker_queue_depth"),
        "workers": value("discreet_workers"),
        "tasks ended (last 5 min)": value("discreet_tasks_ended_recent"),
    }
    for stage in ("wait", "run", "total"):
        for quantile, label in (("0.5", "p50"), ("0.95", "p95")):
            figures[f"{stage} {label} (s)"] = value("discreet_task_latency_seconds", stage=stage, quantile=quantile)
    return {name: int(v) if v is not None and float(v).is_integer() else v for name, v in figures.items()}

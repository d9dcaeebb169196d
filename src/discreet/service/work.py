"""One task's work, shared by synchronous scans and queued tasks: bytes or URL in, result or error out."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from discreet.errors import DiscreetError
from discreet.pipeline import scan
from discreet.service.fetch import SafeHttp
from discreet.service.metrics import TASKS

log = logging.getLogger("discreet.service")

Outcome = tuple[dict[str, Any] | None, dict[str, str] | None]


def task_error(exc: Exception) -> dict[str, str]:
    """The error of one task: a DiscreetError as it is, anything else as ``internal_error`` (logged)."""
    if isinstance(exc, DiscreetError):
        return exc.to_dict()
    log.error("a task failed unexpectedly", exc_info=exc)
    return {"code": "internal_error", "message": f"the task failed unexpectedly ({type(exc).__name__})"}


def scan_image(image: bytes, scenes: Sequence[str], attributes: Sequence[str]) -> dict[str, Any]:
    return scan(image, tuple(scenes), tuple(attributes)).model_dump(mode="json", exclude_none=True)


def run_task(http: SafeHttp, scenes: Sequence[str], attributes: Sequence[str], *,
             image: bytes | None, url: str | None, mode: str) -> Outcome:
    """Fetch (when a URL) and scan; any failure becomes this task's error, never the worker's."""
    try:
        data = image if image is not None else http.fetch_image(url or "")
        outcome: Outcome = (scan_image(data, scenes, attributes), None)
    except Exception as exc:  # noqa: BLE001 - the task must end, whatever broke
        outcome = (None, task_error(exc))
    TASKS.labels(mode, "failed" if outcome[1] else "succeeded").inc()
    return outcome

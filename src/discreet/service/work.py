"""One task's work, shared by synchronous scans and queued tasks: bytes or URL in, result or error out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from discreet.errors import DiscreetError
from discreet.pipeline import scan
from discreet.service.fetch import SafeHttp
from discreet.service.metrics import TASKS

Outcome = tuple[dict[str, Any] | None, dict[str, str] | None]


def scan_image(image: bytes, scenes: Sequence[str], attributes: Sequence[str]) -> dict[str, Any]:
    return scan(image, tuple(scenes), tuple(attributes)).model_dump(mode="json", exclude_none=True)


def run_task(http: SafeHttp, scenes: Sequence[str], attributes: Sequence[str], *,
             image: bytes | None, url: str | None, mode: str) -> Outcome:
    """Fetch (when a URL) and scan; a ``DiscreetError`` becomes this task's error, not the request's."""
    try:
        data = image if image is not None else http.fetch_image(url or "")
        outcome: Outcome = (scan_image(data, scenes, attributes), None)
    except DiscreetError as exc:
        outcome = (None, exc.to_dict())
    TASKS.labels(mode, "failed" if outcome[1] else "succeeded").inc()
    return outcome

"""One task's work, shared by synchronous scans and queued tasks: bytes or URL in, result or error out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from discreet.errors import DiscreetError, TaskCanceled
from discreet.moderation import ModerationPolicy, TermList
from discreet.moderation.hashing import PictureList
from discreet.pipeline import Scanner, scan
from discreet.service.fetch import SafeHttp
from discreet.service.metrics import TASKS
from discreet.service.store import ScanModeration, Store
from discreet.video import anonymize_video, scan_video

log = logging.getLogger("discreet.service")

Outcome = tuple[dict[str, Any] | None, dict[str, str] | None]


def task_error(exc: Exception) -> dict[str, str]:
    """The error of one task: a DiscreetError as it is, anything else as ``internal_error`` (logged)."""
    if isinstance(exc, DiscreetError):
        return exc.to_dict()
    log.error("a task failed unexpectedly", exc_info=exc)
    return {"code": "internal_error", "message": f"the task failed unexpectedly ({type(exc).__name__})"}


def scan_image(image: bytes, scenes: Sequence[str], attributes: Sequence[str],
               moderation: ScanModeration | None = None) -> dict[str, Any]:
    if moderation is None:
        result = scan(image, tuple(scenes), tuple(attributes))
    else:
        result = Scanner(tuple(scenes), tuple(attributes), moderation=moderation.policy,
                         term_lists=moderation.term_lists, picture_lists=moderation.picture_lists).scan(image)
    return result.model_dump(mode="json", exclude_none=True)


def run_task(http: SafeHttp, scenes: Sequence[str], attributes: Sequence[str], *,
             image: bytes | None, url: str | None, mode: str,
             moderation: Callable[[], ScanModeration | None] = lambda: None) -> Outcome:
    """Fetch (when a URL) and scan; any failure becomes this task's error, never the worker's.

    ``moderation`` is read when the task runs, so a queued task applies the lists as they are then
    (and fails with ``policy_not_found`` if its policy was deleted meanwhile)."""
    try:
        data = image if image is not None else http.fetch_image(url or "")
        outcome: Outcome = (scan_image(data, scenes, attributes, moderation()), None)
    except Exception as exc:  # noqa: BLE001 - the task must end, whatever broke
        outcome = (None, task_error(exc))
    TASKS.labels(mode, "failed" if outcome[1] else "succeeded").inc()
    return outcome


def run_video_task(http: SafeHttp, store: Store, task_id: str, tenant: str, options: dict[str, Any], *,
                   video: bytes | None, url: str | None, mode: str = "async") -> Outcome:
    """Fetch (when a URL), scan at the asked interval and, when asked, write the anonymized video.

    Progress (the share of frames done over both passes) is stored as it goes; a task asked to
    stop ends at the next progress step. The one function both the in-process workers and the
    Celery workers call.
    """
    try:
        data = video if video is not None else http.fetch_image(url or "")
        outcome: Outcome = (_video_result(store, task_id, tenant, options, data), None)
    except Exception as exc:  # noqa: BLE001 - the task must end, whatever broke
        outcome = (None, task_error(exc))
    TASKS.labels(mode, "failed" if outcome[1] else "succeeded").inc()
    return outcome


def _video_result(store: Store, task_id: str, tenant: str, options: dict[str, Any], data: bytes) -> dict[str, Any]:
    passes = 2 if options.get("anonymize") else 1
    last = [-1.0]

    def progress(done_pass: int) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            share = (done_pass + done / max(total, 1)) / passes
            if share - last[0] >= 0.01 or done >= total:
                last[0] = share
                if not store.tasks.record_progress(task_id, round(min(share, 1.0), 4)):
                    raise TaskCanceled("the task was canceled")

        return report

    # the policy is the one resolved when the video was submitted; the lists are the tenant's as they
    # are when it runs, as for a queued image
    policy: ModerationPolicy | bool = False
    term_lists: list[TermList] = []
    picture_lists: list[PictureList] = []
    if options.get("moderation"):
        applied = store.moderation.with_lists(tenant, ModerationPolicy.model_validate(options["moderation"]))
        policy, term_lists, picture_lists = applied.policy, applied.term_lists, applied.picture_lists
    scanned = scan_video(data, options.get("scenes", ["faces"]), options.get("attributes", []),
                         interval=options.get("interval", 1.0), moderation=policy, term_lists=term_lists,
                         picture_lists=picture_lists, on_progress=progress(0))
    result: dict[str, Any] = scanned.model_dump(mode="json", exclude_none=True)
    if options.get("anonymize"):
        target = Path(options["output_dir"]) / f"{task_id}.mp4"
        target.parent.mkdir(parents=True, exist_ok=True)
        store.tasks.record_output(task_id, target)
        covered = anonymize_video(data, target, options.get("method", "blur"), on_progress=progress(1))
        result["anonymized"] = {**covered.model_dump(mode="json", exclude={"video"}),
                                "download": f"/v1/tasks/{task_id}/video"}
    return result

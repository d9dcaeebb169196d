"""A task as the API shows it, in ``GET /v1/tasks`` answers and in callback payloads alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from discreet.service.store import TaskRow


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat() + "Z"


def task_view(task: TaskRow) -> dict[str, Any]:
    view: dict[str, Any] = {
        "task_id": task.id, "data_id": task.data_id, "status": task.status,
        "created_at": _iso(task.created_at), "started_at": _iso(task.started_at),
        "finished_at": _iso(task.finished_at), "expires_at": _iso(task.expires_at),
    }
    if task.progress is not None:
        view["progress"] = task.progress
    if task.result is not None:
        view["result"] = task.result
    if task.error is not None:
        view["error"] = task.error
    if task.callback_url:
        view["callback"] = {
            "url": task.callback_url, "state": task.callback_state, "attempts": task.callback_attempts,
            "last_error": task.callback_last_error, "next_attempt_at": _iso(task.callback_next_at),
        }
    return view

"""Scan many images through a Discreet cluster (``discreet scan --remote URL``), resumable.

Images go in requests of ``batch_size`` queued tasks, at most ``window`` tasks in flight; finished
tasks are appended to a state file (JSON lines: data_id and the outcome) the moment they are seen,
so a run that was interrupted starts again where it stopped: data_ids already in the state file are
not sent again. Each request carries an ``Idempotency-Key`` made from its data_ids, so a request sent
again after an interruption (answered or not) returns the tasks queued the first time. A busy or
unreachable cluster (429, 503 ``queue_unavailable``, connection errors) is waited for, not fatal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx

from discreet.client.http import Client, ImageSource, Task
from discreet.errors import DiscreetError

log = logging.getLogger("discreet.remote")

TRANSIENT_CODES = frozenset({"rate_limited", "queue_unavailable", "internal_error"})
MAX_BACKOFF_SECONDS = 30.0


def read_state(state_file: Path) -> dict[str, dict[str, Any]]:
    """The outcomes recorded by earlier runs, by data_id (a line cut by an interruption is ignored)."""
    done: dict[str, dict[str, Any]] = {}
    if state_file.exists():
        for line in state_file.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[row["data_id"]] = row
    return done


def outcome_row(task: Task) -> dict[str, Any]:
    row: dict[str, Any] = {"data_id": task.data_id, "status": task.status}
    if task.result is not None:
        row.update(task.result.model_dump(mode="json", exclude_none=True))
    if task.error is not None:
        row["error"] = task.error.model_dump(mode="json")
    return row


class RemoteBatch:
    def __init__(self, client: Client, state_file: Path, scenes: Iterable[str], attributes: Iterable[str] = (), *,
                 batch_size: int = 20, window: int = 200, poll_interval: float = 0.5) -> None:
        self.client, self.state_file = client, state_file
        self.scenes, self.attributes = list(scenes), list(attributes)
        self.batch_size, self.window, self.poll_interval = batch_size, window, poll_interval

    def run(self, sources: dict[str, ImageSource], on_done: Callable[[dict[str, Any]], None]) -> dict[str, dict]:
        """Scan every source not yet in the state file; calls ``on_done`` for each finished one (earlier
        runs' too) and returns all outcomes by data_id."""
        done = read_state(self.state_file)
        for row in done.values():
            on_done(row)
        pending = [data_id for data_id in sources if data_id not in done]
        in_flight: dict[str, str] = {}  # task id -> data_id
        with self.state_file.open("a") as state:
            batches = _chunks(pending, self.batch_size)
            more = True
            while more or in_flight:
                while more and len(in_flight) + self.batch_size <= max(self.window, self.batch_size):
                    batch = next(batches, None)
                    if batch is None:
                        more = False
                        break
                    for task in self._submit({data_id: sources[data_id] for data_id in batch}):
                        in_flight[task.task_id] = task.data_id
                if in_flight:
                    for task in self._poll(list(in_flight)):
                        row = outcome_row(task)
                        state.write(json.dumps(row) + "\n")
                        state.flush()
                        done[row["data_id"]] = row
                        del in_flight[task.task_id]
                        on_done(row)
                    if in_flight:
                        time.sleep(self.poll_interval)
        return done

    def _submit(self, batch: dict[str, ImageSource]) -> list[Task]:
        key = "batch-" + hashlib.sha256(json.dumps([self.scenes, self.attributes, list(batch)]).encode()).hexdigest()[:40]
        return _patiently(lambda: self.client.scan_async(batch, self.scenes, self.attributes, idempotency_key=key))

    def _poll(self, task_ids: list[str]) -> list[Task]:
        finished: list[Task] = []
        for chunk in _chunks(task_ids, 100):
            finished += [t for t in _patiently(lambda ids=chunk: self.client.list_tasks(ids)) if t.finished]
        return finished


def _patiently(call: Callable[[], Any]) -> Any:
    """Call until the cluster answers; waits Retry-After (or a growing delay) on transient failures."""
    delay = 1.0
    while True:
        try:
            return call()
        except DiscreetError as exc:
            if exc.code not in TRANSIENT_CODES:
                raise
            wait = float(getattr(exc, "retry_after", None) or delay)
            log.warning("the cluster answered %s; trying again in %.0f s", exc.code, wait)
        except httpx.TransportError as exc:
            wait = delay
            log.warning("the cluster is unreachable (%s); trying again in %.0f s", type(exc).__name__, wait)
        time.sleep(wait)
        delay = min(delay * 2, MAX_BACKOFF_SECONDS)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]

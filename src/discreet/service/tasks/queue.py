"""Queued tasks: who runs them, how a task is claimed, and the housekeeping around them.

The store is the source of truth. A task is claimed by one conditional update that moves it to
``running`` under the claiming process's lease (``lease_owner``, ``lease_until``); a heartbeat
renews the leases of the tasks a process runs. A task whose lease expired (its process died or
hangs) is put back in the queue by the housekeeping of any API process and run again; one that
was claimed more than ``task_max_tries`` times ends ``failed`` (it kept killing its worker). Only
the first run to finish records an outcome, so a task run twice still ends once and has one callback.

Two queues implement ``enqueue`` and ``stop``: ``InProcessQueue`` (worker threads in the API
process; the embedded default) and ``discreet.service.tasks.celery_worker.CeleryQueue`` (Celery workers
on a Redis broker; scale-out). Both run one ``Housekeeper`` thread in each API process.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from discreet.service.fetch import SafeHttp
from discreet.service.store import Store, TaskRow, TaskSource
from discreet.service.tasks.callbacks import CallbackSender
from discreet.service.tasks.work import run_task, run_video_task

log = logging.getLogger("discreet.service.queue")


def process_name() -> str:
    """Who holds a lease: host, pid and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class TaskRunner:
    """Runs one claimed task to its end: fetch or read the bytes, scan, record, delete the bytes."""

    def __init__(self, store: Store, http: SafeHttp, ttl: timedelta, *, lease: timedelta, max_tries: int) -> None:
        self.store, self.http, self.ttl = store, http, ttl
        self.lease, self.max_tries = lease, max_tries
        self.owner = process_name()

    def run_one(self) -> bool:
        """Claim and run the oldest queued task; False when there was none."""
        claimed = self.store.tasks.claim_next(self.owner, self.lease)
        if claimed is None:
            return False
        self._run(*claimed)
        return True

    def run(self, task_id: str) -> TaskRow | None:
        """Run this task if it can be claimed; the finished task, or None (a duplicate, or already ended)."""
        claimed = self.store.tasks.claim(task_id, self.owner, self.lease)
        return None if claimed is None else self._run(*claimed)

    def heartbeat(self) -> None:
        self.store.tasks.renew_leases(self.owner, self.lease)

    def release(self) -> int:
        return self.store.tasks.release(self.owner)

    def _run(self, task: TaskRow, task_input: TaskSource | None) -> TaskRow | None:
        if task.attempts > self.max_tries:
            log.error("task %s stopped its worker %d times: failing it", task.id, self.max_tries)
            result, error = None, {"code": "task_crashed",
                                   "message": f"the task stopped its worker {self.max_tries} times; not tried again"}
        elif task_input is None:
            result, error = None, {"code": "input_missing", "message": "the task's input was erased before it ran"}
        elif task.kind == "video":
            result, error = run_video_task(self.http, self.store, task.id, task.tenant, task.options or {},
                                           video=task_input.image, url=task_input.url)
        else:
            wanted = (task.options or {}).get("moderation")
            result, error = run_task(self.http, task.scenes, task.attributes, mode="async",
                                     image=task_input.image, url=task_input.url,
                                     moderation=lambda: self.store.moderation.for_scan(task.tenant, wanted))
        return self.store.tasks.finish(task.id, result=result, error=error, ttl=self.ttl)


class Heartbeat:
    """A thread renewing the leases of the tasks this process runs, three times per lease."""

    def __init__(self, beat: Callable[[], None], lease: timedelta) -> None:
        self.beat, self.interval = beat, lease.total_seconds() / 3
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="discreet-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.beat()
            except Exception:  # a store outage: the next beat tries again
                log.exception("heartbeat failed")


class Housekeeper:
    """One thread per API process: erases expired results, hands tasks whose lease expired back to
    the queue (``requeue``), delivers due callbacks, and runs ``extra`` (the broker's own check)."""

    def __init__(self, store: Store, callbacks: CallbackSender, task_view: Callable[[TaskRow], dict[str, Any]], *,
                 requeue: Callable[[list[str]], None], sweep_interval: float, lease: timedelta,
                 extra: Callable[[], None] | None = None) -> None:
        self.store, self.callbacks, self.task_view = store, callbacks, task_view
        self.requeue, self.extra = requeue, extra
        self.sweep_interval = sweep_interval
        self.lease_check_interval = min(5.0, lease.total_seconds() / 3)
        self.due = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="discreet-housekeeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        self.due.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        next_sweep = next_lease_check = 0.0
        while not self._stopping.is_set():
            try:
                now = time.monotonic()
                if now >= next_lease_check:
                    taken_over = self.store.tasks.requeue_expired()
                    if taken_over:
                        log.warning("re-queued %d task(s) whose worker stopped renewing its lease", len(taken_over))
                        self.requeue(taken_over)
                    next_lease_check = now + self.lease_check_interval
                if now >= next_sweep:
                    erased = self.store.tasks.erase_expired()
                    if erased:
                        log.info("erased %d expired task(s)", erased)
                    next_sweep = now + self.sweep_interval
                if self.extra:
                    self.extra()
                self.callbacks.deliver_due(self.task_view)
            except Exception:
                log.exception("housekeeping failed")
            self.due.wait(timeout=min(1.0, self.sweep_interval))
            self.due.clear()


class InProcessQueue:
    """Worker threads inside the API process take the oldest queued task from the store."""

    def __init__(self, runner: TaskRunner, housekeeper: Housekeeper, *, workers: int, grace: float) -> None:
        self.runner, self.housekeeper, self.grace = runner, housekeeper, grace
        self._wake = threading.Condition()
        self._pending_wakeups = 0
        self._stopping = threading.Event()
        self._heartbeat = Heartbeat(runner.heartbeat, runner.lease)
        self._threads = [threading.Thread(target=self._work, name=f"discreet-worker-{n}", daemon=True)
                         for n in range(workers)]

    def start(self) -> None:
        self._heartbeat.start()
        for thread in self._threads:
            thread.start()
        self.housekeeper.start()
        self.enqueue(["*"])  # whatever is queued in the store already

    def enqueue(self, task_ids: Sequence[str]) -> None:
        with self._wake:
            self._pending_wakeups += 1
            self._wake.notify_all()

    def stop(self) -> None:
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + self.grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.housekeeper.stop(max(0.0, deadline - time.monotonic()))
        self._heartbeat.stop()
        if any(t.is_alive() for t in self._threads):
            # The worker threads cannot be interrupted mid-scan: their tasks go back to the queue
            # and run again (a result that still comes is dropped: the first finish wins).
            count = self.runner.release()
            log.warning("shutdown grace over: re-queued %d running task(s)", count)

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                ran = self.runner.run_one()
            except Exception:  # a store outage must not kill the worker: wait and retry
                log.exception("worker failed to run a task")
                ran = False
                time.sleep(1.0)
            if ran:
                self.housekeeper.due.set()
                continue
            with self._wake:
                if self._pending_wakeups == 0 and not self._stopping.is_set():
                    # the timeout also picks up tasks queued by another process
                    self._wake.wait(timeout=1.0)
                self._pending_wakeups = 0

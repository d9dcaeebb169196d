"""Queued tasks, run by in-process worker threads that take them from the store.

The store is the queue: ``enqueue(task_id)`` only wakes a worker, and a worker claims the oldest
queued row atomically, so several processes sharing PostgreSQL never run a task twice. A Celery
back end would implement the same two-method interface (``enqueue``, ``stop``) and call
``TaskRunner.run_one`` in its worker. One housekeeping thread delivers due callbacks and erases
expired results.

At start, tasks left ``running`` by a process that died are put back in the queue. At shutdown,
workers finish the task in hand within the grace time; any still running after it is re-queued.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from discreet.service.callbacks import CallbackSender
from discreet.service.fetch import SafeHttp
from discreet.service.store import Store, Task
from discreet.service.work import run_task

log = logging.getLogger("discreet.service.queue")


class TaskQueue(Protocol):
    def enqueue(self, task_id: str) -> None: ...

    def stop(self) -> None: ...


class TaskRunner:
    """Runs one claimed task to its end: fetch or read the bytes, scan, record, delete the bytes."""

    def __init__(self, store: Store, http: SafeHttp, ttl: timedelta) -> None:
        self.store, self.http, self.ttl = store, http, ttl

    def run_one(self) -> bool:
        """Claim and run the oldest queued task; False when there was none."""
        claimed = self.store.claim_next()
        if claimed is None:
            return False
        task, task_input = claimed
        result, error = run_task(
            self.http, task.scenes, task.attributes, mode="async",
            image=task_input.image if task_input else None, url=task_input.url if task_input else None,
        )
        if task_input is None:
            error = {"code": "input_missing", "message": "the task's input was erased before it ran"}
        self.store.finish(task.id, result=result, error=error, ttl=self.ttl)
        return True


class InProcessQueue:
    def __init__(
        self,
        runner: TaskRunner,
        callbacks: CallbackSender,
        task_view: Callable[[Task], dict[str, Any]],
        *,
        workers: int,
        sweep_interval: float,
        grace: float,
    ) -> None:
        self.runner, self.callbacks, self.task_view = runner, callbacks, task_view
        self.sweep_interval, self.grace = sweep_interval, grace
        self._wake = threading.Condition()
        self._pending_wakeups = 0
        self._stopping = threading.Event()
        self._callback_due = threading.Event()
        self._threads = [threading.Thread(target=self._work, name=f"discreet-worker-{n}", daemon=True)
                         for n in range(workers)]
        self._housekeeper = threading.Thread(target=self._housekeep, name="discreet-housekeeper", daemon=True)

    def start(self) -> None:
        resumed = self.runner.store.requeue_running()
        if resumed:
            log.info("re-queued %d task(s) left running by an earlier process", resumed)
        for thread in [*self._threads, self._housekeeper]:
            thread.start()
        self.enqueue("*")  # whatever is queued in the store already

    def enqueue(self, task_id: str) -> None:
        with self._wake:
            self._pending_wakeups += 1
            self._wake.notify_all()

    def stop(self) -> None:
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        self._callback_due.set()
        deadline = time.monotonic() + self.grace
        for thread in [*self._threads, self._housekeeper]:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self._threads):
            # The worker threads cannot be interrupted mid-scan: their tasks go back to the queue
            # and the next start runs them (their result, if it comes, is overwritten by the rerun).
            count = self.runner.store.requeue_running()
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
                self._callback_due.set()
                continue
            with self._wake:
                if self._pending_wakeups == 0 and not self._stopping.is_set():
                    # the timeout also picks up tasks queued by another process
                    self._wake.wait(timeout=1.0)
                self._pending_wakeups = 0

    def _housekeep(self) -> None:
        next_sweep = 0.0
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= next_sweep:
                    erased = self.runner.store.erase_expired()
                    if erased:
                        log.info("erased %d expired task(s)", erased)
                    next_sweep = time.monotonic() + self.sweep_interval
                self.callbacks.deliver_due(self.task_view)
            except Exception:
                log.exception("housekeeping failed")
            self._callback_due.wait(timeout=min(1.0, self.sweep_interval))
            self._callback_due.clear()

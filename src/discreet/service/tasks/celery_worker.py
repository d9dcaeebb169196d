"""Scale-out: queued tasks run on Celery workers (``discreet worker``) fed through a Redis broker.

Celery is the distributed engine; the store (PostgreSQL) stays the source of truth. The API stores a
task, then publishes its id; a worker process claims the task in the store (a conditional update
under its lease), scans, records the outcome and sends the callback. Delivery is at least once:

* ``acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged after its task ran, so a
  worker that dies mid-task gives it back (a lost worker process at once; a lost machine after the
  broker's visibility timeout, set above the task time limit so a long task is never handed out twice);
* a task whose worker stopped renewing its lease is re-queued and published again by the API
  housekeeping (the store's lease is what decides, so a duplicate message only finds the task taken);
* ``attempts`` in the store bounds the runs of a task that kills its worker (``task_max_tries``);
* a broker that restarted empty is noticed (a marker key is gone) and every queued task is published
  again; while the broker is down, ``POST /v1/scan/async`` answers 503 ``queue_unavailable``.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import redis
from celery import Celery, signals
from kombu.exceptions import OperationalError
from sqlalchemy.exc import SQLAlchemyError

from discreet.errors import QueueUnavailable
from discreet.service.fetch import SafeHttp
from discreet.service.store import Store
from discreet.service.tasks.callbacks import CallbackSender
from discreet.service.tasks.queue import Heartbeat, Housekeeper, TaskRunner, process_name
from discreet.service.tasks.views import task_view
from discreet.settings import ServiceSettings
from discreet.states import CallbackState

log = logging.getLogger("discreet.service.celery")

QUEUE = "discreet"
TASK_NAME = "discreet.run_task"
EPOCH_KEY = "discreet:broker-epoch"
WORKER_KEY_PREFIX = "discreet:worker:"
RETRY_AFTER_SECONDS = 5


def make_celery(settings: ServiceSettings) -> Celery:
    app = Celery("discreet", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_ignore_result=True,  # outcomes are written to the store, not to a result backend
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a worker holds only the task it runs: the others stay for idle workers
        task_time_limit=settings.task_time_limit_seconds,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_seconds,
            "socket_connect_timeout": 2,
            "socket_timeout": 10,
        },
        broker_connection_timeout=2,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker waits for the broker to come back
        # a publish fails fast so the API answers 503 instead of hanging while Redis is down
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    # a store outage is retried with backoff; a task's own failure never raises (it is the task's error)
    app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(SQLAlchemyError,), retry_backoff=True, max_retries=8)(_run_task)
    return app


def broker_client(settings: ServiceSettings) -> redis.Redis:
    return redis.Redis.from_url(settings.broker_url or "", socket_connect_timeout=2, socket_timeout=5)


class CeleryQueue:
    """The API side: publish task ids; the housekeeping re-publishes what the broker lost."""

    def __init__(self, settings: ServiceSettings, store: Store, housekeeper_args: dict[str, Any]) -> None:
        self.settings, self.store = settings, store
        self.app = make_celery(settings)
        self.redis = broker_client(settings)
        self.housekeeper = Housekeeper(store, requeue=self._publish_quietly, extra=self._check_broker,
                                       **housekeeper_args)
        self._broker_reachable = True
        self.orphan_age = timedelta(seconds=settings.lease_seconds)

    def start(self) -> None:
        self.housekeeper.start()

    def stop(self) -> None:
        self.housekeeper.stop(5)
        self.redis.close()

    def enqueue(self, task_ids: Sequence[str]) -> None:
        """Publish the tasks; raises QueueUnavailable (nothing can be promised) when the broker is down."""
        try:
            with self.app.producer_or_acquire() as producer:
                for task_id in task_ids:
                    self.app.send_task(TASK_NAME, args=[task_id], queue=QUEUE, producer=producer)
        except (OperationalError, redis.RedisError, OSError) as exc:
            raise QueueUnavailable(f"the task queue is unreachable ({type(exc).__name__}); send the request "
                                   "again shortly", retry_after=RETRY_AFTER_SECONDS) from exc

    def depth(self) -> int:
        """Messages waiting in the broker (not yet taken by a worker)."""
        return int(self.redis.llen(QUEUE))

    def live_workers(self) -> int:
        """Worker processes whose heartbeat was seen within a lease."""
        return sum(1 for _ in self.redis.scan_iter(match=WORKER_KEY_PREFIX + "*", count=1000))

    def _publish_quietly(self, task_ids: list[str]) -> None:
        try:
            self.enqueue(task_ids)
        except QueueUnavailable:  # they stay queued in the store; the broker check publishes them later
            log.warning("could not publish %d re-queued task(s): the broker is down", len(task_ids))

    def _check_broker(self) -> None:
        """Publish again the queued tasks whose message is gone: all of them when the broker lost its
        data (restarted without persistence; the first API process to notice does it), and, when the
        broker queue is empty, those queued for over a lease (an API process died between storing
        and publishing). A duplicate message is harmless: it finds its task taken."""
        try:
            lost = self.redis.set(EPOCH_KEY, process_name(), nx=True)
            drained = not lost and self.redis.llen(QUEUE) == 0
        except redis.RedisError as exc:
            if self._broker_reachable:
                log.warning("the broker is unreachable: %s", exc)
            self._broker_reachable = False
            return
        self._broker_reachable = True
        if lost:
            queued = self.store.tasks.queued_ids()
            reason = "the broker started empty"
        elif drained:
            queued = self.store.tasks.queued_ids(created_before=self.store.clock() - self.orphan_age)
            reason = "the broker queue is empty"
        else:
            return
        if queued:
            log.warning("%s: publishing %d queued task(s) again", reason, len(queued))
            self._publish_quietly(queued)


# --- the worker side ------------------------------------------------------------------------

class _WorkerProcess:
    """What one Celery worker process holds: the store, the runner and its heartbeat, loaded models."""

    def __init__(self, settings: ServiceSettings) -> None:
        from discreet.pipeline import Scanner

        self.store = Store(settings.store_url())
        self.http = SafeHttp(settings)
        lease = timedelta(seconds=settings.lease_seconds)
        self.runner = TaskRunner(self.store, self.http, timedelta(seconds=settings.result_ttl_seconds),
                                 lease=lease, max_tries=settings.task_max_tries)
        self.callbacks = CallbackSender.from_settings(self.store, self.http, settings)
        self.task_view = task_view
        self.redis = broker_client(settings)
        self.worker_key = WORKER_KEY_PREFIX + self.runner.owner
        self.presence_ttl = math.ceil(settings.lease_seconds)
        self.heartbeat = Heartbeat(self.beat, lease).start()
        self.beat()
        Scanner(("faces",)).load()  # once per process, before the first task

    def beat(self) -> None:
        self.runner.heartbeat()
        try:
            self.redis.set(self.worker_key, "1", ex=self.presence_ttl)
        except redis.RedisError:
            pass  # the worker count is for metrics only; the lease in the store is what matters

    def run(self, task_id: str) -> None:
        finished = self.runner.run(task_id)
        if finished is None:
            log.info("task %s was already taken or ended: nothing to do", task_id)
        elif finished.callback_state == CallbackState.PENDING:
            # in a callback thread: the process goes on to its next task (maybe another tenant's)
            # while a slow receiver is waited for, up to the callback deadline
            self.callbacks.start(finished, self.task_view)


_worker: _WorkerProcess | None = None


def _run_task(task_id: str) -> None:
    assert _worker is not None, "the worker process was not initialised"
    _worker.run(task_id)


def run_worker(settings: ServiceSettings, concurrency: int | None = None) -> None:
    """``discreet worker``: a Celery worker (prefork pool) whose processes each load the models once."""
    if not settings.broker_url:
        raise SystemExit("set DISCREET_BROKER_URL (redis://host:6379/0) to run a worker")
    store = Store(settings.store_url())
    store.migrate()
    store.close()

    @signals.worker_process_init.connect(weak=False)
    def _init_process(**_kwargs: Any) -> None:
        global _worker
        _worker = _WorkerProcess(settings)

    app = make_celery(settings)
    app.worker_main([
        "worker", f"--concurrency={concurrency or settings.worker_concurrency}", "--pool=prefork",
        f"--queues={QUEUE}", f"--hostname=discreet-{os.getpid()}@{socket.gethostname()}", "--loglevel=INFO",
        "--without-gossip", "--without-mingle",
    ])

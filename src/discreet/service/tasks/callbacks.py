"""Callbacks: a finished task is POSTed to its ``callback_url``, signed the Standard Webhooks way.

Headers ``webhook-id`` (the task id: the same on every retry, so receivers drop repeats),
``webhook-timestamp`` and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of id.timestamp.body>``
under the key's ``whsec_`` secret). Signing is done by the ``standardwebhooks`` package, the
reference implementation receivers verify with. The delivery schedule is kept in the store, so
retries go on after a restart: exponential backoff from ``callback_first_delay_seconds``, until
``callback_retry_seconds`` after the task ended; then the state is ``failed``. See docs/callbacks.md.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks import Webhook

from discreet.errors import DiscreetError
from discreet.service.fetch import SafeHttp
from discreet.service.metrics import CALLBACKS
from discreet.service.store import Store, TaskRow
from discreet.service.store.database import utcnow
from discreet.settings import ServiceSettings
from discreet.states import CallbackState

log = logging.getLogger("discreet.service.callbacks")

EVENT_TYPE = "task.finished"
MAX_DELAY = timedelta(minutes=10)


def signed_request(secret: str, message_id: str, payload: dict[str, Any], now: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery."""
    now = now or datetime.now(UTC)
    body = json.dumps(payload, separators=(",", ":"))
    signature = Webhook(secret).sign(message_id, now, body)
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "user-agent": "discreet-callbacks",
    }
    return body.encode(), headers


def next_attempt(first_delay: float, attempts_done: int, finished_at: datetime, give_up_after: float) -> datetime | None:
    """When to try again after ``attempts_done`` failures; None when the retry window is over."""
    delay = min(timedelta(seconds=first_delay * 2 ** max(0, attempts_done - 1)), MAX_DELAY)
    when = utcnow() + delay
    return when if when <= finished_at + timedelta(seconds=give_up_after) else None


class CallbackSender:
    def __init__(self, store: Store, http: SafeHttp, *, first_delay: float, give_up_after: float,
                 hold: float = 60.0, concurrency: int = 8) -> None:
        self.store, self.http = store, http
        self.first_delay, self.give_up_after = first_delay, give_up_after
        self.hold = timedelta(seconds=hold)
        self.concurrency = concurrency
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="discreet-callback")
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, store: Store, http: SafeHttp, settings: ServiceSettings) -> CallbackSender:
        """The sender of an API process or of a worker process: the same deadline, retries and threads."""
        return cls(store, http, first_delay=settings.callback_first_delay_seconds,
                   give_up_after=settings.callback_retry_seconds, hold=settings.callback_timeout_seconds * 3,
                   concurrency=settings.callback_concurrency)

    def deliver_due(self, task_view: Any) -> int:
        """Start every due delivery (up to ``concurrency`` at once) in the callback threads and return
        at once: how many were started. ``task_view`` renders the payload.

        The caller (the housekeeper, which also sweeps expired results) never waits on a receiver;
        each delivery is cut at the callback deadline. Several processes deliver (API housekeepers,
        workers): each delivery is first claimed in the store with a conditional update, so one
        process sends it.
        """
        return sum(self.start(task, task_view) for task in self.store.callbacks.due_callbacks())

    def start(self, task: TaskRow, task_view: Any) -> bool:
        """Deliver this task's callback in a callback thread; False when all are busy or it is already
        being sent (it stays due: the next ``deliver_due`` of any process takes it)."""
        with self._lock:
            if task.id in self._in_flight or len(self._in_flight) >= self.concurrency:
                return False
            self._in_flight.add(task.id)
        self._pool.submit(self._deliver_in_thread, task, task_view)
        return True

    def _deliver_in_thread(self, task: TaskRow, task_view: Any) -> None:
        try:
            self.deliver(task, task_view)
        except Exception:
            log.exception("callback delivery of task %s failed", task.id)
        finally:
            with self._lock:
                self._in_flight.discard(task.id)

    def idle(self) -> bool:
        with self._lock:
            return not self._in_flight

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def deliver(self, task: TaskRow, task_view: Any) -> bool:
        """Send this task's callback if it is due and no other process has claimed it."""
        if not self.store.callbacks.claim_callback(task.id, self.hold):
            return False
        self._deliver(task, task_view(task))
        return True

    def _deliver(self, task: TaskRow, view: dict[str, Any]) -> None:
        key = self.store.keys.get_key(task.key_id)
        payload = {"type": EVENT_TYPE, "timestamp": datetime.now(UTC).isoformat(), "data": view}
        body, headers = signed_request(key.webhook_secret, task.id, payload)
        try:
            status = self.http.post(task.callback_url, body, headers)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except DiscreetError as exc:
            error = f"{exc.code}: {exc.message}"
        CALLBACKS.labels(CallbackState.DELIVERED if error is None else CallbackState.FAILED).inc()
        if error is None:
            self.store.callbacks.record_callback(task.id, state=CallbackState.DELIVERED, error=None, next_at=None)
            return
        retry_at = next_attempt(self.first_delay, task.callback_attempts + 1, task.finished_at, self.give_up_after)
        log.warning("callback of task %s failed (%s); %s", task.id, error,
                    f"retry at {retry_at:%H:%M:%S}" if retry_at else "giving up")
        self.store.callbacks.record_callback(task.id, state=CallbackState.PENDING if retry_at else CallbackState.FAILED, error=error, next_at=retry_at)

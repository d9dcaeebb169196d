"""The middleware around the routes: request context (id, body limit, metrics), security headers,
closed CORS, exact 405s, and admission control.

Each is a small pure ASGI middleware so it sees every answer, including the web page's files and
error answers, and costs nothing per request beyond a header list.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from discreet.errors import PayloadTooLarge, RequestTimeout
from discreet.service.api.errors import error_response, new_request_id
from discreet.service.auth import presented_key
from discreet.service.log import request_id_var
from discreet.service.metrics import LATENCY, REQUESTS
from discreet.settings import ServiceSettings

log = logging.getLogger("discreet.service")

#: The page loads only its own script and style; pictures are shown from blob: URLs of dropped files.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class RequestContext:
    """Pure ASGI middleware: request id (X-Request-ID in and out, and in every log line), the body
    size limit (Content-Length checked up front, streamed bodies counted), the body deadline (a body
    not fully received ``body_timeout`` seconds after the request began gets 408 ``request_timeout``,
    so slow uploads cannot hold the admission slots), and the HTTP metrics. An exception no handler
    took is answered here with 500, so that answer too carries the request id and security headers."""

    def __init__(self, app: ASGIApp, max_body: int, body_timeout: float = 10.0) -> None:
        self.app, self.max_body, self.body_timeout = app, max_body, body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = new_request_id(headers.get("x-request-id"))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        body_deadline = time.monotonic() + self.body_timeout
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        received = 0
        body_done = False

        async def counted_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # e.g. a streaming answer waiting for http.disconnect: no deadline
                return await receive()
            try:
                with anyio.fail_after(max(0.0, body_deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(f"the request body did not arrive within {self.body_timeout:g} s") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > self.max_body:
                    raise PayloadTooLarge(f"the request body is over {self.max_body:,} bytes")
            return message

        try:
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_body:
                response = error_response(413, "payload_too_large", f"the request body is over {self.max_body:,} bytes")
                await response(scope, receive, send_with_id)
            else:
                try:
                    await self.app(scope, counted_receive, send_with_id)
                except RequestTimeout as exc:
                    if response_started:
                        raise
                    log.info("request body too slow: %s", exc.message)
                    await error_response(408, exc.code, exc.message)(scope, receive, send_with_id)
                except Exception:
                    if response_started:
                        raise
                    log.exception("unexpected error")
                    await error_response(500, "internal_error", "an unexpected error happened; the request id "
                                         "is in the logs")(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - started
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            log.info("%s %s -> %d in %.0f ms", scope["method"], scope["path"], status, elapsed * 1000)
            request_id_var.reset(token)


class SecurityHeaders:
    """Adds the headers above to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((name, value) for name, value in SECURITY_HEADERS if name not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ExactMethodNotAllowed:
    """A method an API path does not take gets 405 with ``Allow`` naming every method the path takes.

    Without it, the web page mounted at ``/`` answered such requests (``Allow: GET, HEAD``). The
    methods come from the OpenAPI document, so ``Allow`` is exactly what the document promises.
    """

    def __init__(self, app: ASGIApp, openapi: Callable[[], dict[str, Any]]) -> None:
        self.app, self.openapi = app, openapi
        self._methods_by_path: list[tuple[re.Pattern[str], list[str]]] | None = None

    def methods_by_path(self) -> list[tuple[re.Pattern[str], list[str]]]:
        if self._methods_by_path is None:  # built on first use: every route is registered by then
            self._methods_by_path = [(compile_path(path)[0], sorted(method.upper() for method in operations))
                                     for path, operations in self.openapi()["paths"].items()]
        return self._methods_by_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            allowed = sorted({method for pattern, methods in self.methods_by_path()
                              if pattern.match(scope["path"]) for method in methods})
            if allowed and scope["method"] not in allowed:
                response = error_response(405, "method_not_allowed", f"{scope['method']} is not allowed here",
                                          headers={"Allow": ", ".join(allowed)})
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


class Bound:
    """A count with a limit in all and one for each API key."""

    def __init__(self, limit: int, per_key: int) -> None:
        self.limit, self.per_key = limit, per_key
        self.total = 0
        self.by_key: Counter[str] = Counter()

    def full_for(self, key: str, amount: int = 1) -> bool:
        return self.total + amount > self.limit or self.by_key[key] + amount > self.per_key

    def take(self, key: str, amount: int = 1) -> None:
        self.total += amount
        self.by_key[key] += amount

    def give_back(self, key: str, amount: int = 1) -> None:
        self.total -= amount
        self.by_key[key] -= amount
        if not self.by_key[key]:
            del self.by_key[key]


class AdmissionControl:
    """Bounds the upload routes in two stages, in all and for each API key.

    * Waiting: from its start until it may be worked on, a request holds a waiting place and its
      declared body length (the request limit when it declares none) of the receiving budget, a
      memory bound. A request that does not fit is refused at once with 503 ``overloaded`` and
      ``Retry-After``, before its key is checked or its body read: an overloaded server spends
      almost nothing on the requests it refuses.
    * Working: once its body has arrived, before it is decoded, the request waits for a work slot
      (being decoded, scanned or stored) and keeps it until answered.

    Taking work slots only when the body is there keeps the scan threads busy when bodies arrive
    slowly (a slow network, a busy client) and keeps slow senders from holding the slots of requests
    ready to run; the waiting places bound the queue in front of the work slots, hence the latency
    of admitted requests. The bounds for each key keep one tenant from taking a whole budget: the key
    is read from the ``Authorization`` header unchecked, which is enough here, as a forged key is
    refused before its body is read. ``Retry-After`` estimates when a place frees.
    """

    def __init__(self, app: ASGIApp, *, limit: int, per_key: int, waiting: int, receiving_bytes: int,
                 max_body: int, paths: re.Pattern[str]) -> None:
        self.app, self.max_body, self.paths = app, max_body, paths
        self.working = Bound(limit, per_key)
        self.waiting = Bound(waiting, max(1, waiting * per_key // limit))
        # one body of the largest size always fits, or such a request could never be served
        self.receiving = Bound(max(receiving_bytes, max_body), max(receiving_bytes * per_key // limit, max_body))
        self._slot_freed: asyncio.Condition | None = None  # made on first use, in the server's event loop
        self.typical_seconds = 1.0  # a moving average of how long admitted requests take

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not self.paths.fullmatch(scope["path"]):
            return await self.app(scope, receive, send)
        key, declared = self._key_and_length(scope)
        if self.waiting.full_for(key) or self.receiving.full_for(key, declared):
            retry_after = max(1, math.ceil(self.typical_seconds))
            response = error_response(503, "overloaded", f"the server has as many requests as it queues; "
                                      f"retry in {retry_after} s", headers={"Retry-After": str(retry_after)})
            return await response(scope, receive, send)
        self.waiting.take(key)
        self.receiving.take(key, declared)
        working, started = False, time.perf_counter()

        async def receive_then_work() -> Message:
            nonlocal working
            message = await receive()
            body_complete = message["type"] == "http.request" and not message.get("more_body")
            if body_complete and not working:
                await self._take_work_slot(key)
                self.waiting.give_back(key)
                self.receiving.give_back(key, declared)
                working = True
            return message

        try:
            await self.app(scope, receive_then_work, send)
        finally:
            if working:
                self.working.give_back(key)
                async with self._condition():
                    self._condition().notify_all()
            else:
                self.waiting.give_back(key)
                self.receiving.give_back(key, declared)
            self.typical_seconds = 0.9 * self.typical_seconds + 0.1 * (time.perf_counter() - started)

    def _condition(self) -> asyncio.Condition:
        if self._slot_freed is None:
            self._slot_freed = asyncio.Condition()
        return self._slot_freed

    async def _take_work_slot(self, key: str) -> None:
        async with self._condition():
            await self._condition().wait_for(lambda: not self.working.full_for(key))
            self.working.take(key)

    def _key_and_length(self, scope: Scope) -> tuple[str, int]:
        """The key id the request names ('' for none: anonymous requests share one bound) and the
        body length it declares (the request limit when it declares none)."""
        headers = dict(scope["headers"])
        presented = presented_key(headers.get(b"authorization", b"").decode("latin-1"))
        length = headers.get(b"content-length", b"")
        return (presented[1] if presented else "",
                min(int(length), self.max_body) if length.isdigit() else self.max_body)


#: The routes that take uploads: the synchronous ones, whose cost is paid while the caller waits, and
#: the async ones, whose bodies (up to the request limit each) are held in memory until stored.
ADMITTED_PATHS = re.compile(r"/v1/(scan|anonymize|scan/async|video/async)")


def install(app: FastAPI, settings: ServiceSettings) -> None:
    """Every middleware, in the order a request meets them: security headers, request context, CORS
    (only when origins are configured), admission control, then exact 405s."""
    app.add_middleware(ExactMethodNotAllowed, openapi=app.openapi)
    app.add_middleware(AdmissionControl, limit=settings.max_in_flight_requests,
                       per_key=settings.max_in_flight_per_key, waiting=settings.max_waiting_requests,
                       receiving_bytes=settings.max_receiving_bytes,
                       max_body=settings.max_request_bytes, paths=ADMITTED_PATHS)
    origins = [origin.strip() for origin in settings.cors_origins.split(",") if origin.strip()]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
                           expose_headers=["Location", "Retry-After", "X-Request-ID", "X-Discreet-Regions"])
    app.add_middleware(RequestContext, max_body=settings.max_request_bytes, body_timeout=settings.body_timeout_seconds)
    app.add_middleware(SecurityHeaders)

"""The FastAPI application: store, queue, outbound HTTP and routes wired together by ``create_app``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from discreet import __version__
from discreet.errors import PayloadTooLarge
from discreet.pipeline import Scanner
from discreet.service import hardening
from discreet.service.auth import RateLimiter
from discreet.service.callbacks import CallbackSender
from discreet.service.config import ServiceSettings
from discreet.service.errors import (
    error_response,
    install_error_handlers,
    new_request_id,
    request_id_var,
)
from discreet.service.fetch import SafeHttp
from discreet.service.metrics import (
    BROKER_DEPTH,
    LATENCY,
    LATENCY_WINDOW,
    QUEUE_DEPTH,
    REQUESTS,
    WORKERS,
    record_latencies,
)
from discreet.service.queue import Housekeeper, InProcessQueue, TaskRunner
from discreet.service.routes import router, task_view
from discreet.service.store import Store
from discreet.service.store.database import utcnow
from discreet.service.video_routes import router as video_router
from discreet.states import TaskStatus

if TYPE_CHECKING:
    from discreet.service.celery_queue import CeleryQueue

log = logging.getLogger("discreet.service")
WEB_DIR = Path(__file__).with_name("web")


class RequestContext:
    """Pure ASGI middleware: request id (X-Request-ID in and out, and in every log line), the body
    size limit (Content-Length checked up front, streamed bodies counted), and the HTTP metrics."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = new_request_id(headers.get("x-request-id"))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise PayloadTooLarge(f"the request body is over {self.max_body:,} bytes")
            return message

        try:
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_body:
                response = error_response(413, "payload_too_large", f"the request body is over {self.max_body:,} bytes")
                await response(scope, receive, send_with_id)
            else:
                await self.app(scope, counted_receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - started
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            log.info("%s %s -> %d in %.0f ms", scope["method"], scope["path"], status, elapsed * 1000)
            request_id_var.reset(token)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger("discreet")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(settings.store_url(), input_dir=settings.input_dir)
        await anyio.to_thread.run_sync(store.migrate)
        http = SafeHttp(settings)
        ttl = timedelta(seconds=settings.result_ttl_seconds)
        callbacks = CallbackSender(store, http, first_delay=settings.callback_first_delay_seconds,
                                   give_up_after=settings.callback_retry_seconds,
                                   hold=settings.callback_timeout_seconds * 3)
        lease = timedelta(seconds=settings.lease_seconds)
        housekeeping = {"callbacks": callbacks, "task_view": task_view, "lease": lease,
                        "sweep_interval": settings.sweep_interval_seconds}
        queue: InProcessQueue | CeleryQueue
        if settings.broker_url:
            from discreet.service.celery_queue import CeleryQueue

            queue = CeleryQueue(settings, store, housekeeping)
        else:
            runner = TaskRunner(store, http, ttl, lease=lease, max_tries=settings.task_max_tries)
            queue = InProcessQueue(runner, Housekeeper(store, requeue=lambda ids: queue.enqueue(ids), **housekeeping),
                                   workers=settings.workers, grace=settings.shutdown_grace_seconds)
        state = app.state
        state.settings, state.store, state.http, state.queue = settings, store, http, queue
        state.local_mode = not store.keys.has_active_keys()
        state.rate_limiter = RateLimiter(settings.rate_limit)
        state.scan_limiter = anyio.CapacityLimiter(settings.scan_concurrency)
        state.models_ready = threading.Event()
        if settings.preload_models:
            threading.Thread(target=_load_models, args=(state.models_ready,), daemon=True).start()
        else:
            state.models_ready.set()
        queue.start()
        workers = f"Celery workers on {_hide_password(settings.broker_url)}" if settings.broker_url else (
            f"{settings.workers} in-process worker(s)")
        log.info("store %s, %s, %s", store.engine.url.render_as_string(hide_password=True),
                 workers, "local mode (no API key)" if state.local_mode else "API keys required")
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(queue.stop)
            log.info("workers stopped")
            http.close()
            store.close()

    app = FastAPI(
        title="Discreet",
        version=__version__,
        description="Privacy-first image analysis: faces, codes, text and nudity, with no profiling of people.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    hardening.install(app, settings)
    app.add_middleware(RequestContext, max_body=settings.max_request_bytes)
    app.add_middleware(hardening.SecurityHeaders)
    app.include_router(router)
    app.include_router(video_router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        state = request.app.state
        problems = [] if state.models_ready.is_set() else ["models loading"]
        try:
            await anyio.to_thread.run_sync(state.store.ping)
        except SQLAlchemyError as exc:
            problems.append(f"store unreachable: {type(exc).__name__}")
        if problems:
            return error_response(503, "not_ready", "; ".join(problems))
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> PlainTextResponse:
        await anyio.to_thread.run_sync(update_queue_metrics, request.app.state)
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    if WEB_DIR.is_dir():
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app


def update_queue_metrics(state: Any) -> None:
    """Queue depth, workers and recent task latencies, read from the store (and the broker) at scrape
    time, so every API process of a cluster shows the cluster's figures."""
    counts = state.store.tasks.count_by_status()
    for status in (TaskStatus.QUEUED, TaskStatus.RUNNING):
        QUEUE_DEPTH.labels(status).set(counts.get(status, 0))
    queue = state.queue
    if state.settings.broker_url:
        try:
            BROKER_DEPTH.set(queue.depth())
            WORKERS.set(queue.live_workers())
        except Exception as exc:  # noqa: BLE001 - a broker outage must not break the scrape
            log.warning("broker unreachable for metrics: %s", exc)
            BROKER_DEPTH.set(float("nan"))
            WORKERS.set(float("nan"))
    else:
        WORKERS.set(state.settings.workers)
    record_latencies(state.store.tasks.finished_since(utcnow() - LATENCY_WINDOW))


def _hide_password(url: str | None) -> str:
    return make_url(url).render_as_string(hide_password=True) if url else ""


def _load_models(ready: threading.Event) -> None:
    try:
        Scanner(("faces",)).load()
    except Exception:
        log.exception("the face model failed to load")
        return
    ready.set()


def app_factory() -> Any:
    """For ``uvicorn --factory discreet.service.app:app_factory``."""
    configure_logging()
    return create_app()

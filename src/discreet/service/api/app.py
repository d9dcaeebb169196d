"""The FastAPI application: store, queue, outbound HTTP and routes wired together by ``create_app``."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from discreet import __version__
from discreet.pipeline import Scanner
from discreet.service.api import middleware
from discreet.service.api.dependencies import Services, ServicesDep
from discreet.service.api.errors import error_response, install_error_handlers
from discreet.service.api.moderation_routes import router as moderation_router
from discreet.service.api.routes import router
from discreet.service.api.scene_routes import router as scene_router
from discreet.service.api.video_routes import router as video_router
from discreet.service.auth import RateLimiter
from discreet.service.fetch import SafeHttp
from discreet.service.log import configure_logging
from discreet.service.metrics import BROKER_DEPTH, LATENCY_WINDOW, QUEUE_DEPTH, WORKERS, record_latencies
from discreet.service.store import Store
from discreet.service.tasks.callbacks import CallbackSender
from discreet.service.tasks.queue import Housekeeper, InProcessQueue, TaskRunner
from discreet.service.tasks.views import task_view
from discreet.settings import ServiceSettings
from discreet.states import TaskStatus

if TYPE_CHECKING:
    from discreet.service.tasks.celery_worker import CeleryQueue

log = logging.getLogger("discreet.service")
WEB_DIR = Path(__file__).parent.parent / "web"


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(settings.store_url(), input_dir=settings.input_dir)
        await anyio.to_thread.run_sync(store.migrate)
        http = SafeHttp(settings)
        ttl = timedelta(seconds=settings.result_ttl_seconds)
        callbacks = CallbackSender.from_settings(store, http, settings)
        lease = timedelta(seconds=settings.lease_seconds)
        housekeeping = {"callbacks": callbacks, "task_view": task_view, "lease": lease,
                        "sweep_interval": settings.sweep_interval_seconds}
        queue: InProcessQueue | CeleryQueue
        if settings.broker_url:
            from discreet.service.tasks.celery_worker import CeleryQueue

            queue = CeleryQueue(settings, store, housekeeping)
        else:
            runner = TaskRunner(store, http, ttl, lease=lease, max_tries=settings.task_max_tries)
            queue = InProcessQueue(runner, Housekeeper(store, requeue=lambda ids: queue.enqueue(ids), **housekeeping),
                                   workers=settings.workers, grace=settings.shutdown_grace_seconds)
        services = Services(
            settings=settings, store=store, http=http, queue=queue, rate_limiter=RateLimiter(settings.rate_limit),
            scan_limiter=anyio.CapacityLimiter(settings.scan_concurrency), models_ready=threading.Event(),
            local_mode=not store.keys.has_active_keys(),
            fetch_limiter=anyio.CapacityLimiter(settings.fetch_threads),
        )
        app.state.services = services
        if settings.preload_models:
            threading.Thread(target=_load_models, args=(services.models_ready,), daemon=True).start()
        else:
            services.models_ready.set()
        queue.start()
        workers = f"Celery workers on {_hide_password(settings.broker_url)}" if settings.broker_url else (
            f"{settings.workers} in-process worker(s)")
        log.info("store %s, %s, %s", store.engine.url.render_as_string(hide_password=True),
                 workers, "local mode (no API key)" if services.local_mode else "API keys required")
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(queue.stop)
            callbacks.close()
            log.info("workers stopped")
            http.close()
            store.close()

    app = FastAPI(
        title="Discreet",
        version=__version__,
        description="Privacy-first image analysis: faces, codes, text and nudity, with no profiling of people.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's own pages load Swagger UI from a CDN with an inline script: see _docs
        redoc_url=None,
    )
    install_error_handlers(app)
    middleware.install(app, settings)
    app.include_router(router)
    app.include_router(video_router)
    app.include_router(moderation_router)
    app.include_router(scene_router)
    _docs(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(services: ServicesDep) -> JSONResponse:
        problems = [] if services.models_ready.is_set() else ["models loading"]
        try:
            await anyio.to_thread.run_sync(services.store.ping)
        except SQLAlchemyError as exc:
            problems.append(f"store unreachable: {type(exc).__name__}")
        if problems:
            return error_response(503, "not_ready", "; ".join(problems))
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics(services: ServicesDep) -> PlainTextResponse:
        await anyio.to_thread.run_sync(update_queue_metrics, services)
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    if WEB_DIR.is_dir():
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app


def _docs(app: FastAPI) -> None:
    """Swagger UI at /docs from files this server serves, so it renders offline and under the same
    Content-Security-Policy as the web page (its start-up script is web/swagger-init.js)."""
    import fastapi_offline
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs-assets", StaticFiles(directory=Path(fastapi_offline.__file__).parent / "static"),
              name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE)


DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Discreet API</title>
  <link rel="icon" href="favicon.svg">
  <link rel="stylesheet" href="docs-assets/swagger-ui.css">
  <script src="docs-assets/swagger-ui-bundle.js" defer></script>
  <script src="swagger-init.js" defer></script>
</head>
<body><div id="swagger-ui"></div></body>
</html>
"""


def update_queue_metrics(state: Services) -> None:
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
    record_latencies(state.store.tasks.finished_since(state.store.clock() - LATENCY_WINDOW))


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
    """For ``uvicorn --factory discreet.service.api.app:app_factory``."""
    configure_logging()
    return create_app()

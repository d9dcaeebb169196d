"""One JSON shape for every error answer: ``{"error": {"code", "message", "request_id"}}``.

Codes come from ``discreet.errors`` (shared with the library and CLI); the service adds the few
that only an HTTP API has. Validation errors of FastAPI and Starlette's own HTTP errors are mapped
to the same shape.
"""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from discreet.errors import DiscreetError

log = logging.getLogger("discreet.service")

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")


class Unauthorized(DiscreetError):
    code = "unauthorized"
    http_status = 401


class NotFound(DiscreetError):
    code = "not_found"
    http_status = 404


class TooManyTasks(DiscreetError):
    code = "too_many_tasks"
    http_status = 413


class PayloadTooLarge(DiscreetError):
    code = "payload_too_large"
    http_status = 413


class RetryLater(DiscreetError):
    """An error the same request may clear later; the answer carries ``Retry-After``."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(RetryLater):
    code = "rate_limited"
    http_status = 429


class QueueUnavailable(RetryLater):
    """The broker (Redis) cannot take tasks now; nothing was queued, the same request may be sent again."""

    code = "queue_unavailable"
    http_status = 503


class FetchError(DiscreetError):
    """A URL could not be fetched, or was refused (codes ``url_refused``, ``url_fetch_failed``, ...)."""

    code = "url_fetch_failed"
    http_status = 422


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str


class ErrorBody(BaseModel):
    error: ErrorDetail


#: Error answers listed in the OpenAPI document of every route.
ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "invalid_request (also body and query validation), unknown_scene, unknown_attribute, no_scene",
        401: "unauthorized",
        403: "attribute_refused_by_policy",
        404: "not_found",
        413: "too_many_tasks, payload_too_large",
        422: "url_refused (a callback_url), image_* codes of /v1/anonymize",
        429: "rate_limited (with Retry-After)",
        500: "internal_error",
        501: "scene_not_installed",
        503: "queue_unavailable (with Retry-After; scale-out mode, the broker is down), "
             "overloaded (with Retry-After; more synchronous requests in flight than DISCREET_MAX_IN_FLIGHT_REQUESTS)",
    }.items()
}

_STATUS_CODES = {
    400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
    422: "invalid_request", 429: "rate_limited",
}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "request_id": request_id_var.get()}}
    return JSONResponse(body, status_code=status, headers=headers)


def new_request_id(incoming: str | None) -> str:
    if incoming and len(incoming) <= 200 and incoming.isprintable():
        return incoming
    return uuid.uuid4().hex


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DiscreetError)
    async def _discreet(_request: Request, exc: DiscreetError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RetryLater) else None
        return error_response(exc.http_status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()) if p != 'body') or 'body'}: {err.get('msg')}"
            for err in exc.errors()
        )
        return error_response(400, "invalid_request", problems or "the request is not valid")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "internal_error" if exc.status_code >= 500 else "invalid_request")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, "internal_error", "an unexpected error happened; the request id is in the logs")

"""One JSON shape for every error answer: ``{"error": {"code", "message", "request_id"}}``.

Codes, their statuses and classes are declared in ``discreet.errors`` (shared with the library, the
CLI and the client). Validation errors of FastAPI and Starlette's own HTTP errors are mapped
to the same shape.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from discreet.errors import ERROR_CODES, DiscreetError, RetryLater
from discreet.service.log import request_id_var

log = logging.getLogger("discreet.service")

class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str


class ErrorBody(BaseModel):
    error: ErrorDetail


#: Error answers listed in the OpenAPI document of every route, built from the declared codes.
ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorBody,
             "description": ", ".join(c.code for c in ERROR_CODES.values() if c.http_status == status)}
    for status in sorted({c.http_status for c in ERROR_CODES.values()})
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
        headers = ({"Retry-After": str(exc.retry_after)}
                   if isinstance(exc, RetryLater) and exc.retry_after is not None else None)
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

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, _exc: ClientDisconnect) -> JSONResponse:
        # one line, not a traceback: a client that hangs up mid-body is not a server fault
        log.info("the client disconnected before its request body arrived: %s %s", request.method, request.url.path)
        return error_response(400, "invalid_request", "the client disconnected")

    @app.exception_handler(RecursionError)
    async def _too_deep(_request: Request, _exc: RecursionError) -> JSONResponse:
        return error_response(400, "invalid_request", "the request is nested too deeply")

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, "internal_error", "an unexpected error happened; the request id is in the logs")

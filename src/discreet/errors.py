"""One error family with stable codes, shared by the library, the CLI, the HTTP API and its client.

Callers branch on ``error.code`` (a stable string), never on the message text. Every code is declared
once in ``ERROR_CODES`` with the HTTP status the service answers with and the class that carries it:
an error takes its ``http_status`` from its code, the service answers with it, and the client raises
the declared class for a code it receives.
"""

from __future__ import annotations

from dataclasses import dataclass


class DiscreetError(Exception):
    """Base of every error Discreet raises on purpose."""

    code: str = "internal_error"
    #: only for codes declared outside ``ERROR_CODES`` (a subclass may set its own)
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        declared = ERROR_CODES.get(self.code) or ERROR_CODES.get(type(self).code)
        if declared is not None:
            self.http_status = declared.http_status

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class ImageError(DiscreetError):
    """The input image cannot be used. Codes: see ``IMAGE_ERROR_CODES``."""

    code = "image_unreadable"


IMAGE_ERROR_CODES = {
    "image_empty": "the input has no bytes",
    "image_too_large": "over the byte limit, or declares a side or pixel count over the limits "
    "(checked from the header, before any pixel is decoded: this is what stops decompression bombs)",
    "image_unreadable": "corrupt, truncated or otherwise undecodable",
    "unsupported_format": "a format outside JPEG, PNG, WebP, GIF, BMP, TIFF (SVG, PDF, HEIC, ...)",
}


class ValidationError(DiscreetError):
    """A request names something that does not exist (an unknown attribute, scene or preset)."""

    code = "invalid_request"


class PolicyError(DiscreetError):
    """A request asks for something the privacy policy refuses. See ``discreet.policy``."""

    code = "attribute_refused_by_policy"


class SceneUnavailableError(DiscreetError):
    """A scene whose optional extra is not installed."""

    code = "scene_not_installed"


class Unauthorized(DiscreetError):
    code = "unauthorized"


class NotFound(DiscreetError):
    code = "not_found"


class Conflict(DiscreetError):
    """The request clashes with what the tenant already has: a name in use, or a list limit reached."""

    code = "conflict"


class Forbidden(DiscreetError):
    """An anonymous (no-key) request that is not from this machine's own pages: wrong Host, client or Origin."""

    code = "forbidden"


class UnsupportedMediaType(DiscreetError):
    code = "unsupported_media_type"


class RequestTimeout(DiscreetError):
    """The request body did not arrive within ``DISCREET_BODY_TIMEOUT_SECONDS``."""

    code = "request_timeout"


class TooManyTasks(DiscreetError):
    code = "too_many_tasks"


class PayloadTooLarge(DiscreetError):
    code = "payload_too_large"


class RetryLater(DiscreetError):
    """An error the same request may clear later; the answer carries ``Retry-After`` (seconds)."""

    def __init__(self, message: str, *, code: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class RateLimited(RetryLater):
    code = "rate_limited"


class QueueUnavailable(RetryLater):
    """The broker (Redis) cannot take tasks now; nothing was queued, the same request may be sent again."""

    code = "queue_unavailable"


class FetchError(DiscreetError):
    """A URL could not be fetched, or was refused (codes ``url_refused``, ``url_fetch_failed``, ...)."""

    code = "url_fetch_failed"


class TaskCanceled(DiscreetError):
    """A running task stopped because it was asked to (``DELETE /v1/tasks/{id}``)."""

    code = "canceled"


class ServiceError(DiscreetError):
    """An error answer of the service with no more specific class (internal_error, overloaded, ...)."""


class SignatureError(DiscreetError):
    """A callback whose Standard Webhooks signature does not verify (or is too old)."""

    code = "invalid_signature"


@dataclass(frozen=True)
class ErrorCode:
    code: str
    http_status: int
    error_class: type[DiscreetError]


def _declare(error_class: type[DiscreetError], http_status: int, *codes: str) -> dict[str, ErrorCode]:
    return {code: ErrorCode(code, http_status, error_class) for code in codes or (error_class.code,)}


#: Every declared code: its HTTP status and the class raised for it.
ERROR_CODES: dict[str, ErrorCode] = {
    **_declare(ValidationError, 400, "invalid_request", "invalid_task", "invalid_scale", "invalid_interval",
               "no_scene", "unknown_scene", "unknown_attribute", "attribute_not_supported", "unknown_method",
               "unknown_preset", "idempotency_key_reused", "unknown_pack", "unknown_split", "unknown_crop",
               "empty_pack", "invalid_hash", "invalid_term_pattern", "image_hash_low_quality", "invalid_policy"),
    **_declare(Unauthorized, 401),
    **_declare(SignatureError, 401),
    **_declare(PolicyError, 403, "attribute_refused_by_policy", "scene_refused_by_policy"),
    **_declare(Forbidden, 403),
    **_declare(NotFound, 404, "not_found", "policy_not_found", "list_not_found", "entry_not_found"),
    **_declare(RequestTimeout, 408),
    **_declare(TaskCanceled, 409),
    **_declare(Conflict, 409, "conflict", "name_taken", "too_many_lists", "list_full"),
    **_declare(TooManyTasks, 413),
    **_declare(PayloadTooLarge, 413),
    **_declare(UnsupportedMediaType, 415),
    **_declare(ImageError, 422, *IMAGE_ERROR_CODES),
    **_declare(FetchError, 422, "url_refused", "url_fetch_failed", "url_timeout", "url_too_large",
               "callback_failed"),
    **_declare(RateLimited, 429),
    **_declare(ServiceError, 500, "internal_error"),
    **_declare(SceneUnavailableError, 501),
    **_declare(QueueUnavailable, 503),
    **_declare(ServiceError, 503, "overloaded", "not_ready", "service_unreachable"),
}


def error_class(code: str) -> type[DiscreetError]:
    """The class declared for ``code``; ``ServiceError`` for a code declared nowhere."""
    declared = ERROR_CODES.get(code)
    return declared.error_class if declared is not None else ServiceError

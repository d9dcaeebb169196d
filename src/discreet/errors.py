"""One error family with stable codes, shared by the library, the CLI and the HTTP API.

Callers branch on ``error.code`` (a stable string), never on the message text. ``http_status``
is the status the service answers with, so the mapping lives here and nowhere else.
"""

from __future__ import annotations


class DiscreetError(Exception):
    """Base of every error Discreet raises on purpose."""

    code: str = "internal_error"
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class ImageError(DiscreetError):
    """The input image cannot be used. Codes: see ``IMAGE_ERROR_CODES``."""

    code = "image_unreadable"
    http_status = 422


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
    http_status = 400


class PolicyError(DiscreetError):
    """A request asks for something the privacy policy refuses. See ``discreet.policy``."""

    code = "attribute_refused_by_policy"
    http_status = 403


class SceneUnavailableError(DiscreetError):
    """A scene whose optional extra is not installed."""

    code = "scene_not_installed"
    http_status = 501

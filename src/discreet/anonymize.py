"""Cover what a scan finds, as each scene's analyzer says (faces under an ellipse, codes and text under their boxes).

The output is re-encoded from pixels in the input's format, so no metadata of the input (EXIF,
GPS, XMP, ICC comments) survives; the EXIF orientation is already applied to the pixels.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from discreet.analyzers import SCENES
from discreet.errors import ValidationError
from discreet.geometry import COVER_METHODS, CoverMethod, draw_cover
from discreet.imaging import ImageInput, decode
from discreet.pipeline import Scanner
from discreet.results import ScanResult
from discreet.settings import ImageLimits

#: What is covered unless the caller says otherwise: faces and licence plates, the two things in a
#: street photo that identify people (a plate identifies a vehicle's owner).
DEFAULT_REDACT: tuple[str, ...] = ("faces", "plates")
#: Ten times a region already covers any image around it; larger only overflows pixel arithmetic.
MAX_SCALE = 10.0
#: Rounds of covering at most for the scenes that look again at their covered output; a look
#: that finds nothing ends them, so most images take two.
COVER_ROUNDS = 3


@dataclass(frozen=True)
class AnonymizedImage:
    data: bytes
    format: str
    mime_type: str
    regions: int
    scan: ScanResult
    #: True where a cover was drawn, at the output's size: what ``discreet eval anonymize`` scores
    cover_mask: np.ndarray


def anonymize(
    image: ImageInput,
    method: CoverMethod = "blur",
    *,
    redact: Sequence[str] = DEFAULT_REDACT,
    scale: float | None = None,
    preset: str | None = None,
    min_score: float | None = None,
    threads: int | None = None,
    limits: ImageLimits | None = None,
) -> AnonymizedImage:
    """Cover every region of the scenes in ``redact`` and return the re-encoded image.

    Each scene's analyzer says what to cover and how (``SceneAnalyzer.covers``), how far to
    enlarge it (``cover_scale``; ``scale`` overrides it for every scene) and with which options to
    look (``anonymize_options``; ``preset`` and ``min_score`` override the faces scene's). Scenes
    with ``recheck_covers`` are looked at again on the encoded output (with ``recheck_options``),
    and whatever is still found (a face half-hidden by a neighbour's cover, an outline that still
    reads as a face) is covered too, for up to ``COVER_ROUNDS`` rounds.
    """
    if method not in COVER_METHODS:
        raise ValidationError(f"unknown method '{method}'; choose one of {', '.join(COVER_METHODS)}", code="unknown_method")
    if scale is not None and not 1.0 <= scale <= MAX_SCALE:  # also refuses NaN, which compares false with everything
        raise ValidationError(f"scale must be between 1.0 and {MAX_SCALE:g}", code="invalid_scale")
    decoded = decode(image, limits)
    options = anonymizing_options(redact, preset, min_score)
    scanner = Scanner(redact, options=options, threads=threads, limits=limits)
    result = scanner.scan(decoded)
    pixels = decoded.pixels.copy()
    mask = np.zeros(pixels.shape[:2], dtype=bool)
    fmt = decoded.format if decoded.format != "MPO" else "JPEG"
    rechecked = [scene for scene, analyzer in scanner.analyzers.items() if analyzer.recheck_covers]
    once = [scene for scene in scanner.scenes if scene not in rechecked]
    # What is looked at again is covered last, so the next look sees every other cover already drawn.
    regions = _draw(pixels, mask, scanner, result, once, method, scale)
    drawn = _draw(pixels, mask, scanner, result, rechecked, method, scale)
    data = encode(pixels, fmt)
    again = Scanner(rechecked, options=_rechecking_options(rechecked), threads=threads, limits=limits) if drawn else None
    rounds = 1
    while drawn and rounds < COVER_ROUNDS:
        regions += drawn
        # Check the image the caller receives: compression can make a covered head read as a face again.
        drawn = _draw(pixels, mask, again, again.scan(data), rechecked, method, scale)
        if drawn:
            data = encode(pixels, fmt)
        rounds += 1
    regions += drawn
    return AnonymizedImage(data, fmt, decoded.mime_type, regions, result, mask)


def anonymizing_options(
    redact: Sequence[str], preset: str | None = None, min_score: float | None = None
) -> dict[str, dict[str, Any]]:
    """Each redacted scene's ``anonymize_options``, with the faces scene's overridden where given."""
    options = {scene: dict(SCENES[scene].anonymize_options) for scene in redact if scene in SCENES}
    faces = options.get("faces")
    if faces is not None:
        faces.update({k: v for k, v in (("preset", preset), ("min_score", min_score)) if v is not None})
    return options


def _rechecking_options(scenes: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {scene: dict(SCENES[scene].recheck_options) for scene in scenes}


def _draw(
    pixels: np.ndarray, mask: np.ndarray, scanner: Scanner, found: ScanResult, scenes: Sequence[str], method: str,
    scale: float | None,
) -> int:
    """Draw the covers of ``scenes`` in ``found``; returns how many."""
    drawn = 0
    for scene in scenes:
        analyzer = scanner.analyzers[scene]
        for cover in analyzer.covers(getattr(found, scene)):
            draw_cover(pixels, cover, analyzer.cover_scale if scale is None else scale, method, mask)
            drawn += 1
    return drawn


def encode(pixels: np.ndarray, fmt: str) -> bytes:
    """Encode RGB pixels with no metadata at all."""
    out = io.BytesIO()
    options = {"JPEG": {"quality": 92}, "WEBP": {"quality": 90}}.get(fmt, {})
    Image.fromarray(pixels).save(out, format=fmt, **options)
    return out.getvalue()

"""Cover what a scan finds: faces under an ellipse, codes and text under their boxes.

The output is re-encoded from pixels in the input's format, so no metadata of the input (EXIF,
GPS, XMP, ICC comments) survives; the EXIF orientation is already applied to the pixels.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from PIL import Image

from discreet.errors import ValidationError
from discreet.imaging import ImageInput, decode
from discreet.pipeline import Scanner
from discreet.schema import Box, ScanResult
from discreet.settings import ImageLimits

Method = Literal["blur", "pixelate", "solid"]
METHODS: tuple[str, ...] = ("blur", "pixelate", "solid")
#: Ten times a face's box already covers any image around it; larger only overflows pixel arithmetic.
MAX_SCALE = 10.0

#: What anonymization asks of the face detector: the accurate preset at a low score threshold,
#: because a face left uncovered costs far more than a patch of blurred background.
ANONYMIZE_PRESET = "accurate"
ANONYMIZE_MIN_SCORE = 0.3
#: Detection passes at most; a pass that finds nothing ends the loop, so most images take two.
FACE_PASSES = 3
#: the smallest cover, in pixels a side
_MIN_COVER_SIDE = 24


@dataclass(frozen=True)
class AnonymizedImage:
    data: bytes
    format: str
    mime_type: str
    regions: int
    scan: ScanResult


def anonymize(
    image: ImageInput,
    method: Method = "blur",
    *,
    redact: Sequence[str] = ("faces",),
    scale: float = 1.6,
    preset: str = ANONYMIZE_PRESET,
    min_score: float = ANONYMIZE_MIN_SCORE,
    threads: int | None = None,
    limits: ImageLimits | None = None,
) -> AnonymizedImage:
    """Cover every region of the scenes in ``redact`` and return the re-encoded image.

    ``scale`` enlarges each region around its centre: 1.6 covers the whole head, because a
    detector still finds a blurred face by its outline of hair and chin. The detector then runs
    again on the covered pixels and whatever it still finds (a face half-hidden by a neighbour's
    cover, an outline that still reads as a face) is covered too, up to ``FACE_PASSES`` passes.
    """
    if method not in METHODS:
        raise ValidationError(f"unknown method '{method}'; choose one of {', '.join(METHODS)}", code="unknown_method")
    if not 1.0 <= scale <= MAX_SCALE:  # also refuses NaN, which compares false with everything
        raise ValidationError(f"scale must be between 1.0 and {MAX_SCALE:g}", code="invalid_scale")
    decoded = decode(image, limits)
    scanner = Scanner(redact, preset=preset, face_min_score=min_score, threads=threads, limits=limits)
    result = scanner.scan(decoded)
    pixels = decoded.pixels.copy()
    regions = 0
    for item in [*(result.codes or []), *(result.text or [])]:
        _cover(pixels, item.box, scale, method, ellipse=False)
        regions += 1
    fmt = decoded.format if decoded.format != "MPO" else "JPEG"
    data = encode(pixels, fmt)
    faces = result.faces or []
    face_scanner = Scanner(["faces"], preset=preset, face_min_score=min_score, threads=threads, limits=limits)
    for _ in range(FACE_PASSES):
        if not faces:
            break
        for face in faces:
            _cover(pixels, face.box, scale, method, ellipse=True)
        regions += len(faces)
        data = encode(pixels, fmt)
        # Check the image the caller receives: compression can make a covered head read as a face again.
        faces = face_scanner.scan(data).faces or []
    return AnonymizedImage(data, fmt, decoded.mime_type, regions, result)


def encode(pixels: np.ndarray, fmt: str) -> bytes:
    """Encode RGB pixels with no metadata at all."""
    out = io.BytesIO()
    options = {"JPEG": {"quality": 92}, "WEBP": {"quality": 90}}.get(fmt, {})
    Image.fromarray(pixels).save(out, format=fmt, **options)
    return out.getvalue()


def _cover(pixels: np.ndarray, box: Box, scale: float, method: str, *, ellipse: bool) -> None:
    height, width = pixels.shape[:2]
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    # Tiny faces get a cover of at least _MIN_COVER_SIDE: a blurred 8 px face still reads as a face
    # to a detector that enlarges the image, a blurred 24 px patch of it does not.
    half_w = max(box.width * scale, _MIN_COVER_SIDE) / 2
    half_h = max(box.height * scale, _MIN_COVER_SIDE) / 2
    x1, y1 = max(0, int(cx - half_w)), max(0, int(cy - half_h))
    x2, y2 = min(width, int(np.ceil(cx + half_w))), min(height, int(np.ceil(cy + half_h)))
    if x2 <= x1 or y2 <= y1:
        return
    patch = pixels[y1:y2, x1:x2]
    covered = _covered(patch, method)
    if ellipse:
        mask = np.zeros(patch.shape[:2], dtype=np.uint8)
        center = (int(round(cx - x1)), int(round(cy - y1)))
        cv2.ellipse(mask, center, (max(1, int(half_w)), max(1, int(half_h))), 0, 0, 360, 1, thickness=-1)
        patch[mask.astype(bool)] = covered[mask.astype(bool)]
    else:
        patch[:] = covered


_BLUR_SIDE = 96


def _covered(patch: np.ndarray, method: str) -> np.ndarray:
    h, w = patch.shape[:2]
    if method == "solid":
        return np.zeros_like(patch)
    if method == "pixelate":
        blocks = 5  # across the longer side: no feature survives, yet the region still reads as a person
        small_w, small_h = max(1, round(w * blocks / max(w, h))), max(1, round(h * blocks / max(w, h)))
        small = cv2.resize(patch, (small_w, small_h), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    if max(w, h) > _BLUR_SIDE:
        # The same blur on a copy shrunk to _BLUR_SIDE: a Gaussian kernel of half a large face's size
        # cost ~70 ms a face at 720p and was most of the time of anonymizing a video.
        factor = _BLUR_SIDE / max(w, h)
        small = cv2.resize(patch, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
        return cv2.resize(_covered(small, method), (w, h), interpolation=cv2.INTER_LINEAR)
    # A kernel of half the region's size leaves no facial structure at any face size.
    kernel = max(3, (max(w, h) // 2) | 1)
    return cv2.GaussianBlur(cv2.blur(patch, (kernel, kernel)), (kernel, kernel), 0)

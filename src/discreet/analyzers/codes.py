"""QR codes and barcodes, read by zxing-cpp (Apache-2.0, a maintained C++ decoder with Python bindings).

zxing-cpp already tries rotations, downscaled copies and inverted colours in one call. What it
does not try is a second binarization, an enlarged copy or a sharpened one, which is what hard
photos need (codes filled with a picture, tiny codes, out-of-focus codes). ``ATTEMPTS`` is the
cascade: each attempt runs only when every earlier one found nothing, so an image whose code the
plain call reads costs one call. Measured with ``discreet eval qr`` (README, "Codes, text and
nudity").

Payloads are zxing-cpp's ``TextMode.Plain``: the code's bytes as text, with no escaping of
control characters (the default "HRI" mode would turn ``\\x01`` into ``<SOH>``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp

from discreet.analyzers.base import SceneAnalyzer
from discreet.geometry import Cover
from discreet.models import ModelInfo
from discreet.schema import Box, Code, Point

_URL = re.compile(r"^\s*(https?://|www\.)", re.IGNORECASE)

#: turns the grey image into the one an attempt reads, with its scale; None: the attempt does not apply
Preparation = Callable[[np.ndarray], tuple[np.ndarray, float] | None]

#: codes whose modules are 1-2 pixels are read after enlarging; bigger images are left as they are
_ENLARGE_BELOW_SIDE = 800


def _unchanged(gray: np.ndarray) -> tuple[np.ndarray, float]:
    return gray, 1.0


def _sharpen(gray: np.ndarray, sigma: float, amount: float) -> np.ndarray:
    # Unsharp mask: restores the module edges of out-of-focus photos.
    blurred = cv2.GaussianBlur(gray, (0, 0), sigma)
    return cv2.addWeighted(gray, 1 + amount, blurred, -amount, 0)


def _sharpened(gray: np.ndarray) -> tuple[np.ndarray, float]:
    return _sharpen(gray, 1.0, 1.5), 1.0


def _enlarged(gray: np.ndarray) -> tuple[np.ndarray, float] | None:
    if max(gray.shape) >= _ENLARGE_BELOW_SIDE:
        return None
    return cv2.resize(gray, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC), 2.0


def _enlarged_sharpened(gray: np.ndarray) -> tuple[np.ndarray, float] | None:
    enlarged = _enlarged(gray)
    return None if enlarged is None else (_sharpen(enlarged[0], 3.0, 1.5), enlarged[1])


@dataclass(frozen=True)
class Attempt:
    name: str
    prepare: Preparation
    binarizer: zxingcpp.Binarizer


#: Ordered by what each adds after the ones before it, measured by bench/qr_vs_zxing.py --degrade
#: on the qr pack as is and made harder (blur, half size, noise, low contrast, JPEG); none of the
#: attempts reported a code on the pack's images without one, nor on 427 street photos.
ATTEMPTS: tuple[Attempt, ...] = (
    Attempt("plain", _unchanged, zxingcpp.Binarizer.LocalAverage),
    # A global threshold reads codes whose dark modules carry picture detail (photo-filled QR codes).
    Attempt("global threshold", _unchanged, zxingcpp.Binarizer.GlobalHistogram),
    Attempt("enlarged", _enlarged, zxingcpp.Binarizer.LocalAverage),
    Attempt("enlarged and sharpened", _enlarged_sharpened, zxingcpp.Binarizer.LocalAverage),
    Attempt("sharpened", _sharpened, zxingcpp.Binarizer.LocalAverage),
)


class CodeReader(SceneAnalyzer[list[Code]]):
    """The ``codes`` scene. zxing-cpp reads on the calling thread, so ``threads`` is not used."""

    name = "zxing-cpp"
    scene = "codes"
    result = list[Code]
    description = "QR codes and barcodes: format, payload, box and corners"
    models = (
        ModelInfo(
            name="zxing-cpp",
            task="QR codes and barcodes (a decoder, no weights)",
            package="zxing-cpp",
            version="3.1.1",
            licence="Apache-2.0",
        ),
    )
    cover_scale = 1.6
    #: a code that opens a web address is what phishing and spam in pictures use
    moderation_rules = {"code_url": {"review": 0.5}}

    @classmethod
    def moderation_labels(cls, found: list[Code]) -> dict[str, float]:
        return {"code_url": 1.0} if any(_URL.match(code.payload) for code in found) else {}

    def __init__(self, threads: int = 1, attempts: tuple[Attempt, ...] = ATTEMPTS) -> None:
        super().__init__(threads)
        self.attempts = attempts

    def _load(self) -> None:
        """A decoder: there are no weights to load."""

    def _predict_one(self, image: np.ndarray) -> list[Code]:
        return self.read(image)

    def covers(self, found: list[Code]) -> list[Cover]:
        return [Cover(code.box) for code in found]

    def read(self, pixels: np.ndarray) -> list[Code]:
        """Every code found by the first attempt that finds any, in original pixel coordinates."""
        gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY) if pixels.ndim == 3 else pixels
        for attempt in self.attempts:
            prepared = attempt.prepare(gray)
            if prepared is None:
                continue
            prepared, scale = prepared
            found = zxingcpp.read_barcodes(
                np.ascontiguousarray(prepared), text_mode=zxingcpp.TextMode.Plain, binarizer=attempt.binarizer
            )
            if found:
                return [_to_code(barcode, scale, gray.shape) for barcode in found]
        return []


def _to_code(barcode: zxingcpp.Barcode, scale: float, shape: tuple[int, ...]) -> Code:
    position = barcode.position
    corners = [
        Point(x=p.x / scale, y=p.y / scale)
        for p in (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    ]
    xs, ys = [p.x for p in corners], [p.y for p in corners]
    x1, x2, y1, y2 = min(xs), max(xs), min(ys), max(ys)
    # A linear barcode read on a single scan line has a flat position; give its box some height
    # (a fifth of its width, about the shortest bars printed) so that it covers the bars.
    min_height = (x2 - x1) / 5
    if y2 - y1 < min_height:
        middle = (y1 + y2) / 2
        y1, y2 = max(0.0, middle - min_height / 2), min(float(shape[0]), middle + min_height / 2)
    return Code(
        format=barcode.format.name,
        payload=barcode.text,
        box=Box(x1=x1, y1=y1, x2=max(x2, x1 + 1), y2=max(y2, y1 + 1)),
        corners=corners,
    )

"""Image intake: bytes or a path in, upright RGB pixels out, or an ``ImageError`` with a stable code.

Pillow decodes. Limits are checked in this order, each before the costlier step after it:
byte count (before reading a path), then the header's declared width, height and pixel count
(before any pixel is decoded), then the decode itself. Only the first frame of an animated GIF
or multi-page TIFF is used.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from discreet.errors import ImageError
from discreet.settings import ImageLimits

#: Pillow format names accepted, and the MIME type of each (the API answers with these).
SUPPORTED_FORMATS: dict[str, str] = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",  # phone cameras' multi-picture JPEG: the first picture is a plain JPEG
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}

# MPO has no opener of its own: Pillow's JPEG opener recognises it.
_PILLOW_OPENERS = [name for name in SUPPORTED_FORMATS if name != "MPO"]

# Signatures of formats people send that Discreet does not take, so they get `unsupported_format`
# rather than `image_unreadable`.
_OTHER_FORMAT_SIGNATURES: dict[bytes, str] = {
    b"%PDF": "PDF",
    b"8BPS": "PSD",
    b"\x00\x00\x01\x00": "ICO",
    b"\x00\x00\x00\x0cjP  ": "JPEG 2000",
    b"\xff\x0a": "JPEG XL",
    b"\x00\x00\x00\x0cJXL ": "JPEG XL",
    b"qoif": "QOI",
}


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB image. ``pixels`` is ``uint8`` of shape (height, width, 3)."""

    pixels: np.ndarray
    format: str

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def mime_type(self) -> str:
        return SUPPORTED_FORMATS[self.format]


#: File name endings looked at when a folder is scanned (a file named explicitly is always tried).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".mpo"})

ImageInput = bytes | bytearray | memoryview | str | Path | DecodedImage | np.ndarray


def read_bytes(source: str | Path, limits: ImageLimits | None = None) -> bytes:
    """Read a file, refusing it from its size alone when it is over the byte limit."""
    limits = limits or ImageLimits()
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise _too_large_bytes(size, limits)
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path.name}: {exc.strerror}", code="image_unreadable") from exc


def decode(source: ImageInput, limits: ImageLimits | None = None) -> DecodedImage:
    """Decode any accepted input to an upright RGB ``DecodedImage``."""
    if isinstance(source, DecodedImage):
        return source
    if isinstance(source, np.ndarray):
        return DecodedImage(_array_to_rgb(source), "PNG")
    limits = limits or ImageLimits()
    data = read_bytes(source, limits) if isinstance(source, (str, Path)) else bytes(source)
    if not data:
        raise ImageError("the image has no bytes", code="image_empty")
    if len(data) > limits.max_bytes:
        raise _too_large_bytes(len(data), limits)

    with warnings.catch_warnings():
        # Pillow warns on large images; Discreet's own limits below decide instead.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=_PILLOW_OPENERS)
        except Image.DecompressionBombError as exc:
            raise ImageError(f"the image declares too many pixels: {exc}", code="image_too_large") from exc
        except UnidentifiedImageError as exc:
            raise _unidentified(data) from exc
        except Exception as exc:  # Pillow plugins raise many types on hostile headers
            raise ImageError(f"the image header is corrupt: {exc}", code="image_unreadable") from exc

        _check_declared_size(image.width, image.height, limits)
        fmt = image.format or ""
        try:
            image.seek(0)
            image.load()
            pixels = _to_rgb(ImageOps.exif_transpose(image))
        except ImageError:
            raise
        except Exception as exc:  # truncated data, bad chunks, broken EXIF: all mean unreadable
            raise ImageError(f"the {fmt} image cannot be decoded: {exc}", code="image_unreadable") from exc
        finally:
            image.close()
    return DecodedImage(pixels, fmt)


def _too_large_bytes(size: int, limits: ImageLimits) -> ImageError:
    return ImageError(
        f"the image is {size:,} bytes, over the limit of {limits.max_bytes:,}", code="image_too_large"
    )


def _check_declared_size(width: int, height: int, limits: ImageLimits) -> None:
    if width <= 0 or height <= 0:
        raise ImageError(f"the image declares an empty size {width}x{height}", code="image_unreadable")
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise ImageError(
            f"the image declares {width}x{height} pixels; limits are {limits.max_side:,} a side "
            f"and {limits.max_pixels:,} in all",
            code="image_too_large",
        )


def _unidentified(data: bytes) -> ImageError:
    head = data[:64]
    name = next((n for sig, n in _OTHER_FORMAT_SIGNATURES.items() if head.startswith(sig)), None)
    if name is None and head.lstrip().startswith(b"<"):
        name = "SVG/XML/HTML"
    if name is None and head[4:8] == b"ftyp":
        name = "HEIF/AVIF/MP4"
    if name is not None:
        return ImageError(
            f"{name} is not a supported image format; send {', '.join(sorted(set(SUPPORTED_FORMATS) - {'MPO'}))}",
            code="unsupported_format",
        )
    return ImageError("the bytes are not a readable image", code="image_unreadable")


def _to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16/32-bit grayscale: keep the top byte rather than letting convert() clip to white.
        wide = np.asarray(image, dtype=np.uint32)
        shift = 8 if mode.startswith("I;16") or wide.max(initial=0) <= 0xFFFF else 24
        return _array_to_rgb((wide >> shift).astype(np.uint8))
    if mode == "F":
        floats = np.asarray(image, dtype=np.float32)
        span = float(floats.max(initial=0) - floats.min(initial=0)) or 1.0
        return _array_to_rgb(((floats - floats.min(initial=0)) / span * 255).astype(np.uint8))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        # Transparent pixels go on white: detectors see what a viewer sees.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:
        raise ImageError(f"pixel arrays must be uint8, not {array.dtype}", code="image_unreadable")
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] == 3:
        return np.ascontiguousarray(array)
    if array.ndim == 3 and array.shape[2] == 4:
        return np.ascontiguousarray(array[:, :, :3])
    raise ImageError(f"pixel arrays must be HxW, HxWx3 or HxWx4, not {array.shape}", code="image_unreadable")

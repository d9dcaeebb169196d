"""Image intake: every format, every error code, EXIF orientation and odd colour modes."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from discreet.errors import IMAGE_ERROR_CODES, ImageError
from discreet.imaging import decode, read_bytes
from discreet.settings import ImageLimits


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _gradient(width: int = 64, height: int = 48) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.dstack([x, y, 255 - x]))


def _code(source, limits: ImageLimits | None = None) -> str:
    with pytest.raises(ImageError) as caught:
        decode(source, limits)
    assert caught.value.code in IMAGE_ERROR_CODES, caught.value.code
    assert caught.value.message
    return caught.value.code


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_every_supported_format_decodes_to_rgb(fmt):
    decoded = decode(_encode(_gradient(), fmt))
    assert decoded.pixels.shape == (48, 64, 3)
    assert decoded.pixels.dtype == np.uint8
    assert decoded.format == fmt
    # the gradient survives (lossy formats within tolerance, GIF within its palette)
    assert abs(int(decoded.pixels[0, 63, 0]) - 255) < 40
    assert abs(int(decoded.pixels[0, 0, 0]) - 0) < 40


def test_real_photo_from_a_path(data_dir):
    decoded = decode(data_dir / "dlib-faces" / "2008_002470.jpg")
    assert (decoded.width, decoded.height) == (500, 332)


def test_exif_orientation_is_applied():
    # Landscape pixels tagged "rotate 90 clockwise to display" (orientation 6) must come out portrait,
    # with the pixel stored top-left now at the top-right.
    pixels = np.zeros((40, 80, 3), dtype=np.uint8)
    pixels[:10, :10] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode(_encode(Image.fromarray(pixels), "JPEG", exif=exif, quality=95))
    assert (decoded.width, decoded.height) == (40, 80)
    assert decoded.pixels[3, 36, 0] > 200 and decoded.pixels[3, 3, 0] < 60


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("P", "PNG"), ("P+transparency", "PNG"), ("P+transparency", "GIF"), ("RGBA", "PNG"), ("LA", "PNG"), ("L", "PNG"), ("1", "PNG"), ("CMYK", "JPEG"),
     ("CMYK", "TIFF"), ("I;16", "PNG"), ("I;16", "TIFF"), ("F", "TIFF"), ("YCbCr", "JPEG")],
)
def test_odd_modes_convert_to_rgb(mode, fmt):
    source = _gradient().convert("RGBA" if mode == "LA" else "RGB")
    options = {}
    if mode == "P+transparency":
        image, options = source.convert("P"), {"transparency": 0}
    elif mode == "I;16":
        wide = (np.linspace(0, 65535, 64)[None, :].repeat(48, 0)).astype(np.uint16)
        image = Image.fromarray(wide)  # Pillow picks I;16 for uint16
    elif mode == "F":
        image = Image.fromarray(np.linspace(-1, 1, 64, dtype=np.float32)[None, :].repeat(48, 0))
    else:
        image = source.convert(mode)
    decoded = decode(_encode(image, fmt, **options))
    assert decoded.pixels.shape == (48, 64, 3)
    if mode in ("I;16", "F"):
        # a ramp stays a ramp: dark on the left, bright on the right, not clipped to white
        assert decoded.pixels[0, 0, 0] < 30 and decoded.pixels[0, 63, 0] > 220


def test_transparency_is_composited_on_white():
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)  # fully transparent black
    decoded = decode(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert (decoded.pixels == 255).all()


def test_gif_first_frame_only():
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
    decoded = decode(out.getvalue())
    assert decoded.pixels[8, 8, 0] > 200 and decoded.pixels[8, 8, 2] < 50


def test_empty_input():
    assert _code(b"") == "image_empty"


def test_too_many_bytes_is_refused_before_decoding(tmp_path):
    limits = ImageLimits(max_bytes=1000)
    data = (np.random.default_rng(1).integers(0, 255, (100, 100, 3), dtype=np.uint8)).tobytes()
    data = _encode(Image.frombytes("RGB", (100, 100), data), "PNG")
    assert len(data) > 1000
    assert _code(data, limits) == "image_too_large"
    path = tmp_path / "big.png"
    path.write_bytes(data)
    with pytest.raises(ImageError) as caught:
        read_bytes(path, limits)
    assert caught.value.code == "image_too_large"


def test_declared_side_and_pixels_over_limits():
    data = _encode(_gradient(300, 20), "PNG")
    assert _code(data, ImageLimits(max_side=256)) == "image_too_large"
    assert _code(data, ImageLimits(max_pixels=5000)) == "image_too_large"


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size; its one IDAT chunk holds almost nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(100_000, 100_000), (60_000, 10), (8_000, 8_000)])
def test_decompression_bombs_are_refused_from_the_header(size):
    data = _png_declaring(*size)
    assert len(data) < 200
    assert _code(data) == "image_too_large"


def test_truncated_and_corrupt_images_are_unreadable(data_dir):
    jpeg = (data_dir / "dlib-faces" / "2008_002470.jpg").read_bytes()
    assert _code(jpeg[: len(jpeg) // 2]) == "image_unreadable"
    png = _encode(_gradient(), "PNG")
    assert _code(png[:60]) == "image_unreadable"
    assert _code(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40) == "image_unreadable"
    assert _code(np.random.default_rng(0).bytes(5000)) == "image_unreadable"


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n",
        b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 32,
    ],
    ids=["svg", "pdf", "heic"],
)
def test_other_formats_are_unsupported(data):
    assert _code(data) == "unsupported_format"


def test_missing_file_is_unreadable(tmp_path):
    assert _code(tmp_path / "nothing.jpg") == "image_unreadable"

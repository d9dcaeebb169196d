"""Hostile inputs, generated: each with the error code Discreet documents for it (docs/hostile-inputs.md).

``None`` as the code means the input is a valid image and is scanned (its oddity is harmless).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Hostile:
    name: str
    data: bytes
    code: str | None


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _chunk(b"IEND", b""))


def gif_declaring(width: int, height: int) -> bytes:
    screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + frame + b";"


def tiff_declaring(width: int, height: int) -> bytes:
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, 1)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, count, value) if kind == 4 else struct.pack("<HHIHH", tag, kind, count, value, 0)
        for tag, kind, count, value in entries) + b"\0\0\0\0"
    return b"II*\x00" + struct.pack("<I", 12) + b"\0\0\0\0" + ifd


def webp_declaring(width: int, height: int) -> bytes:
    """A lossless (VP8L) header: 14 bits a side, so at most 16384x16384."""
    bits = (width - 1) | ((height - 1) << 14)
    body = b"\x2f" + struct.pack("<I", bits) + b"\0" * 16
    chunk = b"VP8L" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def webp_canvas_declaring(width: int, height: int) -> bytes:
    """An extended (VP8X) header: 24 bits a side for the canvas."""
    body = b"\0\0\0\0" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    chunk = b"VP8X" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def _corrupt_middle(data: bytes) -> bytes:
    middle = len(data) // 3
    return data[:middle] + bytes(b ^ 0xA5 for b in data[middle:middle + 64]) + data[middle + 64:]


def _absurd_exif(photo: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 9999  # orientation outside 1..8
    exif[0x010F] = "A" * 60000  # a 60 kB camera maker
    return _encode(photo, "JPEG", exif=exif)


def _exif_ifd_loop(photo: Image.Image) -> bytes:
    """EXIF whose IFD points back at itself, with an entry count over the segment's length."""
    jpeg = _encode(photo, "JPEG")
    tiff = b"MM\x00*\x00\x00\x00\x08" + struct.pack(">H", 0xFFFF) + struct.pack(">HHII", 0x0112, 3, 1, 6 << 16)
    tiff += struct.pack(">I", 8)
    segment = b"Exif\0\0" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + jpeg[2:]


def corpus(photo_path: Path) -> list[Hostile]:
    """Every hostile input, built from one real photo (for the formats that need real content)."""
    with Image.open(photo_path) as opened:
        photo = opened.convert("RGB")
    small = photo.resize((64, 48))
    jpeg = photo_path.read_bytes()
    png, webp, gif = (_encode(small, fmt) for fmt in ("PNG", "WEBP", "GIF"))
    made: list[tuple[str, Callable[[], bytes], str | None]] = [
        ("zero bytes", lambda: b"", "image_empty"),
        ("truncated JPEG (half a photo)", lambda: jpeg[: len(jpeg) // 2], "image_unreadable"),
        ("truncated PNG", lambda: png[: len(png) // 2], "image_unreadable"),
        ("truncated WebP", lambda: webp[: len(webp) // 2], "image_unreadable"),
        ("truncated GIF", lambda: gif[: len(gif) // 2], "image_unreadable"),
        ("JPEG header only (SOI + garbage)", lambda: b"\xff\xd8\xff" + b"\x00" * 100, "image_unreadable"),
        ("corrupted PNG (bytes flipped mid-file)", lambda: _corrupt_middle(png), "image_unreadable"),
        ("corrupted WebP data (bytes flipped mid-file: decodes to garbled pixels)", lambda: _corrupt_middle(webp),
         None),
        ("corrupted JPEG data (bytes flipped mid-file: decodes to garbled pixels)", lambda: _corrupt_middle(jpeg),
         None),
        ("PNG bomb: declares 100000x100000 in under 100 bytes", lambda: png_declaring(100_000, 100_000), "image_too_large"),
        ("PNG bomb: declares 8000x8000 (64 Mpx)", lambda: png_declaring(8_000, 8_000), "image_too_large"),
        ("GIF bomb: declares 65535x65535", lambda: gif_declaring(65_535, 65_535), "image_too_large"),
        ("TIFF bomb: declares 100000x100000", lambda: tiff_declaring(100_000, 100_000), "image_too_large"),
        ("WebP bomb: lossless header declares 16384x16384", lambda: webp_declaring(16_384, 16_384), "image_too_large"),
        ("WebP bomb: extended canvas declares 16777216x16777216",
         lambda: webp_canvas_declaring(1 << 24, 1 << 24), "image_too_large"),
        ("SVG", lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>', "unsupported_format"),
        ("XML with an external entity (XXE)", lambda: b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM '
         b'"file:///etc/passwd">]><svg>&e;</svg>', "unsupported_format"),
        ("HTML page", lambda: b"<!doctype html><html><script>alert(1)</script></html>", "unsupported_format"),
        ("PDF", lambda: b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", "unsupported_format"),
        ("polyglot: GIF header + JavaScript", lambda: b"GIF89a/*\x00\x00*/=alert(1)//" + b"\x00" * 32,
         "image_unreadable"),
        ("polyglot: PDF that is also a JPEG", lambda: b"%PDF-1.4\n%" + jpeg, "unsupported_format"),
        ("polyglot: JPEG with a ZIP appended", lambda: jpeg + b"PK\x03\x04" + b"\x00" * 200, None),
        ("absurd EXIF: orientation 9999, 60 kB maker", lambda: _absurd_exif(small), None),
        ("absurd EXIF: self-referencing IFD, 65535 entries", lambda: _exif_ifd_loop(small), None),
        ("1x1 PNG", lambda: _encode(Image.new("RGB", (1, 1)), "PNG"), None),
        ("30000x1 PNG (the side limit)", lambda: _encode(Image.new("L", (30_000, 1), 128), "PNG"), None),
        ("30001x1 PNG (one over the side limit)", lambda: _encode(Image.new("L", (30_001, 1), 128), "PNG"),
         "image_too_large"),
        ("random bytes", lambda: np.random.default_rng(0).bytes(4096), "image_unreadable"),
    ]
    return [Hostile(name, build(), code) for name, build, code in made]

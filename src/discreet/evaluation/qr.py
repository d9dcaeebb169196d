"""``discreet eval qr``: exact payloads read, false positives and speed on a ZXing black-box pack.

Layout (the ``qr`` pack of ../shared/data/DATA.md): folders ``qrcode-*/`` hold ``N.png`` (or
``.jpg``) beside ``N.txt``, the exact payload; folders ``falsepositives*/`` hold images with no
code. Payload files are read as bytes and decoded as UTF-8 with no newline translation, because
payloads carry ``\\r\\n`` on purpose (reading them as text turns that into ``\\n`` and scores a
correct read as wrong).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from discreet.analyzers.codes import CodeReader
from discreet.evaluation.packs import natural_key
from discreet.imaging import IMAGE_SUFFIXES, decode

#: reads the payloads found in RGB pixels
PayloadReader = Callable[[np.ndarray], list[str]]
#: alters RGB pixels before reading (bench/qr_vs_zxing.py degrades the pack to test robustness)
Alteration = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class QrSample:
    path: Path
    payload: str | None  # None: an image with no code


def read_qr_pack(directory: str | Path) -> list[QrSample]:
    root = Path(directory)
    samples = [*_positives(root), *_negatives(root)]
    if not samples:
        raise FileNotFoundError(f"{root} has no qrcode-*/ or falsepositives*/ folder: not a ZXing pack")
    return samples


def _positives(root: Path) -> Iterator[QrSample]:
    for folder in sorted(root.glob("qrcode-*"), key=natural_key):
        for payload in sorted(folder.glob("*.txt"), key=natural_key):
            if payload.name.endswith(".metadata.txt"):
                continue
            images = [p for p in folder.glob(f"{payload.stem}.*") if p.suffix.lower() in IMAGE_SUFFIXES]
            if images:
                yield QrSample(images[0], payload.read_bytes().decode("utf-8"))


def _negatives(root: Path) -> Iterator[QrSample]:
    for folder in sorted(root.glob("falsepositives*"), key=natural_key):
        for image in sorted(folder.iterdir(), key=natural_key):
            if image.suffix.lower() in IMAGE_SUFFIXES:
                yield QrSample(image, None)


def discreet_reader() -> PayloadReader:
    reader = CodeReader()
    return lambda pixels: [code.payload for code in reader.read(pixels)]


def evaluate_qr(
    data: str | Path,
    reader: PayloadReader | None = None,
    *,
    alteration: Alteration | None = None,
    on_image: Callable[[int, int], None] | None = None,
) -> dict[str, float | int]:
    """Score a reader on one thread; the time is the reader's alone (decoding excluded), over all images."""
    samples = read_qr_pack(data)
    reader = reader or discreet_reader()
    decoded = found_on_negatives = 0
    times = []
    for done, sample in enumerate(samples, start=1):
        pixels = decode(sample.path).pixels
        if alteration is not None:
            pixels = alteration(pixels)
        start = time.perf_counter()
        payloads = reader(pixels)
        times.append((time.perf_counter() - start) * 1000)
        if sample.payload is None:
            found_on_negatives += bool(payloads)
        else:
            decoded += sample.payload in payloads
        if on_image:
            on_image(done, len(samples))
    codes = sum(s.payload is not None for s in samples)
    return {
        "decode_rate": round(decoded / codes, 4) if codes else 0.0,
        "codes": codes,
        "decoded": decoded,
        "false_positive_images": found_on_negatives,
        "negatives": len(samples) - codes,
        "ms_median": round(statistics.median(times), 2),
    }

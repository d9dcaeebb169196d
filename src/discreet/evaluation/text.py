"""``discreet eval text``: what the text scene finds on real photos, and how fast.

No pack here has text transcriptions, so this reports counts and speed, not accuracy.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from discreet.analyzers.text import TextReader
from discreet.evaluation.packs import iter_images
from discreet.imaging import decode


def evaluate_text(
    folders: list[Path],
    *,
    limit_per_folder: int | None = None,
    threads: int = 1,
    on_image: Callable[[int, int], None] | None = None,
) -> dict[str, float | int]:
    images = [path for folder in folders for path in list(iter_images([folder]))[:limit_per_folder]]
    reader = TextReader(threads=threads)
    start = time.perf_counter()
    reader.load()
    load_ms = (time.perf_counter() - start) * 1000
    lines, with_text, times, confidences = 0, 0, [], []
    for done, path in enumerate(images, start=1):
        pixels = decode(path).pixels
        start = time.perf_counter()
        found = reader.read(pixels)
        times.append((time.perf_counter() - start) * 1000)
        lines += len(found)
        with_text += bool(found)
        confidences += [line.confidence for line in found]
        if on_image:
            on_image(done, len(images))
    return {
        "images": len(images),
        "images_with_text": with_text,
        "lines": lines,
        "confidence_median": round(statistics.median(confidences), 3) if confidences else 0.0,
        "engine_load_ms": round(load_ms, 1),
        "ms_median": round(statistics.median(times), 1) if times else 0.0,
        "ms_p90": round(statistics.quantiles(times, n=10)[-1], 1) if len(times) > 1 else 0.0,
    }

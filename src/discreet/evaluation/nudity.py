"""``discreet eval nudity``: how often ordinary photos (no nudity at all) are not ``pass``.

There is no labelled nudity pack here, so this measures the one error that can be measured on
ordinary photos: the false-positive rate of the suggestion, with the categories that caused it.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from discreet.analyzers.nudity import NudityDetector
from discreet.evaluation.packs import iter_images
from discreet.imaging import decode


def evaluate_nudity_false_positives(
    folders: list[Path],
    *,
    limit_per_folder: int | None = None,
    threads: int = 1,
    on_image: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    images = [path for folder in folders for path in list(iter_images([folder]))[:limit_per_folder]]
    detector = NudityDetector(threads=threads)
    detector.load()
    suggestions: Counter[str] = Counter()
    flagged_by: Counter[str] = Counter()
    flagged: list[dict[str, object]] = []
    times = []
    for done, path in enumerate(images, start=1):
        pixels = decode(path).pixels
        start = time.perf_counter()
        result = detector.predict([pixels])[0]
        times.append((time.perf_counter() - start) * 1000)
        suggestions[result.suggestion] += 1
        if result.suggestion != "pass":
            flagged.append(
                {"path": str(path), "suggestion": result.suggestion, "score": round(result.score, 3)}
            )
            rules = detector.rules
            sensitive = rules.block_categories | rules.review_categories
            flagged_by.update(
                {
                    r.category
                    for r in result.regions
                    if r.category in sensitive and r.score >= rules.review_score
                }
            )
        if on_image:
            on_image(done, len(images))
    return {
        "images": len(images),
        "not_pass_rate": round((len(images) - suggestions["pass"]) / len(images), 4) if images else 0.0,
        "review": suggestions["review"],
        "block": suggestions["block"],
        "flagged_categories": dict(flagged_by.most_common()),
        "flagged_images": flagged,
        "ms_median": round(statistics.median(times), 2) if times else 0.0,
    }

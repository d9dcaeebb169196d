"""How each face attribute's accuracy falls as faces get smaller, blurrier or more turned: the
measurement behind ``discreet.analyzers.attributes.ABSTAIN``.

    python -m discreet.evaluation.attribute_bands --data ../shared/data [--limit 400]

On the held-out split of each pack (``attribute_packs.is_heldout``), each face is found by the
detector in the image as it is, then the image is shrunk so the face is a given width and the face
model and the eye model read the crops cut from the shrunk image, as they would from a photo where
the face is that small. Printed per attribute: accuracy per face width; per band of the face
model's blurry probability, over the faces as they are and with Gaussian blurs added (``BLURS``);
and at the face's own size, per band of |yaw| (the pose head's own estimate). Eye state is scored
on whole faces: ``eyes-faces`` (closed) and the CelebA / GENKI-4K portraits checked by eye
(``attribute_packs.read_checked_eyes``: open ones, and a few closed, mostly half-closed or
looking down).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from discreet.analyzers.attribute_crops import eye_crops, face_crop, landmarks_in_crop
from discreet.analyzers.attributes import FaceAttributeAnalyzer, both_eyes, read_eyes, threshold
from discreet.analyzers.faces import FaceDetector
from discreet.evaluation.attribute_packs import (
    find_face_in_crop,
    is_heldout,
    read_checked_eyes,
    read_labelled,
)
from discreet.imaging import decode
from discreet.schema import Box, Face, Landmarks, Point

#: face widths (px) the held-out faces are shrunk to; ``None`` is the face as it is
WIDTHS = (12, 16, 20, 24, 30, 36, 40, 50, 60, 80, None)
#: Gaussian blurs (sigma as a fraction of the face width) added to each face as it is: natural
#: blur is rare in the packs, so these fill the blurry score's range
BLURS = (0.015, 0.03, 0.05, 0.08)
BLUR_BANDS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.01))
YAW_BANDS = ((0, 10), (10, 20), (20, 30), (30, 45), (45, 90))
#: pack -> the labels scored on it
PACKS = {
    "celeba": ("smile", "mouth_open", "eyeglasses"),
    "genki4k": ("smile", "yaw"),
    "masks": ("mask",),
    "eyes-faces": ("eyes_open",),
    "checked-portraits": ("eyes_open",),
}


def shrunk(pixels: np.ndarray, face: Face, width: float | None) -> tuple[np.ndarray, Face]:
    """The image shrunk so that ``face`` is ``width`` px wide, and the face in it; a face already
    narrower, or ``width`` None, leaves both as they are."""
    scale = 1.0 if width is None else min(1.0, width / max(face.box.width, 1.0))
    if scale == 1.0:
        return pixels, face
    height, wide = pixels.shape[:2]
    size = (max(1, round(wide * scale)), max(1, round(height * scale)))
    small = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)

    def point(p: Point) -> Point:
        return Point(x=p.x * scale, y=p.y * scale)

    box = face.box
    scaled = Face(
        box=Box(x1=box.x1 * scale, y1=box.y1 * scale, x2=box.x2 * scale, y2=box.y2 * scale),
        score=face.score,
        landmarks=Landmarks(**{name: point(p) for name, p in face.landmarks}),
    )
    return small, scaled


def read_face(model: FaceAttributeAnalyzer, image: np.ndarray, face: Face) -> dict[str, float]:
    """The face model's scores, ``eyes_open`` and ``eyes_visible`` as the analyzer reads them
    (``both_eyes``), both eyes' own readings (``eyes``, plain and mirrored) and the face's width."""
    crop = face_crop(image, face.box)[None]
    (scores,) = model.faces.scores(crop, landmarks_in_crop(face.box, face.landmarks)[None])
    (eyes,) = read_eyes(model.eyes, np.stack(eye_crops(image, face.landmarks)))
    return {**scores, **both_eyes(eyes), "eyes": eyes, "width": face.box.width}


def readings(model: FaceAttributeAnalyzer, pixels: np.ndarray, face: Face) -> list[dict]:
    """The face model's scores and ``eyes_open`` (both eyes by ``EYE_RULE``) per width (``band``: the
    width, None as it is) and per added blur (``band`` "blurred", ``blur``: sigma as a fraction of the
    width)."""
    out = [{**read_face(model, *shrunk(pixels, face, width)), "band": width, "blur": 0.0} for width in WIDTHS]
    for blur in BLURS:
        blurred = cv2.GaussianBlur(pixels, (0, 0), max(blur * face.box.width, 0.3))
        out.append({**read_face(model, blurred, face), "band": "blurred", "blur": blur})
    return out


def measure(data: Path, limit: int | None, packs=tuple(PACKS), threads: int = 1) -> list[dict]:
    """One row per face and width: the pack, the true labels and the readings."""
    detector, model = FaceDetector("default", threads=threads), FaceAttributeAnalyzer(threads=threads)
    rows = []
    for pack in packs:
        labels = PACKS[pack]
        listed = read_checked_eyes(data) if pack == "checked-portraits" else read_labelled(data / pack)
        items = [i for i in listed if is_heldout(i.key)]
        for item in items[:limit]:
            truth = item.labels
            pixels = decode(item.path).pixels
            face = find_face_in_crop(detector, pixels)
            if face is None:
                continue
            for reading in readings(model, pixels, face):
                rows.append({"pack": pack, "truth": {k: truth[k] for k in labels if k in truth}, **reading})
        print(f"{pack}: {len(items[:limit])} held-out images read", flush=True)
    return rows


def _right(row: dict, label: str) -> bool:
    return (row[label] >= threshold(label)) == (row["truth"][label] > 0.5)


def _accuracy(rows: list[dict], label: str) -> str:
    if not rows:
        return "-"
    if label == "eyes_open":  # the two classes apart: closed faces called closed, open ones called open
        shares = []
        for value in (0.0, 1.0):
            group = [r for r in rows if r["truth"][label] == value]
            shares.append(f"{np.mean([_right(r, label) for r in group]):.3f}" if group else "-")
        return f"closed {shares[0]} open {shares[1]} (n={len(rows)})"
    return f"{np.mean([_right(r, label) for r in rows]):.3f} (n={len(rows)})"


def print_tables(rows: list[dict]) -> None:
    for pack, labels in PACKS.items():
        for label in labels:
            scored = [r for r in rows if r["pack"] == pack and label in r["truth"]]
            if not scored:
                continue
            print(f"\n{pack} {label}")
            for width in WIDTHS:
                at = [r for r in scored if r["band"] == width]
                if label == "yaw":
                    error = np.mean([abs(r["yaw"] - r["truth"]["yaw"]) for r in at])
                    print(f"  width {width or 'as is'}: yaw MAE {error:.2f} deg (n={len(at)})")
                else:
                    print(f"  width {width or 'as is'}: {_accuracy(at, label)}")
            if label == "yaw":
                continue
            native = [r for r in scored if r["band"] is None]
            unshrunk = [r for r in scored if r["band"] in (None, "blurred")]
            for low, high in BLUR_BANDS:
                band = [r for r in unshrunk if low <= r["blurry"] < high]
                print(f"  as is or blurred, blurry {low}-{min(high, 1.0)}: {_accuracy(band, label)}")
            for low, high in YAW_BANDS:
                band = [r for r in native if low <= abs(r["yaw"]) < high]
                print(f"  as is, |yaw| {low}-{high}: {_accuracy(band, label)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--limit", type=int, default=None, help="held-out images per pack")
    parser.add_argument("--packs", default=",".join(PACKS), help="of " + ", ".join(PACKS))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    print_tables(measure(args.data, args.limit, args.packs.split(","), args.threads))


if __name__ == "__main__":
    main()

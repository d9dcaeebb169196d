"""Readers for the labelled face-attribute packs of ../shared/data/DATA.md, and the fixed held-out split.

Layouts recognised (any directory laid out the same way works):

- GENKI-4K: ``labels.txt`` (line N: ``smile yaw pitch roll``, pose in radians) for ``files/fileNNNN.jpg``
- CelebA: ``labels.csv`` with a ``file`` column and 1/0 attribute columns, images in ``images/``
- folders: ``<attribute>/`` holds positives and ``no_<attribute>/`` negatives; a pack of one class
  has only one of the two (``eyes-faces`` has only ``no_eyes_open/``)
- VOC scenes: ``annotations/*.xml`` (mask state per face box), read by ``packs.read_voc``

The held-out split is a hash of each image's path inside its pack, so it is the same on every
machine and for every copy of a pack, and training (``discreet.training.attributes``) never
sees an image that ``discreet eval attributes --split heldout`` scores.
"""

from __future__ import annotations

import csv
import math
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from discreet.analyzers.faces import FaceDetector
from discreet.errors import ValidationError
from discreet.imaging import IMAGE_SUFFIXES
from discreet.schema import Box, Face, FaceAttributes, Landmarks, Point

#: one image in five is held out of training, per pack
HELDOUT_ONE_IN = 5

#: CelebA column -> the name scored here (``blurry`` feeds the quality attribute)
CELEBA_COLUMNS = {
    "eyeglasses": "eyeglasses",
    "smile": "smile",
    "blurry": "blurry",
    "mouth_open": "mouth_open",
}

#: VOC mask states; the incorrectly worn one is reported apart and never trained on
MASK_STATES = {"con_mascarilla": 1.0, "sin_mascarilla": 0.0}
MASK_WORN_INCORRECTLY = "mascarilla_mal_puesta"


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    key: str  # the path inside the pack: what the split hashes
    labels: dict[str, float]  # attribute -> 1/0, or head-pose angle in degrees (yaw, pitch, roll)


def is_heldout(key: str) -> bool:
    return zlib.crc32(key.encode()) % HELDOUT_ONE_IN == 0


def pack_kind(directory: Path) -> str:
    if (directory / "labels.txt").is_file() and (directory / "files").is_dir():
        return "genki"
    if (directory / "labels.csv").is_file():
        return "celeba"
    if (directory / "annotations").is_dir():
        return "voc"
    if _attribute_folders(directory):
        return "folders"
    raise ValidationError(
        f"{directory} is not an attribute pack (genki labels.txt, celeba labels.csv, VOC annotations/, "
        "or <attribute>/ with no_<attribute>/)",
        code="unknown_pack",
    )


def read_labelled(directory: str | Path) -> list[LabelledImage]:
    """The images of a GENKI, CelebA or folder pack with their labels."""
    root = Path(directory)
    kind = pack_kind(root)
    if kind == "genki":
        return _read_genki(root)
    if kind == "celeba":
        return _read_celeba(root)
    if kind == "folders":
        return _read_folders(root)
    raise ValidationError(
        f"{root} is a VOC pack: read it with discreet.evaluation.packs.read_voc", code="unknown_pack"
    )


def _read_genki(root: Path) -> list[LabelledImage]:
    items = []
    for number, line in enumerate((root / "labels.txt").read_text().split("\n"), start=1):
        if not line.strip():
            continue
        smile, yaw, pitch, roll = (float(v) for v in line.split())
        key = f"files/file{number:04d}.jpg"
        angles = {name: math.degrees(v) for name, v in zip(("yaw", "pitch", "roll"), (yaw, pitch, roll))}
        items.append(LabelledImage(root / key, key, {"smile": smile, **angles}))
    return items


def _read_celeba(root: Path) -> list[LabelledImage]:
    with (root / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    items = []
    for row in rows:
        key = f"images/{row['file']}"
        labels = {name: float(row[column]) for column, name in CELEBA_COLUMNS.items() if column in row}
        items.append(LabelledImage(root / key, key, labels))
    return items


def _attribute_folders(root: Path) -> list[str]:
    """The attributes a folder pack labels: names with ``<name>/``, ``no_<name>/`` or both. A lone
    folder counts only under a schema attribute's name, so any folder of images is not taken for a pack."""
    folders = {p.name for p in root.iterdir() if p.is_dir()}
    names = {name.removeprefix("no_") for name in folders}
    return sorted(
        name
        for name in names
        if {name, f"no_{name}"} <= folders or name in FaceAttributes.model_fields
    )


def _read_folders(root: Path) -> list[LabelledImage]:
    items = []
    for name in _attribute_folders(root):
        for folder, value in ((root / name, 1.0), (root / f"no_{name}", 0.0)):
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    key = str(path.relative_to(root))
                    items.append(LabelledImage(path, key, {name: value}))
    return items


#: CelebA and GENKI-4K portraits checked by eye for eye state: ``pack,file,label,checked,use``, label
#: ``open``, ``closed`` or ``unclear`` (sunglasses, blur or a turn hide the eyes); ``checked`` says how
#: each was chosen and looked at; ``use`` is ``train`` (design ones may be trained on) or ``measure``
#: (never trained on: what the abstention bounds are measured on)
CHECKED_EYES = ("discreet.training", "labels/eyes_open_celeba_genki.csv")


def _checked_rows() -> list[dict[str, str]]:
    package, name = CHECKED_EYES
    return list(csv.DictReader((resources.files(package) / name).read_text().splitlines()))


def read_checked_eyes(data: str | Path, uses: tuple[str, ...] = ("train", "measure")) -> list[LabelledImage]:
    """The checked portraits (``CHECKED_EYES``) of ``uses`` whose eyes are clearly open or closed, as
    images of ``data``; ``key`` is the path inside the portrait's own pack, so they split as that
    pack does."""
    return [
        LabelledImage(
            Path(data) / r["pack"] / r["file"], r["file"], {"eyes_open": float(r["label"] == "open")}
        )
        for r in _checked_rows()
        if r["label"] != "unclear" and r["use"] in uses
    ]


def read_unclear_eyes(data: str | Path, uses: tuple[str, ...] = ("train", "measure")) -> list[LabelledImage]:
    """The checked portraits of ``uses`` whose eye state a person cannot tell: where ``eyes_open``
    should say "cannot tell". No label; those of ``use`` ``train`` teach the eye model what hidden
    eyes look like."""
    return [
        LabelledImage(Path(data) / r["pack"] / r["file"], r["file"], {})
        for r in _checked_rows()
        if r["label"] == "unclear" and r["use"] in uses
    ]


def find_face_in_crop(detector: FaceDetector, pixels: np.ndarray) -> Face | None:
    """The face of an image that is one face crop, framed as the detector frames faces in a photo.

    Pack crops are cut tight, and a detector misses faces that touch the border, so the image is
    padded by a quarter of its size on each side first. The most confident face wins. ``None``
    when the detector finds no face (see ``whole_image_face``).
    """
    height, width = pixels.shape[:2]
    pad_y, pad_x = height // 4, width // 4
    padded = cv2.copyMakeBorder(pixels, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REPLICATE)
    faces = detector.detect(padded)
    if not faces:
        return None
    best = max(faces, key=lambda face: face.score)
    box, marks = best.box, best.landmarks
    return Face(
        box=Box(x1=box.x1 - pad_x, y1=box.y1 - pad_y, x2=box.x2 - pad_x, y2=box.y2 - pad_y),
        score=best.score,
        landmarks=Landmarks(**{name: Point(x=p.x - pad_x, y=p.y - pad_y) for name, p in marks}),
    )

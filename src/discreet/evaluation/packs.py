"""Readers for the pack layouts of ../shared/data/DATA.md, so any directory laid out the same way can be scored."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from discreet.imaging import IMAGE_SUFFIXES
from discreet.schema import Box


@dataclass(frozen=True)
class LabelledBox:
    box: Box
    label: str


@dataclass(frozen=True)
class AnnotatedImage:
    path: Path
    boxes: list[LabelledBox]


def read_voc(directory: str | Path) -> list[AnnotatedImage]:
    """A VOC pack: ``annotations/<stem>.xml`` with one ``<object>`` a box, images in ``images/``."""
    root = Path(directory)
    annotations = sorted((root / "annotations").glob("*.xml"), key=natural_key)
    if not annotations:
        raise FileNotFoundError(f"{root} has no annotations/*.xml: not a VOC pack")
    return [_read_voc_file(root, xml) for xml in annotations]


def _read_voc_file(root: Path, xml: Path) -> AnnotatedImage:
    tree = ET.parse(xml).getroot()
    filename = tree.findtext("filename") or f"{xml.stem}.jpg"
    boxes = []
    for obj in tree.iter("object"):
        bndbox = obj.find("bndbox")
        if bndbox is None:
            continue
        x1, y1, x2, y2 = (float(bndbox.findtext(tag, "0")) for tag in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append(LabelledBox(Box(x1=x1, y1=y1, x2=x2, y2=y2), obj.findtext("name", "")))
    return AnnotatedImage(root / "images" / filename, boxes)


def read_dlib(xml: str | Path) -> list[AnnotatedImage]:
    """A dlib imglab file: ``<image file=...><box top left width height/>`` (the dlib-faces pack)."""
    xml = Path(xml)
    images = []
    for image in ET.parse(xml).getroot().iter("image"):
        boxes = []
        for b in image.iter("box"):
            left, top = float(b.get("left", 0)), float(b.get("top", 0))
            width, height = float(b.get("width", 0)), float(b.get("height", 0))
            boxes.append(LabelledBox(Box(x1=left, y1=top, x2=left + width, y2=top + height), "face"))
        images.append(AnnotatedImage(xml.parent / image.get("file", ""), boxes))
    return images


def natural_key(path: Path) -> tuple:
    """Sort key that puts ``img2`` before ``img10``."""
    stem = path.stem
    digits = "".join(ch for ch in stem if ch.isdigit())
    return (stem.rstrip("0123456789"), int(digits) if digits else -1, stem)


def iter_images(paths: list[Path]) -> Iterator[Path]:
    """Files named on the command line, and the image files anywhere inside folders named there."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
        else:
            yield path

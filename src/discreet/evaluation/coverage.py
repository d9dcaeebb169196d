"""How much of each annotated face the covers of an anonymization hide, and how much else they hide.

The figures answer "is any face left recognisable?" against the annotations themselves, where
re-detecting faces after anonymization (``evaluate_anonymization``'s second figure) only asks
whether our own detector is fooled, and a detector that missed a face is not fooled by it.

- a face is *uncovered* when under ``COVERED_SHARE`` of its annotated box lies under covers;
  faces are also counted by width band, because small faces are where detectors miss;
- *spurious cover* is the share of the image covered outside every annotated face box enlarged
  ``SPURIOUS_ENLARGE`` times around its centre (hair, ears and a cover's margin are no waste).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from discreet.evaluation.attribute_packs import is_heldout
from discreet.evaluation.packs import AnnotatedImage, read_voc
from discreet.evaluation.video import COVERED_SHARE, MIN_FACE_PIXELS
from discreet.imaging import DecodedImage, decode
from discreet.schema import Box

SPURIOUS_ENLARGE = 1.6
#: face width bands in pixels: (name, from, below)
BANDS: tuple[tuple[str, float, float], ...] = (
    ("<12", 0, 12),
    ("12-20", 12, 20),
    ("20-32", 20, 32),
    ("32-64", 32, 64),
    (">=64", 64, math.inf),
)
SPLITS = ("all", "design", "heldout")

#: an anonymizer as the evaluation sees it: decoded image -> where it covered (True = hidden)
CoverFn = Callable[[DecodedImage], np.ndarray]


def _pixels_of(box: Box, height: int, width: int) -> tuple[slice, slice]:
    """The pixels whose area the box touches, clipped to the image."""
    x1, y1 = max(0, math.floor(box.x1)), max(0, math.floor(box.y1))
    x2, y2 = min(width, math.ceil(box.x2)), min(height, math.ceil(box.y2))
    return slice(y1, max(y1, y2)), slice(x1, max(x1, x2))


def covered_shares(cover_mask: np.ndarray, boxes: Sequence[Box]) -> list[float]:
    """The share of each box's pixels that ``cover_mask`` marks (1.0 for a box with no pixels in view:
    nothing of it can be seen)."""
    height, width = cover_mask.shape
    shares = []
    for box in boxes:
        rows, cols = _pixels_of(box, height, width)
        inside = cover_mask[rows, cols]
        shares.append(float(inside.mean()) if inside.size else 1.0)
    return shares


def spurious_share(cover_mask: np.ndarray, boxes: Sequence[Box], enlarge: float = SPURIOUS_ENLARGE) -> float:
    """The share of the image that is covered outside every box enlarged ``enlarge`` times around its centre."""
    height, width = cover_mask.shape
    allowed = np.zeros_like(cover_mask, dtype=bool)
    for box in boxes:
        cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
        half_w, half_h = box.width * enlarge / 2, box.height * enlarge / 2
        rows, cols = _pixels_of(Box(x1=cx - half_w, y1=cy - half_h, x2=cx + half_w, y2=cy + half_h), height, width)
        allowed[rows, cols] = True
    return float((cover_mask & ~allowed).sum() / cover_mask.size)


def band_of(width: float) -> str:
    return next(name for name, low, high in BANDS if low <= width < high)


@dataclass
class CoverageTally:
    """Faces and uncovered faces by band, spurious cover and seconds, summed over images."""

    faces: dict[str, int] = field(default_factory=lambda: {name: 0 for name, _, _ in BANDS})
    uncovered: dict[str, int] = field(default_factory=lambda: {name: 0 for name, _, _ in BANDS})
    spurious: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, cover_mask: np.ndarray, boxes: Sequence[Box], seconds: float | None = None) -> list[float]:
        shares = covered_shares(cover_mask, boxes)
        for box, share in zip(boxes, shares):
            band = band_of(box.width)
            self.faces[band] += 1
            self.uncovered[band] += share < COVERED_SHARE
        self.spurious.append(spurious_share(cover_mask, boxes))
        if seconds is not None:
            self.seconds.append(seconds)
        return shares

    def report(self) -> dict:
        small = [name for name, _, high in BANDS if high <= MIN_FACE_PIXELS]
        return {
            "images": len(self.spurious),
            "faces": sum(self.faces.values()),
            "uncovered": sum(self.uncovered.values()),
            "faces_12px": sum(n for band, n in self.faces.items() if band not in small),
            "uncovered_12px": sum(n for band, n in self.uncovered.items() if band not in small),
            "bands": {name: {"faces": self.faces[name], "uncovered": self.uncovered[name]} for name, _, _ in BANDS},
            "spurious_cover_share": round(statistics.fmean(self.spurious), 5) if self.spurious else 0.0,
            "s_median": round(statistics.median(self.seconds), 4) if self.seconds else 0.0,
        }


def split_of(pack_root: Path, image: AnnotatedImage) -> str:
    """``heldout`` or ``design``, by the hash of the image's path inside its pack: the convention
    of ``attribute_packs.is_heldout``, so no image held out there is tuned on here."""
    return "heldout" if is_heldout(str(image.path.relative_to(pack_root))) else "design"


def read_split(data: str | Path, split: str = "all") -> list[AnnotatedImage]:
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; choose one of {', '.join(SPLITS)}")
    root = Path(data)
    return [image for image in read_voc(root) if split == "all" or split_of(root, image) == split]


def evaluate_coverage(
    images: Sequence[AnnotatedImage],
    cover: CoverFn,
    *,
    on_image: Callable[[int, int], None] | None = None,
) -> dict:
    """Score ``cover`` on every image; the time is that of ``cover`` alone (decoding excluded)."""
    tally = CoverageTally()
    for done, item in enumerate(images, start=1):
        decoded = decode(item.path)
        start = time.perf_counter()
        mask = cover(decoded)
        tally.add(mask, [b.box for b in item.boxes], time.perf_counter() - start)
        if on_image:
            on_image(done, len(images))
    return tally.report()

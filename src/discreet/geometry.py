"""Box arithmetic and cover drawing: the one copy every analyzer, the anonymizer, video and evaluation use.

Boxes follow ``discreet.schema``: ``x1, y1, x2, y2`` in pixels of the upright image, origin top-left.
Array forms are rows whose first four columns are ``x1 y1 x2 y2`` (and, for detections, a fifth
column with the score).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from discreet.schema import Box, Point

CoverShape = Literal["ellipse", "rectangle", "polygon"]
CoverMethod = Literal["blur", "pixelate", "solid"]
COVER_METHODS: tuple[str, ...] = ("blur", "pixelate", "solid")

#: the smallest cover, in pixels a side: a blurred 8 px face still reads as a face to a detector
#: that enlarges the image, a blurred 24 px patch of it does not
MIN_COVER_SIDE = 24
#: covers wider than this are blurred on a shrunk copy (same cover, a fraction of the cost)
_BLUR_SIDE = 96


@dataclass(frozen=True)
class Cover:
    """A region an analyzer says to hide when anonymizing.

    ``box`` is the region found; the anonymizer enlarges it around its centre by its ``scale``.
    ``shape`` is how it is drawn: an ellipse in the enlarged box (a head), the enlarged box itself,
    or ``polygon`` (corners in image pixels, enlarged about the box centre) for tilted regions.
    """

    box: Box
    shape: CoverShape = "rectangle"
    polygon: tuple[Point, ...] = ()


def iou(a: Box, b: Box) -> float:
    """IoU of two boxes (plain arithmetic: evaluation calls it for every detection-truth pair)."""
    w = min(a.x2, b.x2) - max(a.x1, b.x1)
    h = min(a.y2, b.y2) - max(a.y1, b.y1)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a.width * a.height + b.width * b.height - inter)


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``x1 y1 x2 y2`` row with each row of ``boxes``."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(rows: np.ndarray, iou_threshold: float, min_score: float = 0.0) -> np.ndarray:
    """The rows (``x1 y1 x2 y2 score ...``) that greedy non-maximum suppression keeps, best first."""
    if len(rows) == 0:
        return rows
    boxes = rows[:, :4]
    keep = cv2.dnn.NMSBoxes(
        np.hstack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).tolist(), rows[:, 4].tolist(), min_score, iou_threshold
    )
    return rows[np.asarray(keep, dtype=int).ravel()]


def box_vote(rows: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Fuse detections of several passes: each kept row is the score-weighted mean of its cluster,
    with the score of the cluster's best member."""
    order = np.argsort(-rows[:, 4])
    rows = rows[order]
    fused = []
    remaining = np.ones(len(rows), dtype=bool)
    for i in range(len(rows)):
        if not remaining[i]:
            continue
        cluster = (iou_one_to_many(rows[i], rows[:, :4]) >= iou_threshold) & remaining
        remaining &= ~cluster
        members = rows[cluster]
        weights = members[:, 4:5]
        merged = (members * weights).sum(axis=0) / weights.sum()
        merged[4] = rows[i, 4]
        fused.append(merged)
    return np.array(fused, dtype=np.float32).reshape(-1, rows.shape[1])


def clip_rows(rows: np.ndarray, width: int, height: int) -> np.ndarray:
    """Box columns clipped to the image, in place; returns ``rows``."""
    rows[:, [0, 2]] = rows[:, [0, 2]].clip(0, width)
    rows[:, [1, 3]] = rows[:, [1, 3]].clip(0, height)
    return rows


def box_row(box: Box) -> np.ndarray:
    return np.array([box.x1, box.y1, box.x2, box.y2], dtype=np.float64)


def box_rows(boxes: Sequence[Box]) -> np.ndarray:
    """N x 4 array of boxes (0 x 4 when there are none)."""
    return np.array([[b.x1, b.y1, b.x2, b.y2] for b in boxes], dtype=np.float64).reshape(-1, 4)


def scaled(box: Box, factor: float, min_side: float = 0.0) -> Box:
    """``box`` enlarged ``factor`` times around its centre, each side at least ``min_side``."""
    cx, cy, half_w, half_h = _centre_and_half_sides(box, factor, min_side)
    return Box(x1=cx - half_w, y1=cy - half_h, x2=cx + half_w, y2=cy + half_h)


def _centre_and_half_sides(box: Box, factor: float, min_side: float) -> tuple[float, float, float, float]:
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    return cx, cy, max(box.width * factor, min_side) / 2, max(box.height * factor, min_side) / 2


def draw_cover(pixels: np.ndarray, cover: Cover, scale: float, method: str, mask: np.ndarray | None = None) -> None:
    """Hide ``cover`` in ``pixels`` (RGB, changed in place), enlarged ``scale`` times, at least
    ``MIN_COVER_SIDE`` a side; ``mask``, when given, is set True on every pixel covered."""
    height, width = pixels.shape[:2]
    cx, cy, half_w, half_h = _centre_and_half_sides(cover.box, scale, MIN_COVER_SIDE)
    x1, y1 = max(0, int(cx - half_w)), max(0, int(cy - half_h))
    x2, y2 = min(width, int(np.ceil(cx + half_w))), min(height, int(np.ceil(cy + half_h)))
    if x2 <= x1 or y2 <= y1:
        return
    patch = pixels[y1:y2, x1:x2]
    covered = _covered(patch, method)
    if cover.shape == "rectangle":
        patch[:] = covered
        if mask is not None:
            mask[y1:y2, x1:x2] = True
        return
    shape_mask = np.zeros(patch.shape[:2], dtype=np.uint8)
    if cover.shape == "ellipse":
        axes = (max(1, int(half_w)), max(1, int(half_h)))
        cv2.ellipse(shape_mask, (round(cx - x1), round(cy - y1)), axes, 0, 0, 360, 1, thickness=-1)
    else:
        points = np.array([[cx + (p.x - cx) * scale - x1, cy + (p.y - cy) * scale - y1] for p in cover.polygon])
        cv2.fillPoly(shape_mask, [np.round(points).astype(np.int32)], 1)
    # copyTo writes through the view in place: boolean indexing of the patch cost ~1.5 ms a face cover
    patch[:] = cv2.copyTo(covered, shape_mask, patch)
    if mask is not None:
        mask[y1:y2, x1:x2] |= shape_mask.astype(bool)


def _covered(patch: np.ndarray, method: str) -> np.ndarray:
    h, w = patch.shape[:2]
    if method == "solid":
        return np.zeros_like(patch)
    if method == "pixelate":
        blocks = 5  # across the longer side: no feature survives, yet the region still reads as a person
        small_w, small_h = max(1, round(w * blocks / max(w, h))), max(1, round(h * blocks / max(w, h)))
        small = cv2.resize(patch, (small_w, small_h), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    if max(w, h) > _BLUR_SIDE:
        # The same blur on a copy shrunk to _BLUR_SIDE: a Gaussian kernel of half a large face's size
        # cost ~70 ms a face at 720p and was most of the time of anonymizing a video.
        factor = _BLUR_SIDE / max(w, h)
        small = cv2.resize(patch, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
        return cv2.resize(_covered(small, method), (w, h), interpolation=cv2.INTER_LINEAR)
    # A kernel of half the region's size leaves no facial structure at any face size.
    kernel = max(3, (max(w, h) // 2) | 1)
    return cv2.GaussianBlur(cv2.blur(patch, (kernel, kernel)), (kernel, kernel), 0)

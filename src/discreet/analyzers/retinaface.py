"""How a RetinaFace-MobileNet0.25-style network is run: the faces scene's detector and the plates
scene's are both of this layout (priors at strides 8/16/32, BGR input minus ``MEAN_BGR``), and
differ in their prior sizes, their points (five landmarks, four corners) and their strategies.

Passes at several scales (and mirrored) are fused by score-weighted box voting; boxes may then be
calibrated to an annotation style. Rows are ``x1 y1 x2 y2 score`` then the points' ``x y``, in the
original image's pixels; they stay inside the analyzers, which turn them into schema types.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np
import onnxruntime as ort

from discreet.errors import ValidationError
from discreet.geometry import box_vote, clip_rows, nms

#: the network's input is BGR pixels minus this mean (the attribute model's backbone subtracts it too)
MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)
_STRIDES = (8, 16, 32)
VARIANCE_CENTER, VARIANCE_SIZE = 0.1, 0.2


@dataclass(frozen=True)
class Strategy:
    """How the detector is run on one image.

    ``target_sides`` are the long sides (pixels) the image is resized to, one network pass each; a
    small photo is enlarged so that its small objects reach the smallest prior, at most
    ``max_upscale`` times. ``flip`` adds a mirrored pass for each scale. Detections of several
    passes are fused by weighted box voting. ``calibration`` maps the network's box style to an
    annotation style: ``(width factor, height factor, centre shift right, centre shift down)``,
    factors of the box size, fitted on matched boxes; points are not moved.
    """

    target_sides: tuple[int, ...]
    max_upscale: float = 3.0
    flip: bool = False
    calibration: tuple[float, float, float, float] = (1.0, 1.0, 0.0, 0.0)
    min_score: float = 0.5
    nms_iou: float = 0.4


def resolve_strategy(preset: str | Strategy, presets: dict[str, Strategy], min_score: float | None,
                     kind: str) -> Strategy:
    """A named preset (or a strategy as given), at ``min_score`` when one is given."""
    if isinstance(preset, str):
        if preset not in presets:
            raise ValidationError(f"unknown {kind} preset '{preset}'; choose one of {', '.join(presets)}",
                                  code="unknown_preset")
        preset = presets[preset]
    return preset if min_score is None else replace(preset, min_score=min_score)


@dataclass(frozen=True)
class Layout:
    """What differs between networks of this layout."""

    input_name: str
    anchor_sizes: tuple[tuple[int, int], ...]
    #: the output points, reordered to the schema's order; ``mirrored_order`` for a mirrored pass,
    #: where left and right swap
    order: tuple[int, ...]
    mirrored_order: tuple[int, ...]
    #: the lowest score a pass keeps, under the strategy's own threshold (so that voting sees the
    #: weaker detections of each pass)
    pass_floor: float

    @property
    def columns(self) -> int:
        return 5 + 2 * len(self.order)


def detect_rows(session: ort.InferenceSession, layout: Layout, strategy: Strategy, image: np.ndarray,
                min_score: float) -> np.ndarray:
    """Rows for RGB ``image``, down to ``min_score``, clipped to the image."""
    height, width = image.shape[:2]
    passes = []
    for side in strategy.target_sides:
        scale = min(side / max(height, width), strategy.max_upscale)
        for flip in (False, True) if strategy.flip else (False,):
            passes.append(_run(session, layout, image, scale, flip, min(min_score, layout.pass_floor)))
    rows = np.concatenate(passes) if passes else np.zeros((0, layout.columns), np.float32)
    rows = box_vote(rows, strategy.nms_iou) if len(passes) > 1 else nms(rows, strategy.nms_iou)
    rows = rows[rows[:, 4] >= min_score]
    return clip_rows(calibrate(rows, strategy.calibration), width, height)


def _run(session: ort.InferenceSession, layout: Layout, image: np.ndarray, scale: float, flip: bool,
         min_score: float) -> np.ndarray:
    height, width = image.shape[:2]
    new_w, new_h = max(32, round(width * scale)), max(32, round(height * scale))
    interpolation = cv2.INTER_LINEAR if scale >= 1 else cv2.INTER_AREA
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    if flip:
        resized = resized[:, ::-1]
    blob = (resized[:, :, ::-1].astype(np.float32) - MEAN_BGR).transpose(2, 0, 1)[None]
    loc, conf, points = session.run(None, {layout.input_name: np.ascontiguousarray(blob)})
    priors = anchors(new_w, new_h, layout.anchor_sizes)
    scores = conf[0, :, 1]
    keep = scores >= min_score
    priors, loc, points, scores = priors[keep], loc[0][keep], points[0][keep], scores[keep]
    count = len(layout.order)
    centers = priors[:, :2] + loc[:, :2] * VARIANCE_CENTER * priors[:, 2:]
    sizes = priors[:, 2:] * np.exp(loc[:, 2:] * VARIANCE_SIZE)
    boxes = np.hstack([centers - sizes / 2, centers + sizes / 2]) / scale
    points = (priors[:, None, :2] + points.reshape(-1, count, 2) * VARIANCE_CENTER * priors[:, None, 2:]) / scale
    order = layout.order
    if flip:
        mirrored_w = new_w / scale
        boxes[:, [0, 2]] = mirrored_w - boxes[:, [2, 0]]
        points[:, :, 0] = mirrored_w - points[:, :, 0]
        order = layout.mirrored_order
    points = points[:, list(order)].reshape(-1, 2 * count)
    return np.hstack([boxes, scores[:, None], points]).astype(np.float32)


@lru_cache(maxsize=32)
def anchors(width: int, height: int, anchor_sizes: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Prior boxes ``cx cy w h`` in input pixels, in the network's output order."""
    rows = []
    for stride, sizes in zip(_STRIDES, anchor_sizes):
        ny, nx = math.ceil(height / stride), math.ceil(width / stride)
        ys, xs = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        centers = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * stride
        for_cell = np.repeat(centers, len(sizes), axis=0)
        wh = np.tile(np.array([[s, s] for s in sizes], dtype=np.float64), (nx * ny, 1))
        rows.append(np.hstack([for_cell, wh]))
    return np.concatenate(rows).astype(np.float32)


def calibrate(rows: np.ndarray, calibration: tuple[float, float, float, float]) -> np.ndarray:
    """Rows with their boxes mapped to an annotation style (``Strategy.calibration``)."""
    width_factor, height_factor, shift_x, shift_y = calibration
    rows = rows.copy()
    sizes = rows[:, 2:4] - rows[:, :2]
    centers = (rows[:, :2] + rows[:, 2:4]) / 2 + sizes * np.array([shift_x, shift_y], dtype=np.float32)
    half = sizes * np.array([width_factor, height_factor], dtype=np.float32) / 2
    rows[:, :2], rows[:, 2:4] = centers - half, centers + half
    return rows

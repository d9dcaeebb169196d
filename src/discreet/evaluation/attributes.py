"""``discreet eval attributes``: accuracy of each face attribute a pack labels, through the product's path.

- ``--crop face``: each image is one face crop. The detector frames it as in a photo
  (``find_face_in_crop``); where it finds no face, the whole image is taken as the face box with
  frontal landmarks, and the image is still scored (``no_face_found`` counts them).
- ``--crop eye``: each image is one eye close-up, scored by the eye-state model alone, read as both
  eyes of a face (so with ``eyes_open``'s two-eye rule, mirroring if it is on, and threshold).
- VOC scenes: the detector runs on the photo, each detected face is matched (IoU >= 0.5) to an
  annotated one, and mask accuracy is over matched ``con_mascarilla`` / ``sin_mascarilla`` faces;
  ``mascarilla_mal_puesta`` faces are reported apart (how often they were called masked), and
  annotated faces the detector missed are counted in ``faces_missed``. Every face the detector
  finds is also asked for every yes/no attribute and head pose, and ``cannot_tell_by_width`` gives,
  per attribute and band of face width, the share of faces where it said "cannot tell".

Where an attribute says "cannot tell" (``discreet.analyzers.attributes.ABSTAIN``), accuracy,
balanced accuracy and AUC are over the faces where it answered; ``answered`` and ``cannot_tell``
(per reason) count them, and ``recall`` gives, per class, the share called right of all its faces,
"cannot tell" counted as not right: on ``eyes-faces`` (closed eyes only), ``recall.no`` is the
share of closed-eye faces called closed.

On CelebA and GENKI-4K portraits, which label no eye state, every face is also asked for
``eyes_open``: ``eyes_open_portraits`` gives the shares called closed, open and "cannot tell" of all
of them (some have closed, downcast or hidden eyes), and of those checked by eye
(``attribute_packs.read_checked_eyes``) as open and as closed.

``grey``: the images are turned grey before they are scored (luma, as the grey crops of some
peers' smile sets, such as LFW's, are): a model trained on colour faces is seen without colour.

``split``: ``heldout`` scores only the images training never saw (``attribute_packs.is_heldout``);
``design`` only the others; ``all`` includes training images, so its figures are optimistic.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from discreet.analyzers.attribute_crops import EYE_SIZE, whole_image_crop, whole_image_face
from discreet.analyzers.attributes import (
    EYE_MIRRORED,
    USABLE,
    FaceAttributeAnalyzer,
    both_eyes,
    read_eyes,
    threshold,
)
from discreet.analyzers.faces import FaceDetector
from discreet.errors import ValidationError
from discreet.evaluation.attribute_packs import (
    MASK_STATES,
    MASK_WORN_INCORRECTLY,
    find_face_in_crop,
    is_heldout,
    pack_kind,
    read_checked_eyes,
    read_labelled,
)
from discreet.evaluation.metrics import balanced_accuracy, match_to_truth
from discreet.evaluation.packs import read_voc
from discreet.imaging import decode
from discreet.schema import Face

SPLITS = ("all", "design", "heldout")
#: a pack label -> the attribute asked for to score it (``blurry`` is read from quality)
ASKED_FOR = {
    "smile": "smile",
    "mouth_open": "mouth_open",
    "eyeglasses": "eyeglasses",
    "mask": "mask",
    "eyes_open": "eyes_open",
    "blurry": "quality",
    "yaw": "head_pose",
}
POSE_ANGLES = ("yaw", "pitch", "roll")
#: bands of face width (px) of ``cannot_tell_by_width``: (name, from, below)
WIDTH_BANDS = (("<20", 0, 20), ("20-40", 20, 40), ("40-80", 40, 80), (">=80", 80, float("inf")))
#: the attributes asked for on every detected face of a scenes pack
BINARY_ATTRIBUTES = ("smile", "mouth_open", "eyeglasses", "mask", "eyes_open")
#: a pack label -> the probability from which it counts as said yes; blurry is scored as
#: ``quality.usable`` judges sharpness, other labels at the attributes' own threshold
DECIDED_AT = {"blurry": 1.0 - USABLE["sharpness"]}

Progress = Callable[[int, int], None]


def _in_split(key: str, split: str) -> bool:
    if split not in SPLITS:
        raise ValidationError(f"unknown split '{split}'; choose {' or '.join(SPLITS)}", code="unknown_split")
    return split == "all" or is_heldout(key) == (split == "heldout")


def _predicted(face: Face, label: str) -> tuple[float | None, str | None]:
    """The probability the model gives for a pack label, or None and the reason it cannot tell."""
    attributes = face.attributes
    if label == "blurry":
        return 1.0 - attributes.quality.sharpness, None
    answer = getattr(attributes, label)
    return answer.probability, answer.reason


class _Tally:
    def __init__(self) -> None:
        self.pairs: dict[str, list[tuple[bool, float]]] = {}
        self.unanswered: dict[str, list[tuple[bool, str]]] = {}
        self.angle_errors: dict[str, list[float]] = {}

    def add(self, label: str, truth: float, probability: float | None, reason: str | None = None) -> None:
        if reason is None:
            self.pairs.setdefault(label, []).append((truth > 0.5, probability))
        else:
            self.unanswered.setdefault(label, []).append((truth > 0.5, reason))

    def report(self) -> dict:
        out: dict = {}
        for label in sorted(set(self.pairs) | set(self.unanswered), key=list(ASKED_FOR).index):
            pairs, unanswered = self.pairs.get(label, []), self.unanswered.get(label, [])
            truth, probability = (np.array(v) for v in zip(*pairs)) if pairs else (np.zeros(0, bool),) * 2
            decided_at = DECIDED_AT.get(label, threshold(label))
            guess = probability >= decided_at
            every_truth = np.concatenate([truth, [t for t, _ in unanswered]]).astype(bool)
            right = np.concatenate([truth == guess, np.zeros(len(unanswered), bool)])
            out[label] = {
                "accuracy": round(float(np.mean(truth == guess)), 4) if pairs else None,
                "n": len(every_truth),
                "positives": int(every_truth.sum()),
                "answered": len(pairs),
                "cannot_tell": {
                    r: sum(1 for _, u in unanswered if u == r) for r in sorted({u for _, u in unanswered})
                },
                "recall": {
                    side: round(float(np.mean(right[every_truth == value])), 4)
                    for side, value in (("yes", True), ("no", False))
                    if (every_truth == value).any()
                },
                "balanced_accuracy": round(balanced_accuracy(truth, guess), 4) if pairs else None,
                "auc": _auc(truth, probability),
                "threshold": round(decided_at, 4),
            }
        for angle, errors in self.angle_errors.items():
            out[f"head_pose_{angle}_mae"] = round(float(np.mean(errors)), 2)
        return out


def _auc(truth: np.ndarray, probability: np.ndarray) -> float | None:
    """ROC AUC: how often a positive scores above a negative (ties count half); None with one class."""
    positives, negatives = probability[truth], probability[~truth]
    if not len(positives) or not len(negatives):
        return None
    above = (positives[:, None] > negatives[None, :]).mean()
    ties = (positives[:, None] == negatives[None, :]).mean()
    return round(float(above + ties / 2), 4)


def evaluate_attributes(
    data: str | Path,
    crop: str = "face",
    split: str = "heldout",
    *,
    limit: int | None = None,
    grey: bool = False,
    threads: int = 1,
    on_image: Progress | None = None,
) -> dict:
    root = Path(data)
    if crop not in ("face", "eye"):
        raise ValidationError(f"unknown crop '{crop}'; choose face or eye", code="unknown_crop")
    model = FaceAttributeAnalyzer(threads=threads)
    if pack_kind(root) == "voc":
        return _evaluate_scenes(root, split, limit, model, FaceDetector("default", threads=threads), on_image)
    items = [item for item in read_labelled(root) if _in_split(item.key, split)][:limit]
    if not items:
        raise ValidationError(f"no images of {root} in the '{split}' split", code="empty_pack")
    tally = _Tally()
    detector = FaceDetector("default", threads=threads) if crop == "face" else None
    no_face = 0
    portraits = pack_kind(root) in ("celeba", "genki") and detector is not None
    checked = _checked_eyes(root) if portraits else {}
    eyes: dict[str, list[bool | None]] = {"all": [], "checked open": [], "checked closed": []}
    for done, item in enumerate(items, start=1):
        pixels = decode(item.path).pixels
        if grey:
            pixels = cv2.cvtColor(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        if detector is None:
            # the close-up read as both eyes of a face, so it meets the analyzer's rule and threshold
            closeup = whole_image_crop(pixels, EYE_SIZE)[None]
            (reading,) = read_eyes(model.eyes, np.concatenate([closeup, closeup]), EYE_MIRRORED)
            probability = both_eyes(reading)["eyes_open"]
            for label, truth in item.labels.items():
                if label == "eyes_open":
                    tally.add(label, truth, probability)
        else:
            found = find_face_in_crop(detector, pixels)
            no_face += found is None
            face = found or whole_image_face(pixels)
            names = {ASKED_FOR[label] for label in item.labels if label in ASKED_FOR}
            asked = sorted(names | ({"eyes_open"} if portraits else set()))
            (face,) = model.annotate(decode(pixels), [face], asked)
            if portraits:
                said = face.attributes.eyes_open.value
                eyes["all"].append(said)
                if item.path.resolve() in checked:
                    eyes[checked[item.path.resolve()]].append(said)
            for label, truth in item.labels.items():
                if label in POSE_ANGLES:
                    if face.attributes.head_pose.reason is None:
                        tally.angle_errors.setdefault(label, []).append(
                            abs(getattr(face.attributes.head_pose, label) - truth)
                        )
                elif label in ASKED_FOR:
                    tally.add(label, truth, *_predicted(face, label))
        if on_image:
            on_image(done, len(items))
    report = {**tally.report(), "images": len(items), "split": split, "crop": crop, "grey": grey}
    if detector is not None:
        report["no_face_found"] = no_face
    if portraits:
        report["eyes_open_portraits"] = {group: _said(values) for group, values in eyes.items()}
    return report


def _checked_eyes(root: Path) -> dict[Path, str]:
    """The portraits of the pack at ``root`` checked by eye: image path -> checked open or closed."""
    return {
        item.path.resolve(): "checked open" if item.labels["eyes_open"] else "checked closed"
        for item in read_checked_eyes(root.parent)
        if item.path.resolve().is_relative_to(root.resolve())
    }


def _said(values: list[bool | None]) -> dict:
    """How often ``eyes_open`` said closed, open and "cannot tell" of ``values``."""
    return {
        "n": len(values),
        "called_closed": round(float(np.mean([v is False for v in values])), 4) if values else None,
        "called_open": round(float(np.mean([v is True for v in values])), 4) if values else None,
        "cannot_tell": round(float(np.mean([v is None for v in values])), 4) if values else None,
    }


def _evaluate_scenes(
    root: Path,
    split: str,
    limit: int | None,
    model: FaceAttributeAnalyzer,
    detector: FaceDetector,
    on_image: Progress | None,
) -> dict:
    images = [image for image in read_voc(root) if _in_split(str(image.path.relative_to(root)), split)][
        :limit
    ]
    tally = _Tally()
    incorrectly_worn: list[bool] = []
    missed = 0
    widths: dict[str, list[tuple[float, str | None]]] = {}
    for done, image in enumerate(images, start=1):
        decoded = decode(image.path)
        faces = model.annotate(decoded, detector.analyze(decoded), [*BINARY_ATTRIBUTES, "head_pose"])
        for face in faces:
            for name in (*BINARY_ATTRIBUTES, "head_pose"):
                widths.setdefault(name, []).append((face.box.width, getattr(face.attributes, name).reason))
        matches = match_to_truth([truth.box for truth in image.boxes], [face.box for face in faces])
        for truth, best in zip(image.boxes, matches):
            if best is None:
                missed += 1
                continue
            mask = faces[best].attributes.mask
            if truth.label == MASK_WORN_INCORRECTLY:
                if mask.reason is None:
                    incorrectly_worn.append(mask.probability >= threshold("mask"))
            elif truth.label in MASK_STATES:
                tally.add("mask", MASK_STATES[truth.label], mask.probability, mask.reason)
        if on_image:
            on_image(done, len(images))
    report = tally.report()
    report[MASK_WORN_INCORRECTLY] = {
        "called_mask": round(float(np.mean(incorrectly_worn)), 4) if incorrectly_worn else None,
        "n": len(incorrectly_worn),
    }
    report["cannot_tell_by_width"] = _cannot_tell_by_width(widths)
    return {**report, "faces_missed": missed, "images": len(images), "split": split, "crop": "face"}


def _cannot_tell_by_width(widths: dict[str, list[tuple[float, str | None]]]) -> dict:
    """Per attribute and band of face width: faces, and the share of them where it could not tell."""
    out: dict = {}
    for name, faces in widths.items():
        out[name] = {}
        for band, low, high in WIDTH_BANDS:
            reasons = [reason for width, reason in faces if low <= width < high]
            share = round(float(np.mean([r is not None for r in reasons])), 4) if reasons else None
            out[name][band] = {"faces": len(reasons), "cannot_tell": share}
    return out

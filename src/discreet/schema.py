"""Typed results. Conventions, written once for every type here:

- Coordinates are pixels of the original image as decoded and turned upright by its EXIF
  orientation; the origin is the top-left corner, x grows to the right, y grows downwards.
- A box is ``x1, y1, x2, y2`` (top-left and bottom-right corners, floats, x2 > x1, y2 > y1).
- Scores and probabilities are in [0, 1].

The schema has no field for any attribute the policy refuses (see ``discreet.policy``), and its
models forbid extra fields, so none can be slipped in. The result of a whole image,
``ScanResult``, has one field per scene and is derived from the scene list (``discreet.results``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer


class Strict(BaseModel):
    """Base of every result type: no extra fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Point(Strict):
    x: float
    y: float


class Box(Strict):
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1


class Landmarks(Strict):
    """Five points as seen in the picture: ``left_eye`` is the eye on the image's left side."""

    left_eye: Point
    right_eye: Point
    nose: Point
    mouth_left: Point
    mouth_right: Point


#: why a face attribute says "cannot tell": the face is too small, too blurred or turned too far
#: for that attribute, or (``eyes_open``) no eye shows (bounds per attribute:
#: ``discreet.analyzers.attributes.ABSTAIN``)
Reason = Literal["face_too_small", "too_blurred", "turned_away", "eyes_hidden"]

#: the bounds of ``discreet.analyzers.attributes.ABSTAIN`` as the schema's descriptions state them
#: (a test keeps the two alike)
ABSTAIN_TEXT = (
    "face_too_small: the face box is narrower than the bound (px); too_blurred: the face model's "
    "blurry probability reaches it; turned_away: |yaw| exceeds it (degrees); eyes_hidden: neither "
    "eye's visible probability (eye-state model) reaches it (sunglasses, hair, shadow). Bounds: "
    "smile: face_too_small 30, too_blurred 0.8, turned_away 30; "
    "mouth_open: face_too_small 24, too_blurred 0.8, turned_away 30; "
    "eyeglasses: face_too_small 30, too_blurred 0.8, turned_away 10; "
    "mask: face_too_small 12; "
    "eyes_open: face_too_small 34, too_blurred 0.999, turned_away 35, eyes_hidden 0.5; "
    "head_pose: face_too_small 16."
)


class _CannotTell(Strict):
    @model_serializer(mode="wrap")
    def _keep_unknowns(self, handler):
        # "cannot tell" is an answer: its null value stays in the output even where nulls are dropped
        data = handler(self)
        if isinstance(data, dict) and self.reason is not None:
            data.update({name: None for name in type(self).model_fields if name not in data})
        return data


class BinaryAttribute(_CannotTell):
    """A yes/no face attribute. Where the face shows it: ``value`` is ``probability >= 0.5``
    (``eyes_open`` has its own, 0.6: ``discreet.analyzers.attributes.threshold``) and ``reason`` is null.
    Where it does not, "cannot tell": ``value`` and ``probability`` are null and ``reason`` says why."""

    probability: float | None = Field(
        ge=0, le=1, description="the model's probability of yes; null when it cannot tell"
    )
    value: bool | None = Field(
        description="probability >= 0.5; null when it cannot tell (see reason)"
    )
    reason: Reason | None = Field(
        default=None, description=f"why it cannot tell, null when it answers. {ABSTAIN_TEXT}"
    )


class HeadPose(_CannotTell):
    """Head rotation in degrees, 0 when the face looks straight at the camera (GENKI-4K's convention);
    all three angles are null, with ``reason`` ``face_too_small``, on faces too small to tell."""

    yaw: float | None = Field(description="positive when the face turns towards the image's right side")
    pitch: float | None = Field(description="positive when the chin is raised (face tilted up)")
    roll: float | None = Field(description="positive when the head leans clockwise in the image (the eye on the image's right is lower)")
    reason: Literal["face_too_small"] | None = Field(
        default=None, description=f"set when the angles are null. {ABSTAIN_TEXT}"
    )


class FaceQuality(Strict):
    sharpness: float = Field(ge=0, le=1, description="1 minus the probability that the face is blurry")
    brightness: float = Field(ge=0, le=1, description="mean luma of the face crop")
    face_size: int = Field(ge=0, description="the shorter side of the face box, in pixels")
    usable: bool = Field(description="sharpness >= 0.8, brightness in [0.15, 0.9] and face_size >= 40")


class FaceAttributes(Strict):
    """Only the attributes asked for are set. Sunglasses are not told apart from other glasses
    (``eyeglasses`` covers both; see ``discreet.policy``)."""

    smile: BinaryAttribute | None = Field(default=None, description="a visible mouth shape: lips curved up")
    eyes_open: BinaryAttribute | None = Field(default=None, description="both eyes visibly open")
    mouth_open: BinaryAttribute | None = Field(default=None, description="lips apart")
    eyeglasses: BinaryAttribute | None = Field(default=None, description="glasses of any kind, sunglasses included")
    mask: BinaryAttribute | None = Field(default=None, description="nose and mouth covered")
    head_pose: HeadPose | None = None
    quality: FaceQuality | None = None


class Face(Strict):
    box: Box
    score: float = Field(ge=0, le=1, description="detector confidence")
    landmarks: Landmarks
    attributes: FaceAttributes | None = Field(default=None, description="set when attributes were asked for")


class Plate(Strict):
    """Where a licence plate is, so it can be covered. Plates are never read: there is no text here."""

    box: Box
    score: float = Field(ge=0, le=1, description="detector confidence")
    corners: list[Point] | None = Field(
        default=None,
        min_length=4,
        max_length=4,
        description="four corners: top-left, top-right, bottom-right, bottom-left of the plate",
    )


class Code(Strict):
    """A QR code or barcode."""

    format: str = Field(description="zxing-cpp's format name, e.g. QRCode, EAN13, DataMatrix")
    payload: str = Field(description="the decoded text")
    box: Box
    corners: list[Point] = Field(description="four corners: top-left, top-right, bottom-right, bottom-left of the code")


class TextLine(Strict):
    text: str
    confidence: float = Field(ge=0, le=1)
    box: Box
    polygon: list[Point] = Field(description="the line's four corners, clockwise from top-left")


NudityCategory = Literal[
    "exposed_breast",
    "exposed_genitalia",
    "exposed_buttocks",
    "exposed_anus",
    "exposed_belly",
    "exposed_armpit",
    "exposed_feet",
    "covered_breast",
    "covered_genitalia",
    "covered_buttocks",
    "covered_belly",
    "covered_armpit",
    "covered_feet",
]


class NudityRegion(Strict):
    category: NudityCategory
    score: float = Field(ge=0, le=1)
    box: Box


class Nudity(Strict):
    suggestion: Literal["pass", "review", "block"]
    score: float = Field(ge=0, le=1, description="the highest score among regions that drive the suggestion")
    regions: list[NudityRegion]

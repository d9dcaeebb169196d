"""Typed results. Conventions, written once for every type here:

- Coordinates are pixels of the original image as decoded and turned upright by its EXIF
  orientation; the origin is the top-left corner, x grows to the right, y grows downwards.
- A box is ``x1, y1, x2, y2`` (top-left and bottom-right corners, floats, x2 > x1, y2 > y1).
- Scores and probabilities are in [0, 1].

The schema has no field for any attribute the policy refuses (see ``discreet.policy``), and its
models forbid extra fields, so none can be slipped in.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Point(_Strict):
    x: float
    y: float


class Box(_Strict):
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


class Landmarks(_Strict):
    """Five points as seen in the picture: ``left_eye`` is the eye on the image's left side."""

    left_eye: Point
    right_eye: Point
    nose: Point
    mouth_left: Point
    mouth_right: Point


class BinaryAttribute(_Strict):
    """A yes/no face attribute: ``value`` is ``probability >= 0.5`` (``discreet.analyzers.attributes.THRESHOLD``)."""

    probability: float = Field(ge=0, le=1)
    value: bool


class HeadPose(_Strict):
    """Head rotation in degrees, 0 when the face looks straight at the camera (GENKI-4K's convention)."""

    yaw: float = Field(description="positive when the face turns towards the image's right side")
    pitch: float = Field(description="positive when the chin is raised (face tilted up)")
    roll: float = Field(description="positive when the head leans clockwise in the image (the eye on the image's right is lower)")


class FaceQuality(_Strict):
    sharpness: float = Field(ge=0, le=1, description="1 minus the probability that the face is blurry")
    brightness: float = Field(ge=0, le=1, description="mean luma of the face crop")
    face_size: int = Field(ge=0, description="the shorter side of the face box, in pixels")
    usable: bool = Field(description="sharpness >= 0.8, brightness in [0.15, 0.9] and face_size >= 40")


class FaceAttributes(_Strict):
    """Only the attributes asked for are set. Sunglasses are not told apart from other glasses
    (``eyeglasses`` covers both; see ``discreet.policy``)."""

    smile: BinaryAttribute | None = Field(default=None, description="a visible mouth shape: lips curved up")
    eyes_open: BinaryAttribute | None = Field(default=None, description="both eyes visibly open")
    mouth_open: BinaryAttribute | None = Field(default=None, description="lips apart")
    eyeglasses: BinaryAttribute | None = Field(default=None, description="glasses of any kind, sunglasses included")
    mask: BinaryAttribute | None = Field(default=None, description="nose and mouth covered")
    head_pose: HeadPose | None = None
    quality: FaceQuality | None = None


class Face(_Strict):
    box: Box
    score: float = Field(ge=0, le=1, description="detector confidence")
    landmarks: Landmarks
    attributes: FaceAttributes | None = Field(default=None, description="set when attributes were asked for")


class Plate(_Strict):
    """Where a licence plate is, so it can be covered. Plates are never read: there is no text here."""

    box: Box
    score: float = Field(ge=0, le=1, description="detector confidence")
    corners: list[Point] | None = Field(
        default=None,
        min_length=4,
        max_length=4,
        description="four corners: top-left, top-right, bottom-right, bottom-left of the plate",
    )


class Code(_Strict):
    """A QR code or barcode."""

    format: str = Field(description="zxing-cpp's format name, e.g. QRCode, EAN13, DataMatrix")
    payload: str = Field(description="the decoded text")
    box: Box
    corners: list[Point] = Field(description="four corners: top-left, top-right, bottom-right, bottom-left of the code")


class TextLine(_Strict):
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


class NudityRegion(_Strict):
    category: NudityCategory
    score: float = Field(ge=0, le=1)
    box: Box


class Nudity(_Strict):
    suggestion: Literal["pass", "review", "block"]
    score: float = Field(ge=0, le=1, description="the highest score among regions that drive the suggestion")
    regions: list[NudityRegion]


class ScanResult(_Strict):
    """The result of one image. A scene's field is ``None`` when that scene was not asked for."""

    width: int = Field(description="pixels, after EXIF orientation")
    height: int = Field(description="pixels, after EXIF orientation")
    faces: list[Face] | None = None
    codes: list[Code] | None = None
    text: list[TextLine] | None = None
    nudity: Nudity | None = None

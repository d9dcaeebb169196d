"""The crops the attribute models see, cut one way at training and at inference.

Training (``discreet.training.attributes``) and the analyzer (``discreet.analyzers.attributes``)
both call these, so a model never meets a crop framed differently from the ones it learned on.
"""

from __future__ import annotations

import cv2
import numpy as np

from discreet.schema import Box, Face, Landmarks, Point

#: side of the square face crop, in pixels
FACE_SIZE = 128
#: the crop is a square of this many times the face box's longer side, centred on the box
FACE_MARGIN = 1.3
#: side of the square eye crop, in pixels
EYE_SIZE = 32
#: an eye crop's side as a fraction of the distance between the two eye landmarks: an eye and some
#: brow, as in the eyes pack's close-ups; of 0.45 to 0.8 this called most CelebA eyes open
EYE_SPAN = 0.55


def square_crop(pixels: np.ndarray, cx: float, cy: float, side: float, size: int) -> np.ndarray:
    """The square of ``side`` pixels centred on (cx, cy), resized to ``size``; edges are repeated
    where the square leaves the image, so a face at the border still gets a full crop."""
    side = max(side, 2.0)
    x1, y1 = round(cx - side / 2), round(cy - side / 2)
    x2, y2 = x1 + round(side), y1 + round(side)
    height, width = pixels.shape[:2]
    pad = (max(0, -y1), max(0, y2 - height), max(0, -x1), max(0, x2 - width))
    region = pixels[max(0, y1) : min(height, y2), max(0, x1) : min(width, x2)]
    if region.size == 0:
        return np.zeros((size, size, 3), np.uint8)
    if any(pad):
        region = cv2.copyMakeBorder(region, *pad, cv2.BORDER_REPLICATE)
    interpolation = cv2.INTER_AREA if region.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(region, (size, size), interpolation=interpolation)


def face_square(box: Box) -> tuple[float, float, float]:
    """Centre x, centre y and side (pixels) of the square a face crop is cut from."""
    return (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2, max(box.width, box.height) * FACE_MARGIN


def face_crop(pixels: np.ndarray, box: Box) -> np.ndarray:
    return square_crop(pixels, *face_square(box), FACE_SIZE)


#: where the five landmarks of a frontal face sit in its box (fractions of width and height): the
#: stand-in for an image that is one face but where the detector finds none
_FRONTAL_LANDMARKS = ((0.33, 0.38), (0.67, 0.38), (0.5, 0.55), (0.37, 0.75), (0.63, 0.75))


def frontal_landmarks(box: Box) -> Landmarks:
    points = [Point(x=box.x1 + fx * box.width, y=box.y1 + fy * box.height) for fx, fy in _FRONTAL_LANDMARKS]
    return Landmarks(
        left_eye=points[0], right_eye=points[1], nose=points[2], mouth_left=points[3], mouth_right=points[4]
    )


def whole_image_face(pixels: np.ndarray) -> Face:
    """The whole image as the face box, with frontal landmarks: how an image that is one face is
    framed when the detector is not run on it, or finds no face in it."""
    height, width = pixels.shape[:2]
    box = Box(x1=0, y1=0, x2=width, y2=height)
    return Face(box=box, score=0.0, landmarks=frontal_landmarks(box))


def landmarks_in_crop(box: Box, landmarks: Landmarks) -> np.ndarray:
    """The five landmarks as fractions of the face crop (0 = its left or top edge, 1 = right or bottom),
    ``[x, y]`` for left eye, right eye, nose, mouth left, mouth right."""
    cx, cy, side = face_square(box)
    points = (
        landmarks.left_eye,
        landmarks.right_eye,
        landmarks.nose,
        landmarks.mouth_left,
        landmarks.mouth_right,
    )
    return np.array([[(p.x - cx) / side + 0.5, (p.y - cy) / side + 0.5] for p in points], np.float32)


def eye_crops(pixels: np.ndarray, landmarks: Landmarks) -> list[np.ndarray]:
    """Both eyes, the image's left one first."""
    left, right = landmarks.left_eye, landmarks.right_eye
    side = float(np.hypot(right.x - left.x, right.y - left.y)) * EYE_SPAN
    return [square_crop(pixels, eye.x, eye.y, side, EYE_SIZE) for eye in (left, right)]


def whole_image_crop(pixels: np.ndarray, size: int) -> np.ndarray:
    """An image that is one eye close-up, squared by repeating its edges, resized to ``size``."""
    height, width = pixels.shape[:2]
    return square_crop(pixels, width / 2, height / 2, max(width, height), size)

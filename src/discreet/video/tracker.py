"""Carry face covers between detections so a face the detector misses for a few frames stays covered.

Privacy note: a track is a box and a velocity, nothing else. It holds no appearance, lives only
while one video is being anonymized, and no track id ever leaves this module: it decides where
to cover, it never tells who is where.

Detections arrive every ``k`` frames. Between two detection frames the cover of each face is
interpolated (the anonymizer holds the frames in between until the next detection is known), so
a moving face is followed exactly rather than extrapolated. A track matched at both ends is
interpolated; a track that starts at the later detection is also drawn on the frames before it
(it was probably there, half-turned or blurred); a track that is not matched keeps moving at
its constant velocity and stays covered until ``keep_frames`` frames after its last detection.
When a detection continues no track (``unexplained``: a face appeared, or moved further
than the tracks can follow), the anonymizer detects on the frames in between too rather than
guess. At a cut (``cut``) all tracks end: the anonymizer detects on both sides of it, so no cover is
dragged from a face of one shot to a face of the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from discreet.geometry import iou_one_to_many


@dataclass
class _Track:
    box: np.ndarray  # x1 y1 x2 y2 at the last detection frame it was matched, moved on when unmatched
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))  # per frame
    last_seen: int = 0
    moving: bool = False  # whether a velocity was measured yet


class CoverTracker:
    """Plans the face covers of each frame from detections made every ``detect_every`` frames."""

    def __init__(self, keep_frames: int, min_iou: float = 0.1, smoothing: float = 0.5) -> None:
        self.keep_frames = keep_frames
        self.min_iou = min_iou
        self.smoothing = smoothing
        self._tracks: list[_Track] = []
        self._frame = -1

    def cut(self) -> None:
        """The shot changed: no face of the last shot is where it was, so its covers end here."""
        self._tracks = []

    def unexplained(self, frame: int, detections: np.ndarray) -> np.ndarray:
        """The faces detected on ``frame`` that continue no track (new, or jumped further than the
        tracks can follow); when there are none, interpolating the frames before is safe."""
        predicted = [t.box + t.velocity * (frame - self._frame) for t in self._tracks]
        matched = {m for m in _associate(predicted, detections, self.min_iou) if m is not None}
        return detections[[i for i in range(len(detections)) if i not in matched]]

    def advance(self, frame: int, detections: np.ndarray) -> list[list[np.ndarray]]:
        """Take the boxes (rows x1 y1 x2 y2) detected on ``frame``; return the covers of every
        frame since the previous call, the last being ``frame`` itself."""
        gap = frame - self._frame
        previous = self._frame
        self._frame = frame
        start_boxes = [t.box.copy() for t in self._tracks]
        predicted = [t.box + t.velocity * gap for t in self._tracks]
        matches = _associate(predicted, detections, self.min_iou)
        # covers[f][...] for the frames previous+1 .. frame
        covers: list[list[np.ndarray]] = [[] for _ in range(gap)]
        matched_detections = set()
        survivors = []
        for track, start, prediction, detection in zip(self._tracks, start_boxes, predicted, matches):
            if detection is not None:
                end = detections[detection, :4].astype(np.float64)
                matched_detections.add(detection)
                measured = (end - start) / gap
                # the first measured velocity is taken as it is: there is nothing yet to smooth it with
                weight = self.smoothing if track.moving else 0.0
                track.velocity = weight * track.velocity + (1 - weight) * measured
                track.moving = True
                track.last_seen = frame
                for step in range(1, gap + 1):
                    covers[step - 1].append(start + (end - start) * step / gap)
                track.box = end
                survivors.append(track)
                continue
            for step in range(1, gap + 1):
                if previous + step - track.last_seen <= self.keep_frames:
                    covers[step - 1].append(start + track.velocity * step)
            track.box = prediction
            if frame - track.last_seen <= self.keep_frames:
                survivors.append(track)
        for index in range(len(detections)):
            if index in matched_detections:
                continue
            box = detections[index, :4].astype(np.float64)
            # A face first found now was most likely there, undetected, in the frames since the last detection.
            for step in range(1, gap + 1):
                covers[step - 1].append(box)
            survivors.append(_Track(box=box, last_seen=frame))
        self._tracks = survivors
        return covers


def _associate(predicted: list[np.ndarray], detections: np.ndarray, min_iou: float,
               reach: float = 1.5) -> list[int | None]:
    """Greedy one-to-one matching, best overlap first; then, for faces that moved further than
    their own size since the last detection (a fast pan), the nearest centre within ``reach``
    face sizes of the predicted one."""
    if not predicted or len(detections) == 0:
        return [None] * len(predicted)
    boxes = detections[:, :4].astype(np.float64)
    centres = (boxes[:, :2] + boxes[:, 2:4]) / 2
    affinity = np.zeros((len(predicted), len(boxes)))
    for row, box in enumerate(predicted):
        iou = iou_one_to_many(box, boxes)
        distance = np.linalg.norm(centres - (box[:2] + box[2:4]) / 2, axis=1)
        limit = reach * max(box[2] - box[0], box[3] - box[1], 1.0)
        nearness = np.clip(1 - distance / limit, 0, None) * min_iou  # always below a real overlap
        affinity[row] = np.where(iou >= min_iou, iou, nearness)
    result: list[int | None] = [None] * len(predicted)
    while affinity.size and affinity.max() > 0:
        row, column = np.unravel_index(int(affinity.argmax()), affinity.shape)
        result[row] = int(column)
        affinity[row, :] = 0
        affinity[:, column] = 0
    return result

"""Metrics: PASCAL VOC all-point interpolated AP, as the VOC devkit (VOC2010+) computes it, the
balanced accuracy of yes/no answers, and the one-to-one matching of found faces to annotated ones
(each shared by ``discreet eval attributes`` and attribute training).

Written here rather than imported: the packages that offer it (object-detection-metrics/podm)
pull in pandas, matplotlib, scikit-image and an undeclared shapely, and are no longer maintained,
for what is the twenty lines below. ``tests/test_metrics.py`` checks it against hand-worked cases.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from discreet.geometry import iou
from discreet.schema import Box


def average_precision(
    truth: Sequence[Sequence[Box]],
    detections: Sequence[Sequence[tuple[Box, float]]],
    iou_threshold: float = 0.5,
) -> float:
    """AP of one class; ``truth[i]`` and ``detections[i]`` belong to image i.

    Detections of all images are ranked by score; each is a true positive when its best-overlapping
    ground-truth box of the same image reaches ``iou_threshold`` and was not matched before.
    """
    total = sum(len(t) for t in truth)
    if total == 0:
        raise ValueError("no ground-truth boxes to score against")
    ranked = sorted(
        ((score, i, box) for i, found in enumerate(detections) for box, score in found),
        key=lambda item: -item[0],
    )
    matched = [np.zeros(len(t), dtype=bool) for t in truth]
    hits = np.zeros(len(ranked))
    for k, (_, i, box) in enumerate(ranked):
        if not truth[i]:
            continue
        overlaps = [iou(box, g) for g in truth[i]]
        best = int(np.argmax(overlaps))
        if overlaps[best] >= iou_threshold and not matched[i][best]:
            matched[i][best] = True
            hits[k] = 1
    true_positives = np.cumsum(hits)
    recall = true_positives / total
    precision = true_positives / np.arange(1, len(ranked) + 1)
    return _all_point_area(recall, precision)


def _all_point_area(recall: np.ndarray, precision: np.ndarray) -> float:
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the precision envelope
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def balanced_accuracy(truth: np.ndarray, guess: np.ndarray) -> float:
    """The mean of the recall on each class present in ``truth`` (booleans): 0.5 for a guess that is
    always the same, whatever the share of positives."""
    recalls = [
        float(np.mean(guess[truth == side] == side)) for side in (True, False) if (truth == side).any()
    ]
    return float(np.mean(recalls))


def match_to_truth(
    truth: Sequence[Box], found: Sequence[Box], iou_threshold: float = 0.5
) -> list[int | None]:
    """For each ground-truth box in turn, the index of the found box that overlaps it most among those
    not matched before, when that overlap reaches ``iou_threshold``; otherwise ``None``."""
    taken: set[int] = set()
    matches: list[int | None] = []
    for box in truth:
        overlaps = [0.0 if i in taken else iou(box, f) for i, f in enumerate(found)]
        best = int(np.argmax(overlaps)) if overlaps else None
        if best is None or overlaps[best] < iou_threshold:
            matches.append(None)
        else:
            taken.add(best)
            matches.append(best)
    return matches

"""VOC all-point AP on hand-worked cases."""

import numpy as np
import pytest

from discreet.evaluation.metrics import average_precision, balanced_accuracy, match_to_truth
from discreet.geometry import iou
from discreet.schema import Box


def _box(x: float) -> Box:
    return Box(x1=x, y1=0, x2=x + 10, y2=10)


def test_perfect_detections():
    assert average_precision([[_box(0), _box(20)]], [[(_box(0), 0.9), (_box(20), 0.8)]]) == pytest.approx(1.0)


def test_hand_worked_ranking():
    # ranks: TP (p=1, r=1/3), FP, TP (p=2/3, r=2/3); third face never found.
    # envelope: 1 up to r=1/3, 2/3 up to r=2/3 -> AP = 1/3 + 1/3 * 2/3 = 5/9
    truth = [[_box(0), _box(20)], [_box(0)]]
    found = [[(_box(0), 0.9), (_box(100), 0.8)], [(_box(1), 0.7)]]
    assert average_precision(truth, found) == pytest.approx(5 / 9)


def test_duplicates_are_false_positives():
    truth = [[_box(0)]]
    found = [[(_box(0), 0.9), (_box(0.5), 0.8)]]
    assert average_precision(truth, found) == pytest.approx(1.0)
    truth = [[_box(0), _box(40)]]
    found = [[(_box(0.5), 0.95), (_box(0), 0.9), (_box(40), 0.8)]]
    # TP, FP (duplicate), TP: precision envelope 1 then 2/3 -> 0.5 + 0.5 * 2/3
    assert average_precision(truth, found) == pytest.approx(0.5 + 1 / 3)


def test_iou():
    assert iou(_box(0), _box(5)) == pytest.approx(50 / 150)
    assert iou(_box(0), _box(10)) == 0.0


def test_balanced_accuracy_is_the_mean_recall_of_each_class():
    truth = np.array([True, True, True, True, False, False])
    guess = np.array([True, True, True, False, False, True])
    assert balanced_accuracy(truth, guess) == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert balanced_accuracy(truth, np.ones(6, bool)) == pytest.approx(0.5)  # always yes
    assert balanced_accuracy(truth[:4], truth[:4]) == pytest.approx(1.0)  # one class present


def test_each_found_box_matches_one_annotated_box_at_most():
    truth, found = [_box(0), _box(1), _box(50)], [_box(0), _box(100)]
    # the second annotation overlaps the first found box too, but it is taken; the third overlaps nothing
    assert match_to_truth(truth, found) == [0, None, None]
    assert match_to_truth(truth, []) == [None, None, None]

"""The VOC metric against cases computed by hand."""

import numpy as np
import pytest

from bcn.data.voc import Sample
from bcn.decode import Detections
from bcn.evaluation.voc_map import evaluate_detections, voc_ap

NAMES = ("a", "b", "c")


def sample(image_id, boxes, classes, difficult=None):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Sample(
        image_id,
        None,
        100,
        100,
        boxes,
        np.asarray(classes, np.int32),
        np.zeros(len(boxes), bool) if difficult is None else np.asarray(difficult, bool),
    )


def dets(*rows):
    """rows of (x1, y1, x2, y2, score, class)."""
    rows = np.asarray(rows, np.float32).reshape(-1, 6)
    return Detections(rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int32))


A, B = (0, 0, 10, 10), (50, 50, 70, 80)


def test_duplicate_is_a_false_positive():
    samples = [sample("1", [A], [0]), sample("2", [B], [0])]
    # 0.9 finds A, 0.8 finds A again (duplicate), 0.7 finds B.
    found = {"1": dets((*A, 0.9, 0), (*A, 0.8, 0)), "2": dets((*B, 0.7, 0))}
    result = evaluate_detections(samples, found, NAMES).per_class[0]
    np.testing.assert_allclose(result.recall, [0.5, 0.5, 1.0])
    np.testing.assert_allclose(result.precision, [1.0, 0.5, 2 / 3])
    assert (result.true_positives, result.false_positives) == (2, 1)
    # Area: 0.5 x 1 + 0.5 x 2/3. 11-point: recall 0..0.5 -> 1 (6 points), 0.6..1 -> 2/3 (5 points).
    assert result.ap_area == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert result.ap_voc07 == pytest.approx((6 + 5 * 2 / 3) / 11)


def test_difficult_objects_neither_count_nor_penalise():
    hard = (30, 30, 40, 40)
    samples = [sample("1", [A, hard], [0, 0], difficult=[False, True])]
    found = {"1": dets((*hard, 0.9, 0), (*A, 0.8, 0), (*hard, 0.7, 0))}
    result = evaluate_detections(samples, found, NAMES).per_class[0]
    assert result.num_gt == 1
    assert (result.true_positives, result.false_positives) == (1, 0)
    assert result.ap_voc07 == result.ap_area == 1.0
    # Missing the difficult object costs nothing either.
    assert evaluate_detections(samples, {"1": dets((*A, 0.8, 0))}, NAMES).per_class[0].ap_area == 1.0


def test_no_detections_scores_zero_and_class_without_ground_truth_is_left_out():
    samples = [sample("1", [A, B], [0, 1]), sample("2", [], [])]
    found = {"1": dets((*A, 0.9, 0)), "2": dets((20, 20, 30, 30, 0.5, 2))}  # nothing for b; c has no gt
    result = evaluate_detections(samples, found, NAMES)
    a, b, c = result.per_class
    assert a.ap_area == a.ap_voc07 == 1.0
    assert b.ap_area == b.ap_voc07 == 0.0 and b.num_detections == 0
    assert c.ap_area is None and c.ap_voc07 is None and c.false_positives == 1
    assert result.map50_voc07 == result.map50_area == 0.5  # mean of a and b only
    summary = result.as_dict()
    assert summary["classes_without_gt"] == ["c"]
    assert summary["per_class"]["c"]["ap_area"] is None
    # A split with no ground truth at all has no mAP.
    assert evaluate_detections([sample("2", [], [])], {}, NAMES).map50_area is None


def test_eleven_point_and_area_differ_as_computed_by_hand():
    samples = [sample("1", [A], [0]), sample("2", [B], [0])]
    found = {"1": dets((60, 60, 90, 90, 0.9, 0), (*A, 0.8, 0))}  # a miss ranked first, then A; B never found
    result = evaluate_detections(samples, found, NAMES).per_class[0]
    np.testing.assert_allclose(result.recall, [0.0, 0.5])
    np.testing.assert_allclose(result.precision, [0.0, 0.5])
    assert result.ap_area == pytest.approx(0.25)  # recall 0 -> 0.5 at precision 0.5
    assert result.ap_voc07 == pytest.approx(6 * 0.5 / 11)  # thresholds 0, 0.1, ..., 0.5


def test_iou_must_exceed_one_half():
    samples = [sample("1", [A], [0])]
    exactly_half = {"1": dets((0, 0, 10, 20, 0.9, 0))}  # IoU 100 / 200
    just_above = {"1": dets((0, 0, 10, 19, 0.9, 0))}  # IoU 100 / 190
    assert evaluate_detections(samples, exactly_half, NAMES).per_class[0].ap_area == 0.0
    assert evaluate_detections(samples, just_above, NAMES).per_class[0].ap_area == 1.0


def test_a_detection_on_another_class_or_image_does_not_match():
    samples = [sample("1", [A], [0]), sample("2", [], [])]
    found = {"1": dets((*A, 0.9, 1)), "2": dets((*A, 0.8, 0))}
    a, b, _ = evaluate_detections(samples, found, NAMES).per_class
    assert a.ap_area == 0.0 and a.false_positives == 1 and b.false_positives == 1


def test_detections_for_unknown_images_are_refused():
    with pytest.raises(ValueError, match="'9'"):
        evaluate_detections([sample("1", [A], [0])], {"9": dets((*A, 0.9, 0))}, NAMES)


def test_voc_ap_on_a_plain_curve():
    recall = np.array([0.2, 0.4, 0.4, 0.8])
    precision = np.array([1.0, 1.0, 0.5, 0.5])
    assert voc_ap(recall, precision) == pytest.approx(0.4 * 1 + 0.4 * 0.5)
    # thresholds 0..0.4 -> 1 (5 points), 0.5..0.8 -> 0.5 (4 points), 0.9 and 1.0 -> 0.
    assert voc_ap(recall, precision, use_07_metric=True) == pytest.approx((5 + 4 * 0.5) / 11)
    assert voc_ap(np.zeros(0), np.zeros(0)) == voc_ap(np.zeros(0), np.zeros(0), use_07_metric=True) == 0.0


def test_eleven_point_thresholds_are_reached_exactly():
    # Recall 3/5 must count for the 0.6 threshold (np.arange's 0.6000000000000001 would miss it).
    recall, precision = np.array([0.2, 0.4, 0.6]), np.ones(3)
    assert voc_ap(recall, precision, use_07_metric=True) == pytest.approx(7 / 11)

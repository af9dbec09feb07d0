"""Parity measures on hand-made heads: what counts as the same detection."""

import numpy as np

from bcn.boxes import iou
from bcn.converters.parity import compare, parity_problem


def heads(peaks, size=(4.0, 4.0), grid=16, classes=3):
    """(heatmap, size, offset) with a peak of `score` at (x, y) for class c, for each (x, y, c, score)."""
    heatmap = np.zeros((grid, grid, classes), np.float32)
    for x, y, c, score in peaks:
        heatmap[y, x, c] = score
    return heatmap, np.full((grid, grid, 2), size, np.float32), np.full((grid, grid, 2), 0.5, np.float32)


def test_identical_heads_agree():
    reference = [heads([(3, 3, 0, 0.9), (10, 12, 2, 0.6)])]
    parity = compare(reference, reference)
    assert parity["agreement"] == 1.0 and parity["detections_reference"] == 2
    assert parity["score_diff_max"] == 0 and parity["heatmap_max_abs_diff"] == 0
    assert parity_problem(parity) is None


def test_moved_or_relabelled_detections_disagree():
    reference = [heads([(3, 3, 0, 0.9), (10, 12, 2, 0.6)])]
    converted = [heads([(4, 3, 0, 0.9), (10, 12, 1, 0.6)])]  # one box a cell off, one class changed
    parity = compare(reference, converted)
    assert parity["agreement"] == 0.0
    assert "match within IoU" in parity_problem(parity)


def test_a_score_just_under_the_threshold_still_counts_as_found():
    parity = compare([heads([(3, 3, 0, 0.31)])], [heads([(3, 3, 0, 0.29)])])
    assert parity["detections_reference"] == 1 and parity["detections_converted"] == 0
    assert parity["agreement"] == 1.0
    assert abs(parity["score_diff_max"] - 0.02) < 1e-6


def test_zero_size_boxes_in_the_same_place_match():
    box = np.array([8.0, 8.0, 8.0, 8.0])
    assert iou(box, box[None], min_side=1.0)[0] == 1.0  # parity counts them as 1 px
    assert iou(box, np.array([[20.0, 20.0, 20.0, 20.0]]), min_side=1.0)[0] == 0.0
    parity = compare([heads([(3, 3, 0, 0.9)], size=(0, 0))], [heads([(3, 3, 0, 0.9)], size=(0, 0))])
    assert parity["agreement"] == 1.0


def test_no_detections_falls_back_on_heatmaps():
    quiet = [heads([(3, 3, 0, 0.1)])]
    assert compare(quiet, quiet)["agreement"] is None
    assert parity_problem(compare(quiet, quiet)) is None
    noisy = [(quiet[0][0] + 0.15, *quiet[0][1:])]
    assert "heatmaps differ" in parity_problem(compare(quiet, noisy))


def test_a_heatmap_score_moving_anywhere_fails_even_when_detections_match():
    reference = [heads([(3, 3, 0, 0.9)])]
    moved = heads([(3, 3, 0, 0.9)])
    moved[0][10, 10, 1] = 0.1  # under the threshold: no detection, but not what Keras computes
    parity = compare(reference, [moved])
    assert parity["agreement"] == 1.0
    assert "heatmap score differs by 0.1000" in parity_problem(parity)

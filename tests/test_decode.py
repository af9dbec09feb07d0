"""The shared decoder: peaks, top-k, thresholds and box geometry."""

import numpy as np
import pytest

from bcn.decode import decode


def heads(height=16, width=16, classes=3):
    return (
        np.zeros((height, width, classes), np.float32),
        np.zeros((height, width, 2), np.float32),
        np.zeros((height, width, 2), np.float32),
    )


def test_peak_becomes_a_box_at_stride_4():
    heatmap, size, offset = heads()
    heatmap[10, 5, 1] = 0.9
    size[10, 5] = [4, 2]
    offset[10, 5] = [0.5, 0.25]
    found = decode(heatmap, size, offset)
    assert found.classes.tolist() == [1]
    np.testing.assert_allclose(found.boxes[0], [14, 37, 30, 45])  # centre (22, 41), 16 x 8


def test_neighbours_of_a_peak_are_suppressed_but_other_classes_are_not():
    heatmap, size, offset = heads()
    heatmap[4, 4, 0] = 0.8
    heatmap[4, 5, 0] = 0.7  # beside the peak, same class: not a peak
    heatmap[4, 5, 2] = 0.6  # same place, another class: its own peak
    found = decode(heatmap, size, offset)
    assert sorted(zip(found.classes.tolist(), [round(float(s), 2) for s in found.scores])) == [(0, 0.8), (2, 0.6)]


def test_top_k_and_threshold_keep_the_best_in_order():
    heatmap, size, offset = heads(32, 32, 1)
    heatmap[::4, ::4, 0] = np.linspace(0.01, 0.99, 64).reshape(8, 8)
    found = decode(heatmap, size, offset, top_k=10, score_threshold=0.0)
    assert len(found) == 10 and np.all(np.diff(found.scores) <= 0) and found.scores[0] > 0.98
    assert len(decode(heatmap, size, offset, top_k=100, score_threshold=0.5)) == np.sum(heatmap > 0.5)


def test_negative_sizes_give_empty_boxes_not_inverted_ones():
    heatmap, size, offset = heads()
    heatmap[3, 3, 0] = 0.9
    size[3, 3] = [-2, -1]
    box = decode(heatmap, size, offset).boxes[0]
    assert box[2] >= box[0] and box[3] >= box[1]


def reference_decode(heatmap, top_k, score_threshold):
    """Peaks found the slow, obvious way: each cell against its 3x3 neighbourhood, all cells ranked."""
    height, width, classes = heatmap.shape
    found = []
    for y in range(height):
        for x in range(width):
            for c in range(classes):
                around = heatmap[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2, c]
                if heatmap[y, x, c] == around.max() and heatmap[y, x, c] >= score_threshold:
                    found.append((-heatmap[y, x, c], (y * width + x) * classes + c))
    return [index for _, index in sorted(found)[:top_k]]


@pytest.mark.parametrize("classes", [1, 3, 20, 600])
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.9])
def test_peaks_match_the_obvious_search(classes, threshold):
    rng = np.random.default_rng(classes)
    heatmap = rng.random((9, 11, classes), dtype=np.float32) ** 4
    heatmap[2, 3, 0] = heatmap[2, 4, 0] = 0.95  # a plateau: both cells are peaks
    size = rng.random((9, 11, 2), dtype=np.float32)
    offset = rng.random((9, 11, 2), dtype=np.float32)
    top_k = 7 if classes < 600 else 100
    found = decode(heatmap, size, offset, top_k=top_k, score_threshold=threshold)
    expected = reference_decode(heatmap, top_k, threshold)
    assert found.scores.tolist() == [heatmap.ravel()[i] for i in expected]
    cells, expected_classes = np.divmod(np.array(expected, dtype=np.int64), classes)
    assert found.classes.tolist() == expected_classes.tolist()
    assert found.boxes.shape == (len(expected), 4)

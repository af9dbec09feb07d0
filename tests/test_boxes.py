"""One IoU for evaluation and parity, defined on degenerate boxes."""

import numpy as np
import pytest

from bcn.boxes import iou


def test_iou_of_ordinary_boxes():
    box = np.array([0.0, 0.0, 10.0, 10.0])
    others = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    assert iou(box, others) == pytest.approx([1.0, 50 / 150, 0.0])
    assert iou(box, np.zeros((0, 4))).shape == (0,)


@pytest.mark.parametrize("degenerate", [[5, 5, 5, 5], [5, 0, 5, 10], [8, 8, 2, 2]])
def test_a_box_without_area_has_iou_zero_with_everything_itself_included(degenerate):
    degenerate = np.array(degenerate, np.float64)
    others = np.array([degenerate, [0, 0, 10, 10]])
    assert iou(degenerate, others).tolist() == [0.0, 0.0]
    assert iou(np.array([0.0, 0.0, 10.0, 10.0]), degenerate[None]).tolist() == [0.0]


def test_min_side_grows_sub_pixel_boxes_about_their_centre():
    point = np.array([8.0, 8.0, 8.0, 8.0])
    assert iou(point, point[None], min_side=1.0).tolist() == [1.0]
    assert iou(point, np.array([[8.0, 8.0, 8.5, 8.5]]), min_side=1.0)[0] == pytest.approx(0.5625 / 1.4375)
    assert iou(point, np.array([[20.0, 20.0, 20.0, 20.0]]), min_side=1.0).tolist() == [0.0]

"""CenterNet targets: CornerNet radius, peak placement, and encode -> decode round trips."""

import math

import numpy as np
import pytest
import tensorflow as tf

import bcn  # noqa: F401
from bcn.decode import decode
from bcn.preprocess import Letterbox
from bcn.train.augment import augment_and_letterbox
from bcn.train.targets import encode_targets, gaussian_radius


def test_gaussian_radius_of_a_10x10_box_by_hand():
    # Third case of CornerNet's rule: a = 4 o, b = -2 o (h + w), c = (o - 1) w h, r = (b + sqrt(b^2 - 4ac)) / 2.
    a, b, c = 4 * 0.7, -2 * 0.7 * 20, -0.3 * 100
    assert gaussian_radius(10.0, 10.0) == pytest.approx((b + math.sqrt(b * b - 4 * a * c)) / 2)
    assert gaussian_radius(10.0, 10.0) == pytest.approx(2.733, abs=1e-3)


def test_gaussian_radius_grows_with_the_box_and_agrees_for_tensors():
    sizes = [(2.0, 3.0), (10.0, 10.0), (10.0, 40.0), (64.0, 64.0)]
    radii = [gaussian_radius(h, w) for h, w in sizes]
    assert radii == sorted(radii)
    tensor = gaussian_radius(tf.constant([h for h, _ in sizes]), tf.constant([w for _, w in sizes]))
    np.testing.assert_allclose(tensor.numpy(), radii, rtol=1e-5)


def test_peak_sits_at_the_centre_cell_of_its_class_only():
    box = np.array([[30.0, 10.0, 71.0, 50.4]], np.float32)  # centre (50.5, 30.2) px -> (12.625, 7.55) cells
    targets = encode_targets(box, [2], input_size=128, num_classes=4)
    heatmap = targets["heatmap"].numpy()
    assert heatmap.shape == (32, 32, 4)
    assert heatmap[7, 12, 2] == 1.0
    assert (heatmap == 1.0).sum() == 1
    assert heatmap[..., [0, 1, 3]].max() == 0.0
    assert targets["indices"].numpy()[0] == 7 * 32 + 12
    np.testing.assert_allclose(targets["offset"].numpy()[0], [0.625, 0.55], atol=1e-5)
    np.testing.assert_allclose(targets["size"].numpy()[0], [41 / 4, 40.4 / 4], atol=1e-5)
    assert targets["mask"].numpy().tolist() == [1.0] + [0.0] * 99


def test_gaussian_of_a_box_matches_ctdet_computed_by_hand():
    # The box above in cells: w = 41 / 4 = 10.25, h = 40.4 / 4 = 10.1. ctdet takes
    # gaussian_radius((ceil(h), ceil(w))) = gaussian_radius((11, 11)); its smallest root is the third case:
    #   a = 4 * 0.7 = 2.8, b = -2 * 0.7 * 22 = -30.8, c = (0.7 - 1) * 121 = -36.3,
    #   r = (b + sqrt(b^2 - 4ac)) / 2 = (-30.8 + sqrt(948.64 + 406.56)) / 2 = (-30.8 + 36.81304) / 2 = 3.00652
    # so radius = int(3.00652) = 3 (the un-ceil'd size would give 2.78 -> 2), sigma = (2 * 3 + 1) / 6 = 7 / 6,
    # and a cell (dx, dy) from the centre cell (12, 7) holds exp(-(dx^2 + dy^2) / (2 sigma^2)),
    # which is exp(-(dx^2 + dy^2) * 18 / 49).
    assert gaussian_radius(11.0, 11.0) == pytest.approx(3.00652, abs=1e-5)
    box = np.array([[30.0, 10.0, 71.0, 50.4]], np.float32)
    heatmap = encode_targets(box, [0], input_size=128, num_classes=1)["heatmap"].numpy()[..., 0]
    by_hand = {
        (7, 13): 0.6925,
        (7, 11): 0.6925,
        (8, 12): 0.6925,
        (6, 13): 0.4796,
        (7, 15): 0.03667,
        (10, 15): 0.001344,
        (4, 9): 0.001344,
    }
    for (y, x), value in by_hand.items():
        assert heatmap[y, x] == pytest.approx(value, rel=1e-3), (y, x)
    assert heatmap[7, 16] == 0.0 and heatmap[11, 12] == 0.0 and heatmap[7, 8] == 0.0  # |dx| or |dy| = 4 > radius
    assert (heatmap > 0).sum() == 7 * 7


def test_boxes_are_clipped_to_the_grid_and_empty_ones_skipped_as_in_ctdet():
    # Input 128 px, grid 32: ctdet clips each box (in cells) to [0, 31].
    boxes = np.array(
        [
            [-20.0, 100.0, 40.0, 140.0],  # cells (-5, 25, 10, 35) -> (0, 25, 10, 31): w 10, h 6
            [130.0, 0.0, 140.0, 10.0],  # cells (32.5, 0, 35, 2.5) -> (31, 0, 31, 2.5): no width, skipped
            [8.0, 8.0, 24.0, 24.0],
        ],
        np.float32,
    )
    targets = encode_targets(boxes, [0, 1, 2], input_size=128, num_classes=3)
    assert targets["mask"].numpy()[:4].tolist() == [1.0, 0.0, 1.0, 0.0]
    np.testing.assert_allclose(targets["size"].numpy()[:3], [[10, 6], [0, 0], [4, 4]])
    np.testing.assert_allclose(targets["offset"].numpy()[:3], [[0, 0], [0, 0], [0, 0]])
    assert targets["indices"].numpy()[:3].tolist() == [28 * 32 + 5, 0, 4 * 32 + 4]  # centres (5, 28) and (4, 4)
    heatmap = targets["heatmap"].numpy()
    assert heatmap[28, 5, 0] == 1.0 and heatmap[..., 1].max() == 0.0 and heatmap[4, 4, 2] == 1.0


def test_overlapping_peaks_of_one_class_keep_the_maximum():
    boxes = np.array([[0, 0, 40, 40], [8, 0, 48, 40]], np.float32)
    heatmap = encode_targets(boxes, [0, 0], 64, 1)["heatmap"].numpy()[..., 0]
    assert heatmap[5, 5] == 1.0 and heatmap[5, 7] == 1.0
    assert heatmap[5, 6] < 1.0


def test_no_objects_and_too_many_objects():
    empty = encode_targets(np.zeros((0, 4), np.float32), np.zeros((0,), np.int32), 64, 3)
    assert empty["heatmap"].numpy().max() == 0.0 and empty["mask"].numpy().sum() == 0
    many = np.tile(np.array([[0, 0, 8, 8]], np.float32), (150, 1)) + np.arange(150, dtype=np.float32)[:, None] % 7
    full = encode_targets(many, np.zeros(150, np.int32), 64, 1)
    assert full["mask"].numpy().sum() == 100 and full["size"].shape == (100, 2)


def _dense(targets, grid):
    """Scatter the per-object size and offset back on the grid, as a perfect model would predict."""
    size, offset = np.zeros((grid, grid, 2), np.float32), np.zeros((grid, grid, 2), np.float32)
    for index, present, wh, dxy in zip(*(targets[k].numpy() for k in ("indices", "mask", "size", "offset"))):
        if present:
            y, x = divmod(int(index), grid)
            size[y, x], offset[y, x] = wh, dxy
    return size, offset


def test_targets_decode_back_to_the_boxes_within_a_pixel():
    rng = np.random.default_rng(3)
    for _ in range(5):
        # Well separated boxes: one per quadrant, so no peak hides another.
        boxes = []
        for qx in (0, 64):
            for qy in (0, 64):
                x1, y1 = qx + rng.uniform(0, 20), qy + rng.uniform(0, 20)
                boxes.append([x1, y1, x1 + rng.uniform(6, 40), y1 + rng.uniform(6, 40)])
        boxes = np.asarray(boxes, np.float32)
        classes = rng.integers(0, 3, 4)
        targets = encode_targets(boxes, classes, 128, 3)
        detections = decode(targets["heatmap"].numpy(), *_dense(targets, 32), score_threshold=0.99)
        order = np.lexsort((detections.boxes[:, 1], detections.boxes[:, 0]))
        expected = np.lexsort((boxes[:, 1], boxes[:, 0]))
        assert len(detections) == 4
        np.testing.assert_allclose(detections.boxes[order], boxes[expected], atol=1.0)
        assert detections.classes[order].tolist() == classes[expected].tolist()


def test_original_boxes_survive_letterbox_targets_decode_and_back():
    width, height = 500, 333
    boxes = np.array([[12, 20, 180, 150], [300, 40, 470, 300], [60, 200, 200, 330]], np.float32)
    image = np.zeros((height, width, 3), np.uint8)
    _, input_boxes, classes = augment_and_letterbox(tf.constant(image), boxes, tf.constant([0, 1, 2]), 128)
    targets = encode_targets(input_boxes, classes, 128, 3)
    detections = decode(targets["heatmap"].numpy(), *_dense(targets, 32), score_threshold=0.99)
    restored = Letterbox(width, height, 128).to_original(detections.boxes)
    order = np.argsort(detections.classes)
    np.testing.assert_allclose(restored[order], boxes, atol=1.0)

"""CenterNet targets: CornerNet radius, peak placement, and encode -> decode round trips."""

import math

import numpy as np
import pytest

import bcn  # noqa: F401
import tensorflow as tf

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
    radius = math.floor(gaussian_radius(40.4 / 4, 41 / 4))
    sigma = (2 * radius + 1) / 6
    assert heatmap[7, 13, 2] == pytest.approx(math.exp(-1 / (2 * sigma ** 2)), rel=1e-5)
    assert heatmap[7, 12 + radius + 1, 2] == 0.0 and heatmap[7, 12 + radius, 2] > 0
    assert targets["indices"].numpy()[0] == 7 * 32 + 12
    np.testing.assert_allclose(targets["offset"].numpy()[0], [0.625, 0.55], atol=1e-5)
    np.testing.assert_allclose(targets["size"].numpy()[0], [41 / 4, 40.4 / 4], atol=1e-5)
    assert targets["mask"].numpy().tolist() == [1.0] + [0.0] * 99


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

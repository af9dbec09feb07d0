"""Augmentation and the TensorFlow letterbox: geometry, boxes on their objects, padding."""

import numpy as np
import tensorflow as tf

import bcn  # noqa: F401
from bcn.preprocess import PAD_VALUE, letterbox
from bcn.train.augment import NO_AUGMENTATION, AugmentConfig, augment_and_letterbox, transform_boxes

STRONG = AugmentConfig(
    rotation=25,
    translation=0.15,
    scale=0.4,
    shear=10,
    flip_horizontal=0.5,
    flip_vertical=0.5,
    brightness=0,
    contrast=0,
    saturation=0,
    hue=0,
)


def test_without_augmentation_it_is_the_numpy_letterbox():
    image = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    expected, placement = letterbox(image, 128)
    boxes = np.array([[10, 20, 100, 200]], np.float32)
    for config in (None, NO_AUGMENTATION):
        result, out_boxes, _ = augment_and_letterbox(tf.constant(image), boxes, tf.constant([1]), 128, config)
        result = result.numpy()
        assert result.dtype == np.float32 and result.shape == (128, 128, 3)
        inside = placement.resized[1] - 1  # last row may blend with the padding
        np.testing.assert_allclose(result[:inside], expected[:inside], atol=2 / 255)
        assert (result[placement.resized[1] :] == PAD_VALUE).all()
        np.testing.assert_allclose(out_boxes.numpy(), placement.to_input(boxes), atol=1e-4)


def _rectangle_image(rng):
    image = np.zeros((rng.integers(90, 200), rng.integers(90, 200), 3), np.uint8)
    height, width = image.shape[:2]
    x1, y1 = rng.integers(5, width // 2), rng.integers(5, height // 2)
    x2, y2 = x1 + rng.integers(15, width // 2 - 2), y1 + rng.integers(15, height // 2 - 2)
    image[y1:y2, x1:x2] = 255
    return image, np.array([[x1, y1, x2, y2]], np.float32)


def test_augmented_box_still_covers_its_object_and_little_else():
    rng = np.random.default_rng(1)
    checked = 0
    for index in range(30):
        image, box = _rectangle_image(rng)
        result, boxes, classes = augment_and_letterbox(
            tf.constant(image), box, tf.constant([4]), 96, STRONG, (index, 1)
        )
        ys, xs = np.nonzero(result.numpy()[..., 0] > 0.75)  # the rectangle's pixels (background 0, padding 0.5)
        if len(xs) < 20:  # shifted out of view: the box must be gone or tiny
            assert len(boxes) == 0 or np.prod(boxes.numpy()[0, 2:] - boxes.numpy()[0, :2]) < 200
            continue
        checked += 1
        assert classes.numpy().tolist() == [4]
        x1, y1, x2, y2 = boxes.numpy()[0]
        assert xs.min() >= x1 - 1 and xs.max() + 1 <= x2 + 1, (xs.min(), xs.max(), x1, x2)
        assert ys.min() >= y1 - 1 and ys.max() + 1 <= y2 + 1, (ys.min(), ys.max(), y1, y2)
        # The box is the rotated rectangle's extent: not much larger than its pixels' extent.
        pixel_area = (xs.max() + 1 - xs.min()) * (ys.max() + 1 - ys.min())
        assert (x2 - x1) * (y2 - y1) <= 1.3 * pixel_area + 4 * (x2 - x1 + y2 - y1)
    assert checked >= 20


def test_boxes_outside_the_input_are_dropped_and_partial_ones_clipped():
    boxes = tf.constant([[10.0, 10.0, 30.0, 30.0], [50.0, 50.0, 80.0, 80.0]])
    shift = tf.constant([[1.0, 0.0, 80.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    moved, kept = transform_boxes(boxes, shift, 128)
    assert kept.numpy().tolist() == [True, False]
    np.testing.assert_allclose(moved.numpy()[0], [90, 10, 110, 30])
    partly, kept = transform_boxes(tf.constant([[100.0, 0.0, 140.0, 20.0]]), tf.eye(3), 128)
    assert kept.numpy().tolist() == [True]
    np.testing.assert_allclose(partly.numpy()[0], [100, 0, 128, 20])


def test_colour_jitter_changes_pixels_but_not_the_padding():
    image = np.full((40, 80, 3), 120, np.uint8)
    config = AugmentConfig(rotation=0, translation=0, scale=0, shear=0, flip_horizontal=0, brightness=0.3)
    results = [
        augment_and_letterbox(
            tf.constant(image), np.zeros((0, 4), np.float32), tf.zeros((0,), tf.int32), 64, config, (index, 2)
        )[0].numpy()
        for index in range(4)
    ]
    assert len({round(float(r[5, 5, 0]), 4) for r in results}) > 1
    assert all((r[40:] == PAD_VALUE).all() for r in results)


def test_a_seed_decides_every_draw():
    image = np.random.default_rng(3).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    boxes = np.array([[10, 20, 60, 70]], np.float32)

    def augmented(seed):
        result, out_boxes, _ = augment_and_letterbox(
            tf.constant(image), boxes, tf.constant([0]), 64, AugmentConfig(), seed
        )
        return result.numpy(), out_boxes.numpy()

    first, again, other = augmented((7, 8)), augmented((7, 8)), augmented((7, 9))
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])

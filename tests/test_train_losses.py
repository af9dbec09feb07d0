"""CenterNet losses on cases computed by hand."""

import math

import numpy as np
import pytest
import tensorflow as tf

import bcn  # noqa: F401
from bcn.train.losses import centernet_losses, focal_loss, regression_l1


def _maps(values):
    return tf.constant(np.asarray(values, np.float32).reshape(1, 1, -1, 1))


def test_focal_loss_one_positive_one_negative_one_near_peak():
    target = _maps([1.0, 0.0, 0.5])
    predicted = _maps([0.8, 0.3, 0.6])
    expected = -(math.log(0.8) * 0.2**2 + math.log(0.7) * 0.3**2 + math.log(0.4) * 0.6**2 * 0.5**4)
    assert float(focal_loss(target, predicted)) == pytest.approx(expected, rel=1e-5)


def test_focal_loss_divides_by_the_positives_and_not_by_zero():
    target = _maps([1.0, 1.0, 0.0, 0.0])
    predicted = _maps([0.5, 0.5, 0.2, 0.2])
    one = -(math.log(0.5) * 0.25)
    neg = -(math.log(0.8) * 0.04)
    assert float(focal_loss(target, predicted)) == pytest.approx((2 * one + 2 * neg) / 2, rel=1e-5)
    no_positive = focal_loss(_maps([0.0, 0.0]), _maps([0.2, 0.2]))
    assert float(no_positive) == pytest.approx(2 * neg, rel=1e-5)


def test_focal_loss_is_small_for_a_perfect_prediction_and_large_for_a_wrong_one():
    target = _maps([1.0, 0.0, 0.0])
    assert float(focal_loss(target, target)) < 1e-6
    assert float(focal_loss(target, _maps([0.0, 1.0, 1.0]))) > 10


def test_regression_l1_uses_only_masked_objects_at_their_cells():
    predicted = np.zeros((1, 2, 2, 2), np.float32)
    predicted[0, 1, 0] = [3.0, 5.0]  # cell index 2
    predicted[0, 0, 1] = [100.0, 100.0]  # cell index 1, only referenced by a padded slot
    target = tf.constant([[[2.0, 7.0], [0.0, 0.0]]])
    loss = regression_l1(target, tf.constant(predicted), tf.constant([[2, 1]]), tf.constant([[1.0, 0.0]]))
    assert float(loss) == pytest.approx((1.0 + 2.0) / 2, rel=1e-3)


def test_total_is_focal_plus_weighted_l1_terms():
    heatmap = np.full((1, 2, 2, 1), 0.1, np.float32)
    target_heatmap = np.zeros_like(heatmap)
    target_heatmap[0, 0, 0, 0] = 1.0
    targets = {
        "heatmap": tf.constant(target_heatmap),
        "size": tf.constant([[[4.0, 4.0]]]),
        "offset": tf.constant([[[0.5, 0.5]]]),
        "indices": tf.constant([[0]]),
        "mask": tf.constant([[1.0]]),
    }
    outputs = (tf.constant(heatmap), tf.zeros((1, 2, 2, 2)), tf.zeros((1, 2, 2, 2)))
    losses = centernet_losses(targets, outputs)
    assert float(losses["size_loss"]) == pytest.approx(0.1 * 4.0, rel=1e-3)
    assert float(losses["offset_loss"]) == pytest.approx(0.5, rel=1e-3)
    assert float(losses["loss"]) == pytest.approx(
        float(losses["heatmap_loss"]) + float(losses["size_loss"]) + float(losses["offset_loss"]), rel=1e-6
    )

"""`h(f)`: the three CenterNet heads (bcn.centernet) built in Keras."""

import math

import tensorflow as tf

from bcn.centernet import HEADS

# CenterNet starts the heatmap at a 0.1 prior so the focal loss is stable early on.
HEATMAP_PRIOR = 0.1


def _branch(x, filters: int, outputs: int, name: str, bias_initializer="zeros"):
    x = tf.keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = tf.keras.layers.BatchNormalization()(x)
    x = tf.keras.layers.Activation("relu")(x)
    return tf.keras.layers.Conv2D(outputs, 1, bias_initializer=bias_initializer, name=name)(x)


def centernet_heads(x, filters: int, num_classes: int):
    """Heatmap (sigmoid, one map per class), size (w, h) and offset (dx, dy) in grid cells."""
    prior = tf.keras.initializers.Constant(-math.log((1 - HEATMAP_PRIOR) / HEATMAP_PRIOR))
    heatmap_name, size_name, offset_name = HEADS
    logits = _branch(x, filters, num_classes, f"{heatmap_name}_logits", prior)
    heatmap = tf.keras.layers.Activation("sigmoid", name=heatmap_name, dtype="float32")(logits)
    size = _branch(x, filters, 2, size_name)
    offset = _branch(x, filters, 2, offset_name)
    return heatmap, size, offset

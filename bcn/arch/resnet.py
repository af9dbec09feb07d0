"""`rn(z)`: the full-precision ResNet-50 backbone of the reference model."""

import tensorflow as tf


def resnet50_backbone(x):
    """ResNet-50 from keras.applications, untrained, to stride 32 (2048 maps)."""
    backbone = tf.keras.applications.ResNet50(include_top=False, weights=None, input_tensor=x)
    return backbone.output

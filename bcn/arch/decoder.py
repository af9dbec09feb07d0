"""`tp(k)([f1, ...])`: the full-precision transposed-conv decoder."""

import tensorflow as tf


def transposed_conv_decoder(x, kernel_size: int, filters: tuple[int, ...]):
    """Per entry: k x k transposed conv, stride 2, BN, ReLU."""
    for f in filters:
        x = tf.keras.layers.Conv2DTranspose(
            f,
            kernel_size,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
        )(x)
        x = tf.keras.layers.BatchNormalization()(x)
        x = tf.keras.layers.Activation("relu")(x)
    return x

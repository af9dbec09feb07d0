"""The LCE flatbuffer: binary convs as bitpacked LceBconv2d."""

import larq_compute_engine as lce
import tensorflow as tf

TARGET = "arm"


def convert_lce(model: tf.keras.Model) -> bytes:
    """The LCE-optimized TFLite flatbuffer of a Keras model with larq layers (for ARM CPUs)."""
    return lce.convert_keras_model(model, target=TARGET)

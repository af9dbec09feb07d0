"""The LCE flatbuffer: binary convs as bitpacked LceBconv2d, run by LCE's interpreter."""

import larq_compute_engine as lce
import tensorflow as tf
from larq_compute_engine.tflite.python.interpreter import Interpreter

TARGET = "arm"


def convert_lce(model: tf.keras.Model) -> bytes:
    """The LCE-optimized TFLite flatbuffer of a Keras model with larq layers (for ARM CPUs)."""
    return lce.convert_keras_model(model, target=TARGET)


def lce_interpreter(flatbuffer: bytes, threads: int = 1) -> Interpreter:
    """LCE's interpreter with its default kernels, as a device runs the model."""
    return Interpreter(flatbuffer, num_threads=threads)

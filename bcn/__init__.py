"""BinaryCenterNet: binarized CenterNet detectors from design to the edge."""

import os

__version__ = "0.1.0"

# larq 0.14 and LCE 0.16 use the Keras 2 API, which TensorFlow 2.16 only serves as
# tf.keras when this is set before TensorFlow is first imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) drowns the CLI output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

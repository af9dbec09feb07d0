"""Keras -> TFLite: the LCE flatbuffer and the full-precision baselines."""

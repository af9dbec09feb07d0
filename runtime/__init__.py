"""The on-device runtime: no TensorFlow import anywhere in this package."""

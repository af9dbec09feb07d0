"""Shared fixtures. `bcn` is imported first: it selects the Keras 2 API before TensorFlow loads."""

import bcn  # noqa: F401

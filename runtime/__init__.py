"""The on-device runtime: no TensorFlow import anywhere in this package."""

from bcn.runtime.delegate import lce_delegate, library_path

__all__ = ["lce_delegate", "library_path"]

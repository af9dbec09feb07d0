"""Optional dependency groups ("extras") and the message shown when one is missing."""

import importlib.util

from bcn.errors import BcnError

# The modules each extra brings, by import name.
EXTRAS = {
    "runtime": ("cv2", "flatbuffers", "yaml"),
    "train": ("tensorflow", "tf_keras", "larq", "larq_zoo", "cv2", "matplotlib"),
    "convert": ("tensorflow", "tf_keras", "larq", "larq_zoo", "larq_compute_engine"),
}


class MissingExtra(BcnError):
    """Raised when a command needs an extra that is not installed."""


def missing_modules(extra: str) -> list[str]:
    """Import names of the extra's modules that cannot be found."""
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, what: str) -> None:
    """Fail with the exact install line when `extra` is not installed."""
    missing = missing_modules(extra)
    if missing:
        raise MissingExtra(
            f"{what} needs the '{extra}' extra ({', '.join(missing)} not installed): "
            f"pip install 'bcn[{extra}]'  (from a checkout: pip install -e '.[{extra}]')"
        )


def import_tensorflow(what: str):
    """Import TensorFlow with the Keras 2 API larq needs, after checking the extra."""
    require("train", what)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf

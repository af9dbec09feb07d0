"""Checks of the Python API's arguments at each public function's boundary, before any work.

A wrong type is an ArgumentTypeError (a TypeError), a value out of range an ArgumentValueError (a
ValueError), each naming the argument as the caller wrote it; both are BcnErrors too, one line on the
command line. A str where a list is expected is one item, never its characters. Plain Python and NumPy only:
the runtime uses these on a device without TensorFlow.
"""

import math
import os
import threading

from bcn.defaults import MAX_THREADS
from bcn.errors import BcnError


class ArgumentTypeError(BcnError, TypeError):
    """An argument of the wrong type."""


class ArgumentValueError(BcnError, ValueError):
    """An argument of the right type and a wrong value."""


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_name(value) -> str:
    return type(value).__name__


def integer(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    """`value` as an int from `minimum` to `maximum` (None: no limit); a bool or float is not an integer."""
    if not _is_int(value):
        raise ArgumentTypeError(f"{name} must be an integer, not {_type_name(value)} {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" to {maximum}" if maximum is not None else " or more"
        raise ArgumentValueError(f"{name} must be {minimum}{upper}, got {value}")
    return value


def threads(name: str, value) -> int:
    """An interpreter thread count: 1 to MAX_THREADS."""
    return integer(name, value, 1, MAX_THREADS)


def number(name: str, value, low: float = -math.inf, high: float = math.inf, low_open: bool = False) -> float:
    """`value` as a finite number in [low, high] (`low_open`: above low)."""
    if not _is_number(value):
        raise ArgumentTypeError(f"{name} must be a number, not {_type_name(value)} {value!r}")
    if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
        bounds = f"above {low:g}" if low_open else f"at least {low:g}"
        bounds += f" and at most {high:g}" if high != math.inf else ""
        raise ArgumentValueError(f"{name} must be a finite number {bounds}, got {value!r}")
    return value


def optional(check, name: str, value, *args, **kwargs):
    """None, or `value` as `check` (one of the checks here) returns it."""
    return None if value is None else check(name, value, *args, **kwargs)


def path(name: str, value) -> str | os.PathLike:
    """A file or folder name: a str or an os.PathLike (pathlib.Path)."""
    if not isinstance(value, (str, os.PathLike)):
        raise ArgumentTypeError(f"{name} must be a path (str or pathlib.Path), not {_type_name(value)} {value!r}")
    return value


def paths(name: str, value) -> list:
    """At least one path: a list or tuple of them, or a single one (never split into characters)."""
    if isinstance(value, (str, os.PathLike)):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise ArgumentTypeError(f"{name} must be a path or a list of paths, not {_type_name(value)} {value!r}")
    if not value:
        raise ArgumentValueError(f"{name} is empty: give at least one path")
    return [path(f"{name}[{index}]", item) for index, item in enumerate(value)]


def names(name: str, value) -> list[str]:
    """Names: a list or tuple of str, or a single str as one name (never split into characters)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise ArgumentTypeError(f"{name} must be a str or a list of str, not {_type_name(value)} {value!r}")
    return list(value)


def integers(name: str, value, check=integer) -> tuple[int, ...]:
    """At least one integer, each passing `check`: a list or tuple, or a single int."""
    items = [value] if _is_int(value) else value
    if not isinstance(items, (list, tuple)):
        raise ArgumentTypeError(f"{name} must be an integer or a list of integers, not {_type_name(value)} {value!r}")
    if not items:
        raise ArgumentValueError(f"{name} is empty: give at least one")
    return tuple(check(f"{name}[{index}]", item) for index, item in enumerate(items))


def event(name: str, value) -> threading.Event | None:
    """None or a threading.Event."""
    if value is not None and not isinstance(value, threading.Event):
        raise ArgumentTypeError(f"{name} must be a threading.Event or None, not {_type_name(value)} {value!r}")
    return value


def image(name: str, value):
    """An H x W x 3 uint8 NumPy array (as OpenCV reads images)."""
    import numpy as np

    if not isinstance(value, np.ndarray):
        raise ArgumentTypeError(f"{name} must be a NumPy array (H x W x 3, uint8), not {_type_name(value)}")
    if value.dtype != np.uint8:
        raise ArgumentTypeError(
            f"{name} must be uint8 (0 to 255, as OpenCV reads images), not {value.dtype}; "
            "scale it and convert with .astype(np.uint8)"
        )
    if value.ndim != 3 or value.shape[2] != 3 or value.size == 0:
        raise ArgumentValueError(f"{name} must be an H x W x 3 colour image, got an array of shape {value.shape}")
    return value

"""Reading image files: one rule for every stage (training, data check, evaluation, convert, runtime).

An image file becomes what OpenCV's `imread(IMREAD_COLOR)` makes of it: the EXIF
orientation applied (a phone photo is upright, as viewers show it), grayscale
expanded to three channels, CMYK converted to colour, 16-bit samples scaled to
8 bits, an alpha channel dropped (the colour under it is kept). A file OpenCV cannot
decode is broken for every stage alike. No TensorFlow: the runtime reads with this too.
"""

from pathlib import Path

import numpy as np

from bcn.errors import BcnError


def read_image(path) -> np.ndarray:
    """An image file as an H x W x 3 uint8 BGR array, or a one-line BcnError naming the file."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise BcnError(f"{path}: no such image file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise BcnError(f"{path}: not an image OpenCV can read")
    return image


def read_rgb(path) -> np.ndarray:
    """An image file as an H x W x 3 uint8 RGB array (the model's colour order); see read_image."""
    import cv2

    return cv2.cvtColor(read_image(path), cv2.COLOR_BGR2RGB)

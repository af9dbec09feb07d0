"""Drawn detections: a label on a tiny image is legible once the image is drawn enlarged."""

import numpy as np

from bcn.runtime.annotate import class_color, draw_detections
from bcn.runtime.detector import Detection

DETECTION = Detection(class_id=0, class_name="disc", score=0.87, box=(40.0, 40.0, 80.0, 80.0))


def text_rows(canvas: np.ndarray, box_top: int) -> int:
    """Rows holding the label's white text: the light pixels above the box's white contrast edge
    on a black image ("disc 0.87" has no descenders)."""
    return int((canvas[: box_top - 3].min(axis=2) > 128).any(axis=1).sum())


def test_a_96_px_image_is_drawn_enlarged_with_legible_text():
    image = np.zeros((96, 96, 3), np.uint8)
    plain = draw_detections(image, [DETECTION])
    enlarged = draw_detections(image, [DETECTION], min_side=480)
    assert plain.shape == image.shape and enlarged.shape == (480, 480, 3)
    assert text_rows(plain, 40) < 10 <= text_rows(enlarged, 5 * 40)
    # The box is scaled with the image: its right edge lies at 5 x 80 px.
    assert tuple(enlarged[300, 400]) == class_color(0) and not enlarged[300, 410].any()


def test_an_image_already_large_enough_keeps_its_size():
    image = np.zeros((480, 640, 3), np.uint8)
    assert draw_detections(image, [DETECTION], min_side=480).shape == image.shape
    assert not image.any()  # drawn on a copy

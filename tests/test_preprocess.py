"""The letterbox: a reused input buffer gives the same pixels as a fresh one, from BGR or RGB."""

import cv2
import numpy as np

from bcn.preprocess import PAD_VALUE, letterbox, letterbox_into


def test_a_reused_input_matches_a_fresh_letterbox_across_frame_sizes():
    rng = np.random.default_rng(0)
    canvas = np.empty((64, 64, 3), np.float32)
    previous = None
    for height, width in [(48, 80), (48, 80), (90, 30), (64, 64), (10, 200)]:
        bgr = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        expected, expected_box = letterbox(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), 64)
        previous = letterbox_into(bgr, canvas, bgr=True, previous=previous)
        assert previous == expected_box
        assert np.array_equal(canvas, expected), (height, width)
    assert (canvas[:, expected_box.resized[0] :] == np.float32(PAD_VALUE)).all()


def test_rgb_input_is_taken_as_it_is():
    image = np.zeros((20, 40, 3), np.uint8)
    image[..., 0] = 255  # red in RGB
    canvas = np.empty((32, 32, 3), np.float32)
    letterbox_into(image, canvas)
    assert (canvas[:16, :, 0] == 1.0).all() and (canvas[:16, :, 2] == 0.0).all()
    assert (canvas[16:] == np.float32(PAD_VALUE)).all()

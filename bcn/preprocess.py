"""Letterbox pre-processing shared by training, evaluation and the runtime (no TensorFlow).

The model sees RGB float32 in [0, 1], the image scaled to fit Z x Z with its aspect
ratio kept, placed at the top-left corner and padded with PAD_VALUE. Boxes in the
model's input pixels map back to the original image by dividing by the scale.
"""

from dataclasses import dataclass

import numpy as np

PAD_VALUE = 0.5
PIXEL_SCALE = 1 / 255

# What `bcn convert` records in a flatbuffer so a runtime can reproduce this exactly.
PREPROCESSING = {
    "color": "RGB",
    "scale": PIXEL_SCALE,
    "letterbox": "top-left",
    "pad_value": PAD_VALUE,
    "interpolation": "bilinear",
}


@dataclass(frozen=True)
class Letterbox:
    """How an original image of `width` x `height` was placed into the model input."""

    width: int
    height: int
    input_size: int

    @property
    def scale(self) -> float:
        return min(self.input_size / self.width, self.input_size / self.height)

    @property
    def resized(self) -> tuple[int, int]:
        """(width, height) of the image inside the input, before padding."""
        return (
            max(1, min(self.input_size, round(self.width * self.scale))),
            max(1, min(self.input_size, round(self.height * self.scale))),
        )

    def to_original(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes (N, 4) x1, y1, x2, y2 in input pixels -> original pixels, clipped."""
        boxes = np.asarray(boxes, dtype=np.float32) / self.scale
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, self.width)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, self.height)
        return boxes

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes in original pixels -> input pixels."""
        return np.asarray(boxes, dtype=np.float32) * self.scale


def letterbox(image_rgb: np.ndarray, input_size: int) -> tuple[np.ndarray, Letterbox]:
    """An H x W x 3 uint8 RGB image -> (Z x Z x 3 float32 input, its Letterbox)."""
    import cv2

    height, width = image_rgb.shape[:2]
    box = Letterbox(width, height, input_size)
    resized = cv2.resize(image_rgb, box.resized, interpolation=cv2.INTER_LINEAR)
    canvas = np.full((input_size, input_size, 3), PAD_VALUE, dtype=np.float32)
    canvas[: resized.shape[0], : resized.shape[1]] = resized.astype(np.float32) * PIXEL_SCALE
    return canvas, box

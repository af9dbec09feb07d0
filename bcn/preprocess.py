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
    canvas = np.empty((input_size, input_size, 3), dtype=np.float32)
    return canvas, letterbox_into(image_rgb, canvas)


def letterbox_into(image: np.ndarray, canvas: np.ndarray, bgr: bool = False, previous: Letterbox | None = None):
    """Letterbox an H x W x 3 uint8 image into `canvas` (Z x Z x 3 float32, reused from frame to frame) and
    return its Letterbox. A BGR image (`bgr`) is resized first and its channels swapped on the small copy.
    With the `previous` frame's Letterbox of the same size, the padding already in `canvas` is kept."""
    import cv2

    height, width = image.shape[:2]
    box = Letterbox(width, height, canvas.shape[0])
    resized = cv2.resize(image, box.resized, interpolation=cv2.INTER_LINEAR)
    if bgr:
        resized = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
    if box != previous:
        canvas.fill(PAD_VALUE)
    inside = canvas[: resized.shape[0], : resized.shape[1]]
    np.multiply(resized, np.float32(PIXEL_SCALE), out=inside, dtype=np.float32)
    return box

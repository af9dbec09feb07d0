"""Drawing detections: boxes, class names and scores in readable colours, and an FPS overlay."""

import math

import numpy as np

# 20 saturated, well-separated colours (after Trubetskoy's list, pale ones replaced), as RGB hex.
PALETTE_HEX = (
    "e6194b",
    "3cb44b",
    "ffe119",
    "4363d8",
    "f58231",
    "911eb4",
    "42d4f4",
    "f032e6",
    "bfef45",
    "ff69b4",
    "469990",
    "7b68ee",
    "9a6324",
    "2f4f4f",
    "800000",
    "00a86b",
    "808000",
    "ff8c69",
    "000075",
    "a9a9a9",
)
PALETTE_BGR = tuple((int(h[4:6], 16), int(h[2:4], 16), int(h[0:2], 16)) for h in PALETTE_HEX)
# Drawn on an image whose detector found nothing to draw (bcn demo's test images).
NO_DETECTION = "no detection above the threshold"
# Background of notes that are not detections: the FPS overlay and NO_DETECTION.
NOTE_BACKGROUND = (32, 32, 32)


def class_color(class_id: int) -> tuple[int, int, int]:
    """The BGR colour of a class; classes beyond the palette reuse it."""
    return PALETTE_BGR[class_id % len(PALETTE_BGR)]


def text_color(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on `background` (BGR)."""
    blue, green, red = background
    luma = 0.299 * red + 0.587 * green + 0.114 * blue
    return (0, 0, 0) if luma > 140 else (255, 255, 255)


def _scale(image: np.ndarray) -> tuple[int, float]:
    """Line thickness and font scale that stay readable from 100 px to 4K frames."""
    side = min(image.shape[:2])
    return max(2, round(side / 240)), max(0.35, side / 900)


def _label(image: np.ndarray, text: str, x: int, y: int, color, font_scale: float, thickness: int) -> None:
    """Text on a filled box whose bottom-left corner is (x, y), kept inside the image."""
    import cv2

    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
    x = min(max(0, x), max(0, image.shape[1] - width - 2))
    y = max(y, height + baseline + 2)
    cv2.rectangle(image, (x, y - height - baseline - 2), (x + width + 2, y), color, cv2.FILLED)
    cv2.putText(
        image,
        text,
        (x + 1, y - baseline),
        cv2.FONT_HERSHEY_SIMPLEX,
        font_scale,
        text_color(color),
        thickness,
        cv2.LINE_AA,
    )


def draw_detections(image: np.ndarray, detections, min_side: int = 0) -> np.ndarray:
    """A copy of `image` (BGR) with each detection's box and "class score" label drawn.

    With `min_side`, an image whose shorter side is below it is first enlarged by the
    smallest whole factor that reaches it (each pixel becomes a block; boxes scale alike),
    so labels on tiny images are legible: the copy is then that much larger.
    """
    import cv2

    factor = max(1, math.ceil(min_side / min(image.shape[:2])))
    canvas = (
        image.copy() if factor == 1 else cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
    )
    thickness, font_scale = _scale(canvas)
    for detection in sorted(detections, key=lambda d: d.score):  # best drawn last, on top
        x1, y1, x2, y2 = (round(float(v) * factor) for v in detection.box)
        x1, x2 = sorted((x1, x2))
        y1, y2 = sorted((y1, y2))
        color = class_color(detection.class_id)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), text_color(color), thickness + 2)  # contrast edge
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness)
        _label(
            canvas, f"{detection.class_name} {detection.score:.2f}", x1, y1, color, font_scale, max(1, thickness // 2)
        )
    return canvas


def draw_no_detection(image: np.ndarray) -> np.ndarray:
    """Write NO_DETECTION across the top of `image` in place (made smaller where the image is too narrow for
    it), so an empty picture reads as a result rather than a drawing that failed; returns the image."""
    import cv2

    thickness, font_scale = _scale(image)
    thickness = max(1, thickness // 2)
    (width, _), _ = cv2.getTextSize(NO_DETECTION, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
    font_scale *= min(1.0, (image.shape[1] - 4) / width)
    _label(image, NO_DETECTION, 0, 0, NOTE_BACKGROUND, font_scale, thickness)
    return image


def draw_fps(image: np.ndarray, fps: float) -> np.ndarray:
    """Draw "NN.N FPS" in the bottom-left corner of `image` in place (away from most labels), and return it."""
    thickness, font_scale = _scale(image)
    _label(image, f"{fps:.1f} FPS", 0, image.shape[0], NOTE_BACKGROUND, font_scale, max(1, thickness // 2))
    return image

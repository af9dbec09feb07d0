"""Box geometry shared by evaluation and conversion parity."""

import numpy as np


def iou(box: np.ndarray, boxes: np.ndarray, min_side: float = 0.0) -> np.ndarray:
    """IoU of one box with each of `boxes` (x1, y1, x2, y2), as float64.

    Sides under `min_side` are first grown about the box centre to `min_side` (parity counts
    sub-pixel boxes as 1 px); a box still without area (inverted or zero-width) has IoU 0
    with every box, itself included.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    box = np.asarray(box, np.float64).reshape(4)
    if min_side > 0:
        both = np.vstack([box, boxes])
        centre, half = (both[:, :2] + both[:, 2:]) / 2, np.maximum((both[:, 2:] - both[:, :2]) / 2, min_side / 2)
        both = np.concatenate([centre - half, centre + half], axis=1)
        box, boxes = both[0], both[1:]
    inter = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None) * np.clip(
        np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None
    )
    area = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    union = area + areas - inter
    return np.divide(inter, union, out=np.zeros_like(union), where=(union > 0) & (area > 0) & (areas > 0))

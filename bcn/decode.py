"""CenterNet decoding, shared by evaluation and the runtime (numpy only).

Heads at output stride s: `heatmap` (H, W, C) class probabilities, `size` (H, W, 2)
box width and height in grid cells, `offset` (H, W, 2) sub-cell centre offset. A
peak at cell (x, y) is a box centred at ((x + dx) s, (y + dy) s) of size (w s, h s).
Boxes are x1, y1, x2, y2 in continuous pixel coordinates of the model input
(0-based, the right/bottom edge exclusive).
"""

from dataclasses import dataclass

import numpy as np

from bcn.centernet import OUTPUT_STRIDE

SQUARE_3X3 = np.ones((3, 3), np.uint8)


@dataclass
class Detections:
    """Detections of one image, best first."""

    boxes: np.ndarray  # (N, 4) float32 x1, y1, x2, y2
    scores: np.ndarray  # (N,) float32
    classes: np.ndarray  # (N,) int32

    def __len__(self) -> int:
        return len(self.scores)


def max_pool_3x3(heatmap: np.ndarray) -> np.ndarray:
    """The largest value of each cell's 3x3 neighbourhood, per class (cells outside the map do not count)."""
    import cv2

    chunks = [  # OpenCV filters at most CV_CN_MAX (512) channels at once
        cv2.dilate(heatmap[..., first : first + 512], SQUARE_3X3, borderType=cv2.BORDER_CONSTANT, borderValue=-np.inf)
        for first in range(0, heatmap.shape[2], 512)
    ]
    return np.concatenate([chunk.reshape(*heatmap.shape[:2], -1) for chunk in chunks], axis=2)


def decode(
    heatmap: np.ndarray,
    size: np.ndarray,
    offset: np.ndarray,
    top_k: int = 100,
    score_threshold: float = 0.05,
    stride: int = OUTPUT_STRIDE,
) -> Detections:
    """Peaks of the heatmap (3x3 max-pool), the top_k above score_threshold, as boxes.

    Only the cells at or above the threshold that are their neighbourhood's maximum are ranked, so a
    trained model's few peaks cost little beyond one dilation and one comparison of the map."""
    heatmap = np.ascontiguousarray(heatmap, dtype=np.float32)
    flat = heatmap.ravel()
    candidates = np.flatnonzero(flat >= score_threshold)
    candidates = candidates[max_pool_3x3(heatmap).ravel()[candidates] == flat[candidates]]
    if candidates.size > top_k:
        candidates = candidates[np.argpartition(-flat[candidates], top_k - 1)[:top_k]]
        candidates.sort()  # ties keep the order of the map, as a stable sort of all cells would
    best = candidates[np.argsort(-flat[candidates], kind="stable")]
    num_classes = heatmap.shape[2]
    cells, classes = np.divmod(best, num_classes)
    ys, xs = np.divmod(cells, heatmap.shape[1])
    size = np.maximum(np.asarray(size, dtype=np.float32)[ys, xs], 0.0)  # an untrained head can go negative
    offset = np.asarray(offset, dtype=np.float32)[ys, xs]
    cx = (xs + offset[:, 0]) * stride
    cy = (ys + offset[:, 1]) * stride
    half_w = size[:, 0] * stride / 2
    half_h = size[:, 1] * stride / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    return Detections(boxes.astype(np.float32).reshape(-1, 4), flat[best].copy(), classes.astype(np.int32))

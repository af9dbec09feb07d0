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


@dataclass
class Detections:
    """Detections of one image, best first."""

    boxes: np.ndarray  # (N, 4) float32 x1, y1, x2, y2
    scores: np.ndarray  # (N,) float32
    classes: np.ndarray  # (N,) int32

    def __len__(self) -> int:
        return len(self.scores)


def _max_pool_3x3(heatmap: np.ndarray) -> np.ndarray:
    padded = np.pad(heatmap, ((1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    height, width = heatmap.shape[:2]
    pooled = padded[:height, :width]
    for dy in range(3):
        for dx in range(3):
            pooled = np.maximum(pooled, padded[dy : dy + height, dx : dx + width])
    return pooled


def decode(
    heatmap: np.ndarray,
    size: np.ndarray,
    offset: np.ndarray,
    top_k: int = 100,
    score_threshold: float = 0.05,
    stride: int = OUTPUT_STRIDE,
) -> Detections:
    """Peaks of the heatmap (3x3 max-pool), the top_k above score_threshold, as boxes."""
    heatmap = np.asarray(heatmap, dtype=np.float32)
    peaks = np.where(_max_pool_3x3(heatmap) == heatmap, heatmap, 0.0).ravel()
    k = min(top_k, peaks.size)
    best = np.argpartition(-peaks, k - 1)[:k]
    best = best[np.argsort(-peaks[best], kind="stable")]
    best = best[peaks[best] >= score_threshold]
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
    return Detections(boxes.astype(np.float32), peaks[best].astype(np.float32), classes.astype(np.int32))

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


class DecodeBuffers:
    """What decode writes for one heatmap shape, kept by a caller that decodes frame after frame."""

    def __init__(self, shape: tuple[int, int, int]):
        self.shape = tuple(shape)
        self.pooled = np.empty(self.shape, np.float32)
        self.peak = np.empty(int(np.prod(self.shape)), bool)
        self.above = np.empty_like(self.peak)


def max_pool_3x3(heatmap: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The largest value of each cell's 3x3 neighbourhood, per class (cells outside the map do not count),
    into `out` (same shape, float32) when given."""
    import cv2

    dilate = {"kernel": SQUARE_3X3, "borderType": cv2.BORDER_CONSTANT, "borderValue": -np.inf}
    if heatmap.shape[2] <= 512:  # OpenCV filters at most CV_CN_MAX (512) channels at once
        pooled = cv2.dilate(heatmap, dst=out, **dilate)
        return pooled.reshape(heatmap.shape)
    chunks = [cv2.dilate(heatmap[..., first : first + 512], **dilate) for first in range(0, heatmap.shape[2], 512)]
    pooled = np.concatenate([chunk.reshape(*heatmap.shape[:2], -1) for chunk in chunks], axis=2)
    if out is None:
        return pooled
    out[...] = pooled
    return out


def peaks(heatmap: np.ndarray, top_k: int, score_threshold: float, buffers: DecodeBuffers | None = None) -> np.ndarray:
    """Flat indices of the top_k cells at or above score_threshold that are their 3x3 neighbourhood's
    maximum, best first (ties in the map's order): one dilation and three passes over the map, then a
    partial sort of the peaks alone."""
    flat = heatmap.ravel()
    if buffers is None or buffers.shape != heatmap.shape:
        buffers = DecodeBuffers(heatmap.shape)
    pooled = max_pool_3x3(heatmap, out=buffers.pooled)
    np.equal(flat, pooled.ravel(), out=buffers.peak)
    np.greater_equal(flat, score_threshold, out=buffers.above)
    np.logical_and(buffers.peak, buffers.above, out=buffers.peak)
    candidates = np.flatnonzero(buffers.peak)
    if candidates.size > top_k:
        candidates = candidates[np.argpartition(-flat[candidates], top_k - 1)[:top_k]]
        candidates.sort()  # ties keep the order of the map, as a stable sort of all cells would
    return candidates[np.argsort(-flat[candidates], kind="stable")]


def decode(
    heatmap: np.ndarray,
    size: np.ndarray,
    offset: np.ndarray,
    top_k: int = 100,
    score_threshold: float = 0.05,
    stride: int = OUTPUT_STRIDE,
    buffers: DecodeBuffers | None = None,
) -> Detections:
    """Peaks of the heatmap (3x3 max-pool), the top_k above score_threshold, as boxes.

    `buffers` (for the heatmap's shape) spares a caller that decodes every frame the allocations."""
    heatmap = np.ascontiguousarray(heatmap, dtype=np.float32)
    flat = heatmap.ravel()
    best = peaks(heatmap, top_k, score_threshold, buffers)
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

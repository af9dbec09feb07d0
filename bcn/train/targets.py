"""CenterNet training targets at output stride 4, as CenterNet's ctdet data set code makes them.

For boxes in model-input pixels, divided by the stride: each box is clipped to
[0, W - 1] x [0, H - 1] of the output grid (ctdet clips to `output_w - 1`), and a box
left with no width or height is skipped (its slot stays empty). The centre c of the
clipped box falls in cell floor(c); the class's heatmap gets a Gaussian peak of
exactly 1 there, of radius max(0, int(gaussian_radius(ceil(h), ceil(w)))) (CornerNet's
rule on the ceil'd box size) and sigma (2 r + 1) / 6, clipped to the window |dx|, |dy| <= r;
overlapping peaks of one class keep the maximum. `offset` = c - floor(c),
`size` = (w, h) of the clipped box in cells, `indices` = y * W + x is the cell's
position in the flattened grid and `mask` marks the real objects among the
MAX_OBJECTS slots (slot k holds the k-th box, as in ctdet).
"""

import math

import tensorflow as tf

from bcn.centernet import OUTPUT_STRIDE

MAX_OBJECTS = 100
MIN_OVERLAP = 0.7


def gaussian_radius(height, width, min_overlap: float = MIN_OVERLAP):
    """CornerNet's radius: how far a corner may move and the box keep IoU >= min_overlap.

    The three quadratic cases as in the CornerNet/CenterNet reference code (whose
    roots are not halved by `a`; every CenterNet model is trained with this rule).
    Works on Python floats and on tensors alike.
    """
    sqrt = tf.sqrt if isinstance(height, tf.Tensor) or isinstance(width, tf.Tensor) else math.sqrt
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + sqrt(b2**2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + sqrt(b3**2 - 4 * a3 * c3)) / 2
    if sqrt is math.sqrt:
        return min(r1, r2, r3)
    return tf.minimum(tf.minimum(r1, r2), r3)


def encode_targets(
    boxes, classes, input_size: int, num_classes: int, max_objects: int = MAX_OBJECTS, stride: int = OUTPUT_STRIDE
) -> dict:
    """Boxes (N, 4) x1, y1, x2, y2 in input pixels and classes (N,) -> CenterNet targets.

    Returns float32 `heatmap` (H, W, C), `size` (K, 2), `offset` (K, 2), `mask` (K,)
    and int32 `indices` (K,) with H = W = input_size / stride and K = max_objects;
    objects beyond K are left out.
    """
    grid = input_size // stride
    boxes = tf.reshape(tf.cast(boxes, tf.float32), (-1, 4))[:max_objects] / stride
    classes = tf.reshape(tf.cast(classes, tf.int32), (-1,))[:max_objects]
    count = tf.shape(boxes)[0]

    boxes = tf.clip_by_value(boxes, 0.0, float(grid - 1))
    wh = boxes[:, 2:] - boxes[:, :2]
    present = tf.logical_and(wh[:, 0] > 0, wh[:, 1] > 0)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    cell = tf.floor(centre)
    radius = tf.maximum(0.0, tf.floor(gaussian_radius(tf.math.ceil(wh[:, 1]), tf.math.ceil(wh[:, 0]))))
    sigma = (2 * radius + 1) / 6

    # One truncated Gaussian per object on the whole grid, then the max per class.
    axis = tf.range(grid, dtype=tf.float32)
    dx = axis[None, :] - cell[:, 0:1]  # (N, W)
    dy = axis[None, :] - cell[:, 1:2]  # (N, H)
    gx = tf.where(tf.abs(dx) <= radius[:, None], tf.exp(-(dx**2) / (2 * sigma[:, None] ** 2)), 0.0)
    gy = tf.where(tf.abs(dy) <= radius[:, None], tf.exp(-(dy**2) / (2 * sigma[:, None] ** 2)), 0.0)
    peaks = gy[:, :, None] * gx[:, None, :]  # (N, H, W), exactly 1 at each object's cell
    peaks = tf.where(present[:, None, None], peaks, 0.0)
    heatmap = tf.math.unsorted_segment_max(peaks, classes, num_classes)  # empty classes -> lowest float
    heatmap = tf.transpose(tf.maximum(heatmap, 0.0), (1, 2, 0))

    padding = [[0, max_objects - count], [0, 0]]
    kept = present[:, None]
    indices = tf.where(present, tf.cast(cell[:, 1] * grid + cell[:, 0], tf.int32), 0)
    return {
        "heatmap": tf.ensure_shape(heatmap, (grid, grid, num_classes)),
        "size": tf.ensure_shape(tf.pad(tf.where(kept, wh, 0.0), padding), (max_objects, 2)),
        "offset": tf.ensure_shape(tf.pad(tf.where(kept, centre - cell, 0.0), padding), (max_objects, 2)),
        "indices": tf.ensure_shape(tf.pad(indices, padding[:1]), (max_objects,)),
        "mask": tf.ensure_shape(tf.pad(tf.cast(present, tf.float32), padding[:1]), (max_objects,)),
    }

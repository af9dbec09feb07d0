"""CenterNet losses: penalty-reduced focal loss on the heatmap, L1 on size and offset.

total = focal(alpha 2, beta 4) + SIZE_WEIGHT * L1(size) + OFFSET_WEIGHT * L1(offset),
each normalised by the number of objects (CenterNet's reference reduction).
"""

import tensorflow as tf

ALPHA = 2.0
BETA = 4.0
SIZE_WEIGHT = 0.1
OFFSET_WEIGHT = 1.0
EPSILON = 1e-4


def focal_loss(target, predicted, alpha: float = ALPHA, beta: float = BETA):
    """Penalty-reduced pixel-wise focal loss over heatmaps (B, H, W, C) of probabilities.

    Cells where the target is exactly 1 are positives; the others are negatives whose
    loss is reduced by (1 - target)^beta near a peak. Summed and divided by the number
    of positives (at least 1).
    """
    predicted = tf.clip_by_value(tf.cast(predicted, tf.float32), EPSILON, 1 - EPSILON)
    positive = tf.cast(tf.equal(target, 1.0), tf.float32)
    negative = 1.0 - positive
    positive_loss = tf.math.log(predicted) * (1 - predicted) ** alpha * positive
    negative_loss = tf.math.log(1 - predicted) * predicted**alpha * (1 - target) ** beta * negative
    num_positive = tf.reduce_sum(positive)
    return -(tf.reduce_sum(positive_loss) + tf.reduce_sum(negative_loss)) / tf.maximum(num_positive, 1.0)


def gather_at(feature_map, indices):
    """Values of a (B, H, W, D) map at flattened cell indices (B, K) -> (B, K, D)."""
    shape = tf.shape(feature_map)
    flat = tf.reshape(feature_map, (shape[0], shape[1] * shape[2], shape[3]))
    return tf.gather(flat, indices, batch_dims=1)


def regression_l1(target, predicted_map, indices, mask):
    """Mean absolute error at the objects' cells: sum |pred - target| over objects / (2 * objects)."""
    predicted = gather_at(tf.cast(predicted_map, tf.float32), indices)
    mask = tf.cast(mask, tf.float32)[..., None]
    error = tf.reduce_sum(tf.abs(predicted - target) * mask)
    return error / (tf.reduce_sum(mask) * 2 + EPSILON)


def centernet_losses(targets: dict, outputs) -> dict:
    """The three weighted terms and their sum for model outputs (heatmap, size, offset)."""
    heatmap, size, offset = outputs
    losses = {
        "heatmap_loss": focal_loss(targets["heatmap"], heatmap),
        "size_loss": SIZE_WEIGHT * regression_l1(targets["size"], size, targets["indices"], targets["mask"]),
        "offset_loss": OFFSET_WEIGHT * regression_l1(targets["offset"], offset, targets["indices"], targets["mask"]),
    }
    losses["loss"] = losses["heatmap_loss"] + losses["size_loss"] + losses["offset_loss"]
    return losses

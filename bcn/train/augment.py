"""Training augmentation and the letterbox, in TensorFlow, as one warp per image.

Random rotation, translation, scale and shear (the paper's augmentation) and flips
compose into one affine matrix with the letterbox of bcn.preprocess (scale to fit,
top-left, pad 0.5); the image is resampled once and the boxes are mapped by their
four corners, clipped to the input and dropped when degenerate. Colour jitter acts
on the source pixels, so the padding stays exactly 0.5. Without augmentation the
result is bcn.preprocess.letterbox's geometry: RGB float32 in [0, 1].

Every random draw comes from one stateless op keyed by a per-image `seed`, so an
image and a seed always give the same result, whatever thread or order runs it.
"""

import math
from dataclasses import asdict, dataclass

import tensorflow as tf

from bcn.preprocess import PAD_VALUE, PIXEL_SCALE

MIN_BOX_SIZE = 1.0  # pixels of the model input; smaller boxes are dropped


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random augmentation (all uniform, symmetric around identity)."""

    rotation: float = 5.0  # degrees
    translation: float = 0.1  # fraction of the input size
    scale: float = 0.3  # zoom in [1 - scale, 1 + scale]
    shear: float = 3.0  # degrees
    flip_horizontal: float = 0.5  # probability
    flip_vertical: float = 0.0  # probability
    brightness: float = 0.15  # added to [0, 1] pixels
    contrast: float = 0.2  # factor in [1 - c, 1 + c]
    saturation: float = 0.2  # factor in [1 - s, 1 + s]
    hue: float = 0.02  # fraction of the hue circle

    def to_dict(self) -> dict:
        return asdict(self)


NO_AUGMENTATION = AugmentConfig(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

# Flips, small shifts and zooms only: what a run of minutes on a CPU learns fastest with.
LIGHT_AUGMENTATION = AugmentConfig(
    rotation=0, translation=0.05, scale=0.1, shear=0, brightness=0.1, contrast=0.1, saturation=0.1, hue=0
)


def _matrix(rows) -> tf.Tensor:
    return tf.convert_to_tensor([[tf.cast(v, tf.float32) for v in row] for row in rows])


def _translate(tx, ty) -> tf.Tensor:
    return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]])


DRAWS = 12  # uniform numbers in [-1, 1) one augmentation uses


def random_affine(config: AugmentConfig, draws: tf.Tensor, centre_x, centre_y, input_size: int) -> tf.Tensor:
    """A 3x3 affine of input pixels about (centre_x, centre_y), then shifted, from uniform `draws[:7]`."""
    angle = draws[0] * config.rotation * math.pi / 180
    shear_x = tf.tan(draws[1] * config.shear * math.pi / 180)
    shear_y = tf.tan(draws[2] * config.shear * math.pi / 180)
    zoom = 1.0 + draws[3] * config.scale
    flip_x = tf.where((draws[4] + 1) / 2 < config.flip_horizontal, -1.0, 1.0)
    flip_y = tf.where((draws[5] + 1) / 2 < config.flip_vertical, -1.0, 1.0)
    cos, sin = tf.cos(angle), tf.sin(angle)
    linear = (
        _matrix([[flip_x, 0, 0], [0, flip_y, 0], [0, 0, 1]])
        @ _matrix([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])
        @ _matrix([[1, shear_x, 0], [shear_y, 1, 0], [0, 0, 1]])
        @ _matrix([[zoom, 0, 0], [0, zoom, 0], [0, 0, 1]])
    )
    shift_x = draws[6] * config.translation * input_size
    shift_y = draws[7] * config.translation * input_size
    return _translate(centre_x + shift_x, centre_y + shift_y) @ linear @ _translate(-centre_x, -centre_y)


def colour_jitter(image: tf.Tensor, config: AugmentConfig, draws: tf.Tensor) -> tf.Tensor:
    """Brightness, contrast, saturation and hue of a float RGB image in [0, 1], from uniform `draws[8:12]`."""
    if config.brightness:
        image = tf.image.adjust_brightness(image, draws[8] * config.brightness)
    if config.contrast:
        image = tf.image.adjust_contrast(image, 1 + draws[9] * config.contrast)
    if config.saturation:
        image = tf.image.adjust_saturation(image, 1 + draws[10] * config.saturation)
    if config.hue:
        image = tf.image.adjust_hue(image, draws[11] * config.hue)
    return tf.clip_by_value(image, 0.0, 1.0)


def transform_boxes(boxes: tf.Tensor, matrix: tf.Tensor, input_size: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Map boxes (N, 4) by their four corners, clip to the input -> (boxes, kept mask)."""
    x1, y1, x2, y2 = tf.unstack(tf.reshape(boxes, (-1, 4)), axis=1)
    corners = tf.stack(
        [tf.stack([x1, y1], -1), tf.stack([x2, y1], -1), tf.stack([x1, y2], -1), tf.stack([x2, y2], -1)], axis=1
    )  # (N, 4, 2)
    mapped = tf.einsum("ij,nkj->nki", matrix[:2, :2], corners) + matrix[:2, 2]
    low = tf.clip_by_value(tf.reduce_min(mapped, axis=1), 0.0, float(input_size))
    high = tf.clip_by_value(tf.reduce_max(mapped, axis=1), 0.0, float(input_size))
    kept = tf.reduce_all(high - low >= MIN_BOX_SIZE, axis=1)
    return tf.concat([low, high], axis=1), kept


def augment_and_letterbox(
    image: tf.Tensor,
    boxes: tf.Tensor,
    classes: tf.Tensor,
    input_size: int,
    config: AugmentConfig | None = None,
    seed=(0, 0),
):
    """uint8 RGB image (H, W, 3) and its boxes in original pixels -> model input and boxes.

    Returns (image (Z, Z, 3) float32, boxes (M, 4) in input pixels, classes (M,)),
    M <= N after degenerate boxes are dropped. `config=None` applies no augmentation;
    with a config, `seed` (two integers) decides every random draw.
    """
    height = tf.cast(tf.shape(image)[0], tf.float32)
    width = tf.cast(tf.shape(image)[1], tf.float32)
    pixels = tf.cast(image, tf.float32) * PIXEL_SCALE
    scale = tf.minimum(input_size / width, input_size / height)
    matrix = _matrix([[scale, 0, 0], [0, scale, 0], [0, 0, 1]])  # the letterbox: fit, top-left
    if config is not None:
        draws = tf.random.stateless_uniform((DRAWS,), seed, -1.0, 1.0)
        pixels = colour_jitter(pixels, config, draws)
        matrix = random_affine(config, draws, width * scale / 2, height * scale / 2, input_size) @ matrix

    # The warp maps output pixel indices to input indices (pixel centres at +0.5).
    inverse = _translate(-0.5, -0.5) @ tf.linalg.inv(matrix) @ _translate(0.5, 0.5)
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=pixels[None],
        transforms=tf.reshape(inverse, (9,))[None, :8],
        output_shape=tf.constant([input_size, input_size]),
        fill_value=tf.constant(PAD_VALUE),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )[0]
    warped = tf.ensure_shape(warped, (input_size, input_size, 3))

    boxes, kept = transform_boxes(tf.cast(boxes, tf.float32), matrix, input_size)
    return warped, tf.boolean_mask(boxes, kept), tf.boolean_mask(tf.reshape(classes, (-1,)), kept)

"""The tf.data training input: read, decode, augment, letterbox, encode targets, batch.

Images are read by bcn.images' rule (OpenCV, EXIF orientation applied), the same as
`bcn data check`, evaluation and the runtime. Every image is read once before
training (`drop_unreadable`): the ones `bcn data check` would reject are skipped
with one warning that counts and names them. The pipeline itself also ignores read
errors, so a file that breaks during training never stops an epoch.

With a seed the batches are reproducible: a seeded shuffle, a per-image seed for the
stateless augmentation, and a map that keeps the order.
"""

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf

from bcn.data.check import image_problem
from bcn.data.voc import Sample
from bcn.images import read_rgb
from bcn.train.augment import AugmentConfig, augment_and_letterbox
from bcn.train.targets import MAX_OBJECTS, encode_targets

AUTOTUNE = tf.data.AUTOTUNE
NAMES_SHOWN = 5
log = logging.getLogger(__name__)
DEFAULT_AUGMENT = AugmentConfig()  # frozen: one shared instance is safe as a default
# Training images are decoded once and kept in memory when they all fit in this many bytes
# (bcn demo's 1500 images of 96 px take 41 MB); larger sets are read anew every epoch.
DECODED_CACHE_BYTES = 256 * 2**20


def _decode(path):
    """bcn.images.read_rgb inside tf.data: (H, W, 3) uint8 RGB; an unreadable file is an error there."""
    image = tf.numpy_function(lambda name: read_rgb(np.asarray(name).item().decode()), [path], tf.uint8, stateful=False)
    return tf.ensure_shape(image, (None, None, 3))


def drop_unreadable(samples: list[Sample]) -> list[Sample]:
    """The samples whose image reads at its annotated size; warn once about the others."""
    if not samples:
        return []
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:  # OpenCV releases the GIL while decoding
        problems = list(pool.map(lambda sample: image_problem(sample.image_path, sample.width, sample.height), samples))
    good, bad = [], []
    for sample, problem in zip(samples, problems):
        if problem:
            bad.append(f"{sample.image_path} ({problem})")
        else:
            good.append(sample)
    if bad:
        shown = "; ".join(bad[:NAMES_SHOWN]) + ("; ..." if len(bad) > NAMES_SHOWN else "")
        log.warning(f"skipped {len(bad)} of {len(samples)} images: {shown}")
    return good


def _padded_annotations(samples: list[Sample]):
    most = max([len(sample.classes) for sample in samples] + [1])
    boxes = np.zeros((len(samples), most, 4), np.float32)
    classes = np.zeros((len(samples), most), np.int32)
    counts = np.zeros((len(samples),), np.int32)
    for index, sample in enumerate(samples):
        count = len(sample.classes)
        boxes[index, :count], classes[index, :count], counts[index] = sample.boxes, sample.classes, count
    return boxes, classes, counts


def fits_in_memory_decoded(samples: list[Sample]) -> bool:
    """Whether the samples' images, decoded, fit in DECODED_CACHE_BYTES."""
    return sum(sample.width * sample.height * 3 for sample in samples) <= DECODED_CACHE_BYTES


def _decode_sample(path, boxes, classes, count):
    return _decode(path), boxes, classes, count


def make_example_fn(
    input_size: int,
    num_classes: int,
    augment: AugmentConfig | None,
    max_objects: int = MAX_OBJECTS,
    decoded: bool = False,
):
    """(path, or the decoded image when `decoded`; boxes, classes, count), seed -> (image, targets) for one sample."""

    def example(sample, seed):
        source, boxes, classes, count = sample
        image = source if decoded else _decode(source)
        image, boxes, classes = augment_and_letterbox(image, boxes[:count], classes[:count], input_size, augment, seed)
        return image, encode_targets(boxes, classes, input_size, num_classes, max_objects)

    return example


def training_dataset(
    samples: list[Sample],
    input_size: int,
    num_classes: int,
    batch_size: int,
    augment: AugmentConfig | None = DEFAULT_AUGMENT,
    shuffle: bool = True,
    seed: int | None = None,
    cache_decoded: bool = False,
) -> tf.data.Dataset:
    """Batches of (image (B, Z, Z, 3), targets dict) for one epoch over `samples`, prefetched.

    Each iteration (epoch) shuffles and augments anew; with a `seed`, the sequence of
    epochs is the same on every run. With `cache_decoded` the images are read and decoded
    during the first epoch only and kept in memory (see fits_in_memory_decoded); the
    batches are the same.
    """
    paths = [str(sample.image_path) for sample in samples]
    dataset = tf.data.Dataset.from_tensor_slices((paths, *_padded_annotations(samples)))
    if cache_decoded:
        dataset = dataset.map(_decode_sample, num_parallel_calls=AUTOTUNE, deterministic=True)
        dataset = dataset.ignore_errors(log_warning=True).cache()
    if shuffle:
        dataset = dataset.shuffle(len(samples), seed=seed, reshuffle_each_iteration=True)
    # Two random integers per image: the key of its stateless augmentation.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    dataset = tf.data.Dataset.zip(dataset, seeds)
    dataset = dataset.map(
        make_example_fn(input_size, num_classes, augment, decoded=cache_decoded),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )
    dataset = dataset.ignore_errors(log_warning=True)
    return dataset.batch(batch_size).prefetch(AUTOTUNE)


def images_per_second(dataset: tf.data.Dataset, seconds: float = 20.0) -> float:
    """Throughput of the input pipeline alone: images produced per second, repeating it."""
    count, start = 0, None
    for images, _ in dataset.repeat():
        if start is None:  # the first batch pays for tracing and warm-up
            start = time.perf_counter()
            continue
        count += int(images.shape[0])
        if time.perf_counter() - start >= seconds:
            break
    return count / (time.perf_counter() - start)

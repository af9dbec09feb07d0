"""The tf.data training input: read, decode, augment, letterbox, encode targets, batch.

Every image is decoded once before training (`drop_unreadable`): the ones that cannot
be decoded, are truncated (bcn.images) or whose size disagrees with their annotation are
skipped with one warning that counts and names them. The pipeline itself also ignores decode errors,
so a file that breaks during training never stops an epoch.
"""

import time
import warnings

import numpy as np
import tensorflow as tf

from bcn.data.voc import DataWarning, Sample
from bcn.images import image_problem
from bcn.train.augment import AugmentConfig, augment_and_letterbox
from bcn.train.targets import MAX_OBJECTS, encode_targets

AUTOTUNE = tf.data.AUTOTUNE
NAMES_SHOWN = 5


def _decode(path):
    return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)


def drop_unreadable(samples: list[Sample]) -> list[Sample]:
    """The samples whose image decodes to its annotated size; warn once about the others."""
    if not samples:
        return []
    paths = [str(sample.image_path) for sample in samples]
    shapes = (tf.data.Dataset.from_tensor_slices((tf.range(len(paths)), paths))
              .map(lambda index, path: (index, tf.shape(_decode(path))[:2]), num_parallel_calls=AUTOTUNE,
                   deterministic=False)
              .ignore_errors())
    decoded = {int(index): (int(height), int(width)) for index, (height, width) in shapes.as_numpy_iterator()}
    good, bad = [], []
    for index, sample in enumerate(samples):
        problem = image_problem(sample.image_path)
        if problem:
            bad.append(f"{sample.image_path} ({problem})")
        elif index not in decoded:
            bad.append(f"{sample.image_path} (cannot be decoded)")
        elif decoded[index] != (sample.height, sample.width):
            height, width = decoded[index]
            bad.append(f"{sample.image_path} (is {width}x{height}, its annotation says {sample.width}x{sample.height})")
        else:
            good.append(sample)
    if bad:
        shown = "; ".join(bad[:NAMES_SHOWN]) + ("; ..." if len(bad) > NAMES_SHOWN else "")
        warnings.warn(f"skipped {len(bad)} of {len(samples)} images: {shown}", DataWarning, stacklevel=2)
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


def make_example_fn(input_size: int, num_classes: int, augment: AugmentConfig | None,
                    max_objects: int = MAX_OBJECTS):
    """path, boxes, classes, count -> (image, targets) for one sample."""

    def example(path, boxes, classes, count):
        image, boxes, classes = augment_and_letterbox(_decode(path), boxes[:count], classes[:count], input_size, augment)
        return image, encode_targets(boxes, classes, input_size, num_classes, max_objects)

    return example


def training_dataset(samples: list[Sample], input_size: int, num_classes: int, batch_size: int,
                     augment: AugmentConfig | None = AugmentConfig(), shuffle: bool = True) -> tf.data.Dataset:
    """Batches of (image (B, Z, Z, 3), targets dict) for one epoch over `samples`, prefetched."""
    paths = [str(sample.image_path) for sample in samples]
    dataset = tf.data.Dataset.from_tensor_slices((paths, *_padded_annotations(samples)))
    if shuffle:
        dataset = dataset.shuffle(len(samples), reshuffle_each_iteration=True)
    dataset = dataset.map(make_example_fn(input_size, num_classes, augment), num_parallel_calls=AUTOTUNE,
                          deterministic=not shuffle)
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

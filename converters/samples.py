"""Sample images for calibration and parity: from a data set (any layout bcn reads), a folder, or generated."""

from pathlib import Path

import numpy as np

from bcn.data import formats
from bcn.errors import BcnError
from bcn.images import image_files
from bcn.preprocess import letterbox

# Parity: held-out splits first, images the model did not train on. Calibration: the training images first, the
# distribution the model's activations were shaped on.
PARITY_SPLITS = ("test", "val", "trainval", "train")
CALIBRATION_SPLITS = ("train", "trainval", "val", "test")
SYNTH_SEED = 2024


def _data_set_images(root: Path, count: int, order) -> list[Path]:
    """Up to `count` images of the data set at `root`, split after split in `order`, or of a plain image folder."""
    if not root.is_dir():
        raise BcnError(f"{root}: no such data set folder")
    try:
        splits = formats.splits(root)
    except BcnError:  # not a data set: a plain folder of images
        splits = []
    preferred = [formats.find_split(root, split) for split in order] if splits else []
    paths = {}  # insertion-ordered, each image once
    for split in dict.fromkeys(name for name in preferred + splits if name):
        for path in formats.split_images(root, split):
            paths.setdefault(path)
            if len(paths) == count:
                return list(paths)
    if paths:
        return list(paths)
    folder = root / "JPEGImages" if (root / "JPEGImages").is_dir() else root
    paths = image_files(folder)
    if not paths:
        raise BcnError(f"{root}: no images found (looked in {folder})")
    return paths[:count]


def sample_inputs(data_root, count: int, input_size: int, order=PARITY_SPLITS) -> tuple[list[str], list[np.ndarray]]:
    """(names, letterboxed model inputs) of up to `count` images from `data_root` (its splits in `order`), or
    `count` generated ones."""
    if count < 1:
        raise BcnError(f"the number of sample images must be at least 1, got {count}")
    if data_root is None:
        import cv2

        from bcn.data.synth import synth_image

        images = [
            cv2.cvtColor(synth_image(SYNTH_SEED, index, input_size)[0], cv2.COLOR_BGR2RGB) for index in range(count)
        ]
        names = [f"generated-{index}" for index in range(count)]
    else:
        from bcn.images import read_rgb

        paths = _data_set_images(Path(data_root), count, order)
        images = [read_rgb(path) for path in paths]
        names = [str(path) for path in paths]
    return names, [letterbox(image, input_size)[0] for image in images]

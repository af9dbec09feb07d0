"""Sample images for calibration and parity: from a VOC-layout data set or generated."""

from pathlib import Path

import numpy as np

from bcn.errors import BcnError
from bcn.preprocess import letterbox

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# Held-out splits first: parity on images the model did not train on.
SPLITS = ("test", "val", "trainval", "train")
SYNTH_SEED = 2024


def _data_set_images(root: Path, count: int) -> list[Path]:
    if not root.is_dir():
        raise BcnError(f"{root}: no such data set folder")
    folder = root / "JPEGImages" if (root / "JPEGImages").is_dir() else root
    for split in SPLITS:
        listed = root / "ImageSets" / "Main" / f"{split}.txt"
        if listed.is_file():
            ids = [line.split()[0] for line in listed.read_text().splitlines() if line.strip()]
            paths = [next((folder / f"{i}{s}" for s in IMAGE_SUFFIXES if (folder / f"{i}{s}").is_file()), None) for i in ids]
            paths = [path for path in paths if path is not None]
            if paths:
                return paths[:count]
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise BcnError(f"{root}: no images found (looked in {folder})")
    return paths[:count]


def sample_inputs(data_root, count: int, input_size: int) -> tuple[list[str], list[np.ndarray]]:
    """(names, letterboxed model inputs) of `count` images from `data_root`, or generated ones."""
    if count < 1:
        raise BcnError(f"the number of sample images must be at least 1, got {count}")
    if data_root is None:
        import cv2

        from bcn.data.synth import synth_image

        images = [cv2.cvtColor(synth_image(SYNTH_SEED, index, input_size)[0], cv2.COLOR_BGR2RGB) for index in range(count)]
        names = [f"generated-{index}" for index in range(count)]
    else:
        from bcn.images import read_rgb

        paths = _data_set_images(Path(data_root), count)
        images = [read_rgb(path) for path in paths]
        names = [str(path) for path in paths]
    return names, [letterbox(image, input_size)[0] for image in images]

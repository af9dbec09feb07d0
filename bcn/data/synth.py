"""A generated detection data set in PascalVOC layout, for first runs, demos and tests.

Six shape classes of random colour, size, aspect and position (some overlapping,
a few tiny ones marked difficult) on cluttered backgrounds: colour gradients,
noise, lines and blobs. Each image comes from its own random generator seeded by
(seed, index), so a data set is the same for the same seed on any machine with the
same OpenCV.
"""

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from bcn.data.voc import CLASSES_FILE
from bcn.errors import BcnError
from bcn.io import atomic_folder, disk_problem

SHAPES = ("disc", "square", "triangle", "ring", "cross", "stripes")
DIFFICULT_BELOW = 8  # objects whose shorter side is under this many pixels are marked difficult
MAX_OVERLAP = 0.4  # a new object may cover at most this fraction of an earlier one's box


def _colour(rng, avoid=None) -> tuple[int, int, int]:
    """A saturated colour, far enough from `avoid` (a background colour) to be seen."""
    while True:
        colour = rng.integers(0, 256, 3)
        colour[rng.integers(3)] = rng.choice([rng.integers(0, 60), rng.integers(196, 256)])
        if avoid is None or np.abs(colour - avoid).sum() > 180:
            return tuple(int(c) for c in colour)


def _background(rng, width, height):
    import cv2

    corners = rng.integers(40, 216, (2, 2, 3)).astype(np.float32)
    image = cv2.resize(corners, (width, height), interpolation=cv2.INTER_LINEAR)
    image += rng.standard_normal(image.shape, dtype=np.float32) * rng.uniform(4, 14)
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(2, 8)):  # clutter: blobs, blurred so they stay unlike the shapes
        centre = tuple(int(v) for v in rng.integers(0, (width, height)))
        axes = tuple(int(v) for v in rng.integers(3, max(4, min(width, height) // 6), 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(2, 4))
    for _ in range(rng.integers(3, 10)):  # clutter: thin lines
        p1, p2 = rng.integers(0, (width, height), (2, 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.line(image, tuple(map(int, p1)), tuple(map(int, p2)), colour, int(rng.integers(1, 3)), cv2.LINE_AA)
    return cv2.GaussianBlur(image, (3, 3), 0)


def _shape_mask(rng, kind: str, w: int, h: int) -> np.ndarray:
    """A w x h uint8 mask of one shape filling its box."""
    import cv2

    mask = np.zeros((h, w), np.uint8)
    if kind == "disc":
        cv2.ellipse(mask, (w // 2, h // 2), (max(1, w // 2), max(1, h // 2)), 0, 0, 360, 255, -1, cv2.LINE_AA)
    elif kind == "ring":
        thickness = max(2, min(w, h) // 5)
        cv2.ellipse(
            mask,
            (w // 2, h // 2),
            (max(1, (w - thickness) // 2), max(1, (h - thickness) // 2)),
            0,
            0,
            360,
            255,
            thickness,
            cv2.LINE_AA,
        )
    elif kind == "square":
        mask[:] = 255
    elif kind == "triangle":
        apex = int(rng.integers(0, w))
        cv2.fillPoly(mask, [np.array([[apex, 0], [0, h - 1], [w - 1, h - 1]], np.int32)], 255, cv2.LINE_AA)
    elif kind == "cross":
        bar_w, bar_h = max(2, w // 3), max(2, h // 3)
        mask[:, (w - bar_w) // 2 : (w + bar_w) // 2] = 255
        mask[(h - bar_h) // 2 : (h + bar_h) // 2, :] = 255
    elif kind == "stripes":
        period = max(3, int(min(w, h) // rng.uniform(3, 5)))
        ys, xs = np.mgrid[:h, :w]
        mask[((xs + ys) // (period // 2 + 1)) % 2 == 0] = 255
        mask[[0, -1], :] = 255
        mask[:, [0, -1]] = 255
    return mask


def _overlaps_too_much(box, boxes) -> bool:
    for other in boxes:
        ix = max(0, min(box[2], other[2]) - max(box[0], other[0]))
        iy = max(0, min(box[3], other[3]) - max(box[1], other[1]))
        smaller = min((box[2] - box[0]) * (box[3] - box[1]), (other[2] - other[0]) * (other[3] - other[1]))
        if ix * iy > MAX_OVERLAP * smaller:
            return True
    return False


def synth_image(seed: int, index: int, size: int):
    """One image -> (H x W x 3 uint8 BGR image, boxes (N, 4) bcn convention, classes (N,), difficult (N,))."""
    rng = np.random.default_rng([seed, 1, index])
    width, height = size, size
    if rng.random() < 0.6:  # most images are not square
        short = int(round(size * rng.uniform(0.6, 1.0)))
        width, height = (width, short) if rng.random() < 0.5 else (short, height)
    image = _background(rng, width, height)
    boxes, classes, difficult = [], [], []
    for _ in range(int(rng.integers(1, 6))):
        tiny = rng.random() < 0.05
        for _attempt in range(20):
            if tiny:
                side = rng.integers(4, DIFFICULT_BELOW, 2)
            else:
                side = rng.uniform(0.15, 0.5) * min(width, height) * np.exp(rng.uniform(-0.25, 0.25, 2))
            w, h = (int(max(4, min(s, limit))) for s, limit in zip(side, (width, height)))
            x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            if not _overlaps_too_much((x, y, x + w, y + h), boxes):
                break
        else:
            continue
        kind = int(rng.integers(len(SHAPES)))
        mask = _shape_mask(rng, SHAPES[kind], w, h)
        ys, xs = np.nonzero(mask > 127)
        if len(xs) == 0:
            continue
        patch = image[y : y + h, x : x + w].astype(np.float32)
        colour = np.array(_colour(rng, patch.reshape(-1, 3).mean(0)), np.float32)
        shade = 1 + rng.standard_normal((h, w, 1), dtype=np.float32) * 0.08  # a little texture
        alpha = (mask.astype(np.float32) / 255)[..., None]
        image[y : y + h, x : x + w] = np.clip(patch * (1 - alpha) + colour * shade * alpha, 0, 255).astype(np.uint8)
        box = (x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1)
        boxes.append(box)
        classes.append(kind)
        difficult.append(min(box[2] - box[0], box[3] - box[1]) < DIFFICULT_BELOW)
    return (
        image,
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(classes, np.int32),
        np.asarray(difficult, bool),
    )


def _annotation_xml(image_id: str, width: int, height: int, boxes, classes, difficult) -> bytes:
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "synth"
    ET.SubElement(root, "filename").text = f"{image_id}.jpg"
    size = ET.SubElement(root, "size")
    for tag, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    for (x1, y1, x2, y2), kind, hard in zip(boxes, classes, difficult):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = SHAPES[kind]
        ET.SubElement(obj, "truncated").text = "0"
        ET.SubElement(obj, "difficult").text = str(int(hard))
        box = ET.SubElement(obj, "bndbox")
        # bcn's 0-based exclusive corners -> VOC's 1-based inclusive ones.
        for tag, value in (("xmin", x1 + 1), ("ymin", y1 + 1), ("xmax", x2), ("ymax", y2)):
            ET.SubElement(box, tag).text = str(int(value))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8")


def split_ids(ids: list[str], seed: int, test_fraction: float, val_fraction: float) -> dict[str, list[str]]:
    """Split ids at random (from the seed) into train, val, trainval and test, each kept sorted."""
    order = np.random.default_rng([seed, 0]).permutation(len(ids))
    n_test = int(round(len(ids) * test_fraction))
    test, trainval = order[:n_test], order[n_test:]
    n_val = int(round(len(trainval) * val_fraction))
    splits = {"test": test, "trainval": trainval, "val": trainval[:n_val], "train": trainval[n_val:]}
    return {name: [ids[i] for i in sorted(index)] for name, index in splits.items()}


def _image_not_written(out: Path, tmp: Path, image_id: str) -> BcnError:
    """The error for an image OpenCV could not write into the set being built in `tmp`, naming `out`, the user's
    folder, and a full or read-only disk where that is the reason."""
    reason = disk_problem(tmp)
    if reason:
        return BcnError(f"{out}: cannot write there ({reason})")
    return BcnError(f"{out / 'JPEGImages' / image_id}.jpg: could not write the image")


def write_synth(
    out,
    images: int,
    size: int = 128,
    seed: int = 0,
    test_fraction: float = 0.25,
    val_fraction: float = 0.2,
    progress=None,
) -> Path:
    """Write a generated VOC-layout data set of `images` images (long side `size`) to `out`.

    `out` must not exist or be empty; the set is written beside it and moved into
    place when complete. `progress` wraps the image loop (e.g. tqdm). A split left
    without images (no test images with test_fraction 0) has no split file, so training
    falls back to the next held-out split or none; a test_fraction that leaves no image
    to train on is refused.
    """
    import cv2

    out = Path(out)
    if images < 1:
        raise BcnError(f"{out}: --images must be at least 1, got {images}")
    if seed < 0:
        raise BcnError(f"{out}: --seed must not be negative, got {seed}")
    if size < 32:
        raise BcnError(f"{out}: --size must be at least 32, got {size}")
    ids = [f"{index:06d}" for index in range(1, images + 1)]
    splits = split_ids(ids, seed, test_fraction, val_fraction)
    if not splits["trainval"]:
        raise BcnError(f"{out}: --test-fraction {test_fraction:g} leaves none of the {images} images to train on")
    with atomic_folder(out) as tmp:
        for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
            (tmp / sub).mkdir(parents=True)
        loop = progress(ids) if progress else ids
        for index, image_id in enumerate(loop):
            image, boxes, classes, difficult = synth_image(seed, index, size)
            if not cv2.imwrite(str(tmp / "JPEGImages" / f"{image_id}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise _image_not_written(out, tmp, image_id)
            xml = _annotation_xml(image_id, image.shape[1], image.shape[0], boxes, classes, difficult)
            (tmp / "Annotations" / f"{image_id}.xml").write_bytes(xml)
        for name, members in splits.items():
            if members:
                (tmp / "ImageSets" / "Main" / f"{name}.txt").write_text("".join(f"{i}\n" for i in members))
        (tmp / CLASSES_FILE).write_text("".join(f"{name}\n" for name in SHAPES))
    return out

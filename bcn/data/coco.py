"""COCO-JSON reader: an instances file and its image folder -> bcn Samples.

COCO boxes are [x, y, width, height] in continuous pixel coordinates, which is
bcn's convention already: x1 = x, x2 = x + width. Crowd regions (`iscrowd`) are
kept as difficult objects, so evaluation neither counts nor penalises them.
Images missing from the folder and boxes of no area are warned about (DataWarning)
and skipped.
"""

import warnings
from pathlib import Path

import numpy as np

from bcn.data.voc import DataWarning, Sample
from bcn.errors import BcnError
from bcn.io import read_json


def _read(path: Path) -> dict:
    document = read_json(path)
    if not isinstance(document, dict) or not {"images", "annotations", "categories"} <= document.keys():
        raise BcnError(f"{path}: not a COCO instances file (needs images, annotations and categories)")
    return document


def coco_class_names(annotation_file) -> tuple[str, ...]:
    """The category names of a COCO file, in category-id order."""
    categories = _read(Path(annotation_file))["categories"]
    return tuple(c["name"] for c in sorted(categories, key=lambda c: c["id"]))


def load_coco(annotation_file, image_dir, class_names=None) -> list[Sample]:
    """Samples of a COCO instances file; class_names defaults to its categories in id order.

    Objects of categories not in `class_names` are dropped (use it to pick a subset).
    """
    path, image_dir = Path(annotation_file), Path(image_dir)
    document = _read(path)
    try:
        names = {c["id"]: c["name"] for c in document["categories"]}
        class_names = tuple(class_names) if class_names is not None else coco_class_names(path)
        class_index = {name: index for index, name in enumerate(class_names)}
        objects: dict = {}
        skipped = 0
        for ann in document["annotations"]:
            x, y, w, h = (float(v) for v in ann["bbox"])
            name = names[ann["category_id"]]
            if name not in class_index:
                continue
            if w <= 0 or h <= 0:
                skipped += 1
                continue
            objects.setdefault(ann["image_id"], []).append((x, y, x + w, y + h, class_index[name], bool(ann.get("iscrowd", 0))))
        samples = []
        for image in document["images"]:
            image_path = image_dir / image["file_name"]
            if not image_path.is_file():
                warnings.warn(f"{image_path}: image listed in {path} is missing; skipped", DataWarning, stacklevel=2)
                continue
            width, height = int(image["width"]), int(image["height"])
            rows = np.asarray(objects.get(image["id"], []), np.float64).reshape(-1, 6)
            boxes = rows[:, :4].astype(np.float32)
            boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, width)
            boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, height)
            samples.append(Sample(str(image["id"]), image_path, width, height, boxes,
                                  rows[:, 4].astype(np.int32), rows[:, 5].astype(bool)))
    except (KeyError, TypeError, ValueError) as error:
        raise BcnError(f"{path}: malformed COCO entry ({type(error).__name__}: {error})") from None
    if skipped:
        warnings.warn(f"{path}: {skipped} boxes of no area skipped", DataWarning, stacklevel=2)
    return samples

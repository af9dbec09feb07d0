"""COCO-JSON reader: an instances file and its image folder -> bcn Samples.

COCO boxes are [x, y, width, height] in continuous pixel coordinates, which is
bcn's convention already: x1 = x, x2 = x + width. Crowd regions (`iscrowd`) are
kept as difficult objects, so evaluation neither counts nor penalises them.

A COCO data set folder holds one instances file per split, in either layout:
`annotations/instances_<split>.json` with the images in `<split>/`, `images/<split>/`
or `images/` (COCO itself, CVAT), or `<split>/_annotations.coco.json` with the images
beside it (Roboflow). A category with no annotations of its own that is the
supercategory of others (Roboflow adds one) is not a class.

Problems never stop reading: a malformed annotation skips its image, named with the
annotation's index and id in a `Problem`; a missing image is skipped the same way.
"""

from pathlib import Path

import numpy as np

from bcn.data.voc import Problem, Sample, warn_skipped
from bcn.errors import BcnError
from bcn.io import read_json

ROBOFLOW_FILE = "_annotations.coco.json"


def _read(path: Path) -> dict:
    document = read_json(path)
    if not isinstance(document, dict) or not {"images", "annotations", "categories"} <= document.keys():
        raise BcnError(f"{path}: not a COCO instances file (needs images, annotations and categories)")
    if not all(isinstance(document[key], list) for key in ("images", "annotations", "categories")):
        raise BcnError(f"{path}: images, annotations and categories must be lists")
    return document


def _categories(path: Path, document: dict) -> dict:
    """{category id: name} of the categories that are classes, in id order."""
    try:
        categories = sorted(document["categories"], key=lambda c: c["id"])
        used = {ann.get("category_id") for ann in document["annotations"] if isinstance(ann, dict)}
        names = {}
        for category in categories:
            parent_of_others = any(
                other.get("supercategory") == category["name"] and other is not category for other in categories
            )
            if category["id"] in used or not parent_of_others:
                names[category["id"]] = str(category["name"])
    except (KeyError, TypeError) as error:
        raise BcnError(f"{path}: malformed COCO category ({type(error).__name__}: {error})") from None
    if len(set(names.values())) != len(names):
        raise BcnError(f"{path}: a category name appears twice")
    return names


def coco_class_names(annotation_file) -> tuple[str, ...]:
    """The category names of a COCO file that are classes, in category-id order."""
    path = Path(annotation_file)
    return tuple(_categories(path, _read(path)).values())


def coco_splits(root: Path) -> dict[str, tuple[Path, Path]]:
    """{split: (instances file, image folder)} of a COCO-layout root; empty if it is not one."""
    found = {}
    for path in sorted((root / "annotations").glob("instances_*.json")):
        split = path.stem[len("instances_") :]
        folders = [root / split, root / "images" / split, root / "images", root]
        found[split] = (path, next(folder for folder in folders if folder.is_dir()))
    for path in sorted(root.glob(f"*/{ROBOFLOW_FILE}")):
        found.setdefault(path.parent.name, (path, path.parent))
    return found


def _annotation_problem(ann, names: dict, images: dict) -> str | None:
    if not isinstance(ann, dict):
        return "not an object"
    for key in ("image_id", "category_id", "bbox"):
        if key not in ann:
            return f"no '{key}'"
    bbox = ann["bbox"]
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(isinstance(v, (int, float)) for v in bbox):
        return f"bbox {bbox!r} is not [x, y, width, height] numbers"
    if ann["image_id"] not in images:
        return f"image_id {ann['image_id']!r} is not among the images"
    if ann["category_id"] not in names:
        return f"category_id {ann['category_id']!r} is not among the categories"
    return None


def scan_coco(
    annotation_file, image_dir, class_names=None, share: tuple[int, int] = (0, 1)
) -> tuple[list[Sample], list[Problem], dict[str, int]]:
    """Read an instances file -> (samples, problems, counts of objects whose class is not in the list).

    class_names defaults to the file's categories in id order; objects of other categories
    are counted, not read (use it to pick a subset). With share (i, n) only every n-th image
    from the i-th becomes a sample (one worker's share).
    """
    path, image_dir = Path(annotation_file), Path(image_dir)
    document = _read(path)
    names = _categories(path, document)
    class_names = tuple(class_names) if class_names is not None else tuple(names.values())
    class_index = {name: index for index, name in enumerate(class_names)}
    images, problems, unknown = {}, [], {}
    for number, image in enumerate(document["images"]):
        try:
            images[image["id"]] = (str(image["file_name"]), int(image["width"]), int(image["height"]))
        except (KeyError, TypeError, ValueError) as error:
            raise BcnError(f"{path}: image {number}: malformed COCO entry ({type(error).__name__}: {error})") from None
    objects, broken, empty = {}, set(), 0
    for number, ann in enumerate(document["annotations"]):
        problem = _annotation_problem(ann, names, images)
        if problem:
            where = f"annotation {number}" + (f" (id {ann['id']})" if isinstance(ann, dict) and "id" in ann else "")
            image_id = ann.get("image_id") if isinstance(ann, dict) else None
            skipped = f"; image {image_id} skipped" if image_id in images else ""
            problems.append(Problem(path, f"{where}: {problem}{skipped}"))
            broken.add(image_id)
            continue
        name = names[ann["category_id"]]
        if name not in class_index:
            unknown[name] = unknown.get(name, 0) + 1
            continue
        x, y, w, h = (float(v) for v in ann["bbox"])
        if w <= 0 or h <= 0:
            empty += 1
            continue
        objects.setdefault(ann["image_id"], []).append(
            (x, y, x + w, y + h, class_index[name], bool(ann.get("iscrowd", 0)))
        )
    if empty:
        problems.append(Problem(path, f"{empty} boxes of no area skipped"))
    samples = []
    for image_id, (file_name, width, height) in list(images.items())[share[0] :: share[1]]:
        image_path = image_dir / file_name
        if image_id in broken:
            continue
        if not image_path.is_file():
            problems.append(Problem(image_path, f"image listed in {path} is missing; skipped"))
            continue
        rows = np.asarray(objects.get(image_id, []), np.float64).reshape(-1, 6)
        boxes = rows[:, :4].astype(np.float32)
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, width)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, height)
        samples.append(
            Sample(
                str(image_id), image_path, width, height, boxes, rows[:, 4].astype(np.int32), rows[:, 5].astype(bool)
            )
        )
    return samples, problems, unknown


def load_coco(annotation_file, image_dir, class_names=None) -> list[Sample]:
    """Samples of a COCO instances file; problems are warned about on the bcn log and skipped."""
    samples, problems, _ = scan_coco(annotation_file, image_dir, class_names)
    warn_skipped(annotation_file, problems)
    return samples

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
annotation's index and id in a `Problem`; a missing image, an image entry whose id or
size is unusable (a list, NaN, Infinity, zero, negative) and the second entry of an id
listed twice are skipped the same way. Boxes that are not finite or lie wholly outside
their image are skipped and counted. A file without a list of categories is not a COCO
instances file: a one-line BcnError naming it.
"""

import math
from pathlib import Path

import numpy as np

from bcn.data.voc import Problem, Sample, warn_skipped
from bcn.errors import BcnError
from bcn.io import read_json

ROBOFLOW_FILE = "_annotations.coco.json"


def _read(path: Path) -> dict:
    """The parsed instances file, which must hold lists of images, annotations and categories."""
    document = read_json(path)
    if not isinstance(document, dict) or not {"images", "annotations", "categories"} <= document.keys():
        raise BcnError(f"{path}: not a COCO instances file (needs images, annotations and categories)")
    if not all(isinstance(document[key], list) for key in ("images", "annotations", "categories")):
        raise BcnError(f"{path}: images, annotations and categories must be lists")
    return document


def is_id(value) -> bool:
    """Whether `value` can be a COCO image or category id: an integer (not a bool) or a string."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _category_problem(number: int, category) -> str | None:
    """What makes a category entry unusable, or None."""
    if not isinstance(category, dict) or "id" not in category or "name" not in category:
        return f"category {number}: needs an id and a name"
    if not is_id(category["id"]):
        return f"category {number}: id {category['id']!r} is not an integer or a string"
    return None


def _categories(path: Path, document: dict) -> dict:
    """{category id: name} of the categories that are classes, in id order."""
    for number, category in enumerate(document["categories"]):
        problem = _category_problem(number, category)
        if problem:
            raise BcnError(f"{path}: malformed COCO category: {problem}")
    if len({type(category["id"]) for category in document["categories"]}) > 1:
        raise BcnError(f"{path}: malformed COCO category: ids mix integers and strings")
    try:
        categories = sorted(document["categories"], key=lambda c: c["id"])
        annotations = [ann for ann in document["annotations"] if isinstance(ann, dict)]
        used = {ann.get("category_id") for ann in annotations if is_id(ann.get("category_id"))}
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


def _image_problem(image) -> str | None:
    """What makes an image entry unusable (its id, file name or size), or None."""
    if not isinstance(image, dict):
        return "not an object"
    for key in ("id", "file_name", "width", "height"):
        if key not in image:
            return f"no '{key}'"
    if not is_id(image["id"]):
        return f"id {image['id']!r} is not an integer or a string"
    for key in ("width", "height"):
        value = image[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return f"{key} {value!r} is not a finite number"
        if value <= 0 or value != int(value):
            return f"{key} {value!r} is not a positive whole number"
    return None


def _read_images(path: Path, entries: list) -> tuple[dict, list[Problem]]:
    """{image id: (file name, width, height)} of the usable image entries, and a Problem for each other one."""
    images, problems, repeated = {}, [], set()
    for number, image in enumerate(entries):
        problem = _image_problem(image)
        if problem:
            where = f"image {number}" + (f" (id {image['id']!r})" if isinstance(image, dict) and "id" in image else "")
            problems.append(Problem(path, f"{where}: malformed COCO entry: {problem}; skipped"))
        elif image["id"] in images:
            if image["id"] not in repeated:
                repeated.add(image["id"])
                problems.append(Problem(path, f"image id {image['id']!r} is listed more than once; the first kept"))
        else:
            images[image["id"]] = (str(image["file_name"]), int(image["width"]), int(image["height"]))
    return images, problems


def _annotation_problem(ann, names: dict, images: dict) -> str | None:
    """What makes an annotation unusable (so its image is skipped), or None."""
    if not isinstance(ann, dict):
        return "not an object"
    for key in ("image_id", "category_id", "bbox"):
        if key not in ann:
            return f"no '{key}'"
    bbox = ann["bbox"]
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
        return f"bbox {bbox!r} is not [x, y, width, height] numbers"
    if not is_id(ann["image_id"]) or ann["image_id"] not in images:
        return f"image_id {ann['image_id']!r} is not among the images"
    if not is_id(ann["category_id"]) or ann["category_id"] not in names:
        return f"category_id {ann['category_id']!r} is not among the categories"
    return None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _box_problem(bbox: list, width: int, height: int) -> str | None:
    """Why a well-formed bbox is no box of its image (counted, the box skipped), or None."""
    x, y, w, h = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return "boxes with a NaN or infinite number"
    if w <= 0 or h <= 0:
        return "boxes of no area"
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        return "boxes wholly outside their image"
    return None


def _where(number: int, ann) -> str:
    """An annotation named by its index and, if it has one, its id."""
    return f"annotation {number}" + (f" (id {ann['id']!r})" if isinstance(ann, dict) and "id" in ann else "")


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
    images, problems = _read_images(path, document["images"])
    unknown, objects, broken, skipped_boxes = {}, {}, set(), {}
    for number, ann in enumerate(document["annotations"]):
        problem = _annotation_problem(ann, names, images)
        if problem:
            image_id = ann.get("image_id") if isinstance(ann, dict) and is_id(ann.get("image_id")) else None
            skipped = f"; image {image_id} skipped" if image_id in images else ""
            problems.append(Problem(path, f"{_where(number, ann)}: {problem}{skipped}"))
            broken.add(image_id)
            continue
        name = names[ann["category_id"]]
        if name not in class_index:
            unknown[name] = unknown.get(name, 0) + 1
            continue
        _, width, height = images[ann["image_id"]]
        reason = _box_problem(ann["bbox"], width, height)
        if reason:
            skipped_boxes[reason] = skipped_boxes.get(reason, 0) + 1
            continue
        x, y, w, h = (float(v) for v in ann["bbox"])
        objects.setdefault(ann["image_id"], []).append(
            (x, y, x + w, y + h, class_index[name], bool(ann.get("iscrowd", 0)))
        )
    problems += [Problem(path, f"{count} {reason} skipped") for reason, count in skipped_boxes.items()]
    samples = []
    for image_id, (file_name, width, height) in list(images.items())[share[0] :: share[1]]:
        image_path = image_dir / file_name
        if image_id in broken:
            continue
        if not image_path.is_file():
            problems.append(Problem(image_path, f"image listed in {path} is missing; skipped"))
            continue
        samples.append(_sample(image_id, image_path, width, height, objects.get(image_id, [])))
    return samples, problems, unknown


def _sample(image_id, image_path: Path, width: int, height: int, objects: list) -> Sample:
    """A Sample of an image's objects (x1, y1, x2, y2, class, crowd), boxes clipped to the image."""
    rows = np.asarray(objects, np.float64).reshape(-1, 6)
    boxes = rows[:, :4].astype(np.float32)
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, width)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, height)
    return Sample(str(image_id), image_path, width, height, boxes, rows[:, 4].astype(np.int32), rows[:, 5].astype(bool))


def load_coco(annotation_file, image_dir, class_names=None) -> list[Sample]:
    """Samples of a COCO instances file; problems are warned about on the bcn log and skipped."""
    samples, problems, _ = scan_coco(annotation_file, image_dir, class_names)
    warn_skipped(annotation_file, problems)
    return samples

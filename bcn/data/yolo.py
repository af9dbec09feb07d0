"""YOLO-layout reader (Ultralytics, Roboflow): a data.yaml, images/ and labels/ per split.

data.yaml names the classes (`names`: a list, or a {index: name} map whose indices may be
written as strings, '0': cat, as Ultralytics reads them) and the images of
each split (`train`, `val`, `test`): a folder of images, or a .txt file listing image
paths, relative to the YAML's `path` key if it has one, else to the YAML's folder; a
leading `../` that leads nowhere is dropped (Roboflow's exports), as Ultralytics does.
An image's labels are in the `labels` folder beside its `images` folder, `<stem>.txt`,
one object per line: `class cx cy w h`, each number a fraction of the image's width or
height (a segmentation line, `class x1 y1 x2 y2 ...`, gives its polygon's bounding box, as
Ultralytics does). An image without a label file has no objects.

Labels are fractions of the image size, which is read from the image's header where the
format allows (JPEG, PNG; bcn.images.image_size), so reading a split does not decode its
images: training and `bcn data check` decode each one once, later.

Problems (a malformed label line, a label file that is not UTF-8, an image that cannot
be read) never stop reading: the image is skipped and its file named, with the line, in a
`Problem`. A list file of image paths that is not UTF-8 is a one-line BcnError naming it.
"""

from pathlib import Path

import numpy as np

from bcn.data.voc import Problem, Sample, not_utf8, read_text
from bcn.errors import BcnError
from bcn.images import image_files, image_size

YAML_NAMES = ("data.yaml", "data.yml")
SPLITS = ("train", "val", "test")


def find_yaml(root: Path) -> Path | None:
    """The data.yaml of a YOLO-layout root, or None."""
    return next((root / name for name in YAML_NAMES if (root / name).is_file()), None)


def _read_yaml(root: Path) -> tuple[Path, dict]:
    import yaml

    path = find_yaml(root)
    if path is None:
        raise BcnError(f"{root}: no data.yaml (a YOLO-layout data set needs one)")
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise BcnError(f"{path}: cannot read ({error})") from None
    except yaml.YAMLError as error:
        raise BcnError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    except RecursionError:
        raise BcnError(f"{path}: not valid YAML (nested too deeply)") from None
    if not isinstance(document, dict) or "names" not in document:
        raise BcnError(f"{path}: no 'names' (the class names) in it")
    return path, document


def _class_index(path: Path, key) -> int:
    """A key of data.yaml's `names` map as a class index: an integer, or one written as a string ('0')."""
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and key.strip().isdecimal():
        return int(key)
    raise BcnError(f"{path}: 'names' must map class indices 0, 1, 2, ... to names; {key!r} is no index")


def _names_in_order(path: Path, names: dict) -> list:
    """The values of a {class index: name} map, in index order; the indices must be 0, 1, 2, ..."""
    by_index = {_class_index(path, key): name for key, name in names.items()}
    if len(by_index) != len(names) or sorted(by_index) != list(range(len(names))):
        raise BcnError(f"{path}: 'names' must map 0, 1, 2, ... to class names")
    return [by_index[index] for index in range(len(names))]


def yolo_class_names(root: Path) -> tuple[str, ...]:
    """The class names of data.yaml, in index order."""
    path, document = _read_yaml(root)
    names = document["names"]
    if isinstance(names, dict):
        names = _names_in_order(path, names)
    if not isinstance(names, list) or not names:
        raise BcnError(f"{path}: 'names' must be a non-empty list or map of class names")
    names = tuple(str(name).strip() for name in names)
    if len(set(names)) != len(names):
        raise BcnError(f"{path}: a class name appears twice in 'names'")
    if "nc" in document and document["nc"] != len(names):
        raise BcnError(f"{path}: nc is {document['nc']} but 'names' lists {len(names)} classes")
    return names


def _base(path: Path, document: dict) -> Path:
    base = document.get("path")
    if not base:
        return path.parent
    base = Path(str(base))
    return base if base.is_absolute() else path.parent / base


def _located(base: Path, entry: str) -> Path:
    location = base / entry
    if not location.exists() and entry.startswith("../") and (base / entry[3:]).exists():
        return base / entry[3:]
    return location


def yolo_splits(root: Path) -> list[str]:
    """The splits data.yaml names (train, val, test), in that order."""
    _, document = _read_yaml(root)
    return [split for split in SPLITS if document.get(split)]


def split_images(root: Path, split: str) -> list[Path]:
    """The image files of `split`, sorted."""
    path, document = _read_yaml(root)
    entries = document.get(split)
    if not entries:
        raise BcnError(f"{path}: no split '{split}' in it (it has: {', '.join(yolo_splits(root)) or 'none'})")
    base = _base(path, document)
    images = []
    for entry in entries if isinstance(entries, list) else [entries]:
        location = _located(base, str(entry))
        if location.is_dir():
            images += image_files(location, recursive=True)
        elif location.is_file() and location.suffix == ".txt":
            lines = [line.strip() for line in read_text(location).splitlines() if line.strip()]
            images += [_located(base, line) if not Path(line).is_absolute() else Path(line) for line in lines]
        else:
            raise BcnError(f"{path}: split '{split}' points to {location}, which is neither a folder nor a .txt list")
    return sorted(images)


def label_path(image_path: Path) -> Path:
    """Where the labels of an image are: its path with the last `images` folder as `labels`, .txt."""
    parts = list(image_path.parts)
    if "images" in parts:
        index = len(parts) - 1 - parts[::-1].index("images")
        parts[index] = "labels"
    return Path(*parts).with_suffix(".txt")


def parse_labels(path: Path, width: int, height: int, num_classes: int):
    """(boxes, classes) of one label file, boxes in pixels; raises ValueError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(not_utf8(error)) from None
    boxes, classes = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) != 5 and (len(fields) < 7 or len(fields) % 2 == 0):
                raise ValueError(f"{len(fields)} fields")
            values = [float(v) for v in fields[1:]]
            class_id = int(fields[0])
        except ValueError:
            raise ValueError(
                f"line {number}: expected 'class cx cy w h' (or a polygon 'class x1 y1 x2 y2 x3 y3 ...'), "
                f"got {line.strip()[:60]!r}"
            ) from None
        if not 0 <= class_id < num_classes:
            raise ValueError(f"line {number}: class {class_id} is not in data.yaml's {num_classes} classes")
        if not all(-0.01 <= v <= 1.01 for v in values):
            raise ValueError(f"line {number}: {' '.join(fields[1:])[:60]} is not inside the image (fractions in 0..1)")
        if len(values) == 4:
            cx, cy, w, h = values
            corners = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        else:  # a segment's polygon, as Ultralytics reads it for detection: its bounding box
            xs, ys = values[0::2], values[1::2]
            corners = (min(xs), min(ys), max(xs), max(ys))
        x1, y1 = max(corners[0] * width, 0.0), max(corners[1] * height, 0.0)
        x2, y2 = min(corners[2] * width, float(width)), min(corners[3] * height, float(height))
        if not (x2 > x1 and y2 > y1):
            raise ValueError(f"line {number}: the box of {' '.join(fields[1:])[:60]} is empty")
        boxes.append((x1, y1, x2, y2))
        classes.append(class_id)
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(classes, np.int32)


def scan_yolo(
    root: Path, split: str, class_names, share: tuple[int, int] = (0, 1)
) -> tuple[list[Sample], list[Problem], dict[str, int]]:
    """Read a split -> (samples, problems, counts of objects whose class is not in `class_names`).

    With share (i, n) only every n-th image from the i-th is read (one worker's share).
    """
    own = yolo_class_names(root)
    wanted = {name: index for index, name in enumerate(class_names)}
    remap = np.asarray([wanted.get(name, -1) for name in own], np.int32)
    samples, problems, unknown = [], [], {}
    for image_path in split_images(root, split)[share[0] :: share[1]]:
        try:
            width, height = image_size(image_path)
        except BcnError as error:
            problems.append(Problem(image_path, f"{str(error).removeprefix(f'{image_path}: ')}; skipped"))
            continue
        labels = label_path(image_path)
        try:
            boxes, classes = (
                parse_labels(labels, width, height, len(own))
                if labels.is_file()
                else (np.zeros((0, 4), np.float32), np.zeros(0, np.int32))
            )
        except ValueError as error:
            problems.append(Problem(labels, f"{error}; image {image_path.name} skipped"))
            continue
        known = remap[classes] >= 0
        for class_id in classes[~known]:
            unknown[own[class_id]] = unknown.get(own[class_id], 0) + 1
        samples.append(
            Sample(
                image_path.stem,
                image_path,
                width,
                height,
                boxes[known],
                remap[classes[known]],
                np.zeros(int(known.sum()), bool),
            )
        )
    return samples, problems, unknown

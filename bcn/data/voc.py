"""PascalVOC reader: the VOCdevkit layout, split files, several roots merged.

A root holds `Annotations/<id>.xml`, `JPEGImages/<id>.jpg` and
`ImageSets/Main/<split>.txt`. XML boxes are 1-based inclusive pixel corners; bcn
uses continuous 0-based coordinates with the right/bottom edge exclusive, so
x1 = xmin - 1, y1 = ymin - 1, x2 = xmax, y2 = ymax (areas and IoUs stay exactly
those of the VOC devkit). A root with a `classes.txt` (one name per line) uses
those class names instead of the 20 VOC classes.

Problems (malformed or empty XML, a missing image, a bad box, a size or coordinate
that is not a finite number) never stop reading: the file is skipped and named in a
warning of the `bcn` log; so is a box clipped to its image. XML is decoded as its
declaration says (UTF-8 without one); classes.txt and the split files are UTF-8 text,
and one that is not is a one-line BcnError naming it.
"""

import logging
import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bcn.errors import BcnError
from bcn.images import IMAGE_SUFFIXES

CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
CLASSES_FILE = "classes.txt"

log = logging.getLogger(__name__)


@dataclass
class Sample:
    """One annotated image; boxes are x1, y1, x2, y2 in bcn's 0-based convention."""

    image_id: str
    image_path: Path
    width: int
    height: int
    boxes: np.ndarray  # (N, 4) float32
    classes: np.ndarray  # (N,) int32
    difficult: np.ndarray  # (N,) bool


@dataclass
class Problem:
    """Something wrong with one file of a data set."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def as_roots(roots) -> list[Path]:
    """One root or several (str, Path, or a list of them) -> list of Paths."""
    if isinstance(roots, (str, os.PathLike)):
        roots = [roots]
    return [Path(root) for root in roots]


def not_utf8(error: UnicodeDecodeError) -> str:
    """What a file that failed to decode is, and where: "not UTF-8 text (byte 0xe9 at offset 7)"."""
    return f"not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset {error.start})"


def read_text(path: Path) -> str:
    """The UTF-8 text of a list file (class names, split ids, image paths), or a one-line BcnError naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise BcnError(f"{path}: cannot read ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise BcnError(f"{path}: {not_utf8(error)}") from None


def read_class_names(roots) -> tuple[str, ...]:
    """The class names of a data set: its classes.txt if it has one, else the VOC classes."""
    found = {}
    for root in as_roots(roots):
        path = root / CLASSES_FILE
        if path.is_file():
            names = tuple(line.strip() for line in read_text(path).splitlines() if line.strip())
            if not names:
                raise BcnError(f"{path}: no class names in it")
            if len(set(names)) != len(names):
                raise BcnError(f"{path}: a class name appears twice")
            found[path] = names
    if not found:
        return CLASSES
    if len(set(found.values())) > 1:
        raise BcnError(f"{', '.join(map(str, found))}: the roots list different classes")
    return next(iter(found.values()))


def split_ids(root: Path, split: str) -> list[str]:
    """Image ids listed in `root/ImageSets/Main/<split>.txt`."""
    path = root / "ImageSets" / "Main" / f"{split}.txt"
    if not root.is_dir():
        raise BcnError(f"{root}: no such data set folder")
    if not path.is_file():
        raise BcnError(f"{path}: no split file '{split}' in this data set")
    return [line.split()[0] for line in read_text(path).splitlines() if line.strip()]


def _find_image(root: Path, image_id: str, filename: str | None) -> Path | None:
    folder = root / "JPEGImages"
    candidates = [folder / filename] if filename else []
    candidates += [folder / f"{image_id}{suffix}" for suffix in IMAGE_SUFFIXES]
    return next((path for path in candidates if path.is_file()), None)


def _number(node, tag: str) -> float:
    """The finite number in `node`'s child `tag`; ValueError naming the tag otherwise."""
    text = node.findtext(tag)
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"<{tag}> is {text!r}, not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"<{tag}> is {text.strip()!r}, not a finite number")
    return value


# An XML declaration naming its encoding: the file is then decoded as it says.
_ENCODING_DECLARATION = re.compile(rb"<\?xml[^>]*\bencoding\s*=", re.I)


def _xml_problem(xml_path: Path, error: ET.ParseError) -> str:
    """Why an XML file does not parse: its bytes are not UTF-8 and no declaration says otherwise, or `error`."""
    data = xml_path.read_bytes()
    if not _ENCODING_DECLARATION.match(data.lstrip()):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            where = f"byte 0x{data[bad.start]:02x} at offset {bad.start}"
            return f"not UTF-8 ({where}) and no XML declaration names its encoding"
    return f"malformed XML ({error})"


def parse_annotation(root: Path, image_id: str, class_index: dict[str, int]) -> tuple[Sample, list[str], list[str]]:
    """Parse one XML file -> (Sample, names of classes not in class_index, notes on boxes clipped to the image).

    Raises ValueError for a file that cannot be used.
    """
    xml_path = root / "Annotations" / f"{image_id}.xml"
    if not xml_path.is_file():
        raise ValueError("annotation file is missing")
    try:
        tree = ET.parse(xml_path).getroot()
    except ET.ParseError as error:
        raise ValueError(_xml_problem(xml_path, error)) from None
    if tree.tag != "annotation":
        raise ValueError(f"root element is <{tree.tag}>, not <annotation>")
    image_path = _find_image(root, image_id, tree.findtext("filename"))
    if image_path is None:
        raise ValueError(f"image {image_id} not found in {root / 'JPEGImages'}")
    size = tree.find("size")
    if size is None:
        raise ValueError("no <size> element")
    width, height = int(_number(size, "width")), int(_number(size, "height"))
    if width <= 0 or height <= 0:
        raise ValueError(f"image size {width}x{height} is not positive")
    boxes, classes, difficult, unknown, notes = [], [], [], [], []
    for obj in tree.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in class_index:
            unknown.append(name)
            continue
        box = obj.find("bndbox")
        if box is None:
            raise ValueError(f"object '{name}' has no <bndbox>")
        xmin, ymin, xmax, ymax = (_number(box, tag) for tag in ("xmin", "ymin", "xmax", "ymax"))
        # Clipped to the image; a few published annotations overrun it by a pixel, which passes without a note.
        x1, y1 = max(xmin - 1, 0.0), max(ymin - 1, 0.0)
        x2, y2 = min(xmax, float(width)), min(ymax, float(height))
        box_text = f"({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g})"
        if not (x2 > x1 and y2 > y1):
            raise ValueError(f"object '{name}' has an empty box {box_text} in a {width}x{height} image")
        if min(xmin, ymin) < 0 or xmax > width + 1 or ymax > height + 1:
            notes.append(f"object '{name}' box {box_text} lies partly outside the {width}x{height} image; clipped")
        boxes.append((x1, y1, x2, y2))
        classes.append(class_index[name])
        difficult.append((obj.findtext("difficult") or "0").strip() == "1")
    sample = Sample(
        image_id=image_id,
        image_path=image_path,
        width=width,
        height=height,
        boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        classes=np.asarray(classes, dtype=np.int32),
        difficult=np.asarray(difficult, dtype=bool),
    )
    return sample, unknown, notes


def scan_voc(
    roots, split: str, class_names=None, share: tuple[int, int] = (0, 1)
) -> tuple[list[Sample], list[Problem], dict[str, int]]:
    """Read a split -> (samples, problems, counts of objects whose class is not in the list).

    With share (i, n) only every n-th image of each root from the i-th is read (one worker's share).
    """
    roots = as_roots(roots)
    class_names = tuple(class_names) if class_names is not None else read_class_names(roots)
    class_index = {name: index for index, name in enumerate(class_names)}
    samples, problems, unknown, seen = [], [], {}, {}
    for root in roots:
        ids = split_ids(root, split)[share[0] :: share[1]]
        if ids and not (root / "Annotations").is_dir():  # one problem, not one per image
            problems.append(
                Problem(root / "Annotations", f"no such folder; the {len(ids)} images of split '{split}' are skipped")
            )
            continue
        for image_id in ids:
            xml_path = root / "Annotations" / f"{image_id}.xml"
            if image_id in seen:
                problems.append(Problem(xml_path, f"image id {image_id} already read from {seen[image_id]}; skipped"))
                continue
            try:
                sample, names, notes = parse_annotation(root, image_id, class_index)
            except ValueError as error:
                problems.append(Problem(xml_path, f"{error}; skipped"))
                continue
            problems += [Problem(xml_path, note) for note in notes]
            seen[image_id] = root
            samples.append(sample)
            for name in names:
                unknown[name] = unknown.get(name, 0) + 1
    return samples, problems, unknown


def load_voc(roots, split: str, class_names=None) -> list[Sample]:
    """The samples of `split` from one or several VOC roots; bad files are warned about and skipped."""
    samples, problems, unknown = scan_voc(roots, split, class_names)
    warn_skipped(roots, problems, unknown)
    return samples


def warn_skipped(roots, problems, unknown: dict | None = None) -> None:
    """One warning on the bcn log for each skipped file, and one counting objects of unknown classes."""
    for problem in problems:
        log.warning(str(problem))
    if unknown:
        listed = ", ".join(f"{name or '(no name)'} x{count}" for name, count in sorted(unknown.items()))
        log.warning(
            f"{', '.join(map(str, as_roots(roots)))}: objects of classes not in the class list ignored: {listed}"
        )

"""One entry to every data set layout bcn reads: PascalVOC, COCO JSON and YOLO, found from the files.

A root's layout is detected from what it holds: `ImageSets/Main/` (PascalVOC, with
`Annotations/`), `annotations/instances_*.json` or `*/_annotations.coco.json` (COCO), a
`data.yaml` (YOLO). Class names come from the data (classes.txt or the 20 VOC classes,
COCO categories, data.yaml's names); several roots merge when their classes agree.

Split names are each layout's own (VOC: train, val, trainval, test; YOLO: train, val,
test; COCO: the instances files' names, e.g. train2017). Asked for `val`, a data set
whose split is `valid`, `validation` (Roboflow) or `val2017` (COCO: a year) gives that one;
any other name must be the split's own (`valid2` is not val).

One rule picks the splits every command uses (evaluation_split, train_split): the
held-out split is the one asked for, else test, else val, else none (training then runs
without evaluation); training uses trainval where every root has it and the held-out
split is not val (which trainval holds), else train.
"""

import re
from pathlib import Path

from bcn.data import coco, voc, yolo
from bcn.data.voc import Problem, as_roots, warn_skipped
from bcn.errors import BcnError
from bcn.images import IMAGE_SUFFIXES

NAMES = {"voc": "PascalVOC", "coco": "COCO JSON", "yolo": "YOLO"}
VOC_SPLITS = ("train", "val", "trainval", "test")
SPLIT_NAME = re.compile(r"(train|val|valid|validation|test|trainval)((19|20)\d\d)?")  # a year may follow
EVALUATION_SPLITS = ("test", "val")  # the held-out split when none is asked for, in order of preference


def detect_format(root) -> str:
    """ "voc", "coco" or "yolo" from the files in `root`; a one-line error if it is none of them."""
    root = Path(root)
    if not root.is_dir():
        raise BcnError(f"{root}: no such data set folder")
    if (root / "ImageSets" / "Main").is_dir():  # the split files make a VOC root; Annotations/ holds the XML
        return "voc"
    if yolo.find_yaml(root) is not None:
        return "yolo"
    if coco.coco_splits(root):
        return "coco"
    raise BcnError(
        f"{root}: not a data set bcn reads: PascalVOC needs ImageSets/Main/ and Annotations/, "
        f"COCO annotations/instances_<split>.json or <split>/_annotations.coco.json, YOLO a data.yaml"
    )


def splits(root) -> list[str]:
    """The split names a root has, in the layout's order."""
    root = Path(root)
    kind = detect_format(root)
    if kind == "voc":
        return [s for s in VOC_SPLITS if (root / "ImageSets" / "Main" / f"{s}.txt").is_file()]
    if kind == "yolo":
        return yolo.yolo_splits(root)
    order = {name: index for index, name in enumerate(("train", "val", "test"))}
    return sorted(coco.coco_splits(root), key=lambda name: (order.get(canonical_split(name), len(order)), name))


def canonical_split(name: str) -> str | None:
    """train, val, test or trainval for the names layouts give them (valid, validation, val2017 -> val);
    None for any other name."""
    match = SPLIT_NAME.fullmatch(name.lower())
    if match is None:
        return None
    return "val" if match[1] in ("valid", "validation") else match[1]


def find_split(root, split: str) -> str | None:
    """The root's own name for `split` (itself, or e.g. valid / val2017 for val), or None."""
    have = splits(root)
    if split in have:
        return split
    canonical = canonical_split(split)
    if canonical is None:
        return None
    return next((name for name in have if canonical_split(name) == canonical), None)


def found_splits(roots) -> list[str]:
    """Every split name the roots have, in order, without repeats."""
    return list(dict.fromkeys(split for root in as_roots(roots) for split in splits(root)))


def _no_split(roots: list[Path], split: str) -> BcnError:
    """The error for a split that none of `roots` has, naming the splits they have (and one root's layout)."""
    where = f" in this {NAMES[detect_format(roots[0])]} data set" if len(roots) == 1 else ""
    have = ", ".join(found_splits(roots)) or "none"
    return BcnError(f"{', '.join(map(str, roots))}: no split '{split}'{where} (it has: {have})")


def _split_or_error(root: Path, split: str) -> str:
    found = find_split(root, split)
    if found is None:
        raise _no_split([root], split)
    return found


def roots_with(roots, split: str) -> list[Path]:
    """The roots that have `split`; none is a one-line error naming the splits they have."""
    roots = as_roots(roots)
    having = [root for root in roots if find_split(root, split)]
    if not having:
        raise _no_split(roots, split)
    return having


def evaluation_split(roots, requested: str | None = None) -> str | None:
    """The held-out split training evaluates on and `bcn eval` scores: `requested` if given (a name no root has
    is refused, naming the splits found), else test, else val (valid, val2017), else None."""
    if requested is not None:
        if not isinstance(requested, str):
            raise TypeError(f"split must be a split name, not {type(requested).__name__}")
        roots_with(roots, requested)
        return requested
    return next((split for split in EVALUATION_SPLITS if any(find_split(r, split) for r in as_roots(roots))), None)


def train_split(roots, held_out: str | None = None) -> str:
    """trainval where every root has it and the held-out split is not val (part of trainval), else train."""
    roots = as_roots(roots)
    candidates = ("train",) if held_out is not None and canonical_split(held_out) == "val" else ("trainval", "train")
    for split in candidates:
        if all(find_split(root, split) for root in roots):
            return split
    raise BcnError(
        f"{roots[0]}: no training split ({' or '.join(candidates)}); it has: {', '.join(found_splits(roots))}"
    )


def _class_names(root: Path) -> tuple[str, ...]:
    kind = detect_format(root)
    if kind == "voc":
        return voc.read_class_names([root])
    if kind == "yolo":
        return yolo.yolo_class_names(root)
    files = [path for path, _ in coco.coco_splits(root).values()]
    names = {path: coco.coco_class_names(path) for path in files}
    if len(set(names.values())) > 1:
        raise BcnError(f"{', '.join(map(str, files))}: the splits list different categories")
    return names[files[0]]


def read_class_names(roots) -> tuple[str, ...]:
    """The class names of one root or several (which must agree)."""
    roots = as_roots(roots)
    found = {root: _class_names(root) for root in roots}
    if len(set(found.values())) > 1:
        raise BcnError(f"{', '.join(map(str, roots))}: the roots list different classes")
    return found[roots[0]]


def _scan_root(root: Path, split: str, class_names, share: tuple[int, int]):
    kind = detect_format(root)
    split = _split_or_error(root, split)
    if kind == "voc":
        return voc.scan_voc([root], split, class_names, share)
    if kind == "yolo":
        return yolo.scan_yolo(root, split, class_names, share)
    annotation_file, image_dir = coco.coco_splits(root)[split]
    return coco.scan_coco(annotation_file, image_dir, class_names, share)


def _identity(root: Path, split: str):
    """A function of a sample of `root` giving what makes two samples of merged roots one image: a VOC id (the
    same file name in every root), a COCO id within its instances file (ids are per file), a YOLO image's file."""
    kind = detect_format(root)
    if kind == "voc":
        return lambda sample: sample.image_id
    if kind == "coco":
        annotation_file = coco.coco_splits(root)[_split_or_error(root, split)][0]
        return lambda sample: (annotation_file, sample.image_id)
    return lambda sample: sample.image_path


def scan(
    roots, split: str, class_names=None, share: tuple[int, int] = (0, 1)
) -> tuple[list, list[Problem], dict[str, int]]:
    """Read `split` of every root that has it -> (samples, problems, counts of objects whose class is not in
    the list).

    With share (i, n), a worker's share: only every n-th image of each root from the i-th is read. An image
    read twice (one root given twice) is kept once; distinct images of two roots that share an id (COCO ids
    count from 1 in every file) are both kept, the later one's id prefixed with its root.
    """
    roots = as_roots(roots)
    class_names = tuple(class_names) if class_names is not None else read_class_names(roots)
    samples, problems, unknown, seen, ids = [], [], {}, {}, set()
    for root in roots_with(roots, split):
        found, trouble, extra = _scan_root(root, split, class_names, share)
        problems += trouble
        for name, count in extra.items():
            unknown[name] = unknown.get(name, 0) + count
        identity_of = _identity(root, split)
        for sample in found:
            identity = identity_of(sample)
            if identity in seen:
                message = f"image id {sample.image_id} already read from {seen[identity]}; skipped"
                problems.append(Problem(sample.image_path, message))
                continue
            seen[identity] = root
            if sample.image_id in ids:
                sample.image_id = f"{root}/{sample.image_id}"
            ids.add(sample.image_id)
            samples.append(sample)
    return samples, problems, unknown


def load(roots, split: str, class_names=None, share: tuple[int, int] = (0, 1)) -> list:
    """The samples of `split` (or a worker's `share` of them, see scan); problems are warned about on the
    bcn log and their files skipped."""
    samples, problems, unknown = scan(roots, split, class_names, share)
    warn_skipped(roots, problems, unknown)
    return samples


def no_objects(roots, split: str, samples) -> Problem | None:
    """A Problem when `split` has images but not one object among them (a YOLO set without labels/, say)."""
    if not samples or any(sample.classes.size for sample in samples):
        return None
    roots = as_roots(roots)
    message = f"split '{split}' has {len(samples)} images but no objects"
    labels = yolo.label_path(samples[0].image_path).parent
    if detect_format(roots[0]) == "yolo" and not labels.is_dir():
        message += f" (YOLO labels are read from {labels}, which does not exist)"
    return Problem(roots[0], message)


def split_images(root, split: str) -> list[Path]:
    """The image files of a split, without reading annotations (for sample images)."""
    root = Path(root)
    kind = detect_format(root)
    split = _split_or_error(root, split)
    if kind == "yolo":
        return yolo.split_images(root, split)
    if kind == "coco":
        annotation_file, image_dir = coco.coco_splits(root)[split]
        return [sample.image_path for sample in coco.scan_coco(annotation_file, image_dir)[0]]
    folder = root / "JPEGImages"
    found = (
        next((folder / f"{i}{s}" for s in IMAGE_SUFFIXES if (folder / f"{i}{s}").is_file()), None)
        for i in voc.split_ids(root, split)
    )
    return [path for path in found if path is not None]

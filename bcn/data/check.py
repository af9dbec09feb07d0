"""Validate a data set (PascalVOC, COCO or YOLO): every split, every annotation, every image decoded."""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bcn.data import formats
from bcn.data.voc import Problem, as_roots
from bcn.errors import BcnError
from bcn.images import read_image


@dataclass
class CheckReport:
    """Images and objects per split and class, and the problems found."""

    class_names: tuple[str, ...]
    layouts: dict[str, str] = field(default_factory=dict)  # root -> its layout's name
    images: dict[str, int] = field(default_factory=dict)  # split -> images read
    objects: dict[str, np.ndarray] = field(default_factory=dict)  # split -> (C,) objects per class
    difficult: dict[str, np.ndarray] = field(default_factory=dict)  # split -> (C,) difficult objects
    problems: list[Problem] = field(default_factory=list)
    training_split: str | None = None  # what `bcn train` trains on; None: no split to train on
    evaluation_split: str | None = None  # what `bcn train` evaluates on and `bcn eval` scores; None: none


def image_problem(path: Path, width: int, height: int) -> str | None:
    """What is wrong with an annotated image file (read by bcn.images' rule), or None.

    The one verdict `bcn data check` and training give on a file: it cannot be read,
    or its size (after its EXIF orientation) is not the annotation's.
    """
    import cv2

    try:
        image = read_image(path)
    except BcnError as error:
        return str(error).removeprefix(f"{path}: ")
    if image.shape[:2] == (height, width):
        return None
    message = f"image is {image.shape[1]}x{image.shape[0]} but its annotation says {width}x{height}"
    stored = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if stored is not None and stored.shape[:2] == (height, width):
        message += " (its EXIF orientation turns it; the annotation is of the unturned pixels)"
    return message


def check_dataset(roots) -> CheckReport:
    """Read every split present in the roots, decode every image, and collect the problems."""
    roots = as_roots(roots)
    report = CheckReport(
        formats.read_class_names(roots), {str(root): formats.NAMES[formats.detect_format(root)] for root in roots}
    )
    present = formats.found_splits(roots)
    if not present:
        raise BcnError(f"{roots[0]}: no splits in this data set")
    report.training_split, report.evaluation_split = _split_roles(roots)
    decoded: dict[Path, str | None] = {}
    reported = set()
    for split in present:
        have = [r for r in roots if formats.find_split(r, split)]
        samples, problems, unknown = formats.scan(have, split, report.class_names)
        for problem in problems:
            if str(problem) not in reported:
                reported.add(str(problem))
                report.problems.append(problem)
        for name, count in unknown.items():
            message = f"{count} objects of class '{name}' not in the class list (ignored) in split {split}"
            report.problems.append(Problem(have[0], message))
        good = []
        for sample in samples:
            if sample.image_path not in decoded:
                decoded[sample.image_path] = image_problem(sample.image_path, sample.width, sample.height)
                if decoded[sample.image_path]:
                    report.problems.append(Problem(sample.image_path, f"{decoded[sample.image_path]}; skipped"))
            if not decoded[sample.image_path]:
                good.append(sample)
        empty_labels = formats.no_objects(have, split, good)
        if empty_labels:
            report.problems.append(empty_labels)
        num_classes = len(report.class_names)
        report.images[split] = len(good)
        if not good:
            where = (
                have[0] / "ImageSets" / "Main" / f"{split}.txt" if formats.detect_format(have[0]) == "voc" else have[0]
            )
            report.problems.append(Problem(where, f"split '{split}' has no usable images"))
        classes = np.concatenate([s.classes for s in good]) if good else np.zeros(0, np.int32)
        hard = np.concatenate([s.difficult for s in good]) if good else np.zeros(0, bool)
        report.objects[split] = np.bincount(classes, minlength=num_classes)
        report.difficult[split] = np.bincount(classes[hard], minlength=num_classes)
    return report


def _split_roles(roots) -> tuple[str | None, str | None]:
    """(training split, held-out split) that `bcn train` and `bcn eval` take from the data by default."""
    held_out = formats.evaluation_split(roots)
    try:
        return formats.train_split(roots, held_out), held_out
    except BcnError:  # a data set only to evaluate on
        return None, held_out


def format_splits(report: CheckReport) -> str:
    """Two lines: the split each command uses by default."""
    held_out = report.evaluation_split
    training = f"trains on {report.training_split}" if report.training_split else "no split to train on"
    evaluating = f"evaluates on {held_out}" if held_out else "without evaluation (no test or val split)"
    scoring = f"scores {held_out}" if held_out else "needs --split (no test or val split)"
    return f"bcn train: {training}, {evaluating}\nbcn eval: {scoring}"


def format_report(report: CheckReport) -> str:
    """A table of objects per class (difficult ones in brackets) and split."""
    splits = list(report.images)
    width = max(len("images"), *(len(n) for n in report.class_names))
    cells = lambda values: "".join(f"{v:>16}" for v in values)  # noqa: E731
    lines = [f"{'class':<{width}}" + cells(splits)]
    lines.append(f"{'images':<{width}}" + cells(report.images[s] for s in splits))
    for index, name in enumerate(report.class_names):
        lines.append(
            f"{name:<{width}}" + cells(f"{report.objects[s][index]} ({report.difficult[s][index]})" for s in splits)
        )
    lines.append(
        f"{'objects':<{width}}" + cells(f"{report.objects[s].sum()} ({report.difficult[s].sum()})" for s in splits)
    )
    return "\n".join(lines)

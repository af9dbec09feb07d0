"""Detections as JSON records, in the VOC XML pixel convention.

A file is a list of {"image_id": "000010", "class": "dog", "score": 0.9,
"bbox": [x1, y1, x2, y2]} with 1-based inclusive corners as in VOC XML, so a box
is bcn's (x1 - 1, y1 - 1, x2, y2).
"""

import json
import math
from pathlib import Path

import numpy as np

from bcn.decode import Detections
from bcn.errors import BcnError
from bcn.io import read_json

ROUNDING = 0.01  # records carry corners to 2 decimals


def to_records(detections: dict[str, Detections], class_names) -> list[dict]:
    """image_id -> Detections (bcn convention) -> JSON-ready records (VOC XML convention)."""
    records = []
    for image_id, dets in detections.items():
        for (x1, y1, x2, y2), score, class_id in zip(dets.boxes.tolist(), dets.scores.tolist(), dets.classes.tolist()):
            records.append(
                {
                    "image_id": image_id,
                    "class": class_names[class_id],
                    "score": round(score, 6),
                    "bbox": [round(x1 + 1, 2), round(y1 + 1, 2), round(x2, 2), round(y2, 2)],
                }
            )
    return records


def _is_json_lines(path: Path) -> bool:
    """True when every non-empty line of the file is a JSON object on its own (JSON lines)."""
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        return len(lines) > 1 and all(isinstance(json.loads(line), dict) for line in lines)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False


def read_detections_json(path, class_names) -> dict[str, Detections]:
    """A detections file -> image_id -> Detections in bcn's convention; BcnError naming the file if malformed."""
    path = Path(path)
    try:
        records = read_json(path)
    except BcnError:
        if _is_json_lines(path):
            raise BcnError(
                f"{path}: holds JSON lines, one detection a line (what `bcn detect` prints); --detections reads "
                "a JSON list: run `bcn detect` with --json-out FILE.json to write one"
            ) from None
        raise
    if not isinstance(records, list):
        raise BcnError(f"{path}: expected a list of detections, got a JSON {type(records).__name__}")
    class_index = {name: index for index, name in enumerate(class_names)}
    grouped: dict[str, list] = {}
    for number, record in enumerate(records):
        where = f"{path}: detection {number}"
        if not isinstance(record, dict) or not {"image_id", "class", "score", "bbox"} <= record.keys():
            raise BcnError(f"{where}: needs keys image_id, class, score, bbox")
        if record["class"] not in class_index:
            raise BcnError(f"{where}: unknown class {record['class']!r} (classes: {', '.join(class_names)})")
        bbox, score = record["bbox"], record["score"]
        numbers = bbox if isinstance(bbox, list) else []
        if (
            len(numbers) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in [*numbers, score])
            or not all(math.isfinite(v) for v in [*numbers, score])
        ):
            raise BcnError(f"{where}: bbox must be 4 numbers and score a number, got {bbox!r}, {score!r}")
        x1, y1, x2, y2 = numbers
        # 1-based inclusive corners: a box under a pixel wide has xmax < xmin, down to xmin - 1 (give or take rounding)
        if x2 < x1 - 1 - ROUNDING or y2 < y1 - 1 - ROUNDING:
            raise BcnError(f"{where}: bbox {bbox!r} is inverted (its xmax or ymax is more than 1 below xmin or ymin)")
        grouped.setdefault(str(record["image_id"]), []).append(
            (x1 - 1, y1 - 1, x2, y2, score, class_index[record["class"]])
        )
    detections = {}
    for image_id, rows in grouped.items():
        rows = np.asarray(rows, dtype=np.float64)
        detections[image_id] = Detections(
            rows[:, :4].astype(np.float32), rows[:, 4].astype(np.float32), rows[:, 5].astype(np.int32)
        )
    return detections

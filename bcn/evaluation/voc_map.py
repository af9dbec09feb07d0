"""PascalVOC detection metric: AP at IoU > 0.5 per class, and their mean.

Matching follows the VOC devkit: a class's detections over all images are taken
best score first; each is matched to the ground-truth box of its image and class
with the highest IoU. Above the threshold it is a true positive if that box is not
yet matched, a false positive if it is (duplicates are false positives), and
ignored if that box is `difficult` (difficult objects neither count nor penalise).
Below it, a false positive. Boxes are bcn's 0-based corners with exclusive right
and bottom edges, so widths are x2 - x1, exactly the devkit's xmax - xmin + 1.

Two APs per class: the VOC2007 11-point metric (mean of the best precision at
recall >= 0, 0.1, ..., 1) and the area under the monotone precision envelope
(VOC2010 onwards). A class with no non-difficult ground truth in the split has
no defined AP: it is reported as None and left out of the mean; its detections
are still counted.
"""

from dataclasses import dataclass

import numpy as np

from bcn.boxes import iou

IOU_THRESHOLD = 0.5


def voc_ap(recall: np.ndarray, precision: np.ndarray, use_07_metric: bool = False) -> float:
    """Average precision from a PR curve (recall ascending): 11-point or all-point area."""
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    if use_07_metric:
        # k / 10 rounds like tp / num_gt, so a recall of exactly 0.6 reaches the 0.6 threshold
        # (np.arange(0, 1.1, 0.1) would give 0.6000000000000001).
        reached = [recall >= k / 10 for k in range(11)]
        points = [precision[mask].max() if mask.any() else 0.0 for mask in reached]
        return float(np.mean(points))
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the monotone envelope
    steps = np.nonzero(recall[1:] != recall[:-1])[0]
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


@dataclass
class ClassResult:
    """AP of one class and the curve it came from."""

    name: str
    num_gt: int  # non-difficult ground-truth objects
    num_detections: int
    true_positives: int
    false_positives: int
    ap_voc07: float | None  # None: no ground truth, AP undefined
    ap_area: float | None
    recall: np.ndarray
    precision: np.ndarray

    def as_dict(self) -> dict:
        return {
            "ap_voc07": self.ap_voc07,
            "ap_area": self.ap_area,
            "num_gt": self.num_gt,
            "num_detections": self.num_detections,
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
        }


@dataclass
class Evaluation:
    """Per-class results and the means over classes that have ground truth."""

    per_class: list[ClassResult]
    num_images: int

    def _mean(self, key: str) -> float | None:
        values = [getattr(c, key) for c in self.per_class if getattr(c, key) is not None]
        return float(np.mean(values)) if values else None

    @property
    def map50_voc07(self) -> float | None:
        return self._mean("ap_voc07")

    @property
    def map50_area(self) -> float | None:
        return self._mean("ap_area")

    def as_dict(self) -> dict:
        return {
            "map50_voc07": self.map50_voc07,
            "map50_area": self.map50_area,
            "iou_threshold": IOU_THRESHOLD,
            "num_images": self.num_images,
            "classes_without_gt": [c.name for c in self.per_class if c.ap_area is None],
            "per_class": {c.name: c.as_dict() for c in self.per_class},
        }


def _evaluate_class(name, class_id, samples, detections, iou_threshold) -> ClassResult:
    gt, num_gt = {}, 0
    for sample in samples:
        keep = sample.classes == class_id
        gt[sample.image_id] = (
            sample.boxes[keep].astype(np.float64),
            sample.difficult[keep],
            np.zeros(keep.sum(), bool),
        )
        num_gt += int(np.sum(~sample.difficult[keep]))
    image_ids, scores, boxes = [], [], []
    for image_id, dets in detections.items():
        keep = dets.classes == class_id
        image_ids += [image_id] * int(keep.sum())
        scores.append(dets.scores[keep])
        boxes.append(dets.boxes[keep])
    scores = np.concatenate(scores) if scores else np.zeros(0)
    boxes = np.concatenate(boxes).astype(np.float64) if boxes else np.zeros((0, 4))
    order = np.argsort(-scores, kind="stable")
    tp, fp = np.zeros(len(order)), np.zeros(len(order))
    for rank, index in enumerate(order):
        gt_boxes, difficult, matched = gt[image_ids[index]]
        best = -1
        if len(gt_boxes):
            ious = iou(boxes[index], gt_boxes)
            best = int(np.argmax(ious))
            if ious[best] <= iou_threshold:
                best = -1
        if best < 0:
            fp[rank] = 1
        elif difficult[best]:
            continue
        elif matched[best]:
            fp[rank] = 1
        else:
            tp[rank] = matched[best] = 1
    counted = (tp + fp) > 0
    tp_cum, fp_cum = np.cumsum(tp[counted]), np.cumsum(fp[counted])
    precision = tp_cum / np.maximum(tp_cum + fp_cum, np.finfo(np.float64).eps)
    recall = tp_cum / num_gt if num_gt else np.zeros_like(tp_cum)
    ap07 = voc_ap(recall, precision, use_07_metric=True) if num_gt else None
    ap_area = voc_ap(recall, precision) if num_gt else None
    return ClassResult(name, num_gt, len(order), int(tp.sum()), int(fp.sum()), ap07, ap_area, recall, precision)


def evaluate_detections(samples, detections: dict, class_names, iou_threshold: float = IOU_THRESHOLD) -> Evaluation:
    """VOC AP per class of `detections` (image_id -> bcn.decode.Detections in original pixels).

    `samples` are the ground truth (bcn.data.voc.Sample). An image without an entry
    in `detections` has no detections; an entry for an image not in `samples` is an error.
    """
    ids = {sample.image_id for sample in samples}
    stray = [image_id for image_id in detections if image_id not in ids]
    if stray:
        raise ValueError(f"detections for {len(stray)} images not in the ground truth, e.g. {stray[0]!r}")
    per_class = [
        _evaluate_class(name, index, samples, detections, iou_threshold) for index, name in enumerate(class_names)
    ]
    return Evaluation(per_class, len(samples))

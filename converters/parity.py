"""Does the flatbuffer detect what the Keras model detects? Decoded detections and heatmaps compared,
the flatbuffer run as the runtime runs it (bcn.runtime.engines with its defaults: the kernels
`bcn detect` uses)."""

from dataclasses import asdict, dataclass

import numpy as np

from bcn.boxes import iou
from bcn.centernet import HEADS
from bcn.decode import Detections, decode
from bcn.defaults import SCORE_THRESHOLD  # detections compared: those a user would see
from bcn.runtime.engines import open_engine
from bcn.runtime.metadata import PRECISION


@dataclass(frozen=True)
class Tolerance:
    """How far a flatbuffer may stray from Keras and pass --check."""

    min_iou: float = 0.9  # a detection is found on the other side: same class, at least this IoU
    score_margin: float = 0.05  # ... and at least the score threshold minus this
    min_agreement: float = 0.9  # share of detections found on both sides
    max_heatmap_mean_diff: float = 0.01  # when no image has a detection
    max_heatmap_max_diff: float = 0.02  # no heatmap score may move more, anywhere


# By the precision of the full-precision layers: float32 computes what Keras computes up to summation
# order; int8 rounds every activation to 1/256 of its calibrated range, heads included.
TOLERANCES = {
    "float32": Tolerance(),
    "int8": Tolerance(
        min_iou=0.8, score_margin=0.1, min_agreement=0.8, max_heatmap_mean_diff=0.02, max_heatmap_max_diff=0.2
    ),
}


def tolerance_of(variant: str) -> dict:
    """The --check thresholds for a file of `variant` (runtime.metadata.VARIANTS), as a dict."""
    return asdict(TOLERANCES[PRECISION.get(variant, "float32")])


TOP_K = 100  # detections per image compared, as the decoder's default
SEARCH_TOP_K = 1000


def keras_heads(model, inputs) -> list[tuple[np.ndarray, ...]]:
    """(heatmap, size, offset) of each input, from the Keras model."""
    names = [name.split("/")[0] for name in model.output_names]
    results = []
    for image in inputs:
        outputs = [np.asarray(o)[0] for o in model(image[None], training=False)]
        results.append(tuple(outputs[names.index(head)] for head in HEADS))
    return results


def runtime_heads(flatbuffer: bytes, source: str, inputs, layout: dict) -> tuple[list[tuple[np.ndarray, ...]], dict]:
    """(heatmap, size, offset) of each input from the flatbuffer in the runtime's default
    engine, using the metadata's output layout; and what ran it (engine, library, options)."""
    engine = open_engine(flatbuffer, source)
    results = []
    for image in inputs:
        outputs = engine.run(np.ascontiguousarray(image[None], np.float32))
        results.append(tuple(np.asarray(outputs[layout[head]])[0] for head in HEADS))
    return results, {"engine": engine.name, "library": engine.library, "options": engine.options}


def _top(detections: Detections) -> Detections:
    return Detections(detections.boxes[:TOP_K], detections.scores[:TOP_K], detections.classes[:TOP_K])


def _found(ours: Detections, theirs: Detections, threshold: float, min_iou: float) -> list[tuple[float, float]]:
    """For each of our detections >= threshold found in theirs (same class, IoU >= min_iou): (IoU, score diff)."""
    taken = np.zeros(len(theirs), bool)
    pairs = []
    for box, score, cls in zip(ours.boxes, ours.scores, ours.classes):
        if score < threshold:
            continue
        overlaps = np.where((theirs.classes == cls) & ~taken, iou(box, theirs.boxes, min_side=1.0), 0.0)
        if len(overlaps) and overlaps.max() >= min_iou:
            best = int(overlaps.argmax())
            taken[best] = True
            pairs.append((float(overlaps[best]), abs(float(score - theirs.scores[best]))))
    return pairs


def compare(reference, converted, score_threshold: float = SCORE_THRESHOLD, variant: str = "binary") -> dict:
    """Agreement of decoded detections and heatmaps between two lists of (heatmap, size, offset), with the
    thresholds --check applies to a file of `variant` (under "tolerance")."""
    tolerance = tolerance_of(variant)
    min_iou = tolerance["min_iou"]
    floor = max(0.0, score_threshold - tolerance["score_margin"])  # found on the other side down to this score
    counts = {"reference": 0, "converted": 0, "found": 0}
    ious, score_diffs, max_diffs, mean_diffs = [], [], [], []
    for ref, conv in zip(reference, converted):
        max_diffs.append(float(np.abs(ref[0] - conv[0]).max()))
        mean_diffs.append(float(np.abs(ref[0] - conv[0]).mean()))
        # The top 100 of each side are looked for among the other's top 1000: equal (saturated)
        # scores may be cut differently at the 100th place.
        ref_dets = decode(*ref, top_k=SEARCH_TOP_K, score_threshold=floor)
        conv_dets = decode(*conv, top_k=SEARCH_TOP_K, score_threshold=floor)
        forward = _found(_top(ref_dets), conv_dets, score_threshold, min_iou)
        backward = _found(_top(conv_dets), ref_dets, score_threshold, min_iou)
        counts["reference"] += int((_top(ref_dets).scores >= score_threshold).sum())
        counts["converted"] += int((_top(conv_dets).scores >= score_threshold).sum())
        counts["found"] += len(forward) + len(backward)
        ious += [pair[0] for pair in forward]
        score_diffs += [pair[1] for pair in forward]
    total = counts["reference"] + counts["converted"]
    return {
        "images": len(reference),
        "score_threshold": score_threshold,
        "min_iou": min_iou,
        "tolerance": tolerance,
        "detections_reference": counts["reference"],
        "detections_converted": counts["converted"],
        "agreement": counts["found"] / total if total else None,
        "matched_iou_min": min(ious) if ious else None,
        "matched_iou_mean": float(np.mean(ious)) if ious else None,
        "score_diff_max": max(score_diffs) if score_diffs else None,
        "score_diff_mean": float(np.mean(score_diffs)) if score_diffs else None,
        "heatmap_max_abs_diff": max(max_diffs) if max_diffs else None,
        "heatmap_mean_abs_diff": float(np.mean(mean_diffs)) if mean_diffs else None,
    }


def parity_problem(parity: dict) -> str | None:
    """Why the parity numbers fail their --check thresholds (parity["tolerance"]), or None."""
    limits = parity["tolerance"]
    if parity["agreement"] is None:
        if parity["heatmap_mean_abs_diff"] > limits["max_heatmap_mean_diff"]:
            return (
                f"no detections to compare and the heatmaps differ by {parity['heatmap_mean_abs_diff']:.4f} "
                f"on average (> {limits['max_heatmap_mean_diff']})"
            )
    elif parity["agreement"] < limits["min_agreement"]:
        return (
            f"only {parity['agreement']:.1%} of the detections (score >= {parity['score_threshold']}) match "
            f"within IoU {limits['min_iou']} with the same class (need {limits['min_agreement']:.0%})"
        )
    if parity["heatmap_max_abs_diff"] is not None and parity["heatmap_max_abs_diff"] > limits["max_heatmap_max_diff"]:
        return (
            f"a heatmap score differs by {parity['heatmap_max_abs_diff']:.4f} (> {limits['max_heatmap_max_diff']}): "
            "the runtime does not compute what Keras computes"
        )
    return None

"""Does the flatbuffer detect what the Keras model detects? Decoded detections and heatmaps compared,
the flatbuffer run as the runtime runs it (bcn.runtime.engines with its defaults: the kernels
`bcn detect` uses)."""

import numpy as np

from bcn.boxes import iou
from bcn.centernet import HEADS
from bcn.decode import Detections, decode
from bcn.defaults import SCORE_THRESHOLD  # detections compared: those a user would see
from bcn.runtime.engines import open_engine

SCORE_MARGIN = 0.05  # a detection just under the threshold on the other side still counts as found
MIN_IOU = 0.9
MIN_AGREEMENT = 0.9  # --check: share of detections found on both sides
MAX_HEATMAP_MEAN_DIFF = 0.01  # --check when no image has a detection
MAX_HEATMAP_MAX_DIFF = 0.02  # --check: no heatmap score may move more, anywhere
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


def _found(ours: Detections, theirs: Detections, threshold: float) -> list[tuple[float, float]]:
    """For each of our detections >= threshold found in theirs (same class, IoU >= MIN_IOU): (IoU, score diff)."""
    taken = np.zeros(len(theirs), bool)
    pairs = []
    for box, score, cls in zip(ours.boxes, ours.scores, ours.classes):
        if score < threshold:
            continue
        overlaps = np.where((theirs.classes == cls) & ~taken, iou(box, theirs.boxes, min_side=1.0), 0.0)
        if len(overlaps) and overlaps.max() >= MIN_IOU:
            best = int(overlaps.argmax())
            taken[best] = True
            pairs.append((float(overlaps[best]), abs(float(score - theirs.scores[best]))))
    return pairs


def compare(reference, converted, score_threshold: float = SCORE_THRESHOLD) -> dict:
    """Agreement of decoded detections and heatmaps between two lists of (heatmap, size, offset)."""
    counts = {"reference": 0, "converted": 0, "found": 0}
    ious, score_diffs, max_diffs, mean_diffs = [], [], [], []
    for ref, conv in zip(reference, converted):
        max_diffs.append(float(np.abs(ref[0] - conv[0]).max()))
        mean_diffs.append(float(np.abs(ref[0] - conv[0]).mean()))
        # The top 100 of each side are looked for among the other's top 1000: equal (saturated)
        # scores may be cut differently at the 100th place.
        ref_dets = decode(*ref, top_k=SEARCH_TOP_K, score_threshold=score_threshold - SCORE_MARGIN)
        conv_dets = decode(*conv, top_k=SEARCH_TOP_K, score_threshold=score_threshold - SCORE_MARGIN)
        forward = _found(_top(ref_dets), conv_dets, score_threshold)
        backward = _found(_top(conv_dets), ref_dets, score_threshold)
        counts["reference"] += int((_top(ref_dets).scores >= score_threshold).sum())
        counts["converted"] += int((_top(conv_dets).scores >= score_threshold).sum())
        counts["found"] += len(forward) + len(backward)
        ious += [pair[0] for pair in forward]
        score_diffs += [pair[1] for pair in forward]
    total = counts["reference"] + counts["converted"]
    return {
        "images": len(reference),
        "score_threshold": score_threshold,
        "min_iou": MIN_IOU,
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
    """Why the parity numbers fail the --check thresholds, or None."""
    if parity["agreement"] is None:
        if parity["heatmap_mean_abs_diff"] > MAX_HEATMAP_MEAN_DIFF:
            return (
                f"no detections to compare and the heatmaps differ by {parity['heatmap_mean_abs_diff']:.4f} "
                f"on average (> {MAX_HEATMAP_MEAN_DIFF})"
            )
    elif parity["agreement"] < MIN_AGREEMENT:
        return (
            f"only {parity['agreement']:.1%} of the detections (score >= {parity['score_threshold']}) match "
            f"within IoU {MIN_IOU} with the same class (need {MIN_AGREEMENT:.0%})"
        )
    if parity["heatmap_max_abs_diff"] is not None and parity["heatmap_max_abs_diff"] > MAX_HEATMAP_MAX_DIFF:
        return (
            f"a heatmap score differs by {parity['heatmap_max_abs_diff']:.4f} (> {MAX_HEATMAP_MAX_DIFF}): "
            "the runtime does not compute what Keras computes"
        )
    return None

"""`evaluate`: VOC mAP@0.5 of a model (Keras or converted .tflite) or a detections file on a data set split.

One function for `bcn eval`, `bcn demo` and Python users. A .tflite runs through bcn's
runtime and needs no TensorFlow; the precision-recall plot needs matplotlib only.
"""

import importlib.util
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from bcn import checks
from bcn.decode import Detections
from bcn.defaults import EVAL_SCORE_THRESHOLD
from bcn.errors import BcnError
from bcn.evaluation.voc_map import Evaluation, evaluate_detections
from bcn.extras import require
from bcn.progress import progress_bar

log = logging.getLogger(__name__)

# What `out` receives; detections.json only when a model ran.
OUTPUTS = ("metrics.json", "pr_curves.png", "detections.json")


@dataclass
class EvalReport:
    """What `evaluate` measured.

    evaluation: per-class APs and their means (bcn.evaluation.voc_map.Evaluation).
    metrics: what metrics.json holds: source, data, split and evaluation.as_dict().
    detections: image_id -> Detections that were scored (original-image pixels).
    detect_seconds: time spent running the model (None for a detections file).
    written: the files written to `out`.
    """

    evaluation: Evaluation
    metrics: dict
    detections: dict[str, Detections]
    detect_seconds: float | None
    written: list[Path]


def _ground_truth(roots: list[Path], split: str | None):
    """(class names, samples, split): the split asked for, else the held-out one by formats.evaluation_split."""
    from bcn.data.formats import evaluation_split, found_splits, read_class_names, scan

    class_names = list(read_class_names(roots))
    split = evaluation_split(roots, split)
    if split is None:
        raise BcnError(
            f"{roots[0]}: no test or val split to evaluate on (it has: {', '.join(found_splits(roots))}); "
            "name one with --split"
        )
    samples, problems, _ = scan(roots, split, class_names)
    for problem in problems:
        log.warning(f"warning: {problem}")
    if not samples:
        raise BcnError(f"{roots[0]}: split '{split}' has no readable images")
    return class_names, samples, split


def _progress(desc: str, unit: str, enabled: bool):
    return lambda items: progress_bar(items, desc=desc, unit=unit, enabled=enabled)


def _keras_detections(model_path: Path, samples, class_names, input_size, batch_size, score_threshold, progress):
    from bcn.evaluation.predict import load_keras_model, predict_keras
    from bcn.run_config import read_run_config, run_config_path

    require("train", "evaluating a Keras model")
    model = load_keras_model(model_path)
    num_classes = model.outputs[0].shape[-1]
    if num_classes != len(class_names):
        raise BcnError(
            f"{model_path}: the model detects {num_classes} classes but the data set has {len(class_names)} "
            f"({', '.join(class_names)})"
        )
    trained_on = (read_run_config(model_path.parent) or {}).get("classes")
    if trained_on and list(trained_on) != list(class_names):
        raise BcnError(
            f"{model_path}: trained on {', '.join(trained_on)} ({run_config_path(model_path.parent)}) "
            f"but the data set has {', '.join(class_names)}"
        )
    return predict_keras(
        model,
        samples,
        input_size,
        batch_size,
        score_threshold,
        progress=_progress(f"detecting ({batch_size} images a batch)", "batch", progress),
    )


def _model_detections(
    model_path: Path, samples, class_names, input_size, batch_size, score_threshold, engine, progress
):
    if model_path.suffix != ".tflite":
        return _keras_detections(model_path, samples, class_names, input_size, batch_size, score_threshold, progress)
    require("runtime", "evaluating a .tflite model")
    from bcn.evaluation.predict import predict_tflite

    return predict_tflite(
        model_path,
        samples,
        class_names,
        input_size,
        score_threshold,
        engine=engine,
        progress=_progress("detecting", "img", progress),
    )


def _file_detections(path: Path, samples, class_names):
    from bcn.evaluation.detections_json import read_detections_json

    detections = read_detections_json(path, class_names)
    ids = {sample.image_id for sample in samples}
    stray = sorted(set(detections) - ids)
    if stray and len(stray) == len(detections):
        raise BcnError(f"{path}: none of its image ids are in the split (e.g. {stray[0]!r})")
    if stray:
        log.warning(f"warning: {path}: detections on {len(stray)} images not in the split ignored (e.g. {stray[0]!r})")
    return {image_id: dets for image_id, dets in detections.items() if image_id in ids}


def _keep_scores_above(detections: dict[str, Detections], threshold: float) -> None:
    for dets in detections.values():
        keep = dets.scores >= threshold
        dets.boxes, dets.scores, dets.classes = dets.boxes[keep], dets.scores[keep], dets.classes[keep]


def _check_out(out: Path, inputs) -> bool:
    """Refuse an `out` that would overwrite an input; True when the plot can be drawn (matplotlib present)."""
    from bcn.io import refuse_overwriting_inputs

    refuse_overwriting_inputs([("--out", out / name) for name in OUTPUTS], inputs)
    if importlib.util.find_spec("matplotlib") is None:
        log.warning(
            f"warning: {out / 'pr_curves.png'} will not be drawn: the plot needs matplotlib (pip install matplotlib)"
        )
        return False
    return True


def _write_outputs(out: Path, report: EvalReport, class_names, with_detections: bool, plot: bool) -> None:
    """metrics.json, pr_curves.png and detections.json appear together or not at all."""
    from bcn.io import removed_if_left_empty

    names = ["metrics.json"] + (["pr_curves.png"] if plot else []) + (["detections.json"] if with_detections else [])
    with removed_if_left_empty(out):  # a failure leaves no empty folder behind
        _make_folder(out)
        _write_files(out, names, report, class_names, plot, with_detections)
    report.written = [out / name for name in names]


def _write_files(out: Path, names: list[str], report: EvalReport, class_names, plot: bool, with_detections: bool):
    """The files `names` in the existing folder `out`, together or not at all."""
    from bcn.evaluation.detections_json import to_records
    from bcn.io import atomic_outputs, json_text

    with atomic_outputs({name: out / name for name in names}) as temps:
        Path(temps["metrics.json"]).write_text(json_text(report.metrics))
        if plot:
            from bcn.evaluation.plot import pr_curves_png

            Path(temps["pr_curves.png"]).write_bytes(
                pr_curves_png(report.evaluation, Path(report.metrics["source"]).name)
            )
        if with_detections:
            Path(temps["detections.json"]).write_text(json_text(to_records(report.detections, class_names), None))


def _make_folder(out: Path) -> None:
    """Create `out` (and its parents), or a one-line BcnError naming it."""
    from bcn.io import os_reason

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BcnError(f"{out}: cannot create the folder ({os_reason(error)})") from None


def _check_arguments(model, data, split, detections, input_size, batch_size, score_threshold, out) -> None:
    """evaluate()'s arguments, by type and range, before any work (bcn.checks)."""
    checks.optional(checks.path, "model", model)
    checks.paths("data", data)
    if split is not None and not isinstance(split, str):
        raise checks.ArgumentTypeError(f"split must be a str such as 'test' or 'val', not {type(split).__name__}")
    checks.optional(checks.path, "detections", detections)
    checks.optional(checks.integer, "input_size", input_size, 32)
    checks.integer("batch_size", batch_size)
    checks.number("score_threshold", score_threshold, 0, 1)
    checks.optional(checks.path, "out", out)


def evaluate(
    model=None,
    data=(),
    split: str | None = None,
    *,
    detections=None,
    input_size: int | None = None,
    batch_size: int = 8,
    score_threshold: float = EVAL_SCORE_THRESHOLD,
    engine: str | None = None,
    out=None,
    progress: bool = True,
) -> EvalReport:
    """VOC mAP@0.5 (VOC07 11-point and all-point area) of `model`, or of a `detections` file, on a split.

    Args:
        model: a trained .h5/.keras (needs the train extra) or a converted .tflite (runtime
            extra only); exactly one of `model` and `detections`.
        data: a data set root, or a list of roots to merge (PascalVOC, COCO JSON or YOLO layout).
        split: the split to score on ("val" also finds valid and val2017); default: test, else val.
        detections: the path of a JSON file holding a list of {"image_id", "class", "score",
            "bbox": [x1, y1, x2, y2]} in original-image pixels (what `bcn detect --json-out FILE.json`
            writes), scored instead of running a model.
        input_size: for a Keras model without a fixed input size or a .tflite without bcn metadata.
        batch_size: images per Keras batch.
        score_threshold: detections scoring below it are dropped before scoring.
        engine: "lce" or "tflite" for a .tflite (default: the runtime's choice for the model).
        out: a folder for metrics.json, pr_curves.png and (for a model) detections.json; they
            appear together or not at all, and the plot is left out with a warning when
            matplotlib is missing.
        progress: show a progress bar while the model runs.

    Warnings (skipped files, a missing plot) go to the "bcn" logger.

    Returns:
        An EvalReport: `evaluation` (per-class APs, `map50_voc07`, `map50_area`), `metrics`
        (the metrics.json content), the scored `detections`, `detect_seconds` and `written`.

    A model trained on other classes than the data set's, an empty split or a bad file is
    a one-line BcnError before anything is written.

    Example:
        >>> from bcn.evaluation import evaluate
        >>> report = evaluate("runs/q1/best.h5", "VOCdevkit/VOC2007", split="test")
        >>> round(report.evaluation.map50_voc07, 3)
    """
    _check_arguments(model, data, split, detections, input_size, batch_size, score_threshold, out)
    if (model is None) == (detections is None):
        raise BcnError("give either a model or a detections file to evaluate")
    model = Path(model) if model is not None else None
    detections = Path(detections) if detections is not None else None
    if engine is not None and (model is None or model.suffix != ".tflite"):
        raise BcnError("an engine is for a .tflite model (Keras models and detections files run no interpreter)")
    roots = [Path(root) for root in ([data] if isinstance(data, (str, Path)) else data)]
    if not roots:
        raise BcnError("no data set given to evaluate on")
    out = Path(out) if out is not None else None
    plot = _check_out(out, [model, detections]) if out is not None else False
    class_names, samples, split = _ground_truth(roots, split)
    detect_seconds = None
    if detections is not None:
        found = _file_detections(detections, samples, class_names)
    else:
        started = time.monotonic()
        found = _model_detections(
            model, samples, class_names, input_size, batch_size, score_threshold, engine, progress
        )
        detect_seconds = time.monotonic() - started
    if score_threshold:
        _keep_scores_above(found, score_threshold)
    evaluation = evaluate_detections(samples, found, class_names)
    metrics = {
        "source": str(model or detections),
        "data": [str(root) for root in roots],
        "split": split,
        **evaluation.as_dict(),
    }
    report = EvalReport(evaluation, metrics, found, detect_seconds, [])
    if out is not None:
        _write_outputs(out, report, class_names, with_detections=model is not None, plot=plot)
    return report

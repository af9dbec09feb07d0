"""`bcn eval`: VOC mAP@0.5 of a model, or of detections from a file, on a data set split."""

import json
import time
from pathlib import Path

import click

from bcn.errors import BcnError
from bcn.extras import require


def _ground_truth(roots, split):
    from bcn.data.formats import read_class_names, scan

    class_names = read_class_names(roots)
    samples, problems, _ = scan(roots, split, class_names)
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)
    if not samples:
        raise BcnError(f"{roots[0]}: split '{split}' has no readable images")
    return class_names, samples


def _run_classes(model_path: Path) -> list | None:
    """The class names in the config.json `bcn train` wrote beside the model, if there is one."""
    try:
        config = json.loads((model_path.parent / "config.json").read_text())
    except (OSError, ValueError):
        return None
    is_run = isinstance(config, dict) and str(config.get("format", "")).startswith("bcn-run/")
    return config.get("classes") if is_run else None


def _model_detections(model_path: Path, samples, class_names, input_size, batch_size, score_threshold, engine=None):
    from tqdm import tqdm

    if model_path.suffix == ".tflite":
        progress = lambda items: tqdm(items, desc="detecting", unit="img", leave=False)  # noqa: E731
        require("runtime", "bcn eval of a .tflite model")
        from bcn.evaluation.predict import predict_tflite

        return predict_tflite(model_path, samples, class_names, input_size, score_threshold, progress=progress,
                              engine=engine)
    require("train", "bcn eval of a Keras model")
    from bcn.evaluation.predict import load_keras_model, predict_keras

    model = load_keras_model(model_path)
    num_classes = model.outputs[0].shape[-1]
    if num_classes != len(class_names):
        raise BcnError(f"{model_path}: the model detects {num_classes} classes but the data set has {len(class_names)} "
                       f"({', '.join(class_names)})")
    trained_on = _run_classes(model_path)
    if trained_on and list(trained_on) != list(class_names):
        raise BcnError(f"{model_path}: trained on {', '.join(trained_on)} (its config.json) but the data set has "
                       f"{', '.join(class_names)}")
    progress = lambda items: tqdm(items, desc=f"detecting ({batch_size} images a batch)", unit="batch", leave=False)  # noqa: E731
    return predict_keras(model, samples, input_size, batch_size, score_threshold, progress=progress)


def _file_detections(path: Path, samples, class_names):
    from bcn.evaluation.detections_json import read_detections_json

    detections = read_detections_json(path, class_names)
    ids = {sample.image_id for sample in samples}
    stray = sorted(set(detections) - ids)
    if stray and len(stray) == len(detections):
        raise BcnError(f"{path}: none of its image ids are in the split (e.g. {stray[0]!r})")
    if stray:
        click.echo(f"warning: {path}: detections on {len(stray)} images not in the split ignored (e.g. {stray[0]!r})", err=True)
    return {image_id: dets for image_id, dets in detections.items() if image_id in ids}


def _format(result) -> str:
    fmt = lambda v: "   n/a" if v is None else f"{v:6.3f}"  # noqa: E731
    width = max(len("class"), *(len(c.name) for c in result.per_class))
    lines = [f"{'class':<{width}}  {'gt':>5}  {'dets':>6}  {'AP07':>6}  {'AParea':>6}"]
    for c in result.per_class:
        lines.append(f"{c.name:<{width}}  {c.num_gt:5d}  {c.num_detections:6d}  {fmt(c.ap_voc07)}  {fmt(c.ap_area)}")
    lines.append(f"{'mAP@0.5':<{width}}  {'':5}  {'':6}  {fmt(result.map50_voc07)}  {fmt(result.map50_area)}")
    return "\n".join(lines)


@click.command("eval")
@click.argument("model", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data", "-d", "roots", multiple=True, required=True, type=click.Path(exists=True, file_okay=False),
              help="Data set root (PascalVOC, COCO JSON or YOLO layout, detected); repeat to merge several.")
@click.option("--split", default="test", show_default=True, help="Split to evaluate on (val also finds valid, val2017).")
@click.option("--detections", type=click.Path(dir_okay=False, path_type=Path),
              help="Score detections from this JSON file instead of running a model.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for metrics.json, pr_curves.png and (for a model) detections.json.")
@click.option("--input-size", "-z", type=click.IntRange(min=32), help="Input size, for a model without a fixed one or a .tflite without bcn metadata.")
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=8, show_default=True, help="Images per Keras batch.")
@click.option("--score-threshold", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="Detections below this score are dropped before scoring.")
@click.option("--engine", type=click.Choice(["lce", "tflite"]),
              help="Interpreter for a .tflite MODEL: lce (LCE's own) or tflite (LiteRT; binary layers run through "
                   "bcn's LCE delegate). Default: chosen per model and machine.")
def evaluate(model, roots, split, detections, as_json, out, input_size, batch_size, score_threshold, engine):
    """VOC mAP@0.5 (VOC07 11-point and all-point area) of MODEL on a data set split.

    MODEL is a trained .h5/.keras or a converted .tflite. With --detections,
    DETS.json is scored instead: a list of {"image_id", "class", "score",
    "bbox": [x1, y1, x2, y2]} in original-image pixels as in the VOC XML.
    Difficult objects neither count nor penalise; duplicates are false positives;
    a class without ground truth in the split has no AP and is left out of the mean.

    \b
    bcn eval runs/small/best.h5 --data data/synth --out runs/small/eval
    bcn eval model.tflite --data VOCdevkit/VOC2007 --split test --json
    bcn eval --detections dets.json --data VOCdevkit/VOC2007 --split test --json
    """
    if (model is None) == (detections is None):
        raise click.UsageError("give either MODEL or --detections DETS.json")
    if engine is not None and (model is None or model.suffix != ".tflite"):
        raise click.UsageError("--engine is for a .tflite MODEL (Keras models and --detections run no interpreter)")
    from bcn.evaluation.voc_map import evaluate_detections
    from bcn.io import refuse_overwriting_inputs

    if out is not None:
        refuse_overwriting_inputs([("--out", out / name) for name in OUTPUTS], [model, detections])
    roots = [Path(root) for root in roots]
    class_names, samples = _ground_truth(roots, split)
    if detections is not None:
        found = _file_detections(detections, samples, class_names)
    else:
        started = time.monotonic()
        found = _model_detections(model, samples, class_names, input_size, batch_size, score_threshold, engine)
        click.echo(f"detected on {len(samples)} images in {time.monotonic() - started:.1f} s", err=True)
    if score_threshold:
        for dets in found.values():
            keep = dets.scores >= score_threshold
            dets.boxes, dets.scores, dets.classes = dets.boxes[keep], dets.scores[keep], dets.classes[keep]
    result = evaluate_detections(samples, found, class_names)
    metrics = {"source": str(model or detections), "data": [str(r) for r in roots], "split": split, **result.as_dict()}
    if out is not None:
        _write_outputs(out, metrics, result, found if model is not None else None, class_names)
    if as_json:
        click.echo(json.dumps(metrics, indent=2))
    else:
        click.echo(f"{metrics['source']} on {split} ({result.num_images} images)")
        click.echo(_format(result))
        if out is not None:
            click.echo(f"wrote {out}/metrics.json, {out}/pr_curves.png")


OUTPUTS = ("metrics.json", "pr_curves.png", "detections.json")


def _write_outputs(out: Path, metrics, result, detections, class_names) -> None:
    require("train", "bcn eval --out (the precision-recall plot needs matplotlib)")
    from bcn.evaluation.plot import plot_pr_curves
    from bcn.io import atomic_output

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BcnError(f"{out}: cannot create the folder ({error.strerror})") from None
    plot_pr_curves(result, out / "pr_curves.png", title=Path(metrics["source"]).name)
    with atomic_output(out / "metrics.json") as tmp:
        Path(tmp).write_text(json.dumps(metrics, indent=2) + "\n")
    if detections is not None:
        from bcn.evaluation.detections_json import to_records

        with atomic_output(out / "detections.json") as tmp:
            Path(tmp).write_text(json.dumps(to_records(detections, class_names)) + "\n")

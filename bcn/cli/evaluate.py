"""`bcn eval`: VOC mAP@0.5 of a model, or of detections from a file, on a data set split."""

import json
from pathlib import Path

import click

from bcn.cli.options import data_roots_option, engine_option, input_size_option
from bcn.defaults import EVAL_SCORE_THRESHOLD


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
@data_roots_option("roots")
@click.option("--split", help="Split to evaluate on (val also finds valid, val2017)  [default: test, else val]")
@click.option(
    "--detections",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Score detections from this JSON file instead of running a model.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for metrics.json, pr_curves.png and (for a model) detections.json.",
)
@input_size_option(32, "Input size, for a model without a fixed one or a .tflite without bcn metadata.")
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=8, help="Images per Keras batch.")
@click.option(
    "--score-threshold",
    type=click.FloatRange(0, 1),
    default=EVAL_SCORE_THRESHOLD,
    help="Detections below this score are dropped before scoring.",
)
@engine_option("a .tflite MODEL")
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
    from bcn.evaluation import evaluate as run_evaluation

    if (model is None) == (detections is None):
        raise click.UsageError("give either MODEL or --detections DETS.json")
    if engine is not None and (model is None or model.suffix != ".tflite"):
        raise click.UsageError("--engine is for a .tflite MODEL (Keras models and --detections run no interpreter)")
    from bcn.progress import log

    report = run_evaluation(
        model,
        roots,
        split,
        detections=detections,
        input_size=input_size,
        batch_size=batch_size,
        score_threshold=score_threshold,
        engine=engine,
        out=out,
    )
    if report.detect_seconds is not None:
        log.info(f"detected on {report.evaluation.num_images} images in {report.detect_seconds:.1f} s")
    if as_json:
        click.echo(json.dumps(report.metrics, indent=2))
    else:
        click.echo(f"{report.metrics['source']} on {report.metrics['split']} ({report.evaluation.num_images} images)")
        click.echo(_format(report.evaluation))
        if report.written:
            click.echo(f"wrote {', '.join(map(str, report.written))}")

"""`bcn convert`: Keras detector -> LCE flatbuffer, full-precision baselines and a parity report."""

import click

from bcn.cli.options import OUTPUT_FILE, POSITIVE_INT
from bcn.defaults import CALIBRATION_IMAGES, PARITY_SAMPLES, REST_PRECISION, SCORE_THRESHOLD
from bcn.extras import require


def _mib(size: int) -> str:
    return f"{size / 2**20:.2f} MiB"


def _number(value, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def _parity_line(variant: str, parity: dict) -> str:
    return (
        f"parity  {variant} vs Keras on {parity['images']} images, detections >= {parity['score_threshold']}: "
        f"{parity['detections_reference']} Keras / {parity['detections_converted']} runtime, "
        f"agreement {_number(parity['agreement'], '.1%')} (same class, IoU >= {parity['min_iou']}), "
        f"score diff max {_number(parity['score_diff_max'], '.4f')}, "
        f"matched IoU min {_number(parity['matched_iou_min'], '.3f')}; "
        f"heatmap abs diff max {_number(parity['heatmap_max_abs_diff'], '.4f')} "
        f"mean {_number(parity['heatmap_mean_abs_diff'], '.5f')} "
        f"[{parity['check']}]"
    )


def format_report(report: dict) -> str:
    """The conversion report as a few readable lines."""
    cost, layers, main = report["cost"], report["binary_layers"], report["main"]
    lines = [
        f"model   {report['model']}: {report['input_size']}x{report['input_size']}, {len(report['classes'])} classes, "
        f"spec {report['spec']}",
        f"cost    {cost['macs'] / 1e9:.3f} GMACs, rb {cost['binary_ratio']:.4f}, {cost['eq_flops'] / 1e9:.3f} eq GFLOP",
        f"binary  {layers['keras_binary_convs']} binary conv layers -> {layers['LceBconv2d']} LceBconv2d"
        if layers["keras_binary_convs"]
        else f"binary  none: a float model, written as a {report['files'][main]['variant']} TFLite",
        "ops     " + ", ".join(f"{name} {count}" for name, count in report["files"][main]["ops"].items()),
    ]
    calibration = report.get("calibration")
    if calibration:
        lines.append(f"int8    ranges calibrated on {calibration['images']} images of {calibration['source']}")
    lines.append("files")
    main_size = report["files"][main]["bytes"]
    for variant, entry in report["files"].items():
        ratio = f"  {entry['bytes'] / main_size:.1f}x the main file" if variant != main else ""
        weights = f", {entry['weights']} weights" if "weights" in entry else ""
        lines.append(
            f"  {entry['variant']:11} {entry['engine']:6} {_mib(entry['bytes']):>11}  {entry['path']}{ratio}{weights}"
        )
    lines += [
        _parity_line(report["files"][variant]["variant"], parity) for variant, parity in report["parities"].items()
    ]
    return "\n".join(lines)


def _baselines(ctx, param, value):
    return tuple(part.strip() for part in value.split(",") if part.strip()) if value else ()


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=OUTPUT_FILE, help="The LCE flatbuffer to write [default: MODEL with .tflite].")
@click.option(
    "--baselines",
    callback=_baselines,
    default="",
    help="Also write other variants beside it: binary or binary-int8 (the binary model with the other --rest), "
    "float32, int8 (the float twin).",
)
@click.option(
    "--rest",
    type=click.Choice(["float32", "int8"]),
    default=REST_PRECISION,
    help="Precision of the binary model's full-precision layers (stem, transitions, decoder, heads): int8 "
    "writes variant binary-int8, calibrated on --data or the run's data.",
)
@click.option(
    "--calibration-images",
    type=POSITIVE_INT,
    default=CALIBRATION_IMAGES,
    help="Images whose activation ranges calibrate the int8 variants.",
)
@click.option(
    "--float-model",
    type=click.Path(dir_okay=False),
    help="A trained float twin (.h5/.keras) for the baselines [default: fresh weights].",
)
@click.option(
    "--data",
    "data_root",
    type=click.Path(file_okay=False),
    help="Data set (PascalVOC, COCO or YOLO) or image folder for parity and int8 calibration images "
    "[default: the run's data to calibrate, generated images for parity].",
)
@click.option("--report", type=OUTPUT_FILE, help="Where to write the JSON report [default: OUTPUT_report.json].")
@click.option("--check", is_flag=True, help="Fail (and write nothing) if LCE and Keras detections disagree.")
@click.option(
    "--score-threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=SCORE_THRESHOLD,
    help="Parity compares detections scoring at least this.",
)
@click.option("--samples", type=POSITIVE_INT, default=PARITY_SAMPLES, help="Images for the parity check.")
def convert(model, output, baselines, rest, calibration_images, float_model, data_root, report, check, **options):
    """Convert a trained Keras MODEL (.h5/.keras) to an LCE flatbuffer for ARM CPUs.

    Every binary conv becomes a bitpacked LceBconv2d (checked against the Keras model).
    Each .tflite carries its classes, input size, preprocessing and head layout as "bcn"
    metadata, so the runtime needs nothing else. Prints and writes a report: op
    histogram, file sizes and LCE-vs-Keras parity.

    \b
    Examples:
      bcn convert runs/q1/model.h5
      bcn convert runs/q1/model.h5 --rest int8 --baselines binary,int8
      bcn convert runs/q1/model.h5 --baselines float32,int8 --data VOCdevkit/VOC2007 --check
      bcn convert runs/q1/model.h5 --baselines float32 --float-model runs/q1-float/model.h5
    """
    require("convert", "bcn convert")
    from bcn.converters.convert import ParityError
    from bcn.converters.convert import convert as run_convert

    try:
        result = run_convert(
            model,
            output,
            baselines=baselines,
            data_root=data_root,
            float_model=float_model,
            report=report,
            check=check,
            rest=rest,
            calibration_images=calibration_images,
            **options,
        )
    except ParityError as error:
        click.echo(format_report(error.report))
        raise
    click.echo(format_report(result))
    click.echo(f"report  {result['report']}")

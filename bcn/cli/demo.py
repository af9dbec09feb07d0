"""`bcn demo`."""

from pathlib import Path

import click

from bcn.cli.options import THREAD_COUNTS, input_size_option
from bcn.defaults import BENCH_RUNS
from bcn.demo import DEMO_EPOCHS, DEMO_IMAGES, DEMO_INPUT_SIZE, DEMO_OUT, DEMO_SEED
from bcn.extras import import_tensorflow, require


@click.command()
@click.option(
    "--out",
    "-o",
    default=DEMO_OUT,
    type=click.Path(file_okay=False, path_type=Path),
    help="Report folder (created; an earlier demo report there is replaced).",
)
@click.option(
    "--epochs",
    "-e",
    type=click.IntRange(min=1),
    help=f"Training epochs of each model [default: {DEMO_EPOCHS}; with --minutes, the most each may train].",
)
@click.option(
    "--minutes",
    "-m",
    type=click.FloatRange(min=0.05),
    help="Train for this time instead, the binary model and its float twin together (a slower or busier "
    "machine then trains fewer epochs; the report says how many).",
)
@click.option("--images", default=DEMO_IMAGES, type=click.IntRange(min=20), help="Images to generate.")
@click.option(
    "--data",
    "data_root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Run on this data set (PascalVOC, COCO JSON or YOLO layout) instead of generating one.",
)
@click.option("--arch", default=None, help="Architecture to train (default: a small QuickNet CenterNet).")
@input_size_option(32, "Input size of the trained models.", default=DEMO_INPUT_SIZE)
@click.option("--threads", type=THREAD_COUNTS, default="1,2", help="Thread counts to benchmark.")
@click.option("--runs", default=BENCH_RUNS, type=click.IntRange(min=1), help="Timed runs per model.")
@click.option("--seed", default=DEMO_SEED, type=click.IntRange(min=0), help="Seed of data and training.")
def demo(out, epochs, minutes, images, data_root, arch, input_size, threads, runs, seed):
    """Generate data, train, evaluate, convert, benchmark and detect, then write a report.

    Trains a fixed number of epochs: 11 to 15 minutes in all on a quiet 2-core CPU with the
    defaults; a busier or slower machine takes longer and says how long after the first
    epoch. Everything it makes (models, data, figures) lands in --out, with report.md as
    the entry point. With --data it trains on your data set instead (its test split, else
    val, is held out).
    """
    from bcn.arch.resolve import resolve
    from bcn.demo import DEMO_ARCH

    arch = arch or DEMO_ARCH
    architecture = resolve(arch)
    if architecture.spec is not None:
        architecture.spec.with_input_size(input_size)
    require("convert", "bcn demo")
    import_tensorflow("bcn demo")
    from bcn.demo import run_demo

    if data_root is not None:
        from bcn.data.formats import detect_format

        detect_format(data_root)  # not a data set: fail before minutes of work
        if out.resolve() in (data_root.resolve(), *data_root.resolve().parents):
            raise click.UsageError(f"--out {out} would replace the data set {data_root}")
    summary = run_demo(out, images, arch, input_size, threads, runs, seed, data_root, epochs=epochs, minutes=minutes)
    binary = summary["evaluation"]["binary_keras"]["map50_voc07"]
    floating = summary["evaluation"]["float_keras"]["map50_voc07"]
    click.echo(
        f"mAP@0.5 (VOC07): binary {binary:.3f}, float twin {floating:.3f}; "
        f"{summary['total_seconds'] / 60:.1f} min in all"
    )
    click.echo(f"report: {out / 'report.md'}")

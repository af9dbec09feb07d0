"""`bcn data`: generate and check detection data sets."""

import click

from bcn.extras import require


@click.group()
def data():
    """Generate detection data sets (PascalVOC layout) and check them (PascalVOC, COCO or YOLO)."""


@data.command()
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--images", "-n", type=click.IntRange(min=1), required=True, help="Number of images.")
@click.option("--size", "-z", type=click.IntRange(min=32), default=128, help="Long side of the images in pixels.")
@click.option(
    "--seed", "-s", type=click.IntRange(min=0), default=0, help="Random seed; the same seed gives the same files."
)
@click.option(
    "--test-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.25,
    help="Share of images in the test split.",
)
def synth(out, images, size, seed, test_fraction):
    """Write a generated detection data set in PascalVOC layout to OUT.

    Six shape classes (named in OUT/classes.txt) of varied size, colour and overlap
    on cluttered backgrounds, with train, val, trainval and test split files (one
    left without images is not written: training then evaluates on val, or on nothing).
    Tiny objects are marked difficult. OUT must not exist or be empty.

    \b
    bcn data synth data/synth --images 2000
    """
    require("runtime", "bcn data synth")
    from bcn.data.synth import SHAPES, write_synth
    from bcn.progress import progress_bar

    write_synth(
        out,
        images,
        size=size,
        seed=seed,
        test_fraction=test_fraction,
        progress=lambda ids: progress_bar(ids, desc="images", unit="img"),
    )
    click.echo(f"wrote {out}: {images} images, classes {', '.join(SHAPES)}")


@data.command()
@click.argument("roots", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
def check(roots):
    """Validate the data set at ROOTS (several are merged) and count objects per class.

    Each root's layout is detected: PascalVOC (Annotations/, ImageSets/Main/), COCO
    JSON (annotations/instances_<split>.json or <split>/_annotations.coco.json) or
    YOLO (data.yaml, images/ and labels/). Every annotation is parsed and every image
    decoded; each problem is printed with its file name (and line, for YOLO labels),
    and so is a split with images but no objects. Prints the splits found and the
    ones `bcn train` (training, evaluation) and `bcn eval` use by default.
    Exits with 1 when there are problems.

    \b
    bcn data check VOCdevkit/VOC2007 VOCdevkit/VOC2012
    bcn data check datasets/coco128
    """
    require("runtime", "bcn data check")
    from bcn.data.check import check_dataset, format_report, format_splits

    report = check_dataset(roots)
    for root, layout in report.layouts.items():
        click.echo(f"{layout}: {root}")
    click.echo(f"splits: {', '.join(report.images)}")
    click.echo(format_splits(report))
    click.echo(f"classes: {len(report.class_names)}   objects per split (difficult in brackets)")
    click.echo(format_report(report))
    for problem in report.problems:
        click.echo(f"problem: {problem}", err=True)
    if report.problems:
        click.echo(f"{len(report.problems)} problems found", err=True)
        raise SystemExit(1)
    click.echo("no problems found")

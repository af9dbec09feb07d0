"""`bcn bench`: latency of converted models against their full-precision twins."""

import importlib.util
from pathlib import Path

import click

from bcn.cli.options import OUTPUT_FILE, THREAD_COUNTS, engine_option, input_size_option
from bcn.defaults import BENCH_RUNS, BENCH_WARMUP, MAX_THREADS
from bcn.errors import BcnError
from bcn.extras import require

PLOT_FORMATS = (".png", ".svg", ".pdf")


def _classes(value: str | None) -> list[str] | None:
    if not value:
        return None
    path = Path(value)
    if path.is_file():
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return [name.strip() for name in value.split(",") if name.strip()]


@click.command("bench")
@click.argument("models", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--threads",
    "-t",
    type=THREAD_COUNTS,
    default="1",
    help=f"Thread counts to measure, comma-separated (e.g. 1,2,4), each 1 to {MAX_THREADS}.",
)
@click.option(
    "--runs", "-n", type=click.IntRange(min=1), default=BENCH_RUNS, help="Measured runs per model and thread count."
)
@click.option("--warmup", "-w", type=click.IntRange(min=0), default=BENCH_WARMUP, help="Unmeasured runs first.")
@engine_option("every model")
@click.option("--xnnpack/--no-xnnpack", default=None, help="XNNPACK for float ops (default: on).")
@click.option(
    "--indirect-bgemm/--no-indirect-bgemm",
    default=None,
    help="LCE's indirect BGEMM binary-conv kernel (default: on for x86_64, off elsewhere).",
)
@click.option("--reference-bconv", is_flag=True, default=None, help="LCE's reference binary conv (slow; for checking).")
@click.option(
    "--kernel",
    default=None,
    help="Inner loop of bcn's LCE delegate (tflite engine): auto (the fastest this CPU has, or $BCN_LCE_KERNEL) "
    "or one of the delegate's kernel paths (a name it lacks is refused with the list).",
)
@click.option(
    "--sweep",
    is_flag=True,
    help="Measure every kernel option combination of each model's engine (LCE: indirect BGEMM x XNNPACK; "
    "TFLite: XNNPACK and each kernel path of bcn's delegate), and binary models on both engines unless "
    "--engine is given; ratios use each model's fastest.",
)
@click.option(
    "--image",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Image to run detect on (default: a fixed 640x480 test image).",
)
@input_size_option(1, "Input size of a .tflite without bcn metadata (runs it with a warning).")
@click.option(
    "--classes", help="Class names of a .tflite without bcn metadata: comma-separated or a file with one per line."
)
@click.option(
    "--profile",
    is_flag=True,
    help="Also time each layer bcn's LCE delegate runs (op, node, shapes, MACs, ms, binary GMAC/s, share) "
    "and the rest of the model, for binary models on the tflite engine.",
)
@click.option("--json", "json_path", type=OUTPUT_FILE, help="Write the full report as JSON.")
@click.option("--markdown", "markdown_path", type=OUTPUT_FILE, help="Write the tables as Markdown.")
@click.option(
    "--plot", "plot_path", type=OUTPUT_FILE, help="Write a latency bar chart (PNG/SVG/PDF; needs matplotlib)."
)
@click.option(
    "--lce-benchmark-binary",
    type=click.Path(dir_okay=False, path_type=Path),
    help="LCE's lce_benchmark_model, for LCE models where the LCE wheel is missing (aarch64 Linux); "
    "found on PATH otherwise.",
)
def bench(
    models,
    threads,
    runs,
    warmup,
    engine,
    xnnpack,
    indirect_bgemm,
    reference_bconv,
    kernel,
    sweep,
    profile,
    image,
    input_size,
    classes,
    json_path,
    markdown_path,
    plot_path,
    lce_benchmark_binary,
):
    """Measure latency of MODELS (.tflite from `bcn convert`), side by side.

    Per model and thread count: the interpreter call alone and the whole detect
    (letterbox + run + decode), as mean/p50/p90/p99 and FPS, with file size, memory and
    the model's MACs. Models run interleaved round-robin in one process, so a binary
    model and its float32/int8 twins see the same machine noise; models of the same
    architecture are compared side by side.

    \b
    Example:
      bcn bench q1.tflite q1_float32.tflite q1_int8.tflite --threads 1,2 --json bench.json
    """
    require("runtime", "bcn bench")
    from bcn.images import read_image
    from bcn.io import refuse_overwriting_inputs, write_json, write_text
    from bcn.runtime.bench import benchmark
    from bcn.runtime.bench_report import format_markdown, format_text, plot_latency

    refuse_overwriting_inputs(
        [("--json", json_path), ("--markdown", markdown_path), ("--plot", plot_path)],
        [*models, image, lce_benchmark_binary],
    )
    if plot_path:
        if plot_path.suffix.lower() not in PLOT_FORMATS:
            raise BcnError(f"{plot_path}: the plot is written as {', '.join(PLOT_FORMATS)}; pick one of those suffixes")
        if importlib.util.find_spec("matplotlib") is None:
            raise BcnError(f"{plot_path}: --plot needs matplotlib, which is not installed: pip install matplotlib")
    report = benchmark(
        models,
        threads=threads,
        runs=runs,
        warmup=warmup,
        engine=engine,
        options={
            "use_xnnpack": xnnpack,
            "use_indirect_bgemm": indirect_bgemm,
            "use_reference_bconv": reference_bconv,
            "kernel": kernel,
        },
        image=read_image(image) if image else None,
        input_size=input_size,
        classes=_classes(classes),
        lce_benchmark_binary=lce_benchmark_binary,
        sweep=sweep,
        profile=profile,
    )
    click.echo(format_text(report))
    if json_path:
        write_json(json_path, report)
        click.echo(f"wrote {json_path}")
    if markdown_path:
        write_text(markdown_path, format_markdown(report))
        click.echo(f"wrote {markdown_path}")
    if plot_path:
        plot_latency(report, plot_path)
        click.echo(f"wrote {plot_path}")

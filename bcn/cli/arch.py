"""`bcn arch`: design architectures in the paper's notation and see their cost."""

import json

import click

from bcn.arch.notation import DEFAULT_SEED
from bcn.cli.options import KERAS_MODEL_FILE, OUTPUT_FILE, POSITIVE_INT, THREAD_COUNT
from bcn.defaults import MAX_THREADS
from bcn.extras import import_tensorflow, require


def _design(spec: str, input_size: int | None = None, float_twin: bool = False, seed: int = DEFAULT_SEED):
    """The resolved design: a bad spec or input size fails here, in one line, before TensorFlow loads."""
    from bcn.arch.resolve import resolve

    return resolve(spec, float_twin, seed, input_size)


def _giga(value: float) -> str:
    return f"{value / 1e9:.2f}"


def _mib(value: float) -> str:
    return f"{value / 2**20:.2f}"


def format_cost(name: str, cost: dict) -> str:
    """A human-readable cost table with a per-section breakdown."""
    rows = [("section", "GMACs", "binary GMACs", "rb", "eq GFLOP", "params", "MiB (1-bit)", "MiB (32-bit)")]
    for section, c in [*cost["sections"].items(), ("total", cost)]:
        rows.append(
            (
                section,
                _giga(c["macs"]),
                _giga(c["binary_macs"]),
                f"{c['binary_ratio']:.4f}",
                _giga(c["eq_flops"]),
                f"{c['params']:,}",
                _mib(c["size_bytes"]),
                _mib(c["size_fp32_bytes"]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"{name} at {cost['input_size']}x{cost['input_size']}"]
    for index, row in enumerate(rows):
        cells = enumerate(zip(row, widths, strict=True))
        lines.append("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in cells))
        if index == 0 or index == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


input_size_option = click.option(
    "--input-size", "-z", type=POSITIVE_INT, help="Input size z (overrides the spec's); a multiple of 32."
)
num_classes_option = click.option("--num-classes", "-c", type=POSITIVE_INT, default=20, help="Number of classes C.")
float_twin_option = click.option(
    "--float-twin", is_flag=True, help="Make every binary conv full precision (the fair float baseline)."
)
seed_option = click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=DEFAULT_SEED,
    help="Seed that draws the binary blocks of a random spec (':pP').",
)


@click.group()
def arch():
    """Design detectors in the paper's notation and count their cost."""


@arch.command()
@click.argument("spec")
@input_size_option
@num_classes_option
@float_twin_option
@seed_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with raw counts.")
def info(spec, input_size, num_classes, float_twin, seed, as_json):
    """MACs, binary MACs, rb, equivalent FLOPs, parameters and size of SPEC.

    SPEC is a preset (q0-q5, q2a-q2e, rtb, rn50, rn50-256), a spec string or a .py
    builder file. For a random spec (':pP'), the drawn mask is shown; --seed draws another.
    """
    _design(spec, input_size, float_twin, seed)
    import_tensorflow("bcn arch info")
    from bcn.arch.cost import design_cost

    cost = design_cost(spec, input_size, num_classes, float_twin, seed)
    if as_json:
        click.echo(json.dumps(cost, indent=2))
    else:
        click.echo(f"spec: {cost['spec']}{'  (float twin)' if cost['float_twin'] else ''}")
        if cost["drawn"]:
            click.echo(f"drawn (seed {seed}): {cost['drawn']}")
        click.echo(format_cost(spec, cost))


@arch.command("list")
@input_size_option
@seed_option
@click.option("--json", "as_json", is_flag=True, help="Print the presets and their figures as JSON.")
def list_(input_size, seed, as_json):
    """The paper's presets: spec, computed figures, and the paper's Table 2 row and mAP.

    Figures at each preset's own input size (512; rn50-256 at 256) unless --input-size.
    """
    import_tensorflow("bcn arch list")
    from bcn.arch.sweep import preset_rows

    rows = preset_rows(input_size, seed)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(row["name"]) for row in rows)
    click.echo(f"{'name':{width}}    z  {'GMACs':>6} {'rb':>6} {'eqGFLOP':>7} {'Mparams':>7}  spec")
    for row in rows:
        twin = " (float twin)" if row["float_twin"] else ""
        click.echo(
            f"{row['name']:{width}} {row['input_size']:4d}  {row['macs'] / 1e9:6.2f} {row['binary_ratio']:6.4f} "
            f"{row['eq_flops'] / 1e9:7.2f} {row['params'] / 1e6:7.2f}  {row['spec']}{twin}"
        )
        click.echo(f"{'':{width + 37}}{row['note']}")


@arch.command()
@click.argument("spec")
@click.option(
    "--output", "-o", type=KERAS_MODEL_FILE, required=True, help="Where to write the Keras model (.h5 or .keras)."
)
@input_size_option
@num_classes_option
@float_twin_option
@seed_option
def build(spec, output, input_size, num_classes, float_twin, seed):
    """Write SPEC's untrained model, to convert and benchmark a design before training."""
    from bcn.io import atomic_output, refuse_overwriting_inputs

    refuse_overwriting_inputs([("--output", output)], [spec if spec.strip().endswith(".py") else None])
    architecture = _design(spec, input_size, float_twin, seed)
    import_tensorflow("bcn arch build")
    from bcn.arch.model import build_model, save_model

    model = build_model(architecture, input_size, num_classes, float_twin)
    with atomic_output(output) as tmp:
        save_model(model, tmp)
    click.echo(f"wrote {output} ({model.name}, {model.count_params():,} params)")


@arch.command()
@click.argument("specs", nargs=-1, required=True)
@input_size_option
@num_classes_option
@seed_option
@click.option(
    "--measure", is_flag=True, help="Build, convert (LCE + float32 twin) and benchmark each design on this machine."
)
@click.option(
    "--results",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A `bcn eval --json` output (or a run's eval.json) whose mAP goes on the row of its spec; repeat.",
)
@click.option("--runs", type=click.IntRange(min=1), default=10, help="Measured runs per model (--measure).")
@click.option("--threads", type=THREAD_COUNT, default=1, help=f"Interpreter threads, 1 to {MAX_THREADS} (--measure).")
@click.option(
    "--keep", type=click.Path(file_okay=False), help="Keep the measured models (.h5, .tflite) in this folder."
)
@click.option("--json", "json_path", type=OUTPUT_FILE, help="Write the rows as JSON.")
@click.option("--markdown", "markdown_path", type=OUTPUT_FILE, help="Write the table as Markdown.")
@click.option("--csv", "csv_path", type=OUTPUT_FILE, help="Write the rows as CSV (raw counts).")
@click.option(
    "--plot",
    "plot_path",
    type=OUTPUT_FILE,
    help="Write the paper's Fig. 1: eq GFLOP (log) vs mAP and vs latency, rb as colour (PNG/SVG/PDF).",
)
def sweep(
    specs,
    input_size,
    num_classes,
    seed,
    measure,
    results,
    runs,
    threads,
    keep,
    json_path,
    markdown_path,
    csv_path,
    plot_path,
):
    """The cost of many designs in one table, and the paper's Fig. 1.

    SPECS are presets or spec strings. mAP is yours where --results names a model of
    that spec, else the paper's for a preset at its own input size. With --measure
    each design (untrained) is converted and its binary model and float twin timed
    with the runtime's default engines.

    \b
    bcn arch sweep q0 q1 q2 q2b q2c q2d q2e q3 q4 q5 rtb rn50 --plot fig1.png
    bcn arch sweep q1 q2 q3 --input-size 256 --measure --markdown sweep.md --plot sweep.png
    """
    from bcn.io import refuse_overwriting_inputs

    refuse_overwriting_inputs(
        [("--json", json_path), ("--markdown", markdown_path), ("--csv", csv_path), ("--plot", plot_path)],
        [*results, *(text for text in specs if text.strip().endswith(".py"))],
    )
    for text in specs:
        _design(text, input_size, seed=seed)
    if measure:
        require("convert", "bcn arch sweep --measure")
    else:
        import_tensorflow("bcn arch sweep")
    from bcn.arch.sweep import attach_results, cost_rows
    from bcn.arch.sweep import measure as measure_rows
    from bcn.arch.sweep_report import format_csv, format_table, plot_fig1

    rows = cost_rows(specs, input_size, seed, num_classes)
    attach_results(rows, results)
    if measure:
        measure_rows(rows, num_classes, runs=runs, threads=threads, keep=keep)
    click.echo(format_table(rows))
    from bcn.io import json_text, write_text

    for path, text in (
        (json_path, lambda: json_text(rows)),
        (markdown_path, lambda: format_table(rows, markdown=True)),
        (csv_path, lambda: format_csv(rows)),
    ):
        if path:
            write_text(path, text())
            click.echo(f"wrote {path}")
    if plot_path:
        plot_fig1(rows, plot_path)
        click.echo(f"wrote {plot_path}")

"""`bcn arch`: design architectures in the paper's notation and see their cost."""

import json

import click

from bcn.extras import import_tensorflow

ARCH_HELP = "A preset (q0-q5, q2e, rn50), a spec string like 'qn(512) qn([4x128, ...]) tp(2)([...]) h(32)', or a .py file defining build()."


def _model(spec: str, input_size: int | None, num_classes: int, float_twin: bool):
    from bcn.arch.resolve import resolve

    arch = resolve(spec, float_twin)  # bad specs fail here, before TensorFlow loads
    if arch.spec is not None and input_size:
        arch.spec.with_input_size(input_size)
    import_tensorflow("bcn arch")
    from bcn.arch.model import build_model

    return build_model(arch, input_size, num_classes, float_twin)


def _giga(value: float) -> str:
    return f"{value / 1e9:.2f}"


def _mib(value: float) -> str:
    return f"{value / 2**20:.2f}"


def format_cost(name: str, cost: dict) -> str:
    """A human-readable cost table with a per-section breakdown."""
    rows = [("section", "GMACs", "binary GMACs", "rb", "eq GFLOP", "params", "MiB (1-bit)", "MiB (32-bit)")]
    for section, c in [*cost["sections"].items(), ("total", cost)]:
        rows.append((
            section, _giga(c["macs"]), _giga(c["binary_macs"]), f"{c['binary_ratio']:.4f}",
            _giga(c["eq_flops"]), f"{c['params']:,}", _mib(c["size_bytes"]), _mib(c["size_fp32_bytes"]),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"{name} at {cost['input_size']}x{cost['input_size']}"]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))))
        if index == 0 or index == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _positive(ctx, param, value):
    if value is not None and value <= 0:
        raise click.BadParameter(f"must be positive, got {value}")
    return value


input_size_option = click.option("--input-size", "-z", type=int, callback=_positive, help="Input size z (overrides the spec's); a multiple of 32.")
num_classes_option = click.option("--num-classes", "-c", type=int, default=20, show_default=True, callback=_positive, help="Number of classes C.")
float_twin_option = click.option("--float-twin", is_flag=True, help="Make every binary conv full precision (the fair float baseline).")


@click.group()
def arch():
    """Design detectors in the paper's notation and count their cost."""


@arch.command()
@click.argument("spec")
@input_size_option
@num_classes_option
@float_twin_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with raw counts.")
def info(spec, input_size, num_classes, float_twin, as_json):
    """MACs, binary MACs, rb, equivalent FLOPs, parameters and size of SPEC.

    SPEC is a preset (q0-q5, q2e, rn50), a spec string or a .py builder file.
    """
    from bcn.arch.resolve import resolve

    model = _model(spec, input_size, num_classes, float_twin)
    from bcn.arch.cost import model_cost

    arch = resolve(spec, float_twin)
    cost = model_cost(model)
    text = str(arch.spec.with_input_size(cost["input_size"])) if arch.spec else str(arch)
    cost.update(spec=text, float_twin=arch.float_twin, num_classes=num_classes)
    if as_json:
        click.echo(json.dumps(cost, indent=2))
    else:
        click.echo(f"spec: {cost['spec']}{'  (float twin)' if cost['float_twin'] else ''}")
        click.echo(format_cost(spec, cost))


@arch.command("list")
@input_size_option
@click.option("--json", "as_json", is_flag=True, help="Print the presets and their figures as JSON.")
def list_(input_size, as_json):
    """The presets with their spec strings and figures."""
    tf = import_tensorflow("bcn arch list")
    from bcn.arch.cost import model_cost
    from bcn.arch.presets import PRESETS

    rows = []
    for name, preset in PRESETS.items():
        cost = model_cost(_model(name, input_size, 20, False))
        tf.keras.backend.clear_session()
        rows.append({"name": name, "spec": preset.spec, "float_twin": preset.float_twin, "note": preset.note,
                     **{k: cost[k] for k in ("input_size", "macs", "binary_macs", "binary_ratio", "eq_flops", "params")}})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'name':5} {'GMACs':>6} {'rb':>6} {'eqGFLOP':>7} {'Mparams':>7}  spec")
    for row in rows:
        twin = " (float twin)" if row["float_twin"] else ""
        click.echo(f"{row['name']:5} {row['macs'] / 1e9:6.2f} {row['binary_ratio']:6.4f} {row['eq_flops'] / 1e9:7.2f} "
                   f"{row['params'] / 1e6:7.2f}  {row['spec']}{twin}")
        click.echo(f"{'':37}{row['note']}")


@arch.command()
@click.argument("spec")
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="Where to write the Keras model (.h5 or .keras).")
@input_size_option
@num_classes_option
@float_twin_option
def build(spec, output, input_size, num_classes, float_twin):
    """Write SPEC's untrained model, to convert and benchmark a design before training."""
    from bcn.io import atomic_output, refuse_overwriting_inputs

    refuse_overwriting_inputs([("--output", output)], [spec if spec.strip().endswith(".py") else None])
    model = _model(spec, input_size, num_classes, float_twin)
    with atomic_output(output) as tmp:
        model.save(tmp)
    click.echo(f"wrote {output} ({model.name}, {model.count_params():,} params)")

"""Latency of binary CenterNets (full-precision layers in float32 or int8) against their float32 and int8
twins, from scratch.

Builds each architecture (untrained: latency does not depend on weight values), converts
it with bcn's converter to LCE flatbuffers (variants binary and binary-int8) plus float32 and int8
baselines of its float twin (skipping the LCE-vs-Keras parity check, meaningless on untrained weights), then
measures all of them in one interleaved `bcn bench` run and writes
benchmarks/latency_<arch>.{md,json,png}.

    python benchmarks/bench_latency.py                        # q1 and q5 at 512, 1 and 2 threads
    python benchmarks/bench_latency.py --sizes 256 --runs 10  # quicker, on a busy machine

Run it on a quiet machine: other processes inflate every figure (the ratios less so,
since the models are interleaved).
"""

import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import click

from bcn.io import read_json
from bcn.runtime.metadata import BINARY_VARIANTS, VARIANTS

HERE = Path(__file__).resolve().parent
ARCH_NAMES = {"x86_64": "x86", "amd64": "x86", "aarch64": "aarch64", "arm64": "arm64"}


def convert_untrained(model, paths: list[Path], classes, spec: str, samples: int) -> None:
    """bcn's converter steps without the parity check, which is meaningless on untrained weights.

    LCE flatbuffers, float32 and int8 rest (checked to have every binary conv as LceBconv2d), and
    float32/int8 baselines of the float twin, each with the "bcn" metadata the runtime reads.
    """
    from bcn.arch.cost import model_cost
    from bcn.converters.baselines import convert_baseline, float_twin
    from bcn.converters.inspect import Graph, check_binary_layers, output_layout
    from bcn.converters.int8_rest import convert_binary_int8
    from bcn.converters.lce import convert_lce
    from bcn.converters.metadata import build_metadata, embed_metadata
    from bcn.converters.samples import sample_inputs
    from bcn.io import atomic_output

    size = int(model.input_shape[1])
    twin = float_twin(model)
    _, inputs = sample_inputs(None, samples, size)
    convert = {
        "binary": lambda: convert_lce(model),
        "binary-int8": lambda: convert_binary_int8(model, inputs),
        "float32": lambda: convert_baseline("float32", twin, inputs),
        "int8": lambda: convert_baseline("int8", twin, inputs),
    }
    for path, variant in zip(paths, VARIANTS):
        start = time.perf_counter()
        binary = variant in BINARY_VARIANTS
        source = model if binary else twin
        flatbuffer = convert[variant]()
        graph = Graph.from_flatbuffer(flatbuffer)
        if binary:
            check_binary_layers(model, graph, str(path))
        metadata = build_metadata(
            classes=classes,
            input_size=size,
            outputs=output_layout(graph, source, str(path)),
            spec=spec,
            float_twin=not binary,
            cost=model_cost(source),
            engine="lce" if binary else "tflite",
            variant=variant,
        )
        with atomic_output(path) as tmp:
            Path(tmp).write_bytes(embed_metadata(flatbuffer, metadata))
        click.echo(f"converted {path} in {time.perf_counter() - start:.0f} s")


def engine_table(report: dict) -> str:
    """Markdown: per architecture and thread count, the binary model on each engine (its fastest
    options) and with int8 rest beside the float32 and int8 twins, by mean interpreter latency."""
    best = {}
    for r in report["results"]:
        engine = r["engine"] if r["variant"] in BINARY_VARIANTS else ""
        key = (r["spec"], r["input_size"], r["threads"], r["variant"], engine)
        if key not in best or r["latency_ms"]["mean"] < best[key]["latency_ms"]["mean"]:
            best[key] = r
    lines = [
        "## Binary model per engine vs its twins (mean interpreter latency, ms; fastest options of each)",
        "",
        "| model | z | threads | binary, bcn delegate (LiteRT) | binary, LCE interpreter | binary-int8, bcn delegate "
        "| float32 | int8 | bcn / LCE | bcn / float32 | bcn / int8 | binary-int8 / int8 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows = sorted({key[:3] for key in best}, key=lambda k: (str(k[0]), k[1] or 0, k[2]))
    for spec, size, threads in rows:
        ms = {
            name: best.get((spec, size, threads, variant, engine))
            for name, variant, engine in (
                ("ours", "binary", "tflite"),
                ("lce", "binary", "lce"),
                ("ours-int8", "binary-int8", "tflite"),
                ("float32", "float32", ""),
                ("int8", "int8", ""),
            )
        }
        ms = {name: r["latency_ms"]["mean"] if r else None for name, r in ms.items()}
        cell = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
        ratio = lambda a, b: "-" if a is None or b is None else f"{a / b:.2f}"  # noqa: E731
        name = next(r["name"] for key, r in best.items() if key[:3] == (spec, size, threads) and key[3] == "binary")
        lines.append(
            f"| {name} | {size} | {threads} | {cell(ms['ours'])} | {cell(ms['lce'])} | {cell(ms['ours-int8'])} "
            f"| {cell(ms['float32'])} | {cell(ms['int8'])} | {ratio(ms['ours'], ms['lce'])} "
            f"| {ratio(ms['ours'], ms['float32'])} | {ratio(ms['ours'], ms['int8'])} "
            f"| {ratio(ms['ours-int8'], ms['int8'])} |"
        )
    return "\n".join(lines) + "\n"


def build_and_convert(preset: str, size: int, folder: Path, samples: int) -> list[Path]:
    """The LCE models of `preset` at `size` (float32 and int8 rest) and its float32/int8 baselines (reused if
    present)."""
    paths = [folder / f"{preset}_{size}{'' if variant == 'binary' else '_' + variant}.tflite" for variant in VARIANTS]
    if all(path.is_file() for path in paths):
        click.echo(f"reusing {', '.join(map(str, paths))}")
        return paths
    import tensorflow as tf

    import bcn  # noqa: F401  (selects the Keras 2 API before TensorFlow loads)
    from bcn.arch.model import build_model
    from bcn.arch.resolve import resolve
    from bcn.data.voc import CLASSES

    folder.mkdir(parents=True, exist_ok=True)
    click.echo(f"building {preset} at {size} px")
    from bcn.demo import DEMO_ARCH

    spec = DEMO_ARCH if preset == "demo" else preset
    model = build_model(spec, input_size=size, num_classes=len(CLASSES))
    convert_untrained(model, paths, list(CLASSES), str(resolve(spec).spec.with_input_size(size)), samples)
    tf.keras.backend.clear_session()
    return paths


# A folder option's type.
FOLDER = click.Path(file_okay=False, path_type=Path)


@click.command(context_settings={"show_default": True})
@click.option("--specs", default="q1,q5", help="Presets to build, comma-separated; 'demo' is bcn demo's architecture.")
@click.option("--sizes", default="512", help="Input sizes, comma-separated.")
@click.option("--threads", default="1,2", help="Thread counts for bcn bench.")
@click.option("--runs", default=30, help="Measured runs per model, option set and thread count.")
@click.option("--warmup", default=3, help="Warm-up runs.")
@click.option(
    "--sweep/--no-sweep",
    default=True,
    help="Also measure every engine and option combination: the binary model through bcn's delegate "
    "and LCE's interpreter, XNNPACK on and off, LCE's indirect BGEMM on and off (slower).",
)
@click.option(
    "--kernel",
    default=None,
    help="Kernel path of bcn's delegate (passed to bcn bench --kernel; 'auto' keeps a sweep from "
    "measuring every path, the scalar one included).",
)
@click.option("--profile", is_flag=True, help="Also time each layer of bcn's delegate (bcn bench --profile).")
@click.option("--samples", default=2, help="Images for int8 calibration and the parity check.")
@click.option("--work", type=FOLDER, default=Path("bench_models"), help="Where the models go (reused on a rerun).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=HERE / f"latency_{ARCH_NAMES.get(platform.machine().lower(), platform.machine())}",
    help="Results stem: writes STEM.md, STEM.json and STEM.png.",
)
@click.option("--note", default="", help="A line about the conditions (e.g. 'shared machine, load ~4').")
def main(specs, sizes, threads, runs, warmup, sweep, kernel, profile, samples, work, out, note):
    """Build, convert and benchmark binary CenterNets and their full-precision twins."""
    models = []
    for preset in specs.split(","):
        for size in map(int, sizes.split(",")):
            models += build_and_convert(preset.strip(), size, work / f"{preset.strip()}_{size}", samples)
    measured = ["--threads", threads, "--runs", str(runs), "--warmup", str(warmup)]
    switches = [*(["--kernel", kernel] if kernel else []), *(["--profile"] if profile else [])]
    outputs = ["--json", f"{out}.json", "--markdown", f"{out}.body.md", "--plot", f"{out}.png"]
    bench = [sys.executable, "-m", "bcn", "bench", *map(str, models), *measured, *switches, *outputs]
    command = bench + (["--sweep"] if sweep else [])
    click.echo("running: " + shlex.join(command))
    subprocess.run(command, check=True)  # a fresh process: no TensorFlow loaded while measuring
    body = Path(f"{out}.body.md")
    script = ["python", "benchmarks/bench_latency.py", "--specs", specs, "--sizes", sizes, *measured]
    sweep_flag = "--sweep" if sweep else "--no-sweep"
    rerun = shlex.join([*script, sweep_flag, *switches, "--out", f"benchmarks/{Path(out).name}"])
    header = [
        f"# Latency: binary CenterNets (float32 and int8 rest) vs their float32 and int8 twins ({platform.machine()})",
        "",
        f"Made by `{rerun}` (untrained models: latency does not depend on weights).",
        f"Plot: `{Path(out).name}.png`, full figures: `{Path(out).name}.json`.",
    ]
    if note:
        header += ["", f"Conditions: {note}"]
    engines = engine_table(read_json(f"{out}.json"))
    text = "\n".join(header) + "\n\n" + engines + "\n" + body.read_text().replace("# bcn bench\n", "", 1).lstrip()
    from bcn.io import atomic_output

    with atomic_output(f"{out}.md") as tmp:
        Path(tmp).write_text(text)
    body.unlink()
    click.echo(f"results: {out}.md, {out}.json, {out}.png")


if __name__ == "__main__":
    main()

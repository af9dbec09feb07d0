"""Conversion time and peak memory of `bcn convert` on q1 at 512 x 512 (the paper's input size).

Each conversion runs in a fresh child process, which reports its own peak resident
memory (getrusage ru_maxrss) and the time of each step: loading the .h5, the LCE
conversion, the parity run (LCE interpreter vs Keras) and each baseline. Weights are
untrained: conversion does not depend on their values. Writes convert_q1.json and
convert_q1.md beside this script. Rerun:

    nice python benchmarks/convert_q1.py                      # LCE model + float32 + int8
    python benchmarks/convert_q1.py --baselines "" --samples 1  # the LCE model alone

Timings depend on the machine and on what else runs on it: the results record the
CPU, the core count and the load average before and after.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bcn.io import write_json
from bcn.runtime.machine import machine_info

HERE = Path(__file__).resolve().parent

CHILD = """
import json, resource, sys, time
import bcn
from bcn.converters.convert import convert
start = time.perf_counter()
baselines = tuple(b for b in sys.argv[3].split(",") if b)
report = convert(sys.argv[1], sys.argv[2], baselines=baselines, samples=int(sys.argv[4]))
print(json.dumps({
    "convert_seconds": time.perf_counter() - start,
    "step_seconds": report["seconds"],
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "files": {k: {"bytes": v["bytes"], "ops": v["ops"]} for k, v in report["files"].items()},
    "binary_layers": report["binary_layers"],
    "cost": report["cost"],
}))
"""


def versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in ("tensorflow", "larq", "larq-compute-engine")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="q1")
    parser.add_argument("--input-size", type=int, default=512)
    parser.add_argument("--baselines", default="float32,int8", help="comma-separated, '' for none")
    parser.add_argument("--samples", type=int, default=2, help="parity and int8 calibration images")
    parser.add_argument("--note", default="", help="free text recorded with the results (e.g. the machine was shared)")
    parser.add_argument("--out", type=Path, default=HERE / "convert_q1")
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / f"{args.preset}.h5"
        subprocess.run(
            [sys.executable, "-m", "bcn", "arch", "build", args.preset, "-z", str(args.input_size), "-o", str(model)],
            check=True,
            capture_output=True,
        )
        start = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(model),
                str(Path(tmp) / "model.tflite"),
                args.baselines,
                str(args.samples),
            ],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        if done.returncode:
            sys.exit(f"conversion failed:\n{done.stderr[-3000:]}")
        child = json.loads(done.stdout.strip().splitlines()[-1])
    result = {
        "preset": args.preset,
        "input_size": args.input_size,
        "baselines": args.baselines,
        "samples": args.samples,
        "wall_seconds": round(wall, 1),
        **child,
        "machine": {
            **machine_info(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "niceness": os.nice(0),
        },
        "versions": versions(),
        "note": args.note,
    }
    write_json(args.out.with_suffix(".json"), result)
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in child["step_seconds"].items())
    sizes = ", ".join(f"{name} {entry['bytes'] / 2**20:.2f} MiB" for name, entry in child["files"].items())
    binary = child["binary_layers"]
    markdown = f"""# `bcn convert` on {args.preset} at {args.input_size} x {args.input_size}

Recorded by `{shlex.join(["python", "benchmarks/convert_q1.py", *sys.argv[1:]])}` (rerun it to measure your machine).

| figure | value |
| --- | --- |
| whole child process (start, load, convert, parity, baselines, write) | {wall:.1f} s |
| steps | {steps} |
| peak resident memory (ru_maxrss) | {child["peak_rss_mib"]:.0f} MiB |
| files | {sizes} |
| binary convs -> LceBconv2d | {binary["keras_binary_convs"]} -> {binary["LceBconv2d"]} |
| parity images | {args.samples} |

Machine: {result["machine"]["cpu"]}, {result["machine"]["logical_cores"]} cores, Python {result["machine"]["python"]},
niceness {result["machine"]["niceness"]}; load average before {", ".join(f"{x:.1f}" for x in load_before)},
after {", ".join(f"{x:.1f}" for x in result["machine"]["load_average_after"])}.
Versions: {", ".join(f"{k} {v}" for k, v in result["versions"].items())}.
{args.note}
"""
    args.out.with_suffix(".md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()

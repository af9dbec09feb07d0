"""Images per second of the training input pipeline alone (read, decode, augment, targets), one worker.

Generates a VOC-like data set (500 px long side, JPEG), builds bcn.train's tf.data
pipeline at 512 px with the paper's augmentation and batch 32, and times it for a
while after the first batch. Results go to input_pipeline.json beside this script,
keyed by --label, with the git commit, the command, the machine and its load, and
input_pipeline.md is rewritten from all the recorded labels. Rerun:

    python benchmarks/input_pipeline.py --label after
"""

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bcn  # noqa: F401  (selects the Keras 2 API before TensorFlow loads)
from bcn.io import read_json, write_json
from bcn.runtime.machine import cpu_model

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "input_pipeline.json"


def commit() -> str:
    done = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(HERE), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout.strip()
    return done.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def measure(args) -> dict:
    import tensorflow as tf

    from bcn.data.synth import write_synth
    from bcn.data.voc import load_voc, read_class_names
    from bcn.train.augment import AugmentConfig
    from bcn.train.pipeline import images_per_second, training_dataset

    revision = commit()  # before the measurement, which takes minutes
    with tempfile.TemporaryDirectory() as tmp:
        root = write_synth(Path(tmp) / "voc", images=args.images, size=500, seed=0, test_fraction=0.0)
        samples = load_voc(root, "trainval")
        dataset = training_dataset(
            samples, args.input_size, len(read_class_names(root)), args.batch_size, AugmentConfig()
        )
        load_before = os.getloadavg()
        rates = [images_per_second(dataset, args.seconds) for _ in range(args.repeats)]
        load_after = os.getloadavg()
    return {
        "images_per_second": rates,
        "best": max(rates),
        "commit": revision,
        "command": shlex.join(["python", "benchmarks/input_pipeline.py", *sys.argv[1:]]),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}",
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in load_after],
        "images": len(samples),
        "input_size": args.input_size,
        "batch_size": args.batch_size,
        "seconds_per_repeat": args.seconds,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def write_markdown(results: dict) -> None:
    lines = [
        "# Training input pipeline throughput (one worker, CPU)",
        "",
        "Written by `benchmarks/input_pipeline.py`; rerun it to reproduce. Read, decode, augment (the paper's",
        "ranges), letterbox to 512 px and encode CenterNet targets; batch 32; images/s after the first batch,",
        "best of the repeats. The machine is shared with other work running at the same time (see the load",
        "averages), so the figures are noisy: compare rows measured close together.",
        "",
        "| label | images/s (best) | each repeat | commit | load avg before / after | machine | date |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, result in results.items():
        rates = ", ".join(f"{rate:.1f}" for rate in result["images_per_second"])
        lines.append(
            f"| {label} | **{result['best']:.1f}** | {rates} | {result['commit']} | "
            f"{result['load_average_before']} / {result['load_average_after']} | {result['machine']} | "
            f"{result['date']} |"
        )
    bests = {
        kind: [result["best"] for label, result in results.items() if label.startswith(kind)]
        for kind in ("before", "after")
    }
    if all(bests.values()):
        lines += [
            "",
            "Mean of the best figures: "
            + ", ".join(
                f"{kind} {sum(values) / len(values):.1f} images/s ({len(values)} runs)"
                for kind, values in bests.items()
            )
            + ".",
        ]
    lines += ["", "Commands:", ""] + [
        f"- {label}: `{result['command']}` at commit {result['commit']}" for label, result in results.items()
    ]
    (HERE / "input_pipeline.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="Name of this measurement in the results file.")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--input-size", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    result = measure(args)
    results = read_json(RESULTS) if RESULTS.is_file() else {}
    results[args.label] = result
    write_json(RESULTS, results)
    write_markdown(results)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

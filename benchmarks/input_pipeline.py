"""Images per second of the training input pipeline alone (read, decode, augment, targets), one worker.

Generates a VOC-like data set (500 px long side, JPEG), builds bcn.train's tf.data
pipeline at 512 px with the paper's augmentation and batch 32, and times it for a
while after the first batch. Results go to input_pipeline.json beside this script,
keyed by --label, with the git commit, the command, the machine and its load, and
input_pipeline.md is rewritten from all the recorded labels. Rerun:

    python benchmarks/input_pipeline.py --label after
"""

import argparse
import os
import tempfile
from pathlib import Path

from provenance import command_lines, commit, provenance, provenance_cells, results_head, save_labelled

import bcn  # noqa: F401  (selects the Keras 2 API before TensorFlow loads)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "input_pipeline.json"
ABOUT = """
Read, decode, augment (the paper's ranges), letterbox to 512 px and encode CenterNet targets; batch 32;
images/s after the first batch, best of the repeats. The machine is shared with other work running at the
same time (see the load averages), so the figures are noisy: compare rows measured close together.
"""


def measure(args) -> dict:

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
        recorded = provenance(revision, load_before)
    return {
        "images_per_second": rates,
        "best": max(rates),
        "images": len(samples),
        "input_size": args.input_size,
        "batch_size": args.batch_size,
        "seconds_per_repeat": args.seconds,
        **recorded,
    }


def write_markdown(results: dict) -> None:
    lines = results_head(
        "Training input pipeline throughput (one worker, CPU)", ABOUT, "images/s (best)", "each repeat"
    )
    for label, result in results.items():
        rates = ", ".join(f"{rate:.1f}" for rate in result["images_per_second"])
        lines.append(f"| {label} | **{result['best']:.1f}** | {rates} | {provenance_cells(result)} |")
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
    lines += command_lines(results)
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
    save_labelled(RESULTS, args.label, result, write_markdown)


if __name__ == "__main__":
    main()

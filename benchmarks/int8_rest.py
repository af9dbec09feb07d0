"""Does int8 for the full-precision layers keep the binary model's accuracy? mAP@0.5 of both .tflite files.

Converts one trained binary detector twice with `bcn convert`: full-precision layers in float32 (variant
binary) and in int8 (variant binary-int8, ranges calibrated on the data set's images), evaluates both
.tflite files on the held-out split as `bcn eval` does, and records both mAPs, their difference, the
parity checks and the file sizes. Without --model it first trains the demo's binary model for the demo's
epochs on the demo's generated data, as `bcn demo` does. Results go to int8_rest.json beside this script
under --label, with the commit, command, machine and load; int8_rest.md is rewritten from all of them.

    python benchmarks/int8_rest.py                                  # the demo's model, trained here
    python benchmarks/int8_rest.py --model RUN/best.h5 --data DATA --label converged
"""

import argparse
import os
import tempfile
from pathlib import Path

from provenance import command_lines, commit, provenance, provenance_cells, results_head, save_labelled

import bcn  # noqa: F401  (selects the Keras 2 API before TensorFlow loads)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "int8_rest.json"


def demo_model(folder: Path, seed: int) -> tuple[Path, Path, str]:
    """(model, data, what it is): the demo's binary model trained as `bcn demo` trains it."""
    from bcn.data.synth import write_synth
    from bcn.demo import DEMO_EPOCHS, DEMO_IMAGES, DEMO_INPUT_SIZE, train_like_the_demo

    data = write_synth(folder / "data", images=DEMO_IMAGES, size=DEMO_INPUT_SIZE, seed=seed)
    train_like_the_demo(data, folder / "binary", DEMO_EPOCHS, seed=seed)
    return folder / "binary" / "best.h5", data, f"the demo's binary model, {DEMO_EPOCHS} epochs, seed {seed}"


def measure(model: Path, data: Path, folder: Path) -> dict:
    """Both conversions of `model`, their held-out mAPs and parity checks."""
    from bcn.converters.convert import convert
    from bcn.evaluation import evaluate

    report = convert(model, folder / "model.tflite", baselines=("binary",), data_root=data, rest="int8")
    variants = {}
    for variant, entry in report["files"].items():
        metrics = evaluate(entry["path"], data, progress=False).evaluation.as_dict()
        parity = report["parities"][variant]
        variants[variant] = {
            "map50_voc07": round(metrics["map50_voc07"], 4),
            "map50_area": round(metrics["map50_area"], 4),
            "bytes": entry["bytes"],
            "parity": {key: parity[key] for key in ("check", "agreement", "score_diff_max", "heatmap_max_abs_diff")},
        }
    return {
        "variants": variants,
        "difference_voc07": round(variants["binary-int8"]["map50_voc07"] - variants["binary"]["map50_voc07"], 4),
        "calibration": report["calibration"],
        "held_out_images": metrics["num_images"],
    }


def write_markdown(results: dict) -> None:
    """int8_rest.md: one row per label."""
    lines = results_head(
        "Binary model, full-precision layers in float32 vs int8: held-out mAP@0.5",
        "Both files converted from one trained model by `bcn convert` (`--rest int8` calibrated on the data set's "
        "images) and evaluated on its held-out split by bcn's runtime with its defaults, as `bcn eval` runs them.",
        "model",
        "binary mAP@0.5 VOC07 / area",
        "binary-int8 mAP@0.5 VOC07 / area",
        "int8 - float32 (VOC07)",
        "parity binary / binary-int8",
        "MiB binary / binary-int8",
    )
    for label, result in results.items():
        binary, int8 = result["variants"]["binary"], result["variants"]["binary-int8"]
        lines.append(
            f"| {label} | {result['model']} | {binary['map50_voc07']:.3f} / {binary['map50_area']:.3f} | "
            f"{int8['map50_voc07']:.3f} / {int8['map50_area']:.3f} | **{result['difference_voc07']:+.3f}** | "
            f"{binary['parity']['check']} / {int8['parity']['check']} | "
            f"{binary['bytes'] / 2**20:.2f} / {int8['bytes'] / 2**20:.2f} | {provenance_cells(result)} |"
        )
    (HERE / "int8_rest.md").write_text("\n".join(lines + command_lines(results)) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="A trained binary detector (.h5); default: train the demo's.")
    parser.add_argument("--data", type=Path, help="Its data set (needed with --model).")
    parser.add_argument("--label", default="demo", help="The row's name in int8_rest.json.")
    parser.add_argument("--seed", type=int, default=0, help="The demo's seed, without --model.")
    args = parser.parse_args()
    if bool(args.model) != bool(args.data):
        parser.error("--model and --data go together")
    revision, load_before = commit(), os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            model, data, about = args.model, args.data, str(args.model)
        else:
            model, data, about = demo_model(Path(tmp), args.seed)
        result = {"model": about, **measure(model, data, Path(tmp)), **provenance(revision, load_before)}
    save_labelled(RESULTS, args.label, result, write_markdown)


if __name__ == "__main__":
    main()

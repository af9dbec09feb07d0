"""`bcn demo` on a busy machine: the whole demo beside CPU-bound processes, as a user with other work running.

Starts --busy processes that each keep one core busy (a Python loop that never sleeps), runs
`bcn demo` with its defaults (a fixed number of epochs) in a new process, stops them, and
records from the demo's demo.json: the epochs each model trained, the binary model's and the
float twin's held-out mAP@0.5 (VOC07), the detections drawn on each test image, the demo's
minutes and the load average. Results are kept per label (`busy N`) in demo_busy.json;
demo_busy.md is rewritten from all of them.

    python benchmarks/demo_busy.py             # one busy process beside the demo
    python benchmarks/demo_busy.py --busy 0    # the same demo on an otherwise quiet machine
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from provenance import command_lines, commit, provenance, provenance_cells, results_head, save_labelled

from bcn.io import read_json

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "demo_busy.json"
SPIN = "while True: pass"


def run_demo(busy: int) -> dict:
    """The demo's summary (its demo.json), run beside `busy` spinning processes."""
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(busy)]
    try:
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "demo"
            subprocess.run([sys.executable, "-m", "bcn", "-q", "demo", "--out", str(out)], check=True)
            return read_json(out / "demo.json")
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def measure(busy: int) -> dict:
    revision, load_before = commit(), os.getloadavg()
    summary = run_demo(busy)
    evaluation, trained = summary["evaluation"], summary["training"]
    return {
        "busy": busy,
        "epochs": {variant: trained[variant]["epochs"] for variant in ("binary", "float")},
        "binary_map50": round(evaluation["binary_keras"]["map50_voc07"], 4),
        "float_map50": round(evaluation["float_keras"]["map50_voc07"], 4),
        "detections_per_image": [image["detections"] for image in summary["detections"]["images"]],
        "minutes": round(summary["total_seconds"] / 60, 1),
        **provenance(revision, load_before),
    }


def write_markdown(results: dict) -> None:
    lines = results_head(
        "`bcn demo` beside CPU-bound processes (2-core CPU)",
        "Each row: `bcn demo` with its defaults while BUSY other processes each keep a core busy. "
        "mAP@0.5 (VOC07) on the demo's held-out images; detections: boxes drawn on each of the six "
        "annotated test images.",
        "busy",
        "epochs binary / float",
        "binary mAP@0.5",
        "float mAP@0.5",
        "detections per image",
        "demo minutes",
    )
    for label, r in results.items():
        cells = [label, r["busy"], f"{r['epochs']['binary']} / {r['epochs']['float']}", f"{r['binary_map50']:.3f}"]
        cells += [f"{r['float_map50']:.3f}", ", ".join(map(str, r["detections_per_image"])), f"{r['minutes']:.1f}"]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + f" | {provenance_cells(r)} |")
    (HERE / "demo_busy.md").write_text("\n".join(lines + command_lines(results)) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=1, help="CPU-bound processes beside the demo.")
    args = parser.parse_args()
    if args.busy < 0:
        parser.error("--busy must be 0 or more")
    save_labelled(RESULTS, f"busy {args.busy}", measure(args.busy), write_markdown)


if __name__ == "__main__":
    main()

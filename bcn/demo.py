"""`bcn demo`: the whole product on the generated data set, in one run on a laptop CPU.

Generate data, train a small binary CenterNet and its float twin, evaluate both, convert
the binary model to LCE (plus float32 and int8 baselines), benchmark them side by side,
detect on a few test images, and write every figure into a report folder.
"""

import shutil
import subprocess
import sys
import time
from pathlib import Path

from bcn.defaults import SCORE_THRESHOLD
from bcn.errors import BcnError
from bcn.io import atomic_output, check_output_folder, read_json, write_json
from bcn.progress import Steps

# Small enough to train in minutes on two cores, big enough to learn the generated shapes
# (benchmarks/train_synth_binary_constant_lr.md: 0.558 mAP@0.5 after 10 minutes).
DEMO_ARCH = "qn(96) qn([1x32, 2x64, 2x128, 2x256]) tp(2)([64, 32, 32]) h(32)"
DEMO_INPUT_SIZE = 96
MARKER = "demo.json"
# A short CPU run: a constant learning rate (the paper's late drop to 1e-4 stalls a
# minutes-long binary run) and light augmentation.
SHORT_RUN = {"lr": 2e-3, "batch_size": 16}
# Annotated test images are drawn enlarged to at least this shorter side (96 px: 5x), where
# labels are 12 px high and legible.
READABLE_SIDE = 480


def prepare_out(out: Path) -> None:
    """An empty report folder, or an earlier demo's folder emptied; refuse anything else."""
    if out.exists():
        if not out.is_dir():
            raise BcnError(f"{out}: exists and is not a folder")
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise BcnError(f"{out}: folder is not empty and not an earlier demo report; choose another --out")
        shutil.rmtree(out)
    check_output_folder(out)
    out.mkdir()


def evaluate_model(model_path: Path, data: Path, split: str, plot: Path | None = None, title: str = "") -> dict:
    """bcn.evaluation.evaluate's metrics of a Keras or TFLite model on the split, with an optional PR plot."""
    from bcn.evaluation import evaluate
    from bcn.evaluation.plot import pr_curves_png

    report = evaluate(model_path, data, split, progress=False)
    if plot is not None:
        with atomic_output(plot) as tmp:
            Path(tmp).write_bytes(pr_curves_png(report.evaluation, title))
    return report.evaluation.as_dict()


def benchmark_fresh(tflites: list[Path], out: Path, threads: tuple[int, ...], runs: int, warmup: int) -> dict:
    """`bcn bench` in a new Python process, which writes OUT/bench.json, bench.md and latency.png;
    returns the report. That process never loads TensorFlow, so threads that training started
    in this one (TensorFlow's pools) cannot compete with the measured runs."""
    command = [
        sys.executable,
        "-m",
        "bcn",
        "bench",
        *map(str, tflites),
        "--threads",
        ",".join(map(str, threads)),
        "--runs",
        str(runs),
        "--warmup",
        str(warmup),
        "--json",
        str(out / "bench.json"),
        "--markdown",
        str(out / "bench.md"),
        "--plot",
        str(out / "latency.png"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        problem = lines[-1].removeprefix("Error: ") if lines else f"exit status {done.returncode}"
        raise BcnError(f"measuring latency (bcn bench in a new process) failed: {problem}")
    return read_json(out / "bench.json")


def annotate_samples(model_path: Path, samples, out: Path, count: int) -> dict:
    """Run the runtime's Detector on `count` test images and save them annotated (enlarged
    to READABLE_SIDE); returns the engine that ran them and the images written."""
    import cv2

    from bcn.images import read_image
    from bcn.runtime.annotate import draw_detections
    from bcn.runtime.detector import Detector

    detector = Detector(model_path)
    out.mkdir()
    written = []
    for sample in samples[:count]:
        image = read_image(sample.image_path)
        detections = detector.detect(image, score_threshold=SCORE_THRESHOLD)
        annotated = draw_detections(image, detections, min_side=READABLE_SIDE)
        path = out / f"{sample.image_id}.jpg"
        with atomic_output(path) as tmp:
            cv2.imwrite(tmp, annotated)
        written.append(
            {
                "image": str(path.relative_to(out.parent)),
                "detections": len(detections),
                "ground_truth": int(len(sample.boxes)),
                "enlarged": annotated.shape[0] // image.shape[0],
            }
        )
    engine = detector.engine
    return {
        "runtime": {"engine": engine.name, "library": engine.library, "options": engine.options},
        "score_threshold": SCORE_THRESHOLD,
        "images": written,
    }


def run_demo(
    out: Path,
    minutes: float,
    images: int,
    arch: str,
    input_size: int,
    threads: tuple[int, ...],
    runs: int,
    seed: int,
    data_root: Path | None = None,
) -> dict:
    """Run every step; returns the summary also written to OUT/demo.json.

    With `data_root` (any layout bcn reads) the demo runs on that data set instead of a
    generated one, and evaluates on its test split (its val split where it has no test).
    """
    from bcn.converters.convert import convert
    from bcn.data.formats import NAMES, detect_format, find_split, load, read_class_names
    from bcn.data.synth import write_synth
    from bcn.demo_report import write_report
    from bcn.train.augment import LIGHT_AUGMENTATION
    from bcn.train.trainer import Recipe, train

    prepare_out(out)
    step = Steps(total=8)
    started = time.monotonic()

    with step("generate the data set" if data_root is None else f"read the data set {data_root}"):
        data = write_synth(out / "data", images=images, size=input_size, seed=seed) if data_root is None else data_root
        class_names = list(read_class_names([data]))
        held_out = find_split(data, "test") or find_split(data, "val")
        if held_out is None:
            raise BcnError(f"{data}: no test or val split to evaluate on")
        test_samples = load([data], held_out, class_names)

    runs_dir = out / "runs"
    trained = {}
    for variant in ("binary", "float"):
        with step(f"train the {variant} model for {minutes / 2:.1f} min"):
            recipe = Recipe(late_lr=SHORT_RUN["lr"], augment=LIGHT_AUGMENTATION)
            result = train(
                arch,
                data,
                runs_dir / variant,
                input_size=input_size,
                epochs=1000,
                batch_size=SHORT_RUN["batch_size"],
                lr=SHORT_RUN["lr"],
                eval_every=1000,
                float_twin=variant == "float",
                minutes=minutes / 2,
                seed=seed,
                verbose=2,
                recipe=recipe,
                eval_split=held_out,
            )
            trained[variant] = {"epochs": result.last_epoch, "seconds": round(result.seconds, 1)}

    with step("convert to LCE, float32 and int8"):
        models = out / "models"
        models.mkdir()
        keras_models = {variant: runs_dir / variant / "best.h5" for variant in ("binary", "float")}
        conversion = convert(
            keras_models["binary"],
            models / "binary.tflite",
            baselines=("float32", "int8"),
            data_root=data,
            float_model=keras_models["float"],
            report=out / "convert.json",
        )

    with step("evaluate mAP@0.5 on the test split"):
        evaluation = {
            "binary_keras": evaluate_model(
                keras_models["binary"], data, held_out, out / "pr_binary.png", "binary (Keras)"
            ),
            "float_keras": evaluate_model(
                keras_models["float"], data, held_out, out / "pr_float.png", "float twin (Keras)"
            ),
            "binary_lce": evaluate_model(models / "binary.tflite", data, held_out),
        }
        write_json(out / "eval.json", evaluation)

    with step("benchmark latency, interleaved, in a new process"):
        tflites = [models / "binary.tflite", models / "binary_float32.tflite", models / "binary_int8.tflite"]
        bench = benchmark_fresh(tflites, out, threads, runs, warmup=max(2, runs // 10))

    with step("detect on test images"):
        detections = annotate_samples(models / "binary.tflite", test_samples, out / "detections", 6)

    with step("write the report"):
        summary = {
            "arch": arch,
            "input_size": input_size,
            "classes": class_names,
            "images": images,
            "data": None
            if data_root is None
            else {
                "root": str(data_root),
                "layout": NAMES[detect_format(data_root)],
                "held_out": held_out,
                "held_out_images": len(test_samples),
            },
            "held_out": held_out,
            "minutes": minutes,
            "seed": seed,
            "training": trained,
            "evaluation": evaluation,
            "conversion": conversion,
            "bench": bench,
            "detections": detections,
            "timings": {name: round(seconds, 1) for name, seconds in step.seconds.items()},
        }
        summary["total_seconds"] = round(time.monotonic() - started, 1)
        write_report(out, summary)
        write_json(out / MARKER, summary)
    return summary

"""`bcn demo`: the whole product on the generated data set, in one run on a laptop CPU.

Generate data, train a small binary CenterNet and its float twin, evaluate both, convert
the binary model to LCE (plus float32 and int8 baselines), benchmark them side by side,
detect on a few test images, and write every figure into a report folder.

Training is a fixed amount of work (DEMO_EPOCHS epochs per model), so a slower or busier
machine takes longer rather than training less; it says how much longer after the first
epoch. A time budget (`minutes`) is the opt-in alternative.
"""

import logging
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from bcn.defaults import REST_PRECISION, SCORE_THRESHOLD
from bcn.errors import BcnError
from bcn.io import atomic_output, check_output_folder, read_json, write_json
from bcn.progress import Steps
from bcn.runtime.metadata import BINARY_VARIANTS, VARIANTS

log = logging.getLogger(__name__)

# Small enough to train in minutes on two cores, big enough to learn the generated shapes
# (benchmarks/train_synth_binary_constant_lr.md: 0.558 mAP@0.5 after 43 epochs).
DEMO_ARCH = "qn(96) qn([1x32, 2x64, 2x128, 2x256]) tp(2)([64, 32, 32]) h(32)"
DEMO_INPUT_SIZE = 96
DEMO_IMAGES = 2000
DEMO_OUT = "demo-report"
DEMO_SEED = 0
# The converted models: DEMO_MODEL is what `bcn convert` writes by default, the other variants beside it.
DEMO_MODEL = "detector.tflite"
MAIN_VARIANT = next(variant for variant, rest in BINARY_VARIANTS.items() if rest == REST_PRECISION)
# Epochs per model. Measured on a quiet 2-core "Intel(R) Xeon(R) Processor" (lscpu's model name),
# 1500 training images of 96 px, batch 16: an epoch of the binary model took 9.2-9.8 s on one day
# (benchmarks/train_step_speed.md) and 7.2 s on another (2026-12-05), one of its float twin 0.85 to
# 1.0 of that, each model's first step about 15 s more (tracing). 40 epochs each: 10 to 13 minutes
# of training, 11 to 15 for the whole demo (the other steps take about a minute). The binary model's
# held-out mAP is still rising steeply there (benchmarks/train_convergence.md: 0.476 at epoch 36,
# 0.561 at 40): fewer epochs would cost more than they save.
DEMO_EPOCHS = 40
# The float twin's epoch time as a share of the binary model's (the same measurement).
FLOAT_TWIN_EPOCH_SHARE = 0.85
# With a time budget the epochs are not known ahead: held-out mAP is measured every this many
# epochs (and at the end), so the report can tell whether it was still rising.
BUDGET_EVAL_EVERY = 5
# Epochs a time budget may not exceed.
BUDGET_MAX_EPOCHS = 1000
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


def short_run_arguments() -> dict:
    """bcn.train.train's batch size, learning rate and recipe for the demo's short CPU runs (SHORT_RUN)."""
    from bcn.train.augment import LIGHT_AUGMENTATION
    from bcn.train.trainer import Recipe

    return {
        "batch_size": SHORT_RUN["batch_size"],
        "lr": SHORT_RUN["lr"],
        "recipe": Recipe(late_lr=SHORT_RUN["lr"], augment=LIGHT_AUGMENTATION),
    }


def train_like_the_demo(data: Path, run_dir: Path, epochs: int, **options):
    """bcn.train.train on `data` into `run_dir` for `epochs` as the demo trains: DEMO_ARCH at DEMO_INPUT_SIZE,
    short_run_arguments(), seed DEMO_SEED, no Keras output; `options` are train's other arguments (float_twin,
    minutes, eval_every, callbacks, ...) or replace these (arch, input_size, seed, recipe, ...)."""
    from bcn.train.trainer import train

    arguments = {"arch": DEMO_ARCH, "input_size": DEMO_INPUT_SIZE, "seed": DEMO_SEED, "verbose": 0}
    arguments.update(short_run_arguments(), **options)
    return train(arguments.pop("arch"), data, run_dir, epochs=epochs, **arguments)


def duration(seconds: float) -> str:
    """Seconds in words at a useful precision: "40 s", "12 min"."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def training_estimate(epoch_seconds: float, tracing_seconds: float, epochs: int, minutes: float | None) -> str:
    """The line logged after the binary model's first epoch: what the demo's training will take on this machine
    as it is now (fixed epochs), or how many epochs a time budget will give each model."""
    speed = f"training estimate: {epoch_seconds:.1f} s an epoch on this machine now"
    if minutes:
        given = max(1, int((minutes / 2 * 60 - tracing_seconds) / epoch_seconds))
        return (
            f"{speed}, so the {minutes / 2:g}-minute budget gives each model about {given} epochs "
            f"(without --minutes the demo trains {DEMO_EPOCHS})"
        )
    remaining = epoch_seconds * (epochs - 1) + tracing_seconds + epoch_seconds * FLOAT_TWIN_EPOCH_SHARE * epochs
    return (
        f"{speed}, so about {duration(remaining)} more for {epochs} epochs of each model "
        f"(a busier or slower machine takes longer; tracing the first step took {tracing_seconds:.0f} s)"
    )


def log_training_estimate(first_epoch, epochs: int, minutes: float | None) -> None:
    """Log training_estimate's line from the binary model's first epoch (a bcn.train.progress.FirstEpoch)."""
    log.info(training_estimate(first_epoch.seconds, first_epoch.tracing, epochs, minutes))


def train_models(
    data: Path, runs_dir: Path, arch: str, input_size: int, seed: int, held_out: str, step, epochs: int, minutes
) -> dict:
    """Train the binary model and its float twin alike, `epochs` each or, with `minutes`, for half of that
    budget each (at most `epochs`), into runs_dir/binary and runs_dir/float, with a progress bar; returns
    each one's epochs, seconds and held-out evaluations."""
    from bcn.train.progress import training_progress

    trained = {}
    for variant in ("binary", "float"):
        amount = f"{minutes / 2:g} min" if minutes else f"{epochs} epochs"
        estimate = partial(log_training_estimate, epochs=epochs, minutes=minutes) if variant == "binary" else None
        with (
            step(f"train the {variant} model for {amount}"),
            training_progress(f"train {variant}", None if minutes else epochs, estimate) as progress,
        ):
            result = train_like_the_demo(
                data,
                runs_dir / variant,
                epochs,
                arch=arch,
                input_size=input_size,
                seed=seed,
                eval_every=BUDGET_EVAL_EVERY if minutes else epochs,
                float_twin=variant == "float",
                minutes=minutes / 2 if minutes else None,
                eval_split=held_out,
                callbacks=[progress],
            )
        trained[variant] = {
            "epochs": result.last_epoch,
            "seconds": round(result.seconds, 1),
            "evaluations": result.evaluations,
        }
    return trained


def annotate_samples(model_path: Path, samples, out: Path, count: int) -> dict:
    """Run the runtime's Detector on `count` test images and save them annotated (enlarged
    to READABLE_SIDE; one without detections says so on the picture); returns the engine
    that ran them and the images written."""
    import cv2

    from bcn.images import read_image
    from bcn.runtime.annotate import draw_detections, draw_no_detection
    from bcn.runtime.detector import Detector

    detector = Detector(model_path)
    out.mkdir()
    written = []
    for sample in samples[:count]:
        image = read_image(sample.image_path)
        detections = detector.detect(image, score_threshold=SCORE_THRESHOLD)
        annotated = draw_detections(image, detections, min_side=READABLE_SIDE)
        if not detections:
            draw_no_detection(annotated)
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
    images: int,
    arch: str,
    input_size: int,
    threads: tuple[int, ...],
    runs: int,
    seed: int,
    data_root: Path | None = None,
    epochs: int | None = None,
    minutes: float | None = None,
) -> dict:
    """Run every step; returns the summary also written to OUT/demo.json.

    Each model trains `epochs` epochs (default DEMO_EPOCHS); with `minutes`, the two share that
    time budget instead (each at most `epochs`, default BUDGET_MAX_EPOCHS). With `data_root` (any
    layout bcn reads) the demo runs on that data set instead of a generated one, and evaluates
    on its test split (its val split where it has no test). Warnings about the result (see
    bcn.demo_report.result_warnings) are logged as well as written into the report.
    """
    from bcn.converters.convert import convert
    from bcn.data.formats import NAMES, detect_format, find_split, load, read_class_names
    from bcn.data.synth import write_synth
    from bcn.demo_report import result_warnings, write_report

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
    epochs = epochs or (BUDGET_MAX_EPOCHS if minutes else DEMO_EPOCHS)
    trained = train_models(data, runs_dir, arch, input_size, seed, held_out, step, epochs, minutes)

    with step("convert to LCE (float32 and int8 rest) and the float twin's float32 and int8"):
        models = out / "models"
        models.mkdir()
        keras_models = {variant: runs_dir / variant / "best.h5" for variant in ("binary", "float")}
        conversion = convert(
            keras_models["binary"],
            models / DEMO_MODEL,
            baselines=[variant for variant in VARIANTS if variant != MAIN_VARIANT],
            data_root=data,
            float_model=keras_models["float"],
            report=out / "convert.json",
        )
        tflites = {variant: Path(entry["path"]) for variant, entry in conversion["files"].items()}

    with step("evaluate mAP@0.5 on the test split"):
        evaluation = {
            "binary_keras": evaluate_model(
                keras_models["binary"], data, held_out, out / "pr_binary.png", "binary (Keras)"
            ),
            "float_keras": evaluate_model(
                keras_models["float"], data, held_out, out / "pr_float.png", "float twin (Keras)"
            ),
            **{
                f"{variant.replace('-', '_')}_lce": evaluate_model(tflites[variant], data, held_out)
                for variant in BINARY_VARIANTS
            },
        }
        write_json(out / "eval.json", evaluation)

    with step("benchmark latency, interleaved, in a new process"):
        bench = benchmark_fresh(list(tflites.values()), out, threads, runs, warmup=max(2, runs // 10))

    with step("detect on test images"):
        detections = annotate_samples(tflites[MAIN_VARIANT], test_samples, out / "detections", 6)

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
            "out": str(out),
            "epochs": epochs,
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
    for warning in result_warnings(summary):
        log.warning(warning)
    return summary

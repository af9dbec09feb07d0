"""Images per second of a training step of `bcn demo`'s binary model, at the demo's size, on CPU.

Generates the demo's data set (2000 images of 96 px), then measures three figures:

- step alone: Keras' compiled train function called on one batch held in memory
  (no input pipeline, no callbacks): what the model's forward and backward pass cost;
- fit steps: inside `bcn.train.train` as the demo runs it, the time from the end of each
  epoch's first step to the end of its last, per image: the step with the input
  pipeline and every per-batch callback;
- fit epochs: whole epochs of the same run (the end-of-epoch saves and callbacks included).

The fit figures skip the first epoch, which pays for tracing. Results go to
train_step_speed.json beside this script, keyed by --label, with the git commit, the
command, the machine and its load; train_step_speed.md is rewritten from every label.

    python benchmarks/train_step_speed.py --label after
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from provenance import command_lines, commit, provenance, provenance_cells, results_head, save_labelled

import bcn  # noqa: F401  (selects the Keras 2 API before TensorFlow loads)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "train_step_speed.json"
ABOUT = """
Images/s: **step alone** is Keras' compiled train function on one batch in memory; **fit steps** the steps
of `bcn.train.train` as `bcn demo` runs it (input pipeline and per-batch callbacks included); **fit epochs**
whole epochs (end-of-epoch saves included). The first epoch, which traces, is left out; its seconds are the
first of the epoch times. The machine is shared with other work (see the load averages): compare rows
measured close together.
"""
IMAGES = 2000  # the demo's default


def step_timer():
    """A Keras callback recording, per epoch, its seconds and those from its first step's end to its last's."""
    import tensorflow as tf

    class StepTimer(tf.keras.callbacks.Callback):
        _supports_tf_logs = True  # no conversion of the logs to numpy on every batch

        def __init__(self):
            super().__init__()
            self.epochs: list[dict] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.epochs.append({"begin": time.perf_counter(), "steps": 0})

        def on_train_batch_end(self, batch, logs=None):
            current = self.epochs[-1]
            current["steps"] += 1
            current.setdefault("first_step_end", time.perf_counter())
            current["last_step_end"] = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epochs[-1]["end"] = time.perf_counter()

    return StepTimer()


def step_alone(run_dir: Path, data: Path, steps: int) -> float:
    """Images/s of the compiled train function on one in-memory batch of the demo's binary model."""
    import tensorflow as tf

    from bcn.demo import DEMO_ARCH, DEMO_INPUT_SIZE
    from bcn.train.trainer import build_models, input_dataset, load_data, place, plan_run

    plan = plan_run(DEMO_ARCH, data, run_dir, input_size=DEMO_INPUT_SIZE, **demo_settings())
    cluster = place(tf.distribute.get_strategy(), None)
    models = build_models(plan, cluster)
    batch = next(iter(input_dataset(plan, load_data(plan, cluster)[0])))
    train_function = models.training.make_train_function()
    iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    train_function(iterator)  # traces
    start = time.perf_counter()
    for _ in range(steps):
        logs = train_function(iterator)
    float(logs["loss"])  # waits for the last step
    return steps * plan.recipe.batch_size / (time.perf_counter() - start)


def demo_settings() -> dict:
    """The demo's training arguments of bcn.train.train, besides the architecture, data and epochs (spelled out
    from bcn.demo's SHORT_RUN, so that the same script measures commits from before bcn.demo.train_like_the_demo).
    """
    from bcn.demo import SHORT_RUN
    from bcn.train.augment import LIGHT_AUGMENTATION
    from bcn.train.trainer import Recipe

    return {
        "batch_size": SHORT_RUN["batch_size"],
        "lr": SHORT_RUN["lr"],
        "eval_every": 1000,  # held-out evaluation is not a training step
        "recipe": Recipe(late_lr=SHORT_RUN["lr"], augment=LIGHT_AUGMENTATION),
        "seed": 0,
    }


def fit_rates(run_dir: Path, data: Path, epochs: int) -> dict:
    """Images/s of the demo's training run: per step (fit steps) and per whole epoch, after the first epoch."""
    from bcn.demo import DEMO_ARCH, DEMO_INPUT_SIZE
    from bcn.train.trainer import train

    timer = step_timer()
    settings = {"input_size": DEMO_INPUT_SIZE, "epochs": epochs, "callbacks": [timer], "verbose": 0}
    result = train(DEMO_ARCH, data, run_dir, **settings, **demo_settings())
    steady = timer.epochs[1:]
    batch_size = demo_settings()["batch_size"]
    step_images = sum((epoch["steps"] - 1) * batch_size for epoch in steady)
    step_seconds = sum(epoch["last_step_end"] - epoch["first_step_end"] for epoch in steady)
    epoch_seconds = [epoch["end"] - epoch["begin"] for epoch in timer.epochs]
    return {
        "fit_steps": step_images / step_seconds,
        "fit_epochs": result.images * len(steady) / sum(epoch_seconds[1:]),
        "epoch_seconds": [round(seconds, 2) for seconds in epoch_seconds],
        "train_images": result.images,
        "steps_per_epoch": timer.epochs[0]["steps"],
    }


def measure(args) -> dict:
    """Every figure of one labelled run, with what it ran on."""
    import tensorflow as tf

    from bcn.data.synth import write_synth
    from bcn.demo import DEMO_INPUT_SIZE

    revision = commit()  # before the measurement, which takes minutes
    with tempfile.TemporaryDirectory() as tmp:
        data = write_synth(Path(tmp) / "data", images=IMAGES, size=DEMO_INPUT_SIZE, seed=0)
        load_before = os.getloadavg()
        alone = step_alone(Path(tmp) / "step", data, args.steps)
        tf.keras.backend.clear_session()
        fit = fit_rates(Path(tmp) / "fit", data, args.epochs)
        recorded = provenance(revision, load_before)
    return {
        "step_alone": round(alone, 1),
        "fit_steps": round(fit["fit_steps"], 1),
        "fit_epochs": round(fit["fit_epochs"], 1),
        "epoch_seconds": fit["epoch_seconds"],
        "train_images": fit["train_images"],
        "steps_per_epoch": fit["steps_per_epoch"],
        **recorded,
    }


def write_markdown(results: dict) -> None:
    """train_step_speed.md: one row per label."""
    title = "Training step speed of the demo's binary model (96 px, batch 16, CPU)"
    lines = results_head(title, ABOUT, "step alone", "fit steps", "fit epochs", "epoch s")
    for label, result in results.items():
        epochs = ", ".join(f"{seconds:.1f}" for seconds in result["epoch_seconds"])
        lines.append(
            f"| {label} | {result['step_alone']:.1f} | **{result['fit_steps']:.1f}** | {result['fit_epochs']:.1f} | "
            f"{epochs} | {provenance_cells(result)} |"
        )
    lines += command_lines(results)
    (HERE / "train_step_speed.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="Name of this measurement in the results file.")
    parser.add_argument("--epochs", type=int, default=4, help="Epochs of the fit run (the first is left out).")
    parser.add_argument("--steps", type=int, default=100, help="Timed calls of the train function alone.")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first, which traces, is left out")
    result = measure(args)
    save_labelled(RESULTS, args.label, result, write_markdown)


if __name__ == "__main__":
    main()

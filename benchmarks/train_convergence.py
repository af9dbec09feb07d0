"""The binary/float gap at convergence: `bcn demo`'s binary model and its float twin, trained alike.

Generates the demo's data set, trains the demo's binary model until its held-out mAP@0.5
(VOC07) stops improving (no gain above --min-gain over --patience evaluations in a row, at
most --max-epochs), then its float twin for the same number of epochs, and records both
curves, the epochs and the final and best mAP. A --recipe names the binary model's training
recipe (the demo's, or one lever changed); the float twin always trains with the demo's.
Results go to train_convergence.json beside this script, keyed by recipe, with the commit,
the command, the machine and its load; train_convergence.md is rewritten from all of them.

    python benchmarks/train_convergence.py                     # the demo's recipe
    python benchmarks/train_convergence.py --recipe late-drop --epochs 100 --reuse-float-twin demo  # one lever

--keep DIR keeps the generated data and both runs (DIR/data, DIR/binary, DIR/float) for
what comes after training, e.g. benchmarks/int8_rest.py.
"""

import argparse
import math
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from provenance import commit, provenance, save_labelled

import bcn  # noqa: F401  (selects the Keras 2 API before TensorFlow loads)
from bcn.io import read_json

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "train_convergence.json"
# The binary model's recipes: the demo's, then one lever each (the float twin keeps the demo's).
RECIPES = {
    "demo": "the demo's: Adam 2e-3 constant, halved when the training loss stalls for 5 epochs",
    "late-drop": "the demo's, then 1e-4 from half the epochs the demo's recipe converged in",
    "cosine": "Adam 2e-3 decayed along a half cosine towards 0 over the run's epochs (set each epoch, so the "
    "demo's halving on a stalled loss does not last)",
}


def plateau_stop(run_dir: Path, patience: int, min_gain: float):
    """A Keras callback that ends training once `patience` held-out evaluations in a row (read from the run's
    eval.json, which bcn writes before later callbacks run) gained no more than `min_gain` over the best."""
    import tensorflow as tf

    class PlateauStop(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best, self.stale, self.seen = -1.0, 0, None

        def on_epoch_end(self, epoch, logs=None):
            evaluation = read_json(run_dir / "eval.json") if (run_dir / "eval.json").is_file() else {}
            if evaluation.get("epoch") != epoch + 1 or evaluation["epoch"] == self.seen:
                return
            self.seen = evaluation["epoch"]
            score = float(evaluation["map50_voc07"])
            self.stale = 0 if score > self.best + min_gain else self.stale + 1
            self.best = max(self.best, score)
            if self.stale >= patience:
                self.model.stop_training = True

    return PlateauStop()


def cosine_decay(start: float, epochs: int):
    """A Keras schedule: `start` at epoch 0, decayed along a half cosine towards 0 at `epochs`."""
    return lambda epoch, lr: start * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


def train_one(data: Path, run_dir: Path, float_twin: bool, epochs: int, args, recipe_name: str, callbacks=()):
    """Train the demo's model (or its float twin) and return its epochs, seconds and held-out curve."""
    import tensorflow as tf

    from bcn.demo import short_run_arguments, train_like_the_demo

    demo = short_run_arguments()
    recipe, callbacks = demo["recipe"], list(callbacks)
    if recipe_name == "late-drop":  # LateLearningRate drops at half of recipe.epochs
        recipe = replace(recipe, late_lr=1e-4)
    if recipe_name == "cosine":  # runs after bcn's own callbacks: its rate is the one each epoch starts with
        callbacks.append(tf.keras.callbacks.LearningRateScheduler(cosine_decay(demo["lr"], epochs)))
    result = train_like_the_demo(
        data,
        run_dir,
        epochs,
        eval_every=args.eval_every,
        float_twin=float_twin,
        seed=args.seed,
        recipe=recipe,
        callbacks=callbacks,
    )
    tf.keras.backend.clear_session()
    curve = [{"epoch": e["epoch"], "map50_voc07": round(e["map50_voc07"], 4)} for e in result.evaluations]
    return {
        "epochs": result.last_epoch,
        "seconds": round(result.seconds, 1),
        "curve": curve,
        "final_map50_voc07": curve[-1]["map50_voc07"],
        "best_map50_voc07": max(point["map50_voc07"] for point in curve),
    }


def reused_float_twin(label: str, epochs: int) -> dict | None:
    """The float twin of the row `label` when it trained `epochs` epochs (the float twin always trains with
    the demo's recipe on the same generated data and seed), marked with where it comes from; else None."""
    row = read_json(RESULTS).get(label) if RESULTS.is_file() else None
    if not row or row["float_twin"]["epochs"] != epochs:
        print(f"train_convergence: no float twin of {epochs} epochs in the row {label!r}; training one")
        return None
    return {**row["float_twin"], "from": f"the {label} row (commit {row['commit']}, {row['date']})"}


def measure(args) -> dict:
    """Both models' curves under args.recipe, with what they ran on."""
    from bcn.data.synth import write_synth
    from bcn.demo import DEMO_IMAGES, DEMO_INPUT_SIZE

    revision, load_before = commit(), os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        data = write_synth(Path(tmp) / "data", images=DEMO_IMAGES, size=DEMO_INPUT_SIZE, seed=args.seed)
        stop = plateau_stop(Path(tmp) / "binary", args.patience, args.min_gain)
        epochs = args.epochs or args.max_epochs
        binary = train_one(data, Path(tmp) / "binary", False, epochs, args, args.recipe, [] if args.epochs else [stop])
        floating = reused_float_twin(args.reuse_float_twin, binary["epochs"]) if args.reuse_float_twin else None
        floating = floating or train_one(data, Path(tmp) / "float", True, binary["epochs"], args, "demo")
    return {
        "recipe": RECIPES[args.recipe],
        "binary": binary,
        "float_twin": floating,
        "gap_final": round(floating["final_map50_voc07"] - binary["final_map50_voc07"], 4),
        "gap_best": round(floating["best_map50_voc07"] - binary["best_map50_voc07"], 4),
        "stopping": f"fixed {args.epochs} epochs"
        if args.epochs
        else f"binary until {args.patience} evaluations without a gain above {args.min_gain} "
        f"(at most {args.max_epochs} epochs), float twin the same epochs",
        "eval_every": args.eval_every,
        **provenance(revision, load_before),
    }


def _curve(run: dict) -> str:
    return ", ".join(f"{point['epoch']}: {point['map50_voc07']:.3f}" for point in run["curve"])


def _reused(run: dict) -> str:
    return f", reused from {run['from']}" if "from" in run else ""


def write_markdown(results: dict) -> None:
    """train_convergence.md: one row per recipe, then each one's curves and command."""
    lines = [
        "# The binary/float gap at convergence (`bcn demo`'s model, generated data, CPU)",
        "",
        "Written by `benchmarks/train_convergence.py`; rerun it to reproduce. Held-out mAP@0.5 (VOC07) on the",
        "demo's generated data (2000 images of 96 px, a quarter held out), batch 16, light augmentation.",
        "The float twin trains with the demo's recipe for as many epochs as the binary model did.",
        "",
        "| binary recipe | epochs | binary final / best | float final / best | gap final / best | machine | date |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, result in results.items():
        binary, floating = result["binary"], result["float_twin"]
        lines.append(
            f"| {name} | {binary['epochs']} | {binary['final_map50_voc07']:.3f} / {binary['best_map50_voc07']:.3f} | "
            f"{floating['final_map50_voc07']:.3f} / {floating['best_map50_voc07']:.3f} | "
            f"**{result['gap_final']:.3f}** / {result['gap_best']:.3f} | {result['machine']}, load "
            f"{result['load_average_before']} before, {result['load_average_after']} after | {result['date']} |"
        )
    for name, result in results.items():
        lines += [
            "",
            f"## {name}",
            "",
            f"Recipe: {result['recipe']}. Stopping: {result['stopping']}.",
            f"Command: `{result['command']}` at commit {result['commit']}.",
            "",
            f"- binary ({result['binary']['seconds'] / 60:.1f} min): {_curve(result['binary'])}",
            f"- float twin ({result['float_twin']['seconds'] / 60:.1f} min{_reused(result['float_twin'])}): "
            f"{_curve(result['float_twin'])}",
        ]
    (HERE / "train_convergence.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="demo", help="The binary model's recipe.")
    parser.add_argument("--epochs", type=int, help="Train this many epochs instead of until the plateau.")
    parser.add_argument("--max-epochs", type=int, default=120, help="The most epochs the plateau rule may take.")
    parser.add_argument("--eval-every", type=int, default=4, help="Epochs between held-out evaluations.")
    parser.add_argument("--patience", type=int, default=4, help="Evaluations without a gain that end training.")
    parser.add_argument("--min-gain", type=float, default=0.005, help="The least mAP gain that counts.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="Keep the data and both runs in this new folder.")
    parser.add_argument(
        "--reuse-float-twin",
        metavar="RECIPE",
        help="Take the float twin from that recipe's row when it trained as many epochs (else train it).",
    )
    args = parser.parse_args()
    if args.recipe in ("late-drop", "cosine") and not args.epochs:
        parser.error(f"--recipe {args.recipe} needs --epochs (its schedule is laid out over them)")
    if args.keep and args.keep.exists():
        parser.error(f"--keep {args.keep}: already exists")
    result = measure(args)
    save_labelled(RESULTS, args.recipe, result, write_markdown)


if __name__ == "__main__":
    main()

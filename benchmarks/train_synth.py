"""Train a small binary CenterNet and its float twin on the generated data set, on CPU.

Records, in train_synth.json and train_synth.md beside this script: VOC07 mAP@0.5
(and the all-point area) on the held-out split, wall time, and images/s of the
input pipeline alone and of training. Rerun:

    nice python benchmarks/train_synth.py            # about 2 x 10 minutes of training
    python benchmarks/train_synth.py --minutes 2     # a quick look

Timings depend on the machine and what else runs on it: the results file records
the CPU, the core count and the load average before and after.
"""

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import bcn  # noqa: F401  (selects the Keras 2 API before TensorFlow loads)
from bcn.io import write_json
from bcn.runtime.machine import machine_info
from bcn.train.augment import LIGHT_AUGMENTATION, AugmentConfig

HERE = Path(__file__).resolve().parent
TARGET_MAP = 0.5
# "paper": bcn.train's defaults; "light": flips and small shifts and zooms only, for short runs.
AUGMENT = {
    "paper": AugmentConfig(),
    "light": LIGHT_AUGMENTATION,
}
SPEC = "qn(96) qn([1x32, 2x64, 2x128, 2x256]) tp(2)([64, 32, 32]) h(32)"


def throughput_meter(batch_size: int):
    """A Keras callback counting trained images and timing the train steps after the first epoch."""
    import tensorflow as tf

    class Throughput(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.images, self.steady_images, self.steady_seconds, self.epoch, self.started = 0, 0, 0.0, 0, 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.images += batch_size
            if self.epoch > 0:  # the first epoch pays for tracing the train step
                self.steady_images += batch_size
                self.steady_seconds += time.perf_counter() - self.started

    return Throughput()


def run(name: str, data_root: Path, run_dir: Path, args, float_twin: bool) -> dict:
    import tensorflow as tf

    from bcn.arch.cost import model_cost
    from bcn.arch.model import build_model
    from bcn.train.trainer import Recipe, train

    meter = throughput_meter(args.batch_size)
    result = train(
        args.spec,
        data_root,
        run_dir,
        input_size=args.input_size,
        epochs=args.max_epochs,
        batch_size=args.batch_size,
        eval_every=args.eval_every,
        float_twin=float_twin,
        lr=args.lr,
        minutes=args.minutes,
        seed=args.seed,
        recipe=Recipe(augment=AUGMENT[args.augment], late_lr=args.late_lr),
        callbacks=[meter],
        verbose=2,
    )
    cost = model_cost(build_model(args.spec, args.input_size, len(result.config["classes"]), float_twin))
    tf.keras.backend.clear_session()
    evaluation = result.evaluation
    return {
        "name": name,
        "float_twin": float_twin,
        "spec": result.config["spec"],
        "macs": cost["macs"],
        "binary_ratio": cost["binary_ratio"],
        "params": cost["params"],
        "epochs": result.epochs_run,
        "train_seconds": round(result.seconds, 1),
        "images_trained": meter.images,
        "train_images_per_second": round(meter.steady_images / max(meter.steady_seconds, 1e-9), 1),
        "map50_voc07": evaluation["map50_voc07"],
        "map50_area": evaluation["map50_area"],
        "best_map50_voc07": evaluation["best_map50_voc07"],
        "evaluated_epoch": evaluation["epoch"],
        "run_dir": str(run_dir),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("runs/bench-train"), help="data set and run folders")
    parser.add_argument("--images", type=int, default=2000, help="generated images (a quarter held out)")
    parser.add_argument("--size", type=int, default=96, help="long side of the generated images")
    parser.add_argument("--input-size", type=int, default=96)
    parser.add_argument("--spec", default=SPEC)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per model")
    parser.add_argument("--max-epochs", type=int, default=1000, help="upper bound; the budget ends training")
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=2e-3, help="initial Adam learning rate")
    parser.add_argument(
        "--late-lr",
        type=float,
        default=1e-4,
        help="learning rate from half the budget on (the recipe's 1e-4; the initial lr keeps it constant)",
    )
    parser.add_argument("--results", default="train_synth", help="name of the results files beside this script")
    parser.add_argument("--augment", choices=sorted(AUGMENT), default="light")
    parser.add_argument("--note", default="", help="conditions of the run, recorded with the results")
    parser.add_argument("--only", choices=("binary", "float"), help="train one of the two")
    args = parser.parse_args()

    import tensorflow as tf

    from bcn.data.synth import write_synth
    from bcn.data.voc import load_voc
    from bcn.train.pipeline import images_per_second, training_dataset

    data_root = args.work / f"synth-{args.images}-{args.size}-{args.seed}"
    if not data_root.is_dir():
        args.work.mkdir(parents=True, exist_ok=True)
        write_synth(data_root, args.images, size=args.size, seed=args.seed)
    load_before = os.getloadavg()
    samples = load_voc(data_root, "trainval")
    dataset = training_dataset(samples, args.input_size, 6, args.batch_size, AUGMENT[args.augment])
    pipeline = images_per_second(dataset, seconds=20)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    models = []
    for name, float_twin in (("binary", False), ("float twin", True)):
        if args.only and args.only != ("float" if float_twin else "binary"):
            continue
        run_dir = args.work / f"{stamp}-{'float' if float_twin else 'binary'}"
        models.append(run(name, data_root, run_dir, args, float_twin))
        print(json.dumps(models[-1], indent=2), flush=True)

    results = {
        "machine": {
            **machine_info(),
            "tensorflow": tf.__version__,
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
            "note": args.note,
        },
        "data": {
            "root": str(data_root),
            "images": args.images,
            "size": args.size,
            "train_images": len(samples),
            "classes": 6,
        },
        "settings": {
            "input_size": args.input_size,
            "batch_size": args.batch_size,
            "minutes_per_model": args.minutes,
            "eval_every": args.eval_every,
            "seed": args.seed,
            "lr": args.lr,
            "late_lr": args.late_lr,
            "augment": args.augment,
            "augment_config": AUGMENT[args.augment].to_dict(),
            "recipe": f"bcn.train's recipe: Adam {args.lr:g}, plateau decay, {args.late_lr:g} from half the budget, "
            f"'{args.augment}' augmentation",
        },
        "input_pipeline_images_per_second": round(pipeline, 1),
        "models": models,
    }
    write_json(HERE / f"{args.results}.json", results)
    (HERE / f"{args.results}.md").write_text(markdown(results))
    print(markdown(results))


def markdown(results: dict) -> str:
    machine = results["machine"]
    lines = [
        "# Training on the generated data set (CPU)",
        "",
        f"Written by `{shlex.join(['python', 'benchmarks/train_synth.py', *sys.argv[1:]])}`; rerun it to reproduce.",
        "",
        f"- Machine: {machine['cpu']}, {machine['logical_cores']} cores, Python {machine['python']}, "
        f"TensorFlow {machine['tensorflow']}; load average (1/5/15 min) {machine['load_average_before']} before, "
        f"{machine['load_average_after']} after. {machine['note']}",
        f"- Data: {results['data']['images']} generated images of {results['data']['size']} px, "
        f"{results['data']['train_images']} for training, the rest held out; {results['data']['classes']} classes.",
        f"- Input {results['settings']['input_size']} px, batch {results['settings']['batch_size']}, "
        f"{results['settings']['minutes_per_model']} minutes of training per model; {results['settings']['recipe']}.",
        f"- Input pipeline alone (decode, augment, targets; tf.data, AUTOTUNE): "
        f"**{results['input_pipeline_images_per_second']} images/s**.",
        "",
        "Train s is the wall time of `fit` (tracing, evaluations and checkpoints included); train img/s",
        "times the train steps alone, after the first epoch.",
        "",
        "| model | GMACs | rb | epochs | images trained | train s | train img/s "
        "| mAP@0.5 VOC07 | mAP@0.5 area | best VOC07 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in results["models"]:
        lines.append(
            f"| {m['name']} | {m['macs'] / 1e9:.3f} | {m['binary_ratio']:.3f} | {m['epochs']} | "
            f"{m['images_trained']} | {m['train_seconds']} | {m['train_images_per_second']} | {m['map50_voc07']:.3f} | "
            f"{m['map50_area']:.3f} | {m['best_map50_voc07']:.3f} |"
        )
    lines += ["", f"Spec: `{results['models'][0]['spec'] if results['models'] else ''}`", ""]
    binary = [m for m in results["models"] if not m["float_twin"]]
    if binary:
        reached = binary[0]["map50_voc07"]
        verdict = "met" if reached >= TARGET_MAP and results["settings"]["minutes_per_model"] <= 10 else "not met"
        lines += [
            f"Target: the binary model at >= {TARGET_MAP} mAP@0.5 (VOC07) within 10 minutes of training "
            f"on 2 CPU cores: **{verdict}** (reached {reached:.3f}).",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

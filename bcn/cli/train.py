"""`bcn train`: train a CenterNet detector with the paper's recipe."""

import sys
import warnings

import click

from bcn.arch.notation import DEFAULT_SEED
from bcn.cli.options import POSITIVE_FLOAT, POSITIVE_INT, data_roots_option
from bcn.defaults import BATCH_SIZE, EPOCHS, EVAL_EVERY, LEARNING_RATE, WORKER_TIMEOUT_S
from bcn.extras import import_tensorflow


@click.command()
@click.option(
    "--arch",
    "-a",
    help="A preset (q0-q5, q2a-q2e, rtb, rn50, rn50-256; bcn arch list), a spec string or "
    "a .py builder file (taken from the run when resuming).",
)
@data_roots_option("data_roots")
@click.option(
    "--out",
    "-o",
    "run_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Run folder for model.h5, best.h5, config.json and logs.",
)
@click.option("--input-size", "-z", type=POSITIVE_INT, help="Input size (a multiple of 32); default: the spec's.")
@click.option("--epochs", "-e", type=POSITIVE_INT, help=f"Epochs  [default: {EPOCHS}]")
@click.option(
    "--batch-size", "-b", type=POSITIVE_INT, help=f"Global batch size over all devices  [default: {BATCH_SIZE}]"
)
@click.option("--lr", type=POSITIVE_FLOAT, help=f"Initial Adam learning rate  [default: {LEARNING_RATE}]")
@click.option(
    "--eval-every",
    "-k",
    type=POSITIVE_INT,
    help=f"Evaluate mAP on the held-out split every K epochs  [default: {EVAL_EVERY}]",
)
@click.option("--steps-per-epoch", type=POSITIVE_INT, help="Batches per epoch, repeating the data; default: one pass.")
@click.option(
    "--eval-split",
    help="Held-out split for evaluation  [default: test, else val (valid, val2017), else none: no evaluation]",
)
@click.option(
    "--float-twin", is_flag=True, help="Train the architecture's float twin (every binary conv full precision)."
)
@click.option("--minutes", "-m", type=POSITIVE_FLOAT, help="Wall-clock budget: stop cleanly after M minutes.")
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --out from its last epoch.")
@click.option(
    "--weights",
    type=click.Path(dir_okay=False),
    help="A bcn .h5 model (e.g. an earlier run) whose leading layers of matching shape initialise this one "
    "(stem, encoder...); for rtb, also larq-zoo's RealToBinaryNet no-top weights file "
    "(r2b_weights_notop.h5).",
)
@click.option(
    "--seed",
    type=int,
    help="Random seed for weights, shuffling, augmentation and the binary blocks of a "
    "random spec ('pP'): the same seed, the same run on a CPU  "
    f"[default: {DEFAULT_SEED}, or the run's when resuming]",
)
@click.option(
    "--worker-timeout",
    type=POSITIVE_FLOAT,
    default=WORKER_TIMEOUT_S,
    help="With TF_CONFIG: seconds to wait for every other worker to start before giving up.",
)
def train(arch, data_roots, run_dir, resume, float_twin, **options):
    """Train a detector on the data set(s) in --data (PascalVOC, COCO JSON or YOLO layout).

    Writes RUN_DIR/model.h5 (last epoch), RUN_DIR/best.h5 (best VOC07 mAP@0.5 on the
    held-out split), RUN_DIR/config.json and TensorBoard logs in RUN_DIR/logs.
    Several GPUs train with MirroredStrategy; with TF_CONFIG set, several workers
    train with MultiWorkerMirroredStrategy (see docs/multi-worker.md). One run at a
    time trains into RUN_DIR: a second is refused, naming the PID of the first.

    \b
    bcn data synth data/synth --images 2000
    bcn train --arch "qn(128) qn([2x64, 2x128, 2x128, 2x256]) tp(2)([64, 32, 32]) h(32)" \\
              --data data/synth --out runs/small --epochs 40 --batch-size 16
    """
    if not resume and not arch:
        raise click.UsageError("--arch is required unless --resume is given")
    from bcn.arch.resolve import resolve

    if arch:
        resolve(arch, float_twin)  # a bad spec fails here, before TensorFlow loads
    import_tensorflow("bcn train")
    from bcn.train.trainer import train as run_training

    warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"
    result = run_training(
        arch,
        list(data_roots),
        run_dir,
        resume=resume,
        float_twin=float_twin,
        verbose=1 if sys.stdout.isatty() else 2,
        **options,  # the other options are train()'s arguments of the same names
    )
    trained = f"trained {result.last_epoch} epochs in {result.seconds / 60:.1f} min"
    if not result.chief:
        click.echo(f"{trained} as a worker; the chief wrote {run_dir}")
    elif not result.evaluation:
        click.echo(f"{trained}, without evaluation; wrote {run_dir}/model.h5, config.json")
    else:
        click.echo(
            f"{trained}; best mAP@0.5 (VOC07) {result.evaluation['best_map50_voc07']:.4f}; "
            f"wrote {run_dir}/model.h5, best.h5, config.json"
        )

"""The paper's training recipe on Keras `fit`: CenterNet losses, callbacks, tf.distribute.

A run directory holds `config.json` (written first), `model.h5` (the last epoch),
`best.h5` (best VOC07 mAP@0.5 on the held-out split), `eval.json` (the latest
evaluation; neither without a held-out split), `logs/` (TensorBoard) and `backup/` (Keras BackupAndRestore: weights,
optimizer state and epoch) from which `resume=True` continues it: an interrupted run
from its last finished epoch, a finished one (config.json's `finished_epochs`) only
when given more epochs.

With several workers (TF_CONFIG, MultiWorkerMirroredStrategy) each worker reads only
its share of the training images (the file list is split before anything is
decoded), the chief alone writes the run folder and evaluates, and every worker
restores from the chief's backup: the run folder must be on storage all workers see.
"""

import contextlib
import logging
import math
import numbers
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import tensorflow as tf

import bcn
from bcn.arch.model import build_model, check_fits
from bcn.arch.notation import DEFAULT_SEED
from bcn.arch.resolve import Architecture, resolve
from bcn.centernet import OUTPUT_STRIDE
from bcn.data.formats import NAMES, detect_format, evaluation_split, load, no_objects, read_class_names, train_split
from bcn.data.voc import as_roots
from bcn.defaults import BATCH_SIZE, EPOCHS, EVAL_EVERY, LEARNING_RATE, WORKER_TIMEOUT_S
from bcn.errors import BcnError
from bcn.interrupts import requested as interrupt_requested
from bcn.io import atomic_output, read_json, write_json
from bcn.preprocess import PREPROCESSING
from bcn.run_config import read_run_config, run_config_path, write_run_config
from bcn.train.augment import AugmentConfig
from bcn.train.cluster import TfConfig, read_tf_config, wait_for_workers
from bcn.train.losses import centernet_losses
from bcn.train.pipeline import drop_unreadable, fits_in_memory_decoded, training_dataset
from bcn.train.run_lock import run_lock

log = logging.getLogger(__name__)

LAST = "model.h5"
BEST = "best.h5"
EVALUATION = "eval.json"
BACKUP = "backup"
LOGS = "logs"
LOSS_NAMES = ("loss", "heatmap_loss", "size_loss", "offset_loss")
RUN_KEYS = ("spec", "input_size", "float_twin", "recipe")  # what a resume takes from config.json


@dataclass
class Recipe:
    """Hyper-parameters; the defaults are the paper's (docs/design.md §6)."""

    epochs: int = EPOCHS
    batch_size: int = BATCH_SIZE
    lr: float = LEARNING_RATE
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    late_lr: float = 1e-4  # from the halfway epoch (or half the time budget) on
    plateau_factor: float = 0.5
    plateau_patience: int = 5
    min_lr: float = 1e-6
    eval_every: int = EVAL_EVERY
    steps_per_epoch: int | None = None  # None: one pass over the training images
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict:
        return asdict(self)


class CenterNetTraining(tf.keras.Model):
    """Wraps a detector with the CenterNet losses; each term is logged as its own metric."""

    def __init__(self, detector: tf.keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.detector = detector
        self.trackers = {name: tf.keras.metrics.Mean(name=name) for name in LOSS_NAMES}

    def call(self, images, training=False):
        return self.detector(images, training=training)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def train_step(self, data):
        images, targets = data
        with tf.GradientTape() as tape:
            losses = centernet_losses(targets, self.detector(images, training=True))
            # Gradients are summed over replicas: scale so their sum is the mean.
            scaled = losses["loss"] / tf.distribute.get_strategy().num_replicas_in_sync
        variables = self.detector.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables, strict=True))
        for name, value in losses.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}


def choose_strategy(tf_config: TfConfig | None, worker_timeout: float = WORKER_TIMEOUT_S) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy with a TF_CONFIG (once every other worker answers, see
    bcn.train.cluster), MirroredStrategy on several GPUs, else the default.

    Call it before anything runs a TensorFlow op: collective ops can only be set up
    while TensorFlow's runtime is not yet started.
    """
    if tf_config is not None:
        wait_for_workers(tf_config, worker_timeout)
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (always, except non-chief workers)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def worker_share(strategy: tf.distribute.Strategy) -> tuple[int, int]:
    """(this worker's index, number of workers) of a multi-worker cluster, chief first; (0, 1) otherwise."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type not in ("chief", "worker"):
        return 0, 1
    cluster = resolver.cluster_spec().as_dict()
    tasks = [(job, index) for job in ("chief", "worker") for index in range(len(cluster.get(job, ())))]
    return tasks.index((resolver.task_type, resolver.task_id)), len(tasks)


def evaluate_model(detector: tf.keras.Model, samples, input_size: int, class_names) -> dict:
    """VOC mAP@0.5 of `detector` on `samples` (map50_voc07, map50_area, per_class)."""
    from bcn.evaluation import evaluate_detections
    from bcn.evaluation.predict import predict_keras

    result = evaluate_detections(samples, predict_keras(detector, samples, input_size), class_names).as_dict()
    result["map50_voc07"] = result["map50_voc07"] or 0.0  # None: no ground truth in the split
    result["map50_area"] = result["map50_area"] or 0.0
    return result


def save_h5(model: tf.keras.Model, path: Path) -> None:
    """Save a Keras model as .h5 atomically, without Keras' notes on the legacy format."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        with warnings.catch_warnings(), atomic_output(path) as tmp:
            warnings.simplefilter("ignore")
            model.save(tmp, include_optimizer=False)
    finally:
        logger.setLevel(level)


class RunFiles(tf.keras.callbacks.Callback):
    """Saves model.h5 every epoch; evaluates every K epochs and at the end, keeping best.h5 (with no
    held-out samples, nothing is evaluated and there is no best.h5).

    `detector` is the trained model; `plain` a copy of it outside the distribution
    strategy, or None on a worker that does not write. Every worker reads the trained
    weights at the same points (under several workers that read is a collective op),
    and only the writing one saves and evaluates its copy.
    """

    def __init__(
        self, detector, plain, run_dir: Path, eval_samples, input_size: int, class_names, eval_every: int, verbose: bool
    ):
        super().__init__()
        self.detector, self.plain, self.run_dir, self.eval_samples = detector, plain, run_dir, eval_samples
        self.input_size, self.class_names, self.eval_every = input_size, class_names, eval_every
        self.writes, self.verbose = plain is not None, verbose
        self.best = self._previous_best()
        self.last_evaluated = self.last_epoch = None
        self.evaluations: list[dict] = []  # {"epoch", "map50_voc07"} of each evaluation of this call
        self.writer = tf.summary.create_file_writer(str(run_dir / LOGS / "eval")) if self.writes else None

    def _previous_best(self) -> float:
        path = self.run_dir / EVALUATION
        saved = read_json(path) if path.is_file() else {}
        return saved.get("best_map50_voc07", -1.0) if isinstance(saved, dict) else -1.0

    def _evaluate(self, epoch: int) -> None:
        self.last_evaluated = epoch
        if not (self.writes and self.eval_samples):
            return
        result = evaluate_model(self.plain, self.eval_samples, self.input_size, self.class_names)
        score = float(result["map50_voc07"])
        self.evaluations.append({"epoch": epoch + 1, "map50_voc07": score})
        with self.writer.as_default(step=epoch + 1):
            tf.summary.scalar("map50_voc07", score)
            tf.summary.scalar("map50_area", float(result["map50_area"]))
        if score > self.best:
            with atomic_output(self.run_dir / BEST) as tmp:
                shutil.copyfile(self.run_dir / LAST, tmp)
        self.best = max(self.best, score)
        write_json(self.run_dir / EVALUATION, {"epoch": epoch + 1, **_plain(result), "best_map50_voc07": self.best})
        if self.verbose:
            log.info(
                f"epoch {epoch + 1}: mAP@0.5 VOC07 {score:.4f}, area {float(result['map50_area']):.4f} "
                f"(best {self.best:.4f})"
            )

    def on_epoch_end(self, epoch, logs=None):
        self.last_epoch = epoch
        weights = self.detector.get_weights()
        if self.writes:
            self.plain.set_weights(weights)
            save_h5(self.plain, self.run_dir / LAST)
        if (epoch + 1) % self.eval_every == 0:
            self._evaluate(epoch)

    def on_train_end(self, logs=None):
        if self.last_epoch is not None and self.last_evaluated != self.last_epoch:
            self._evaluate(self.last_epoch)


class LossNotFinite(Exception):
    """Raised inside Keras fit by StopWhenNotFinite: the epoch (from 0) and what became nan or infinite."""

    def __init__(self, epoch: int, what: str):
        super().__init__(what)
        self.epoch, self.what = epoch, what


class StopWhenNotFinite(tf.keras.callbacks.Callback):
    """Stops training at the first batch whose loss is nan or infinite, or at an epoch's end whose weights are.

    It runs before every other callback, so the diverged epoch's model.h5 and backup are never written.
    """

    def __init__(self, detector: tf.keras.Model):
        super().__init__()
        self.detector, self.epoch = detector, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            raise LossNotFinite(self.epoch, f"the loss became {loss}")

    def on_epoch_end(self, epoch, logs=None):
        if not all(np.isfinite(weights).all() for weights in self.detector.get_weights()):
            raise LossNotFinite(epoch, "the weights became nan or infinite")


class LateLearningRate(tf.keras.callbacks.Callback):
    """Caps the learning rate at `late_lr` from the halfway epoch, or half the time budget."""

    def __init__(self, late_lr: float, halfway_epoch: int, halfway_seconds: float | None):
        super().__init__()
        self.late_lr, self.halfway_epoch, self.halfway_seconds = late_lr, halfway_epoch, halfway_seconds
        self.start = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        late = epoch >= self.halfway_epoch or (
            self.halfway_seconds is not None and time.monotonic() - self.start >= self.halfway_seconds
        )
        learning_rate = self.model.optimizer.learning_rate
        if late and float(tf.keras.backend.get_value(learning_rate)) > self.late_lr:
            tf.keras.backend.set_value(learning_rate, self.late_lr)


class RunBackup(tf.keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore, kept after the last epoch so a finished run can train longer.

    A backup that cannot be restored is a one-line error naming it. Keras' step counter,
    restored at its total, made the progress bar count every epoch so far as one; it
    starts from zero again.
    """

    def __init__(self, backup_dir: Path):
        super().__init__(str(backup_dir), delete_checkpoint=False)
        self.folder = backup_dir

    def on_train_begin(self, logs=None):
        saved = any(self.folder.rglob("checkpoint"))
        try:
            super().on_train_begin(logs)
            reason = None
            if saved and int(self._training_state._ckpt_saved_epoch.numpy()) < 0:
                reason = "no readable checkpoint in it"  # Keras would silently start from epoch 1
        except (tf.errors.OpError, ValueError, AssertionError) as error:
            reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        if reason:
            raise BcnError(
                f"{self.folder}: the run's saved training state cannot be restored ({reason}); "
                "move the folder away to train from scratch"
            )
        self.model._train_counter.assign(0)


class TimeBudget(tf.keras.callbacks.Callback):
    """Stops training cleanly (after the current batch) once `seconds` have passed."""

    _supports_tf_logs = True  # it reads no logs: Keras need not copy them to numpy after every batch

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() - self.start >= self.seconds:
            self.model.stop_training = True


class StopOnInterrupt(tf.keras.callbacks.Callback):
    """Ends training after the current batch once Ctrl-C or SIGTERM came, in case the KeyboardInterrupt it raised
    was swallowed inside TensorFlow or Keras (see bcn.interrupts)."""

    _supports_tf_logs = True

    def on_train_batch_end(self, batch, logs=None):
        if interrupt_requested():
            raise KeyboardInterrupt

    on_epoch_end = on_train_batch_end


def _plain(value):
    """numpy scalars and arrays inside dicts/lists -> JSON-friendly Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


@dataclass
class RunPlan:
    """A run resolved from train()'s arguments and its folder, before TensorFlow runs an op.

    kind: "new", "resumed" (an interrupted run, at its next epoch) or "extended" (a
    finished run given more epochs). A resumed or extended run takes its spec, input
    size, float-twin flag, seed and recipe from config.json; the arguments only add epochs
    and the other recipe overrides, and the data must have the run's classes, in its
    order, in its layout (checked here, before anything is written).
    """

    kind: str
    run_dir: Path
    roots: list[Path]
    arch: str  # as given, or the resumed run's spec
    architecture: Architecture
    spec_text: str
    input_size: int
    float_twin: bool
    seed: int
    recipe: Recipe
    class_names: list[str]
    training_split: str
    eval_split: str | None  # None: the data set has no held-out split, so nothing is evaluated
    minutes: float | None
    weights: Path | None
    finished_epochs: int = 0  # of a finished run being extended: kept in config.json until an epoch more is done


@dataclass
class Cluster:
    """Where this process trains: its strategy, whether it writes the run folder, its share of the images."""

    strategy: tf.distribute.Strategy
    writes: bool
    share: tuple[int, int]  # (this worker's index, number of workers)


@dataclass
class Models:
    """The detector trained under the strategy, its compiled training wrapper, and a plain copy to save
    and evaluate (None on a worker that does not write)."""

    detector: tf.keras.Model
    training: CenterNetTraining
    plain: tf.keras.Model | None


@dataclass
class TrainResult:
    """What `train` did.

    run_dir: the run folder. seconds: time spent in Keras fit. epochs_run: epochs this call
    trained. last_epoch: the run's last epoch finished by this call, counted from 1 (0:
    none). chief: whether this process wrote the run folder. images: training images this
    worker read. evaluation: eval.json, the latest held-out evaluation ({} on a worker that
    does not write, or without a held-out split). config: what config.json holds. history:
    each loss per epoch of this call. evaluations: each held-out evaluation of this call,
    {"epoch" (counted from 1), "map50_voc07"}, in order.
    """

    run_dir: Path
    seconds: float
    epochs_run: int
    last_epoch: int
    chief: bool
    images: int
    evaluation: dict
    config: dict
    history: dict[str, list[float]]
    evaluations: list[dict]


def _data_roots(data_root) -> list[Path]:
    """The data set roots, each an existing folder."""
    roots = as_roots(data_root)
    for root in roots:
        if not root.is_dir():
            raise BcnError(f"{root}: no such data set folder")
    return roots


def _check_run_dir(run_dir: Path, resume: bool) -> dict | None:
    """The saved config when resuming; refuse to overwrite another run otherwise."""
    config = run_config_path(run_dir)
    if resume:
        if not config.is_file():
            raise BcnError(f"{config}: not found, nothing to resume")
        saved = read_run_config(run_dir)
        missing = [key for key in RUN_KEYS if key not in saved] if saved is not None else list(RUN_KEYS)
        if missing:
            raise BcnError(f"{config}: not a bcn run's config (no {', '.join(missing)})")
        return saved
    saved = read_run_config(run_dir)
    finished = saved.get("finished_epochs") if saved is not None else None
    if finished and (run_dir / LAST).exists():
        raise BcnError(
            f"{run_dir}: holds a run finished after {finished} epochs; choose another output folder, "
            f"or train it longer with --resume --epochs N (N > {finished})"
        )
    if (run_dir / BACKUP).is_dir() and any((run_dir / BACKUP).iterdir()):
        raise BcnError(f"{run_dir}: holds an interrupted run; resume it (--resume) or choose another output folder")
    if (run_dir / LAST).exists():
        raise BcnError(f"{run_dir}: already holds a trained model; choose another output folder")
    return None


def _saved_arguments(
    run_dir: Path, saved: dict, arch: str | None, input_size: int | None, float_twin: bool, seed: int | None
):
    """(arch, input_size, float_twin, seed, recipe) of the run being resumed; refuses another architecture,
    input size or float twin."""
    config = run_config_path(run_dir)
    if (
        arch is not None
        and resolve(arch, float_twin).spec is not None
        and str(resolve(arch, float_twin).spec.with_input_size(saved["input_size"])) != saved["spec"]
    ):
        raise BcnError(f"{config}: the run was started with '{saved['spec']}', not '{arch}'")
    if input_size is not None and input_size != saved["input_size"]:
        raise BcnError(f"{config}: the run was started at input size {saved['input_size']}, not {input_size}")
    if float_twin and not saved["float_twin"]:
        raise BcnError(f"{config}: the run trains the binary model, not its float twin (--float-twin)")
    try:
        recipe = Recipe(**dict(saved["recipe"], augment=AugmentConfig(**saved["recipe"]["augment"])))
    except (TypeError, KeyError) as error:
        raise BcnError(f"{run_config_path(run_dir)}: the saved recipe is not one bcn wrote ({error})") from None
    # The same seed draws the same random binary blocks.
    return saved["spec"], saved["input_size"], saved["float_twin"], saved.get("seed", seed), recipe


def _check_positive(name: str, value) -> None:
    """Refuse an override that is not a finite number above zero, naming it: TypeError for a non-number."""
    option = name.replace("_", "-")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{option} must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise BcnError(f"{option} must be a finite number, got {value}")
    if value <= 0:
        raise BcnError(f"{option} must be positive, got {value}")


def _layouts(roots: list[Path]) -> list[str]:
    """The layout of each data set root (PascalVOC, COCO JSON, YOLO)."""
    return [NAMES[detect_format(root)] for root in roots]


def _class_difference(saved: list[str], found: list[str]) -> str:
    """How the data set's class list differs from the run's, for a message."""
    if sorted(saved) == sorted(found):
        index = next(i for i, (mine, theirs) in enumerate(zip(saved, found, strict=True)) if mine != theirs)
        return (
            f"lists the run's classes in another order (class {index} is '{found[index]}', in the run "
            f"'{saved[index]}'), so training on would relabel the model"
        )
    new, gone = [name for name in found if name not in saved], [name for name in saved if name not in found]
    parts = [f"{len(new)} classes the run does not have ({_few(new)})"] if new else []
    parts += [f"not {len(gone)} of the run's classes ({_few(gone)})"] if gone else []
    return f"has {' and '.join(parts)}"


def _few(names: list[str], shown: int = 5) -> str:
    """The first `shown` names, then how many more."""
    more = f", and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _check_same_data(run_dir: Path, saved: dict, roots: list[Path], class_names: list[str]) -> None:
    """Refuse resuming on data whose classes (names and order) or layout are not the run's, before any write."""
    config, data = run_config_path(run_dir), ", ".join(map(str, roots))
    classes = saved.get("classes")
    if classes is not None and not (isinstance(classes, list) and all(isinstance(name, str) for name in classes)):
        raise BcnError(f"{config}: 'classes' is not a list of class names")
    if classes is not None and classes != class_names:
        raise BcnError(f"{config}: cannot resume on {data}: the data set {_class_difference(classes, class_names)}")
    layouts = saved.get("layouts")
    if layouts is not None and layouts != _layouts(roots):
        raise BcnError(
            f"{config}: cannot resume on {data}: the run was trained on {' + '.join(map(str, layouts))} data, "
            f"not {' + '.join(_layouts(roots))}"
        )


def _override(recipe: Recipe, **overrides) -> Recipe:
    """A copy of `recipe` with the overrides that are not None, each a finite positive number."""
    given = {name: value for name, value in overrides.items() if value is not None}
    for name, value in given.items():
        _check_positive(name, value)
    return replace(recipe, **given)


def _run_kind(run_dir: Path, saved: dict | None, epochs: int) -> str:
    """ "new", "resumed" or "extended"; refuses a finished run without more epochs, or a run without its backup."""
    if saved is None:
        return "new"
    finished = saved.get("finished_epochs")
    backed_up = (run_dir / BACKUP).is_dir() and any((run_dir / BACKUP).rglob("checkpoint"))
    if not finished:
        if (run_dir / LAST).exists() and not backed_up:  # e.g. finished by a bcn that deleted its backup
            raise BcnError(
                f"{run_dir}: holds {LAST} but no training state in {BACKUP}/ to continue from, so "
                "--resume would start again from epoch 1; train into another folder"
            )
        return "resumed"
    if epochs <= finished:
        raise BcnError(
            f"{run_dir}: run is finished ({finished} of {finished} epochs); to train it longer, "
            f"resume with --epochs more than {finished}"
        )
    if not backed_up:
        raise BcnError(f"{run_dir / BACKUP}: missing, so the finished run cannot continue with its optimizer state")
    return "extended"


def _sized(architecture: Architecture, input_size: int | None, num_classes: int, batch_size: int) -> tuple[int, str]:
    """(input size, spec text) of the architecture; a spec that cannot fit in memory is refused here."""
    if architecture.spec is None:
        return input_size or 512, str(architecture.builder)
    spec = architecture.spec.with_input_size(input_size or architecture.spec.input_size)
    check_fits(spec, num_classes, batch_size)
    return spec.input_size, str(spec)


def plan_run(
    arch: str | None,
    data_root,
    out_dir,
    input_size: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    eval_every: int | None = None,
    steps_per_epoch: int | None = None,
    resume: bool = False,
    float_twin: bool = False,
    minutes: float | None = None,
    weights=None,
    recipe: Recipe | None = None,
    eval_split: str | None = None,
    seed: int | None = None,
) -> RunPlan:
    """Resolve a run from train()'s arguments (see there) and its folder; every mistake fails here in one line."""
    run_dir, roots = Path(out_dir), _data_roots(data_root)
    saved = _check_run_dir(run_dir, resume)
    if saved is not None:
        arch, input_size, float_twin, seed, recipe = _saved_arguments(
            run_dir, saved, arch, input_size, float_twin, seed
        )
    if arch is None:
        raise BcnError("no architecture given (--arch)")
    recipe = _override(
        recipe or Recipe(),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        eval_every=eval_every,
        steps_per_epoch=steps_per_epoch,
    )
    kind = _run_kind(run_dir, saved, recipe.epochs)
    seed = DEFAULT_SEED if seed is None else seed
    architecture = resolve(arch, float_twin, seed)
    class_names = list(read_class_names(roots))
    if saved is not None:
        _check_same_data(run_dir, saved, roots, class_names)
    input_size, spec_text = _sized(architecture, input_size, len(class_names), recipe.batch_size)
    eval_split = _held_out(roots, eval_split)
    return RunPlan(
        kind,
        run_dir,
        roots,
        arch,
        architecture,
        spec_text,
        input_size,
        float_twin,
        seed,
        recipe,
        class_names,
        train_split(roots, eval_split),
        eval_split,
        minutes,
        Path(weights) if weights is not None else None,
        (saved or {}).get("finished_epochs") or 0,
    )


def _held_out(roots: list[Path], requested: str | None) -> str | None:
    """The split to evaluate on (formats.evaluation_split's rule); its absence is said in one line."""
    held_out = evaluation_split(roots, requested)
    if held_out is None:
        log.warning(f"{', '.join(map(str, roots))}: no test or val split, so the run trains without evaluation")
    return held_out


def place(strategy: tf.distribute.Strategy, minutes: float | None) -> Cluster:
    """This process's part in the cluster; a time budget is refused with several workers."""
    cluster = Cluster(strategy, is_chief(strategy), worker_share(strategy))
    if minutes and cluster.share[1] > 1:
        raise BcnError("--minutes cannot be used with several workers (each would stop on its own clock); use --epochs")
    return cluster


def _load_split(roots, split: str, class_names, what: str, share: tuple[int, int] = (0, 1)):
    """The usable samples of a split; with share (i, n) only every n-th image from the i-th is read and checked."""
    samples = drop_unreadable(load(roots, split, class_names, share))
    if not samples:
        raise BcnError(f"{', '.join(map(str, roots))}: the {what} split '{split}' has no usable images")
    return samples


def load_data(plan: RunPlan, cluster: Cluster) -> tuple[list, list]:
    """(training samples of this worker's share, held-out samples: none on a worker that does not write or
    without a held-out split). Training images without one object are refused; held-out ones are warned about."""
    train_samples = _load_split(plan.roots, plan.training_split, plan.class_names, "training", cluster.share)
    unlabelled = no_objects(plan.roots, plan.training_split, train_samples)
    if unlabelled:
        raise BcnError(f"{unlabelled}; there is nothing to learn from")
    if not (cluster.writes and plan.eval_split):
        return train_samples, []
    eval_samples = _load_split(plan.roots, plan.eval_split, plan.class_names, "held-out")
    unlabelled = no_objects(plan.roots, plan.eval_split, eval_samples)
    if unlabelled:
        log.warning(f"{unlabelled}; its mAP will be 0")
    return train_samples, eval_samples


def run_config(plan: RunPlan, cluster: Cluster, train_images: int, eval_images: int) -> dict:
    """What config.json records of the run (without finished_epochs)."""
    architecture = plan.architecture
    return {
        "spec": plan.spec_text,
        "arch": plan.arch if architecture.spec is None else architecture.name,
        "input_size": plan.input_size,
        "classes": plan.class_names,
        "num_classes": len(plan.class_names),
        "float_twin": bool(plan.float_twin or architecture.float_twin),
        "seed": plan.seed,
        "output_stride": OUTPUT_STRIDE,
        "preprocessing": PREPROCESSING,
        "data": [str(root) for root in plan.roots],
        "layouts": _layouts(plan.roots),
        "eval_split": plan.eval_split,
        "train_images": train_images,
        "eval_images": eval_images,
        "workers": cluster.share[1],
        "replicas": cluster.strategy.num_replicas_in_sync,
        "recipe": plan.recipe.to_dict(),
        "bcn_version": bcn.__version__,
    }


def is_weights_only(path: Path) -> bool:
    """A .h5 of weights without a model (Keras `save_weights`, e.g. larq-zoo's no-top files)."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            return "model_config" not in h5.attrs and "layer_names" in h5.attrs
    except OSError:
        return False  # not HDF5: _initialise names the problem


def _initialise(detector: tf.keras.Model, weights: Path) -> int:
    """Copy the leading layers of a bcn .h5 model whose types and shapes match (e.g. the same encoder).

    Layers pair up in order, so a model trained on other classes lends its stem,
    encoder and decoder. Returns how many layers were copied.
    """
    from bcn.arch.model import load_model

    if not weights.is_file() or weights.suffix != ".h5":
        raise BcnError(f"{weights}: not a .h5 model file")
    source = load_model(weights)
    copied = 0
    layers = ([layer for layer in model.layers if layer.weights] for model in (detector, source))
    for mine, theirs in zip(*layers, strict=False):
        if type(mine) is not type(theirs) or [w.shape for w in mine.weights] != [w.shape for w in theirs.weights]:
            break
        mine.set_weights(theirs.get_weights())
        copied += 1
    if not copied:
        raise BcnError(f"{weights}: no layer matches the model's first layers in type and shape")
    return copied


def build_models(plan: RunPlan, cluster: Cluster) -> Models:
    """The detector (initialised from plan.weights if given) with its optimizer, under the strategy."""
    num_classes, recipe = len(plan.class_names), plan.recipe
    encoder_weights = plan.weights if plan.weights is not None and is_weights_only(plan.weights) else None
    with cluster.strategy.scope():
        detector = build_model(
            plan.architecture, plan.input_size, num_classes, plan.float_twin, encoder_weights=encoder_weights
        )
        if plan.weights is not None and encoder_weights is None:
            _initialise(detector, plan.weights)
        optimizer = tf.keras.optimizers.Adam(recipe.lr, recipe.beta_1, recipe.beta_2, recipe.epsilon)
        optimizer.build(detector.trainable_variables)  # slots now, so the train step is traced once
        training = CenterNetTraining(detector)
        training.compile(optimizer=optimizer)
    plain = build_model(plan.architecture, plan.input_size, num_classes, plan.float_twin) if cluster.writes else None
    return Models(detector, training, plain)


def input_dataset(plan: RunPlan, train_samples) -> tf.data.Dataset:
    """The augmented training batches, repeated when the recipe fixes the steps per epoch.

    Each worker batches its own share at the global batch size; tf.distribute splits
    every batch among the worker's replicas, so a step takes batch_size images in all.
    A share small enough is decoded once and kept in memory, not decoded again every epoch.
    """
    recipe = plan.recipe
    dataset = training_dataset(
        train_samples,
        plan.input_size,
        len(plan.class_names),
        recipe.batch_size,
        recipe.augment,
        seed=plan.seed,
        cache_decoded=fits_in_memory_decoded(train_samples),
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    dataset = dataset.with_options(options)
    return dataset.repeat() if recipe.steps_per_epoch else dataset


def build_callbacks(plan: RunPlan, cluster: Cluster, models: Models, eval_samples, verbose: int):
    """(RunFiles, bcn's Keras callbacks in the order they must run)."""
    recipe, run_dir = plan.recipe, plan.run_dir
    budget = plan.minutes * 60 if plan.minutes else None
    run_files = RunFiles(
        models.detector,
        models.plain,
        run_dir,
        eval_samples,
        plan.input_size,
        plan.class_names,
        recipe.eval_every,
        verbose > 0,
    )
    callbacks = [
        StopOnInterrupt(),
        StopWhenNotFinite(models.detector),  # before the rest: a diverged epoch reaches no callback that writes
        LateLearningRate(recipe.late_lr, math.ceil(recipe.epochs / 2), budget / 2 if budget else None),
        tf.keras.callbacks.ReduceLROnPlateau(
            "loss", recipe.plateau_factor, recipe.plateau_patience, min_lr=recipe.min_lr, verbose=int(verbose > 0)
        ),
        run_files,  # model.h5 is on disk before the epoch's backup says it is done
        RunBackup(run_dir / BACKUP),
    ]
    if budget:
        callbacks.append(TimeBudget(budget))
    if cluster.writes:
        callbacks.append(tf.keras.callbacks.TensorBoard(str(run_dir / LOGS), profile_batch=0))
    return run_files, callbacks


def fit(plan: RunPlan, models: Models, dataset, callbacks, run_files: RunFiles, verbose: int):
    """(Keras history, seconds) of training; a lost worker or an interrupt is a one-line error saying how to go on."""
    start = time.monotonic()
    try:
        history = models.training.fit(
            dataset,
            epochs=plan.recipe.epochs,
            steps_per_epoch=plan.recipe.steps_per_epoch,
            callbacks=callbacks,
            verbose=verbose,
        )
        if interrupt_requested():  # the signal came after the last batch and its KeyboardInterrupt was lost
            raise KeyboardInterrupt
    except tf.errors.UnavailableError:  # a worker of the cluster went away
        raise BcnError(
            f"{plan.run_dir}: training stopped, a worker is unreachable; restart every worker with "
            "--resume to continue from the last finished epoch"
        ) from None
    except KeyboardInterrupt:
        raise TrainingInterrupted(plan.run_dir, run_files.last_epoch, plan.roots) from None
    except LossNotFinite as diverged:
        raise TrainingDiverged(plan.run_dir, diverged, run_files.last_epoch) from None
    return history, time.monotonic() - start


def _with_finished_epochs(config: dict, finished_epochs: int) -> dict:
    """config.json's content: the run config, and the epochs finished if any."""
    return {**config, "finished_epochs": finished_epochs} if finished_epochs else config


def finish(
    plan: RunPlan, cluster: Cluster, config: dict, run_files: RunFiles, history, seconds: float, images: int
) -> TrainResult:
    """Record the finished epochs in config.json (the writing process) and gather the result."""
    last_epoch = run_files.last_epoch + 1 if run_files.last_epoch is not None else 0
    if cluster.writes and last_epoch:
        write_run_config(plan.run_dir, _with_finished_epochs(config, last_epoch))
    evaluated = cluster.writes and (plan.run_dir / EVALUATION).is_file()
    evaluation = read_json(plan.run_dir / EVALUATION) if evaluated else {}
    return TrainResult(
        plan.run_dir,
        seconds,
        len(history.epoch),
        last_epoch,
        cluster.writes,
        images,
        evaluation,
        config,
        {name: [float(v) for v in values] for name, values in history.history.items()},
        run_files.evaluations,
    )


def train(
    arch: str | None,
    data_root,
    out_dir,
    input_size: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    eval_every: int | None = None,
    steps_per_epoch: int | None = None,
    resume: bool = False,
    float_twin: bool = False,
    minutes: float | None = None,
    weights=None,
    strategy: tf.distribute.Strategy | None = None,
    recipe: Recipe | None = None,
    eval_split: str | None = None,
    seed: int | None = None,
    callbacks=(),
    verbose: int = 1,
    worker_timeout: float = WORKER_TIMEOUT_S,
) -> TrainResult:
    """Train a CenterNet on a data set (PascalVOC, COCO or YOLO) into the run folder `out_dir`.

    Args:
        arch: a preset ("q1"), a spec string or a .py builder (None when resuming: the run's).
        data_root: a data set root, or a list of roots to merge (VOC2007 + VOC2012).
        out_dir: the run folder: config.json, model.h5, best.h5, eval.json, logs/, backup/.
        input_size, epochs, batch_size, lr, eval_every, steps_per_epoch: None takes the
            recipe's default (the paper's), or the saved run's when resuming.
        resume: continue the run in `out_dir` (an unfinished one at its next epoch; a
            finished one only with more `epochs`).
        float_twin: train the architecture with every binary conv full precision.
        minutes: stop cleanly after this wall-clock budget.
        weights: a bcn .h5 whose leading layers of matching shape initialise this model
            (for rtb also larq-zoo's RealToBinaryNet no-top weights file).
        strategy: a tf.distribute strategy (default: from TF_CONFIG and the GPUs present).
        recipe: a Recipe to start from instead of the paper's.
        eval_split: the held-out split mAP is measured on (default: test, else val, valid or val2017,
            else none: the run trains without evaluation, and says so on the bcn log).
        seed: seeds the weights, shuffling, augmentation and a random spec's binary blocks
            (default DEFAULT_SEED; the run's when resuming).
        callbacks: extra Keras callbacks, run after bcn's own.
        verbose: Keras' verbosity.
        worker_timeout: with TF_CONFIG, seconds to wait for every other worker to answer.

    The process that writes the run folder holds its lock (bcn.train.run_lock) from
    before the plan to the end: a second run into the same folder is refused, naming the
    PID of the first. A malformed TF_CONFIG is refused before anything else.

    Returns:
        A TrainResult: the run folder, seconds, epochs run, the last held-out evaluation
        (VOC07 and area mAP@0.5), the run config and the loss history.

    Example:
        >>> result = train("q1", "VOCdevkit/VOC2007", "runs/q1", epochs=2, input_size=256)
        >>> result.evaluation["map50_voc07"]
    """
    tf_config = read_tf_config() if strategy is None else None
    _check_positive("worker_timeout", worker_timeout)
    writes = is_chief(strategy) if strategy is not None else tf_config is None or tf_config.writes
    with run_lock(Path(out_dir)) if writes else contextlib.nullcontext():
        plan = plan_run(
            arch,
            data_root,
            out_dir,
            input_size=input_size,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            eval_every=eval_every,
            steps_per_epoch=steps_per_epoch,
            resume=resume,
            float_twin=float_twin,
            minutes=minutes,
            weights=weights,
            recipe=recipe,
            eval_split=eval_split,
            seed=seed,
        )
        cluster = place(strategy or choose_strategy(tf_config, worker_timeout), plan.minutes)  # before any TF op
        return _train(plan, cluster, callbacks, verbose)


def _train(plan: RunPlan, cluster: Cluster, callbacks, verbose: int) -> TrainResult:
    """Train the planned run in its place in the cluster (train's steps after the plan and the strategy)."""
    tf.keras.utils.set_random_seed(plan.seed)
    train_samples, eval_samples = load_data(plan, cluster)
    config = run_config(plan, cluster, len(train_samples), len(eval_samples))
    models = build_models(plan, cluster)
    if cluster.writes:
        write_run_config(plan.run_dir, _with_finished_epochs(config, plan.finished_epochs))
    dataset = input_dataset(plan, train_samples)
    run_files, own_callbacks = build_callbacks(plan, cluster, models, eval_samples, verbose)
    history, seconds = fit(plan, models, dataset, own_callbacks + list(callbacks), run_files, verbose)
    return finish(plan, cluster, config, run_files, history, seconds, len(train_samples))


class TrainingInterrupted(BcnError):
    """Ctrl-C or SIGTERM during training: says what is saved and how to continue."""

    exit_code = 130

    def __init__(self, run_dir: Path, last_epoch: int | None, roots):
        resume = f"bcn train --out {run_dir} {' '.join(f'--data {root}' for root in roots)} --resume"
        saved = _saved_epoch(run_dir, last_epoch)
        super().__init__(f"{run_dir}: training interrupted; {saved}; continue with: {resume}")


def _saved_epoch(run_dir: Path, last_epoch: int | None) -> str:
    """What the run folder holds of this session's training, for a message."""
    if last_epoch is None:
        return "no epoch finished in this session"
    return f"{run_dir / LAST} holds epoch {last_epoch + 1}"


class TrainingDiverged(BcnError):
    """The loss or the weights became nan or infinite: training stops without saving the diverged epoch."""

    def __init__(self, run_dir: Path, diverged: LossNotFinite, last_epoch: int | None):
        super().__init__(
            f"{run_dir}: training stopped in epoch {diverged.epoch + 1}: {diverged.what}, so that epoch is not saved "
            f"({_saved_epoch(run_dir, last_epoch)}); a lower --lr may help"
        )

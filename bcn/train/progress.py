"""A training run's progress for a person watching it: bcn's progress bar over the run's steps, with
the remaining time once the first epoch has shown how many steps an epoch has, and that first
epoch's timing, from which a caller can estimate how long the rest will take."""

import contextlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

from bcn.progress import log, progress_bar


@dataclass(frozen=True)
class FirstEpoch:
    """The first epoch of a run, timed.

    seconds: what a later epoch should take (the epoch with its first step, which traces the
    train step, counted as an ordinary step). tracing: what the first step took beyond an
    ordinary one. steps: the epoch's steps.
    """

    seconds: float
    tracing: float
    steps: int


def time_first_epoch(began: float, first_step_ended: float, ended: float, steps: int) -> FirstEpoch:
    """FirstEpoch from the epoch's clock readings (seconds): its start, its first step's end and its end."""
    ordinary_step = (ended - first_step_ended) / (steps - 1) if steps > 1 else first_step_ended - began
    tracing = max(0.0, first_step_ended - began - ordinary_step)
    return FirstEpoch(ended - began - tracing, tracing, steps)


def _logs_to_console() -> bool:
    """Whether the bcn log writes to the terminal itself (the command line's setup), not through the root logger."""
    return any(
        isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.stderr)
        for handler in log.handlers
    )


class TrainingProgress(tf.keras.callbacks.Callback):
    """Moves a progress bar along a run's steps and logs each epoch at debug level.

    An epoch's steps are known once the first has ended; from then on, with `epochs` (the
    epochs this run trains; None when a time budget ends it), the bar's total is known and
    it shows the remaining time. `after_first_epoch` receives the FirstEpoch.
    """

    _supports_tf_logs = True  # reads the logs at epoch ends only: Keras need not copy them after every batch

    def __init__(self, bar, desc: str, epochs: int | None, after_first_epoch: Callable[[FirstEpoch], None] | None):
        super().__init__()
        self.bar, self.desc, self.epochs, self.after_first_epoch = bar, desc, epochs, after_first_epoch
        self.first_epoch: FirstEpoch | None = None
        self.began = self.first_step_ended = 0.0
        self.steps = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.began, self.steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == 1:
            self.first_step_ended = time.perf_counter()
        self.bar.update()

    def on_epoch_end(self, epoch, logs=None):
        ended = time.perf_counter()
        if self.first_epoch is None:
            self.first_epoch = time_first_epoch(self.began, self.first_step_ended, ended, self.steps)
            if self.epochs:
                self.bar.total = self.first_epoch.steps * self.epochs
                self.bar.refresh()
            if self.after_first_epoch is not None:
                self.after_first_epoch(self.first_epoch)
        loss = float((logs or {}).get("loss", float("nan")))
        self.bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.3f}")
        of_epochs = f"/{self.epochs}" if self.epochs else ""
        log.debug(f"{self.desc}: epoch {epoch + 1}{of_epochs}: loss {loss:.4f}, {ended - self.began:.1f} s")


@contextlib.contextmanager
def training_progress(desc: str, epochs: int | None, after_first_epoch: Callable[[FirstEpoch], None] | None = None):
    """A TrainingProgress callback (see there) on bcn's progress bar, for `train(callbacks=...)`.

    While the bar is shown, the bcn log is written around it (tqdm's logging redirect) rather
    than across it; the bar is cleared and the log restored on leaving, however training ends.
    """
    from tqdm.contrib.logging import logging_redirect_tqdm

    with progress_bar(desc=desc, unit="step") as bar, contextlib.ExitStack() as redirect:
        if not bar.disable and _logs_to_console():
            redirect.enter_context(logging_redirect_tqdm([log]))
        yield TrainingProgress(bar, desc, epochs, after_first_epoch)

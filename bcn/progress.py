"""What library code reports while it works: the `bcn` logger, one step timer, one progress bar.

Library code logs to `logging.getLogger("bcn")` (or a child); the command line sends that log
to stderr, one plain line a message, at the level its -v/-q options choose, and alone prints
results. A Python caller sees warnings on stderr (Python's default) and can configure the rest.
"""

import contextlib
import logging
import sys
import time

log = logging.getLogger("bcn")


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes (test runners swap it)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def configure_logging(verbosity: int = 0) -> None:
    """Send the bcn log to stderr as plain lines: INFO and up at verbosity 0, DEBUG above, WARNING and up below."""
    for handler in [h for h in log.handlers if isinstance(h, _Stderr)]:
        log.removeHandler(handler)
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbosity > 0 else logging.INFO if verbosity == 0 else logging.WARNING)
    log.propagate = False


def progress_bar(iterable=None, *, desc: str, unit: str, total: int | None = None, enabled: bool = True):
    """bcn's one tqdm convention: on stderr and cleared when done; off when not `enabled`, when the log is quiet
    and when stderr is not a terminal (a log file or a pipe gets no bar)."""
    from tqdm import tqdm

    wanted = enabled and log.isEnabledFor(logging.INFO)
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=False, disable=None if wanted else True)


class Steps:
    """Times named steps: a log line as each starts ("[i/total] " before it with a `total`) and one with its time
    as it ends; `seconds` holds each finished step's duration, by key."""

    def __init__(self, total: int | None = None, logger: logging.Logger = log):
        self.total, self.index, self.logger = total, 0, logger
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, message: str, key: str | None = None):
        """A step named `message`, its seconds kept under `key` (default: the message)."""
        self.index += 1
        number = f"[{self.index}/{self.total}] " if self.total else ""
        self.logger.info(f"{number}{message} ...")
        start = time.perf_counter()
        yield
        now = time.perf_counter()
        self.seconds[message if key is None else key] = now - start
        self.logger.info(f"  done in {now - start:.1f} s ({now - self.started:.1f} s in all)")

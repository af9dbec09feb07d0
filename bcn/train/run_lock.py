"""One `bcn train` at a time per run folder: an flock on a lock file inside it, which holds the PID of its holder.

The lock dies with its process, so a lock file left by a killed run (kill -9) does not
block the next one; a run that ends in any other way removes it.
"""

import contextlib
import fcntl
import os
import time
from pathlib import Path

from bcn.errors import BcnError
from bcn.io import cannot_write, removed_if_left_empty

LOCK_NAME = ".bcn-train.lock"
PID_WAIT_S = 1.0  # how long to wait for a run that has just taken the lock to write its PID


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """Hold `run_dir`'s lock for the block, creating the folder if needed (and removing it again if the block
    fails and leaves it empty). A folder another running process holds is a one-line BcnError naming its PID."""
    with removed_if_left_empty(run_dir):
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise cannot_write(run_dir, error) from None
        path = run_dir / LOCK_NAME
        descriptor = _acquire(path)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
            os.close(descriptor)


def _acquire(path: Path) -> int:
    """An open descriptor of the lock file at `path`, locked by this process and holding its PID."""
    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise cannot_write(path.parent, error) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(descriptor)
            os.close(descriptor)
            raise BcnError(
                f"{path.parent}: another bcn train (PID {holder}) is training into this folder; "
                "wait for it to end or choose another --out"
            ) from None
        if _is_linked(descriptor, path):
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode())
            return descriptor
        os.close(descriptor)  # locked a file its last holder removed as it ended: lock the new one


def _is_linked(descriptor: int, path: Path) -> bool:
    """Whether `path` still names the file open as `descriptor`."""
    try:
        named, opened = path.stat(), os.fstat(descriptor)
    except FileNotFoundError:
        return False
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _holder(descriptor: int) -> str:
    """The PID the lock file holds, waiting briefly for a holder that has just taken the lock to write it."""
    deadline = time.monotonic() + PID_WAIT_S
    while True:
        text = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
        if text.isdigit() or time.monotonic() >= deadline:
            return text if text.isdigit() else "unknown"
        time.sleep(0.02)

"""Files in and out: output that never leaves a half-written file behind, JSON that fails in one line."""

import contextlib
import json
import os
import tempfile
from pathlib import Path

from bcn.errors import BcnError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike):
    """Yield a temp path beside `path`; rename it into place only if the block succeeds."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise BcnError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise BcnError(f"{path}: folder {folder} is not writable")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it a plain file's mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_json(path: Path):
    """The parsed content of a JSON file, or a one-line BcnError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except OSError as error:
        raise BcnError(f"{path}: cannot read ({error.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BcnError(f"{path}: not valid JSON ({error})") from None

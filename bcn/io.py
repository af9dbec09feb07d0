"""Files in and out: output that never leaves a half-written file behind, JSON that fails in one line."""

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from bcn.errors import BcnError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temps(path: Path) -> None:
    """Remove the hidden temp files or folders a killed process left for `path` (`.NAME.PID.*`, PID not running)."""
    path = Path(path)
    prefix = f".{path.name}."
    with contextlib.suppress(OSError), os.scandir(path.parent if str(path.parent) else ".") as entries:
        for entry in entries:
            pid = entry.name[len(prefix):].split(".")[0] if entry.name.startswith(prefix) else ""
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path)
                    else:
                        os.remove(entry.path)


def check_output_folder(path: str | os.PathLike, writable: bool = True) -> Path:
    """The folder the output file `path` goes in, which must exist (and with `writable`, take new files: a file
    written in place needs only its own permission); else a one-line BcnError."""
    path = Path(path)
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise BcnError(f"{path}: {folder} is a file, not a folder")
    if not folder.is_dir():
        raise BcnError(f"{path}: folder {folder} does not exist")
    if writable and not os.access(folder, os.W_OK):
        raise BcnError(f"{path}: folder {folder} is not writable")
    return folder


def temp_beside(path: str | os.PathLike) -> str:
    """A new hidden file beside `path`, named after it and this process; a killed run's leftovers go first."""
    path = Path(path)
    folder = check_output_folder(path)
    remove_stale_temps(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=path.suffix, dir=folder)
    except OSError as error:
        raise BcnError(f"{path}: cannot write there ({error.strerror or error})") from None
    os.close(fd)
    return tmp


def publish(tmp: str, path: str | os.PathLike) -> None:
    """Flush the temp file to disk, give it a plain file's mode (mkstemp makes it private), rename it to `path`."""
    try:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as error:
        raise BcnError(f"{path}: cannot write there ({error.strerror or error})") from None


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike):
    """Yield a temp path beside `path`; rename it into place only if the block succeeds.

    Ctrl-C and SIGTERM remove the temp file on the way out; after kill -9 the next
    write of the same file removes it.
    """
    tmp = temp_beside(path)
    try:
        yield tmp
        publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically (see atomic_output)."""
    with atomic_output(path) as tmp:
        Path(tmp).write_text(text)


def write_json(path: str | os.PathLike, content, indent: int | None = 2) -> None:
    """Write `content` as JSON to `path` atomically (see atomic_output)."""
    write_text(path, json.dumps(content, indent=indent) + "\n")


def refuse_overwriting_inputs(outputs, inputs) -> None:
    """One-line BcnError if an output, given as (option, path) pairs, is one of the input files."""
    existing = [Path(path) for path in inputs if path is not None and Path(path).exists()]
    for option, output in outputs:
        if output is None or str(output) == "-" or not Path(output).exists():
            continue
        if any(os.path.samefile(output, path) for path in existing):
            raise BcnError(f"{output}: {option} would overwrite this input; choose another file")


def read_json(path: Path):
    """The parsed content of a JSON file, or a one-line BcnError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except OSError as error:
        raise BcnError(f"{path}: cannot read ({error.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BcnError(f"{path}: not valid JSON ({error})") from None

"""Files in and out: outputs (one file, several, a folder) that never leave a half-written state behind, JSON that
fails in one line."""

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

from bcn.errors import BcnError

# Errors of the disk rather than of one file: whichever output was being written, it cannot be.
DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO})


def os_reason(error: OSError) -> str:
    """The OS's own words for `error` ("No space left on device"), without the file names a library adds."""
    return os.strerror(error.errno) if error.errno else str(error)


def cannot_write(path, error: OSError) -> BcnError:
    """The one line for an output that could not be written: the user's `path` and the OS's reason."""
    return BcnError(f"{path}: cannot write there ({os_reason(error)})")


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
            pid = entry.name[len(prefix) :].split(".")[0] if entry.name.startswith(prefix) else ""
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
        reason = disk_problem(folder)
        raise BcnError(f"{path}: folder {folder} is not writable{f' ({reason})' if reason else ''}")
    return folder


def disk_problem(folder: str | os.PathLike) -> str | None:
    """Why nothing can be written in `folder` whatever the file: its file system is read-only or full; else None.

    For writers that report failure without an OS error (OpenCV's imwrite returns False).
    """
    try:
        disk = os.statvfs(folder)
    except OSError:
        return None
    if disk.f_flag & os.ST_RDONLY:
        return os.strerror(errno.EROFS)
    if disk.f_bavail == 0:
        return os.strerror(errno.ENOSPC)
    return None


def temp_beside(path: str | os.PathLike) -> str:
    """A new hidden file beside `path` (a symlink's target), named after it and this process; a killed run's
    leftovers go first. A device, FIFO or other non-regular file at `path` is a one-line BcnError."""
    path = regular_target(path)
    folder = check_output_folder(path)
    remove_stale_temps(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=path.suffix, dir=folder)
    except OSError as error:
        raise cannot_write(path, error) from None
    os.close(fd)
    return tmp


def _sync(tmp: str, path) -> None:
    """Flush the temp file to disk and give it a plain file's mode (mkstemp makes it private)."""
    try:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())
    except OSError as error:
        raise cannot_write(path, error) from None


def _rename(tmp: str, path) -> None:
    try:
        os.replace(tmp, regular_target(path))
    except OSError as error:
        raise cannot_write(path, error) from None


def publish(tmp: str, path: str | os.PathLike) -> None:
    """Flush the temp file to disk, give it a plain file's mode, rename it to `path` (a symlink's target);
    on any failure the temp file is removed."""
    try:
        _sync(tmp, path)
        _rename(tmp, path)
    finally:
        remove_temp(tmp)


def remove_temp(tmp: str) -> None:
    """Remove a temp file if it is still there (a file that could not be written, or was never published)."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(tmp)


def _write_failure(error: OSError, paths: dict, temps: dict) -> BcnError | None:
    """The one line for an OSError raised while the temp files of `paths` were written, naming the targets,
    never a temp file; None for an error that is not about writing them (reading an input, say)."""
    named = [paths[key] for key, tmp in temps.items() if tmp in (error.filename, error.filename2)]
    if not named and error.errno not in DISK_ERRORS:
        return None
    return cannot_write(", ".join(map(str, named or paths.values())), error)


_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def regular_target(path: str | os.PathLike) -> Path:
    """The file an atomic write of `path` replaces: a symlink's target (the link stays), which must be a regular
    file or not exist yet; a device, FIFO, socket or folder there is a one-line BcnError, never renamed over."""
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        mode = target.stat().st_mode
    except OSError:
        return target
    for test, kind in _KINDS:
        if test(mode):
            via = f" (via the link {path})" if target != path else ""
            raise BcnError(f"{target}{via}: is {kind}, not a regular file; give a file name to write to")
    return target


@contextlib.contextmanager
def atomic_outputs(paths: dict):
    """Yield {key: temp path} for `paths` ({key: path}); the files appear together only if the block succeeds.

    Every target folder is checked before the block runs; Ctrl-C and SIGTERM remove the temp
    files on the way out; after kill -9 the next write of the same file removes them.
    """
    temps = {}
    try:
        for key, path in paths.items():
            temps[key] = temp_beside(path)
        try:
            yield dict(temps)
        except OSError as error:  # a full or read-only disk under the block's writes
            failure = _write_failure(error, paths, temps)
            if failure is None:
                raise
            raise failure from None
        for key, tmp in temps.items():
            _sync(tmp, paths[key])
        for key, tmp in temps.items():
            _rename(tmp, paths[key])
    finally:
        for tmp in temps.values():
            remove_temp(tmp)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike):
    """Yield a temp path beside `path`; rename it into place only if the block succeeds (see atomic_outputs)."""
    with atomic_outputs({"file": path}) as temps:
        yield temps["file"]


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike):
    """Yield a new hidden folder beside `path`; it becomes `path` only if the block succeeds.

    `path` must not exist or be an empty folder; a killed run's leftover folder goes first.
    """
    path = Path(path)
    if path.exists() and (not path.is_dir() or path.is_symlink() or any(path.iterdir())):
        raise BcnError(f"{path}: already exists and is not an empty folder")
    folder = check_output_folder(path)
    remove_stale_temps(path)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", dir=folder))
    except OSError as error:
        raise cannot_write(path, error) from None
    try:
        try:
            yield tmp
        except OSError as error:  # a full or read-only disk under the block's writes
            if error.errno not in DISK_ERRORS:
                raise
            raise cannot_write(path, error) from None
        try:
            tmp.chmod(0o777 & ~_umask())
            if path.exists():
                path.rmdir()
            tmp.rename(path)
        except OSError as error:
            raise cannot_write(path, error) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


@contextlib.contextmanager
def removed_if_left_empty(folder: str | os.PathLike | None):
    """Run the block; if it fails, remove `folder` and those of its parents that did not exist before it and are
    still empty, so a failed command leaves no empty output folder behind. None: nothing to watch."""
    created = [] if folder is None else [p for p in (Path(folder), *Path(folder).parents) if not p.exists()]
    try:
        yield
    except BaseException:
        for path in created:  # the deepest first
            with contextlib.suppress(OSError):
                path.rmdir()  # fails, as wanted, on a folder that holds something
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically (see atomic_output)."""
    with atomic_output(path) as tmp:
        Path(tmp).write_text(text)


def json_text(content, indent: int | None = 2) -> str:
    """`content` as bcn writes JSON files: indented (unless `indent` is None), with a final newline."""
    return json.dumps(content, indent=indent) + "\n"


def write_json(path: str | os.PathLike, content, indent: int | None = 2) -> None:
    """Write `content` as JSON to `path` atomically (see atomic_output)."""
    write_text(path, json_text(content, indent))


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
    except RecursionError:
        raise BcnError(f"{path}: not valid JSON (nested too deeply)") from None

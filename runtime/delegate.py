"""bcn's LCE delegate: the native library (built from runtime/native at install) that runs
Larq Compute Engine's ops (LceQuantize, LceBconv2d, LceDequantize, LceBMaxPool2d) inside a
stock LiteRT interpreter, so binary models need no LCE wheel.

The library is a TFLite external delegate; `lce_delegate()` loads it with the installed
interpreter's `load_delegate`, for `Interpreter(..., experimental_delegates=[...])`.
"""

import ctypes
import json
import os
import sys
from pathlib import Path

from bcn.errors import BcnError

ENV_VAR = "BCN_LCE_DELEGATE"
LIBRARY_NAME = {"darwin": "libbcn_lce_delegate.dylib", "win32": "bcn_lce_delegate.dll"}.get(
    sys.platform, "libbcn_lce_delegate.so"
)
FIX = (
    "reinstall bcn with pip from a checkout (pip install '.[runtime]'), which compiles it and needs a C++17 "
    "compiler: apt install g++ (Debian/Ubuntu/Raspberry Pi OS)"
)


def _package_folders() -> list[Path]:
    """Where the library can lie: the folders of package bcn.runtime (an editable install
    lists its source folder and the install folder the library went to), then the
    installed distribution's own record of the file."""
    import bcn.runtime

    folders = [Path(folder) for folder in getattr(bcn.runtime, "__path__", [])]
    folders.append(Path(__file__).resolve().parent)
    try:
        from importlib import metadata

        for file in metadata.distribution("bcn").files or []:
            if file.name == LIBRARY_NAME:
                folders.append(Path(file.locate()).parent)
    except Exception:  # noqa: BLE001 - no or odd metadata: the folders above are what there is
        pass
    return list(dict.fromkeys(folders))


def library_path() -> Path:
    """The delegate library: $BCN_LCE_DELEGATE if set, else the one installed with bcn."""
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise BcnError(
                f"{ENV_VAR}={override}: no such file (unset {ENV_VAR} to use the library installed with bcn)"
            )
        return path
    for folder in _package_folders():
        if (folder / LIBRARY_NAME).is_file():
            return folder / LIBRARY_NAME
    raise BcnError(f"bcn's LCE delegate library ({LIBRARY_NAME}) is not installed: {FIX}")


def _open_library(path: Path) -> ctypes.CDLL:
    """The library opened with ctypes, checked to be a delegate: a file that cannot be loaded
    fails here with one line (LiteRT's loader would also leave a traceback at exit)."""
    try:
        library = ctypes.CDLL(str(path))
    except OSError as error:
        raise BcnError(f"{path}: cannot load bcn's LCE delegate ({error}); {FIX}") from None
    if not hasattr(library, "tflite_plugin_create_delegate"):
        raise BcnError(f"{path}: not a TFLite external delegate (no tflite_plugin_create_delegate)")
    return library


def delegate_version(path: Path | None = None) -> str:
    """What the library says it is (e.g. "bcn-lce 0.2"), or "unknown"."""
    library = _open_library(path or library_path())
    try:
        query = library.bcn_lce_delegate_version
    except AttributeError:
        return "unknown"
    query.restype = ctypes.c_char_p
    return (query() or b"unknown").decode("utf-8", "replace")


KERNEL_ENV_VAR = "BCN_LCE_KERNEL"


def kernel_paths(path: Path | None = None) -> list[str]:
    """Every kernel path of the delegate library's own table, fastest first (whether or not this CPU runs it)."""
    query = _open_library(path or library_path()).bcn_lce_kernel_paths
    query.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    query.restype = ctypes.c_int
    out = ctypes.create_string_buffer(256)
    query(out, len(out))
    return [name.strip() for name in out.value.decode().split(",") if name.strip()]


def delegate_kernel(kernel: str | None = None, path: Path | None = None) -> str:
    """The kernel path a delegate asked for `kernel` runs on this CPU: `kernel` itself, or with
    None or "auto" the one $BCN_LCE_KERNEL names, else the fastest this CPU has. A path the CPU
    cannot run is a one-line BcnError."""
    library = _open_library(path or library_path())
    query = library.bcn_lce_delegate_kernel
    query.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
    query.restype = ctypes.c_int
    out = ctypes.create_string_buffer(256)
    requested = None if kernel in (None, "auto") else kernel.encode()
    if query(requested, out, len(out)) != 0:
        source = f"{KERNEL_ENV_VAR}: " if requested is None else ""
        raise BcnError(f"bcn's LCE delegate: {source}{out.value.decode()}")
    return out.value.decode()


def available_kernels(path: Path | None = None) -> list[str]:
    """The kernel paths this CPU can run, fastest first."""
    found = []
    for name in kernel_paths(path):
        try:
            found.append(delegate_kernel(name, path))
        except BcnError:
            pass
    return found


def lce_delegate(num_threads: int | None = None, kernel: str | None = None, profile: bool = False):
    """The delegate for the installed LiteRT Interpreter's `experimental_delegates`.

    num_threads: threads for the LCE ops (None or 0: the interpreter's thread count).
    kernel: the inner-loop implementation (None or "auto": $BCN_LCE_KERNEL, else the fastest
    this CPU has; or one of kernel_paths(), for comparison).
    profile: time every delegated node (see delegate_profile).
    """
    from bcn.runtime.engines import tflite_module

    path = library_path()
    _open_library(path)
    delegate_kernel(kernel, path)  # a kernel this CPU lacks: one line, before LiteRT's message
    module, _ = tflite_module()
    options = {"num_threads": int(num_threads)} if num_threads else {}
    if kernel not in (None, "auto"):
        options["kernel"] = kernel
    if profile:
        options["profile"] = "1"
    try:
        return module.load_delegate(str(path), options)
    except (ValueError, RuntimeError, OSError) as error:
        # "Failed to load delegate from PATH\n<what the library reported>"
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = lines[-1] if lines else type(error).__name__
        raise BcnError(f"{path}: bcn's LCE delegate refused to start ({reason})") from None


def delegate_profile(delegate) -> list[dict]:
    """What a delegate made with profile=True has timed: per delegated node, in the order they were
    prepared, op, node, input and output ("1x64x64x2 int32"), binary_macs per run, runs and
    nanoseconds (summed over every run since the interpreter was built)."""
    query = _open_library(library_path()).bcn_lce_delegate_profile
    query.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    query.restype = ctypes.c_int
    pointer = delegate._get_native_delegate_pointer()
    needed = query(pointer, None, 0)
    if needed < 0:
        raise BcnError("not a delegate made by bcn's LCE delegate library")
    out = ctypes.create_string_buffer(needed + 1)
    query(pointer, out, len(out))
    return [json.loads(line) for line in out.value.decode().splitlines()]

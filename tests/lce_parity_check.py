"""Run bcn's LCE delegate on saved parity cases and compare with LCE's reference outputs.

    python tests/lce_parity_check.py FOLDER [--delegate LIB] [--threads 1 2] [--kernel scalar neon]

FOLDER holds pairs `<name>.tflite` + `<name>.npz`, written on x86_64 by
`tests/lce_models.py` (`write_case`): the flatbuffer with every LCE op's output exposed
as a model output, and its inputs and the outputs LCE's own interpreter gave for them.
This side needs only numpy and an interpreter, ai-edge-litert or else tflite-runtime (no
TensorFlow, no LCE), so it also runs on aarch64, emulated or not. The delegate library is
`--delegate`, else `bcn.runtime.delegate.library_path()` when bcn is installed with it,
else $BCN_LCE_DELEGATE.
Every kernel path the delegate can run on this CPU is checked (scalar and neon on
aarch64), unless --kernel names some or $BCN_LCE_KERNEL names one.

Prints one line per mismatching output and exits 1 if any; 2 if nothing could be
checked (no cases, no delegate, no interpreter, a model the delegate refuses); 0 when
every output of every case matched.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ENV_VAR = "BCN_LCE_DELEGATE"
KERNEL_ENV_VAR = "BCN_LCE_KERNEL"


def delegate_library(explicit=None) -> str | None:
    """Path of the delegate library: `explicit`, bcn's packaged one, or $BCN_LCE_DELEGATE."""
    if explicit:
        return str(explicit)
    try:
        from bcn.runtime.delegate import library_path
    except ModuleNotFoundError as error:
        if error.name not in ("bcn", "bcn.runtime", "bcn.runtime.delegate"):
            raise
    else:
        return str(library_path())
    return os.environ.get(ENV_VAR) or None


# Where Interpreter and load_delegate come from, first found: LiteRT, else the older wheel.
INTERPRETER_MODULES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")


def interpreter_module():
    """The installed interpreter's module (Interpreter, load_delegate): ai-edge-litert's,
    else tflite-runtime's. ModuleNotFoundError when neither is installed."""
    import importlib

    for name in INTERPRETER_MODULES:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name not in (name, name.split(".")[0]):
                raise
    raise ModuleNotFoundError(
        "no LiteRT interpreter: pip install ai-edge-litert (or tflite-runtime)", name=INTERPRETER_MODULES[0]
    )


def _query(library: str, function: str):
    """One of the delegate library's C functions, or None for a library without it."""
    import ctypes

    try:
        return getattr(ctypes.CDLL(str(library)), function)
    except (OSError, AttributeError):
        return None


def library_kernels(library: str) -> list[str]:
    """Every kernel path of the delegate library's own table, fastest first, whether or not this CPU runs it."""
    import ctypes

    query = _query(library, "bcn_lce_kernel_paths")
    if query is None:
        return []
    query.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    answer = ctypes.create_string_buffer(256)
    query(answer, len(answer))
    return [name.strip() for name in answer.value.decode().split(",") if name.strip()]


def available_kernels(library: str) -> list[str | None]:
    """The delegate's kernel paths this CPU can run, e.g. ["avx2", "scalar"]; [None] (its
    default, unnamed) for a library that cannot be asked."""
    import ctypes

    query = _query(library, "bcn_lce_delegate_kernel")
    if query is None:
        return [None]
    query.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
    query.restype = ctypes.c_int
    answer = ctypes.create_string_buffer(256)
    return [name for name in library_kernels(library) if query(name.encode(), answer, len(answer)) == 0] or [None]


def delegate_interpreter(content: bytes, library: str, num_threads: int = 1, kernel: str | None = None):
    """A LiteRT interpreter for `content` with the delegate claiming the LCE ops, allocated.

    kernel: the delegate's kernel path (see available_kernels); None: the best for this CPU.
    """
    module = interpreter_module()
    options = {"num_threads": str(num_threads)}
    if kernel:
        options["kernel"] = kernel
    delegate = module.load_delegate(library, options)
    interpreter = module.Interpreter(model_content=content, num_threads=num_threads, experimental_delegates=[delegate])
    interpreter.allocate_tensors()
    return interpreter


def run_delegate(
    content: bytes, inputs: list[np.ndarray], library: str, num_threads: int = 1, kernel: str | None = None
) -> list[np.ndarray]:
    """The model's outputs (in the flatbuffer's order) for `inputs`, run with the delegate."""
    interpreter = delegate_interpreter(content, library, num_threads, kernel)
    details = interpreter.get_input_details()
    if len(details) != len(inputs):
        raise ValueError(f"the model has {len(details)} inputs, {len(inputs)} given")
    for detail, value in zip(details, inputs):
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    return [interpreter.get_tensor(detail["index"]).copy() for detail in interpreter.get_output_details()]


def describe_difference(expected: np.ndarray, actual: np.ndarray) -> str:
    """How two same-shaped arrays differ: count, worst element, both values there."""
    if expected.dtype.kind == "f":
        diff = np.abs(expected.astype(np.float64) - actual.astype(np.float64))
        diff[np.isnan(diff)] = np.inf
    else:
        diff = (expected != actual).astype(np.float64)
    where = np.unravel_index(int(np.argmax(diff)), diff.shape)
    count = int(np.count_nonzero(expected != actual))
    worst = f"max abs diff {diff[where]:.3g}" if expected.dtype.kind == "f" else "e.g."
    return (
        f"{count} of {expected.size} values differ, {worst} at {tuple(int(i) for i in where)}: "
        f"expected {expected[where]!r}, got {actual[where]!r}"
    )


def compare_outputs(expected: list[np.ndarray], actual: list[np.ndarray], names=None) -> list[str]:
    """One line per output of `actual` that is not identical to `expected` (empty: all are).

    What an LCE op writes, bitpacked int32 and float alike, must be identical: the delegate
    must compute what LCE computes, rounding included. A float op's output (named, and not
    written by an LCE op) may differ by float32 rounding, up to 1e-5 of its largest
    magnitude: LiteRT's XNNPACK and the one built into LCE's interpreter sum some
    convolutions in another order.
    """
    if len(expected) != len(actual):
        return [f"{len(actual)} outputs, expected {len(expected)}"]
    problems = []
    for i, (want, got) in enumerate(zip(expected, actual)):
        label = f"output {i}" + (f" ({names[i]})" if names is not None else "")
        want, got = np.asarray(want), np.asarray(got)
        if want.shape != got.shape or want.dtype != got.dtype:
            problems.append(f"{label}: {got.dtype}{list(got.shape)}, expected {want.dtype}{list(want.shape)}")
            continue
        float_op = names is not None and not names[i].startswith("Lce") and want.dtype == np.float32
        if float_op:
            same = np.allclose(want, got, rtol=0, atol=1e-5 * max(1.0, float(np.abs(want).max(initial=0))))
        else:
            same = np.array_equal(want, got)
        if not same:
            problems.append(f"{label}: {describe_difference(want, got)}")
    return problems


def load_case(npz_path) -> dict:
    """inputs, outputs (expected) and names (which op wrote each output) of one saved case."""
    with np.load(npz_path, allow_pickle=False) as data:
        inputs = [data[f"input_{i}"] for i in range(int(data["num_inputs"]))]
        outputs = [data[f"output_{i}"] for i in range(int(data["num_outputs"]))]
        names = [str(name) for name in data["output_names"]]
    return {"inputs": inputs, "outputs": outputs, "names": names}


def check_case(tflite_path, library: str, num_threads: int = 1, kernel: str | None = None) -> list[str]:
    """Mismatch lines for one `<name>.tflite` against its `<name>.npz`."""
    tflite_path = Path(tflite_path)
    case = load_case(tflite_path.with_suffix(".npz"))
    actual = run_delegate(tflite_path.read_bytes(), case["inputs"], library, num_threads, kernel)
    return compare_outputs(case["outputs"], actual, case["names"])


def cases(folder) -> list[Path]:
    """The `.tflite` files of `folder` that have an `.npz` beside them, sorted by name."""
    return sorted(path for path in Path(folder).glob("*.tflite") if path.with_suffix(".npz").is_file())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder of <name>.tflite + <name>.npz pairs")
    parser.add_argument("--delegate", help=f"delegate library (default: bcn's, or ${ENV_VAR})")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="delegate thread counts to run (default 1)")
    parser.add_argument(
        "--kernel",
        nargs="+",
        help=f"delegate kernel paths to run, from the library's table (default: ${KERNEL_ENV_VAR}, else every one "
        "this CPU has)",
    )
    args = parser.parse_args(argv)
    library = delegate_library(args.delegate)
    if not library:
        print(f"no delegate library: pass --delegate LIB or set {ENV_VAR}", file=sys.stderr)
        return 2
    unknown = sorted(set(args.kernel or []) - set(library_kernels(library)))
    if unknown:
        print(
            f"unknown kernel {', '.join(unknown)} (the library has {', '.join(library_kernels(library))})",
            file=sys.stderr,
        )
        return 2
    found = cases(args.folder)
    if not found:
        print(f"{args.folder}: no <name>.tflite + <name>.npz pairs", file=sys.stderr)
        return 2
    try:
        interpreter_module()
    except ModuleNotFoundError as error:
        print(error.msg, file=sys.stderr)
        return 2
    # $BCN_LCE_KERNEL (read by the delegate itself) picks one path when --kernel does not.
    forced = os.environ.get(KERNEL_ENV_VAR)
    kernels = args.kernel or ([None] if forced else available_kernels(library))
    mismatches, outputs, status = 0, 0, 0
    for path in found:
        for kernel in kernels:
            for threads in args.threads:
                where = f"{path.name} kernel={kernel or forced or 'default'} threads={threads}"
                try:
                    problems = check_case(path, library, threads, kernel)
                except (ValueError, RuntimeError) as error:
                    print(f"{where}: cannot run: {' '.join(str(error).split())}")
                    status = 2
                    continue
                outputs += len(load_case(path.with_suffix(".npz"))["outputs"])
                for problem in problems:
                    print(f"{where}: {problem}")
                mismatches += len(problems)
    print(
        f"{len(found)} cases, {outputs} outputs checked with kernels "
        f"{', '.join(k or forced or 'default' for k in kernels)} "
        f"and threads {', '.join(map(str, args.threads))}: {mismatches} mismatches ({library})",
        file=sys.stderr,
    )
    return status or (1 if mismatches else 0)


if __name__ == "__main__":
    sys.exit(main())

"""TFLite interpreters behind one small interface, without importing TensorFlow.

Two engines:
- "lce": Larq Compute Engine's interpreter (`larq-compute-engine` wheel, Linux x86_64 and
  macOS). Runs models with LCE ops (LceBconv2d, LceQuantize) and plain models.
- "tflite": a plain TFLite interpreter, the first installed of ai-edge-litert,
  tflite-runtime, or TensorFlow's tf.lite (which imports TensorFlow). Models with LCE ops
  run here through bcn's LCE delegate (bcn.runtime.delegate), built when bcn is installed.

Defaults are the fastest measured on x86_64 (benchmarks/latency_x86.md): the tflite engine
with bcn's delegate on the fastest kernel path the CPU has, XNNPACK for the float ops, one
thread; on the lce engine, LCE's indirect BGEMM kernel (several times faster than its
default kernel on x86, where LCE has no hand-tuned binary kernels).
"""

import contextlib
import importlib
import importlib.util
import logging
import os
import platform
import re
import sys
import tempfile
import types

import numpy as np

from bcn.errors import BcnError
from bcn.runtime import delegate as lce_delegate_library
from bcn.runtime.flatbuffer import FlatbufferError, has_lce_ops

log = logging.getLogger(__name__)

ENGINES = ("lce", "tflite")
DEFAULT_THREADS = 1
# LCE's indirect BGEMM wins on x86_64; on ARM its default (optimized) BGEMM is the one tuned.
LCE_DEFAULTS = {
    "use_indirect_bgemm": platform.machine().lower() in ("x86_64", "amd64"),
    "use_xnnpack": True,
    "use_reference_bconv": False,
}
# kernel: the inner loop of bcn's LCE delegate ("auto": the fastest this CPU has).
# profile: bcn's LCE delegate times each of its nodes (Engine.profile).
TFLITE_DEFAULTS = {"use_xnnpack": True, "kernel": "auto", "profile": False}
# Plain TFLite interpreters in order of preference: (module, pip package).
TFLITE_MODULES = (
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow.lite.python.interpreter", "tensorflow"),
)
LCE_INSTALL = (
    "pip install larq-compute-engine==0.16.0 (wheels for Linux x86_64 and macOS only), "
    "or use the tflite engine (--engine tflite), which runs LCE ops through bcn's LCE delegate"
)


class Engine:
    """One loaded model: `run(batch)` -> the output arrays in the interpreter's order."""

    name = ""

    def __init__(self, library: str, options: dict):
        self.library = library  # e.g. "larq-compute-engine 0.16.0"
        self.options = options  # everything that was passed to the interpreter

    @property
    def input_shape(self) -> tuple:
        raise NotImplementedError

    @property
    def output_shapes(self) -> list[tuple]:
        raise NotImplementedError

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def profile(self) -> list[dict] | None:
        """Per-node times of bcn's LCE delegate when made with profile=True (see delegate_profile), else None."""
        return None


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def lce_available() -> bool:
    return importlib.util.find_spec("larq_compute_engine") is not None


def default_engine(lce_ops: bool) -> str:
    """The engine a model runs on when none is asked for: "tflite" (LiteRT, binary layers
    through bcn's LCE delegate, several times faster than LCE's interpreter on x86_64:
    benchmarks/latency_x86.md; the only one on aarch64); "lce" only for a model with LCE ops
    where no LiteRT interpreter is installed but LCE is."""
    if lce_ops and tflite_module(allow_tensorflow=False)[0] is None and lce_available():
        return "lce"
    return "tflite"


def _import_lce_wrapper():
    """LCE's compiled interpreter module, without running larq_compute_engine/__init__.py.

    That __init__ imports LCE's converter and with it TensorFlow. The interpreter only
    needs its compiled extension, so while it is imported the parent package is stood
    in by a bare module (when the real one is not loaded already).
    """
    name = "larq_compute_engine.tflite.python.interpreter_wrapper_lite"
    if name in sys.modules or "larq_compute_engine" in sys.modules:
        return importlib.import_module(name)
    spec = importlib.util.find_spec("larq_compute_engine")
    if spec is None:
        raise BcnError(f"the lce engine, LCE's interpreter, is not installed: {LCE_INSTALL}")
    stand_in = types.ModuleType("larq_compute_engine")
    stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules["larq_compute_engine"] = stand_in
    try:
        return importlib.import_module(name)
    finally:
        # The real package (converter included) still imports normally later.
        del sys.modules["larq_compute_engine"]


class LceEngine(Engine):
    name = "lce"

    def __init__(
        self, content: bytes, threads: int, use_indirect_bgemm: bool, use_xnnpack: bool, use_reference_bconv: bool
    ):
        wrapper = _import_lce_wrapper()
        options = dict(
            threads=threads,
            use_indirect_bgemm=use_indirect_bgemm,
            use_xnnpack=use_xnnpack,
            use_reference_bconv=use_reference_bconv,
        )
        super().__init__(f"larq-compute-engine {_version('larq-compute-engine')}", options)
        # Same arguments as larq_compute_engine.tflite.python.interpreter.Interpreter.
        self._interpreter = wrapper.LiteInterpreter(
            content, threads, use_reference_bconv, use_indirect_bgemm, use_xnnpack
        )

    @property
    def input_shape(self) -> tuple:
        return tuple(self._interpreter.input_shapes[0])

    @property
    def output_shapes(self) -> list[tuple]:
        return [tuple(shape) for shape in self._interpreter.output_shapes]

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        return self._interpreter.predict([batch])


@contextlib.contextmanager
def quiet_native_info():
    """Keep the interpreters' informational lines ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.") off
    stderr unless the bcn log is verbose (-v); every other line they write is passed on when the block ends.

    The native code writes to file descriptor 2 directly and reads no setting that silences it (LiteRT 2.3 does
    not honour TF_CPP_MIN_LOG_LEVEL), so fd 2 points at a temp file while interpreters are created.
    """
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    sys.stderr.flush()
    try:
        captured = tempfile.TemporaryFile()
    except OSError:  # no temp folder to write to: let the lines through
        yield
        return
    saved = os.dup(2)
    os.dup2(captured.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        with captured:
            captured.seek(0)
            lines = captured.read().splitlines(keepends=True)
        os.write(2, b"".join(line for line in lines if not line.startswith(b"INFO: ")))


def tflite_module(allow_tensorflow: bool = True):
    """(interpreter module, pip package) of the first plain TFLite interpreter installed."""
    for module_name, package in TFLITE_MODULES:
        if package == "tensorflow" and not allow_tensorflow:
            break
        if importlib.util.find_spec(module_name.split(".")[0]) is not None:
            if package == "tensorflow":
                log.warning(
                    "no ai-edge-litert or tflite-runtime installed; using tf.lite, which imports "
                    "TensorFlow (pip install ai-edge-litert for a light runtime)"
                )
            return importlib.import_module(module_name), package
    if not allow_tensorflow:
        return None, None
    raise BcnError(
        "no TFLite interpreter installed: pip install ai-edge-litert (or tflite-runtime, or larq-compute-engine)"
    )


def lce_ops_in(content: bytes, source: str) -> bool:
    """Whether a TFLite flatbuffer has LCE's ops (read from its op codes), or a one-line
    BcnError for a file that is not one."""
    try:
        return has_lce_ops(content)
    except FlatbufferError as error:
        raise BcnError(f"{source}: {error}") from None


def verify_flatbuffer(content: bytes, source: str) -> None:
    """Run the flatbuffers verifier, as TFLite's interpreters do when they load a model, for
    callers that must refuse a damaged file before anything else reads it (LCE's interpreter
    does not verify and segfaults on a truncated file). Resolves no ops, so LCE models pass.
    Skipped when only TensorFlow could do it.
    """
    lce_ops_in(content, source)
    module, _ = tflite_module(allow_tensorflow=False)
    if module is None:
        return
    try:
        module.Interpreter(
            model_content=content, experimental_op_resolver_type=module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
    except ValueError as error:
        raise BcnError(f"{source}: damaged TFLite flatbuffer ({error})") from error


# What LiteRT's verifier says of a damaged flatbuffer.
DAMAGED = "The model is not a valid Flatbuffer buffer"


class TfliteEngine(Engine):
    """LiteRT's interpreter; with `lce_ops`, bcn's LCE delegate takes the LCE nodes and the
    interpreter (XNNPACK unless turned off) the built-in ones."""

    name = "tflite"

    def __init__(
        self,
        content: bytes,
        threads: int,
        use_xnnpack: bool,
        kernel: str = "auto",
        profile: bool = False,
        lce_ops: bool = False,
        source: str = "model",
    ):
        self._source = source
        module, package = tflite_module()
        library = f"{package} {_version(package)}"
        options = dict(threads=threads, use_xnnpack=use_xnnpack)
        self._delegate = None
        if lce_ops:
            self._delegate = lce_delegate_library.lce_delegate(num_threads=threads, kernel=kernel, profile=profile)
            library += " + bcn-lce delegate"
            options["lce_delegate"] = lce_delegate_library.delegate_version()
            options["kernel"] = lce_delegate_library.delegate_kernel(kernel)
            if profile:
                options["profile"] = True
        super().__init__(library, options)
        resolver = (
            module.OpResolverType.AUTO if use_xnnpack else module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        self._interpreter = module.Interpreter(
            model_content=content,
            num_threads=threads,
            experimental_op_resolver_type=resolver,
            experimental_delegates=[self._delegate] if self._delegate else None,
        )
        self._interpreter.allocate_tensors()
        detail = self._interpreter.get_input_details()[0]
        self._input_index = detail["index"]
        self._input_shape = tuple(int(d) for d in detail["shape"])
        outputs = self._interpreter.get_output_details()
        self._output_indices = [detail["index"] for detail in outputs]
        self._output_shapes = [tuple(int(d) for d in detail["shape"]) for detail in outputs]

    @property
    def input_shape(self) -> tuple:
        return self._input_shape

    @property
    def output_shapes(self) -> list[tuple]:
        return self._output_shapes

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        self._interpreter.set_tensor(self._input_index, batch)
        try:
            self._interpreter.invoke()
        except RuntimeError as error:
            # A crafted model can pass allocation and still fail here, e.g. an op reading a
            # tensor that no op writes ("Input tensor 37 lacks data").
            raise BcnError(f"{self._source}: the tflite interpreter cannot run it ({_failure(error)})") from None
        return [self._interpreter.get_tensor(index) for index in self._output_indices]

    def profile(self) -> list[dict] | None:
        if self._delegate is None or not self.options.get("profile"):
            return None
        return lce_delegate_library.delegate_profile(self._delegate)


def _failure(error: Exception) -> str:
    """The line of an interpreter's error that says what went wrong.

    LiteRT joins the messages reported while it prepares the model without a separator:
    a message from bcn's LCE delegate ("LceBconv2d node 3: ...") comes first, and is the one
    that names the cause.
    """
    text = str(error).strip()
    found = re.search(
        r"(?:bcn-lce[^:\n]*: |Lce\w+ node \d+: )"
        r"[^\n]*?(?=Encountered unresolved custom op|Node number|\n|$)",
        text,
    )
    if found:
        return found.group(0).strip()
    return text.splitlines()[0] if text else type(error).__name__


def open_engine(
    content: bytes, source: str, engine: str | None = None, threads: int | None = None, **options
) -> Engine:
    """Load a flatbuffer into `engine` ("lce", "tflite", or None: default_engine's choice).

    Options: use_xnnpack (both engines), use_indirect_bgemm and use_reference_bconv (LCE only;
    ignored by "tflite" so one set of options serves a mix of models), kernel (bcn's LCE
    delegate, tflite only). None means the default. The flatbuffer is verified once, as it
    loads: a damaged file is a one-line BcnError, never a crash.
    """
    lce_ops = lce_ops_in(content, source)
    known = set(LCE_DEFAULTS) | set(TFLITE_DEFAULTS)
    unknown = set(options) - known
    if unknown:
        raise BcnError(f"unknown engine option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    if engine is None:
        engine = default_engine(lce_ops)
    if engine not in ENGINES:
        raise BcnError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    if lce_ops and engine == "lce" and not lce_available():
        raise BcnError(f"{source}: has LCE ops and the lce engine, LCE's interpreter, is not installed: {LCE_INSTALL}")
    if lce_ops and engine == "tflite":
        try:
            lce_delegate_library.library_path()
        except BcnError as error:
            raise BcnError(
                f"{source}: has LCE ops (binary layers); float models run without bcn's LCE delegate, "
                f"binary ones need it: {error.message}"
            ) from None
    threads = DEFAULT_THREADS if threads is None else threads
    if threads < 1:
        raise BcnError(f"threads must be at least 1, got {threads}")
    defaults = LCE_DEFAULTS if engine == "lce" else TFLITE_DEFAULTS
    chosen = {
        key: default if options.get(key) is None else options[key] if key == "kernel" else bool(options[key])
        for key, default in defaults.items()
    }
    try:
        with quiet_native_info():
            if engine == "lce":
                verify_flatbuffer(content, source)
                return LceEngine(content, threads, **chosen)
            # LiteRT verifies the flatbuffer as it loads.
            return TfliteEngine(content, threads, **chosen, lce_ops=lce_ops, source=source)
    except BcnError:
        raise
    except Exception as error:  # the interpreters raise ValueError/RuntimeError on bad models
        message = _failure(error)
        if message.startswith(DAMAGED):
            raise BcnError(f"{source}: damaged TFLite flatbuffer ({message})") from error
        if (
            lce_ops
            and engine == "tflite"
            and re.match(r"bcn-lce|Lce\w+ node|Encountered unresolved custom op: Lce", message)
        ):
            raise BcnError(f"{source}: bcn's LCE delegate cannot run it ({message})") from error
        raise BcnError(f"{source}: the {engine} interpreter cannot load it ({message})") from error

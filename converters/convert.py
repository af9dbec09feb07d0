"""`bcn convert` as a Python API: Keras detector -> LCE flatbuffer, baselines, report."""

import contextlib
import logging
from pathlib import Path

from bcn import checks
from bcn.arch.cost import model_cost
from bcn.arch.model import load_model
from bcn.converters.baselines import convert_baseline, float_twin, trained_float_twin
from bcn.converters.inspect import BCONV, Graph, check_binary_layers, output_layout
from bcn.converters.int8_rest import convert_binary_int8
from bcn.converters.keras_model import model_info
from bcn.converters.lce import convert_lce
from bcn.converters.metadata import build_metadata, embed_metadata
from bcn.converters.parity import SCORE_THRESHOLD, compare, keras_heads, parity_problem, runtime_heads
from bcn.converters.samples import CALIBRATION_SPLITS, sample_inputs
from bcn.defaults import CALIBRATION_IMAGES, PARITY_SAMPLES, REST_PRECISION
from bcn.errors import BcnError
from bcn.io import atomic_outputs, json_text, refuse_overwriting_inputs
from bcn.progress import Steps
from bcn.runtime.flatbuffer import has_lce_ops
from bcn.runtime.metadata import BINARY_VARIANTS, PRECISION, VARIANTS

log = logging.getLogger(__name__)


def output_paths(model_path, output=None, baselines=(), report=None, main="binary") -> dict[str, Path]:
    """Where each file goes: the `main` variant beside the input by default, the other variants and the
    report beside it."""
    main_path = Path(output) if output else Path(model_path).with_suffix(".tflite")
    paths = {main: main_path}
    paths.update(
        {variant: main_path.with_name(f"{main_path.stem}_{variant}{main_path.suffix}") for variant in baselines}
    )
    paths["report"] = Path(report) if report else main_path.with_name(f"{main_path.stem}_report.json")
    return paths


def _check_paths(model_path: Path, paths: dict[str, Path]) -> None:
    for path in paths.values():
        if path.is_dir():
            raise BcnError(f"{path}: is a folder, not a file name")
        if path.resolve() == model_path.resolve():
            raise BcnError(f"{path}: would overwrite the input model")
    if len({p.resolve() for p in paths.values()}) < len(paths):
        raise BcnError(f"{next(iter(paths.values()))}: the output and report paths collide")


def _check_variants(baselines, rest: str) -> tuple[str, tuple[str, ...]]:
    """(the main variant, the others asked for), one-line errors for unknown or repeated names."""
    if rest not in BINARY_VARIANTS.values():
        raise checks.ArgumentValueError(f"unknown rest precision '{rest}': choose from float32, int8")
    main = next(variant for variant, precision in BINARY_VARIANTS.items() if precision == rest)
    others = [variant for variant in VARIANTS if variant != main]
    for name in baselines:
        if name == main:
            raise checks.ArgumentValueError(
                f"baseline '{name}' is the main file's variant (rest {rest}): choose from {', '.join(others)}"
            )
        if name not in others:
            raise checks.ArgumentValueError(f"unknown baseline '{name}': choose from {', '.join(others)}")
    return main, tuple(dict.fromkeys(baselines))


@contextlib.contextmanager
def _converter_errors(model_path: Path, what: str):
    """A converter's exception as one line naming the model."""
    try:
        yield
    except BcnError:
        raise
    except Exception as error:  # the converters raise many types, with long messages
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise BcnError(f"{model_path}: {what} failed ({reason})") from error


def _file_entry(path: Path, flatbuffer: bytes, graph: Graph, metadata: dict) -> dict:
    return {
        "path": str(path),
        "bytes": len(flatbuffer),
        "engine": metadata["engine"],
        "variant": metadata["variant"],
        "ops": graph.histogram(),
        "outputs": metadata["outputs"],
    }


def _calibration(data_root, info, count: int, input_size: int) -> tuple[str, list]:
    """(where from, letterboxed images) for int8 calibration: `data_root`, else the run's data, else generated."""
    root = data_root or next((root for root in info.data if Path(root).is_dir()), None)
    _, images = sample_inputs(root, count, input_size, CALIBRATION_SPLITS)
    return (str(root) if root else "generated images"), images


def _binary_variant(variant: str, model, model_path: Path, info, cost, calibration) -> tuple[bytes, Graph, dict, dict]:
    """The flatbuffer (metadata embedded), graph, binary-layer check and metadata of one binary variant."""
    with _converter_errors(model_path, f"LCE conversion ({variant})"):
        int8_rest = BINARY_VARIANTS[variant] == "int8"
        flatbuffer = convert_binary_int8(model, calibration) if int8_rest else convert_lce(model)
    graph = Graph.from_flatbuffer(flatbuffer)
    binary_layers = check_binary_layers(model, graph, str(model_path))
    metadata = build_metadata(
        classes=info.classes,
        input_size=info.input_size,
        outputs=output_layout(graph, model, str(model_path)),
        spec=info.spec,
        float_twin=info.float_twin,
        cost=cost,
        engine="lce" if has_lce_ops(flatbuffer) else "tflite",
        variant=variant if binary_layers[BCONV] else BINARY_VARIANTS[variant],
        seed=info.seed,
    )
    return embed_metadata(flatbuffer, metadata), graph, binary_layers, metadata


def _parity(flatbuffer: bytes, path: Path, metadata: dict, reference, inputs, names, score_threshold) -> dict:
    """Keras against the runtime running `flatbuffer`, judged by the thresholds of its precision."""
    converted, runner = runtime_heads(flatbuffer, str(path), inputs, metadata["outputs"])
    parity = compare(reference, converted, score_threshold, metadata["variant"])
    parity["samples"] = names
    parity["runtime"] = runner
    problem = parity_problem(parity)
    parity["check"] = "failed" if problem else "passed"
    parity["problem"] = problem
    return parity


def _baseline_variant(variant: str, twin, info, paths, calibration, float_model) -> tuple[bytes, dict]:
    baseline = convert_baseline(variant, twin, calibration)
    graph = Graph.from_flatbuffer(baseline)
    metadata = build_metadata(
        classes=info.classes,
        input_size=info.input_size,
        outputs=output_layout(graph, twin, str(paths[variant])),
        spec=info.spec,
        float_twin=True,
        cost=model_cost(twin),
        engine="tflite",
        variant=variant,
        seed=info.seed,
    )
    baseline = embed_metadata(baseline, metadata)
    entry = _file_entry(paths[variant], baseline, graph, metadata)
    entry["weights"] = "trained" if float_model else "fresh"
    return baseline, entry


def convert(
    model_path,
    output=None,
    baselines=(),
    data_root=None,
    float_model=None,
    report=None,
    samples: int = PARITY_SAMPLES,
    check: bool = False,
    score_threshold: float = SCORE_THRESHOLD,
    rest: str = REST_PRECISION,
    calibration_images: int = CALIBRATION_IMAGES,
) -> dict:
    """Convert a trained Keras CenterNet to an LCE flatbuffer (and its other variants).

    Args:
        model_path: the .h5/.keras model (`bcn train`'s best.h5, or `bcn arch build`'s).
        output: the main flatbuffer's path (default: the model's, with .tflite).
        baselines: other variants written beside it as NAME_VARIANT.tflite (a list, or one name): "binary"
            or "binary-int8" (the binary model with the other rest precision), "float32", "int8" (the float
            twin).
        data_root: a data set whose held-out images feed parity and int8 calibration (default: the run's
            data for calibration, generated images for parity).
        float_model: a trained float twin for the baselines (default: fresh weights, same latency).
        report: the JSON report's path (default: NAME_report.json beside the output).
        samples: images for parity.
        check: raise ParityError (a BcnError), writing nothing, when a binary flatbuffer run by the
            runtime disagrees with Keras beyond bcn.converters.parity's thresholds for its precision.
        score_threshold: the detections parity compares score at least this.
        rest: the main model's precision for its full-precision layers: "float32" (variant "binary")
            or "int8" (variant "binary-int8", activation ranges calibrated, weights per channel).
        calibration_images: images whose activation ranges calibrate the int8 variants.

    Each step logs a line to the "bcn" logger as it starts and one with its elapsed time as it ends.

    Returns:
        The report (files, op histograms, cost, parity of each binary file, seconds per step), also
        written as JSON; every file appears together with the others or not at all, each carrying its
        "bcn" metadata.

    Example:
        >>> report = convert("runs/q1/best.h5", "q1.tflite", baselines=("float32", "int8"), check=True)
        >>> report["parity"]["agreement"]
    """
    model_path = Path(checks.path("model_path", model_path))
    main, baselines = _check_variants(checks.names("baselines", baselines), rest)
    checks.integer("samples", samples)
    checks.integer("calibration_images", calibration_images)
    checks.number("score_threshold", score_threshold, 0, 1)
    paths = output_paths(model_path, output, baselines, report, main)
    _check_paths(model_path, paths)
    options = {main: "--output", "report": "--report"}
    refuse_overwriting_inputs([(options.get(key, "--baselines"), path) for key, path in paths.items()], [float_model])
    variants = (main, *baselines)
    step = Steps()
    with step(f"loading {model_path}", "load"):
        model = load_model(model_path)
        info = model_info(model_path, model)
        cost = model_cost(model)
        names, inputs = sample_inputs(data_root, samples, info.input_size)
        reference = keras_heads(model, inputs)
        if set(variants) & {"float32", "int8"}:
            twin = trained_float_twin(float_model, model) if float_model else float_twin(model)
    calibration_source, calibration = None, []
    if any(PRECISION[variant] == "int8" for variant in variants):
        with step(f"reading {calibration_images} images to calibrate int8 ranges", "calibration images"):
            calibration_source, calibration = _calibration(data_root, info, calibration_images, info.input_size)
    files, parities, binary_layers = {}, {}, None
    with atomic_outputs(paths) as temps:  # every folder is checked now; files appear only if all of this succeeds
        for variant in variants:
            if variant in BINARY_VARIANTS:
                with step(f"converting {model_path} to {variant} with LCE (target arm)", variant):
                    flatbuffer, graph, layers, metadata = _binary_variant(
                        variant, model, model_path, info, cost, calibration
                    )
                binary_layers = binary_layers or layers
                if not layers[BCONV]:
                    log.warning(
                        f"warning: {model_path} has no binary conv layers: written as a {metadata['variant']} "
                        "TFLite, not a binary model"
                    )
                files[variant] = _file_entry(paths[variant], flatbuffer, graph, metadata)
                parity_key = "parity" if variant == main else f"parity {variant}"
                with step(f"parity: the runtime's engine vs Keras on {len(inputs)} images ({variant})", parity_key):
                    parities[variant] = _parity(
                        flatbuffer, paths[variant], metadata, reference, inputs, names, score_threshold
                    )
                files[variant]["parity"] = parities[variant]["check"]
            else:
                with (
                    step(f"converting the float twin to {variant} TFLite", variant),
                    _converter_errors(model_path, f"{variant} conversion of the float twin"),
                ):
                    flatbuffer, files[variant] = _baseline_variant(variant, twin, info, paths, calibration, float_model)
            Path(temps[variant]).write_bytes(flatbuffer)
        main_size = files[main]["bytes"]
        result = {
            "model": str(model_path),
            "spec": info.spec,
            "input_size": info.input_size,
            "classes": info.classes,
            "cost": {key: cost[key] for key in ("macs", "binary_macs", "binary_ratio", "eq_flops", "params")},
            "main": main,
            "binary_layers": binary_layers,
            "calibration": {"images": len(calibration), "source": calibration_source} if calibration else None,
            "files": files,
            "size_ratios": {variant: files[variant]["bytes"] / main_size for variant in baselines},
            "parity": parities[main],
            "parities": parities,
            "seconds": step.seconds,
        }
        failed = [(variant, p["problem"]) for variant, p in parities.items() if p["problem"]]
        if check and failed:
            variant, problem = failed[0]
            raise ParityError(f"{model_path}: the {variant} flatbuffer and Keras disagree: {problem}", result)
        Path(temps["report"]).write_text(json_text(result))
    result["report"] = str(paths["report"])
    return result


class ParityError(BcnError):
    """--check failed; carries the report so it can still be shown."""

    def __init__(self, message: str, report: dict):
        super().__init__(message)
        self.report = report

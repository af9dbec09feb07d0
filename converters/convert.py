"""`bcn convert` as a Python API: Keras detector -> LCE flatbuffer, baselines, report."""

import contextlib
import logging
from pathlib import Path

from bcn import checks
from bcn.arch.cost import model_cost
from bcn.arch.model import load_model
from bcn.converters.baselines import VARIANTS, convert_baseline, float_twin, trained_float_twin
from bcn.converters.inspect import BCONV, Graph, check_binary_layers, output_layout
from bcn.converters.keras_model import model_info
from bcn.converters.lce import convert_lce
from bcn.converters.metadata import build_metadata, embed_metadata
from bcn.converters.parity import SCORE_THRESHOLD, compare, keras_heads, parity_problem, runtime_heads
from bcn.converters.samples import sample_inputs
from bcn.defaults import PARITY_SAMPLES
from bcn.errors import BcnError
from bcn.io import atomic_outputs, json_text, refuse_overwriting_inputs
from bcn.progress import Steps
from bcn.runtime.flatbuffer import has_lce_ops

log = logging.getLogger(__name__)


def output_paths(model_path, output=None, baselines=(), report=None) -> dict[str, Path]:
    """Where each file goes: the LCE model beside the input by default, baselines and report beside it."""
    main = Path(output) if output else Path(model_path).with_suffix(".tflite")
    paths = {"binary": main}
    paths.update({variant: main.with_name(f"{main.stem}_{variant}{main.suffix}") for variant in baselines})
    paths["report"] = Path(report) if report else main.with_name(f"{main.stem}_report.json")
    return paths


def _check_paths(model_path: Path, paths: dict[str, Path]) -> None:
    for path in paths.values():
        if path.is_dir():
            raise BcnError(f"{path}: is a folder, not a file name")
        if path.resolve() == model_path.resolve():
            raise BcnError(f"{path}: would overwrite the input model")
    if len({p.resolve() for p in paths.values()}) < len(paths):
        raise BcnError(f"{paths['binary']}: the output and report paths collide")


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
) -> dict:
    """Convert a trained Keras CenterNet to an LCE flatbuffer (and float32/int8 baselines).

    Args:
        model_path: the .h5/.keras model (`bcn train`'s best.h5, or `bcn arch build`'s).
        output: the LCE flatbuffer's path (default: the model's, with .tflite).
        baselines: any of "float32", "int8" (a list, or one name): the float twin converted beside it, as
            NAME_VARIANT.tflite.
        data_root: a data set whose held-out images feed parity and int8 calibration (default: generated ones).
        float_model: a trained float twin for the baselines (default: fresh weights, same latency).
        report: the JSON report's path (default: NAME_report.json beside the output).
        samples: images for parity and calibration.
        check: raise ParityError (a BcnError), writing nothing, when the flatbuffer run by the
            runtime disagrees with Keras beyond bcn.converters.parity's thresholds.
        score_threshold: the detections parity compares score at least this.

    Each step logs a line to the "bcn" logger as it starts and one with its elapsed time as it ends.

    Returns:
        The report (files, op histograms, cost, parity, seconds per step), also written as
        JSON; every file appears together with the others or not at all, each carrying its
        "bcn" metadata.

    Example:
        >>> report = convert("runs/q1/best.h5", "q1.tflite", baselines=("float32", "int8"), check=True)
        >>> report["parity"]["agreement"]
    """
    model_path = Path(checks.path("model_path", model_path))
    baselines = checks.names("baselines", baselines)
    checks.integer("samples", samples)
    checks.number("score_threshold", score_threshold, 0, 1)
    unknown = [b for b in baselines if b not in VARIANTS]
    if unknown:
        raise checks.ArgumentValueError(f"unknown baseline '{unknown[0]}': choose from {', '.join(VARIANTS)}")
    paths = output_paths(model_path, output, baselines, report)
    _check_paths(model_path, paths)
    options = {"binary": "--output", "report": "--report"}
    refuse_overwriting_inputs([(options.get(key, "--baselines"), path) for key, path in paths.items()], [float_model])
    step = Steps()
    with step(f"loading {model_path}", "load"):
        model = load_model(model_path)
        info = model_info(model_path, model)
        cost = model_cost(model)
        names, inputs = sample_inputs(data_root, samples, info.input_size)
        if baselines:
            twin = trained_float_twin(float_model, model) if float_model else float_twin(model)
    with atomic_outputs(paths) as temps:  # every folder is checked now; files appear only if all of this succeeds
        with (
            step(f"converting {model_path} with LCE (target arm)", "lce"),
            _converter_errors(model_path, "LCE conversion"),
        ):
            flatbuffer = convert_lce(model)
        graph = Graph.from_flatbuffer(flatbuffer)
        binary_layers = check_binary_layers(model, graph, str(model_path))
        if not binary_layers[BCONV]:
            log.warning(
                f"warning: {model_path} has no binary conv layers: written as a float32 TFLite "
                "(variant float32), not a binary model"
            )
        lce = has_lce_ops(flatbuffer)
        metadata = build_metadata(
            classes=info.classes,
            input_size=info.input_size,
            outputs=output_layout(graph, model, str(model_path)),
            spec=info.spec,
            float_twin=info.float_twin,
            cost=cost,
            engine="lce" if lce else "tflite",
            variant="binary" if binary_layers[BCONV] else "float32",
            seed=info.seed,
        )
        flatbuffer = embed_metadata(flatbuffer, metadata)
        files = {"binary": _file_entry(paths["binary"], flatbuffer, graph, metadata)}

        with step(f"parity: the runtime's engine vs Keras on {len(inputs)} images", "parity"):
            converted, runner = runtime_heads(flatbuffer, str(paths["binary"]), inputs, metadata["outputs"])
            parity = compare(keras_heads(model, inputs), converted, score_threshold)
        parity["samples"] = names
        parity["runtime"] = runner
        Path(temps["binary"]).write_bytes(flatbuffer)

        for variant in baselines:
            with (
                step(f"converting the float twin to {variant} TFLite", variant),
                _converter_errors(model_path, f"{variant} conversion of the float twin"),
            ):
                baseline = convert_baseline(variant, twin, inputs)
            baseline_graph = Graph.from_flatbuffer(baseline)
            baseline_metadata = build_metadata(
                classes=info.classes,
                input_size=info.input_size,
                outputs=output_layout(baseline_graph, twin, str(paths[variant])),
                spec=info.spec,
                float_twin=True,
                cost=model_cost(twin),
                engine="tflite",
                variant=variant,
                seed=info.seed,
            )
            baseline = embed_metadata(baseline, baseline_metadata)
            files[variant] = _file_entry(paths[variant], baseline, baseline_graph, baseline_metadata)
            files[variant]["weights"] = "trained" if float_model else "fresh"
            Path(temps[variant]).write_bytes(baseline)

        result = {
            "model": str(model_path),
            "spec": info.spec,
            "input_size": info.input_size,
            "classes": info.classes,
            "cost": {key: cost[key] for key in ("macs", "binary_macs", "binary_ratio", "eq_flops", "params")},
            "binary_layers": binary_layers,
            "files": files,
            "size_ratios": {variant: files[variant]["bytes"] / files["binary"]["bytes"] for variant in baselines},
            "parity": parity,
            "seconds": step.seconds,
        }
        problem = parity_problem(parity)
        result["parity"]["check"] = "failed" if problem else "passed"
        if check and problem:
            raise ParityError(f"{model_path}: LCE and Keras disagree: {problem}", result)
        Path(temps["report"]).write_text(json_text(result))
    result["report"] = str(paths["report"])
    return result


class ParityError(BcnError):
    """--check failed; carries the report so it can still be shown."""

    def __init__(self, message: str, report: dict):
        super().__init__(message)
        self.report = report

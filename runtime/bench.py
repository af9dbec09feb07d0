"""Latency of converted models, measured side by side in one interleaved run.

For each thread count all models are loaded, then each measured iteration runs one
detect on every model in turn (rotating which goes first), so load from other processes,
thermal drift and frequency changes hit all models alike and the binary / float32 / int8
ratios stay fair on a noisy machine.
"""

import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bcn import __version__, checks
from bcn.defaults import BENCH_RUNS, BENCH_WARMUP, SCORE_THRESHOLD
from bcn.errors import BcnError
from bcn.progress import progress_bar
from bcn.runtime import delegate, lce_benchmark
from bcn.runtime.detector import Detector, read_model
from bcn.runtime.engines import LCE_DEFAULTS, TFLITE_DEFAULTS, default_engine, lce_available
from bcn.runtime.flatbuffer import has_lce_ops
from bcn.runtime.machine import machine_info
from bcn.runtime.metadata import BINARY_VARIANTS, VARIANTS

LIBRARIES = (
    "numpy",
    "opencv-python-headless",
    "opencv-python",
    "larq-compute-engine",
    "ai-edge-litert",
    "tflite-runtime",
    "tensorflow",
)


def library_versions() -> dict:
    """Versions of the libraries that take part in a run (installed ones only)."""
    from importlib import metadata

    versions = {"bcn": __version__}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def summarize(samples_ms) -> dict:
    """mean, p50, p90, p99, min, std of latencies in ms, and the FPS their mean gives."""
    samples = np.asarray(samples_ms, dtype=np.float64)
    mean = float(samples.mean())
    p50, p90, p99 = (float(v) for v in np.percentile(samples, [50, 90, 99]))
    return {
        "mean": mean,
        "p50": p50,
        "p90": p90,
        "p99": p99,
        "min": float(samples.min()),
        "std": float(samples.std()),
        "fps": 1e3 / mean if mean > 0 else None,
    }


def _rss_mb() -> float | None:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        return None


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def sample_image(width: int = 640, height: int = 480, seed: int = 0) -> np.ndarray:
    """A fixed camera-sized BGR image to time detect on when the user gives none."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def option_sets(engine: str, options: dict, sweep: bool, uses_lce: bool = False) -> list[dict]:
    """The engine options to measure a model with on `engine`: the given ones, or with `sweep`
    every combination of the kernel switches the engine has (LCE: indirect BGEMM x XNNPACK;
    tflite: XNNPACK, and for a model with LCE ops each kernel path of bcn's delegate this CPU has)."""
    if not sweep:
        return [options]
    switches = (
        {"use_indirect_bgemm": (True, False), "use_xnnpack": (True, False)}
        if engine == "lce"
        else {"use_xnnpack": (True, False)}
    )
    if engine == "tflite" and uses_lce and "kernel" not in options:
        switches["kernel"] = tuple(delegate.available_kernels())
    combos = [{}]
    for switch, values in switches.items():
        combos = [{**combo, switch: value} for combo in combos for value in values]
    return [{**options, **combo} for combo in combos]


def sweep_engines(uses_lce: bool) -> list[str]:
    """The engines a sweep measures a model on: for a model with LCE ops every in-process one
    that is available (LiteRT with bcn's LCE delegate, LCE's own interpreter)."""
    if not uses_lce:
        return [default_engine(False)]
    engines = ["tflite"] if _delegate_problem() is None else []
    engines += ["lce"] if lce_available() else []
    return engines or [default_engine(True)]


def _model_facts(path: Path, metadata: dict | None, size: int) -> dict:
    metadata = metadata or {}
    return {
        "model": str(path),
        "name": path.stem,
        "variant": metadata.get("variant"),
        "spec": metadata.get("spec"),
        "input_size": metadata.get("input_size"),
        "file_size_bytes": size,
        **{key: metadata.get(key) for key in ("macs", "binary_macs", "binary_ratio", "eq_flops")},
    }


def _measure_interleaved(pairs: list[dict], image, runs: int, warmup: int, score_threshold: float, bar) -> None:
    """Round-robin detect runs over the loaded pairs; fills each pair's timing lists (none: nothing to do)."""
    if not pairs:  # every model runs through lce_benchmark_model
        return
    for iteration in range(warmup + runs):
        start = iteration % len(pairs)
        for pair in pairs[start:] + pairs[:start]:
            detector = pair["detector"]
            detector.detect(image, score_threshold=score_threshold)
            if iteration >= warmup:
                timings = detector.last_timings
                pair["inference"].append(timings.inference_ms)
                pair["detect"].append(timings.total_ms)
                pair["preprocess"].append(timings.preprocess_ms)
                pair["decode"].append(timings.decode_ms)
            bar.update()


def _in_process_result(pair: dict, runs: int, warmup: int) -> dict:
    detector = pair["detector"]
    return {
        **_model_facts(detector.path, detector.metadata, detector.file_size),
        "input_size": detector.input_size,
        "threads": pair["threads"],
        "engine": detector.engine.name,
        "library": detector.engine.library,
        "options": detector.engine.options,
        "runs": runs,
        "warmup": warmup,
        "interleaved": True,
        "latency_ms": summarize(pair["inference"]),
        "detect_ms": summarize(pair["detect"]),
        "preprocess_ms": summarize(pair["preprocess"]),
        "decode_ms": summarize(pair["decode"]),
        "memory_mb": pair["memory_mb"],
        "profile": layer_profile(detector.engine.profile(), pair["inference"]),
    }


def layer_profile(records: list[dict] | None, inference_ms: list[float]) -> dict | None:
    """Per node of bcn's LCE delegate: ms per run, binary GMAC/s and its share of the interpreter call;
    the rest of the model (the runtime's own ops, XNNPACK) as one figure. None without a profile."""
    if not records or not inference_ms:
        return None
    model_ms = sum(inference_ms) / len(inference_ms)
    ops = []
    for record in records:
        if not record["runs"]:
            continue
        ms = record["nanoseconds"] / record["runs"] / 1e6
        macs = record["binary_macs"]
        rate = macs / ms / 1e6 if macs and ms > 0 else None
        ops.append({**record, "ms": ms, "binary_gmac_per_s": rate, "share": ms / model_ms})
    rest_ms = model_ms - sum(op["ms"] for op in ops)
    return {"model_ms": model_ms, "ops": ops, "rest_ms": rest_ms, "rest_share": rest_ms / model_ms}


def _external_result(item: dict, binary_path: str, runs: int, warmup: int, options: dict) -> dict:
    """Run lce_benchmark_model on one LCE model and thread count; a result like the in-process ones."""
    chosen = {key: options.get(key, default) for key, default in LCE_DEFAULTS.items()}
    measured = lce_benchmark.run(binary_path, item["path"], item["threads"], runs, warmup, **chosen)
    latency = {**measured["latency_ms"], "fps": 1e3 / measured["latency_ms"]["mean"]}
    return {
        **_model_facts(item["path"], item["metadata"], item["path"].stat().st_size),
        "threads": item["threads"],
        "engine": "lce_benchmark_model",
        "library": binary_path,
        "options": {"threads": item["threads"], **chosen},
        "runs": measured["runs"],
        "warmup": warmup,
        "interleaved": False,
        "latency_ms": latency,
        "detect_ms": None,  # the binary times the interpreter only
        "memory_mb": measured["memory_mb"],
        "command": measured["command"],
    }


# The latency ratios a comparison reports: each binary variant against the baseline it replaces.
RATIOS = (("binary", "float32"), ("binary", "int8"), ("binary-int8", "int8"))


def ratio_key(variant: str, baseline: str) -> str:
    """The comparison's key for variant / baseline, e.g. "binary_int8_over_int8"."""
    return f"{variant}_over_{baseline}".replace("-", "_")


RATIO_KEYS = tuple(ratio_key(variant, baseline) for variant, baseline in RATIOS)


def _ratio(result: dict | None, baseline: dict | None) -> dict | None:
    if result is None or baseline is None:
        return None
    mine, theirs = result["latency_ms"], baseline["latency_ms"]
    return {
        stat: mine[stat] / theirs[stat] if mine.get(stat) and theirs.get(stat) else None for stat in ("mean", "p50")
    }


def comparisons(results: list[dict]) -> list[dict]:
    """Binary variants over their float32 and int8 baselines per architecture and thread count (RATIOS).

    Models of one architecture share spec, input size and MACs in their metadata. Each
    variant enters with its fastest measured options (they differ only when sweeping).
    """
    groups = defaultdict(dict)
    for result in results:
        if result.get("spec") and result.get("variant") in VARIANTS:
            key = (result["spec"], result["input_size"], result.get("macs"), result["threads"])
            best = groups[key].get(result["variant"])
            if best is None or result["latency_ms"]["mean"] < best["latency_ms"]["mean"]:
                groups[key][result["variant"]] = result
    rows = []
    for (spec, input_size, _, threads), by_variant in groups.items():
        if not set(by_variant) & set(BINARY_VARIANTS) or len(by_variant) < 2:
            continue
        row = {"spec": spec, "input_size": input_size, "threads": threads}
        for variant in VARIANTS:
            chosen = by_variant.get(variant)
            row[variant] = (
                None
                if chosen is None
                else {
                    "model": chosen["model"],
                    "engine": chosen["engine"],
                    "options": chosen["options"],
                    "latency_ms": {stat: chosen["latency_ms"].get(stat) for stat in ("mean", "p50")},
                }
            )
        for variant, baseline in RATIOS:
            row[ratio_key(variant, baseline)] = _ratio(by_variant.get(variant), by_variant.get(baseline))
        rows.append(row)
    return rows


def _delegate_problem() -> str | None:
    """Why bcn's LCE delegate cannot be used here, or None when it can."""
    try:
        delegate.library_path()
    except BcnError as error:
        return error.message
    return None


def _lce_model_route(engine: str | None, binary_given: bool) -> str:
    """How a model with LCE ops is measured: "in-process" (LCE's interpreter, or LiteRT with
    bcn's LCE delegate) or "binary" (lce_benchmark_model, found later)."""
    if engine == "tflite":
        return "in-process"  # the delegate; Detector says what to do if it is missing
    if binary_given:
        return "binary"
    if (engine or default_engine(True)) == "lce":
        return "in-process" if lce_available() else "binary"
    return "in-process" if _delegate_problem() is None else "binary"


def _no_lce_runner(path: Path, engine: str | None) -> BcnError:
    lce = "the LCE interpreter (pip install larq-compute-engine, x86_64 Linux and macOS only)"
    binary = f"{lce_benchmark.BINARY_NAME} is installed: {lce_benchmark.GET_BINARY}"
    if engine == "lce":
        return BcnError(
            f"{path}: has LCE ops, and neither {lce} nor {binary}; or measure it with --engine tflite "
            "(LiteRT with bcn's LCE delegate)"
        )
    return BcnError(f"{path}: has LCE ops, and none of bcn's LCE delegate ({_delegate_problem()}), {lce} or {binary}")


def benchmark(
    models,
    threads=(1,),
    runs: int = BENCH_RUNS,
    warmup: int = BENCH_WARMUP,
    engine: str | None = None,
    options: dict | None = None,
    image=None,
    input_size: int | None = None,
    classes=None,
    score_threshold: float = SCORE_THRESHOLD,
    lce_benchmark_binary=None,
    sweep: bool = False,
    profile: bool = False,
    progress: bool = True,
) -> dict:
    """Measure `models` at each thread count, interleaved; the report `bcn bench` prints and writes.

    Args:
        models: .tflite paths (a binary model and its float32/int8 twins, say), or one path.
        threads: the thread counts to measure each model at, or one count.
        runs, warmup: timed and untimed inferences per model and thread count.
        engine, options: the engine and its options (bcn.runtime.engines); None: defaults.
        image: the BGR image to detect on (default: a generated one).
        input_size, classes: only for models without bcn metadata.
        score_threshold: for the decoding included in end-to-end times.
        lce_benchmark_binary: LCE's lce_benchmark_model, to measure binary models with it.
        sweep: every option combination (see below).
        profile: time each node of bcn's LCE delegate (models with LCE ops on the tflite engine): each
            result gains `profile` (see layer_profile), averaged over every run including warm-up.
        progress: show a progress bar.

    Returns:
        A dict with the machine, library versions and settings; `results`: per model and
        thread count the engine, library, kernel path and latency statistics (ms);
        `comparisons`: the binary / float32 and binary / int8 latency ratios;
        `tensorflow_loaded`: whether TensorFlow was loaded in the measuring process.

    Example:
        >>> report = benchmark(["q1.tflite", "q1_float32.tflite", "q1_int8.tflite"], threads=(1, 2))

    Models with LCE ops run in-process on `engine`, or when none is given on the runtime's
    default (bcn.runtime.engines.default_engine: LCE's interpreter, or LiteRT with bcn's LCE
    delegate). With `lce_benchmark_binary` (and engine not "tflite"), or where neither in-process
    route exists, they run through LCE's lce_benchmark_model binary, which measures the
    interpreter call only and is not interleaved with the others. `sweep` measures every
    kernel option combination of each model's engine (see option_sets), and with no `engine`
    given, a model with LCE ops on every in-process engine (see sweep_engines).
    """
    models = checks.paths("models", models)
    threads = checks.integers("threads", threads, checks.threads)
    checks.integer("runs", runs)
    checks.integer("warmup", warmup, 0)
    checks.optional(checks.integer, "input_size", input_size)
    classes = checks.optional(checks.names, "classes", classes)
    checks.number("score_threshold", score_threshold, 0, 1)
    checks.optional(checks.path, "lce_benchmark_binary", lce_benchmark_binary)
    options = {key: value for key, value in (options or {}).items() if value is not None}
    if profile:
        options["profile"] = True
    image = sample_image() if image is None else image
    machine = machine_info()
    binary_path = lce_benchmark.find_binary(lce_benchmark_binary) if lce_benchmark_binary else None
    in_process, external = [], []
    for path in map(Path, models):
        content, metadata = read_model(path)
        uses_lce = has_lce_ops(content)
        del content
        if uses_lce and _lce_model_route(engine, binary_path is not None) == "binary":
            binary_path = binary_path or lce_benchmark.find_binary()
            if binary_path is None:
                raise _no_lce_runner(path, engine)
            external += [{"path": path, "metadata": metadata, "threads": t} for t in threads]
        else:
            engines = sweep_engines(uses_lce) if sweep and engine is None else [engine or default_engine(uses_lce)]
            in_process += [
                (path, model_engine, chosen)
                for model_engine in engines
                for chosen in option_sets(model_engine, options, sweep, uses_lce)
            ]
    results = []
    started = time.time()
    with progress_bar(
        total=(warmup + runs) * len(in_process) * len(threads), desc="bench", unit="run", enabled=progress
    ) as bar:
        # One thread count at a time: idle worker threads of a multi-threaded interpreter
        # would otherwise compete with the single-threaded runs.
        for count in threads:
            pairs = []
            for path, model_engine, chosen in in_process:
                before = _rss_mb()
                detector = Detector(
                    path, engine=model_engine, threads=count, input_size=input_size, classes=classes, **chosen
                )
                detector.detect(image, score_threshold=score_threshold)  # the first run allocates
                after = _rss_mb()
                pairs.append(
                    {
                        "detector": detector,
                        "threads": count,
                        "inference": [],
                        "detect": [],
                        "preprocess": [],
                        "decode": [],
                        "memory_mb": None if before is None else after - before,
                    }
                )
            _measure_interleaved(pairs, image, runs, warmup, score_threshold, bar)
            results += [_in_process_result(pair, runs, warmup) for pair in pairs]
            del pairs
    results += [_external_result(item, binary_path, runs, warmup, options) for item in external]
    machine["load_average_after"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {
        "bcn_bench": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": machine,
        "libraries": library_versions(),
        "settings": {
            "threads": list(threads),
            "runs": runs,
            "warmup": warmup,
            "engine": engine or "auto",
            "options": options,
            "sweep": sweep,
            "defaults": {"lce": LCE_DEFAULTS, "tflite": TFLITE_DEFAULTS},
            "image_shape": list(np.asarray(image).shape),
            "score_threshold": score_threshold,
        },
        "peak_rss_mb": peak_rss_mb(),
        # TensorFlow's idle threads (left by training, say) compete with multi-threaded runs.
        "tensorflow_loaded": "tensorflow" in sys.modules,
        "results": results,
        "comparisons": comparisons(results),
    }

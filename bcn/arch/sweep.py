"""`bcn arch sweep`: the cost of many designs, optionally measured on this machine (the paper's Fig. 1)."""

import re
import tempfile
from dataclasses import asdict
from pathlib import Path

import tensorflow as tf
from tqdm import tqdm

from bcn.arch.cost import model_cost
from bcn.arch.model import build_model
from bcn.arch.notation import DEFAULT_SEED
from bcn.arch.presets import PRESETS
from bcn.arch.resolve import resolve
from bcn.errors import BcnError
from bcn.io import read_json
from bcn.run_config import read_run_config, write_run_config

COST_KEYS = ("macs", "binary_macs", "binary_ratio", "eq_flops", "params")


def _paper_map(name: str, input_size: int) -> float | None:
    """The paper's mAP for a preset at its own input size (its first figure: without pretraining if both)."""
    preset = PRESETS.get(name)
    if preset is None or input_size != resolve(name).spec.input_size:
        return None
    return float(re.match(r"[\d.]+", preset.paper.map).group())


def cost_rows(
    specs, input_size: int | None = None, seed: int = DEFAULT_SEED, num_classes: int = 20, progress: bool = True
) -> list[dict]:
    """One row per spec: its canonical spec (and drawn mask), cost at `input_size` and the paper's mAP."""
    architectures = [resolve(text, seed=seed, input_size=input_size) for text in specs]  # bad sizes fail first
    for arch in architectures:
        if arch.spec is None:
            raise BcnError(f"{arch.builder}: a sweep takes presets and spec strings, not builder files")
    rows = []
    for number, arch in enumerate(
        tqdm(architectures, desc="cost", unit="design", disable=not progress or None, leave=False), 1
    ):
        spec = arch.spec
        cost = model_cost(build_model(arch, spec.input_size, num_classes))
        tf.keras.backend.clear_session()
        rows.append(
            {
                "name": arch.name if arch.name != "custom" else f"#{number}",
                "spec": str(spec),
                "drawn": str(spec.drawn(seed)) if spec.is_random else None,
                "float_twin": arch.float_twin,
                "seed": seed,
                "input_size": spec.input_size,
                **{key: cost[key] for key in COST_KEYS},
                "paper_map": _paper_map(arch.name, spec.input_size),
                "map": None,
            }
        )
    return rows


def preset_rows(input_size: int | None = None, seed: int = DEFAULT_SEED) -> list[dict]:
    """cost_rows of every preset (at its own input size unless `input_size`), with its note and Table 2 row."""
    rows = cost_rows(list(PRESETS), input_size, seed, progress=False)
    for row in rows:
        row.update(note=PRESETS[row["name"]].note, paper=asdict(PRESETS[row["name"]].paper))
    return rows


def _write_run_config(folder: Path, row: dict) -> None:
    """The config.json the converter reads beside a model: spec and seed reach the metadata."""
    write_run_config(
        folder,
        {"spec": row["spec"], "input_size": row["input_size"], "float_twin": row["float_twin"], "seed": row["seed"]},
    )


def measure(
    rows: list[dict],
    num_classes: int = 20,
    runs: int = 10,
    warmup: int = 2,
    threads: int = 1,
    keep: Path | None = None,
    progress: bool = True,
) -> None:
    """Build, convert (LCE + float32 twin) and benchmark each row's design; adds latencies to the rows.

    Untrained weights: latency does not depend on them. The models go to `keep` (a folder)
    when given, else to a temporary folder that is removed.
    """
    from bcn.converters.convert import convert
    from bcn.runtime.bench import benchmark

    with tempfile.TemporaryDirectory(prefix="bcn-sweep-") as scratch:
        root = Path(keep) if keep else Path(scratch)
        for index, row in enumerate(tqdm(rows, desc="measure", unit="design", disable=not progress or None)):
            folder = root / f"{index:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', row['name'])[:40]}"
            folder.mkdir(parents=True, exist_ok=True)
            model = build_model(resolve(row["spec"], row["float_twin"], row["seed"]), row["input_size"], num_classes)
            model.save(folder / "model.h5")
            tf.keras.backend.clear_session()
            _write_run_config(folder, row)
            converted = convert(folder / "model.h5", folder / "model.tflite", baselines=("float32",), samples=1)
            report = benchmark(
                [folder / "model.tflite", folder / "model_float32.tflite"],
                threads=(threads,),
                runs=runs,
                warmup=warmup,
                progress=False,
            )
            binary, float32 = (result["latency_ms"]["mean"] for result in report["results"])
            row.update(
                latency_ms=binary,
                float_latency_ms=float32,
                latency_ratio=binary / float32,
                engine=report["results"][0]["engine"],
                threads=threads,
                file_bytes=converted["files"]["binary"]["bytes"],
                float_file_bytes=converted["files"]["float32"]["bytes"],
            )


def _spec_of_result(path: Path, result: dict) -> tuple[str | None, int | None]:
    """The spec and seed of the model an eval JSON scored: its run's config.json, or the .tflite's metadata."""
    source = Path(str(result.get("source", "")))
    for folder in (path.parent, source.parent):
        saved = read_run_config(folder)
        if saved and saved.get("spec"):
            return saved["spec"], saved.get("seed")
    if source.suffix == ".tflite" and source.is_file():
        from bcn.runtime.metadata import MetadataError, read_metadata

        try:
            metadata = read_metadata(source) or {}
        except MetadataError as error:
            raise BcnError(str(error)) from None
        return metadata.get("spec"), metadata.get("seed")
    return None, None


def attach_results(rows: list[dict], paths) -> None:
    """Put the mAP of `bcn eval --json` (or a run's eval.json) files on the rows of the same spec and seed."""
    for path in map(Path, paths):
        result = read_json(path)
        # A run's eval.json: its best.h5's score; a `bcn eval --json` output: the model's.
        score = result.get("best_map50_voc07", result.get("map50_voc07")) if isinstance(result, dict) else None
        if score is None:
            raise BcnError(f"{path}: no map50_voc07 in it (write it with bcn eval --json)")
        spec, seed = _spec_of_result(path, result)
        if spec is None:
            raise BcnError(f"{path}: cannot tell which spec it scored (no run config.json or .tflite metadata)")
        matches = [row for row in rows if row["spec"] == spec and (seed is None or row["seed"] == seed)]
        if not matches:
            raise BcnError(f"{path}: scored '{spec}', which is none of the swept specs at their input sizes")
        for row in matches:
            row["map"] = 100 * float(score)

"""`bcn bench` on real converted models: report schema, grouping, outputs and bad input."""

import json
import platform
import subprocess
import sys

import pytest
from bcn_command import bcn_cli
from bcn_log import logged_warnings
from click.testing import CliRunner
from runtime_models import INPUT_SIZE, TINY, shared_models

from bcn.cli import main
from bcn.runtime.engines import default_engine


def bench(*args):
    """`bcn bench ARGS` in this process; paths are given as they are."""
    return CliRunner().invoke(main, ["bench", *map(str, args)])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return shared_models(tmp_path_factory)


@pytest.fixture(scope="module")
def report(models, tmp_path_factory):
    """One interleaved run of the binary model and its float twin at 1 and 2 threads."""
    out = tmp_path_factory.mktemp("bench")
    result = bench(
        models["binary"],
        models["float32"],
        "--threads",
        "1,2",
        "--runs",
        "4",
        "--warmup",
        "1",
        "--json",
        out / "bench.json",
        "--markdown",
        out / "bench.md",
        "--plot",
        out / "bench.png",
    )
    assert result.exit_code == 0, result.output
    return {
        "output": result.output,
        "json": json.loads((out / "bench.json").read_text()),
        "markdown": (out / "bench.md").read_text(),
        "plot": (out / "bench.png").read_bytes(),
    }


def test_json_names_the_machine_libraries_and_options(report):
    data = report["json"]
    assert {"cpu", "logical_cores", "arch", "os"} <= set(data["machine"])
    assert data["machine"]["logical_cores"] >= 1 and data["machine"]["cpu"]
    assert {"bcn", "numpy", "larq-compute-engine", "ai-edge-litert"} <= set(data["libraries"])
    assert data["settings"]["runs"] == 4 and data["settings"]["threads"] == [1, 2]
    assert data["settings"]["defaults"]["lce"]["use_indirect_bgemm"] is True  # the fastest on x86_64
    assert data["peak_rss_mb"] > 0
    assert data["tensorflow_loaded"] is ("tensorflow" in sys.modules)  # measured in this process


def test_one_result_per_model_and_thread_count(report, models):
    results = report["json"]["results"]
    assert sorted((r["model"], r["threads"]) for r in results) == sorted(
        (str(models[v]), t) for v in ("binary", "float32") for t in (1, 2)
    )
    for r in results:
        assert r["engine"] == default_engine(r["variant"] == "binary")
        assert r["options"]["threads"] == r["threads"] and r["interleaved"] is True
        for key in ("latency_ms", "detect_ms"):
            stats = r[key]
            assert {"mean", "p50", "p90", "p99", "fps"} <= set(stats)
            assert 0 < stats["min"] <= stats["p50"] <= stats["p90"] <= stats["p99"]
        # The whole detect contains the interpreter call.
        assert r["detect_ms"]["mean"] > r["latency_ms"]["mean"]
        assert r["file_size_bytes"] == models[r["variant"]].stat().st_size
        assert r["input_size"] == INPUT_SIZE and r["spec"] == TINY and r["macs"] > 0
    binary = next(r for r in results if r["variant"] == "binary")
    float32 = next(r for r in results if r["variant"] == "float32")
    assert binary["binary_ratio"] > 0.5 and float32["binary_ratio"] == 0
    assert binary["file_size_bytes"] * 3 < float32["file_size_bytes"]  # bitpacked binary weights


def test_same_architecture_is_compared_per_thread_count(report, models):
    comparisons = report["json"]["comparisons"]
    assert [c["threads"] for c in comparisons] == [1, 2]
    by_key = {(r["model"], r["threads"]): r for r in report["json"]["results"]}
    for c in comparisons:
        assert c["binary"]["model"] == str(models["binary"]) and c["float32"]["model"] == str(models["float32"])
        assert c["int8"] is None and c["binary"]["engine"] == default_engine(True)
        binary, float32 = by_key[(c["binary"]["model"], c["threads"])], by_key[(c["float32"]["model"], c["threads"])]
        assert c["binary_over_float32"]["mean"] == pytest.approx(
            binary["latency_ms"]["mean"] / float32["latency_ms"]["mean"]
        )
        assert c["binary_over_int8"] is None
    assert "binary/float32" in report["output"] and "binary vs full precision" in report["output"]


def test_markdown_and_plot(report):
    assert "| model | variant |" in report["markdown"] and "tiny_twin" in report["markdown"]
    assert "## Binary vs full precision" in report["markdown"]
    assert report["plot"][:8] == b"\x89PNG\r\n\x1a\n"


def strip_metadata(source, target):
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(source))
    model.metadata = [entry for entry in model.metadata or [] if entry.name.decode() != "bcn"]
    flatbuffer_utils.write_model(model, str(target))
    return target


def test_model_without_metadata(models, tmp_path):
    foreign = strip_metadata(models["float32"], tmp_path / "foreign.tflite")
    out = tmp_path / "bench.json"
    result = bench(foreign, "--runs", "2", "--json", out)
    assert result.exit_code == 2 and "has no bcn metadata" in result.output and "--input-size" in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == [foreign]
    with logged_warnings(match="no bcn metadata"):
        result = bench(foreign, "--runs", "2", "--input-size", INPUT_SIZE, "--classes", "cat,dog,bird", "--json", out)
    assert result.exit_code == 0, result.output
    [entry] = json.loads(out.read_text())["results"]
    assert entry["variant"] is None and entry["engine"] == "tflite"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"TFL3 but not really", "not a TFLite flatbuffer"),
        (None, "damaged TFLite flatbuffer"),
    ],
)
def test_bad_models_are_one_line_errors(models, tmp_path, content, message):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(content if content is not None else models["binary"].read_bytes()[:5000])
    result = bench(bad, "--runs", "1")
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"Error: {bad}: {message}")


def test_unreadable_image_and_bad_options(models, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("hello")
    result = bench(models["float32"], "--image", text)
    assert result.exit_code == 2 and "notes.png: not an image OpenCV can read" in result.output
    result = bench(models["float32"], "--threads", "one")
    assert result.exit_code == 2 and "comma-separated list of integers" in result.output
    result = bench(models["float32"], "--json", tmp_path / "no" / "x.json")
    assert result.exit_code == 2 and "does not exist" in result.output
    result = bench(models["float32"], "--plot", tmp_path / "plot.gif")
    assert result.exit_code == 2 and "pick one of those suffixes" in result.output


def test_plot_without_matplotlib_fails_before_measuring(models, tmp_path):
    code = (
        "import sys\nsys.modules['matplotlib'] = None\n"
        "from bcn.cli import main\nmain(['bench', sys.argv[1], '--plot', sys.argv[2]])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(models["float32"]), str(tmp_path / "plot.png")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--plot needs matplotlib, which is not installed: pip install matplotlib" in result.stderr
    assert "bench" not in result.stdout and list(tmp_path.iterdir()) == []


def test_lce_model_without_lce_or_benchmark_binary(models, tmp_path):
    """On a machine without the LCE wheel, bcn's LCE delegate and lce_benchmark_model: what to install, where."""
    code = (
        "import sys\nsys.modules['larq_compute_engine'] = None\n"
        "from bcn.cli import main\nmain(['bench', sys.argv[1], '--runs', '1'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(models["binary"])],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": str(tmp_path), "HOME": str(tmp_path), "BCN_LCE_DELEGATE": str(tmp_path / "missing.so")},
    )
    assert result.returncode == 2, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert "pip install larq-compute-engine" in error and "https://github.com/larq/compute-engine/releases" in error
    assert "--lce-benchmark-binary" in error and "BCN_LCE_DELEGATE" in error


def test_lce_models_through_lce_benchmark_model(models, tmp_path):
    """The aarch64 route: LCE models measured by lce_benchmark_model, the float twin in-process.

    The real binary runs on aarch64 only; a stand-in prints lines as the tool does.
    """
    from test_runtime_lce_benchmark import OUTPUT_TF216, stand_in_binary

    binary = stand_in_binary(tmp_path, OUTPUT_TF216)
    out = tmp_path / "bench.json"
    result = bench(
        models["binary"],
        models["float32"],
        "--runs",
        "2",
        "--warmup",
        "0",
        "--lce-benchmark-binary",
        binary,
        "--json",
        out,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    external = next(r for r in report["results"] if r["variant"] == "binary")
    assert external["engine"] == "lce_benchmark_model" and external["interleaved"] is False
    assert external["latency_ms"]["mean"] == pytest.approx(40.0123) and external["detect_ms"] is None
    assert f"--graph={models['binary']}" in external["command"] and "--use_indirect_bgemm=true" in external["command"]
    [comparison] = report["comparisons"]
    float32 = next(r for r in report["results"] if r["variant"] == "float32")
    assert comparison["binary_over_float32"]["mean"] == pytest.approx(40.0123 / float32["latency_ms"]["mean"])


def test_only_lce_benchmark_model_runs_with_a_bare_binary_name(models, tmp_path):
    """Every model through lce_benchmark_model (none in-process), the binary named without a folder."""
    from test_runtime_lce_benchmark import OUTPUT_TF216, stand_in_binary

    binary = stand_in_binary(tmp_path, OUTPUT_TF216)
    done = subprocess.run(
        bcn_cli("bench", models["binary"], "--runs", "2", "--warmup", "0", "--lce-benchmark-binary", binary.name),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=binary.parent,
    )
    assert done.returncode == 0, done.stderr
    assert "lce_benchmark_model" in done.stdout and "40.0" in done.stdout


@pytest.mark.parametrize("threads", ["1000", "1,257", "0"])
def test_too_many_threads_names_the_option(models, threads):
    done = subprocess.run(
        bcn_cli("bench", models["float32"], "--threads", threads), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"Error: Invalid value for '--threads' / '-t': thread counts must be from 1 to 256, got '{threads}'"
    )
    assert "delegate" not in done.stderr


def test_sweep_measures_binary_models_on_both_engines(models, tmp_path):
    from bcn.runtime.delegate import available_kernels

    out = tmp_path / "sweep.json"
    result = bench(models["binary"], models["float32"], "--sweep", "--runs", "2", "--warmup", "0", "--json", out)
    assert result.exit_code == 0, result.output
    results = json.loads(out.read_text())["results"]
    binary = {
        (r["engine"], r["options"]["use_xnnpack"], r["options"].get("use_indirect_bgemm"), r["options"].get("kernel"))
        for r in results
        if r["variant"] == "binary"
    }
    kernels = available_kernels()
    assert "scalar" in kernels
    assert binary == {("tflite", xnnpack, None, kernel) for xnnpack in (True, False) for kernel in kernels} | {
        ("lce", xnnpack, indirect, None) for xnnpack in (True, False) for indirect in (True, False)
    }
    assert {r["engine"] for r in results if r["variant"] == "float32"} == {"tflite"}
    assert all(
        r["library"].endswith("+ bcn-lce delegate")
        for r in results
        if r["variant"] == "binary" and r["engine"] == "tflite"
    )


def test_kernel_path_is_forced_recorded_and_refused_where_missing(models, tmp_path):
    out = tmp_path / "scalar.json"
    result = bench(
        models["binary"],
        "--engine",
        "tflite",
        "--kernel",
        "scalar",
        "--threads",
        "2",
        "--runs",
        "1",
        "--warmup",
        "0",
        "--json",
        out,
    )
    assert result.exit_code == 0, result.output
    [run] = json.loads(out.read_text())["results"]
    assert run["options"]["kernel"] == "scalar" and run["options"]["threads"] == 2
    assert "bcn-lce scalar" in result.output
    missing = "avx2" if platform.machine() == "aarch64" else "neon"
    result = bench(models["binary"], "--engine", "tflite", "--kernel", missing, "--runs", "1", "--warmup", "0")
    assert result.exit_code == 2
    assert f"kernel {missing} cannot run on this CPU" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_an_output_naming_an_input_is_refused_before_measuring(models, tmp_path):
    image = tmp_path / "scene.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(image), np.zeros((48, 64, 3), np.uint8))
    before = models["float32"].read_bytes()
    for option, target in (("--json", models["float32"]), ("--markdown", image), ("--plot", image)):
        result = bench(models["float32"], "--image", image, option, target)
        assert result.exit_code == 2, result.output
        assert (
            result.output.strip().splitlines()[-1]
            == f"Error: {target}: {option} would overwrite this input; choose another file"
        )
    assert models["float32"].read_bytes() == before


def test_profile_times_each_delegated_layer(models, tmp_path):
    out = tmp_path / "profile.json"
    args = ["bench", str(models["binary"]), str(models["float32"]), "--profile", "--runs", "3", "--warmup", "1"]
    result = CliRunner().invoke(main, [*args, "--json", str(out), "--markdown", str(tmp_path / "profile.md")])
    assert result.exit_code == 0, result.output
    binary, float32 = json.loads(out.read_text())["results"]
    assert float32["profile"] is None  # no LCE ops: nothing of bcn's delegate to time
    profile = binary["profile"]
    ops = profile["ops"]
    assert {op["op"] for op in ops} <= {"LceQuantize", "LceBconv2d", "LceDequantize", "LceBMaxPool2d"}
    convs = [op for op in ops if op["op"] == "LceBconv2d"]
    assert convs and all(op["binary_macs"] > 0 and op["binary_gmac_per_s"] > 0 for op in convs)
    assert sum(op["binary_macs"] for op in convs) == binary["binary_macs"]  # the cost model's count
    assert all(op["runs"] == 1 + 1 + 3 and op["ms"] > 0 for op in ops)  # first run, warm-up, timed runs
    assert len({op["node"] for op in ops}) == len(ops)
    assert sum(op["share"] for op in ops) + profile["rest_share"] == pytest.approx(1.0)
    assert "rest of the model" in result.output and "LceBconv2d" in result.output
    assert "## Per-layer profile" in (tmp_path / "profile.md").read_text()

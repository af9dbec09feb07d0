"""Parsing lce_benchmark_model's output, on lines as TFLite's benchmark tool prints them.

The formats come from the tool's sources: tensorflow/core/util/stats_calculator.h
(Stat::OutputToStream: "count=... first=... curr=... min=... max=... avg=... std=...",
or "count=N curr=X(all same)"; newer TFLite adds "p5=... median=... p95=..."),
tensorflow/lite/tools/benchmark/benchmark_model.cc (BenchmarkLoggingListener::OnBenchmarkEnd:
"Inference timings in us: Init: ..., First inference: ..., Warmup (avg): ..., Inference (avg): ..."
and "Memory footprint delta from the start of the tool (MB): init=... overall=..."), logged
through TFLITE_LOG with an "INFO: " prefix.
"""

import os
import stat
import sys

import pytest

from bcn.errors import BcnError
from bcn.runtime import lce_benchmark

# Laid out as LCE 0.16's lce_benchmark_model (TFLite 2.16's benchmark tool) prints a run; the
# figures are illustrative.
OUTPUT_TF216 = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Num threads: [1]
INFO: Graph: [q1.tflite]
INFO: Use indirect BGEMM: [0]
INFO: Loaded model q1.tflite
INFO: The input model file size (MB): 4.0011
INFO: Initialized session in 21.35ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=12 first=45219 curr=41003 min=40877 max=45219 avg=41362.5 std=1174

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=50 first=40312 curr=39870 min=39650 max=41207 avg=40012.3 std=320

INFO: Inference timings in us: Init: 21350, First inference: 45219, Warmup (avg): 41362.5, Inference (avg): 40012.3
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=8.125 overall=20.5
"""

# A published run of a newer TFLite benchmark_model, which adds percentiles to the count= lines.
OUTPUT_PERCENTILES = """\
INFO: Initialized session in 119.515ms.
INFO: Running benchmark for at least 5 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=9 first=87112 curr=51629 min=51629 max=87112 avg=58147.4 std=11478 p5=51629 median=51962 p95=87112

INFO: Running benchmark for at least 1000 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=1000 first=52162 curr=49785 min=49088 max=686105 avg=63743.2 std=60716 p5=49620 median=51891 p95=68628

INFO: Inference timings in us: Init: 119515, First inference: 87112, Warmup (avg): 58147.4, Inference (avg): 63743.2
INFO: Memory footprint delta from the start of the tool (MB): init=55.4961 overall=55.4961
"""


def test_parses_the_tf216_output():
    result = lce_benchmark.parse_output(OUTPUT_TF216)
    assert result["runs"] == 50
    latency = result["latency_ms"]
    assert latency["mean"] == pytest.approx(40.0123)
    assert latency["min"] == pytest.approx(39.650) and latency["max"] == pytest.approx(41.207)
    assert latency["std"] == pytest.approx(0.320)
    assert latency["p50"] is None and latency["p90"] is None and latency["p99"] is None  # not printed
    assert result["warmup_ms"] == pytest.approx(41.3625)
    assert result["init_ms"] == pytest.approx(21.35) and result["first_ms"] == pytest.approx(45.219)
    assert result["memory_mb"] == pytest.approx(20.5)


def test_parses_percentiles_and_takes_the_measured_run_not_the_warmup():
    result = lce_benchmark.parse_output(OUTPUT_PERCENTILES)
    assert result["runs"] == 1000
    assert result["latency_ms"]["mean"] == pytest.approx(63.7432)
    assert result["latency_ms"]["p50"] == pytest.approx(51.891)
    assert result["latency_ms"]["min"] == pytest.approx(49.088)
    assert result["memory_mb"] == pytest.approx(55.4961)


def test_all_same_and_unprefixed_lines():
    text = (
        "count=1 curr=70000\n"
        "count=5 curr=65000(all same)\n"
        "Inference timings in us: Init: 900, First inference: 70000, Warmup (avg): 70000, Inference (avg): 65000\n"
    )
    result = lce_benchmark.parse_output(text)
    assert result["runs"] == 5
    assert result["latency_ms"]["mean"] == pytest.approx(65.0) and result["latency_ms"]["std"] == 0
    assert result["memory_mb"] is None


def test_output_without_timings_is_an_error():
    with pytest.raises(BcnError, match="printed no timings .*Failed to allocate tensors"):
        lce_benchmark.parse_output("INFO: STARTING!\nERROR: Failed to allocate tensors!\n")


def test_command_line_uses_the_tools_flags():
    switches = dict(use_indirect_bgemm=False, use_xnnpack=True, use_reference_bconv=False)
    args = lce_benchmark.command("/opt/lce_benchmark_model", "m.tflite", threads=2, runs=30, warmup=0, **switches)
    assert args == [
        "/opt/lce_benchmark_model",
        "--graph=m.tflite",
        "--num_threads=2",
        "--num_runs=30",
        "--warmup_runs=1",
        "--use_xnnpack=true",
        "--use_indirect_bgemm=false",
        "--use_reference_bconv=false",
    ]


def stand_in_binary(folder, output: str, exit_code: int = 0):
    """An executable printing `output` and its arguments: lce_benchmark_model only runs on aarch64."""
    path = folder / "lce_benchmark_model"
    path.write_text(
        f"#!{sys.executable}\nimport sys\nprint('ARGS', *sys.argv[1:])\n"
        f"sys.stdout.write({output!r})\nsys.exit({exit_code})\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_run_passes_flags_and_parses(tmp_path):
    binary = stand_in_binary(tmp_path, OUTPUT_TF216)
    switches = dict(use_indirect_bgemm=True, use_xnnpack=False, use_reference_bconv=False)
    result = lce_benchmark.run(str(binary), "q1.tflite", threads=4, runs=50, warmup=5, **switches)
    assert result["latency_ms"]["mean"] == pytest.approx(40.0123)
    assert "--num_threads=4" in result["command"] and "--use_indirect_bgemm=true" in result["command"]


def test_failing_binary_and_missing_binary(tmp_path, monkeypatch):
    binary = stand_in_binary(tmp_path, "ERROR: Could not open 'q1.tflite'.\n", exit_code=1)
    with pytest.raises(BcnError, match="failed with exit code 1 .*Could not open"):
        lce_benchmark.run(
            str(binary), "q1.tflite", 1, 5, 1, use_indirect_bgemm=True, use_xnnpack=True, use_reference_bconv=False
        )
    with pytest.raises(BcnError, match="no such lce_benchmark_model binary"):
        lce_benchmark.find_binary(tmp_path / "nowhere")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert lce_benchmark.find_binary() == str(binary)
    monkeypatch.setenv("PATH", os.devnull)
    assert lce_benchmark.find_binary() is None

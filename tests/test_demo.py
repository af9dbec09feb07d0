"""`bcn demo` end to end with a tiny budget: every artifact exists and the report tells the JSON's numbers."""

import json
import subprocess
import sys

import pytest

from bcn.demo_report import metric, mib, ratio

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "report"
    result = subprocess.run(
        [sys.executable, "-m", "bcn", "demo", "--out", str(out), "--minutes", "0.3", "--images", "40",
         "--runs", "3", "--threads", "1"],
        capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_prints_where_the_report_is(demo_run):
    out, result = demo_run
    assert f"report: {out / 'report.md'}" in result.stdout


def test_every_artifact_exists(demo_run):
    out, _ = demo_run
    for name in ("report.md", "demo.json", "eval.json", "convert.json", "bench.json", "bench.md",
                 "latency.png", "pr_binary.png", "pr_float.png",
                 "models/binary.tflite", "models/binary_float32.tflite", "models/binary_int8.tflite",
                 "runs/binary/best.h5", "runs/float/best.h5", "runs/binary/config.json", "data/classes.txt"):
        assert (out / name).is_file(), name
    assert len(list((out / "detections").glob("*.jpg"))) == 6
    assert not list(out.rglob(".*.tmp*")) and not [p for p in out.rglob(".*") if p.is_file()]


def test_report_numbers_are_the_json_numbers(demo_run):
    out, _ = demo_run
    report = (out / "report.md").read_text()
    evaluation = json.loads((out / "eval.json").read_text())
    conversion = json.loads((out / "convert.json").read_text())
    bench = json.loads((out / "bench.json").read_text())
    for key in ("binary_keras", "float_keras", "binary_lce"):
        assert metric(evaluation[key]["map50_voc07"]) in report
        assert metric(evaluation[key]["map50_area"]) in report
    for entry in conversion["files"].values():
        assert mib(entry["bytes"]) in report
    assert f"{ratio(conversion['size_ratios']['float32'])}x smaller than its float32 twin" in report
    assert f"{conversion['cost']['binary_ratio']:.4f}" in report
    for comparison in bench["comparisons"]:
        assert f"| {comparison['threads']} | {ratio(comparison['binary_over_float32']['p50'])} |" in report
    for result in bench["results"]:
        assert f"{result['latency_ms']['p50']:.2f}" in report


def test_conversion_kept_binary_layers(demo_run):
    out, _ = demo_run
    conversion = json.loads((out / "convert.json").read_text())
    layers = conversion["binary_layers"]
    assert conversion["files"]["binary"]["ops"]["LceBconv2d"] == layers["LceBconv2d"] == layers["keras_binary_convs"] > 0

"""`bcn demo` end to end with a tiny budget: every artifact exists and the report tells the JSON's numbers."""

import json
import subprocess
from pathlib import Path

import cv2
import pytest
from bcn_command import bcn_cli

from bcn.demo import DEMO_EPOCHS, READABLE_SIDE, benchmark_fresh
from bcn.demo_report import MAP_FLOOR, STILL_RISING, metric, mib, plural, ratio
from bcn.errors import BcnError
from bcn.runtime.annotate import draw_detections
from bcn.runtime.bench import RATIO_KEYS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "report"
    command = bcn_cli("demo", "--out", out, "--minutes", 0.3, "--images", 40, "--runs", 3, "--threads", "1,2")
    result = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_prints_where_the_report_is(demo_run):
    out, result = demo_run
    assert f"report: {out / 'report.md'}" in result.stdout


def test_every_artifact_exists(demo_run):
    out, _ = demo_run
    for name in (
        "report.md",
        "demo.json",
        "eval.json",
        "convert.json",
        "bench.json",
        "bench.md",
        "latency.png",
        "pr_binary.png",
        "pr_float.png",
        "models/detector.tflite",
        "models/detector_binary-int8.tflite",
        "models/detector_float32.tflite",
        "models/detector_int8.tflite",
        "runs/binary/best.h5",
        "runs/float/best.h5",
        "runs/binary/config.json",
        "data/classes.txt",
    ):
        assert (out / name).is_file(), name
    assert len(list((out / "detections").glob("*.jpg"))) == 6
    assert not list(out.rglob(".*.tmp*")) and not [p for p in out.rglob(".*") if p.is_file()]


def test_report_numbers_are_the_json_numbers(demo_run):
    out, _ = demo_run
    report = (out / "report.md").read_text()
    evaluation = json.loads((out / "eval.json").read_text())
    conversion = json.loads((out / "convert.json").read_text())
    bench = json.loads((out / "bench.json").read_text())
    for key in ("binary_keras", "float_keras", "binary_lce", "binary_int8_lce"):
        assert metric(evaluation[key]["map50_voc07"]) in report
        assert metric(evaluation[key]["map50_area"]) in report
    for entry in conversion["files"].values():
        assert mib(entry["bytes"]) in report
    assert f"{ratio(conversion['size_ratios']['float32'])}x smaller than the float32 twin" in report
    assert f"{conversion['cost']['binary_ratio']:.4f}" in report
    for comparison in bench["comparisons"]:
        cells = [ratio(comparison[key]["p50"]) for key in RATIO_KEYS]
        assert f"| {comparison['threads']} | {' | '.join(cells)} |" in report
    for result in bench["results"]:
        assert f"{result['latency_ms']['p50']:.2f}" in report


def _speed(over: float) -> str:
    return "as fast as" if ratio(over) == "1.00" else "faster than" if over < 1 else "slower than"


def test_report_sentences_say_what_the_json_says(demo_run):
    out, _ = demo_run
    report = (out / "report.md").read_text()
    summary = json.loads((out / "demo.json").read_text())
    evaluation, bench = summary["evaluation"], summary["bench"]
    conversion = json.loads((out / "convert.json").read_text())
    keras = metric(evaluation["binary_keras"]["map50_voc07"])
    for key, rest in (("binary_lce", "float32"), ("binary_int8_lce", "int8")):
        converted = metric(evaluation[key]["map50_voc07"])
        difference = float(converted) - float(keras)
        assert (
            f"With {rest} rest its mAP@0.5 (VOC07) equals the Keras model's, {keras}"
            if converted == keras
            else f"With {rest} rest its mAP@0.5 (VOC07) is {abs(difference):.3f} "
            f"{'higher' if difference > 0 else 'lower'} than the Keras model's ({converted} vs {keras})"
        ) in report
    runtime = summary["detections"]["runtime"]
    assert f"with its defaults on the {runtime['engine']} engine ({runtime['library']}" in report
    for variant, parity in conversion["parities"].items():
        name = Path(conversion["files"][variant]["path"]).name
        assert f"Parity of `models/{name}`, run by bcn's runtime with its defaults on the " in report
        assert f"on the {parity['runtime']['engine']} engine ({parity['runtime']['library']}" in report
        assert f"vs Keras on {parity['images']} images: check {parity['check']}" in report
    for comparison in bench["comparisons"]:
        f32, i8, both = (comparison[key]["p50"] for key in RATIO_KEYS)
        thread_word = "thread" if comparison["threads"] == 1 else "threads"
        assert (
            f"At {comparison['threads']} {thread_word} the binary model (float32 rest) is {_speed(f32)} its float32 "
            f"twin ({ratio(f32)}x its latency); the binary model (float32 rest) is {_speed(i8)} its int8 twin "
            f"({ratio(i8)}x its latency); the binary model with int8 rest is {_speed(both)} its int8 twin "
            f"({ratio(both)}x its latency)."
        ) in report
    p50 = {(r["variant"], r["threads"]): r["latency_ms"]["p50"] for r in bench["results"]}
    assert (
        "From 1 thread to 2 the p50 changes by a factor of: "
        + ", ".join(
            f"{variant} {ratio(p50[variant, 2] / p50[variant, 1])}x"
            for variant in ("binary", "binary-int8", "float32", "int8")
        )
        in report
    )
    binary = next(r for r in bench["results"] if r["variant"] == "binary")
    kernel = f", kernel {binary['options']['kernel']}" if binary["options"].get("kernel") else ""
    assert f"binary and binary-int8 on the {binary['engine']} engine ({binary['library']}{kernel})" in report
    assert not bench["tensorflow_loaded"] and "a new Python process that never loaded TensorFlow" in report
    assert "`detector_float32.tflite` (the trained float twin)" in report
    assert "held-out test split" in report and "LCE interpreter" not in report and "Raspberry Pi" not in report


def test_the_report_says_what_the_time_budget_gave(demo_run):
    out, result = demo_run
    report = (out / "report.md").read_text()
    summary = json.loads((out / "demo.json").read_text())
    binary, floating = summary["training"]["binary"], summary["training"]["float"]
    assert "a 0.3-minute training budget" in report
    assert (
        f"with the same time budget (0.15 min each), which gave the binary model {plural(binary['epochs'], 'epoch')} "
        f"and its float twin {plural(floating['epochs'], 'epoch')} on this machine"
    ) in report
    for training in (binary, floating):
        evaluations = training["evaluations"]
        assert not evaluations or evaluations[-1]["epoch"] == training["epochs"]  # the last epoch is evaluated
        maps = [float(metric(e["map50_voc07"])) for e in evaluations]
        if len(maps) < 2 or round(maps[-1] - maps[-2], 3) > STILL_RISING:
            assert "Warning: held-out mAP@0.5 (VOC07) at the end of the 0.3-minute time budget" in report


def test_a_score_below_the_floor_is_said_in_the_report_and_on_the_terminal(demo_run):
    out, result = demo_run
    report = (out / "report.md").read_text()
    summary = json.loads((out / "demo.json").read_text())
    score = metric(summary["evaluation"]["binary_keras"]["map50_voc07"])
    epochs = summary["training"]["binary"]["epochs"]
    line = (
        f"Warning: the binary model's mAP@0.5 (VOC07) is {score}, below {MAP_FLOOR}, the least a working detector "
        f"reaches on the generated data; likely cause: the 0.3-minute time budget gave it only "
        f"{plural(epochs, 'epoch')} on this machine (its speed or load); train longer with "
        f"`bcn demo --epochs {max(DEMO_EPOCHS, 2 * epochs)} --images 40 --out {out}`."
    )
    if float(score) < MAP_FLOOR:  # 40 images for seconds: expected
        assert f"> {line}" in report and line in result.stderr.splitlines()
    else:
        assert "below 0.3" not in report and "below 0.3" not in result.stderr


def test_annotated_images_are_drawn_enlarged(demo_run):
    out, _ = demo_run
    report = (out / "report.md").read_text()
    for item in json.loads((out / "demo.json").read_text())["detections"]["images"]:
        drawn = cv2.imread(str(out / item["image"])).shape[:2]
        original = cv2.imread(str(out / "data" / "JPEGImages" / Path(item["image"]).name)).shape[:2]
        assert item["enlarged"] > 1 and drawn == tuple(side * item["enlarged"] for side in original)
        # the smallest whole factor that reaches READABLE_SIDE
        assert min(original) * (item["enlarged"] - 1) < READABLE_SIDE <= min(drawn)
        assert (
            f"({item['image']}): detections {item['detections']}, objects in the annotation "
            f"{item['ground_truth']}, drawn {item['enlarged']}x enlarged"
        ) in report
        if item["detections"] == 0:  # "no detection above the threshold" across the top, the rest as drawn
            plain = draw_detections(cv2.imread(str(out / "data" / "JPEGImages" / Path(item["image"]).name)), [], 480)
            difference = abs(cv2.imread(str(out / item["image"])).astype(int) - plain)
            assert difference[:20].mean() > 4 * difference[40:].mean()


def test_a_failing_benchmark_is_one_line_naming_the_model(tmp_path):
    with pytest.raises(BcnError, match=r"^measuring latency .*missing\.tflite: no such model file$"):
        benchmark_fresh([tmp_path / "missing.tflite"], tmp_path, (1,), runs=2, warmup=1)
    assert not list(tmp_path.iterdir())


def test_conversion_kept_binary_layers(demo_run):
    out, _ = demo_run
    conversion = json.loads((out / "convert.json").read_text())
    layers = conversion["binary_layers"]
    assert (
        conversion["files"]["binary"]["ops"]["LceBconv2d"] == layers["LceBconv2d"] == layers["keras_binary_convs"] > 0
    )

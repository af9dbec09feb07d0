"""`bcn demo`'s pure parts, fast: the training estimate, the report's own verdicts on made-up
results (a score below the floor, a time budget that ended while mAP still rose), and the words
drawn on a test image without detections."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from bcn.demo import DEMO_EPOCHS, training_estimate
from bcn.demo_report import MAP_FLOOR, render, result_warnings, train_longer_command, trend
from bcn.runtime.annotate import draw_detections, draw_no_detection

RUNTIME = {"engine": "tflite", "library": "ai-edge-litert 2.3.0", "options": {}}
LATENCY = {"p50": 1.0, "mean": 1.0}


def made_up_summary(binary_map: float, **changes) -> dict:
    """A demo.json as run_demo writes it, with made-up numbers: DEMO_EPOCHS each, generated data."""
    summary = {
        "arch": "qn(96) qn([1x32, 2x64, 2x128, 2x256]) tp(2)([64, 32, 32]) h(32)",
        "input_size": 96,
        "classes": ["disc", "square"],
        "images": 2000,
        "data": None,
        "held_out": "test",
        "out": "demo-report",
        "epochs": DEMO_EPOCHS,
        "minutes": None,
        "seed": 0,
        "training": {
            "binary": {
                "epochs": DEMO_EPOCHS,
                "seconds": 350.0,
                "evaluations": [{"epoch": DEMO_EPOCHS, "map50_voc07": 0.5}],
            },
            "float": {
                "epochs": DEMO_EPOCHS,
                "seconds": 300.0,
                "evaluations": [{"epoch": DEMO_EPOCHS, "map50_voc07": 0.7}],
            },
        },
        "evaluation": {
            key: {"map50_voc07": value, "map50_area": value}
            for key, value in (("binary_keras", binary_map), ("binary_lce", binary_map), ("float_keras", 0.7))
        },
        "conversion": {
            "cost": {"macs": 60e6, "binary_macs": 40e6, "binary_ratio": 0.61, "eq_flops": 25e6, "params": 500000},
            "files": {
                "binary": {"path": "models/binary.tflite", "ops": {"LceBconv2d": 8}, "engine": "lce", "bytes": 1e5}
            },
            "parity": {"check": "passed", "score_threshold": 0.3, "agreement": 1.0, "min_iou": 0.9, "images": 8},
            "size_ratios": {"float32": 8.0, "int8": 2.0},
            "binary_layers": {"LceBconv2d": 8, "keras_binary_convs": 8},
        },
        "bench": {
            "machine": {"cpu": "a CPU", "logical_cores": 2, "arch": "x86_64", "os": "Linux"},
            "results": [
                {
                    "model": "models/binary.tflite",
                    "variant": "binary",
                    "name": "binary",
                    "threads": 1,
                    "engine": "tflite",
                    "library": "ai-edge-litert",
                    "latency_ms": LATENCY,
                    "detect_ms": LATENCY,
                }
            ],
            "comparisons": [],
            "settings": {"threads": [1]},
        },
        "detections": {"runtime": RUNTIME, "score_threshold": 0.3, "images": []},
        "timings": {"train": 700.0},
        "total_seconds": 780.0,
    }
    summary.update(changes)
    return summary


def with_budget(summary: dict, minutes: float, binary: list[float], epochs_apart: int = 5) -> dict:
    """The summary of a run under a time budget whose binary model was evaluated with these mAPs."""
    budgeted = copy.deepcopy(summary)
    budgeted["minutes"] = minutes
    evaluations = [{"epoch": epochs_apart * (i + 1), "map50_voc07": value} for i, value in enumerate(binary)]
    budgeted["training"]["binary"].update(epochs=len(binary) * epochs_apart, evaluations=evaluations)
    budgeted["training"]["float"]["evaluations"] = [{"epoch": 5, "map50_voc07": 0.6}, {"epoch": 10, "map50_voc07": 0.6}]
    return budgeted


def test_the_estimate_after_the_first_epoch_covers_both_models():
    # 35 more binary epochs of 10 s, 15 s tracing the float twin, 36 of its epochs at 0.85 x 10 s: 671 s.
    line = training_estimate(10.0, 15.0, 36, None)
    assert line.startswith("training estimate: 10.0 s an epoch on this machine now, so about 11 min more")
    assert "for 36 epochs of each model" in line and "busier or slower machine takes longer" in line


def test_the_estimate_under_a_budget_says_how_many_epochs_it_gives():
    # 5.5 minutes per model, 15 s of it tracing, 10 s an epoch: 31 epochs.
    line = training_estimate(10.0, 15.0, 1000, 11)
    assert "the 5.5-minute budget gives each model about 31 epochs" in line
    assert f"without --minutes the demo trains {DEMO_EPOCHS}" in line


def test_a_working_result_has_no_warning():
    summary = made_up_summary(0.583)
    assert result_warnings(summary) == []
    report = render(summary)
    assert "Warning" not in report and f"{DEMO_EPOCHS} training epochs per model" in report
    assert f"for the same number of epochs ({DEMO_EPOCHS} each)" in report


def test_a_score_below_the_floor_is_one_line_with_its_cause_and_the_command():
    summary = with_budget(made_up_summary(0.035), 11, [0.02, 0.035], epochs_apart=3)
    warnings = result_warnings(summary)
    expected = (
        f"Warning: the binary model's mAP@0.5 (VOC07) is 0.035, below {MAP_FLOOR}, the least a working detector "
        "reaches on the generated data; likely cause: the 11-minute time budget gave it only 6 epochs on this "
        f"machine (its speed or load); train longer with `bcn demo --epochs {DEMO_EPOCHS}`."
    )
    assert warnings[0] == expected and "\n" not in expected
    report = render(summary)
    assert f"> {expected}" in report
    assert "with the same time budget (5.5 min each), which gave the binary model 6 epochs and its float twin" in report


def test_the_floor_is_judged_at_the_reports_precision():
    assert result_warnings(made_up_summary(0.2996)) == []  # printed as 0.300, not below 0.3
    assert "is 0.299, below" in result_warnings(made_up_summary(0.2994))[0]


def test_the_floor_applies_to_generated_data_only():
    data = {"root": "/data/mine", "layout": "YOLO", "held_out": "test", "held_out_images": 20}
    assert result_warnings(made_up_summary(0.01, data=data)) == []


def test_fixed_epochs_too_few_suggest_twice_as_many_with_the_runs_choices():
    summary = made_up_summary(0.1, images=500, seed=3, out="/tmp/report")
    summary["training"]["binary"]["epochs"] = 30
    assert (
        train_longer_command(summary)
        == f"bcn demo --epochs {max(DEMO_EPOCHS, 60)} --images 500 --seed 3 --out /tmp/report"
    )
    assert "likely cause: 30 epochs are too few for it to learn the data" in result_warnings(summary)[0]


@pytest.mark.parametrize(
    ("maps", "expected"),
    [([0.40, 0.45], "rising"), ([0.45, 0.455], "level"), ([0.50, 0.49], "level"), ([0.3], "once"), ([], "never")],
)
def test_trend_of_the_last_two_evaluations(maps, expected):
    assert trend([{"epoch": i + 1, "map50_voc07": value} for i, value in enumerate(maps)]) == expected


def test_a_budget_that_ends_while_map_rises_warns_with_the_numbers():
    summary = with_budget(made_up_summary(0.455), 11, [0.35, 0.41, 0.455])
    (warning,) = result_warnings(summary)
    assert warning == (
        "Warning: held-out mAP@0.5 (VOC07) at the end of the 11-minute time budget: the binary model's was still "
        "rising (0.410 at epoch 10, 0.455 at epoch 15); the float twin's had levelled off (0.600 at epoch 5, 0.600 "
        f"at epoch 10). More epochs would likely score higher: `bcn demo --epochs {DEMO_EPOCHS}`."
    )
    assert f"> {warning}" in render(summary)


def test_a_budget_that_ends_on_a_plateau_does_not_warn():
    assert result_warnings(with_budget(made_up_summary(0.5), 11, [0.45, 0.5, 0.505])) == []


def test_an_image_without_detections_says_so():
    image = np.full((96, 96, 3), 90, np.uint8)
    plain = draw_detections(image, [], min_side=480)
    labelled = draw_no_detection(plain.copy())
    changed = np.argwhere((labelled != plain).any(axis=2))
    assert len(changed) > 1000  # the words on their dark box
    assert changed[:, 0].max() < 40 and changed[:, 1].max() > 250  # across the top
    small = draw_no_detection(image.copy())  # too narrow for the usual size: made smaller, still drawn
    assert (small != image).any() and (small[-40:] == image[-40:]).all()


def test_the_convergence_figures_are_the_recorded_benchmarks():
    """The report's sentence about training to convergence quotes benchmarks/train_convergence.json."""
    from bcn.demo_report import CONVERGED, CONVERGENCE_COMMAND

    recorded = json.loads((Path(__file__).parents[1] / "benchmarks" / "train_convergence.json").read_text())["demo"]
    assert CONVERGED == {
        "epochs": recorded["binary"]["epochs"],
        "binary_final": round(recorded["binary"]["final_map50_voc07"], 3),
        "binary_best": round(recorded["binary"]["best_map50_voc07"], 3),
        "float_final": round(recorded["float_twin"]["final_map50_voc07"], 3),
    }
    assert recorded["command"].startswith(CONVERGENCE_COMMAND)
    assert recorded["float_twin"]["epochs"] == recorded["binary"]["epochs"]

"""`bcn demo --data`: the whole pipeline on a user's data set in the YOLO layout instead of a generated one."""

import json
import subprocess
import sys

import pytest
from bcn_command import bcn_cli
from data_layouts import write_yolo

pytestmark = pytest.mark.slow


def test_demo_runs_on_a_yolo_data_set(synth_voc, tmp_path):
    data = write_yolo(synth_voc, tmp_path / "yolo")
    out = tmp_path / "report"
    command = bcn_cli("demo", "--data", data, "--out", out, "--epochs", 1, "--runs", 2, "--threads", 1)
    result = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"[1/8] read the data set {data}" in result.stderr
    summary = json.loads((out / "demo.json").read_text())
    assert summary["data"] == {"root": str(data), "layout": "YOLO", "held_out": "test", "held_out_images": 20}
    assert summary["classes"] == ["disc", "square", "triangle", "ring", "cross", "stripes"]
    assert json.loads((out / "runs" / "binary" / "config.json").read_text())["eval_split"] == "test"
    report = (out / "report.md").read_text()
    assert f"Data set {data} (YOLO, evaluated on its test split of 20 images" in report
    assert "1 training epoch per model" in report and "for the same number of epochs (1 each)" in report
    assert not (out / "data").exists() and "`data/`" not in report
    assert len(list((out / "detections").glob("*.jpg"))) == 6


def test_demo_refuses_an_out_folder_that_holds_the_data(synth_voc, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bcn", "demo", "--data", str(synth_voc), "--out", str(synth_voc.parent)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "would replace the data set" in result.stderr
    assert synth_voc.is_dir()

"""Long steps say what they do and how long they took: `bcn convert` step lines, `bcn eval` timing.

The conversion takes its parity and calibration images from a YOLO-layout data set, and the
converted model is evaluated on it, so `--data` of convert and eval is exercised in that layout.
"""

import json
import re

import pytest
from click.testing import CliRunner
from data_layouts import write_yolo

from bcn.cli import main
from bcn.data.formats import read_class_names

SPEC = "qn(64) qn([1x16, 1x16, 1x32, 1x32]) tp(2)([16, 16, 16]) h(8)"
DONE = re.compile(r"^  done in (\d+\.\d) s \((\d+\.\d) s in all\)$")


@pytest.fixture(scope="module")
def yolo_root(synth_voc, tmp_path_factory):
    return write_yolo(synth_voc, tmp_path_factory.mktemp("yolo") / "set")


@pytest.fixture(scope="module")
def keras_model(yolo_root, tmp_path_factory):
    """An untrained model of the data set's classes, in a run folder as `bcn train` leaves it."""
    from bcn.arch.model import build_model

    run = tmp_path_factory.mktemp("run")
    classes = list(read_class_names(yolo_root))
    (run / "config.json").write_text(json.dumps({"format": "bcn-run/1", "spec": SPEC, "input_size": 64,
                                                 "classes": classes, "float_twin": False}))
    build_model(SPEC, 64, len(classes)).save(run / "model.h5")
    return run / "model.h5"


def test_convert_prints_each_step_with_its_time_and_eval_its_own(keras_model, yolo_root, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["convert", str(keras_model), "-o", str(tmp_path / "m.tflite"), "--baselines", "float32",
                                  "--data", str(yolo_root), "--samples", "2"])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    starts = [line for line in lines if line.endswith(" ...")]
    assert [line.split()[0] for line in starts] == ["loading", "converting", "parity:", "converting"]
    assert "with LCE (target arm)" in starts[1] and "to float32 TFLite" in starts[3]
    done = [DONE.match(line) for line in lines if line.startswith("  done in")]
    assert len(done) == 4 and all(done)
    totals = [float(match[2]) for match in done]
    assert totals == sorted(totals)  # the running total only grows
    report = json.loads((tmp_path / "m_report.json").read_text())
    assert list(report["seconds"]) == ["load", "lce", "parity", "float32"]
    assert all(str(yolo_root) in name for name in report["parity"]["samples"])  # the data set's val images

    result = runner.invoke(main, ["eval", str(tmp_path / "m.tflite"), "--data", str(yolo_root), "--split", "val",
                                  "--json"])
    assert result.exit_code == 0, result.output
    assert "detecting:" in result.stderr and "img/s" in result.stderr  # the bar, cleared when done
    assert re.search(r"[\r\n]detected on 8 images in \d+\.\d s\n", result.stderr), result.stderr
    assert json.loads(result.stdout)["num_images"] == 8

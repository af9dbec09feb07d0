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
    (run / "config.json").write_text(
        json.dumps({"format": "bcn-run/1", "spec": SPEC, "input_size": 64, "classes": classes, "float_twin": False})
    )
    build_model(SPEC, 64, len(classes)).save(run / "model.h5")
    return run / "model.h5"


@pytest.mark.slow
def test_convert_prints_each_step_with_its_time_and_eval_its_own(keras_model, yolo_root, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "convert",
            str(keras_model),
            "-o",
            str(tmp_path / "m.tflite"),
            "--baselines",
            "float32",
            "--data",
            str(yolo_root),
            "--samples",
            "2",
        ],
    )
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
    assert list(report["seconds"]) == ["load", "binary", "parity", "float32"]
    assert all(str(yolo_root) in name for name in report["parity"]["samples"])  # the data set's val images

    result = runner.invoke(
        main, ["eval", str(tmp_path / "m.tflite"), "--data", str(yolo_root), "--split", "val", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert "detecting:" not in result.stderr  # no bar where stderr is not a terminal
    assert re.search(r"^detected on 8 images in \d+\.\d s$", result.stderr, re.M), result.stderr
    assert json.loads(result.stdout)["num_images"] == 8


def test_one_progress_bar_convention(monkeypatch):
    import io

    from bcn.progress import configure_logging, progress_bar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stderr", Terminal())
    try:
        configure_logging(0)
        assert not progress_bar(range(3), desc="d", unit="u").disable
        assert progress_bar(range(3), desc="d", unit="u", enabled=False).disable
        configure_logging(-1)  # -q: no bars
        assert progress_bar(range(3), desc="d", unit="u").disable
        monkeypatch.setattr("sys.stderr", io.StringIO())
        configure_logging(0)
        assert progress_bar(range(3), desc="d", unit="u").disable  # not a terminal
    finally:
        configure_logging(0)


def test_steps_log_each_step_and_keep_its_seconds(caplog):
    import logging

    from bcn.progress import Steps

    logger = logging.getLogger("test_steps")
    step = Steps(total=2, logger=logger)
    with caplog.at_level(logging.INFO, logger="test_steps"):
        with step("first", "one"):
            pass
        with pytest.raises(RuntimeError), step("second"):
            raise RuntimeError
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == "[1/2] first ..." and DONE.match(messages[1]) and messages[2] == "[2/2] second ..."
    assert len(messages) == 3 and list(step.seconds) == ["one"]

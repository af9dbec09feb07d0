"""`bcn eval MODEL.tflite` on a device: the runtime extra alone, no TensorFlow (and no matplotlib).

The eval runs in a child process in which TensorFlow, tf-keras, larq and larq-zoo cannot
be imported, as on a device that installed `bcn[runtime]`; it must score the same as
`bcn.evaluation.evaluate` in this process, which has everything.
"""

import json
import subprocess
import sys

import pytest

from bcn.evaluation import evaluate

TRAIN_ONLY = ("tensorflow", "tf_keras", "larq", "larq_zoo")

CHILD = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # `import name` now fails, as where it is not installed
from bcn.cli import main
main({args!r}, prog_name="bcn")
"""


@pytest.fixture(scope="module")
def tflite(trained_model, tmp_path_factory):
    from bcn.converters.convert import convert

    path = tmp_path_factory.mktemp("converted") / "tiny.tflite"
    convert(trained_model, path, samples=1)
    return path


def run_without(blocked, *args):
    code = CHILD.format(blocked=tuple(blocked), args=[str(arg) for arg in args])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_tflite_eval_needs_no_tensorflow_and_scores_as_in_process(tflite, synth_voc, tmp_path):
    out = tmp_path / "eval"
    result = run_without(TRAIN_ONLY, "eval", tflite, "--data", synth_voc, "--out", out)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert (out / "pr_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "detections.json").read_text())
    expected = json.loads(json.dumps(evaluate(tflite, synth_voc, "test", progress=False).metrics))
    assert metrics["per_class"] == expected["per_class"] and metrics["map50_voc07"] == expected["map50_voc07"]


def test_without_matplotlib_the_plot_is_left_out_and_said_so(tflite, synth_voc, tmp_path):
    out = tmp_path / "eval"
    result = run_without((*TRAIN_ONLY, "matplotlib"), "eval", tflite, "--data", synth_voc, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "pr_curves.png will not be drawn: the plot needs matplotlib (pip install matplotlib)" in result.stderr
    assert sorted(path.name for path in out.iterdir()) == ["detections.json", "metrics.json"]


def test_a_keras_model_without_tensorflow_names_the_extra(trained_model, synth_voc):
    result = run_without(TRAIN_ONLY, "eval", trained_model, "--data", synth_voc)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("Error: evaluating a Keras model needs the 'train' extra")

"""`bcn convert` on bad input: one-line error, exit code 2, and no .tflite left behind."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from bcn_command import bcn_cli
from click.testing import CliRunner

import bcn  # noqa: F401  (Keras 2 API before TensorFlow loads)
from bcn.cli import main

SPEC = "qn(64) qn([1x32, 1x32, 1x64, 1x64]) tp(2)([16, 16, 16]) h(8)"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    from bcn.arch.model import build_model

    path = tmp_path_factory.mktemp("model") / "model.h5"
    build_model(SPEC, input_size=64, num_classes=3).save(path)
    return path


def leftovers(folder: Path) -> list[str]:
    """Converted models or temp files in `folder`."""
    return sorted(p.name for p in folder.iterdir() if ".tflite" in p.name or p.name.endswith(".json"))


def convert(*args):
    result = CliRunner().invoke(main, ["convert", *map(str, args)])
    lines = result.output.strip().splitlines()
    return result.exit_code, lines


def assert_one_line_error(code, lines, *words):
    assert code == 2, lines
    assert lines[-1].startswith("Error: "), lines
    assert not any("Traceback" in line for line in lines), lines
    for word in words:
        assert word in lines[-1], lines[-1]


def test_missing_file(tmp_path):
    code, lines = convert(tmp_path / "absent.h5", "-o", tmp_path / "out.tflite")
    assert_one_line_error(code, lines, "absent.h5", "not found")
    assert leftovers(tmp_path) == []


def test_not_a_keras_model(tmp_path):
    (tmp_path / "notes.h5").write_text("these are not weights\n")
    code, lines = convert(tmp_path / "notes.h5")
    assert_one_line_error(code, lines, "notes.h5", "not a loadable Keras model")
    assert leftovers(tmp_path) == []


def test_not_a_centernet(tmp_path):
    import tensorflow as tf

    inputs = tf.keras.Input((32, 32, 3))
    tf.keras.Model(inputs, tf.keras.layers.Dense(10)(tf.keras.layers.Flatten()(inputs))).save(
        tmp_path / "classifier.h5"
    )
    code, lines = convert(tmp_path / "classifier.h5")
    assert_one_line_error(code, lines, "classifier.h5", "not a CenterNet")
    assert leftovers(tmp_path) == []


def test_missing_output_folder(tmp_path, model_path):
    code, lines = convert(model_path, "-o", tmp_path / "absent" / "model.tflite")
    assert_one_line_error(code, lines, "absent", "does not exist")
    assert leftovers(model_path.parent) == []


def test_unwritable_output_folder(tmp_path, model_path):
    if os.geteuid() == 0:  # root may write any folder; sysfs refuses new files even to root
        target = Path("/sys/bcn-model.tflite")
    else:
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o555)
        target = folder / "model.tflite"
    code, lines = convert(model_path, "-o", target)
    assert_one_line_error(code, lines, str(target.parent))
    assert not target.exists()
    assert leftovers(target.parent) == []


def test_output_is_a_folder(tmp_path, model_path):
    code, lines = convert(model_path, "-o", tmp_path)
    assert_one_line_error(code, lines, "is a directory")


def test_unknown_baseline(tmp_path, model_path):
    code, lines = convert(model_path, "-o", tmp_path / "model.tflite", "--baselines", "float16")
    assert_one_line_error(code, lines, "float16", "float32, int8")
    assert leftovers(tmp_path) == []


def test_float_model_that_is_binary(tmp_path, model_path):
    code, lines = convert(
        model_path, "-o", tmp_path / "model.tflite", "--baselines", "float32", "--float-model", model_path
    )
    assert_one_line_error(code, lines, "not a float twin")
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_failure_after_conversion_leaves_nothing(tmp_path, model_path, monkeypatch):
    """The LCE model is converted and checked, then the int8 step fails: nothing may stay behind."""
    import bcn.converters.convert as converting
    from bcn.errors import BcnError

    def int8_fails(variant, model, images):
        raise BcnError("int8 calibration failed")

    monkeypatch.setattr(converting, "convert_baseline", int8_fails)
    with pytest.raises(BcnError, match="int8 calibration failed"):
        converting.convert(model_path, tmp_path / "model.tflite", baselines=("int8",), samples=1)
    assert leftovers(tmp_path) == []


def test_exit_code_and_stderr_in_a_real_process(tmp_path):
    """What a shell sees: status 2, one line on stderr, nothing on stdout."""
    done = subprocess.run(bcn_cli("convert", tmp_path / "absent.keras"), capture_output=True, text=True)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    assert errors == [f"Error: {tmp_path / 'absent.keras'}: file not found"], done.stderr
    assert done.stdout == ""


def _hidden(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_conversion_leaves_no_temp_files_for_long(signum, tmp_path, model_path):
    """SIGTERM cleans up as Ctrl-C does; what kill -9 leaves, the next conversion removes."""
    output = tmp_path / "model.tflite"
    process = subprocess.Popen(
        bcn_cli("convert", model_path, "-o", output, "--baselines", "float32", "--samples", "1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not _hidden(tmp_path):  # the temp files exist from the start of the conversion
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.02)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0 and "Traceback" not in stderr, stderr
    assert not output.exists()
    if signum == signal.SIGTERM:
        assert _hidden(tmp_path) == [], stderr
        return
    assert _hidden(tmp_path)  # kill -9 gives no chance to clean up...
    code, lines = convert(model_path, "-o", output, "--baselines", "float32", "--samples", "1")
    assert code == 0, lines
    assert _hidden(tmp_path) == []  # ...but the next run removes what it left
    assert leftovers(tmp_path) == ["model.tflite", "model_float32.tflite", "model_report.json"]


def test_an_output_that_cannot_be_created_is_named_not_its_temp_file(model_path):
    code, lines = convert(model_path, "-o", "/proc/bcn-model.tflite")
    assert_one_line_error(code, lines, "/proc/bcn-model.tflite")
    assert ".bcn-model.tflite." not in lines[-1]


def test_a_file_used_as_a_folder_is_called_a_file(tmp_path, model_path):
    (tmp_path / "taken").write_text("")
    code, lines = convert(model_path, "-o", tmp_path / "taken" / "model.tflite")
    assert_one_line_error(code, lines, f"{tmp_path / 'taken'} is a file, not a folder")


def test_an_output_naming_the_float_model_is_refused(tmp_path, model_path):
    twin = tmp_path / "twin.h5"
    twin.write_bytes(b"a float twin")
    code, lines = convert(
        model_path, "-o", tmp_path / "model.tflite", "--baselines", "float32", "--float-model", twin, "--report", twin
    )
    assert_one_line_error(code, lines, f"{twin}: --report would overwrite this input")
    assert twin.read_bytes() == b"a float twin"


def _run_convert(*args):
    """`bcn convert ARGS` in a real process."""
    return subprocess.run(bcn_cli("convert", *args), capture_output=True, text=True, timeout=600)


def test_a_model_of_unknown_input_size_is_one_line(tmp_path):
    import tensorflow as tf

    image = tf.keras.Input((None, None, 3))
    x = tf.keras.layers.Conv2D(8, 3, strides=4, padding="same")(image)
    heads = [tf.keras.layers.Conv2D(n, 1, name=name)(x) for n, name in ((3, "heatmap"), (2, "size"), (2, "offset"))]
    path = tmp_path / "any_size.h5"
    tf.keras.Model(image, heads).save(path)
    done = _run_convert(path, "-o", tmp_path / "any_size.tflite")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"Error: {path}: the input size must be fixed to convert, and this model takes any (None x None); "
        "build it with one (e.g. `bcn arch build SPEC -z 256`)"
    )
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_a_float_model_of_another_architecture_is_refused(tmp_path, model_path):
    """Same input and heads as the binary model, other layers: not its float twin."""
    from bcn.arch.model import build_model

    other = tmp_path / "other_float.h5"
    build_model("qn(64) qn([1x32, 1x64]) tp(2)([16]) h(8)", input_size=64, num_classes=3, float_twin=True).save(other)
    out = tmp_path / "model.tflite"
    done = _run_convert(model_path, "-o", out, "--baselines", "float32", "--float-model", other)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith(f"Error: {other}: not the float twin of this architecture: weight "), error
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_a_model_without_binary_layers_is_labelled_float(tmp_path):
    from bcn.arch.model import build_model
    from bcn.runtime.metadata import read_metadata

    path = tmp_path / "float.h5"
    build_model(SPEC, input_size=64, num_classes=3, float_twin=True).save(path)
    done = _run_convert(path, "-o", tmp_path / "float.tflite", "--samples", "1")
    assert done.returncode == 0, done.stderr
    assert f"warning: {path} has no binary conv layers: written as a float32 TFLite" in done.stderr
    assert "binary  none: a float model, written as a float32 TFLite" in done.stdout
    files = done.stdout.split("files")[1]
    assert re.search(r"^  float32 +tflite", files, re.M) and "  binary" not in files
    assert read_metadata(tmp_path / "float.tflite")["variant"] == "float32"

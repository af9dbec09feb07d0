"""bcn's LCE delegate as the runtime uses it: found where pip installed it, loaded by LiteRT,
wired to the tflite engine and the CLI, and clear errors when it is missing.

Whether the delegate computes LCE's ops correctly is the parity suite's subject; these tests
load models and check wiring and errors only.
"""

import pytest
from click.testing import CliRunner
from runtime_models import CLASSES, shared_models

from bcn.cli import main
from bcn.errors import BcnError
from bcn.runtime import delegate, engines


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return shared_models(tmp_path_factory)


@pytest.fixture
def no_library(tmp_path, monkeypatch):
    """The delegate library made absent: the override names a file that does not exist."""
    missing = tmp_path / "nowhere" / delegate.LIBRARY_NAME
    monkeypatch.setenv(delegate.ENV_VAR, str(missing))
    return missing


def test_library_is_installed_with_the_package(monkeypatch):
    monkeypatch.delenv(delegate.ENV_VAR, raising=False)
    path = delegate.library_path()
    assert path.is_file() and path.name == delegate.LIBRARY_NAME
    assert delegate.delegate_version(path).startswith("bcn-lce")


def test_litert_loads_the_delegate(models, monkeypatch):
    """LiteRT's own load_delegate takes the library, and an interpreter given it prepares an LCE model."""
    monkeypatch.delenv(delegate.ENV_VAR, raising=False)
    from bcn.runtime import lce_delegate

    module, _ = engines.tflite_module(allow_tensorflow=False)
    assert module is not None, "the runtime extra installs ai-edge-litert"
    interpreter = module.Interpreter(
        model_path=str(models["binary"]),
        num_threads=1,
        experimental_op_resolver_type=module.OpResolverType.AUTO,
        experimental_delegates=[lce_delegate(num_threads=2)],
    )
    interpreter.allocate_tensors()  # fails with "unresolved custom op: LceQuantize" without the delegate
    assert interpreter.get_input_details()[0]["shape"].tolist() == [1, 64, 64, 3]


def test_tflite_engine_records_the_delegate(models, monkeypatch):
    monkeypatch.delenv(delegate.ENV_VAR, raising=False)
    from bcn.runtime.detector import Detector

    binary = Detector(models["binary"], engine="tflite", threads=2)
    assert binary.engine.name == "tflite" and binary.engine.library.endswith(" + bcn-lce delegate")
    assert binary.engine.options["lce_delegate"].startswith("bcn-lce") and binary.engine.options["threads"] == 2
    float32 = Detector(models["float32"], engine="tflite")
    assert "lce_delegate" not in float32.engine.options and "bcn-lce" not in float32.engine.library


def test_override_naming_a_missing_file_is_one_line(no_library):
    for call in (delegate.library_path, delegate.lce_delegate):
        with pytest.raises(BcnError) as error:
            call()
        message = error.value.message
        assert "\n" not in message and message.startswith(f"{delegate.ENV_VAR}={no_library}: no such file")


def test_override_naming_a_file_that_is_not_a_delegate(tmp_path, monkeypatch):
    fake = tmp_path / delegate.LIBRARY_NAME
    fake.write_text("not a library")
    monkeypatch.setenv(delegate.ENV_VAR, str(fake))
    with pytest.raises(BcnError, match="cannot load bcn's LCE delegate") as error:
        delegate.lce_delegate()
    assert "\n" not in error.value.message and "pip install" in error.value.message


def test_float_models_run_without_the_library(models, no_library):
    import numpy as np

    from bcn.runtime.detector import Detector

    found = Detector(models["float32"], engine="tflite").detect(np.zeros((48, 64, 3), np.uint8), score_threshold=0.0)
    assert found and all(d.class_name in CLASSES for d in found)
    with pytest.raises(BcnError) as error:
        Detector(models["binary"], engine="tflite")
    message = error.value.message
    assert "\n" not in message and message.startswith(f"{models['binary']}: has LCE ops")
    assert "float models run without bcn's LCE delegate" in message and delegate.ENV_VAR in message


def test_missing_library_message_says_how_to_fix(monkeypatch, tmp_path):
    """Installed nowhere (no override, not beside the package): reinstall from a checkout, with a compiler."""
    monkeypatch.delenv(delegate.ENV_VAR, raising=False)
    monkeypatch.setattr(delegate, "LIBRARY_NAME", "libbcn_lce_delegate_absent.so")
    with pytest.raises(BcnError) as error:
        delegate.library_path()
    message = error.value.message
    assert "\n" not in message and "not installed" in message
    assert "pip install" in message and "C++17 compiler" in message and "apt install g++" in message


def test_binary_models_default_to_litert_with_the_delegate():
    """Measured faster than LCE's interpreter (benchmarks/latency_x86.md), and the only route on aarch64."""
    assert engines.default_engine(True) == "tflite" and engines.default_engine(False) == "tflite"


def test_delegate_refusal_reaches_the_user_as_one_line():
    """LiteRT glues the messages reported while preparing a model; the delegate's comes out alone."""
    glued = RuntimeError(
        "LceBconv2d node 3: dilation 2 is not supported"
        "Encountered unresolved custom op: LceBconv2d.\nSee instructions: "
        "https://www.tensorflow.org/lite/guide/ops_custom "
        "Node number 3 (LceBconv2d) failed to prepare."
    )
    assert engines._failure(glued) == "LceBconv2d node 3: dilation 2 is not supported"
    assert engines._failure(ValueError("Model provided has model identifier 'abcd'\nmore")) == (
        "Model provided has model identifier 'abcd'"
    )


@pytest.mark.parametrize("command", ["detect", "eval", "bench"])
def test_engine_option_in_help(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "--engine [lce|tflite]" in result.output


def test_engine_option_reaches_the_runtime(models, no_library, synth_voc, tmp_path):
    """--engine tflite on a binary model asks for the delegate in detect, eval and bench alike."""
    image = tmp_path / "image.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(image), np.zeros((48, 64, 3), np.uint8))
    runs = {
        "detect": ["detect", str(models["binary"]), "--source", str(image), "--engine", "tflite"],
        "eval": ["eval", str(models["binary"]), "--data", str(synth_voc), "--engine", "tflite"],
        "bench": ["bench", str(models["binary"]), "--runs", "1", "--warmup", "0", "--engine", "tflite"],
    }
    for name, args in runs.items():
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, (name, result.output)
        assert "float models run without bcn's LCE delegate" in result.output, (name, result.output)


def test_eval_engine_needs_a_tflite_model(synth_voc, tmp_path):
    keras = tmp_path / "model.h5"
    keras.write_bytes(b"")
    result = CliRunner().invoke(main, ["eval", str(keras), "--data", str(synth_voc), "--engine", "tflite"])
    assert result.exit_code == 2 and "--engine is for a .tflite MODEL" in result.output


def test_bench_runs_binary_models_through_the_delegate_without_lce(models):
    """No LCE wheel (aarch64 Linux): bench measures the binary model in-process, through the delegate."""
    import json
    import subprocess
    import sys

    code = (
        "import sys, json\nsys.modules['larq_compute_engine'] = None\n"
        "from bcn.runtime.bench import benchmark\n"
        "report = benchmark([sys.argv[1], sys.argv[2]], runs=1, warmup=0, progress=False)\n"
        "rows = [[r['variant'], r['engine'], r['library'], r['interleaved']] for r in report['results']]\n"
        "print(json.dumps(rows))\n"
    )
    env = {key: value for key, value in __import__("os").environ.items() if key != delegate.ENV_VAR}
    result = subprocess.run(
        [sys.executable, "-c", code, str(models["binary"]), str(models["float32"])],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {row[0]: row[1:] for row in json.loads(result.stdout.strip().splitlines()[-1])}
    assert rows["binary"][0] == "tflite" and rows["binary"][1].endswith("+ bcn-lce delegate") and rows["binary"][2]
    assert rows["float32"][0] == "tflite" and "bcn-lce" not in rows["float32"][1]

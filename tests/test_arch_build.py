"""Every preset and its float twin builds and has CenterNet outputs at stride 4."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from bcn_command import bcn_cli
from click.testing import CliRunner

from bcn.arch.model import build_model, load_model
from bcn.arch.presets import PRESETS
from bcn.cli import main


def binary_convs(model):
    return [
        layer
        for layer in model.layers
        if getattr(layer, "input_quantizer", None) and getattr(layer, "kernel_quantizer", None)
    ]


@pytest.fixture(autouse=True)
def fresh_session():
    yield
    tf.keras.backend.clear_session()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("float_twin", [False, True])
def test_preset_builds_at_its_input_size(name, float_twin):
    model = build_model(name, float_twin=float_twin)
    z = 256 if name == "rn50-256" else 512
    assert model.input_shape == (None, z, z, 3)
    assert model.output_names == ["heatmap", "size", "offset"]
    assert [tuple(o.shape) for o in model.outputs] == [
        (None, z // 4, z // 4, 20),
        (None, z // 4, z // 4, 2),
        (None, z // 4, z // 4, 2),
    ]
    binary = not PRESETS[name].spec.startswith("rn(") and not float_twin and not PRESETS[name].float_twin
    assert bool(binary_convs(model)) == binary


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_runs_at_128(name):
    model = build_model(name, input_size=128, num_classes=3)
    heatmap, size, offset = model(np.random.rand(1, 128, 128, 3).astype("float32"), training=False)
    assert heatmap.shape == (1, 32, 32, 3) and size.shape == (1, 32, 32, 2) and offset.shape == (1, 32, 32, 2)
    assert 0.0 <= float(tf.reduce_min(heatmap)) and float(tf.reduce_max(heatmap)) <= 1.0


def test_binary_layers_follow_the_notation():
    model = build_model("qn(64) qn([2x32, 3x64]) tp(2)([16]) h(8)", num_classes=2)
    convs = binary_convs(model)
    assert len(convs) == 5
    assert all(conv.name.startswith("encoder_") for conv in convs)
    assert all(conv.pad_values == 1.0 for conv in convs)
    assert model.outputs[0].shape[1:] == (16, 16, 2)


def test_custom_builder_file(tmp_path):
    builder = tmp_path / "my_arch.py"
    builder.write_text(
        "from bcn.arch.model import build_from_spec\n"
        "from bcn.arch.notation import parse_spec\n"
        "def build(input_size, num_classes, float_twin):\n"
        "    spec = parse_spec(f'qn({input_size}) qn([1x32, 1x64]) tp(2)([16]) h(8)')\n"
        "    return build_from_spec(spec, num_classes, float_twin)\n"
    )
    model = build_model(str(builder), input_size=64, num_classes=4)
    assert model.outputs[0].shape[1:] == (16, 16, 4)


def test_arch_build_writes_a_loadable_model(tmp_path):

    out = tmp_path / "q1.h5"
    result = CliRunner().invoke(main, ["arch", "build", "q1", "-z", "64", "-c", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert model.outputs[0].shape[1:] == (16, 16, 3)
    assert len(binary_convs(model)) == 16
    assert [p.name for p in tmp_path.iterdir()] == ["q1.h5"]


# Runs the command line, then says whether TensorFlow was imported on the way.
TELL_TENSORFLOW = """
import sys
from bcn.cli import main
try:
    main(sys.argv[1:])
finally:
    print("tensorflow loaded:", "tensorflow" in sys.modules)
"""


@pytest.mark.parametrize("name", ["x.tflite", "model", "model.H5.bak"])
def test_an_output_that_is_no_keras_model_file_is_refused_before_tensorflow_loads(name, tmp_path):
    command = [sys.executable, "-c", TELL_TENSORFLOW, "arch", "build", "q1", "-o", str(tmp_path / name)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == f"Error: {tmp_path / name}: --output must end in .h5 or .keras"
    assert done.stdout.strip() == "tensorflow loaded: False"
    assert list(tmp_path.iterdir()) == []


BUILDERS = {
    "exit_on_import.py": ("import sys\nsys.exit(3)\n", "cannot load builder (it called sys.exit(3))"),
    "exit_in_build.py": (
        "import sys\ndef build(input_size, num_classes, float_twin):\n    sys.exit('no model')\n",
        "build() called sys.exit('no model') instead of returning a model",
    ),
    "keras3.py": (
        "import keras\n"
        "def build(input_size, num_classes, float_twin):\n"
        "    image = keras.Input((input_size, input_size, 3))\n"
        "    x = keras.layers.Conv2D(16, 3, strides=4, padding='same')(image)\n"
        "    heads = [keras.layers.Conv2D(n, 1)(x) for n in (num_classes, 2, 2)]\n"
        "    return keras.Model(image, heads)\n",
        "build() returned a Keras 3 model; bcn needs tf.keras (Keras 2) models",
    ),
}


@pytest.mark.parametrize("builder", BUILDERS)
def test_a_builder_that_exits_or_uses_keras_3_is_one_line(builder, tmp_path):
    text, message = BUILDERS[builder]
    (tmp_path / builder).write_text(text)
    output = tmp_path / "model.h5"
    done = subprocess.run(
        bcn_cli("arch", "build", tmp_path / builder, "-z", "64", "-c", "3", "-o", output),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"Error: {tmp_path / builder}: {message}" + (
        ": build with `import tensorflow as tf` and tf.keras, not `import keras`" if builder == "keras3.py" else ""
    )
    assert not output.exists()


@pytest.mark.slow
def test_arch_build_h5_prints_no_legacy_format_warning(tmp_path):
    output = tmp_path / "q1.h5"
    done = subprocess.run(
        bcn_cli("arch", "build", "q1", "-z", "64", "-c", "3", "-o", output), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "legacy" not in done.stderr and "HDF5" not in done.stderr, done.stderr
    assert output.is_file()

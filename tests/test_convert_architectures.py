"""`bcn convert` across what bcn builds: an encoder-heavy spec's size gain, presets and rn50."""

import pytest
from click.testing import CliRunner

import bcn  # noqa: F401  (Keras 2 API before TensorFlow loads)
from bcn.cli import main
from bcn.runtime.metadata import read_metadata

# Most weights in binary 3x3 convs: the LCE file should be far smaller than the float32 twin.
ENCODER_HEAVY = "qn(64) qn([2x64, 2x128, 2x256, 2x256]) tp(2)([16, 16, 16]) h(8)"


def _build(spec: str, path, input_size: int = 64):
    from bcn.arch.model import build_model

    build_model(spec, input_size=input_size, num_classes=20).save(path)
    return path


@pytest.mark.slow
def test_encoder_heavy_spec_is_8x_smaller_than_its_float_twin(tmp_path):
    from bcn.converters.convert import convert

    model = _build(ENCODER_HEAVY, tmp_path / "heavy.h5")
    report = convert(model, baselines=("float32",), samples=1)
    assert report["binary_layers"] == {"keras_binary_convs": 8, "LceBconv2d": 8}
    assert report["size_ratios"]["float32"] >= 8, report["size_ratios"]
    assert report["files"]["binary"]["path"] == str(tmp_path / "heavy.tflite")
    assert (tmp_path / "heavy_float32.tflite").is_file() and (tmp_path / "heavy_report.json").is_file()
    # No config.json beside it: classes default to VOC's 20, the spec is unknown.
    metadata = read_metadata(tmp_path / "heavy.tflite")
    assert metadata["classes"][0] == "aeroplane" and metadata["spec"] == "unknown"


@pytest.mark.slow
@pytest.mark.parametrize("preset, binary_convs", [("q2", 2 + 4 + 8 + 10), ("rn50", 0)])
def test_presets_convert_from_the_command_line(tmp_path, preset, binary_convs):
    model = _build(preset, tmp_path / f"{preset}.h5")
    result = CliRunner().invoke(main, ["convert", str(model), "--samples", "1"])
    assert result.exit_code == 0, result.output
    metadata = read_metadata(tmp_path / f"{preset}.tflite")
    binary = binary_convs > 0
    assert (metadata["engine"], metadata["variant"]) == (("lce", "binary") if binary else ("tflite", "float32"))
    binary_line = f"{binary_convs} binary conv layers -> {binary_convs} LceBconv2d"
    expected = binary_line if binary else "binary  none: a float model"
    assert expected in result.output

"""Partial binarization in the notation (per scale, per block, at random from a seed) and rtb(z)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from bcn.arch.cost import model_cost
from bcn.arch.model import build_model
from bcn.arch.notation import SpecError, parse_spec
from bcn.arch.presets import PRESETS
from bcn.cli import main
from bcn.converters.keras_model import binary_conv_layers

SMALL = "qn(64) qn([2x32, 3x64]{}) tp(2)([16]) h(8)"


@pytest.fixture(autouse=True)
def fresh_session():
    yield
    tf.keras.backend.clear_session()


def _unnamed(config):
    if isinstance(config, dict):
        return {key: _unnamed(value) for key, value in config.items() if key != "name"}
    if isinstance(config, (list, tuple)):
        return [_unnamed(value) for value in config]
    return config


def layers(model) -> list:
    """Each layer's class and config without names: two models with equal lists are the same graph."""
    return [
        (type(layer).__name__, json.dumps(_unnamed(layer.get_config()), sort_keys=True, default=str))
        for layer in model.layers
    ]


def masks(model) -> list[bool]:
    """Per residual block of the encoder, in order: is its 3x3 conv binary?"""
    return [
        layer.input_quantizer is not None
        for layer in model.layers
        if layer.name.startswith("encoder_") and type(layer).__name__ == "QuantConv2D" and layer.kernel_size == (3, 3)
    ]


@pytest.mark.parametrize(
    "text, drawn",
    [
        ("qn(512) qn([2x128, 4x256, 8x324:f, 10x512:f]) tp(4)([128, 64, 16]) h(64)", None),
        ("qn(512) qn([2x128:f, 4x256:f, 8x324, 10x512]) tp(4)([128, 64, 16]) h(64)", None),
        (
            "qn(512) qn([2x128, 4x256, 8x324, 10x512]:p0.5) tp(4)([128, 64, 16]) h(64)",
            "qn(512) qn([2x128:f, 4x256:bbfb, 8x324:fbbfffbf, 10x512:fbffffbfff]) tp(4)([128, 64, 16]) h(64)",
        ),
        ("qn(64) qn([2x32:bf, 3x64:fbf]) tp(2)([16]) h(8)", None),
        ("qn(64) qn([2x32, 3x64]:f) tp(2)([16]) h(8)", None),
    ],
)
def test_specs_print_as_they_parse(text, drawn):
    spec = parse_spec(text)
    assert str(spec) == text and parse_spec(str(spec)) == spec
    assert str(spec.drawn(0)) == (drawn or text)


def test_shorthands_mean_the_same_spec():
    assert parse_spec(SMALL.format(":f")) == parse_spec("qn(64) qn([2x32:ff, 3x64:fff]) tp(2)([16]) h(8)")
    assert parse_spec(SMALL.format("")) == parse_spec("qn(64) qn([2x32:b, 3x64:bbb]) tp(2)([16]) h(8)")
    assert parse_spec(SMALL.format(":p0.50")) == parse_spec("qn(64) qn([2x32:p.5, 3x64:p0.5]) tp(2)([16]) h(8)")


@pytest.mark.parametrize(
    "text, message",
    [
        ("qn(64) qn([2x32:bfb, 3x64]) tp(2)([16]) h(8)", "or a mask of 2 letters b/f at column 17, found 'bfb"),
        ("qn(64) qn([2x32:p1.5, 3x64]) tp(2)([16]) h(8)", "'pP' (0 <= P <= 1) or a mask of 2 letters b/f at column 17"),
        ("qn(64) qn([2x32:bx, 3x64]) tp(2)([16]) h(8)", "at column 17, found 'bx"),
        ("qn(64) qn([2x32, 3x64]:bf) tp(2)([16]) h(8)", "expected 'b', 'f', 'pP' (0 <= P <= 1) at column 24"),
        ("qn(64) qn([2x32:, 3x64]) tp(2)([16]) h(8)", "at column 17, found ', 3x64"),
        ("qn(64) qn([2x32, 3x64]:p) tp(2)([16]) h(8)", "at column 24, found 'p) tp"),
        ("qn(64) qn([2x32 3x64]) tp(2)([16]) h(8)", "expected ',', ':' or ']' at column 17"),
        ("rtb(64) qn([2x32]) tp(4)([16, 8, 4]) h(8)", "expected a decoder 'tp(k)([f, ...])' at column 9"),
    ],
)
def test_bad_specs_point_at_the_problem(text, message):
    with pytest.raises(SpecError, match="^bad spec") as error:
        parse_spec(text)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_bad_spec_is_a_one_line_error_on_the_command_line():
    code = (
        "import sys; sys.argv = ['bcn', 'arch', 'info', 'qn(64) qn([2x32:bfb, 3x64]) tp(2)([16]) h(8)']\n"
        "from bcn.cli import main\nmain()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "column 17" in result.stderr


def test_same_seed_same_model_different_seeds_different_masks():
    spec = "qn(64) qn([4x32, 6x64, 6x64]:p0.5) tp(2)([16, 16]) h(8)"
    first, again = build_model(spec, seed=7), build_model(spec, seed=7)
    assert masks(first) == masks(again) and layers(first) == layers(again)
    assert model_cost(first) == model_cost(again)
    drawn = {tuple(masks(build_model(spec, seed=seed))) for seed in range(4)}
    assert len(drawn) == 4
    assert all(any(mask) and not all(mask) for mask in drawn)


def test_probability_zero_is_the_float_twin_and_one_the_binary_model():
    assert layers(build_model(SMALL.format(":p0"))) == layers(build_model(SMALL.format(""), float_twin=True))
    assert layers(build_model(SMALL.format(":p1"))) == layers(build_model(SMALL.format("")))
    assert layers(build_model(SMALL.format(":f"))) == layers(build_model(SMALL.format(""), float_twin=True))


def test_masks_follow_the_spec_and_the_float_twin_overrides_them():
    model = build_model("qn(64) qn([2x32:bf, 3x64:fbf]) tp(2)([16]) h(8)")
    assert masks(model) == [True, False, False, True, False]
    assert len(binary_conv_layers(model)) == 2
    assert not any(masks(build_model("qn(64) qn([2x32:bf, 3x64:fbf]) tp(2)([16]) h(8)", float_twin=True)))


@pytest.mark.slow
@pytest.mark.parametrize(
    "preset, spec",
    [
        ("q2b", "qn(512) qn([2x128, 4x256, 8x324:f, 10x512:f]) tp(4)([128, 64, 16]) h(64)"),
        ("q2c", "qn(512) qn([2x128:ff, 4x256:ffff, 8x324:b, 10x512]) tp(4)([128, 64, 16]) h(64)"),
        ("q2d", "qn(512) qn([2x128:p0.5, 4x256:p0.5, 8x324:p0.5, 10x512:p0.5]) tp(4)([128, 64, 16]) h(64)"),
    ],
)
def test_a_spec_string_equals_its_preset(preset, spec):
    named, written = build_model(preset, input_size=128), build_model(spec, input_size=128)
    assert layers(named) == layers(written)
    assert model_cost(named) == model_cost(written)


def test_partial_cost_counts_binary_macs_of_binary_blocks_only():
    full, first, second = (model_cost(build_model(name, input_size=128)) for name in ("q2", "q2b", "q2c"))
    assert full["macs"] == first["macs"] == second["macs"]
    # The binary MACs of the two halves add up to the fully binary model's.
    assert first["binary_macs"] + second["binary_macs"] == full["binary_macs"]
    assert first["sections"]["encoder"]["binary_macs"] == first["binary_macs"]


def test_info_shows_the_drawn_mask_and_the_seed():
    def info(*args):
        result = CliRunner().invoke(main, ["arch", "info", "q2d", "-z", "64", "--json", *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    default, one = info(), info("--seed", "1")
    assert default["seed"] == 0 and one["seed"] == 1
    assert default["spec"] == one["spec"] and ":p0.5" in default["spec"]
    assert default["drawn"] != one["drawn"] and ":p" not in one["drawn"]
    assert default["binary_macs"] != one["binary_macs"]
    assert info()["drawn"] == default["drawn"]


def test_real_to_binary_encoder_and_its_float_twin():
    model = build_model("rtb", input_size=64, num_classes=3)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 16, 16, 3), (None, 16, 16, 2), (None, 16, 16, 2)]
    assert len(binary_conv_layers(model)) == 16  # two per block, blocks 2-9
    assert not binary_conv_layers(build_model("rtb", input_size=64, num_classes=3, float_twin=True))
    assert model_cost(model)["sections"]["encoder"]["binary_macs"] > 0


def test_real_to_binary_takes_larq_zoos_no_top_weights_from_a_file(tmp_path):
    from larq_zoo.literature.real_to_bin_nets import RealToBinaryNet

    from bcn.train.trainer import is_weights_only

    zoo = RealToBinaryNet(input_shape=(64, 64, 3), weights=None, include_top=False)
    for variable in zoo.weights:
        variable.assign(tf.random.uniform(variable.shape, -1, 1))
    path = tmp_path / "r2b_weights_notop.h5"
    zoo.save_weights(path)
    assert is_weights_only(path)
    model = build_model("rtb", input_size=64, encoder_weights=path)
    encoder = [w for layer in model.layers if layer.name.startswith("encoder_") for w in layer.weights]
    theirs = [w for layer in zoo.layers for w in layer.weights]
    assert len(encoder) == len(theirs) == len(zoo.weights)
    for ours, zoos in zip(encoder, theirs):
        assert ours.name.split("/")[-1] == zoos.name.split("/")[-1]
        assert np.array_equal(ours.numpy(), zoos.numpy()), ours.name


def test_presets_name_their_table_2_row():
    for name, preset in PRESETS.items():
        assert "Table 2" in preset.note and preset.paper.map in preset.note, name

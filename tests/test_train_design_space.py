"""Training the paper's design space: a random binarization keeps its seed; rtb trains."""

import json

import pytest

import bcn  # noqa: F401

pytestmark = pytest.mark.slow  # minutes of training or several runtimes: out of the fast lane

RANDOM_SPEC = "qn(64) qn([2x32, 2x64, 2x64, 2x128]:p0.5) tp(2)([16, 16, 16]) h(8)"


def _masks(model) -> list[bool]:
    return [
        layer.input_quantizer is not None
        for layer in model.layers
        if layer.name.startswith("encoder_") and type(layer).__name__ == "QuantConv2D" and layer.kernel_size == (3, 3)
    ]


def _train(arch, data, run_dir, **kwargs):
    from bcn.train.trainer import train

    return train(
        arch, data, run_dir, input_size=64, epochs=1, batch_size=4, steps_per_epoch=1, eval_every=1, verbose=0, **kwargs
    )


def test_a_random_spec_trains_with_its_seed_saved(four_image_voc, tmp_path):
    import tensorflow as tf

    from bcn.arch.model import build_model, load_model

    _train(RANDOM_SPEC, four_image_voc, tmp_path / "run", seed=4)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["seed"] == 4 and config["spec"] == RANDOM_SPEC
    trained = _masks(load_model(tmp_path / "run" / "model.h5"))
    tf.keras.backend.clear_session()
    assert trained == _masks(build_model(RANDOM_SPEC, seed=4))
    assert trained != _masks(build_model(RANDOM_SPEC, seed=5))


def test_the_real_to_binary_encoder_trains(four_image_voc, tmp_path):
    from bcn.arch.model import load_model

    result = _train("rtb(64) tp(4)([16, 16, 16]) h(8)", four_image_voc, tmp_path / "run")
    assert result.epochs_run == 1 and result.config["seed"] == 0
    model = load_model(tmp_path / "run" / "model.h5")
    assert sum(getattr(layer, "input_quantizer", None) is not None for layer in model.layers) == 16

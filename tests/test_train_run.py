"""`bcn train` end to end: the run's files, bad input, weights from another run, and seeds."""

import json
import subprocess

import numpy as np
import pytest
from bcn_command import bcn_cli
from click.testing import CliRunner
from conftest import TINY_SPEC

import bcn  # noqa: F401
from bcn.cli import main


def test_trained_run_folder_holds_loadable_models_and_config(trained_model, synth_voc):
    from bcn.arch.model import load_model

    run_dir = trained_model.parent
    config = json.loads((run_dir / "config.json").read_text())
    assert config["spec"] == TINY_SPEC and config["input_size"] == 64 and config["float_twin"] is False
    assert config["classes"] == (synth_voc / "classes.txt").read_text().split()
    assert config["recipe"]["lr"] == 1e-3 and config["recipe"]["late_lr"] == 1e-4
    evaluation = json.loads((run_dir / "eval.json").read_text())
    assert evaluation["epoch"] == 10 and 0.0 <= evaluation["map50_voc07"] <= 1.0
    for name in ("model.h5", "best.h5"):
        model = load_model(run_dir / name)
        heatmap, size, offset = model(np.full((1, 64, 64, 3), 0.5, np.float32))
        assert heatmap.shape == (1, 16, 16, 6) and size.shape == offset.shape == (1, 16, 16, 2)
        binary = [
            layer
            for layer in model.layers
            if type(layer).__name__ == "QuantConv2D" and layer.input_quantizer is not None
        ]
        assert binary
    assert list((run_dir / "logs").rglob("events.out.tfevents.*"))
    assert config["finished_epochs"] == 10  # backup/ stays, so --resume --epochs N can train it longer
    assert list((run_dir / "backup").rglob("checkpoint"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--arch", "qn(64) bogus", "--data", "."], "bad spec"),
        (["--arch", TINY_SPEC, "--data", "no/such/root"], "does not exist"),
        (["--data", "."], "--arch is required"),
        (["--arch", TINY_SPEC, "--data", ".", "--lr", "nan"], "'--lr': must be a finite number, got nan"),
        (["--arch", TINY_SPEC, "--data", ".", "--lr", "-inf"], "'--lr': must be a finite number, got -inf"),
    ],
)
def test_bad_arguments_fail_in_one_line(args, message, tmp_path):
    result = CliRunner().invoke(main, ["train", *args, "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def _bcn(*args, **kwargs):
    return subprocess.Popen(
        bcn_cli("train", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def test_an_empty_training_split_is_one_line_error(synth_voc, tmp_path):
    root = tmp_path / "empty"
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "trainval.txt").write_text("")
    (root / "ImageSets" / "Main" / "test.txt").write_text("")
    output, _ = _bcn("--arch", TINY_SPEC, "--data", str(root), "--out", str(tmp_path / "run")).communicate(timeout=300)
    assert "the training split 'trainval' has no usable images" in output
    assert "Traceback" not in output and not (tmp_path / "run" / "model.h5").exists()


@pytest.mark.slow
def test_a_loss_that_becomes_nan_stops_training_without_saving_the_model(tmp_path):
    from bcn.data.synth import write_synth

    data = write_synth(tmp_path / "data", images=8, size=64)
    run_dir = tmp_path / "run"
    process = _bcn(
        "--arch", TINY_SPEC, "--data", data, "--out", run_dir, "--epochs", "1", "--batch-size", "4", "--lr", "1e30"
    )
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 2 and "Traceback" not in output, output
    assert output.strip().splitlines()[-1] == (
        f"Error: {run_dir}: training stopped in epoch 1: the loss became nan, so that epoch is not saved "
        "(no epoch finished in this session); a lower --lr may help"
    )
    assert not (run_dir / "model.h5").exists() and not list(run_dir.rglob("checkpoint"))


def test_weights_initialise_the_leading_layers_that_match(trained_model, tmp_path):
    from bcn.arch.model import build_model, load_model
    from bcn.errors import BcnError
    from bcn.train.trainer import _initialise

    trained = load_model(trained_model)
    same = build_model(TINY_SPEC, 64, 6)
    assert _initialise(same, trained_model) == len([layer for layer in same.layers if layer.weights])
    for mine, theirs in zip(same.weights, trained.weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    fewer_classes = build_model(TINY_SPEC, 64, 3)
    assert (
        0 < _initialise(fewer_classes, trained_model) < len([layer for layer in fewer_classes.layers if layer.weights])
    )
    other = build_model("qn(64) qn([1x16, 1x16, 1x16, 1x16]) tp(2)([8, 8, 8]) h(8)", 64, 3)
    with pytest.raises(BcnError, match="no layer matches"):
        _initialise(other, trained_model)
    with pytest.raises(BcnError, match="not a .h5"):
        _initialise(other, tmp_path / "missing.h5")


@pytest.mark.slow
def test_a_seed_reproduces_a_cpu_run(synth_voc, tmp_path):
    """Three fresh processes: the same seed gives the same losses and weights after an epoch, another seed not."""
    from bcn.arch.model import load_model

    seeds = {"first": 1, "again": 1, "other": 2}
    runs = {
        name: _bcn(
            "--arch",
            TINY_SPEC,
            "--data",
            str(synth_voc),
            "--out",
            str(tmp_path / name),
            "--input-size",
            "64",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--eval-every",
            "100",
            "--seed",
            str(seed),
        )
        for name, seed in seeds.items()
    }
    outputs = {name: process.communicate(timeout=600)[0] for name, process in runs.items()}
    losses = {}
    for name, output in outputs.items():
        assert runs[name].returncode == 0, output
        line = next(line for line in output.splitlines() if " - loss: " in line)
        losses[name] = line.split(" - loss: ", 1)[1].split(" - lr:")[0]  # all four losses, as logged
    assert losses["first"] == losses["again"] != losses["other"]
    weights = {name: load_model(tmp_path / name / "model.h5").get_weights() for name in seeds}
    assert all(np.array_equal(a, b) for a, b in zip(weights["first"], weights["again"]))
    assert not all(np.array_equal(a, b) for a, b in zip(weights["first"], weights["other"]))
    assert json.loads((tmp_path / "first" / "config.json").read_text())["seed"] == 1

"""Outputs on a full or read-only disk: one line naming the user's path and the OS's reason, exit 2, no traceback,
no hidden temp file left behind. Each command runs as a real process writing onto a real small tmpfs."""

import subprocess

import cv2
import numpy as np
import pytest
from bcn_command import bcn_cli
from disks import hidden_files, small_disk
from runtime_models import shared_models

SPEC = "qn(64) qn([1x32, 1x32, 1x64, 1x64]) tp(2)([32, 32, 16]) h(16)"
REASONS = {"full": "No space left on device", "read-only": "Read-only file system"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The files the commands read: converted models, an image, a small VOC set and an empty detections file."""
    from bcn.data.synth import write_synth

    folder = tmp_path_factory.mktemp("inputs")
    cv2.imwrite(str(folder / "image.jpg"), np.random.default_rng(0).integers(0, 256, (64, 80, 3), np.uint8))
    (folder / "detections.json").write_text("[]")
    return {
        **shared_models(tmp_path_factory),
        "image": folder / "image.jpg",
        "voc": write_synth(folder / "voc", images=4, size=64, seed=0, test_fraction=0.5),
        "detections": folder / "detections.json",
    }


# command name -> (its arguments, the output it is refused), with DISK for the small disk's folder
COMMANDS = {
    "bench --json": (["bench", "binary", "--runs", "1", "--warmup", "0", "--json", "DISK/bench.json"], "bench.json"),
    "detect --json-out list": (["detect", "binary", "--source", "image", "--json-out", "DISK/d.json"], "d.json"),
    "detect --json-out lines": (["detect", "binary", "--source", "image", "--json-out", "DISK/d.jsonl"], "d.jsonl"),
    "detect --out": (["detect", "binary", "--source", "image", "--out", "DISK/annotated"], "annotated"),
    "eval --out": (["eval", "--detections", "detections", "--data", "voc", "--out", "DISK/eval"], "eval"),
    "convert": (["convert", "float_h5", "-o", "DISK/model.tflite", "--samples", "1"], "model.tflite"),
    "arch build": (["arch", "build", SPEC, "-c", "3", "-o", "DISK/model.h5"], "model.h5"),
}


@pytest.mark.parametrize("state", REASONS)
@pytest.mark.parametrize("command", COMMANDS)
def test_an_output_on_a_full_or_read_only_disk_is_one_line(command, state, inputs, tmp_path):
    arguments, output = COMMANDS[command]
    with small_disk(tmp_path / "disk", state) as disk:
        before = sorted(path.name for path in disk.iterdir())
        args = [str(inputs.get(arg, arg)).replace("DISK", str(disk)) for arg in arguments]
        done = subprocess.run(bcn_cli(*args), capture_output=True, text=True, timeout=600)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        error = lines[-1]
        if command.split()[0] in ("bench", "detect", "eval"):  # no steps reported: the error is all
            assert lines == [error], done.stderr
        assert error.startswith(f"Error: {disk}/{output}") and REASONS[state] in error, done.stderr
        assert ".tmp" not in error and f"/.{output}" not in error  # the user's path, never the temp file
        assert hidden_files(disk) == []
        left = sorted(path.name for path in disk.iterdir())
        assert set(left) - set(before) <= {"d.jsonl"}  # JSON lines are written in place, by design

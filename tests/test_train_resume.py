"""`bcn train --resume` continues a run killed mid-training from its last finished epoch."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import bcn  # noqa: F401

from conftest import TINY_SPEC


def _bcn(*args):
    return subprocess.Popen([sys.executable, "-m", "bcn", "train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.slow
def test_resume_continues_a_killed_run(synth_voc, tmp_path):
    run_dir = tmp_path / "run"
    args = ["--arch", TINY_SPEC, "--data", str(synth_voc), "--out", str(run_dir), "--input-size", "64",
            "--epochs", "6", "--batch-size", "8", "--eval-every", "100", "--seed", "0"]
    first = _bcn(*args)
    deadline = time.monotonic() + 300
    while not [path for path in (run_dir / "backup").rglob("checkpoint")]:
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    output = first.communicate()[0]
    assert "Epoch 1/6" in output and "Epoch 6/6" not in output
    assert (run_dir / "model.h5").is_file() and not (run_dir / "best.h5").exists()

    again = _bcn(*args)
    assert again.wait(timeout=300) == 2 and "--resume" in again.communicate()[0]

    resumed = _bcn("--data", str(synth_voc), "--out", str(run_dir), "--resume")
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output
    assert "Epoch 1/6" not in output and "Epoch 6/6" in output
    assert (run_dir / "best.h5").is_file()
    assert json.loads((run_dir / "eval.json").read_text())["epoch"] == 6
